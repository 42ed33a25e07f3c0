// memmgr-worker: the sandbox worker. Today one subcommand:
//
//   memmgr-worker run [flags] prog.elf [args...]
//
// runs a static RISC-V RV64 Linux program in a sandbox (software MMU,
// RV64GC interpreter, Linux syscall subset), forwards its stdout/stderr and
// exits with its status; with --forks=N it snapshots the guest where it
// calls memmgr_snapshot() and runs N forks of that snapshot instead. All
// logic lives in the worker libraries; this file parses flags and prints.
// `memmgr-worker serve [flags]` (the Worker gRPC service) is dispatched to
// worker/service/serve_main.cc.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/byte_size.h"
#include "common/flags_help.h"
#include "worker/mmu/mmu_stats.h"
#include "worker/mmu/reclaim.h"
#include "worker/sandbox/sandbox.h"
#include "worker/sandbox/snapshot.h"
#include "worker/service/serve_main.h"
#include "worker/swap/swap_setup.h"

extern char** environ;

ABSL_FLAG(memmgr::ByteSize, memory, memmgr::ByteSize{uint64_t{1} << 30},
          "memory for the guest and every process it forks (frames; e.g. "
          "64M, 1G); exceeding it kills the guest with SIGKILL (exit 137). "
          "With --forks the snapshot and the forks share it (pages they "
          "have not written stay shared), and it is each fork's limit too");
ABSL_FLAG(memmgr::ByteSize, stack, memmgr::ByteSize{8 << 20},
          "guest stack limit (RLIMIT_STACK)");
ABSL_FLAG(uint64_t, limit_instructions, 0,
          "stop the guest after this many instructions (all processes); "
          "exit 152 (SIGXCPU); 0 = no limit");
ABSL_FLAG(memmgr::ByteSize, limit_output_bytes, memmgr::ByteSize{0},
          "stop the guest once it has written this much to stdout+stderr; "
          "exit 153 (SIGXFSZ); 0 = no limit");
ABSL_FLAG(absl::Duration, timeout, absl::ZeroDuration(),
          "stop the guest after this much wall-clock time (e.g. 10s); exit "
          "152 (SIGXCPU); 0 = no limit");
ABSL_FLAG(bool, stats, false,
          "print instructions, MIPS, faults by class, TLB hit rate and peak "
          "frames to stderr when the guest ends");
ABSL_FLAG(bool, inherit_env, false,
          "pass this process's environment to the guest (default: only the "
          "--env variables)");
ABSL_FLAG(std::string, seed, "",
          "seed for AT_RANDOM and getrandom (a number) for reproducible runs; "
          "empty = host entropy");
ABSL_FLAG(int, numa_node, -1,
          "bind the guest's memory to this host NUMA node (-1 = no binding)");
ABSL_FLAG(int, max_processes, 64, "most live processes the guest may fork");
ABSL_FLAG(bool, jit, false,
          "translate the guest's integer code to x86-64 (template JIT) "
          "instead of interpreting every instruction");
ABSL_FLAG(std::string, swap, "embedded",
          "where reclaim puts anonymous pages when the guest needs more "
          "than --memory: 'embedded' (the swap store library in-process, on "
          "a temp RocksDB directory opened on first use, or --swap_dir), "
          "'none' (no reclaim: exceeding --memory kills the guest), or "
          "'server' (memmgr-server at --server)");
ABSL_FLAG(std::string, server, "",
          "host:port of memmgr-server for --swap=server (setting it implies "
          "--swap=server): the worker registers, keeps its lease with "
          "heartbeats and swaps there");
ABSL_FLAG(std::string, swap_dir, "",
          "RocksDB directory for --swap=embedded (kept afterwards, its slots "
          "freed); empty = a temp directory removed at exit");
ABSL_FLAG(int, swappiness, 60,
          "0..200: how much reclaim prefers anonymous pages (swap) over "
          "clean file pages (re-read from the ELF image), vm.swappiness");
ABSL_FLAG(absl::Duration, swap_retry_for, absl::Minutes(5),
          "--swap=server: how long a swap call keeps retrying while the "
          "server is unavailable before the guest stops with SIGBUS");
ABSL_FLAG(int64_t, forks, 0,
          "snapshot the guest where it calls memmgr_snapshot() "
          "(tests/guest/include/memmgr_guest.h) and run this many forks of "
          "it, one after another, instead of the rest of the original; fork "
          "i sees i as the call's result. Output: each fork's stdout/stderr "
          "in fork order; stdin of a fork is empty; the limits apply to each "
          "fork's own run; exit status: the first non-zero fork status, "
          "else 0; 125 if the guest ends without asking or cannot be "
          "snapshotted. 0 = off, at most 65536");

namespace {

constexpr int kExitUsage = 125;      // like env(1)/timeout(1): our own error
constexpr int kExitCannotRun = 126;  // the file is not a program we run
constexpr int kExitNotFound = 127;
constexpr int64_t kMaxForks = 65536;

constexpr char kUsage[] =
    "memmgr-worker run [flags] prog.elf [args...]\n"
    "memmgr-worker serve [flags]   (the Worker gRPC service: serve --help)\n"
    "\n"
    "Runs a static RISC-V RV64 Linux program (riscv64-linux-gnu-gcc -static)\n"
    "in a memmgr sandbox and exits with the guest's exit status; a guest\n"
    "killed by a fault exits 128+signal with a one-line reason on stderr.\n"
    "Worker flags go before the program; everything after it is the guest's\n"
    "argv. Repeatable: --env=NAME=VALUE (the guest's environment) and\n"
    "--file=GUEST_PATH=HOST_PATH (a host file the guest may open read-only;\n"
    "there is no other filesystem). --forks=N: snapshot the guest where it\n"
    "calls memmgr_snapshot() and run N forks of it (see --forks). Exit 125:\n"
    "usage error, 126: not a runnable program, 127: program not found.";

bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = absl::StrFormat("cannot open %s: %s", path, std::strerror(errno));
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

void PrintStats(const memmgr::sandbox::SandboxStats& s,
                const char* title = "memmgr-worker stats:") {
  const double secs = absl::ToDoubleSeconds(s.cpu_time);
  const double mips =
      secs > 0 ? static_cast<double>(s.instructions) / secs / 1e6 : 0.0;
  std::string faults;
  for (int i = 0; i < memmgr::mmu::kFaultClassCount; ++i) {
    if (s.mmu.faults[i] == 0) continue;
    absl::StrAppendFormat(
        &faults, " %s=%d",
        memmgr::mmu::FaultClassName(static_cast<memmgr::mmu::FaultClass>(i)),
        s.mmu.faults[i]);
  }
  std::string unknown;
  for (const auto& [nr, n] : s.unknown_syscalls) {
    absl::StrAppendFormat(&unknown, " %d×%d", nr, n);
  }
  std::fprintf(stderr,
               "%s\n"
               "  instructions  %llu\n"
               "  guest time    %.3f s (%.1f MIPS)\n"
               "  syscalls      %llu (ENOSYS:%s)\n"
               "  processes     %llu\n"
               "  peak frames   %llu (%s)\n"
               "  tlb hit rate  %.4f%% (%llu hits, %llu misses)\n"
               "  faults       %s\n"
               "  decoded       %llu instructions\n"
               "  output        %llu bytes\n",
               title, static_cast<unsigned long long>(s.instructions), secs,
               mips, static_cast<unsigned long long>(s.syscalls),
               unknown.empty() ? " none" : unknown.c_str(),
               static_cast<unsigned long long>(s.processes),
               static_cast<unsigned long long>(s.peak_frames),
               memmgr::HumanBytes(s.peak_frames * 4096).c_str(),
               100.0 * s.mmu.TlbHitRate(),
               static_cast<unsigned long long>(s.mmu.tlb_hits),
               static_cast<unsigned long long>(s.mmu.tlb_misses),
               faults.empty() ? " none" : faults.c_str(),
               static_cast<unsigned long long>(s.decoded_instructions),
               static_cast<unsigned long long>(s.output_bytes));
}

void PrintReclaimStats(const memmgr::mmu::Reclaimer::Stats& s) {
  std::fprintf(
      stderr,
      "  reclaim       scanned %llu, swapped out %llu (anon) + dropped %llu "
      "(file), activated %llu, deactivated %llu\n"
      "  swap          out %llu pages, in %llu pages, %llu swap-cache hits, "
      "%llu device reads, %llu I/O errors\n"
      "  kswapd        %llu wakeups, %llu rounds; direct reclaim %llu\n",
      static_cast<unsigned long long>(s.pgscan),
      static_cast<unsigned long long>(s.pgsteal_anon),
      static_cast<unsigned long long>(s.pgsteal_file),
      static_cast<unsigned long long>(s.pgactivate),
      static_cast<unsigned long long>(s.pgdeactivate),
      static_cast<unsigned long long>(s.pswpout),
      static_cast<unsigned long long>(s.pswpin),
      static_cast<unsigned long long>(s.swapcache_hits),
      static_cast<unsigned long long>(s.swap_faults),
      static_cast<unsigned long long>(s.swap_io_errors),
      static_cast<unsigned long long>(s.kswapd_wakeups),
      static_cast<unsigned long long>(s.kswapd_rounds),
      static_cast<unsigned long long>(s.direct_reclaims));
}

// A fork's stdio under --forks: output goes to the worker's stdout and
// stderr as the fork writes it (forks run one after another, so each fork's
// output is contiguous); stdin is at end of file (the original had the
// host's stdin).
class ForkIo final : public memmgr::sandbox::GuestIo {
 public:
  int64_t Write(int fd, absl::string_view data) override {
    return host_.Write(fd, data);
  }
  int64_t Read(int fd, char* buf, uint64_t len, absl::Time deadline) override {
    return 0;
  }

 private:
  memmgr::sandbox::HostIo host_;
};

// --forks: runs the original until it asks for a snapshot, snapshots it,
// drops it, and runs `forks` forks of the snapshot in order.
int RunForks(std::unique_ptr<memmgr::sandbox::Sandbox> sandbox, int64_t forks) {
  using memmgr::sandbox::RunResult;
  using memmgr::sandbox::RunState;
  const bool stats = absl::GetFlag(FLAGS_stats);
  for (;;) {
    const RunResult r = sandbox->RunFor(1 << 22);
    if (r.state == RunState::kIdle) absl::SleepFor(r.wake_in);
    if (r.state == RunState::kSnapshotRequested) break;
    if (r.state == RunState::kFinished) {
      const auto& status = sandbox->exit_status();
      if (!status.reason.empty()) {
        std::fprintf(stderr, "memmgr-worker: %s\n", status.reason.c_str());
      }
      std::fprintf(stderr,
                   "memmgr-worker: --forks=%lld: the guest ended (status %d) "
                   "without asking for a snapshot (memmgr_snapshot(), "
                   "tests/guest/include/memmgr_guest.h)\n",
                   static_cast<long long>(forks), status.ShellStatus());
      if (stats) PrintStats(sandbox->stats());
      return kExitUsage;
    }
  }
  const absl::Time t0 = absl::Now();
  auto snapshot = sandbox->TakeSnapshot();
  const absl::Duration snapshot_time = absl::Now() - t0;
  if (!snapshot.ok()) {
    std::fprintf(stderr, "memmgr-worker: --forks=%lld: %s\n",
                 static_cast<long long>(forks),
                 std::string(snapshot.status().message()).c_str());
    return kExitUsage;
  }
  if (stats) PrintStats(sandbox->stats(), "memmgr-worker stats (original):");
  // The original is the template: it does not run past the snapshot.
  sandbox.reset();

  ForkIo io;
  int first_failure = 0;
  absl::Duration run_total;
  std::vector<absl::Duration> fork_times;
  uint64_t instructions = 0;
  uint64_t peak_frames = 0;
  for (int64_t i = 1; i <= forks; ++i) {
    memmgr::sandbox::ForkOptions options;
    options.io = &io;
    options.index = static_cast<uint64_t>(i);
    options.count = static_cast<uint64_t>(forks);
    const absl::Time f0 = absl::Now();
    auto fork = memmgr::sandbox::Sandbox::ForkFrom(*snapshot, options);
    const absl::Duration fork_time = absl::Now() - f0;
    if (!fork.ok()) {
      std::fprintf(stderr, "memmgr-worker: fork %lld: %s\n",
                   static_cast<long long>(i),
                   std::string(fork.status().message()).c_str());
      return kExitUsage;
    }
    fork_times.push_back(fork_time);
    const absl::Time r0 = absl::Now();
    const memmgr::sandbox::ExitStatus status = (*fork)->Run();
    run_total += absl::Now() - r0;
    const memmgr::sandbox::SandboxStats fork_stats = (*fork)->stats();
    instructions += fork_stats.instructions - (*snapshot)->stats().instructions;
    peak_frames = std::max(peak_frames, fork_stats.peak_frames);
    if (!status.reason.empty()) {
      std::fprintf(stderr, "memmgr-worker: fork %lld: %s\n",
                   static_cast<long long>(i), status.reason.c_str());
    }
    if (first_failure == 0) first_failure = status.ShellStatus();
  }
  if (stats) {
    // The median, not the mean: one fork preempted by the host would make
    // the mean say nothing about the others.
    std::sort(fork_times.begin(), fork_times.end());
    const absl::Duration fork_median = fork_times[fork_times.size() / 2];
    const absl::Duration fork_max = fork_times.back();
    std::fprintf(
        stderr,
        "memmgr-worker forks:\n"
        "  forks         %lld of one snapshot (%llu resident pages shared)\n"
        "  snapshot      %s\n"
        "  fork          %s median, %s max (ForkFrom)\n"
        "  run           %s total, %llu instructions after the snapshot\n"
        "  peak frames   %llu (the pool's high-water mark)\n",
        static_cast<long long>(forks),
        static_cast<unsigned long long>((*snapshot)->resident_pages()),
        absl::FormatDuration(snapshot_time).c_str(),
        absl::FormatDuration(fork_median).c_str(),
        absl::FormatDuration(fork_max).c_str(),
        absl::FormatDuration(run_total).c_str(),
        static_cast<unsigned long long>(instructions),
        static_cast<unsigned long long>(peak_frames));
  }
  return first_failure;
}

int Run(int argc, char** argv) {
  // Split argv: worker flags until the first non-flag (the program); the
  // rest is the guest's argv verbatim, even if it looks like flags. Each
  // flag is parsed here (not by absl::ParseCommandLine, which exits 1), so a
  // bad flag is a usage error (125) like every other.
  std::vector<std::string> env, files;
  int i = 2;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-') break;
    const size_t dashes = a.find_first_not_of('-');
    if (dashes == std::string::npos || dashes > 2) {
      std::fprintf(stderr,
                   "memmgr-worker: %s: not a flag, and programs are not read "
                   "from stdin (see --help)\n",
                   a.c_str());
      return kExitUsage;
    }
    std::string name = a.substr(dashes);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "help" || name == "helpfull" || name == "helpshort" ||
        name == "version") {
      // absl prints the usage (and exits).
      char* help_args[] = {argv[0], argv[i]};
      absl::ParseCommandLine(2, help_args);
      return 0;
    }
    if (name == "env" || name == "file") {
      if (!has_value) {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "memmgr-worker: --%s needs a value\n",
                       name.c_str());
          return kExitUsage;
        }
        value = argv[++i];
      }
      (name == "env" ? env : files).push_back(value);
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value && name.rfind("no", 0) == 0) {
      // --nostats: a boolean flag set to false.
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && flag->IsOfType<bool>()) {
        value = "false";
        has_value = true;
      } else {
        flag = nullptr;
      }
    }
    if (flag == nullptr) {
      std::fprintf(stderr, "memmgr-worker: unknown flag --%s (see --help)\n",
                   name.c_str());
      return kExitUsage;
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];  // `--flag value`
      } else {
        std::fprintf(stderr, "memmgr-worker: --%s needs a value\n",
                     name.c_str());
        return kExitUsage;
      }
    }
    std::string parse_error;
    if (!flag->ParseFrom(value, &parse_error)) {
      std::fprintf(stderr, "memmgr-worker: --%s=%s: %s\n", name.c_str(),
                   value.c_str(), parse_error.c_str());
      return kExitUsage;
    }
  }
  if (i >= argc) {
    std::fprintf(stderr, "memmgr-worker: run: no program given\n\n%s\n",
                 kUsage);
    return kExitUsage;
  }

  memmgr::sandbox::SandboxOptions options;
  options.program_path = argv[i];
  std::string error;
  struct stat st;
  if (::stat(argv[i], &st) != 0) {
    std::fprintf(stderr, "memmgr-worker: %s: %s\n", argv[i],
                 std::strerror(errno));
    return kExitNotFound;
  }
  if (!ReadFile(argv[i], &options.program, &error)) {
    std::fprintf(stderr, "memmgr-worker: %s\n", error.c_str());
    return kExitCannotRun;
  }
  for (; i < argc; ++i) options.argv.push_back(argv[i]);
  if (absl::GetFlag(FLAGS_inherit_env)) {
    for (char** e = environ; *e != nullptr; ++e) options.envp.push_back(*e);
  }
  for (const std::string& e : env) {
    if (e.find('=') == std::string::npos || e[0] == '=') {
      std::fprintf(stderr, "memmgr-worker: --env=%s: want NAME=VALUE\n",
                   e.c_str());
      return kExitUsage;
    }
    options.envp.push_back(e);
  }
  for (const std::string& f : files) {
    const auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0 || f[0] != '/') {
      std::fprintf(stderr,
                   "memmgr-worker: --file=%s: want /GUEST/PATH=HOST_PATH\n",
                   f.c_str());
      return kExitUsage;
    }
    std::string data;
    if (!ReadFile(f.substr(eq + 1), &data, &error)) {
      std::fprintf(stderr, "memmgr-worker: --file: %s\n", error.c_str());
      return kExitUsage;
    }
    options.files[f.substr(0, eq)] = std::move(data);
  }
  options.memory_bytes = absl::GetFlag(FLAGS_memory).bytes;
  options.stack_bytes = absl::GetFlag(FLAGS_stack).bytes;
  options.limit_instructions = absl::GetFlag(FLAGS_limit_instructions);
  options.limit_output_bytes = absl::GetFlag(FLAGS_limit_output_bytes).bytes;
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.numa_node = absl::GetFlag(FLAGS_numa_node);
  options.max_processes = absl::GetFlag(FLAGS_max_processes);
  options.jit = absl::GetFlag(FLAGS_jit);
  if (const std::string seed = absl::GetFlag(FLAGS_seed); !seed.empty()) {
    if (!absl::SimpleAtoi(seed, &options.random_seed)) {
      std::fprintf(stderr, "memmgr-worker: --seed=%s: want a number\n",
                   seed.c_str());
      return kExitUsage;
    }
    options.deterministic_random = true;
  }

  const int64_t forks = absl::GetFlag(FLAGS_forks);
  if (forks < 0 || forks > kMaxForks) {
    std::fprintf(stderr,
                 "memmgr-worker: --forks=%lld must be between 0 (off) and "
                 "%lld\n",
                 static_cast<long long>(forks),
                 static_cast<long long>(kMaxForks));
    return kExitUsage;
  }
  if (absl::Status valid = memmgr::sandbox::Sandbox::ValidateOptions(options);
      !valid.ok()) {
    std::fprintf(stderr, "memmgr-worker: %s\n",
                 std::string(valid.message()).c_str());
    return kExitUsage;
  }
  // Swap: the pool is made here so its reclaimer exists before the
  // guest's first address space (the sandbox would otherwise make it).
  std::shared_ptr<memmgr::mmu::FramePool> pool;
  std::unique_ptr<memmgr::worker::SwapSetup> swap;
  memmgr::worker::SwapConfig swap_config;
  swap_config.mode = absl::GetFlag(FLAGS_swap);
  swap_config.server = absl::GetFlag(FLAGS_server);
  swap_config.dir = absl::GetFlag(FLAGS_swap_dir);
  swap_config.retry_for = absl::GetFlag(FLAGS_swap_retry_for);
  swap_config.swappiness = absl::GetFlag(FLAGS_swappiness);
  swap_config.worker_id_prefix = "run";
  if (absl::Status valid = memmgr::worker::NormalizeSwapConfig(&swap_config);
      !valid.ok()) {
    std::fprintf(stderr, "memmgr-worker: %s\n",
                 std::string(valid.message()).c_str());
    return kExitUsage;
  }
  if (swap_config.mode != "none") {
    memmgr::mmu::FramePool::Options pool_options;
    pool_options.bytes = options.memory_bytes;
    pool_options.numa_node = options.numa_node;
    auto made = memmgr::mmu::FramePool::Create(pool_options);
    if (!made.ok()) {
      std::fprintf(stderr, "memmgr-worker: --memory: %s\n",
                   std::string(made.status().message()).c_str());
      return kExitUsage;
    }
    pool = std::move(*made);
    auto s = memmgr::worker::SwapSetup::Create(swap_config, pool.get());
    if (!s.ok()) {
      std::fprintf(stderr, "memmgr-worker: %s\n",
                   std::string(s.status().message()).c_str());
      return s.status().code() == absl::StatusCode::kInvalidArgument
                 ? kExitUsage
                 : kExitCannotRun;
    }
    swap = std::move(*s);
    options.swap_bytes = swap->swap_bytes();
  }
  memmgr::sandbox::HostIo io;
  auto sandbox =
      memmgr::sandbox::Sandbox::Create(std::move(options), &io, pool);
  if (!sandbox.ok()) {
    std::fprintf(stderr, "memmgr-worker: %s\n",
                 std::string(sandbox.status().message()).c_str());
    return sandbox.status().code() == absl::StatusCode::kInvalidArgument ||
                   sandbox.status().code() ==
                       absl::StatusCode::kFailedPrecondition
               ? kExitCannotRun
               : kExitUsage;
  }
  if (forks > 0) return RunForks(std::move(*sandbox), forks);
  const memmgr::sandbox::ExitStatus status = (*sandbox)->Run();
  if (!status.reason.empty()) {
    std::fprintf(stderr, "memmgr-worker: %s\n", status.reason.c_str());
  }
  if (absl::GetFlag(FLAGS_stats)) {
    PrintStats((*sandbox)->stats());
    if (swap != nullptr) PrintReclaimStats(swap->reclaimer()->GetStats());
  }
  // The guest's address spaces go before the reclaimer (which frees what
  // the swap cache still holds and every slot left), then the device.
  sandbox->reset();  // the unique_ptr inside the StatusOr
  swap.reset();
  return status.ShellStatus();
}

}  // namespace

int main(int argc, char** argv) {
  // A closed stdout must give the guest EPIPE, not kill the worker.
  signal(SIGPIPE, SIG_IGN);
  memmgr::ShowFlagsOfInHelp("worker/main.cc");
  absl::SetProgramUsageMessage(kUsage);
  if (argc >= 2 && std::string(argv[1]) == "run") return Run(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "serve") {
    return memmgr::worker::ServeMain(argc - 1, argv + 1);
  }
  // No subcommand: parse anyway so --help / --version work, then explain.
  absl::ParseCommandLine(argc, argv);
  std::fprintf(stderr, "usage: %s\n", kUsage);
  return kExitUsage;
}
