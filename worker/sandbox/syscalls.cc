// The Linux riscv64 syscall subset (numbers from asm-generic/unistd.h).
// Every argument is validated the way Linux does, every pointer goes
// through the guest's MMU (a bad one is -EFAULT, never a host access), and
// anything not implemented is -ENOSYS, counted by number in the stats.
#include <errno.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "worker/sandbox/process.h"
#include "worker/sandbox/sandbox.h"

namespace memmgr::sandbox {
namespace {

enum Sysno : uint64_t {
  kIoctl = 29,
  kOpenat = 56,
  kClose = 57,
  kLseek = 62,
  kRead = 63,
  kWrite = 64,
  kReadv = 65,
  kWritev = 66,
  kReadlinkat = 78,
  kNewfstatat = 79,
  kFstat = 80,
  kExit = 93,
  kExitGroup = 94,
  kPipe2 = 59,
  kSetTidAddress = 96,
  kFutex = 98,
  kSetRobustList = 99,
  kNanosleep = 101,
  kClockGettime = 113,
  kClockNanosleep = 115,
  kSchedYield = 124,
  kKill = 129,
  kTkill = 130,
  kTgkill = 131,
  kRtSigaction = 134,
  kRtSigprocmask = 135,
  kUname = 160,
  kGettimeofday = 169,
  kGetcpu = 168,
  kGetpid = 172,
  kGetppid = 173,
  kGetuid = 174,
  kGeteuid = 175,
  kGetgid = 176,
  kGetegid = 177,
  kGettid = 178,
  kBrk = 214,
  kMunmap = 215,
  kMremap = 216,
  kClone = 220,
  kMmap = 222,
  kMprotect = 226,
  kMlock = 228,
  kMunlock = 229,
  kMadvise = 233,
  kRiscvFlushIcache = 259,
  kWait4 = 260,
  kPrlimit64 = 261,
  kGetrandom = 278,
  kRseq = 293,
  // memmgr's own (docs/worker-execution.md, tests/guest/include/
  // memmgr_guest.h): far above Linux's numbers, which end below 500.
  kMemmgrSnapshot = 0x4d4d0,
  kMemmgrForkInfo = 0x4d4d1,
  kMemmgrForkArg = 0x4d4d2,
};

constexpr int64_t kAtFdcwd = -100;
constexpr int kIovMax = 1024;
constexpr size_t kMaxFds = 1024;         // RLIMIT_NOFILE
constexpr uint64_t kMaxIo = 0x7ffff000;  // MAX_RW_COUNT
constexpr uint64_t kSigChld = 17;
constexpr uint64_t kCsignal = 0xff;

int64_t Err(int e) { return -static_cast<int64_t>(e); }
int64_t Err(const absl::Status& s) { return -mmu::ErrnoFromStatus(s); }

// struct stat for riscv64 (asm-generic/stat.h), 128 bytes.
struct GuestStat {
  uint64_t st_dev;
  uint64_t st_ino;
  uint32_t st_mode;
  uint32_t st_nlink;
  uint32_t st_uid;
  uint32_t st_gid;
  uint64_t st_rdev;
  uint64_t pad1;
  int64_t st_size;
  int32_t st_blksize;
  int32_t pad2;
  int64_t st_blocks;
  int64_t st_atime_sec, st_atime_nsec;
  int64_t st_mtime_sec, st_mtime_nsec;
  int64_t st_ctime_sec, st_ctime_nsec;
  uint32_t unused[2];
};
static_assert(sizeof(GuestStat) == 128);

}  // namespace

bool Sandbox::CopyIn(Process& p, uint64_t va, void* dst, uint64_t len) {
  mmu::Fault fault;
  return p.as->CopyFromGuest(va, dst, len, &fault);
}

bool Sandbox::CopyOut(Process& p, uint64_t va, const void* src, uint64_t len) {
  mmu::Fault fault;
  const bool ok = p.as->CopyToGuest(va, src, len, &fault);
  return ok;
}

bool Sandbox::CopyInString(Process& p, uint64_t va, uint64_t max,
                           std::string* out) {
  out->clear();
  char c;
  for (uint64_t i = 0; i < max; ++i) {
    if (!CopyIn(p, va + i, &c, 1)) return false;
    if (c == '\0') return true;
    out->push_back(c);
  }
  return false;
}

int64_t Sandbox::EmitOutput(Process& p, int fd, absl::string_view data) {
  uint64_t allowed = data.size();
  bool over = false;
  if (options_.limit_output_bytes > 0) {
    // Counted from the fork point (output_base_ is 0 for an original).
    const uint64_t room =
        options_.limit_output_bytes - (stats_.output_bytes - output_base_);
    if (allowed > room) {
      allowed = room;
      over = true;
    }
  }
  int64_t n = allowed > 0 ? io_->Write(fd, data.substr(0, allowed)) : 0;
  if (n > 0) stats_.output_bytes += static_cast<uint64_t>(n);
  if (over) {
    StopForLimit(
        25,  // SIGXFSZ, as for RLIMIT_FSIZE
        absl::StrFormat("output limit reached (--limit_output_bytes=%d)",
                        options_.limit_output_bytes));
  }
  return n;
}

Sandbox::SyscallResult Sandbox::Syscall(Process& p) {
  uint64_t* const x = p.cpu.x;
  const uint64_t nr = x[rv64::kA7];
  const uint64_t a0 = x[rv64::kA0], a1 = x[rv64::kA1], a2 = x[rv64::kA2],
                 a3 = x[rv64::kA3], a4 = x[rv64::kA4], a5 = x[rv64::kA5];
  const auto i0 = static_cast<int64_t>(a0);
  int64_t ret;
  SyscallResult result = SyscallResult::kContinue;
  switch (nr) {
    case kRead:
      ret = SysRead(p, static_cast<int>(i0), a1, a2);
      break;
    case kWrite:
      ret = SysWrite(p, static_cast<int>(i0), a1, a2);
      break;
    case kReadv:
      ret = SysReadv(p, static_cast<int>(i0), a1, a2);
      break;
    case kWritev:
      ret = SysWritev(p, static_cast<int>(i0), a1, a2);
      break;
    case kOpenat:
      ret = SysOpenat(p, i0, a1, static_cast<int64_t>(a2));
      break;
    case kClose:
      ret = SysClose(p, static_cast<int>(i0));
      break;
    case kPipe2:
      ret = SysPipe2(p, a0, static_cast<int64_t>(a1));
      break;
    case kLseek:
      ret = SysLseek(p, static_cast<int>(i0), static_cast<int64_t>(a1),
                     static_cast<int>(a2));
      break;
    case kFstat:
      ret = SysFstat(p, static_cast<int>(i0), a1);
      break;
    case kNewfstatat:
      ret = SysNewfstatat(p, i0, a1, a2, static_cast<int64_t>(a3));
      break;
    case kIoctl:
      ret = SysIoctl(p, static_cast<int>(i0), a1, a2);
      break;
    case kReadlinkat:
      ret = Err(ENOENT);
      break;  // no filesystem
    case kExit:
    case kExitGroup: {
      ExitStatus st;
      st.code = static_cast<int>(a0 & 0xff);
      Exit(p, st);
      return SyscallResult::kExit;
    }
    case kSetTidAddress:
      p.clear_child_tid = a0;
      ret = p.pid;
      break;
    case kSetRobustList:
      // struct robust_list_head is 24 bytes on 64-bit.
      ret = a1 == 24 ? 0 : Err(EINVAL);
      break;
    case kGetcpu: {
      // One hart on node 0 (the worker's node, in this guest's view).
      const uint32_t zero = 0;
      ret = (a0 != 0 && !CopyOut(p, a0, &zero, sizeof(zero))) ||
                    (a1 != 0 && !CopyOut(p, a1, &zero, sizeof(zero)))
                ? Err(EFAULT)
                : 0;
      break;
    }
    case kRseq:
      ret = SysRseq(p, a0, a1, static_cast<int64_t>(a2), a3);
      break;
    case kFutex:
      ret = Err(ENOSYS);
      break;
    case kNanosleep:
      ret = SysNanosleep(p, a0, a1);
      break;
    case kClockNanosleep:
      // (clock, flags, req, rem): relative sleeps on any clock.
      ret = (a1 & 1) ? Err(EINVAL) : SysNanosleep(p, a2, a3);
      break;
    case kClockGettime:
      ret = SysClockGettime(p, i0, a1);
      break;
    case kGettimeofday:
      ret = SysGettimeofday(p, a0);
      break;
    case kSchedYield:
      ret = 0;
      break;
    case kRtSigaction:
      ret = SysRtSigaction(p, i0, a1, a2, a3);
      break;
    case kRtSigprocmask:
      ret = SysRtSigprocmask(p, i0, a1, a2, a3);
      break;
    case kKill:
      ret = SysKill(p, i0, static_cast<int64_t>(a1));
      break;
    case kTkill:
      ret = SysKill(p, i0, static_cast<int64_t>(a1));
      break;
    case kTgkill:
      ret = i0 == p.pid
                ? SysKill(p, static_cast<int64_t>(a1), static_cast<int64_t>(a2))
                : Err(ESRCH);
      break;
    case kRiscvFlushIcache:
      // glibc's __builtin___clear_cache / __riscv_flush_icache: the
      // decode cache must see code written since.
      p.interp->FlushCode();
      ret = 0;
      break;
    case kUname:
      ret = SysUname(p, a0);
      break;
    case kGetpid:
    case kGettid:
      ret = p.pid;
      break;
    case kGetppid:
      ret = p.ppid;
      break;
    case kGetuid:
    case kGeteuid:
    case kGetgid:
    case kGetegid:
      ret = 0;
      break;
    case kBrk:
      ret = SysBrk(p, a0);
      break;
    case kMmap:
      ret = SysMmap(p, a0, a1, a2, a3, static_cast<int64_t>(a4), a5);
      break;
    case kMunmap:
      ret = SysMunmap(p, a0, a1);
      break;
    case kMprotect:
      ret = SysMprotect(p, a0, a1, a2);
      break;
    case kMremap:
      ret = SysMremap(p, a0, a1, a2, a3, a4);
      break;
    case kMadvise:
      ret = SysMadvise(p, a0, a1, static_cast<int64_t>(a2));
      break;
    case kMlock:
      ret = Err(p.as->Mlock(a0, a1));
      break;
    case kMunlock:
      ret = Err(p.as->Munlock(a0, a1));
      break;
    case kClone:
      ret = SysClone(p, a0, a1);
      break;
    case kWait4:
      ret = SysWait4(p, i0, a1, static_cast<int64_t>(a2), a3, &result);
      if (result == SyscallResult::kBlocked) return result;
      break;
    case kPrlimit64:
      ret = SysPrlimit(p, i0, static_cast<int64_t>(a1), a2, a3);
      break;
    case kGetrandom:
      ret = SysGetrandom(p, a0, a1, a2);
      break;
    case kMemmgrSnapshot:
      ret = SysMemmgrSnapshot(p, a0);
      break;
    case kMemmgrForkInfo:
      ret = SysMemmgrForkInfo(p, a0, a1);
      break;
    case kMemmgrForkArg:
      ret = SysMemmgrForkArg(p, a0, a1, a2);
      break;
    default:
      ++stats_.unknown_syscalls[nr];
      ret = Err(ENOSYS);
      break;
  }
  if (done_ || p.state == Process::State::kZombie) {
    return SyscallResult::kExit;  // the output limit, SIGPIPE
  }
  if (p.sleeping) {
    p.sleeping = false;
    x[rv64::kA0] = static_cast<uint64_t>(ret);
    return SyscallResult::kSleep;
  }
  if (p.blocked_pipe != nullptr) {
    // Blocked on a pipe: re-execute the ecall (4 bytes; there is no
    // compressed ecall) when the pipe is ready.
    p.cpu.pc -= 4;
    --p.cpu.instret;
    return SyscallResult::kBlocked;
  }
  x[rv64::kA0] = static_cast<uint64_t>(ret);
  return result;
}

// ---- I/O ----

int64_t Sandbox::SysRead(Process& p, int fd, uint64_t buf, uint64_t len) {
  len = std::min(len, kMaxIo);
  if (fd == 0) {
    std::string tmp(std::min<uint64_t>(len, 1 << 20), '\0');
    const absl::Time deadline = options_.timeout > absl::ZeroDuration()
                                    ? start_ + options_.timeout
                                    : absl::InfiniteFuture();
    const int64_t n = io_->Read(0, tmp.data(), tmp.size(), deadline);
    if (n <= 0) return n;
    if (!CopyOut(p, buf, tmp.data(), static_cast<uint64_t>(n))) {
      return Err(EFAULT);
    }
    return n;
  }
  auto it = p.files.find(fd);
  if (it == p.files.end()) return Err(EBADF);
  OpenFile& f = it->second;
  if (f.pipe != nullptr) {
    if (f.pipe_write_end) return Err(EBADF);
    Pipe& pipe = *f.pipe;
    if (len == 0) return 0;
    if (pipe.unread() == 0) {
      if (pipe.writers == 0) return 0;  // end of file
      if (f.nonblock) return Err(EAGAIN);
      p.blocked_pipe = f.pipe;
      p.blocked_on_write = false;
      return 0;
    }
    const uint64_t n = std::min<uint64_t>(len, pipe.unread());
    if (!CopyOut(p, buf, pipe.data.data() + pipe.head, n)) return Err(EFAULT);
    pipe.head += n;
    // Drop what was read once it is a buffer's worth: the string never
    // holds more than two pipe capacities.
    if (pipe.head == pipe.data.size() || pipe.head >= Pipe::kCapacity) {
      pipe.data.erase(0, pipe.head);
      pipe.head = 0;
    }
    return static_cast<int64_t>(n);
  }
  const std::string& bytes = f.image->bytes;
  const uint64_t avail = f.pos < bytes.size() ? bytes.size() - f.pos : 0;
  const uint64_t n = std::min(len, avail);
  if (n > 0 && !CopyOut(p, buf, bytes.data() + f.pos, n)) return Err(EFAULT);
  f.pos += n;
  return static_cast<int64_t>(n);
}

int64_t Sandbox::SysWrite(Process& p, int fd, uint64_t buf, uint64_t len) {
  if (fd != 1 && fd != 2) {
    auto it = p.files.find(fd);
    if (it == p.files.end() || it->second.pipe == nullptr ||
        !it->second.pipe_write_end) {
      return Err(EBADF);  // passed-in files are read-only
    }
    return PipeWrite(p, it->second, buf, std::min(len, kMaxIo));
  }
  len = std::min(len, kMaxIo);
  std::string tmp;
  // Bounded chunks: a guest cannot make the host allocate its whole write.
  int64_t total = 0;
  while (len > 0) {
    const uint64_t chunk = std::min<uint64_t>(len, 1 << 20);
    tmp.resize(chunk);
    if (!CopyIn(p, buf, tmp.data(), chunk)) {
      return total > 0 ? total : Err(EFAULT);
    }
    const int64_t n = EmitOutput(p, fd, tmp);
    if (n < 0) return total > 0 ? total : n;
    total += n;
    if (done_ || static_cast<uint64_t>(n) < chunk) break;
    buf += chunk;
    len -= chunk;
  }
  return total;
}

namespace {
struct GuestIovec {
  uint64_t base;
  uint64_t len;
};
}  // namespace

int64_t Sandbox::SysWritev(Process& p, int fd, uint64_t iov, uint64_t cnt) {
  if (cnt > kIovMax) return Err(EINVAL);
  std::vector<GuestIovec> vec(cnt);
  if (cnt > 0 && !CopyIn(p, iov, vec.data(), cnt * sizeof(GuestIovec))) {
    return Err(EFAULT);
  }
  int64_t total = 0;
  // Linux: negative lengths are EINVAL, and the total is capped at
  // MAX_RW_COUNT (the rest is simply not written).
  uint64_t budget = kMaxIo;
  for (GuestIovec& v : vec) {
    if (static_cast<int64_t>(v.len) < 0) return Err(EINVAL);
    v.len = std::min(v.len, budget);
    budget -= v.len;
  }
  for (const GuestIovec& v : vec) {
    if (v.len == 0) continue;
    const int64_t n = SysWrite(p, fd, v.base, v.len);
    if (p.blocked_pipe != nullptr && total > 0) {
      p.blocked_pipe.reset();  // return what was written instead of blocking
      return total;
    }
    if (n < 0) return total > 0 ? total : n;
    total += n;
    if (done_ || static_cast<uint64_t>(n) < v.len) break;
  }
  return total;
}

int64_t Sandbox::SysReadv(Process& p, int fd, uint64_t iov, uint64_t cnt) {
  if (cnt > kIovMax) return Err(EINVAL);
  std::vector<GuestIovec> vec(cnt);
  if (cnt > 0 && !CopyIn(p, iov, vec.data(), cnt * sizeof(GuestIovec))) {
    return Err(EFAULT);
  }
  uint64_t budget = kMaxIo;
  for (GuestIovec& v : vec) {
    if (static_cast<int64_t>(v.len) < 0) return Err(EINVAL);
    v.len = std::min(v.len, budget);
    budget -= v.len;
  }
  int64_t total = 0;
  for (const GuestIovec& v : vec) {
    if (v.len == 0) continue;
    const int64_t n = SysRead(p, fd, v.base, v.len);
    if (p.blocked_pipe != nullptr && total > 0) {
      p.blocked_pipe.reset();  // return what was read instead of blocking
      return total;
    }
    if (n < 0) return total > 0 ? total : n;
    total += n;
    if (static_cast<uint64_t>(n) < v.len) break;
  }
  return total;
}

int64_t Sandbox::SysOpenat(Process& p, int64_t dirfd, uint64_t path,
                           int64_t flags) {
  std::string name;
  if (!CopyInString(p, path, 4096, &name)) return Err(EFAULT);
  if (name.empty()) return Err(ENOENT);
  if (name[0] != '/' && dirfd != kAtFdcwd) return Err(EBADF);
  auto it = files_.find(name);
  if (it == files_.end()) return Err(ENOENT);
  if ((flags & 3) != 0) return Err(EACCES);  // O_WRONLY / O_RDWR
  if (p.files.size() + 3 >= kMaxFds) return Err(EMFILE);
  int fd = 3;
  while (p.files.count(fd)) ++fd;
  OpenFile f;
  f.path = name;
  f.image = it->second;
  p.files.emplace(fd, std::move(f));
  return fd;
}

int64_t Sandbox::SysClose(Process& p, int fd) {
  if (fd >= 0 && fd <= 2) return 0;
  auto it = p.files.find(fd);
  if (it == p.files.end()) return Err(EBADF);
  it->second.RefPipe(-1);
  p.files.erase(it);
  return 0;
}

int64_t Sandbox::PipeWrite(Process& p, OpenFile& f, uint64_t buf,
                           uint64_t len) {
  Pipe& pipe = *f.pipe;
  if (len == 0) return 0;  // before the reader check, as pipe_write does
  if (pipe.readers == 0) {
    // SIGPIPE kills the writer unless it ignores the signal (SIG_IGN = 1).
    constexpr int kSigPipe = 13;
    if (p.sigactions[kSigPipe].handler != 1) {
      ExitStatus st;
      st.kind = ExitKind::kSignaled;
      st.signal = kSigPipe;
      st.reason = "killed by SIGPIPE: write to a pipe with no reader";
      Exit(p, st);
    }
    return Err(EPIPE);
  }
  const uint64_t room = Pipe::kCapacity - pipe.unread();
  if (room == 0) {
    if (f.nonblock) return Err(EAGAIN);
    p.blocked_pipe = f.pipe;
    p.blocked_on_write = true;
    return 0;
  }
  // A partial write when the pipe is nearly full; callers (stdio) loop.
  const uint64_t n = std::min(len, room);
  const size_t old = pipe.data.size();
  pipe.data.resize(old + n);
  if (!CopyIn(p, buf, pipe.data.data() + old, n)) {
    pipe.data.resize(old);
    return Err(EFAULT);
  }
  return static_cast<int64_t>(n);
}

int64_t Sandbox::SysPipe2(Process& p, uint64_t fds, int64_t flags) {
  constexpr int64_t kNonblock = 0x800, kCloexec = 0x80000;
  if (flags & ~(kNonblock | kCloexec)) return Err(EINVAL);
  if (p.files.size() + 3 + 2 > kMaxFds) return Err(EMFILE);
  auto pipe = std::make_shared<Pipe>();
  int32_t pair[2];
  for (int end = 0; end < 2; ++end) {
    int fd = 3;
    while (p.files.count(fd)) ++fd;
    OpenFile f;
    f.path = "pipe";
    f.pipe = pipe;
    f.pipe_write_end = end == 1;
    f.nonblock = (flags & kNonblock) != 0;
    f.RefPipe(+1);
    p.files.emplace(fd, std::move(f));
    pair[end] = fd;
  }
  if (!CopyOut(p, fds, pair, sizeof(pair))) {
    for (int fd : pair) SysClose(p, fd);
    return Err(EFAULT);
  }
  return 0;
}

int64_t Sandbox::SysLseek(Process& p, int fd, int64_t off, int whence) {
  if (fd >= 0 && fd <= 2) return Err(ESPIPE);
  auto it = p.files.find(fd);
  if (it == p.files.end()) return Err(EBADF);
  OpenFile& f = it->second;
  if (f.pipe != nullptr) return Err(ESPIPE);
  int64_t base;
  switch (whence) {
    case 0:
      base = 0;
      break;
    case 1:
      base = static_cast<int64_t>(f.pos);
      break;
    case 2:
      base = static_cast<int64_t>(f.image->bytes.size());
      break;
    default:
      return Err(EINVAL);
  }
  if ((off > 0 && base > INT64_MAX - off) || base + off < 0) {
    return Err(EINVAL);
  }
  f.pos = static_cast<uint64_t>(base + off);
  return static_cast<int64_t>(f.pos);
}

int64_t Sandbox::SysFstat(Process& p, int fd, uint64_t buf) {
  GuestStat st{};
  if (fd >= 0 && fd <= 2) {
    // A pipe, as under a harness: glibc then buffers stdout fully, the same
    // choice it makes under qemu-user with piped output.
    st.st_mode = 0010600;  // S_IFIFO | 0600
    st.st_blksize = 4096;
    st.st_nlink = 1;
  } else {
    auto it = p.files.find(fd);
    if (it == p.files.end()) return Err(EBADF);
    if (it->second.pipe != nullptr) {
      st.st_mode = 0010600;  // S_IFIFO
      st.st_blksize = 4096;
      st.st_nlink = 1;
      return CopyOut(p, buf, &st, sizeof(st)) ? 0 : Err(EFAULT);
    }
    st.st_mode = 0100444;  // S_IFREG | 0444
    st.st_size = static_cast<int64_t>(it->second.image->bytes.size());
    st.st_blksize = 4096;
    st.st_blocks = (st.st_size + 511) / 512;
    st.st_nlink = 1;
    st.st_ino = static_cast<uint64_t>(fd);
  }
  return CopyOut(p, buf, &st, sizeof(st)) ? 0 : Err(EFAULT);
}

int64_t Sandbox::SysNewfstatat(Process& p, int64_t dirfd, uint64_t path,
                               uint64_t buf, int64_t flags) {
  std::string name;
  if (!CopyInString(p, path, 4096, &name)) return Err(EFAULT);
  constexpr int64_t kAtEmptyPath = 0x1000;
  if (name.empty()) {
    if (!(flags & kAtEmptyPath)) return Err(ENOENT);
    return SysFstat(p, static_cast<int>(dirfd), buf);
  }
  if (auto it = files_.find(name); it != files_.end()) {
    GuestStat st{};
    st.st_mode = 0100444;
    st.st_size = static_cast<int64_t>(it->second->bytes.size());
    st.st_blksize = 4096;
    st.st_nlink = 1;
    return CopyOut(p, buf, &st, sizeof(st)) ? 0 : Err(EFAULT);
  }
  return Err(ENOENT);
}

int64_t Sandbox::SysIoctl(Process& p, int fd, uint64_t req, uint64_t arg) {
  if ((fd < 0 || fd > 2) && !p.files.count(fd)) return Err(EBADF);
  // TCGETS and friends: nothing here is a terminal.
  return Err(ENOTTY);
}

// ---- memory ----

int64_t Sandbox::SysMmap(Process& p, uint64_t addr, uint64_t len, uint64_t prot,
                         uint64_t flags, int64_t fd, uint64_t off) {
  constexpr uint64_t kShared = 0x01, kPrivate = 0x02, kFixed = 0x10,
                     kAnonymous = 0x20, kGrowsDown = 0x100, kLocked = 0x2000,
                     kPopulate = 0x8000, kFixedNoReplace = 0x100000;
  constexpr uint64_t kKnown = 0x01 | 0x02 | 0x03 | 0x10 | 0x20 | 0x100 | 0x800 |
                              0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 |
                              0x20000 | 0x40000 | 0x100000;
  if (prot & ~uint64_t{mmu::kProtMask}) return Err(EINVAL);
  const uint64_t type = flags & 3;
  if (type == 0 || (flags & ~kKnown)) return Err(EINVAL);
  if (type != kPrivate) return Err(EINVAL);  // MAP_SHARED: not supported
  (void)kShared;
  if (len == 0) return Err(EINVAL);
  if ((prot & mmu::kProtWrite) && ExceedsCommitLimit(len)) return Err(ENOMEM);
  uint32_t mflags = 0;
  if (flags & kFixed) mflags |= mmu::kMapFixed;
  if (flags & kFixedNoReplace) mflags |= mmu::kMapFixedNoReplace;
  if (flags & kGrowsDown) mflags |= mmu::kMapGrowsDown;
  if (flags & kLocked) mflags |= mmu::kMapLocked;
  if (flags & kPopulate) mflags |= mmu::kMapPopulate;
  absl::StatusOr<mmu::GuestAddr> r;
  if (flags & kAnonymous) {
    r = p.as->Mmap(addr, len, static_cast<uint32_t>(prot), mflags);
  } else {
    // A private mapping of a passed-in file: its bytes as an image.
    auto it = p.files.find(static_cast<int>(fd));
    if (fd < 0 || it == p.files.end()) return Err(EBADF);
    if (it->second.pipe != nullptr) return Err(ENODEV);
    if (!mmu::IsPageAligned(off)) return Err(EINVAL);
    if (!(flags & (kFixed | kFixedNoReplace))) {
      // Pick the address with an anonymous reservation, then map over it.
      auto hole = p.as->Mmap(addr, len, mmu::kProtNone, 0);
      if (!hole.ok()) return Err(hole.status());
      addr = *hole;
      mflags |= mmu::kMapFixed;
    }
    const std::shared_ptr<const mmu::GuestImage>& image = it->second.image;
    const uint64_t file_bytes =
        off < image->bytes.size()
            ? std::min<uint64_t>(len, image->bytes.size() - off)
            : 0;
    r = p.as->MapImage(addr, mmu::PageUp(len), static_cast<uint32_t>(prot),
                       image, std::min<uint64_t>(off, image->bytes.size()),
                       file_bytes, mflags);
  }
  if (!r.ok()) return Err(r.status());
  if (mflags & mmu::kMapFixed) InvalidateCode(p, *r, len);
  return static_cast<int64_t>(*r);
}

void Sandbox::InvalidateCode(Process& p, uint64_t addr, uint64_t len) {
  // Whether or not the operation succeeded (a failed one may have changed
  // part of the range); the end saturates instead of wrapping.
  const uint64_t end = len > UINT64_MAX - addr ? UINT64_MAX : addr + len;
  p.interp->InvalidateCode(addr, end);
}

int64_t Sandbox::SysMunmap(Process& p, uint64_t addr, uint64_t len) {
  const absl::Status s = p.as->Munmap(addr, len);
  InvalidateCode(p, addr, len);
  return Err(s);
}

int64_t Sandbox::SysMprotect(Process& p, uint64_t addr, uint64_t len,
                             uint64_t prot) {
  if (prot & ~uint64_t{mmu::kProtMask}) return Err(EINVAL);
  const absl::Status s = p.as->Mprotect(addr, len, static_cast<uint32_t>(prot));
  InvalidateCode(p, addr, len);
  return Err(s);
}

int64_t Sandbox::SysMadvise(Process& p, uint64_t addr, uint64_t len,
                            int64_t advice) {
  const absl::Status s = p.as->Madvise(addr, len, static_cast<int>(advice));
  // Even on failure: madvise may have zapped part of the range first.
  InvalidateCode(p, addr, len);
  return Err(s);
}

int64_t Sandbox::SysMremap(Process& p, uint64_t old_addr, uint64_t old_len,
                           uint64_t new_len, uint64_t flags,
                           uint64_t new_addr) {
  constexpr uint64_t kMayMove = 1, kFixed = 2, kDontUnmap = 4;
  if (flags & ~(kMayMove | kFixed | kDontUnmap)) return Err(EINVAL);
  if ((flags & kFixed) && !(flags & kMayMove)) return Err(EINVAL);
  if (flags & (kFixed | kDontUnmap)) return Err(EINVAL);  // not supported
  if (!mmu::IsPageAligned(old_addr) || new_len == 0) return Err(EINVAL);
  if (old_len > mmu::kMaxUserVa || new_len > mmu::kMaxUserVa) {
    return Err(EINVAL);
  }
  old_len = mmu::PageUp(old_len);
  new_len = mmu::PageUp(new_len);
  const mmu::Vma* vma = p.as->vmas().Find(old_addr);
  if (vma == nullptr || old_len == 0 || old_addr + old_len > vma->end) {
    return Err(EFAULT);
  }
  if (new_len <= old_len) {
    if (new_len < old_len) {
      const absl::Status s =
          p.as->Munmap(old_addr + new_len, old_len - new_len);
      if (!s.ok()) return Err(s);
      p.interp->InvalidateCode(old_addr + new_len, old_addr + old_len);
    }
    return static_cast<int64_t>(old_addr);
  }
  const uint32_t prot = vma->prot;
  if ((prot & mmu::kProtWrite) && ExceedsCommitLimit(new_len - old_len)) {
    return Err(ENOMEM);
  }
  const bool anon = vma->image == nullptr;
  // Grow in place when the pages after it are free (the vmas merge).
  if (anon && old_addr + old_len == vma->end) {
    auto grown = p.as->Mmap(old_addr + old_len, new_len - old_len, prot,
                            mmu::kMapFixedNoReplace);
    if (grown.ok()) return static_cast<int64_t>(old_addr);
  }
  if (!(flags & kMayMove)) return Err(ENOMEM);
  // Move: a new mapping, the resident pages copied, the old range unmapped.
  // (Linux moves the ptes; copying costs a frame per resident page, and
  // pages never touched stay untouched.) The old range is made readable
  // first: it goes away anyway, and PROT_NONE or write-only contents must
  // move too.
  auto moved = p.as->Mmap(0, new_len, prot | mmu::kProtWrite, 0);
  if (!moved.ok()) return Err(moved.status());
  if (!(prot & mmu::kProtRead)) {
    (void)p.as->Mprotect(old_addr, old_len, prot | mmu::kProtRead);
  }
  std::string page(mmu::kPageSize, '\0');
  for (uint64_t off = 0; off < old_len; off += mmu::kPageSize) {
    // Untouched anonymous pages read as zero in the new mapping too; image
    // pages are copied whether or not they were faulted in yet.
    if (anon && !p.as->Resident(old_addr + off)) continue;
    mmu::Fault fault;
    if (!p.as->CopyFromGuest(old_addr + off, page.data(), mmu::kPageSize,
                             &fault) ||
        !p.as->CopyToGuest(*moved + off, page.data(), mmu::kPageSize, &fault)) {
      (void)p.as->Munmap(*moved, new_len);
      (void)p.as->Mprotect(old_addr, old_len, prot);
      return fault.reason == mmu::FaultReason::kMemoryLimit ||
                     fault.reason == mmu::FaultReason::kOutOfMemory
                 ? Err(ENOMEM)
                 : Err(EFAULT);
    }
  }
  if (!(prot & mmu::kProtWrite)) {
    (void)p.as->Mprotect(*moved, new_len, prot);
  }
  (void)p.as->Munmap(old_addr, old_len);
  p.interp->InvalidateCode(old_addr, old_addr + old_len);
  return static_cast<int64_t>(*moved);
}

bool Sandbox::ExceedsCommitLimit(uint64_t bytes) const {
  // Linux's OVERCOMMIT_GUESS refuses a single request larger than RAM +
  // swap (__vm_enough_memory); the sandbox's RAM is --memory.
  return bytes > options_.memory_bytes + options_.swap_bytes;
}

int64_t Sandbox::SysBrk(Process& p, uint64_t addr) {
  const mmu::GuestAddr old = p.as->brk();
  if (addr > old && ExceedsCommitLimit(addr - old)) {
    return static_cast<int64_t>(old);  // brk(2) reports failure this way
  }
  const mmu::GuestAddr now = p.as->Brk(addr);
  if (now < old) p.interp->InvalidateCode(now, old);
  return static_cast<int64_t>(now);
}

// ---- time, identity, randomness ----

int64_t Sandbox::SysClockGettime(Process& p, int64_t clock, uint64_t ts) {
  // CLOCK_REALTIME 0, MONOTONIC 1, PROCESS/THREAD_CPUTIME 2/3,
  // MONOTONIC_RAW 4, REALTIME_COARSE 5, MONOTONIC_COARSE 6, BOOTTIME 7.
  if (clock < 0 || clock > 7) return Err(EINVAL);
  timespec host;
  clockid_t id = static_cast<clockid_t>(clock);
  if (clock == 2 || clock == 3) id = CLOCK_MONOTONIC;  // guest CPU ~ wall
  clock_gettime(id, &host);
  const int64_t out[2] = {host.tv_sec, host.tv_nsec};
  return CopyOut(p, ts, out, sizeof(out)) ? 0 : Err(EFAULT);
}

int64_t Sandbox::SysGettimeofday(Process& p, uint64_t tv) {
  if (tv == 0) return 0;
  timespec host;
  clock_gettime(CLOCK_REALTIME, &host);
  const int64_t out[2] = {host.tv_sec, host.tv_nsec / 1000};
  return CopyOut(p, tv, out, sizeof(out)) ? 0 : Err(EFAULT);
}

int64_t Sandbox::SysNanosleep(Process& p, uint64_t req, uint64_t rem) {
  int64_t ts[2];
  if (!CopyIn(p, req, ts, sizeof(ts))) return Err(EFAULT);
  if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1'000'000'000) return Err(EINVAL);
  const absl::Duration d = absl::Seconds(ts[0]) + absl::Nanoseconds(ts[1]);
  if (d <= absl::ZeroDuration()) return 0;
  // The process sleeps, not the sandbox: the scheduler runs the others and
  // wakes it (Run()); the syscall has then returned 0.
  p.wake_at = absl::Now() + d;
  p.sleeping = true;
  return 0;
}

int64_t Sandbox::SysGetrandom(Process& p, uint64_t buf, uint64_t len,
                              uint64_t flags) {
  constexpr uint64_t kNonblock = 1, kRandom = 2, kInsecure = 4;
  if ((flags & ~(kNonblock | kRandom | kInsecure)) ||
      ((flags & kRandom) && (flags & kInsecure))) {
    return Err(EINVAL);
  }
  len = std::min<uint64_t>(len, 1 << 25);  // Linux returns at most 32 MiB
  std::string tmp(std::min<uint64_t>(len, 1 << 20), '\0');
  uint64_t done = 0;
  while (done < len) {
    const uint64_t chunk = std::min<uint64_t>(len - done, tmp.size());
    FillRandom(tmp.data(), chunk);
    if (!CopyOut(p, buf + done, tmp.data(), chunk)) {
      return done > 0 ? static_cast<int64_t>(done) : Err(EFAULT);
    }
    done += chunk;
  }
  return static_cast<int64_t>(done);
}

int64_t Sandbox::SysUname(Process& p, uint64_t buf) {
  char u[6][65] = {};
  std::strcpy(u[0], "Linux");
  std::strcpy(u[1], "memmgr");
  std::strcpy(u[2], "6.1.0-memmgr");
  std::strcpy(u[3], "#1 SMP PREEMPT memmgr sandbox");
  std::strcpy(u[4], "riscv64");
  std::strcpy(u[5], "(none)");
  return CopyOut(p, buf, u, sizeof(u)) ? 0 : Err(EFAULT);
}

int64_t Sandbox::SysPrlimit(Process& p, int64_t pid, int64_t res,
                            uint64_t new_limit, uint64_t old_limit) {
  if (pid != 0 && pid != p.pid) return Err(ESRCH);
  if (res < 0 || res >= 16) return Err(EINVAL);
  constexpr uint64_t kInfinity = ~uint64_t{0};
  uint64_t lim[2] = {kInfinity, kInfinity};
  switch (res) {
    case 3:  // RLIMIT_STACK
      lim[0] = lim[1] = options_.stack_bytes;
      break;
    case 9:  // RLIMIT_AS
    case 2:  // RLIMIT_DATA
      lim[0] = lim[1] = options_.memory_bytes;
      break;
    case 7:  // RLIMIT_NOFILE
      lim[0] = lim[1] = 1024;
      break;
  }
  if (new_limit != 0) {
    uint64_t want[2];
    if (!CopyIn(p, new_limit, want, sizeof(want))) return Err(EFAULT);
    if (want[0] > want[1]) return Err(EINVAL);
    if (want[1] > lim[1]) return Err(EPERM);  // raising the hard limit
    // Lowering is accepted and not enforced beyond the sandbox's limits.
  }
  // The old limit is written only once the new one is known to be valid.
  if (old_limit != 0 && !CopyOut(p, old_limit, lim, sizeof(lim))) {
    return Err(EFAULT);
  }
  return 0;
}

int64_t Sandbox::SysRtSigaction(Process& p, int64_t sig, uint64_t act,
                                uint64_t oact, uint64_t size) {
  if (size != 8) return Err(EINVAL);
  if (sig < 1 || sig > 64) return Err(EINVAL);
  if ((sig == 9 || sig == 19) && act != 0) return Err(EINVAL);  // KILL/STOP
  GuestSigaction old = p.sigactions[sig];
  if (act != 0) {
    GuestSigaction a;
    if (!CopyIn(p, act, &a, sizeof(a))) return Err(EFAULT);
    p.sigactions[sig] = a;
  }
  if (oact != 0 && !CopyOut(p, oact, &old, sizeof(old))) return Err(EFAULT);
  return 0;
}

int64_t Sandbox::SysRtSigprocmask(Process& p, int64_t how, uint64_t set,
                                  uint64_t oset, uint64_t size) {
  if (size != 8) return Err(EINVAL);
  const uint64_t old = p.sigmask;
  if (set != 0) {
    uint64_t m;
    if (!CopyIn(p, set, &m, sizeof(m))) return Err(EFAULT);
    // SIGKILL and SIGSTOP cannot be blocked.
    m &= ~((1ull << (9 - 1)) | (1ull << (19 - 1)));
    switch (how) {
      case 0:
        p.sigmask |= m;
        break;  // SIG_BLOCK
      case 1:
        p.sigmask &= ~m;
        break;  // SIG_UNBLOCK
      case 2:
        p.sigmask = m;
        break;  // SIG_SETMASK
      default:
        return Err(EINVAL);
    }
  }
  if (oset != 0 && !CopyOut(p, oset, &old, sizeof(old))) return Err(EFAULT);
  return 0;
}

// ---- processes ----

int64_t Sandbox::SysRseq(Process& p, uint64_t rseq, uint64_t len, int64_t flags,
                         uint64_t sig) {
  // Restartable sequences (kernel/rseq.c): glibc registers a 32-byte area
  // at start-up and reads the current CPU from it. One hart, never
  // migrated and never preempted inside a critical section: registration
  // only has to fill in cpu_id_start and cpu_id (CPU 0) and remember it.
  constexpr int64_t kUnregister = 1;
  constexpr uint64_t kMinLen = 32;
  if (flags & kUnregister) {
    if (flags & ~kUnregister) return Err(EINVAL);
    if (p.rseq_area == 0) return Err(EINVAL);
    if (rseq != p.rseq_area || len != p.rseq_len) return Err(EINVAL);
    if (sig != p.rseq_sig) return Err(EPERM);
    p.rseq_area = 0;
    return 0;
  }
  if (flags != 0) return Err(EINVAL);
  if (p.rseq_area != 0) {
    // Registering the same area again is EBUSY, another one EINVAL.
    if (rseq != p.rseq_area || len != p.rseq_len) return Err(EINVAL);
    return sig == p.rseq_sig ? Err(EBUSY) : Err(EPERM);
  }
  if (len < kMinLen || (rseq & (kMinLen - 1)) != 0) return Err(EINVAL);
  const uint32_t cpu[2] = {0, 0};  // cpu_id_start, cpu_id
  if (!CopyOut(p, rseq, cpu, sizeof(cpu))) return Err(EFAULT);
  p.rseq_area = rseq;
  p.rseq_len = len;
  p.rseq_sig = sig;
  return 0;
}

int64_t Sandbox::SysKill(Process& p, int64_t pid, int64_t sig) {
  // Signals to itself only (abort() and raise() do this); others: EPERM.
  // There is no delivery to handlers: a signal whose default action
  // terminates does so whether or not a handler is installed, one that is
  // ignored (SIG_IGN, or ignored by default) is dropped.
  if (sig < 0 || sig > 64) return Err(EINVAL);
  if (pid != p.pid && pid != 0 && pid != -1) {
    return processes_.count(pid) ? Err(EPERM) : Err(ESRCH);
  }
  if (sig == 0) return 0;
  constexpr uint64_t kIgnoredByDefault =
      (1ull << 17) | (1ull << 18) | (1ull << 23) | (1ull << 28) |  // CHLD CONT
      (1ull << 19) | (1ull << 20) | (1ull << 21) |
      (1ull << 22);                                     // URG WINCH, stops
  const bool ignored = p.sigactions[sig].handler == 1;  // SIG_IGN
  if (sig != 9 && (ignored || (kIgnoredByDefault >> sig) & 1)) return 0;
  ExitStatus st;
  st.kind = ExitKind::kSignaled;
  st.signal = static_cast<int>(sig);
  st.reason = absl::StrFormat("killed by signal %d (raised by the guest)", sig);
  Exit(p, st);
  return 0;
}

int64_t Sandbox::SysClone(Process& p, uint64_t flags, uint64_t stack) {
  // fork() is clone(SIGCHLD, 0); glibc passes CLONE_CHILD_SETTID |
  // CLONE_CHILD_CLEARTID too. Threads (CLONE_VM) are not supported.
  constexpr uint64_t kChildSettid = 0x01000000, kChildCleartid = 0x00200000;
  if ((flags & kCsignal) != kSigChld ||
      (flags & ~(kCsignal | kChildSettid | kChildCleartid)) != 0) {
    return Err(EINVAL);
  }
  // Zombies count, as for RLIMIT_NPROC: a guest that forks without
  // reaping must not grow the process table without bound.
  if (processes_.size() >= static_cast<size_t>(options_.max_processes)) {
    return Err(EAGAIN);
  }
  auto child_as = p.as->Fork();
  if (!child_as.ok()) return Err(child_as.status());
  auto c = std::make_unique<Process>();
  c->pid = next_pid_++;
  c->ppid = p.pid;
  c->as = std::move(*child_as);
  c->cpu = p.cpu;
  c->cpu.x[rv64::kA0] = 0;  // fork() returns 0 in the child
  if (stack != 0) c->cpu.x[rv64::kSp] = stack;
  c->interp = std::make_unique<rv64::Interpreter>(
      c->as.get(), &c->cpu, rv64::Interpreter::Options{options_.jit});
  c->sigactions = p.sigactions;
  c->sigmask = p.sigmask;
  c->files = p.files;
  for (const auto& [fd, f] : c->files) f.RefPipe(+1);
  if (flags & kChildCleartid) c->clear_child_tid = p.clear_child_tid;
  const int64_t pid = c->pid;
  if (flags & kChildSettid) {
    // glibc passes the child's tid pointer in the 4th argument (ctid).
    const uint64_t ctid = p.cpu.x[rv64::kA4];
    const int32_t tid = static_cast<int32_t>(pid);
    mmu::Fault fault;
    if (ctid != 0) (void)c->as->CopyToGuest(ctid, &tid, sizeof(tid), &fault);
  }
  processes_.emplace(pid, std::move(c));
  ++stats_.processes;
  return pid;
}

bool Sandbox::TryCompleteWait(Process& parent) {
  bool has_child = false;
  for (auto& [key, q] : processes_) {
    const int64_t pid = key;  // copied: the entry may be erased below
    if (q->ppid != parent.pid) continue;
    if (parent.wait_pid > 0 && pid != parent.wait_pid) continue;
    has_child = true;
    if (q->state != Process::State::kZombie) continue;
    // Like wait_task_zombie: the child is reaped even if copying the status
    // (or the zeroed rusage: no per-child accounting) faults.
    bool fault = false;
    if (parent.wait_status_ptr != 0) {
      const int32_t status = q->wait_status;
      fault |=
          !CopyOut(parent, parent.wait_status_ptr, &status, sizeof(status));
    }
    if (parent.wait_rusage_ptr != 0) {
      const std::string zero(144, '\0');  // struct rusage
      fault |=
          !CopyOut(parent, parent.wait_rusage_ptr, zero.data(), zero.size());
    }
    parent.cpu.x[rv64::kA0] = static_cast<uint64_t>(fault ? Err(EFAULT) : pid);
    processes_.erase(pid);  // reaped
    parent.state = Process::State::kRunnable;
    return true;
  }
  if (!has_child) {
    parent.cpu.x[rv64::kA0] = static_cast<uint64_t>(Err(ECHILD));
    parent.state = Process::State::kRunnable;
    return true;
  }
  return false;
}

int64_t Sandbox::SysWait4(Process& p, int64_t pid, uint64_t status,
                          int64_t options, uint64_t rusage,
                          SyscallResult* result) {
  constexpr int64_t kWnohang = 1, kWuntraced = 2, kWcontinued = 8,
                    kWall = 0x40000000, kWclone = 0x80000000;
  if (options & ~(kWnohang | kWuntraced | kWcontinued | kWall | kWclone)) {
    return Err(EINVAL);
  }
  if (pid == 0 || pid < -1) pid = -1;  // process groups: there is one
  p.wait_rusage_ptr = rusage;
  p.wait_pid = pid;
  p.wait_status_ptr = status;
  p.wait_options = options;
  if (TryCompleteWait(p)) return static_cast<int64_t>(p.cpu.x[rv64::kA0]);
  if (options & kWnohang) return 0;
  *result = SyscallResult::kBlocked;
  return 0;
}

}  // namespace memmgr::sandbox
