// The real `memmgr-worker serve` over gRPC on loopback: a real RISC-V guest
// (tests/guest/worker_probe.c) warms up, asks for a snapshot, and is forked
// 100 times; bad inputs get worker.proto's codes; one sandbox's death never
// touches another; /metrics shows the forks; SIGTERM shuts down cleanly.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/worker_client.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/worker_process.h"

namespace memmgr::testing {
namespace {

// Guards against hangs only; nothing asserts how long anything takes.
constexpr absl::Duration kPatience = absl::Seconds(120);

class WorkerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = dir_.Sub("images");
    ASSERT_EQ(::mkdir(images_.c_str(), 0755), 0);
    std::filesystem::copy_file(MEMMGR_WORKER_PROBE, images_ + "/probe");
    std::ofstream(dir_.Sub("secret")) << "not for guests";
    ASSERT_EQ(
        ::symlink(dir_.Sub("secret").c_str(), (images_ + "/escape").c_str()),
        0);
    StartWorker({});
  }

  void StartWorker(std::vector<std::string> flags) {
    client_.reset();
    worker_.reset();
    flags.insert(flags.end(), {"--memory=512M", "--images_dir=" + images_,
                               "--max_forks=200", "--executors=2"});
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

  std::string Create(std::vector<std::string> args, bool start = true,
                     uint64_t memory_pages = 0) {
    v1::CreateSandboxRequest req;
    req.set_image("probe");
    for (const std::string& a : args) req.add_args(a);
    req.mutable_limits()->set_memory_max_pages(memory_pages);
    auto r = client_->CreateSandbox(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    if (start) EXPECT_TRUE(client_->Start(r->sandbox_id()).ok());
    return r->sandbox_id();
  }

  v1::SandboxInfo Info(const std::string& id) {
    auto list = client_->ListSandboxes();
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const v1::SandboxInfo& i : list->sandboxes()) {
        if (i.sandbox_id() == id) return i;
      }
    }
    ADD_FAILURE() << "no " << id;
    return {};
  }

  std::string AwaitGuestSnapshot(const std::string& id) {
    const absl::Time until = absl::Now() + kPatience;
    while (absl::Now() < until) {
      const v1::SandboxInfo i = Info(id);
      if (!i.last_snapshot_id().empty()) return i.last_snapshot_id();
      if (i.status().reason() != v1::StopStatus::REASON_UNSPECIFIED) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << id << " never asked for a snapshot";
    return "";
  }

  v1::WaitResponse WaitFor(const std::string& id) {
    auto r = client_->Wait(id, kPatience);
    EXPECT_TRUE(r.ok()) << id << ": " << r.status();
    return r.ok() ? *r : v1::WaitResponse();
  }

  // The output so far (no_wait), or until the sandbox stops (follow).
  std::string Output(const std::string& id, bool follow = false) {
    v1::AttachRequest req;
    req.set_sandbox_id(id);
    req.set_no_wait(!follow);
    std::string out;
    absl::Status s = client_->Attach(
        req,
        [&](const v1::OutputChunk& c) {
          EXPECT_EQ(c.offset(), out.size());
          out += c.data();
          return true;
        },
        kPatience);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  TempDir dir_;
  std::string images_;
  std::unique_ptr<WorkerProcess> worker_;
  std::unique_ptr<WorkerClient> client_;
};

TEST_F(WorkerServiceTest, SnapshotThenFork100EachForkCorrectParentUnchanged) {
  const std::string parent = Create({"probe", "serve", "4"});
  const std::string snap = AwaitGuestSnapshot(parent);
  ASSERT_FALSE(snap.empty());

  constexpr int kForks = 100;
  v1::ForkRequest fork;
  fork.set_snapshot_id(snap);
  fork.set_count(kForks);
  fork.set_start(true);
  for (int i = 1; i <= kForks; ++i) {
    v1::ForkDelta* d = fork.add_deltas();
    d->add_args(absl::StrCat("req-", i));
    d->set_stdin(absl::StrCat("in-", i, "\nignored\n"));
  }
  auto forks = client_->Fork(fork);
  ASSERT_TRUE(forks.ok()) << forks.status();
  ASSERT_EQ(forks->sandbox_ids_size(), kForks);
  EXPECT_GT(forks->fork_latency_ns(), 0u);
  std::set<std::string> unique(forks->sandbox_ids().begin(),
                               forks->sandbox_ids().end());
  EXPECT_EQ(unique.size(), kForks);
  EXPECT_EQ(unique.count(parent), 0u);

  for (int i = 1; i <= kForks; ++i) {
    const std::string& id = forks->sandbox_ids(i - 1);
    const v1::WaitResponse w = WaitFor(id);
    EXPECT_EQ(w.status().reason(), v1::StopStatus::EXITED) << id;
    EXPECT_EQ(w.status().exit_code(), 0) << id;
    EXPECT_GT(w.instructions(), 0u);
    EXPECT_EQ(Output(id),
              absl::StrCat("fork ", i, " of ", kForks, " result=", i,
                           " region=ok arg=req-", i, " stdin=in-", i, "\n"));
    const v1::SandboxInfo info = Info(id);
    EXPECT_EQ(info.snapshot_id(), snap);
    EXPECT_EQ(info.fork_index(), static_cast<uint64_t>(i));
    EXPECT_FALSE(info.running());
  }

  // The parent kept running through all of it with its memory unchanged:
  // a fork of a host snapshot of it checks every page.
  const v1::SandboxInfo p = Info(parent);
  EXPECT_TRUE(p.running());
  EXPECT_GT(p.shared_pages(), 0u);
  EXPECT_EQ(Output(parent), "warm 4 MiB\n");
  auto check = client_->Snapshot(parent, /*keep_running=*/true);
  ASSERT_TRUE(check.ok()) << check.status();
  v1::ForkRequest one;
  one.set_snapshot_id(check->snapshot_id());
  one.set_count(1);
  one.set_start(true);
  auto checker = client_->Fork(one);
  ASSERT_TRUE(checker.ok()) << checker.status();
  EXPECT_EQ(WaitFor(checker->sandbox_ids(0)).status().exit_code(), 0);
  EXPECT_EQ(Output(checker->sandbox_ids(0)), "parent-check ok\n");
  EXPECT_TRUE(Info(parent).running());

  auto stats = client_->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->forks_total(), kForks + 1u);
  EXPECT_EQ(stats->snapshots(), 2u);
  EXPECT_EQ(stats->sandboxes(), 1u);  // the parent
  // Each fork broke CoW on its result page and 64 of the 1024 region pages.
  EXPECT_GE(stats->cow_breaks_total(), kForks * 65u);
  // The parent and two snapshots share the warm-up region.
  EXPECT_GE(stats->frames_shared(), 1024u);
  EXPECT_LE(stats->frames_used(), stats->frames_capacity());

  auto metrics = HttpGet(worker_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(absl::StrContains(*metrics, "memmgr_worker_forks_total 101\n"))
      << *metrics;
  EXPECT_TRUE(absl::StrContains(
      *metrics, "memmgr_worker_fork_latency_seconds_count 101\n"));
  EXPECT_TRUE(absl::StrContains(*metrics, "memmgr_worker_snapshots 2\n"));
  EXPECT_TRUE(absl::StrContains(*metrics,
                                "memmgr_worker_sandboxes{state=\"running\"}") ||
              absl::StrContains(*metrics,
                                "memmgr_worker_sandboxes{state=\"sleeping\"}"));
  EXPECT_TRUE(absl::StrContains(*metrics, "memmgr_worker_cow_breaks_total "));
  EXPECT_TRUE(absl::StrContains(*metrics, "memmgr_worker_frames_shared "));
  EXPECT_TRUE(absl::StrContains(
      *metrics,
      "memmgr_worker_rpc_requests_total{code=\"OK\",method=\"Fork\"} 2\n"))
      << *metrics;
  const std::string file = dir_.Sub("metrics.txt");
  std::ofstream(file) << *metrics;
  std::string out, err;
  const int rc = RunCommand(
      {"sh", "-c", std::string(MEMMGR_PROMTOOL) + " check metrics < " + file},
      &out, &err);
  EXPECT_EQ(rc, 0) << "promtool (" << MEMMGR_PROMTOOL << "): " << out << err;
}

TEST_F(WorkerServiceTest, BadInputsGetPreciseCodes) {
  using absl::StatusCode;
  EXPECT_EQ(client_->Start("sb-999").code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->Kill("sb-999").code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->Wait("sb-999", kPatience).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(client_->Snapshot("sb-999", true).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(client_->DeleteSnapshot("snap-999").code(), StatusCode::kNotFound);
  v1::AttachRequest attach;
  attach.set_sandbox_id("sb-999");
  EXPECT_EQ(client_->Attach(attach, [](const v1::OutputChunk&) { return true; })
                .code(),
            StatusCode::kNotFound);
  v1::ForkRequest fork;
  fork.set_snapshot_id("snap-999");
  fork.set_count(1);
  EXPECT_EQ(client_->Fork(fork).status().code(), StatusCode::kNotFound);

  // Image names: traversal, symlinks out, missing.
  for (const char* name : {"../secret", "/etc/passwd", "a/../../secret"}) {
    v1::CreateSandboxRequest req;
    req.set_image(name);
    EXPECT_EQ(client_->CreateSandbox(req).status().code(),
              StatusCode::kInvalidArgument)
        << name;
  }
  v1::CreateSandboxRequest req;
  req.set_image("escape");
  EXPECT_EQ(client_->CreateSandbox(req).status().code(),
            StatusCode::kPermissionDenied);
  req.set_image("missing");
  EXPECT_EQ(client_->CreateSandbox(req).status().code(), StatusCode::kNotFound);
  req.set_image("probe");
  req.mutable_limits()->set_memory_max_pages(uint64_t{1} << 40);
  EXPECT_EQ(client_->CreateSandbox(req).status().code(),
            StatusCode::kResourceExhausted);
  req.mutable_limits()->set_memory_max_pages(0);
  req.mutable_limits()->set_oom_score_adj(5000);
  EXPECT_EQ(client_->CreateSandbox(req).status().code(),
            StatusCode::kInvalidArgument);

  const std::string id = Create({"probe", "serve", "1"});
  const std::string snap = AwaitGuestSnapshot(id);
  fork.set_snapshot_id(snap);
  fork.set_count(0);
  EXPECT_EQ(client_->Fork(fork).status().code(), StatusCode::kInvalidArgument);
  fork.set_count(201);  // --max_forks=200
  EXPECT_EQ(client_->Fork(fork).status().code(), StatusCode::kInvalidArgument);
  fork.set_count(200);
  auto ok = client_->Fork(fork);  // the limit itself is fine
  EXPECT_TRUE(ok.ok()) << ok.status();

  // A snapshot of a dead sandbox.
  ASSERT_TRUE(client_->Kill(id).ok());
  EXPECT_EQ(WaitFor(id).status().reason(), v1::StopStatus::KILLED);
  EXPECT_EQ(client_->Snapshot(id, true).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->Start(id).code(), StatusCode::kFailedPrecondition);

  // Over its memory limit the guest is OOM-killed; nobody else notices.
  const std::string hog = Create({"probe", "hog"}, true, /*pages=*/2048);
  const v1::WaitResponse w = WaitFor(hog);
  EXPECT_EQ(w.status().reason(), v1::StopStatus::OOM_KILLED) << w.DebugString();
  EXPECT_EQ(w.status().signal(), 9);
  EXPECT_TRUE(absl::StrContains(w.status().detail(), "memcg"));
  EXPECT_GE(w.peak_frames(), 1024u);
  // ... and counted by scope (the node's frames never ran out).
  auto metrics = HttpGet(worker_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(absl::StrContains(
      *metrics, "memmgr_worker_oom_kills_total{scope=\"memcg\"} 1\n"))
      << *metrics;
  EXPECT_TRUE(absl::StrContains(
      *metrics, "memmgr_worker_oom_kills_total{scope=\"node\"} 0\n"));
  // A Wait past its deadline.
  const std::string idle = Create({"probe", "spin"}, /*start=*/false);
  EXPECT_EQ(client_->Wait(idle, absl::Milliseconds(100)).status().code(),
            StatusCode::kDeadlineExceeded);
}

TEST_F(WorkerServiceTest, KillingOneSandboxLeavesTheOthersRunning) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Create({"probe", "spin"}));
  // Killed once it has printed (a kill before its first slice is fine too,
  // but then there is no output to follow).
  const absl::Time until = absl::Now() + kPatience;
  while (Output(ids[1]).empty() && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::string followed;
  std::thread follower([&] { followed = Output(ids[1], /*follow=*/true); });
  ASSERT_TRUE(client_->Kill(ids[1]).ok());
  follower.join();  // Attach ends when the sandbox stops
  EXPECT_EQ(followed, "spinning\n");
  EXPECT_EQ(WaitFor(ids[1]).status().reason(), v1::StopStatus::KILLED);
  for (int i : {0, 2}) {
    const uint64_t before = Info(ids[i]).instructions();
    while (Info(ids[i]).instructions() == before && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_TRUE(Info(ids[i]).running()) << ids[i];
    EXPECT_GT(Info(ids[i]).instructions(), before) << ids[i];
    EXPECT_EQ(Output(ids[i]), "spinning\n");
  }
}

TEST_F(WorkerServiceTest, DeleteSnapshotWhileForksLive) {
  const std::string parent = Create({"probe", "serve", "2"});
  const std::string snap = AwaitGuestSnapshot(parent);
  v1::ForkRequest fork;
  fork.set_snapshot_id(snap);
  fork.set_count(3);  // not started yet
  auto forks = client_->Fork(fork);
  ASSERT_TRUE(forks.ok()) << forks.status();
  ASSERT_TRUE(client_->DeleteSnapshot(snap).ok());
  ASSERT_TRUE(client_->Kill(parent).ok());
  EXPECT_EQ(client_->Fork(fork).status().code(), absl::StatusCode::kNotFound);
  for (int i = 0; i < 3; ++i) {
    const std::string& id = forks->sandbox_ids(i);
    ASSERT_TRUE(client_->Start(id).ok());
    EXPECT_EQ(WaitFor(id).status().exit_code(), 0);
    EXPECT_TRUE(absl::StrContains(
        Output(id), absl::StrCat("fork ", i + 1, " of 3 result=", i + 1,
                                 " region=ok arg=- stdin=-")));
  }
  // Everything freed once the last fork is gone.
  const absl::Time until = absl::Now() + kPatience;
  uint64_t used = 1;
  while (absl::Now() < until) {
    auto stats = client_->GetStats();
    ASSERT_TRUE(stats.ok());
    used = stats->frames_used();
    if (used == 0) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(used, 0u);
}

TEST_F(WorkerServiceTest, SigtermKillsSandboxesAndExitsZero) {
  const std::string id = Create({"probe", "spin"});
  // A follower attached (it has had its first chunk) before the signal.
  std::string followed;
  std::atomic<bool> attached{false};
  absl::Status follow_status;
  std::thread follower([&] {
    v1::AttachRequest req;
    req.set_sandbox_id(id);
    follow_status = client_->Attach(
        req,
        [&](const v1::OutputChunk& c) {
          followed += c.data();
          attached = true;
          return true;
        },
        kPatience);
  });
  const absl::Time until = absl::Now() + kPatience;
  while (!attached && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  worker_->Signal(SIGTERM);
  const int status = worker_->Wait(kPatience);
  follower.join();
  ASSERT_TRUE(WIFEXITED(status)) << status << worker_->ReadLog();
  EXPECT_EQ(WEXITSTATUS(status), 0) << worker_->ReadLog();
  EXPECT_EQ(followed, "spinning\n");
  EXPECT_TRUE(follow_status.ok()) << follow_status;  // ended by the stop
  EXPECT_TRUE(absl::StrContains(worker_->ReadLog(), "stopped cleanly"));
  EXPECT_TRUE(absl::StrContains(
      worker_->ReadLog(),
      "serving gRPC on port " + std::to_string(worker_->port())));
}

TEST(WorkerServeFlagsTest, BadFlagsExitTwoAndHelpTellsTheFlags) {
  std::string out, err;
  EXPECT_EQ(RunCommand({MEMMGR_WORKER_BIN, "serve", "--bogus=1"}, &out, &err),
            2);
  EXPECT_TRUE(absl::StrContains(err, "unknown flag --bogus")) << err;
  EXPECT_EQ(
      RunCommand({MEMMGR_WORKER_BIN, "serve", "--max_forks=0"}, &out, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "--max_forks=0")) << err;
  EXPECT_EQ(
      RunCommand({MEMMGR_WORKER_BIN, "serve", "--memory=lots"}, &out, &err), 2);
  EXPECT_EQ(
      RunCommand({MEMMGR_WORKER_BIN, "serve", "--images_dir=/nonexistent"},
                 &out, &err),
      2);
  // Each is usage (exit 2), and the one line says why. The container's
  // limit bounds the pool; the percentage needs the limit; flags files:
  // missing, a line that is not a flag, an unknown flag in it.
  TempDir dir;
  std::ofstream(dir.Sub("bad.flags")) << "# comment\n\nmemory=1G\n";
  std::ofstream(dir.Sub("unknown.flags")) << "--memroy=1G\n";
  const struct {
    std::vector<std::string> flags;
    std::string says;
  } bad[] = {
      {{"--container_memory=64M", "--memory=128M"},
       "exceeds --container_memory"},
      {{"--memory_percent=50"}, "needs --container_memory"},
      {{"--container_memory=1G", "--memory_percent=99"},
       "want an integer in 1..95"},
      {{"--numa_node=near"}, "auto"},
      {{"--flagfile=" + dir.Sub("missing")}, "cannot read"},
      {{"--flagfile=" + dir.Sub("bad.flags")}, "bad.flags:3"},
      {{"--flagfile=" + dir.Sub("unknown.flags")}, "unknown flag --memroy"},
  };
  for (const auto& b : bad) {
    std::vector<std::string> argv = {MEMMGR_WORKER_BIN, "serve"};
    argv.insert(argv.end(), b.flags.begin(), b.flags.end());
    EXPECT_EQ(RunCommand(argv, &out, &err), 2) << b.flags[0];
    EXPECT_TRUE(absl::StrContains(err, b.says)) << b.flags[0] << ": " << err;
  }
  ASSERT_EQ(RunCommand({MEMMGR_WORKER_BIN, "serve", "--help"}, &out, &err), 0);
  for (const char* flag :
       {"--listen", "--metrics_listen", "--memory", "--images_dir",
        "--executors", "--max_forks", "--max_sandboxes", "--flagfile",
        "--container_memory", "--memory_percent", "--numa_node"}) {
    EXPECT_TRUE(absl::StrContains(out, flag)) << flag;
  }
}

// How a DaemonSet starts it: flags from a ConfigMap file, the pool sized
// from the container's memory limit (downward API), the NUMA node read
// from the host; a later command-line flag overrides the file's.
TEST(WorkerServeFlagsTest, FlagFileContainerMemoryAndNumaAutoStartAWorker) {
  TempDir dir;
  std::ofstream(dir.Sub("worker.flags"))
      << "# as in deploy/k8s/base/config/worker.flags\n"
      << "--memory_percent=50\n"
      << "--numa_node=auto\n"
      << "--executors=1\n"
      << "--swap=none\n";
  auto w = StartWorkerProcess(
      MEMMGR_WORKER_BIN, dir.path(),
      {"--flagfile=" + dir.Sub("worker.flags"),
       "--container_memory=" + std::to_string(uint64_t{256} << 20),
       "--executors=2"});
  ASSERT_TRUE(w.ok()) << w.status();
  WorkerClientOptions o;
  o.target = (*w)->address();
  auto c = WorkerClient::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto stats = (*c)->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->frames_capacity(), (uint64_t{128} << 20) / 4096);
  const std::string log = (*w)->ReadLog();
  EXPECT_TRUE(absl::StrContains(log, "--numa_node=auto: ")) << log;
  EXPECT_TRUE(absl::StrContains(log, "memory 128M, 2 executors")) << log;
}

}  // namespace
}  // namespace memmgr::testing
