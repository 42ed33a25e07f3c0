// fork_bench: the cost of forking a resident address space with shared
// copy-on-write page tables, against Linux fork() of a host process with the
// same resident size, in the same run.
//
//   fork_bench [--sizes=16M,256M,1G] [--repeat=15] [--cow_pages=16384]
//              [--forks_seconds=1] [--quick]
//
// Sections (every timing is the median of --repeat runs unless noted):
//   fork latency    memmgr: ForkFrozen() of an address space with SIZE of
//                   written anonymous memory (a snapshot fork: it only reads
//                   the source) and Fork() (a guest fork(): also drops the
//                   write entries of the parent's warm soft TLB), after the
//                   parent read every page and wrote 256 of them ("Fork")
//                   or all of them ("Fork(all)": more write entries than
//                   the TLB's write log holds, so a full flush). Linux: fork()
//                   of this process after it touched SIZE of private anonymous
//                   4 KiB pages (THP is madvise-only here and the buffer is not
//                   advised), timed in the parent until fork() returns; the
//                   child _exits.
//   CoW per page    memmgr: a fork writes one word to each of 512 pages
//                   (2 MiB: cache-resident) and of --cow_pages
//                   pages it shares (each write copies the page; every 512
//                   pages a leaf table is copied too). Linux: the parent
//                   writes one byte to each page shared with a live child.
//                   Wall time / pages.
//   forks/s         ForkFrozen() + one page written + destroy, in a loop for
//                   --forks_seconds from one 64 MiB address space, on one
//                   thread and on two.
//   sandbox fork    the whole guest fork: tests/guest/bench_fork (a static
//                   RV64 glibc program, --guest) touches SIZE and calls
//                   memmgr_snapshot(); Sandbox::ForkFrom of that snapshot
//                   (address space, CPU state, fd table, interpreter) is
//                   timed, then the fork runs to its exit (it writes one
//                   page) untimed; and forks/s of fork + run + destroy.
//                   Skipped with a note if the guest was not built.
// Correctness is checked along the way (a fork reads the parent's data, a
// write stays private, frames return to the baseline); any mismatch exits 1.
// Targets (issue 6) are printed next to the numbers, never asserted.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "common/byte_size.h"
#include "common/flags_help.h"
#include "worker/mmu/address_space.h"
#include "worker/sandbox/sandbox.h"
#include "worker/sandbox/snapshot.h"

ABSL_FLAG(std::string, sizes, "16M,256M,1G",
          "resident sizes to fork, comma-separated (64M, 1G or bytes)");
ABSL_FLAG(int, repeat, 15, "timed runs per measurement (the median is shown)");
ABSL_FLAG(int, cow_pages, 16384, "pages written after a fork (CoW section)");
ABSL_FLAG(double, forks_seconds, 1.0, "duration of each forks/s run");
ABSL_FLAG(std::string, guest, "",
          "the bench_fork guest (default: tests/guest/bench_fork next to "
          "this binary's build directory)");
ABSL_FLAG(bool, quick, false,
          "smoke run: 16M only, 3 repeats, 1024 CoW pages, 0.1 s of forks");

namespace memmgr {
namespace {

using mmu::AddressSpace;
using mmu::FramePool;
using mmu::GuestAddr;
using mmu::kPageSize;

constexpr GuestAddr kBase = 0x10000000;

double NowUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fork_bench: %s\n", what.c_str());
  std::exit(1);
}

// A pool and an address space with `bytes` of written anonymous memory at
// kBase (page i holds i in its first word).
struct Guest {
  std::unique_ptr<FramePool> pool;
  std::unique_ptr<AddressSpace> as;
  uint64_t pages = 0;
};

Guest MakeGuest(uint64_t bytes, uint64_t spare_bytes) {
  Guest g;
  FramePool::Options po;
  po.bytes = bytes + spare_bytes + (64 << 20);
  auto pool = FramePool::Create(po);
  if (!pool.ok()) Die(pool.status().ToString());
  g.pool = std::move(*pool);
  AddressSpace::Options ao;
  auto as = AddressSpace::Create(g.pool.get(), ao);
  if (!as.ok()) Die(as.status().ToString());
  g.as = std::move(*as);
  if (!g.as->Mmap(kBase, bytes, mmu::kProtRead | mmu::kProtWrite,
                  mmu::kMapFixed)
           .ok()) {
    Die("mmap failed");
  }
  g.pages = bytes / kPageSize;
  mmu::Fault f;
  for (uint64_t i = 0; i < g.pages; ++i) {
    if (!g.as->Write<uint64_t>(kBase + i * kPageSize, i, &f)) {
      Die("populating the guest failed");
    }
  }
  return g;
}

void CheckFork(AddressSpace& child, uint64_t pages) {
  mmu::Fault f;
  for (uint64_t i : {uint64_t{0}, pages / 2, pages - 1}) {
    uint64_t v = ~uint64_t{0};
    if (!child.Read(kBase + i * kPageSize, &v, &f) || v != i) {
      Die("a fork does not see its parent's memory");
    }
  }
}

// Host memory of `bytes`, every 4 KiB page written.
struct HostBuffer {
  explicit HostBuffer(uint64_t bytes) : size(bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) Die("host mmap failed");
    data = static_cast<uint8_t*>(p);
    for (uint64_t off = 0; off < bytes; off += kPageSize) data[off] = 1;
  }
  ~HostBuffer() { munmap(data, size); }
  uint8_t* data;
  uint64_t size;
};

double LinuxForkUs(int repeat) {
  std::vector<double> t;
  for (int r = 0; r < repeat; ++r) {
    const double t0 = NowUs();
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    const double t1 = NowUs();
    if (pid < 0) Die("fork failed");
    int status;
    waitpid(pid, &status, 0);
    t.push_back(t1 - t0);
  }
  return Median(t);
}

struct ForkRow {
  uint64_t bytes;
  double frozen_us;
  double fork_us;      // 256 pages written since the last fork
  double fork_all_us;  // every page written since: a full TLB flush
  double linux_us;
};

ForkRow MeasureFork(uint64_t bytes, int repeat) {
  ForkRow row{bytes, 0, 0, 0, 0};
  {
    Guest g = MakeGuest(bytes, 0);
    const uint64_t baseline = g.pool->GetStats().used_frames;
    std::vector<double> frozen, guest, guest_all;
    for (int r = 0; r < repeat; ++r) {
      double t0 = NowUs();
      auto child = g.as->ForkFrozen();
      double t1 = NowUs();
      if (!child.ok()) Die(child.status().ToString());
      CheckFork(**child, g.pages);
      frozen.push_back(t1 - t0);
      child->reset();
      // A running parent's TLB is warm. Before each Fork() (untimed): read
      // every page, then write `written` of them (the same values), as a
      // guest that wrote that many distinct pages since its last fork.
      for (const uint64_t written : {uint64_t{256}, g.pages}) {
        mmu::Fault f;
        uint64_t sink = 0;
        for (uint64_t i = 0; i < g.pages; ++i) {
          uint64_t v;
          if (!g.as->Read(kBase + i * kPageSize, &v, &f)) Die("read failed");
          sink += v;
        }
        if (sink != g.pages * (g.pages - 1) / 2) Die("bad parent data");
        for (uint64_t i = 0; i < std::min(written, g.pages); ++i) {
          if (!g.as->Write<uint64_t>(kBase + i * kPageSize, i, &f)) {
            Die("write failed");
          }
        }
        t0 = NowUs();
        auto child2 = g.as->Fork();
        t1 = NowUs();
        if (!child2.ok()) Die(child2.status().ToString());
        CheckFork(**child2, g.pages);
        (written == g.pages ? guest_all : guest).push_back(t1 - t0);
      }
    }
    if (g.pool->GetStats().used_frames != baseline) Die("frames leaked");
    row.frozen_us = Median(frozen);
    row.fork_us = Median(guest);
    row.fork_all_us = Median(guest_all);
  }
  {
    HostBuffer host(bytes);
    row.linux_us = LinuxForkUs(repeat);
  }
  return row;
}

struct CowRow {
  double memmgr_ns;
  double linux_ns;
  double memcpy_ns;  // copying the pages alone, host to host: the floor
};

CowRow MeasureCow(uint64_t pages, int repeat) {
  CowRow row{0, 0, 0};
  Guest g = MakeGuest(pages * kPageSize, pages * kPageSize);
  std::vector<double> t;
  for (int r = 0; r < repeat; ++r) {
    auto child = g.as->ForkFrozen();
    if (!child.ok()) Die(child.status().ToString());
    mmu::Fault f;
    const double t0 = NowUs();
    for (uint64_t i = 0; i < pages; ++i) {
      if (!(*child)->Write<uint64_t>(kBase + i * kPageSize, ~i, &f)) {
        Die("CoW write failed");
      }
    }
    const double t1 = NowUs();
    t.push_back((t1 - t0) * 1000.0 / pages);
    if ((*child)->GetStats().fault(mmu::FaultClass::kCowCopy) != pages) {
      Die("expected one CoW copy per page");
    }
    CheckFork(*g.as, g.pages);  // the parent still has its values
  }
  row.memmgr_ns = Median(t);

  HostBuffer host(pages * kPageSize);
  t.clear();
  for (int r = 0; r < repeat; ++r) {
    int pipefd[2];
    if (pipe(pipefd) != 0) Die("pipe failed");
    const pid_t pid = fork();
    if (pid < 0) Die("fork failed");
    if (pid == 0) {
      // Keep the pages shared until the parent is done writing.
      close(pipefd[1]);
      char c;
      while (read(pipefd[0], &c, 1) < 0) {
      }
      _exit(0);
    }
    close(pipefd[0]);
    const double t0 = NowUs();
    for (uint64_t i = 0; i < pages; ++i) host.data[i * kPageSize] = 2;
    const double t1 = NowUs();
    close(pipefd[1]);
    int status;
    waitpid(pid, &status, 0);
    t.push_back((t1 - t0) * 1000.0 / pages);
  }
  row.linux_ns = Median(t);

  // The floor: copying the same number of 4 KiB pages between two host
  // buffers that were touched before (no faults), page by page.
  HostBuffer dst(pages * kPageSize);
  t.clear();
  for (int r = 0; r < repeat; ++r) {
    const double t0 = NowUs();
    for (uint64_t i = 0; i < pages; ++i) {
      std::memcpy(dst.data + i * kPageSize, host.data + i * kPageSize,
                  kPageSize);
    }
    const double t1 = NowUs();
    t.push_back((t1 - t0) * 1000.0 / pages);
  }
  if (dst.data[kPageSize] != host.data[kPageSize]) Die("memcpy mismatch");
  row.memcpy_ns = Median(t);
  return row;
}

// Forks per second from one frozen address space on `threads` threads:
// fork, write one page (the fork pays for it), read another, destroy.
double ForksPerSecond(Guest& g, int threads, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> forks{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  const double t0 = NowUs();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto child = g.as->ForkFrozen();
        if (!child.ok()) {
          failed = true;
          break;
        }
        mmu::Fault f;
        const uint64_t page = (n * 7919 + t) % g.pages;
        uint64_t v = 0;
        if (!(*child)->Write<uint64_t>(kBase + page * kPageSize, n, &f) ||
            !(*child)->Read(kBase + ((page + 1) % g.pages) * kPageSize, &v,
                            &f) ||
            v != (page + 1) % g.pages) {
          failed = true;
          break;
        }
        ++n;
      }
      forks += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& w : workers) w.join();
  const double t1 = NowUs();
  if (failed) Die("a fork in the forks/s loop failed");
  return forks.load() / ((t1 - t0) / 1e6);
}

// ---- Sandbox-level forks of a real guest ----

std::string DefaultGuest() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string dir(self, static_cast<size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));  // .../build/bench
  return dir + "/../tests/guest/bench_fork";
}

bool ReadFile(const std::string& path, std::string* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->append(buf, n);
  std::fclose(f);
  return true;
}

struct GuestSnapshot {
  std::unique_ptr<sandbox::StringIo> io;
  std::unique_ptr<sandbox::Sandbox> original;
  std::shared_ptr<const sandbox::Snapshot> snap;
};

GuestSnapshot WarmGuest(const std::string& program, uint64_t bytes) {
  GuestSnapshot g;
  sandbox::SandboxOptions o;
  o.program_path = "bench_fork";
  o.program = program;
  o.argv = {"bench_fork", std::to_string(bytes >> 20)};
  o.memory_bytes = bytes + (bytes / 4) + (64 << 20);
  g.io = std::make_unique<sandbox::StringIo>();
  auto sb = sandbox::Sandbox::Create(o, g.io.get());
  if (!sb.ok()) Die(sb.status().ToString());
  g.original = std::move(*sb);
  for (;;) {
    const sandbox::RunResult r = g.original->RunFor(1 << 22);
    if (r.state == sandbox::RunState::kSnapshotRequested) break;
    if (r.state == sandbox::RunState::kFinished) {
      Die("bench_fork finished without asking for a snapshot: " +
          g.original->exit_status().reason);
    }
  }
  auto snap = g.original->TakeSnapshot();
  if (!snap.ok()) Die(snap.status().ToString());
  g.snap = *snap;
  return g;
}

// Forks `index` of the snapshot (timed into *fork_us), runs it to its exit.
void ForkAndRun(const GuestSnapshot& g, uint64_t index, uint64_t count,
                double* fork_us) {
  sandbox::StringIo io;
  sandbox::ForkOptions f;
  f.io = &io;
  f.index = index;
  f.count = count;
  const double t0 = NowUs();
  auto fork = sandbox::Sandbox::ForkFrom(g.snap, f);
  const double t1 = NowUs();
  if (!fork.ok()) Die(fork.status().ToString());
  if (fork_us != nullptr) *fork_us = t1 - t0;
  const sandbox::ExitStatus st = (*fork)->Run();
  if (st.ShellStatus() != 0) Die("a bench_fork fork failed: " + st.reason);
}

void SandboxSection(const std::vector<uint64_t>& sizes, int repeat,
                    double seconds) {
  std::string path = absl::GetFlag(FLAGS_guest);
  const bool explicit_path = !path.empty();
  if (!explicit_path) path = DefaultGuest();
  std::string program;
  if (!ReadFile(path, &program)) {
    if (explicit_path) Die("cannot read --guest " + path);
    std::printf(
        "\nsandbox fork: skipped (%s not built; needs the riscv64 cross "
        "compiler)\n",
        path.c_str());
    return;
  }
  std::printf(
      "\nsandbox fork of bench_fork (Sandbox::ForkFrom; median of %d)\n",
      repeat);
  std::printf("%10s %14s %18s %16s\n", "resident", "ForkFrom us",
              "fork+run+exit us", "forks/s (1 thr)");
  for (uint64_t bytes : sizes) {
    GuestSnapshot g = WarmGuest(program, bytes);
    std::vector<double> fork_us, total_us;
    for (int r = 0; r < repeat; ++r) {
      double f = 0;
      const double t0 = NowUs();
      ForkAndRun(g, r + 1, repeat, &f);
      total_us.push_back(NowUs() - t0);
      fork_us.push_back(f);
    }
    uint64_t n = 0;
    const double t0 = NowUs();
    while (NowUs() - t0 < seconds * 1e6) ForkAndRun(g, ++n, 1u << 20, nullptr);
    const double per_s = n / ((NowUs() - t0) / 1e6);
    std::printf("%10s %14.2f %18.1f %16.0f\n", HumanBytes(bytes).c_str(),
                Median(fork_us), Median(total_us), per_s);
    std::fflush(stdout);
  }
}

int Main(int argc, char** argv) {
  ShowFlagsOfInHelp("bench/fork_bench.cc");
  absl::SetProgramUsageMessage(
      "Fork latency, CoW cost per page and forks/s of memmgr address spaces "
      "against Linux fork() in the same run. Prints a table.");
  absl::ParseCommandLine(argc, argv);
  const bool quick = absl::GetFlag(FLAGS_quick);
  std::vector<uint64_t> sizes;
  for (absl::string_view s :
       absl::StrSplit(quick ? std::string("16M") : absl::GetFlag(FLAGS_sizes),
                      ',', absl::SkipEmpty())) {
    absl::StatusOr<uint64_t> b = ParseByteSize(s);
    if (!b.ok() || *b < kPageSize || *b > (uint64_t{64} << 30)) {
      Die("bad --sizes entry '" + std::string(s) +
          "': want a size from 4K to 64G");
    }
    sizes.push_back(*b / kPageSize * kPageSize);
  }
  const int repeat = quick ? 3 : absl::GetFlag(FLAGS_repeat);
  const int cow_pages = quick ? 1024 : absl::GetFlag(FLAGS_cow_pages);
  const double seconds = quick ? 0.1 : absl::GetFlag(FLAGS_forks_seconds);
  if (sizes.empty() || repeat < 1 || repeat > 1000 || cow_pages < 1 ||
      cow_pages > (1 << 22) || !(seconds > 0 && seconds <= 600)) {
    Die("flags out of range: need --sizes, 1 <= --repeat <= 1000, "
        "1 <= --cow_pages <= 4194304, 0 < --forks_seconds <= 600");
  }

  std::printf(
      "fork latency (median of %d; target: 1G fork <= 50 us, >= 500x "
      "faster than Linux, flat across sizes)\n",
      repeat);
  std::printf("%10s %14s %10s %14s %14s %12s %12s\n", "resident",
              "ForkFrozen us", "Fork us", "Fork(all) us", "Linux fork us",
              "Linux/Frozen", "Linux/Fork");
  for (uint64_t bytes : sizes) {
    const ForkRow r = MeasureFork(bytes, repeat);
    std::printf("%10s %14.2f %10.2f %14.2f %14.1f %11.0fx %11.0fx\n",
                HumanBytes(bytes).c_str(), r.frozen_us, r.fork_us,
                r.fork_all_us, r.linux_us, r.linux_us / r.frozen_us,
                r.linux_us / r.fork_us);
    std::fflush(stdout);
  }

  // Two region sizes: 2 MiB (the pages and their copies stay in the CPU's
  // caches, as for a fork that writes a small working set) and --cow_pages
  // (64 MiB by default: every copy reads and writes DRAM).
  std::printf("\nCoW write fault per page (median of %d; target <= 0.3 us)\n",
              repeat);
  std::printf("%10s %16s %16s %12s %20s\n", "pages", "memmgr ns/page",
              "Linux ns/page", "Linux/memmgr", "memcpy floor ns/page");
  for (const uint64_t pages :
       {uint64_t{512}, static_cast<uint64_t>(cow_pages)}) {
    const CowRow cow = MeasureCow(pages, repeat);
    std::printf("%10llu %16.0f %16.0f %11.2fx %20.0f\n",
                static_cast<unsigned long long>(pages), cow.memmgr_ns,
                cow.linux_ns, cow.linux_ns / cow.memmgr_ns, cow.memcpy_ns);
    std::fflush(stdout);
  }

  Guest g = MakeGuest(64 << 20, 64 << 20);
  const uint64_t baseline = g.pool->GetStats().used_frames;
  std::printf(
      "\nforks/s from one 64M address space (fork + 1 page written "
      "+ destroy, %.1f s; target >= 10,000/s)\n",
      seconds);
  std::printf("%8s %14s\n", "threads", "forks/s");
  for (int threads : {1, 2}) {
    std::printf("%8d %14.0f\n", threads, ForksPerSecond(g, threads, seconds));
    std::fflush(stdout);
  }
  if (g.pool->GetStats().used_frames != baseline) Die("frames leaked");

  SandboxSection(sizes, repeat, seconds);
  return 0;
}

}  // namespace
}  // namespace memmgr

int main(int argc, char** argv) { return memmgr::Main(argc, argv); }
