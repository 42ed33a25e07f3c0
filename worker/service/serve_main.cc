// Flag parsing, signals and logging of `memmgr-worker serve`. The flags are
// parsed here by hand, not with ABSL_FLAG: `run`'s flags (--memory, ...)
// live in the same binary's global flag registry with other meanings and
// defaults, and a bad flag must exit 2 with one clear line.
#include "worker/service/serve_main.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "worker/mmu/numa_topology.h"
#include "worker/service/worker_runner.h"

namespace memmgr::worker {
namespace {

constexpr int kExitUsage = 2;

struct Flag {
  const char* name;
  const char* value_name;
  std::string help;
  // Parses the value; returns "" or an error message.
  std::function<std::string(const std::string&)> set;
};

std::function<std::string(const std::string&)> String(std::string* out) {
  return [out](const std::string& v) {
    *out = v;
    return std::string();
  };
}

std::function<std::string(const std::string&)> Bool(bool* out) {
  return [out](const std::string& v) {
    if (v == "true" || v == "1") {
      *out = true;
    } else if (v == "false" || v == "0") {
      *out = false;
    } else {
      return std::string("want true or false");
    }
    return std::string();
  };
}

template <typename T>
std::function<std::string(const std::string&)> Int(T* out, T min, T max) {
  return [out, min, max](const std::string& v) {
    T x;
    if (!absl::SimpleAtoi(v, &x) || x < min || x > max) {
      return absl::StrCat("want an integer in ", min, "..", max);
    }
    *out = x;
    return std::string();
  };
}

std::function<std::string(const std::string&)> Size(uint64_t* out,
                                                    uint64_t min) {
  return [out, min](const std::string& v) {
    absl::StatusOr<uint64_t> b = ParseByteSize(v);
    if (!b.ok()) return std::string(b.status().message());
    if (*b < min) return absl::StrCat("want at least ", FormatByteSize(min));
    *out = *b;
    return std::string();
  };
}

std::function<std::string(const std::string&)> Duration(absl::Duration* out) {
  return [out](const std::string& v) {
    absl::Duration d;
    if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration()) {
      return std::string("want a duration like 10s or 500ms");
    }
    *out = d;
    return std::string();
  };
}

// Appends the flags of a flags file (Kubernetes: a ConfigMap) to `args`:
// one `--name=value` per line; blank lines and lines starting with '#' are
// skipped. Returns "" or an error message. A flags file may not name
// another (no include cycles to guard against).
std::string ReadFlagFile(const std::string& path,
                         std::vector<std::string>* args) {
  std::ifstream in(path);
  if (!in) return absl::StrCat("cannot read ", path);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string flag(absl::StripAsciiWhitespace(line));
    if (flag.empty() || flag[0] == '#') continue;
    if (flag.rfind("--", 0) != 0 || flag.size() == 2) {
      return absl::StrCat(path, ":", number, ": '", flag,
                          "' is not a --flag=value line");
    }
    if (flag.rfind("--flagfile", 0) == 0) {
      return absl::StrCat(path, ":", number,
                          ": a flags file cannot name another");
    }
    args->push_back(flag);
  }
  if (in.bad()) return absl::StrCat("error reading ", path);
  return "";
}

// --numa_node: a node number, -1 (unbound) or "auto" (the node of the CPUs
// this process may run on, decided after parsing).
std::function<std::string(const std::string&)> NumaNode(int* out,
                                                        bool* automatic) {
  return [automatic, number = Int<int>(out, -1, 1023)](const std::string& v) {
    if (v == "auto") {
      *automatic = true;
      return std::string();
    }
    if (!number(v).empty()) {
      return std::string("want a node number 0..1023, -1 (none) or auto");
    }
    *automatic = false;
    return std::string();
  };
}

// --distances: NODE:DISTANCE,... (SLIT-like: 10 is local, 20 the default
// remote distance); empty clears them.
std::function<std::string(const std::string&)> Distances(
    std::map<uint32_t, uint32_t>* out) {
  return [out](const std::string& v) {
    std::map<uint32_t, uint32_t> parsed;
    for (absl::string_view item : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(item, absl::MaxSplits(':', 1));
      uint32_t node, distance;
      if (!absl::SimpleAtoi(kv.first, &node) ||
          !absl::SimpleAtoi(kv.second, &distance) || node > 1023 ||
          distance < 10 || distance > 254) {
        return absl::StrCat("'", item,
                            "': want NODE:DISTANCE with NODE 0..1023 and "
                            "DISTANCE 10..254");
      }
      if (!parsed.emplace(node, distance).second) {
        return absl::StrCat("node ", node, " given twice");
      }
    }
    *out = std::move(parsed);
    return std::string();
  };
}

void PrintHelp(const std::vector<Flag>& flags) {
  std::printf(
      "memmgr-worker serve [flags]\n"
      "\n"
      "Serves the memmgr.v1.Worker gRPC service "
      "(proto/memmgr/v1/worker.proto):\n"
      "create sandboxes from RISC-V RV64 ELF programs, run them on executor\n"
      "threads, snapshot them and fork them copy-on-write. Prometheus metrics\n"
      "on --metrics_listen /metrics. Logs 'serving gRPC on port N' once "
      "ready.\n"
      "SIGTERM/SIGINT: kill every sandbox, drain RPCs (--shutdown_grace),\n"
      "exit 0. Exit 1: cannot start; 2: bad flags.\n"
      "Sizes take K/M/G suffixes (binary); durations 10s, 500ms.\n"
      "\n"
      "Flags:\n");
  for (const Flag& f : flags) {
    std::printf("  --%s=%s\n      %s\n", f.name, f.value_name, f.help.c_str());
  }
}

}  // namespace

int ServeMain(int argc, char** argv) {
  WorkerConfig config;
  SandboxManagerOptions& m = config.manager;
  absl::Duration grace = absl::Seconds(10);
  int executors = 0;
  bool numa_auto = false;
  // --memory's default follows the container's limit when that is given.
  bool memory_set = false;
  uint64_t container_memory = 0;
  int memory_percent = 75;
  bool memory_percent_set = false;
  bool join_cluster = true;
  bool cluster_node_set = false;
  m.swap.mode = "embedded";
  const std::vector<Flag> flags = {
      {"listen", "HOST:PORT",
       "gRPC listen address; port 0 = a free port (see --port_file) "
       "(default 127.0.0.1:7071)",
       String(&config.listen)},
      {"port_file", "FILE",
       "write the bound gRPC port here once serving (atomically)",
       String(&config.port_file)},
      {"metrics_listen", "HOST:PORT",
       "Prometheus /metrics address; empty disables (default "
       "127.0.0.1:9465)",
       String(&config.metrics_listen)},
      {"metrics_port_file", "FILE", "write the bound metrics port here",
       String(&config.metrics_port_file)},
      {"flagfile", "FILE",
       "read more flags from FILE, one --name=value per line ('#' comments); "
       "flags after it on the command line override it",
       nullptr},
      {"memory", "SIZE",
       "the node's memory: one frame pool shared by every sandbox, snapshot "
       "and fork (default 1G, or --memory_percent of --container_memory)",
       [&](const std::string& v) {
         memory_set = true;
         return Size(&m.memory_bytes, 256 << 10)(v);
       }},
      {"container_memory", "SIZE",
       "the memory limit of the worker's container (Kubernetes: the "
       "downward API's limits.memory, in bytes); without --memory the pool "
       "is --memory_percent of it, and --memory may not exceed it",
       Size(&container_memory, 1 << 20)},
      {"memory_percent", "N",
       "1..95: the share of --container_memory given to the frame pool; the "
       "rest is the worker's own memory (page tables, descriptors, gRPC, "
       "RocksDB of --swap=embedded) (default 75)",
       [&](const std::string& v) {
         memory_percent_set = true;
         return Int<int>(&memory_percent, 1, 95)(v);
       }},
      {"numa_node", "N|auto",
       "bind the pool to this host NUMA node; -1 = none (default); auto = "
       "the node of the CPUs this worker may run on (sysfs), unbound if "
       "they span nodes",
       NumaNode(&m.numa_node, &numa_auto)},
      {"sandbox_memory", "SIZE",
       "memory limit of a sandbox whose request leaves memory_max_pages 0 "
       "(default 256M, at most --memory)",
       Size(&m.default_sandbox_memory_bytes, 256 << 10)},
      {"images_dir", "DIR",
       "directory of ELF images CreateSandbox may name (image=NAME); empty = "
       "only ELF bytes are accepted",
       String(&m.images_dir)},
      {"executors", "N",
       "executor threads running sandboxes (0 = one per hardware thread)",
       Int<int>(&executors, 0, 1024)},
      {"slice_instructions", "N",
       "guest instructions per time slice (default 4000000)",
       Int<uint64_t>(&m.slice_instructions, 1000, uint64_t{1} << 40)},
      {"max_forks", "N", "largest Fork count (default 1000)",
       Int<uint32_t>(&m.max_forks, 1, 1 << 20)},
      {"max_sandboxes", "N",
       "most live (not stopped) sandboxes at once (default 4096)",
       Int<uint32_t>(&m.max_sandboxes, 1, 1 << 24)},
      {"max_snapshots", "N", "most snapshots held at once (default 1024)",
       Int<uint32_t>(&m.max_snapshots, 1, 1 << 24)},
      {"retain_stopped", "N",
       "stopped sandboxes whose status and output are kept for Wait, logs "
       "and ps; older ones are forgotten (default 1024)",
       Int<uint32_t>(&m.retain_stopped, 0, 1 << 24)},
      {"output_retain_bytes", "SIZE",
       "output kept per sandbox for Attach; older bytes are dropped "
       "(default 1M)",
       Size(&m.output_retain_bytes, 4096)},
      {"max_elf_bytes", "SIZE", "largest program image (default 64M)",
       Size(&m.max_elf_bytes, 4096)},
      {"max_stdin_bytes", "SIZE",
       "largest stdin of a CreateSandbox or fork delta (default 16M)",
       Size(&m.max_stdin_bytes, 0)},
      {"max_args_bytes", "SIZE", "largest args + env of a sandbox (default 1M)",
       Size(&m.max_args_bytes, 4096)},
      {"swap", "MODE",
       "where reclaim puts anonymous pages when the sandboxes need more than "
       "--memory: 'embedded' (the swap store library in-process on a temp "
       "RocksDB directory opened on first use, or --swap_dir), 'server' "
       "(memmgr-server at --server) or 'none' (no reclaim: a full pool stops "
       "the sandbox that needed a frame) (default embedded)",
       String(&m.swap.mode)},
      {"server", "HOST:PORT",
       "memmgr-server for --swap=server (setting it implies --swap=server): "
       "the worker registers, keeps its lease with heartbeats and swaps there",
       String(&m.swap.server)},
      {"swap_dir", "DIR",
       "RocksDB directory for --swap=embedded (kept afterwards); empty = a "
       "temp directory removed at exit",
       String(&m.swap.dir)},
      {"swap_retry_for", "DURATION",
       "--swap=server: how long a swap call keeps retrying while the server "
       "is unreachable before the sandbox that needed it stops with SIGBUS "
       "(default 5m)",
       Duration(&m.swap.retry_for)},
      {"swappiness", "N",
       "0..200: how much reclaim prefers anonymous pages (swap) over clean "
       "file pages (re-read from the ELF image), vm.swappiness (default 60)",
       Int<int>(&m.swap.swappiness, 0, 200)},
      {"park_on_swapin", "BOOL",
       "a sandbox whose guest needs a page from memmgr-server (--server) is "
       "parked "
       "and its executor runs other sandboxes until the page is in; false: "
       "the executor waits for the read (default true)",
       Bool(&m.park_on_swapin)},
      {"worker_id", "ID",
       "the name this worker registers with memmgr-server under (default "
       "serve-<hostname>-<pid>)",
       String(&m.swap.worker_id)},
      {"join_cluster", "BOOL",
       "with --server: also join the cluster as a member, so that "
       "memmgr-server places sandboxes here (CreateSandbox through the "
       "server) over this worker's heartbeat stream (default true)",
       Bool(&join_cluster)},
      {"cluster_node", "N",
       "0..1023: this worker's node id in the cluster (one worker per node; "
       "default: --numa_node if set, else 0)",
       [&](const std::string& v) {
         cluster_node_set = true;
         return Int<uint32_t>(&config.cluster.node, 0, 1023)(v);
       }},
      {"node_name", "NAME",
       "the name this worker joins the cluster under; a restarted worker "
       "with the same name takes its node over at once (default: its "
       "--advertise_address, unique per host and stable across restarts on "
       "a fixed port)",
       String(&config.cluster.node_name)},
      {"distances", "NODE:DIST,...",
       "distances from this node to others (10 local, default remote 20), "
       "e.g. 1:20,2:30: placement falls back to the nearest nodes",
       Distances(&config.cluster.distances)},
      {"advertise_address", "HOST:PORT",
       "where clients reach this worker's Worker service, told to the "
       "cluster (default: the --listen host with the bound port; the host "
       "name for 0.0.0.0)",
       String(&config.cluster.address)},
      {"shutdown_grace", "DURATION",
       "on SIGTERM, how long in-flight RPCs may take (default 10s)",
       Duration(&grace)},
  };

  // The command line with every --flagfile expanded in place, so later
  // flags override the file's (as with absl's --flagfile).
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string path;
    if (a.rfind("--flagfile=", 0) == 0) {
      path = a.substr(11);
    } else if (a == "--flagfile") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "memmgr-worker serve: --flagfile needs a value\n");
        return kExitUsage;
      }
      path = argv[++i];
    } else {
      args.push_back(std::move(a));
      continue;
    }
    if (std::string error = ReadFlagFile(path, &args); !error.empty()) {
      std::fprintf(stderr, "memmgr-worker serve: --flagfile: %s\n",
                   error.c_str());
      return kExitUsage;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpfull") {
      PrintHelp(flags);
      return 0;
    }
    if (a.rfind("-", 0) != 0) {
      std::fprintf(stderr,
                   "memmgr-worker serve: unexpected argument '%s' (serve "
                   "takes only flags; see --help)\n",
                   a.c_str());
      return kExitUsage;
    }
    a = a.substr(a.rfind("--", 0) == 0 ? 2 : 1);
    std::string name = a, value;
    bool has_value = false;
    if (const size_t eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags) {
      if (name == f.name) flag = &f;
    }
    if (flag == nullptr) {
      std::fprintf(stderr,
                   "memmgr-worker serve: unknown flag --%s (see --help)\n",
                   name.c_str());
      return kExitUsage;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "memmgr-worker serve: --%s needs a value\n",
                     name.c_str());
        return kExitUsage;
      }
      value = args[++i];
    }
    if (!flag->set) {  // only --flagfile, expanded above
      std::fprintf(stderr,
                   "memmgr-worker serve: write --flagfile=FILE with two "
                   "dashes\n");
      return kExitUsage;
    }
    if (std::string error = flag->set(value); !error.empty()) {
      std::fprintf(stderr, "memmgr-worker serve: --%s=%s: %s\n", name.c_str(),
                   value.c_str(), error.c_str());
      return kExitUsage;
    }
  }
  m.executors = executors;
  if (container_memory != 0) {
    if (!memory_set) {
      // Whole frames; at least the smallest pool --memory accepts.
      m.memory_bytes = std::max<uint64_t>(
          container_memory / 4096 * memory_percent / 100 * 4096, 256 << 10);
    } else if (m.memory_bytes > container_memory) {
      std::fprintf(stderr,
                   "memmgr-worker serve: --memory=%s exceeds "
                   "--container_memory=%s (the container would be OOM-killed "
                   "before the pool fills)\n",
                   FormatByteSize(m.memory_bytes).c_str(),
                   FormatByteSize(container_memory).c_str());
      return kExitUsage;
    }
  } else if (memory_percent_set) {
    std::fprintf(stderr,
                 "memmgr-worker serve: --memory_percent needs "
                 "--container_memory\n");
    return kExitUsage;
  }
  if (numa_auto) {
    absl::StatusOr<std::set<int>> cpus = mmu::AllowedCpus();
    absl::StatusOr<mmu::NumaNodeChoice> choice =
        cpus.ok() ? mmu::NumaNodeOfCpus(*cpus, mmu::kSysfsNodeDir)
                  : absl::StatusOr<mmu::NumaNodeChoice>(cpus.status());
    if (!choice.ok()) {
      std::fprintf(stderr, "memmgr-worker serve: --numa_node=auto: %s\n",
                   std::string(choice.status().message()).c_str());
      return 1;
    }
    m.numa_node = choice->node;
    MEMMGR_LOG(INFO) << "--numa_node=auto: " << choice->explanation;
  }
  if (join_cluster && !m.swap.server.empty()) {
    config.cluster.server = m.swap.server;
    if (!cluster_node_set && m.numa_node >= 0) {
      config.cluster.node = static_cast<uint32_t>(m.numa_node);
    }
  }
  if (!m.images_dir.empty()) {
    struct stat st;
    if (::stat(m.images_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::fprintf(stderr,
                   "memmgr-worker serve: --images_dir=%s: not a directory\n",
                   m.images_dir.c_str());
      return kExitUsage;
    }
  }
  if (m.default_sandbox_memory_bytes > m.memory_bytes) {
    m.default_sandbox_memory_bytes = m.memory_bytes;
  }

  // Block the stop signals before any thread starts, so only sigwait below
  // receives them. A client that goes away must not kill the worker.
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The stop signals are taken by this thread from the start: Start() can
  // wait minutes (registering with an unreachable --server retries for
  // --swap_retry_for), and a pod being deleted meanwhile must not wait for
  // that and then be SIGKILLed. During start-up there is nothing to drain
  // (no sandbox exists before the service serves), so the process just
  // exits; afterwards the signal is handed to the shutdown below.
  struct StopState {
    Mutex mu;
    CondVar signalled;  // signal became non-zero
    bool serving ABSL_GUARDED_BY(mu) = false;
    int signal ABSL_GUARDED_BY(mu) = 0;
  };
  // Never freed: the detached thread may outlive ServeMain (Start() fails
  // and the process exits). A static pointer keeps it a reachable root for
  // LeakSanitizer.
  static StopState* const stop = new StopState;
  std::thread([stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    MutexLock lock(&stop->mu);
    if (!stop->serving) {
      MEMMGR_LOG(INFO) << "signal " << sig
                       << " during start-up: exiting without serving";
      std::fflush(nullptr);
      std::_Exit(0);
    }
    stop->signal = sig;
    stop->signalled.Signal();
  }).detach();

  absl::StatusOr<std::unique_ptr<WorkerRunner>> runner =
      WorkerRunner::Start(config);
  if (!runner.ok()) {
    std::fprintf(stderr, "memmgr-worker serve: %s\n",
                 std::string(runner.status().message()).c_str());
    return runner.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : 1;
  }
  {
    MutexLock lock(&stop->mu);
    stop->serving = true;  // from now on a signal means a clean shutdown
  }
  const SandboxManagerOptions& o = (*runner)->manager()->options();
  MEMMGR_LOG(INFO)
      << "memmgr-worker serving gRPC on port " << (*runner)->port()
      << ", metrics on port " << (*runner)->metrics_port() << ", memory "
      << FormatByteSize(o.memory_bytes) << ", " << o.executors << " executors"
      << (o.images_dir.empty() ? "" : ", images in " + o.images_dir)
      << ", swap: "
      << ((*runner)->manager()->swap() != nullptr
              ? (*runner)->manager()->swap()->description()
              : std::string("none"))
      << (config.cluster.server.empty()
              ? std::string()
              : absl::StrCat(", cluster node ", config.cluster.node));

  int sig = 0;
  {
    MutexLock lock(&stop->mu);
    while (stop->signal == 0) stop->signalled.Wait(&stop->mu);
    sig = stop->signal;
  }
  MEMMGR_LOG(INFO) << "signal " << sig << ": killing sandboxes, draining RPCs";
  (*runner)->Shutdown(grace);
  MEMMGR_LOG(INFO) << "memmgr-worker stopped cleanly";
  return 0;
}

}  // namespace memmgr::worker
