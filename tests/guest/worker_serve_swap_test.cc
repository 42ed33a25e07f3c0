// `memmgr-worker serve` overcommitted: three sandboxes whose data together
// is about twice the worker's --memory run at once over gRPC, swapping to a
// real memmgr-server on loopback (and to the embedded store). Each one's
// output must equal the guest's output with plenty of memory; /metrics must
// show the reclaim and the remote fault latency (and pass promtool); every
// slot must be free on the server once the sandboxes are gone.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/worker_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/worker_process.h"

namespace memmgr::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(180);
const char kGuest[] = MEMMGR_GUEST_DIR "/overcommit";
// Three sandboxes of 10 MiB data each through a 16 MiB pool.
const char kMiB[] = "10";
constexpr int kSandboxes = 3;

const std::string& Expected() {
  static const std::string* expected = [] {
    auto* s = new std::string;
    std::string err;
    EXPECT_EQ(RunCommand({MEMMGR_WORKER_BIN, "run", "--memory=128M",
                          "--swap=none", kGuest, kMiB},
                         s, &err),
              0)
        << err;
    EXPECT_THAT(*s, HasSubstr("parent    unchanged"));
    return s;
  }();
  return *expected;
}

// The value of the first sample line of /metrics that starts with
// `series` (name and labels as printed); -1 if there is none.
double Sample(const std::string& metrics, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double v;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

class WorkerServeSwapTest : public ::testing::Test {
 protected:
  void StartWorker(const std::vector<std::string>& swap_flags) {
    const std::string images = dir_.Sub("images");
    ASSERT_EQ(::mkdir(images.c_str(), 0755), 0);
    std::filesystem::copy_file(kGuest, images + "/overcommit");
    std::vector<std::string> flags = {"--memory=16M", "--images_dir=" + images,
                                      "--executors=2"};
    flags.insert(flags.end(), swap_flags.begin(), swap_flags.end());
    auto w = StartWorkerProcess(MEMMGR_WORKER_BIN, dir_.path(), flags);
    ASSERT_TRUE(w.ok()) << w.status();
    worker_ = *std::move(w);
    WorkerClientOptions o;
    o.target = worker_->address();
    o.deadline = absl::Seconds(60);
    auto c = WorkerClient::Create(o);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
  }

  // Runs kSandboxes overcommit guests at once; each must print Expected().
  void RunSandboxesAndCheckOutput() {
    std::vector<std::string> ids;
    for (int i = 0; i < kSandboxes; ++i) {
      v1::CreateSandboxRequest req;
      req.set_image("overcommit");
      req.add_args("overcommit");
      req.add_args(kMiB);
      // 48 MiB, three times the pool: memory.max above the node's RAM
      // (the guest's forked children count the pages they share in full).
      req.mutable_limits()->set_memory_max_pages(48 << 8);
      auto r = client_->CreateSandbox(req);
      ASSERT_TRUE(r.ok()) << r.status();
      ids.push_back(r->sandbox_id());
    }
    // Created first, started together: they overlap in the pool.
    for (const std::string& id : ids) {
      ASSERT_TRUE(client_->Start(id).ok()) << id;
    }
    for (const std::string& id : ids) {
      auto w = client_->Wait(id, kPatience);
      ASSERT_TRUE(w.ok()) << id << ": " << w.status();
      EXPECT_EQ(w->status().reason(), v1::StopStatus::EXITED)
          << id << ": " << w->status().ShortDebugString();
      EXPECT_EQ(w->status().exit_code(), 0) << id;
      v1::AttachRequest req;
      req.set_sandbox_id(id);
      req.set_no_wait(true);
      std::string out;
      absl::Status s = client_->Attach(
          req,
          [&](const v1::OutputChunk& c) {
            out += c.data();
            return true;
          },
          kPatience);
      ASSERT_TRUE(s.ok()) << s;
      EXPECT_EQ(out, Expected()) << id;
    }
  }

  std::string Metrics() {
    auto m = HttpGet(worker_->metrics_port(), "/metrics");
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : "";
  }

  void CheckWithPromtool(const std::string& metrics) {
    const std::string file = dir_.Sub("metrics.txt");
    std::ofstream(file) << metrics;
    std::string out, err;
    const int rc = RunCommand(
        {"sh", "-c", std::string(MEMMGR_PROMTOOL) + " check metrics < " + file},
        &out, &err);
    EXPECT_EQ(rc, 0) << "promtool: " << out << err;
  }

  TempDir dir_;
  std::unique_ptr<WorkerProcess> worker_;
  std::unique_ptr<WorkerClient> client_;
};

TEST_F(WorkerServeSwapTest, OvercommittedSandboxesSwapToTheServer) {
  auto server =
      ServerProcess::Start(MEMMGR_SERVER_BIN, dir_.Sub("server-data"));
  ASSERT_TRUE(server.ok()) << server.status();
  StartWorker({"--server=" + (*server)->address(), "--worker_id=serve-test"});
  RunSandboxesAndCheckOutput();

  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr("memmgr_worker_swap_info{mode=\"server\"} 1"));
  EXPECT_GT(Sample(metrics, "memmgr_worker_pgsteal_total{type=\"anon\"}"), 0)
      << metrics;
  EXPECT_GT(Sample(metrics, "memmgr_worker_swap_out_pages_total"), 0);
  EXPECT_GT(Sample(metrics, "memmgr_worker_swap_in_pages_total"), 0);
  EXPECT_GT(Sample(metrics, "memmgr_worker_pgscan_total"), 0);
  EXPECT_GT(Sample(metrics, "memmgr_worker_refaults_total{source=\"device\"}"),
            0);
  EXPECT_GT(Sample(metrics, "memmgr_worker_kswapd_wakeups_total"), 0);
  EXPECT_EQ(Sample(metrics, "memmgr_worker_swap_io_errors_total"), 0);
  // Faults on remote pages parked their sandboxes (--park_on_swapin is the
  // default) and the reads ran in the background.
  EXPECT_GT(Sample(metrics, "memmgr_worker_page_waits_total"), 0);
  EXPECT_GT(Sample(metrics, "memmgr_worker_async_swapins_total"), 0);
  EXPECT_EQ(Sample(metrics, "memmgr_worker_sandboxes_parked_for_page"), 0);
  // Every remote fault is timed; zero-fill faults are sampled.
  EXPECT_GT(
      Sample(metrics,
             "memmgr_worker_fault_latency_seconds_count{source=\"remote\"}"),
      0)
      << metrics;
  EXPECT_GT(
      Sample(metrics,
             "memmgr_worker_fault_latency_seconds_count{source=\"zero\"}"),
      0);
  CheckWithPromtool(metrics);

  // The sandboxes are gone: their slots are freed on the server (the
  // frees are batched; kswapd flushes them within 200 ms).
  ClientOptions o;
  o.target = (*server)->address();
  auto admin = Client::Create(o);
  ASSERT_TRUE(admin.ok()) << admin.status();
  uint64_t used = ~uint64_t{0};
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (absl::Now() < until) {
    auto st = (*admin)->GetStats();
    ASSERT_TRUE(st.ok()) << st.status();
    used = st->slots_used();
    if (used == 0) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(used, 0u) << "slots leaked on the server";
  EXPECT_EQ(Sample(Metrics(), "memmgr_worker_swap_slots"), 0);
}

// The same with parking off: executors wait for the reads themselves.
TEST_F(WorkerServeSwapTest, WithoutParkingTheExecutorsWaitAndAllIsWell) {
  auto server =
      ServerProcess::Start(MEMMGR_SERVER_BIN, dir_.Sub("server-data"));
  ASSERT_TRUE(server.ok()) << server.status();
  StartWorker({"--server=" + (*server)->address(), "--park_on_swapin=false"});
  RunSandboxesAndCheckOutput();
  const std::string metrics = Metrics();
  EXPECT_GT(Sample(metrics, "memmgr_worker_swap_in_pages_total"), 0);
  EXPECT_EQ(Sample(metrics, "memmgr_worker_page_waits_total"), 0);
  EXPECT_EQ(Sample(metrics, "memmgr_worker_async_swapins_total"), 0);
}

TEST_F(WorkerServeSwapTest, OvercommittedSandboxesSwapToTheEmbeddedStore) {
  StartWorker({"--swap_dir=" + dir_.Sub("swap")});
  RunSandboxesAndCheckOutput();
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics,
              HasSubstr("memmgr_worker_swap_info{mode=\"embedded\"} 1"));
  EXPECT_GT(Sample(metrics, "memmgr_worker_swap_out_pages_total"), 0);
  EXPECT_GT(
      Sample(metrics,
             "memmgr_worker_fault_latency_seconds_count{source=\"embedded\"}"),
      0)
      << metrics;
  CheckWithPromtool(metrics);
}

// Without swap the same load cannot fit: at least one sandbox stops out of
// memory (each gets the pool as its limit), and nothing about reclaim is
// exported.
TEST_F(WorkerServeSwapTest, WithoutSwapTheOvercommitStopsASandbox) {
  StartWorker({"--swap=none"});
  std::vector<std::string> ids;
  for (int i = 0; i < kSandboxes; ++i) {
    v1::CreateSandboxRequest req;
    req.set_image("overcommit");
    req.add_args("overcommit");
    req.add_args(kMiB);
    auto r = client_->CreateSandbox(req);
    if (r.ok() && client_->Start(r->sandbox_id()).ok()) {
      ids.push_back(r->sandbox_id());
    }
  }
  int failed = kSandboxes - static_cast<int>(ids.size());
  int oom_killed = 0;
  for (const std::string& id : ids) {
    auto w = client_->Wait(id, kPatience);
    ASSERT_TRUE(w.ok()) << id << ": " << w.status();
    if (w->status().reason() != v1::StopStatus::EXITED ||
        w->status().exit_code() != 0) {
      ++failed;
    }
    if (w->status().reason() == v1::StopStatus::OOM_KILLED) {
      EXPECT_THAT(w->status().detail(), HasSubstr("node"));
      ++oom_killed;
    }
  }
  EXPECT_GT(failed, 0);
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr("memmgr_worker_swap_info{mode=\"none\"} 1"));
  EXPECT_EQ(Sample(metrics, "memmgr_worker_pgscan_total"), -1);
  // The node's frames ran out (no create is refused: the pool is not
  // full when they start), not a sandbox's own limit.
  EXPECT_GT(oom_killed, 0);
  EXPECT_EQ(Sample(metrics, "memmgr_worker_oom_kills_total{scope=\"node\"}"),
            oom_killed);
  EXPECT_EQ(Sample(metrics, "memmgr_worker_oom_kills_total{scope=\"memcg\"}"),
            0);
}

TEST(WorkerServeSwapFlagsTest, BadSwapFlagsExitTwo) {
  TempDir dir;
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{
           {"--swap=tape"},
           {"--swap=server"},
           {"--swap=none", "--server=127.0.0.1:1"},
           {"--swap=none", "--swap_dir=/tmp/x"},
           {"--swappiness=201"},
           {"--park_on_swapin=maybe"},
           {"--swap_retry_for=0s"}}) {
    std::vector<std::string> argv = {MEMMGR_WORKER_BIN, "serve",
                                     "--listen=127.0.0.1:0",
                                     "--metrics_listen="};
    argv.insert(argv.end(), bad.begin(), bad.end());
    std::string out, err;
    EXPECT_EQ(RunCommand(argv, &out, &err), 2) << bad[0] << ": " << err;
    EXPECT_THAT(err, HasSubstr("--")) << err;
  }
}

// A server nobody listens on: the worker does not start (exit 1), and says
// where it tried.
TEST(WorkerServeSwapFlagsTest, UnreachableServerExitsOne) {
  std::string out, err;
  EXPECT_EQ(RunCommand({MEMMGR_WORKER_BIN, "serve", "--listen=127.0.0.1:0",
                        "--metrics_listen=", "--server=127.0.0.1:1",
                        "--swap_retry_for=1s"},
                       &out, &err),
            1)
      << err;
  EXPECT_THAT(err, HasSubstr("--server=127.0.0.1:1"));
}

// Regression (found by the Kubernetes flags test): while the worker waited
// for an unreachable --server at start-up it ignored SIGTERM for up to
// --swap_retry_for, so deleting such a pod always ended in SIGKILL.
TEST(WorkerServeSwapFlagsTest, SigtermWhileWaitingForAnUnreachableServerExits) {
  TempDir dir;
  const std::string log = dir.Sub("worker.log");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::execl(MEMMGR_WORKER_BIN, MEMMGR_WORKER_BIN, "serve",
            "--listen=127.0.0.1:0", "--metrics_listen=", "--server=127.0.0.1:1",
            "--swap_retry_for=5m", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  absl::SleepFor(absl::Seconds(1));  // well into its retries
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 200 && done == 0; ++i) {  // 20 s at most
    done = ::waitpid(pid, &status, WNOHANG);
    if (done == 0) absl::SleepFor(absl::Milliseconds(100));
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "still waiting for the server 20 s after SIGTERM";
  }
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("during start-up: exiting"));
}

}  // namespace
}  // namespace memmgr::testing
