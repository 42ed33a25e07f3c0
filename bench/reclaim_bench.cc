// reclaim_bench: what reclaim and swap cost a guest, on the embedded swap
// device and on a real memmgr-server over loopback, in one run.
//
//   reclaim_bench [--pool=16M] [--ws_factor=3] [--passes=2]
//                 [--swapout_pages=32768] [--repeat=3] [--quick]
//                 [--sections=faults,swapout,overcommit]
//                 [--server_bin=...] [--worker_bin=...] [--guest_dir=...]
//
// Sections:
//   faults      fault latency by source. A FramePool of --pool (default
//               options: kswapd, background zeroing), a Reclaimer with
//               readahead 7 (the default) or 0, and one AddressSpace with
//               --ws_factor times the pool mapped and written (4 KiB pages
//               of swap_store_bench's mix: random, text-like, zero,
//               same-filled; each stamped with its index). One untimed
//               random pass reaches the steady state (every page written
//               out once), then --passes timed passes in random order (a
//               fresh permutation each) and one in ascending order: each
//               access is one 8-byte AddressSpace::Read, timed alone and
//               classified by the MmuStats fault counter it moved:
//               kSwapIn = the page was read from the device ("device
//               read"), else kSwapCacheHit = it was still in the swap cache
//               (readahead brought it in, or its write-out was in flight),
//               else it was resident (counted, not timed into a row). The
//               gate is held shared for slices of 32 accesses, as a sandbox
//               holds it for a slice of instructions. Every value read is
//               checked against its page's stamp.
//   swapout     swap-out throughput. kswapd off; pages are written (fresh
//               anonymous pages, same mix) until the pool is down to its
//               low watermark + 64, then Reclaimer::ShrinkTo(all frames) is
//               called until two calls in a row change nothing (a call
//               ends at a round that only gives young pages their second
//               chance, as kswapd's does); repeated until --swapout_pages
//               pages were written. pages/s = pswpout / wall time of the
//               ShrinkTo calls that wrote (the definition; those
//               calls include the scan rounds around the write-outs); also
//               against the time of every ShrinkTo call, and the device
//               alone (pages / time inside SwapDevice::WritePages, and the
//               pages per WritePages call).
//   overcommit  `memmgr-worker run --stats` on tests/guest/overcommit
//               (48 MiB, sweeps all of it ~10 times: no hot set) and
//               tests/guest/hotset (40 MiB written once, an 8 MiB hot set
//               updated 60 times): with enough frames (--memory = footprint
//               + 32 MiB, --swap=none), at 1/2 and 1/3 of the footprint on
//               embedded swap, and at 1/3 on the loopback server (one run
//               for the overcommit guest there: ~20 s each). Wall time
//               of the whole worker process, median of --repeat (the
//               configurations interleaved); every run must exit 0 and
//               print the same stdout as the enough-frames run.
// "remote" rows use memmgr-server (--server_bin) started by this program on
// 127.0.0.1 with a port picked by the kernel and RocksDB in a temp
// directory; it is stopped with SIGTERM at the end. The gRPC round trip
// (unary ListLeases, no pages) is measured on it for scale.
// Targets (the reclaim issue) are printed next to the numbers with
// PASS/MISS, never asserted. A failed check (wrong data, a run that fails)
// exits 1.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/ctl_commands.h"
#include "common/byte_size.h"
#include "common/flags_help.h"
#include "common/mutex.h"
#include "worker/mmu/address_space.h"
#include "worker/mmu/reclaim.h"
#include "worker/swap/embedded_swap_device.h"
#include "worker/swap/remote_swap_device.h"

ABSL_FLAG(memmgr::ByteSize, pool, memmgr::ByteSize{16 << 20},
          "frame pool of the faults and swapout sections");
ABSL_FLAG(int, ws_factor, 3,
          "faults: pages mapped and written, as a multiple of the pool");
ABSL_FLAG(int, passes, 2, "faults: timed random passes per configuration");
ABSL_FLAG(uint64_t, swapout_pages, 32768,
          "swapout: pages written out per device");
ABSL_FLAG(int, repeat, 3, "overcommit: runs per configuration (median shown)");
ABSL_FLAG(std::string, sections, "faults,swapout,overcommit",
          "sections to run, comma-separated");
ABSL_FLAG(std::string, server_bin, "",
          "memmgr-server for the remote rows (default: server/memmgr-server "
          "in this binary's build directory)");
ABSL_FLAG(std::string, worker_bin, "",
          "memmgr-worker for the overcommit section (default: "
          "worker/memmgr-worker in this binary's build directory)");
ABSL_FLAG(std::string, guest_dir, "",
          "directory of the overcommit and hotset guests (default: "
          "tests/guest in this binary's build directory)");
ABSL_FLAG(bool, quick, false,
          "smoke run: 8 MiB pool, one timed pass, 4096 swap-out pages, "
          "smaller guests, one run each");

namespace memmgr {
namespace {

using mmu::AddressSpace;
using mmu::FaultClass;
using mmu::FramePool;
using mmu::GuestAddr;
using mmu::kPageSize;
using mmu::MmGate;
using mmu::Reclaimer;

constexpr GuestAddr kBase = 0x10000000;
constexpr int kSlicePages = 32;  // accesses per hold of the gate

// Targets from the reclaim issue.
constexpr double kRemoteP50Us = 50;
constexpr double kRemoteP99Us = 150;
constexpr double kSwapOutPagesPerS = 80000;
constexpr double kSlowdown3x = 2.0;

double NowUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The server this program started and its temp directory: Die must not
// leave them behind.
pid_t g_server_pid = -1;
std::string g_temp_dir;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "reclaim_bench: %s\n", what.c_str());
  if (g_server_pid > 0) {
    kill(g_server_pid, SIGKILL);
    int status;
    waitpid(g_server_pid, &status, 0);
  }
  if (!g_temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(g_temp_dir, ec);
  }
  std::_Exit(1);
}

struct Dist {
  size_t n = 0;
  double p50 = 0, p99 = 0, mean = 0;
};

Dist Summarize(std::vector<double> v) {
  Dist d;
  d.n = v.size();
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  d.p50 = v[v.size() / 2];
  d.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  double sum = 0;
  for (double x : v) sum += x;
  d.mean = sum / v.size();
  return d;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string ExeDir() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return ".";
  std::string dir(self, static_cast<size_t>(n));
  return dir.substr(0, dir.rfind('/'));  // .../build/bench
}

std::string FlagOr(const std::string& value, const std::string& relative) {
  return value.empty() ? ExeDir() + "/../" + relative : value;
}

std::string MakeTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") +
                      "/reclaim_bench-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) Die("mkdtemp failed");
  return templ;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- pages --

// swap_store_bench's mix (MakeTestPage: random, text-like, zero,
// same-filled) from a pool of 1024, stamped with the page's index in bytes
// 8..15 so a page that comes back from the wrong slot is caught.
class PageFactory {
 public:
  PageFactory() {
    for (uint64_t j = 0; j < 1024; ++j) pool_.push_back(MakeTestPage(1, j));
  }
  static uint64_t Stamp(uint64_t index) {
    return index * 0x9E3779B97F4A7C15ull + 1;
  }
  const std::string& Make(uint64_t index) {
    page_ = pool_[index % pool_.size()];
    const uint64_t stamp = Stamp(index);
    std::memcpy(page_.data() + 8, &stamp, sizeof(stamp));
    return page_;
  }

 private:
  std::vector<std::string> pool_;
  std::string page_;
};

// ---------------------------------------------------------- the server --

// memmgr-server on 127.0.0.1:0 with RocksDB in `dir`, like
// tests/testing/server_process.cc (not linked: that is test code).
class ServerProc {
 public:
  static std::unique_ptr<ServerProc> Start(const std::string& binary,
                                           const std::string& dir) {
    if (access(binary.c_str(), X_OK) != 0) {
      Die("--server_bin " + binary + " is not an executable");
    }
    std::unique_ptr<ServerProc> p(new ServerProc());
    const std::string port_file = dir + "/server.port";
    p->log_ = dir + "/server.log";
    std::vector<std::string> args = {
        binary, "--data_dir=" + dir + "/data", "--listen=127.0.0.1:0",
        "--port_file=" + port_file, "--metrics_listen="};
    const pid_t pid = fork();
    if (pid < 0) Die("fork failed");
    if (pid == 0) {
      // Dies with this program, however it ends.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = open(p->log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    p->pid_ = pid;
    g_server_pid = pid;
    const double deadline = NowUs() + 30e6;
    while (NowUs() < deadline) {
      int port = 0;
      std::string s = ReadFile(port_file);
      while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
      if (absl::SimpleAtoi(s, &port) && port > 0) {
        p->address_ = absl::StrCat("127.0.0.1:", port);
        return p;
      }
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        p->pid_ = -1;
        g_server_pid = -1;
        Die("memmgr-server exited early: " + ReadFile(p->log_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Die("memmgr-server did not start: " + ReadFile(p->log_));
  }
  ~ServerProc() {
    if (pid_ <= 0) return;
    g_server_pid = -1;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 1000; ++i) {  // 10 s, then SIGKILL
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  const std::string& address() const { return address_; }

 private:
  ServerProc() = default;
  pid_t pid_ = -1;
  std::string log_;
  std::string address_;
};

// ------------------------------------------------------------- devices --

// Forwards to a device and times its WritePages and ReadPages calls.
class TimedDevice final : public mmu::SwapDevice {
 public:
  explicit TimedDevice(std::unique_ptr<mmu::SwapDevice> device)
      : device_(std::move(device)) {}

  struct Calls {
    std::vector<double> write_us, read_us;
    uint64_t write_pages = 0, read_pages = 0;
  };
  // The calls since the last Take.
  Calls Take() {
    MutexLock l(&mu_);
    Calls c = std::move(calls_);
    calls_ = Calls();
    return c;
  }

  uint32_t max_batch_pages() const override {
    return device_->max_batch_pages();
  }
  absl::StatusOr<std::vector<mmu::SwapSlot>> WritePages(
      absl::Span<const absl::string_view> pages) override {
    const double t0 = NowUs();
    auto r = device_->WritePages(pages);
    const double us = NowUs() - t0;
    MutexLock l(&mu_);
    calls_.write_us.push_back(us);
    if (r.ok()) calls_.write_pages += pages.size();
    return r;
  }
  absl::Status ReadPages(absl::Span<const mmu::SwapSlot> slots,
                         absl::Span<uint8_t* const> dst) override {
    const double t0 = NowUs();
    absl::Status s = device_->ReadPages(slots, dst);
    const double us = NowUs() - t0;
    MutexLock l(&mu_);
    calls_.read_us.push_back(us);
    if (s.ok()) calls_.read_pages += slots.size();
    return s;
  }
  absl::Status FreeSlots(absl::Span<const mmu::SwapSlot> slots) override {
    return device_->FreeSlots(slots);
  }
  absl::Status DupSlots(absl::Span<const mmu::SwapSlot> slots) override {
    return device_->DupSlots(slots);
  }
  std::string Describe() const override { return device_->Describe(); }

 private:
  std::unique_ptr<mmu::SwapDevice> device_;
  Mutex mu_;
  Calls calls_ ABSL_GUARDED_BY(mu_);
};

enum class Kind { kEmbedded, kRemote };
const char* KindName(Kind k) {
  return k == Kind::kEmbedded ? "embedded" : "remote";
}

std::unique_ptr<TimedDevice> OpenDevice(Kind kind, const ServerProc* server,
                                        uint64_t frames) {
  if (kind == Kind::kEmbedded) {
    auto d = worker::EmbeddedSwapDevice::Open({});
    if (!d.ok()) Die("embedded swap device: " + d.status().ToString());
    return std::make_unique<TimedDevice>(std::move(*d));
  }
  worker::RemoteSwapDeviceOptions o;
  o.target = server->address();
  o.worker_id = absl::StrCat("reclaim-bench-", getpid());
  o.frame_capacity_pages = frames;
  o.retry_for = absl::Seconds(30);
  auto d = worker::RemoteSwapDevice::Connect(o);
  if (!d.ok()) Die("remote swap device: " + d.status().ToString());
  return std::make_unique<TimedDevice>(std::move(*d));
}

// A pool, a device, a reclaimer and one address space with `pages` mapped
// at kBase. Destroyed in the order the reclaim test uses.
struct Rig {
  std::unique_ptr<FramePool> pool;
  std::unique_ptr<TimedDevice> device;
  std::unique_ptr<Reclaimer> reclaimer;
  std::unique_ptr<AddressSpace> as;

  Rig(Kind kind, const ServerProc* server, uint64_t pool_bytes,
      Reclaimer::Options ro, uint64_t pages) {
    FramePool::Options po;
    po.bytes = pool_bytes;
    auto p = FramePool::Create(po);
    if (!p.ok()) Die(p.status().ToString());
    pool = std::move(*p);
    device = OpenDevice(kind, server, pool->total_frames());
    auto r = Reclaimer::Create(pool.get(), device.get(), ro);
    if (!r.ok()) Die(r.status().ToString());
    reclaimer = std::move(*r);
    MmGate::Shared g(pool->gate());
    auto a = AddressSpace::Create(pool.get(), {});
    if (!a.ok()) Die(a.status().ToString());
    as = std::move(*a);
    if (!as->Mmap(kBase, pages * kPageSize, mmu::kProtRead | mmu::kProtWrite,
                  mmu::kMapFixed)
             .ok()) {
      Die("mmap failed");
    }
  }
  ~Rig() {
    {
      MmGate::Shared g(pool->gate());
      as.reset();
    }
    reclaimer.reset();
    device.reset();
    pool.reset();
  }

  // Writes pages [first, first + n) from the factory.
  void Fill(PageFactory& f, uint64_t first, uint64_t n) {
    for (uint64_t p = first; p < first + n;) {
      MmGate::Shared g(pool->gate());
      for (int k = 0; k < kSlicePages && p < first + n; ++k, ++p) {
        mmu::Fault fault;
        if (!as->CopyToGuest(kBase + p * kPageSize, f.Make(p).data(), kPageSize,
                             &fault)) {
          Die(absl::StrCat("writing page ", p,
                           " failed: ", mmu::FaultReasonName(fault.reason), " ",
                           as->swap_error().ToString()));
        }
      }
    }
  }
  // Reads page p's stamp and checks it.
  void ReadChecked(uint64_t p) {
    mmu::Fault fault;
    uint64_t v = 0;
    if (!as->Read<uint64_t>(kBase + p * kPageSize + 8, &v, &fault)) {
      Die(absl::StrCat("reading page ", p,
                       " failed: ", mmu::FaultReasonName(fault.reason), " ",
                       as->swap_error().ToString()));
    }
    if (v != PageFactory::Stamp(p)) {
      Die(absl::StrCat("page ", p, " came back wrong"));
    }
  }
};

Reclaimer::Stats Delta(const Reclaimer::Stats& a, const Reclaimer::Stats& b) {
  Reclaimer::Stats d;
  d.pswpout = b.pswpout - a.pswpout;
  d.pswpin = b.pswpin - a.pswpin;
  d.swap_faults = b.swap_faults - a.swap_faults;
  d.swapcache_hits = b.swapcache_hits - a.swapcache_hits;
  d.direct_reclaims = b.direct_reclaims - a.direct_reclaims;
  d.kswapd_wakeups = b.kswapd_wakeups - a.kswapd_wakeups;
  d.swap_io_errors = b.swap_io_errors - a.swap_io_errors;
  return d;
}

// ------------------------------------------------------------- faults --

struct Config {
  uint64_t pool_bytes = 0;
  int ws_factor = 3;
  int passes = 2;
  uint64_t swapout_pages = 0;
  int repeat = 3;
  bool quick = false;
};

struct FaultResult {
  Kind kind;
  uint32_t readahead;
  std::string order;
  Dist hit, read;
  Dist read_with_reclaim;  // the device reads that ran direct reclaim
  uint64_t resident = 0;
  Dist device_read;           // SwapDevice::ReadPages calls
  double pages_per_read = 0;  // pages per ReadPages call
  Reclaimer::Stats delta;
};

// The timed accesses of one pass in `order`, appended to the results.
// Device-read faults during which this thread ran direct reclaim also go
// to *reclaim_us.
void TimedPass(Rig& rig, const std::vector<uint64_t>& order,
               std::vector<double>* hit_us, std::vector<double>* read_us,
               std::vector<double>* reclaim_us, uint64_t* resident) {
  const int kIn = static_cast<int>(FaultClass::kSwapIn);
  const int kHit = static_cast<int>(FaultClass::kSwapCacheHit);
  for (size_t i = 0; i < order.size();) {
    MmGate::Shared g(rig.pool->gate());
    for (int k = 0; k < kSlicePages && i < order.size(); ++k, ++i) {
      const uint64_t p = order[i];
      const mmu::MmuStats before = rig.as->GetStats();
      const uint64_t direct_before = rig.reclaimer->GetStats().direct_reclaims;
      mmu::Fault fault;
      uint64_t v = 0;
      const double t0 = NowUs();
      const bool ok =
          rig.as->Read<uint64_t>(kBase + p * kPageSize + 8, &v, &fault);
      const double us = NowUs() - t0;
      if (!ok) {
        Die(absl::StrCat("reading page ", p,
                         " failed: ", mmu::FaultReasonName(fault.reason), " ",
                         rig.as->swap_error().ToString()));
      }
      if (v != PageFactory::Stamp(p)) {
        Die(absl::StrCat("page ", p, " came back wrong"));
      }
      const mmu::MmuStats after = rig.as->GetStats();
      if (after.faults[kIn] != before.faults[kIn]) {
        read_us->push_back(us);
        if (rig.reclaimer->GetStats().direct_reclaims != direct_before) {
          reclaim_us->push_back(us);
        }
      } else if (after.faults[kHit] != before.faults[kHit]) {
        hit_us->push_back(us);
      } else {
        ++*resident;
      }
    }
  }
}

std::vector<FaultResult> MeasureFaults(Kind kind, const ServerProc* server,
                                       uint32_t readahead, const Config& cfg,
                                       PageFactory& factory) {
  Reclaimer::Options ro;
  ro.readahead = readahead;
  const uint64_t frames = cfg.pool_bytes / kPageSize;
  const uint64_t pages = frames * cfg.ws_factor;
  Rig rig(kind, server, cfg.pool_bytes, ro, pages);
  rig.Fill(factory, 0, pages);
  std::mt19937_64 rng(42);
  std::vector<uint64_t> order(pages);
  for (uint64_t p = 0; p < pages; ++p) order[p] = p;
  // Warm-up: every page written out once; untimed.
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i = 0; i < order.size();) {
    MmGate::Shared g(rig.pool->gate());
    for (int k = 0; k < kSlicePages && i < order.size(); ++k, ++i) {
      rig.ReadChecked(order[i]);
    }
  }
  std::vector<FaultResult> out;
  for (const char* name : {"random", "sequential"}) {
    const bool random = name[0] == 'r';
    rig.device->Take();
    const Reclaimer::Stats s0 = rig.reclaimer->GetStats();
    std::vector<double> hit_us, read_us, reclaim_us;
    uint64_t resident = 0;
    for (int pass = 0; pass < (random ? cfg.passes : 1); ++pass) {
      if (random) {
        std::shuffle(order.begin(), order.end(), rng);
      } else {
        std::sort(order.begin(), order.end());
      }
      TimedPass(rig, order, &hit_us, &read_us, &reclaim_us, &resident);
    }
    FaultResult r;
    r.kind = kind;
    r.readahead = readahead;
    r.order = name;
    r.hit = Summarize(std::move(hit_us));
    r.read = Summarize(std::move(read_us));
    r.read_with_reclaim = Summarize(std::move(reclaim_us));
    r.resident = resident;
    TimedDevice::Calls calls = rig.device->Take();
    r.pages_per_read =
        calls.read_us.empty()
            ? 0
            : static_cast<double>(calls.read_pages) / calls.read_us.size();
    r.device_read = Summarize(std::move(calls.read_us));
    r.delta = Delta(s0, rig.reclaimer->GetStats());
    if (r.delta.swap_io_errors != 0) Die("swap I/O errors");
    out.push_back(std::move(r));
  }
  return out;
}

std::string Status(bool pass) { return pass ? "PASS" : "MISS"; }

void FaultsSection(const Config& cfg, const ServerProc* server,
                   PageFactory& factory) {
  const uint64_t frames = cfg.pool_bytes / kPageSize;
  std::printf("\nfault latency by source (pool %s = %" PRIu64
              " frames, %d x pool written then read: 1 untimed random pass, "
              "%d timed random, 1 sequential; one 8-byte Read per access)\n",
              HumanBytes(cfg.pool_bytes).c_str(), frames, cfg.ws_factor,
              cfg.passes);
  std::printf(
      "| device   | readahead | order      | source         |  faults | p50 "
      "us  | p99 us  | mean us | device call p50/p99 us | pages/call | "
      "resident |\n");
  std::printf(
      "|----------|----------:|------------|----------------|--------:|-----"
      "---:|--------:|--------:|------------------------|-----------:|"
      "---------:|\n");
  std::vector<FaultResult> all;
  for (Kind kind : {Kind::kEmbedded, Kind::kRemote}) {
    for (uint32_t ra : {7u, 0u}) {
      for (FaultResult& r : MeasureFaults(kind, server, ra, cfg, factory)) {
        for (int src = 0; src < 2; ++src) {
          const Dist& d = src == 0 ? r.hit : r.read;
          const std::string dev =
              src == 1 ? absl::StrFormat("%.1f / %.1f", r.device_read.p50,
                                         r.device_read.p99)
                       : std::string("-");
          const std::string ppc =
              src == 1 ? absl::StrFormat("%.2f", r.pages_per_read) : "-";
          if (d.n == 0) {
            std::printf(
                "| %-8s | %9u | %-10s | %-14s | %7zu | %7s | %7s | "
                "%7s | %-22s | %10s | %8s |\n",
                KindName(r.kind), r.readahead, r.order.c_str(),
                src == 0 ? "swap-cache hit" : "device read", d.n, "-", "-", "-",
                dev.c_str(), ppc.c_str(),
                src == 0 ? absl::StrCat(r.resident).c_str() : "");
          } else {
            std::printf(
                "| %-8s | %9u | %-10s | %-14s | %7zu | %7.1f | %7.1f "
                "| %7.1f | %-22s | %10s | %8s |\n",
                KindName(r.kind), r.readahead, r.order.c_str(),
                src == 0 ? "swap-cache hit" : "device read", d.n, d.p50, d.p99,
                d.mean, dev.c_str(), ppc.c_str(),
                src == 0 ? absl::StrCat(r.resident).c_str() : "");
          }
        }
        std::fflush(stdout);
        all.push_back(std::move(r));
      }
    }
  }
  std::printf(
      "\nreclaim during the timed passes (pswpin includes readahead pages; "
      "the last columns: device-read faults that ran direct reclaim)\n");
  std::printf(
      "| device   | readahead | order      | pswpin | pswpout | "
      "device reads | cache hits | direct reclaims | kswapd wakeups "
      "| faults w/ reclaim | their p50 us | their mean us |\n");
  std::printf(
      "|----------|----------:|------------|-------:|--------:|------"
      "-------:|-----------:|----------------:|---------------:|----"
      "--------------:|-------------:|--------------:|\n");
  for (const FaultResult& r : all) {
    std::printf("| %-8s | %9u | %-10s | %6" PRIu64 " | %7" PRIu64
                " | %12" PRIu64 " | %10" PRIu64 " | %15" PRIu64 " | %14" PRIu64
                " | %17zu | %12.1f | %13.1f |\n",
                KindName(r.kind), r.readahead, r.order.c_str(), r.delta.pswpin,
                r.delta.pswpout, r.delta.swap_faults, r.delta.swapcache_hits,
                r.delta.direct_reclaims, r.delta.kswapd_wakeups,
                r.read_with_reclaim.n, r.read_with_reclaim.p50,
                r.read_with_reclaim.mean);
  }
  std::printf("\ntargets (remote device-read faults, random order)\n");
  std::printf(
      "| readahead | p50 us | target | ratio | status | p99 us | "
      "target | ratio | status |\n");
  std::printf(
      "|----------:|-------:|-------:|------:|--------|-------:|------"
      "-:|------:|--------|\n");
  for (const FaultResult& r : all) {
    if (r.kind != Kind::kRemote || r.order != "random") continue;
    std::printf(
        "| %9u | %6.1f | %6.0f | %4.2fx | %-6s | %6.1f | %6.0f | "
        "%4.2fx | %-6s |\n",
        r.readahead, r.read.p50, kRemoteP50Us, r.read.p50 / kRemoteP50Us,
        Status(r.read.n > 0 && r.read.p50 <= kRemoteP50Us).c_str(), r.read.p99,
        kRemoteP99Us, r.read.p99 / kRemoteP99Us,
        Status(r.read.n > 0 && r.read.p99 <= kRemoteP99Us).c_str());
  }
  std::fflush(stdout);
}

// ------------------------------------------------------------ swap-out --

struct SwapOutResult {
  uint64_t pages = 0;     // pswpout
  double writing_us = 0;  // ShrinkTo calls that wrote
  double all_us = 0;      // every ShrinkTo call
  uint64_t calls = 0, writing_calls = 0;
  double device_us = 0;  // inside WritePages
  uint64_t device_pages = 0;
  Dist device_call;
  double pages_per_call = 0;
};

SwapOutResult MeasureSwapOut(Kind kind, const ServerProc* server,
                             const Config& cfg, PageFactory& factory) {
  Reclaimer::Options ro;
  ro.kswapd = false;
  const uint64_t target = cfg.swapout_pages;
  Rig rig(kind, server, cfg.pool_bytes, ro, target + 4096);
  const uint64_t all_frames = rig.pool->total_frames();
  const uint64_t keep = rig.pool->watermarks().low + 64;
  SwapOutResult res;
  rig.device->Take();
  const uint64_t out0 = rig.reclaimer->GetStats().pswpout;
  uint64_t next = 0;
  while (rig.reclaimer->GetStats().pswpout - out0 < target) {
    const uint64_t free = rig.pool->free_frames();
    const uint64_t n = std::min(free > keep ? free - keep : 0, target - next);
    if (n == 0) Die("swapout: no room to write pages");
    rig.Fill(factory, next, n);
    next += n;
    // ShrinkTo ends at a round that frees nothing (one that only gives
    // young pages their second chance), as kswapd's does: call it until
    // a call changes nothing.
    for (int idle = 0; idle < 2;) {
      const Reclaimer::Stats a = rig.reclaimer->GetStats();
      const double t0 = NowUs();
      const uint64_t freed = rig.reclaimer->ShrinkTo(all_frames);
      const double us = NowUs() - t0;
      const Reclaimer::Stats b = rig.reclaimer->GetStats();
      res.all_us += us;
      ++res.calls;
      if (b.pswpout > a.pswpout) {
        res.writing_us += us;
        ++res.writing_calls;
      }
      const bool moved = freed > 0 || b.pswpout > a.pswpout ||
                         b.pgactivate > a.pgactivate ||
                         b.pgdeactivate > a.pgdeactivate;
      idle = moved ? 0 : idle + 1;
    }
    if (!rig.reclaimer->LastWriteError().ok()) {
      Die("swap-out failed: " + rig.reclaimer->LastWriteError().ToString());
    }
    if (next >= target) break;
  }
  res.pages = rig.reclaimer->GetStats().pswpout - out0;
  TimedDevice::Calls calls = rig.device->Take();
  for (double us : calls.write_us) res.device_us += us;
  res.device_pages = calls.write_pages;
  res.pages_per_call =
      calls.write_us.empty()
          ? 0
          : static_cast<double>(calls.write_pages) / calls.write_us.size();
  res.device_call = Summarize(std::move(calls.write_us));
  // Every 61st page comes back intact.
  for (uint64_t p = 0; p < next; p += 61) {
    MmGate::Shared g(rig.pool->gate());
    rig.ReadChecked(p);
  }
  return res;
}

void SwapOutSection(const Config& cfg, const ServerProc* server,
                    PageFactory& factory) {
  std::printf(
      "\nswap-out throughput (pool %s, kswapd off; Reclaimer::ShrinkTo "
      "after each pool-full of fresh pages, %" PRIu64 " pages per device)\n",
      HumanBytes(cfg.pool_bytes).c_str(), cfg.swapout_pages);
  std::printf(
      "| device   |   pages | ShrinkTo calls (writing) | pages/s acknowledged "
      "| pages/s all ShrinkTo | pages/s device | WritePages p50/p99 us | "
      "pages/call | target | ratio | status |\n");
  std::printf(
      "|----------|--------:|--------------------------|---------------------"
      ":|---------------------:|---------------:|-----------------------|----"
      "-------:|-------:|------:|--------|\n");
  for (Kind kind : {Kind::kEmbedded, Kind::kRemote}) {
    const SwapOutResult r = MeasureSwapOut(kind, server, cfg, factory);
    const double ack = r.pages / (r.writing_us / 1e6);
    const double all = r.pages / (r.all_us / 1e6);
    const double dev = r.device_pages / (r.device_us / 1e6);
    std::printf(
        "| %-8s | %7" PRIu64
        " | %24s | %20.0f | %20.0f | %14.0f | %-21s | "
        "%10.1f | %6.0f | %4.2fx | %-6s |\n",
        KindName(kind), r.pages,
        absl::StrCat(r.calls, " (", r.writing_calls, ")").c_str(), ack, all,
        dev,
        absl::StrFormat("%.0f / %.0f", r.device_call.p50, r.device_call.p99)
            .c_str(),
        r.pages_per_call, kSwapOutPagesPerS, ack / kSwapOutPagesPerS,
        Status(ack >= kSwapOutPagesPerS).c_str());
    std::fflush(stdout);
  }
}

// ----------------------------------------------------------- overcommit --

struct RunOut {
  int status = -1;
  double seconds = 0;
  std::string out, err;
};

// Runs argv, collecting stdout and stderr (files: no pipe can fill).
RunOut RunProcess(const std::vector<std::string>& args,
                  const std::string& tmp) {
  const std::string out_path = tmp + "/run.out", err_path = tmp + "/run.err";
  RunOut r;
  const double t0 = NowUs();
  const pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    const int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, STDOUT_FILENO);
    dup2(e, STDERR_FILENO);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.seconds = (NowUs() - t0) / 1e6;
  r.status = WIFEXITED(status)
                 ? WEXITSTATUS(status)
                 : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

// "  swap          out N pages, in M pages, H swap-cache hits, R device
// reads, ..." from --stats.
struct SwapCounts {
  uint64_t out = 0, in = 0, reads = 0;
};
SwapCounts ParseSwap(const std::string& err) {
  SwapCounts c;
  const size_t at = err.find("swap          out ");
  if (at == std::string::npos) return c;
  unsigned long long o = 0, i = 0, h = 0, r = 0;
  if (std::sscanf(err.c_str() + at,
                  "swap          out %llu pages, in %llu pages, %llu "
                  "swap-cache hits, %llu device reads",
                  &o, &i, &h, &r) == 4) {
    c = {o, i, r};
  }
  return c;
}

struct GuestCase {
  std::string name;
  std::vector<std::string> args;
  uint64_t footprint_mib;
  bool hot_set_fits;  // the target applies
};

void OvercommitSection(const Config& cfg, const ServerProc* server,
                       const std::string& tmp) {
  const std::string worker =
      FlagOr(absl::GetFlag(FLAGS_worker_bin), "worker/memmgr-worker");
  const std::string guest_dir =
      FlagOr(absl::GetFlag(FLAGS_guest_dir), "tests/guest");
  std::vector<GuestCase> cases;
  if (cfg.quick) {
    // Smallest footprints whose 1/2 and 1/3 still exceed the 8 MiB stack.
    cases = {{"overcommit", {"27"}, 27, false},
             {"hotset", {"23", "4", "4"}, 27, true}};
  } else {
    cases = {{"overcommit", {"48"}, 48, false},
             {"hotset", {"40", "8", "60"}, 48, true}};
  }
  if (access(worker.c_str(), X_OK) != 0) {
    std::printf("\novercommit: skipped (%s not built)\n", worker.c_str());
    return;
  }
  for (const GuestCase& c : cases) {
    if (access((guest_dir + "/" + c.name).c_str(), R_OK) != 0) {
      std::printf(
          "\novercommit: skipped (%s/%s not built; needs the riscv64 cross "
          "compiler)\n",
          guest_dir.c_str(), c.name.c_str());
      return;
    }
  }
  std::printf(
      "\novercommit slowdown (memmgr-worker run --stats; wall time of the "
      "worker process, median of %d, configurations interleaved)\n",
      cfg.repeat);
  std::printf(
      "| guest      | footprint | memory | overcommit | swap     | runs | "
      "wall s | slowdown | swapped out | swapped in | device reads | target "
      "| status |\n");
  std::printf(
      "|------------|----------:|-------:|-----------:|----------|-----:|"
      "-------:|---------:|------------:|-----------:|-------------:|-------:"
      "|--------|\n");
  struct Mode {
    const char* label;
    uint64_t memory_mib;
    const char* swap;
    int runs;
  };
  for (const GuestCase& c : cases) {
    const uint64_t f = c.footprint_mib;
    std::vector<Mode> modes = {{"1x", f + 32, "none", cfg.repeat},
                               {"2x", f / 2, "embedded", cfg.repeat},
                               {"3x", f / 3, "embedded", cfg.repeat}};
    // The overcommit guest on the server takes ~20 s a run: one run, and
    // none in --quick.
    if (c.hot_set_fits) {
      modes.push_back({"3x", f / 3, "remote", cfg.repeat});
    } else if (!cfg.quick) {
      modes.push_back({"3x", f / 3, "remote", 1});
    }
    std::vector<std::vector<RunOut>> runs(modes.size());
    for (int rep = 0; rep < cfg.repeat; ++rep) {
      for (size_t m = 0; m < modes.size(); ++m) {
        if (rep >= modes[m].runs) continue;
        std::vector<std::string> argv = {
            worker, "run", "--stats",
            absl::StrCat("--memory=", modes[m].memory_mib, "M")};
        if (std::string(modes[m].swap) == "none") {
          argv.push_back("--swap=none");
        } else if (std::string(modes[m].swap) == "remote") {
          argv.push_back("--server=" + server->address());
        } else {
          argv.push_back("--swap=embedded");
        }
        argv.push_back(guest_dir + "/" + c.name);
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        RunOut r = RunProcess(argv, tmp);
        if (r.status != 0) {
          Die(absl::StrCat(c.name, " at ", modes[m].label, " (", modes[m].swap,
                           ") exited ", r.status, ": ", r.err));
        }
        if (m > 0 && r.out != runs[0][0].out) {
          Die(absl::StrCat(c.name, " at ", modes[m].label, " (", modes[m].swap,
                           ") printed ", r.out, " instead of ",
                           runs[0][0].out));
        }
        runs[m].push_back(std::move(r));
      }
    }
    std::vector<double> base_s;
    for (const RunOut& r : runs[0]) base_s.push_back(r.seconds);
    const double base = Median(base_s);
    for (size_t m = 0; m < modes.size(); ++m) {
      std::vector<RunOut>& rs = runs[m];
      std::sort(rs.begin(), rs.end(), [](const RunOut& a, const RunOut& b) {
        return a.seconds < b.seconds;
      });
      const RunOut& med = rs[rs.size() / 2];
      const SwapCounts sc = ParseSwap(med.err);
      const double slow = med.seconds / base;
      std::string target = "-", status = "-";
      if (m > 0 && std::string(modes[m].label) == "3x") {
        target = absl::StrFormat("< %.0fx", kSlowdown3x);
        status = c.hot_set_fits
                     ? Status(slow < kSlowdown3x)
                     : (slow < kSlowdown3x ? "n/a (PASS)" : "n/a (MISS)");
      }
      std::printf("| %-10s | %6" PRIu64 " MiB | %3" PRIu64
                  "M | %10s | %-8s | %4zu | %6.2f | %7.2fx | %11" PRIu64
                  " | %10" PRIu64 " | %12" PRIu64 " | %6s | %-6s |\n",
                  c.name.c_str(), f, modes[m].memory_mib, modes[m].label,
                  modes[m].swap, rs.size(), med.seconds, slow, sc.out, sc.in,
                  sc.reads, target.c_str(), status.c_str());
    }
    std::fflush(stdout);
  }
  std::printf(
      "(status n/a: the overcommit guest sweeps its whole footprint, no hot "
      "set fits, so the target does not apply; its verdict is shown in "
      "parentheses)\n");
}

// -------------------------------------------------------------- main --

void RttRow(const ServerProc& server) {
  ClientOptions o;
  o.target = server.address();
  o.max_attempts = 1;
  auto client = Client::Create(o);
  if (!client.ok()) Die(client.status().ToString());
  std::vector<double> us;
  for (int i = 0; i < 2000; ++i) {
    const double t0 = NowUs();
    auto r = (*client)->ListLeases();
    us.push_back(NowUs() - t0);
    if (!r.ok()) Die("ListLeases: " + r.status().ToString());
  }
  us.erase(us.begin(), us.begin() + 100);  // connection warm-up
  const Dist d = Summarize(std::move(us));
  std::printf(
      "loopback gRPC round trip (unary ListLeases, no pages, %zu calls): "
      "p50 %.1f us, p99 %.1f us\n",
      d.n, d.p50, d.p99);
}

int Main(int argc, char** argv) {
  ShowFlagsOfInHelp("bench/reclaim_bench.cc");
  absl::SetProgramUsageMessage(
      "Reclaim and swap: fault latency by source, swap-out throughput and "
      "overcommit slowdown, on embedded swap and on memmgr-server over "
      "loopback. Prints tables.");
  absl::ParseCommandLine(argc, argv);
  Config cfg;
  cfg.quick = absl::GetFlag(FLAGS_quick);
  cfg.pool_bytes = cfg.quick ? (8 << 20) : absl::GetFlag(FLAGS_pool).bytes;
  cfg.ws_factor = absl::GetFlag(FLAGS_ws_factor);
  cfg.passes = cfg.quick ? 1 : absl::GetFlag(FLAGS_passes);
  cfg.swapout_pages = cfg.quick ? 4096 : absl::GetFlag(FLAGS_swapout_pages);
  cfg.repeat = cfg.quick ? 1 : absl::GetFlag(FLAGS_repeat);
  if (cfg.pool_bytes < (1 << 20) || cfg.pool_bytes > (uint64_t{1} << 30) ||
      cfg.ws_factor < 1 || cfg.ws_factor > 16 || cfg.passes < 1 ||
      cfg.passes > 100 || cfg.swapout_pages < 1 ||
      cfg.swapout_pages > (1u << 22) || cfg.repeat < 1 || cfg.repeat > 99) {
    Die("flags out of range: need 1M <= --pool <= 1G, 1 <= --ws_factor <= "
        "16, 1 <= --passes <= 100, 1 <= --swapout_pages <= 4194304, 1 <= "
        "--repeat <= 99");
  }
  bool faults = false, swapout = false, overcommit = false;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_sections), ',', absl::SkipEmpty())) {
    if (s == "faults") {
      faults = true;
    } else if (s == "swapout") {
      swapout = true;
    } else if (s == "overcommit") {
      overcommit = true;
    } else {
      Die("unknown --sections entry '" + std::string(s) + "'");
    }
  }

  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("reclaim_bench: load average %.2f %.2f %.2f at start\n", load[0],
              load[1], load[2]);
  const double t_start = NowUs();
  const std::string tmp = MakeTempDir();
  g_temp_dir = tmp;
  {
    std::unique_ptr<ServerProc> server = ServerProc::Start(
        FlagOr(absl::GetFlag(FLAGS_server_bin), "server/memmgr-server"), tmp);
    std::printf("memmgr-server at %s (RocksDB in %s)\n",
                server->address().c_str(), tmp.c_str());
    RttRow(*server);
    std::fflush(stdout);
    PageFactory factory;
    if (faults) FaultsSection(cfg, server.get(), factory);
    if (swapout) SwapOutSection(cfg, server.get(), factory);
    if (overcommit) OvercommitSection(cfg, server.get(), tmp);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  std::printf("\ntotal %.1f s\n", (NowUs() - t_start) / 1e6);
  return 0;
}

}  // namespace
}  // namespace memmgr

int main(int argc, char** argv) { return memmgr::Main(argc, argv); }
