// serve_swap_bench: what parking buys the worker service. Several
// overcommitted sandboxes share one executor thread of an in-process
// SandboxManager (memmgr-worker serve's core) whose pool is far smaller
// than their data; their swap goes to a real memmgr-server started
// in-process on 127.0.0.1 (gRPC, RocksDB in a temp dir) or to the embedded
// store. The server runs with parking (a fault on a swapped-out page parks
// the sandbox and the executor runs another while an I/O thread reads the
// page: --park_on_swapin=true, the default) and without (the executor waits
// for the read); the embedded store's reads are synchronous_io (read in
// place either way). Configurations interleave, --repeat times; the table
// shows the
// median wall time from Start to the last sandbox's exit and the ratio to
// a run with enough memory (no reclaim) in the same process.
//
//   serve_swap_bench [--guest=tests/guest/overcommit] [--sandboxes=4]
//                    [--mib=8] [--memory=16M] [--executors=1] [--repeat=3]
//                    [--quick]
//
// Every sandbox must exit 0 (the guest checks every page it reads back and
// exits 1 on a mismatch) and print the same output as in the enough-memory
// run; otherwise the bench exits 1. Nothing here is a pass/fail target: the
// reclaim issue sets none for parking; the numbers go to
// docs/PERFORMANCE.md.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/byte_size.h"
#include "server/server_runner.h"
#include "worker/service/sandbox_manager.h"

ABSL_FLAG(std::string, guest, MEMMGR_DEFAULT_GUEST,
          "the overcommit guest (tests/guest/overcommit.c, built for RV64)");
ABSL_FLAG(int, sandboxes, 4, "sandboxes run at once");
ABSL_FLAG(int, mib, 8, "MiB of data per sandbox (the guest's argument)");
ABSL_FLAG(memmgr::ByteSize, memory, memmgr::ByteSize{16 << 20},
          "the worker's frame pool in the overcommitted runs");
ABSL_FLAG(int, executors, 1, "executor threads");
ABSL_FLAG(int, repeat, 3, "runs per configuration (median shown)");
ABSL_FLAG(bool, quick, false,
          "one run per configuration, 2 sandboxes of 4 MiB (the smoke test)");

namespace memmgr::worker {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "serve_swap_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Config {
  std::string name;
  std::string swap;  // none | embedded | server
  bool park = true;
  uint64_t memory = 0;
};

struct RunOutcome {
  double seconds = 0;
  uint64_t page_waits = 0;
  uint64_t swapin_pages = 0;
  uint64_t swapout_pages = 0;
  std::vector<std::string> outputs;
};

RunOutcome RunOnce(const Config& c, const std::string& elf,
                   const std::string& server, int sandboxes, int mib,
                   int executors) {
  SandboxManagerOptions o;
  o.memory_bytes = c.memory;
  o.executors = executors;
  o.default_sandbox_memory_bytes = c.memory;
  o.swap.mode = c.swap;
  if (c.swap == "server") o.swap.server = server;
  o.swap.worker_id = "serve-swap-bench";
  o.park_on_swapin = c.park;
  auto m = SandboxManager::Create(o);
  if (!m.ok()) Die(absl::StrCat(c.name, ": ", m.status().ToString()));
  std::vector<std::string> ids;
  for (int i = 0; i < sandboxes; ++i) {
    v1::CreateSandboxRequest req;
    req.set_elf(elf);
    req.add_args("overcommit");
    req.add_args(std::to_string(mib));
    // memory.max: the sandbox's data and its forked children's, whatever
    // the pool (the rest is swapped).
    req.mutable_limits()->set_memory_max_pages(uint64_t{4} * mib << 8);
    auto r = (*m)->CreateSandbox(req);
    if (!r.ok()) Die(absl::StrCat(c.name, ": create: ", r.status().ToString()));
    ids.push_back(r->sandbox_id());
  }
  const absl::Time t0 = absl::Now();
  for (const std::string& id : ids) {
    if (absl::Status s = (*m)->Start(id); !s.ok()) Die(s.ToString());
  }
  RunOutcome out;
  for (const std::string& id : ids) {
    auto w =
        (*m)->Wait(id, absl::Now() + absl::Minutes(10), [] { return false; });
    if (!w.ok()) Die(absl::StrCat(c.name, ": wait: ", w.status().ToString()));
    if (w->status().reason() != v1::StopStatus::EXITED ||
        w->status().exit_code() != 0) {
      Die(absl::StrCat(c.name, ": ", id,
                       " did not exit 0: ", w->status().ShortDebugString()));
    }
  }
  out.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  for (const std::string& id : ids) {
    auto buf = (*m)->OutputOf(id);
    if (!buf.ok()) Die(buf.status().ToString());
    std::string text;
    for (const OutputPiece& piece : (*buf)->Read(0, 1 << 20)) {
      if (piece.fd == 1) text += piece.data;
    }
    out.outputs.push_back(std::move(text));
  }
  const ManagerStats s = (*m)->GetStats();
  out.page_waits = s.page_waits_total;
  out.swapin_pages = s.reclaim.pswpin;
  out.swapout_pages = s.reclaim.pswpout;
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main() {
  const bool quick = absl::GetFlag(FLAGS_quick);
  const int sandboxes = quick ? 2 : absl::GetFlag(FLAGS_sandboxes);
  const int mib = quick ? 4 : absl::GetFlag(FLAGS_mib);
  const int repeat = quick ? 1 : std::max(1, absl::GetFlag(FLAGS_repeat));
  const int executors = absl::GetFlag(FLAGS_executors);
  const uint64_t memory =
      quick ? uint64_t{4} << 20 : absl::GetFlag(FLAGS_memory).bytes;
  if (sandboxes < 1 || mib < 1 || executors < 1) {
    Die("--sandboxes, --mib and --executors must be >= 1");
  }
  std::ifstream in(absl::GetFlag(FLAGS_guest), std::ios::binary);
  if (!in) Die("cannot read --guest=" + absl::GetFlag(FLAGS_guest));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string elf = ss.str();

  char templ[] = "/tmp/serve-swap-bench-XXXXXX";
  if (mkdtemp(templ) == nullptr) Die("mkdtemp failed");
  const std::string tmp = templ;
  ServerConfig sc;
  sc.listen = "127.0.0.1:0";
  sc.data_dir = tmp + "/server";
  sc.metrics_listen = "";
  auto server = ServerRunner::Start(sc);
  if (!server.ok()) Die("memmgr-server: " + server.status().ToString());
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  const uint64_t enough = uint64_t{sandboxes} * mib * 4 << 20;
  const std::vector<Config> configs = {
      {"enough memory (no swap)", "none", true, enough},
      {"server, parking", "server", true, memory},
      {"server, executor waits", "server", false, memory},
      // Reads from the in-process store are synchronous_io: the executor
      // reads in place whatever --park_on_swapin says (one row).
      {"embedded (reads in place)", "embedded", true, memory},
  };
  std::map<std::string, std::vector<double>> seconds;
  std::map<std::string, RunOutcome> last;
  std::vector<std::string> expected;
  for (int r = 0; r < repeat; ++r) {
    for (const Config& c : configs) {
      std::fprintf(stderr, "run %d/%d: %s\n", r + 1, repeat, c.name.c_str());
      RunOutcome o = RunOnce(c, elf, address, sandboxes, mib, executors);
      if (expected.empty()) expected = o.outputs;
      if (o.outputs != expected) {
        Die(c.name + ": output differs from the enough-memory run");
      }
      seconds[c.name].push_back(o.seconds);
      last[c.name] = std::move(o);
    }
  }
  (*server)->Shutdown(absl::Seconds(5));
  server->reset();
  std::filesystem::remove_all(tmp);

  std::printf(
      "serve_swap_bench: %d sandboxes x %d MiB (overcommit guest), %d "
      "executor(s), pool %s (enough: %s), median of %d\n\n",
      sandboxes, mib, executors, FormatByteSize(memory).c_str(),
      FormatByteSize(enough).c_str(), repeat);
  std::printf("| %-26s | %8s | %9s | %10s | %9s | %9s |\n", "configuration",
              "wall s", "vs enough", "page waits", "swap-in", "swap-out");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(28, '-').c_str(),
              std::string(10, '-').c_str(), std::string(11, '-').c_str(),
              std::string(12, '-').c_str(), std::string(11, '-').c_str(),
              std::string(11, '-').c_str());
  const double base = Median(seconds[configs[0].name]);
  for (const Config& c : configs) {
    const double s = Median(seconds[c.name]);
    const RunOutcome& o = last[c.name];
    std::printf("| %-26s | %8.2f | %8.2fx | %10llu | %9llu | %9llu |\n",
                c.name.c_str(), s, s / base,
                static_cast<unsigned long long>(o.page_waits),
                static_cast<unsigned long long>(o.swapin_pages),
                static_cast<unsigned long long>(o.swapout_pages));
  }
  std::printf(
      "\nserver: parking / executor waits = %.2f (wall time; < 1 = parking "
      "faster)\n",
      Median(seconds["server, parking"]) /
          Median(seconds["server, executor waits"]));
  return 0;
}

}  // namespace
}  // namespace memmgr::worker

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "serve_swap_bench: overcommitted sandboxes on one executor, parking vs "
      "waiting for swap reads (see the header of bench/serve_swap_bench.cc)");
  absl::ParseCommandLine(argc, argv);
  return memmgr::worker::Main();
}
