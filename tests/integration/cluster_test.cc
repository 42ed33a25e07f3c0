// The cluster control plane with real processes on loopback: one
// memmgr-server and three `memmgr-worker serve --server` members with
// different node ids, memory and distances. Sandboxes are created through
// the server (MemoryManager.CreateSandbox) by mempolicy, run on the chosen
// worker (their output is read from that worker's Worker service), are
// listed and killed through the server; a worker killed -9 is skipped once
// its lease expires and its sandboxes are LOST; a server killed -9 and
// restarted rebuilds its map from the workers' reports.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
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

// Guards against hangs only; nothing asserts how long anything takes.
constexpr absl::Duration kPatience = absl::Seconds(60);

// Node i: memory, distances. Node 1 has the most memory (default policy's
// pick); from node 0, node 1 is nearer (20) than node 2 (30).
const char* const kMemory[3] = {"64M", "192M", "128M"};
const char* const kDistances[3] = {"1:20,2:30", "0:20,2:20", "0:30,1:20"};

v1::Mempolicy Policy(v1::Mempolicy::Mode mode, std::vector<uint32_t> nodes,
                     const std::string& group = "") {
  v1::Mempolicy p;
  p.set_mode(mode);
  for (uint32_t n : nodes) p.add_nodes(n);
  p.set_interleave_group(group);
  return p;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = dir_.Sub("images");
    ASSERT_EQ(::mkdir(images_.c_str(), 0755), 0);
    std::filesystem::copy_file(MEMMGR_WORKER_PROBE, images_ + "/probe");
    StartServer(0);
    for (int i = 0; i < 3; ++i) StartWorker(i);
    for (uint32_t i = 0; i < 3; ++i) AwaitPlaceable(i);
  }

  void StartServer(int port) {
    std::vector<std::string> flags = {"--lease_ttl=3s"};
    if (port != 0) flags.push_back(absl::StrCat("--listen=127.0.0.1:", port));
    auto s =
        ServerProcess::Start(MEMMGR_SERVER_BIN, dir_.Sub("server-data"), flags);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ClientOptions o;
    o.target = server_->address();
    o.deadline = absl::Seconds(30);
    auto c = Client::Create(o);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
  }

  void StartWorker(int i) {
    const std::string dir = dir_.Sub(absl::StrCat("w", i));
    std::filesystem::create_directories(dir);
    std::vector<std::string> flags = {
        "--server=" + server_->address(),
        absl::StrCat("--cluster_node=", i),
        absl::StrCat("--node_name=w", i),
        absl::StrCat("--memory=", kMemory[i]),
        absl::StrCat("--distances=", kDistances[i]),
        "--images_dir=" + images_,
        "--executors=1",
        "--swap_retry_for=30s"};
    // Node 0 takes two live sandboxes at most: bind's overflow case.
    if (i == 0) flags.push_back("--max_sandboxes=2");
    workers_[i].reset();
    auto w = StartWorkerProcess(MEMMGR_WORKER_BIN, dir, flags);
    ASSERT_TRUE(w.ok()) << w.status();
    workers_[i] = *std::move(w);
  }

  v1::CreateClusterSandboxRequest Request(const v1::Mempolicy& policy,
                                          const std::string& mode,
                                          const std::string& stdin_data = "") {
    v1::CreateClusterSandboxRequest req;
    req.mutable_sandbox()->set_image("probe");
    req.mutable_sandbox()->add_args("probe");  // argv[0]
    req.mutable_sandbox()->add_args(mode);
    req.mutable_sandbox()->set_stdin(stdin_data);
    *req.mutable_policy() = policy;
    req.set_start(true);
    return req;
  }

  // Waits until node `node` is a member that placement can choose (a dry
  // run bound to it succeeds).
  void AwaitPlaceable(uint32_t node) {
    v1::CreateClusterSandboxRequest req;
    *req.mutable_policy() = Policy(v1::Mempolicy::MODE_BIND, {node});
    req.set_dry_run(true);
    const absl::Time until = absl::Now() + kPatience;
    absl::Status last;
    while (absl::Now() < until) {
      auto r = client_->CreateClusterSandbox(req);
      if (r.ok() && r->numa_node() == node) return;
      last = r.status();
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "node " << node << " never became placeable: " << last;
  }

  std::unique_ptr<WorkerClient> WorkerAt(const std::string& address) {
    WorkerClientOptions o;
    o.target = address;
    auto c = WorkerClient::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // Waits for the sandbox on its worker and returns its output.
  std::string OutputOf(const v1::CreateClusterSandboxResponse& placed) {
    std::unique_ptr<WorkerClient> w = WorkerAt(placed.worker_address());
    if (w == nullptr) return "";
    auto done = w->Wait(placed.worker_sandbox_id(), kPatience);
    EXPECT_TRUE(done.ok()) << done.status();
    v1::AttachRequest req;
    req.set_sandbox_id(placed.worker_sandbox_id());
    req.set_no_wait(true);
    std::string out;
    absl::Status s = w->Attach(req, [&](const v1::OutputChunk& chunk) {
      if (chunk.stream() == v1::OutputChunk::STDOUT) out += chunk.data();
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  v1::ClusterSandbox Listed(const std::string& id) {
    auto list = client_->ListClusterSandboxes();
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const v1::ClusterSandbox& s : list->sandboxes()) {
        if (s.sandbox_id() == id) return s;
      }
    }
    return {};
  }

  // Polls ListSandboxes until `id` has stop reason `reason`.
  bool AwaitReason(const std::string& id, v1::StopStatus::Reason reason) {
    const absl::Time until = absl::Now() + kPatience;
    while (absl::Now() < until) {
      if (Listed(id).status().reason() == reason) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  TempDir dir_;
  std::string images_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<WorkerProcess> workers_[3];
};

TEST_F(ClusterTest, EveryPolicyPlacesAsSpecifiedAndTheGuestRunsThere) {
  struct Case {
    v1::Mempolicy policy;
    uint32_t node;
  };
  const std::vector<Case> cases = {
      {Policy(v1::Mempolicy::MODE_DEFAULT, {}), 1},     // most free memory
      {Policy(v1::Mempolicy::MODE_DEFAULT, {2}), 2},    // the caller's node
      {Policy(v1::Mempolicy::MODE_PREFERRED, {0}), 0},  // has room
      {Policy(v1::Mempolicy::MODE_BIND, {2}), 2},       //
      {Policy(v1::Mempolicy::MODE_BIND, {0, 2}), 2},    // more free of two
  };
  for (const Case& c : cases) {
    const std::string input = absl::StrCat("to node ", c.node, "\n");
    auto r = client_->CreateClusterSandbox(Request(c.policy, "echo", input));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->numa_node(), c.node) << r->explanation();
    EXPECT_EQ(r->node_name(), absl::StrCat("w", c.node));
    EXPECT_EQ(r->worker_address(), workers_[c.node]->address());
    EXPECT_THAT(r->explanation(), HasSubstr("-> node"));
    // It ran there, with its own stdin.
    EXPECT_EQ(OutputOf(*r), input);
    const v1::ClusterSandbox listed = Listed(r->sandbox_id());
    EXPECT_EQ(listed.numa_node(), c.node);
    EXPECT_EQ(listed.worker_sandbox_id(), r->worker_sandbox_id());
    // Its exit reaches the server in the worker's next report.
    EXPECT_TRUE(AwaitReason(r->sandbox_id(), v1::StopStatus::EXITED));
  }
  auto metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics, HasSubstr("memmgr_cluster_members 3\n"));
  EXPECT_THAT(*metrics, HasSubstr("memmgr_cluster_members_connected 3\n"));
  EXPECT_THAT(*metrics, HasSubstr("memmgr_cluster_sandboxes 5\n"));
  EXPECT_THAT(*metrics,
              HasSubstr("memmgr_cluster_placements_total{result=\"ok\"} 5\n"));
  EXPECT_THAT(*metrics, HasSubstr("memmgr_cluster_commands_total 5\n"));
  EXPECT_THAT(*metrics,
              HasSubstr("memmgr_rpc_requests_total{code=\"OK\",method="
                        "\"CreateSandbox\"}"));
}

TEST_F(ClusterTest, InterleaveSpreadsAGroupEvenly) {
  std::map<uint32_t, int> per_node;
  for (int i = 0; i < 9; ++i) {
    auto r = client_->CreateClusterSandbox(Request(
        Policy(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2}, "batch"), "echo"));
    ASSERT_TRUE(r.ok()) << r.status();
    ++per_node[r->numa_node()];
    OutputOf(*r);  // node 0 takes two live sandboxes: let each finish
  }
  EXPECT_EQ(per_node, (std::map<uint32_t, int>{{0, 3}, {1, 3}, {2, 3}}));
}

TEST_F(ClusterTest, BindNeverSpillsPreferredFallsBackByDistance) {
  std::vector<std::string> spinning;
  for (int i = 0; i < 2; ++i) {
    auto r = client_->CreateClusterSandbox(
        Request(Policy(v1::Mempolicy::MODE_BIND, {0}), "spin"));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->numa_node(), 0u);
    spinning.push_back(r->sandbox_id());
  }
  // Node 0 is full (--max_sandboxes=2): bind fails rather than spill.
  auto full = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {0}), "spin"));
  ASSERT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.status().message(), HasSubstr("max_sandboxes"));
  // preferred(0) falls back to the nearest other node: 1 (20), not 2 (30).
  auto fallback = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_PREFERRED, {0}), "echo"));
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->numa_node(), 1u) << fallback->explanation();

  // Killing one through the server makes room on node 0 again.
  ASSERT_TRUE(client_->KillClusterSandbox(spinning[0]).ok());
  EXPECT_TRUE(AwaitReason(spinning[0], v1::StopStatus::KILLED));
  absl::StatusOr<v1::CreateClusterSandboxResponse> again;
  const absl::Time until = absl::Now() + kPatience;
  do {
    again = client_->CreateClusterSandbox(
        Request(Policy(v1::Mempolicy::MODE_BIND, {0}), "echo"));
  } while (!again.ok() && absl::Now() < until);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->numa_node(), 0u);
}

TEST_F(ClusterTest, BadRequestsGetPreciseCodes) {
  EXPECT_EQ(client_->KillClusterSandbox("csb-nope").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->KillClusterSandbox("").code(),
            absl::StatusCode::kInvalidArgument);
  // bind to a node nobody is.
  auto nobody = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {7}), "echo"));
  EXPECT_EQ(nobody.status().code(), absl::StatusCode::kResourceExhausted)
      << nobody.status();
  // No sandbox and no dry run.
  v1::CreateClusterSandboxRequest empty;
  EXPECT_EQ(client_->CreateClusterSandbox(empty).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The worker refuses an image it does not have: its code, not a spill.
  v1::CreateClusterSandboxRequest missing =
      Request(Policy(v1::Mempolicy::MODE_DEFAULT, {}), "echo");
  missing.mutable_sandbox()->set_image("no-such-image");
  auto r = client_->CreateClusterSandbox(missing);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  // A malformed policy.
  auto twice = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {1, 1}), "echo"));
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ClusterTest, AKilledWorkerIsSkippedAndItsSandboxesAreLost) {
  auto r = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {2}), "spin"));
  ASSERT_TRUE(r.ok()) << r.status();
  workers_[2]->Signal(SIGKILL);
  workers_[2]->Wait();
  // Its lease (3 s) expires: the sandbox is LOST, and node 2 is no longer
  // a candidate for anything.
  ASSERT_TRUE(AwaitReason(r->sandbox_id(), v1::StopStatus::LOST));
  EXPECT_THAT(Listed(r->sandbox_id()).status().detail(), HasSubstr("w2"));
  auto bound = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {2}), "echo"));
  EXPECT_EQ(bound.status().code(), absl::StatusCode::kResourceExhausted);
  for (int i = 0; i < 4; ++i) {
    auto d = client_->CreateClusterSandbox(
        Request(Policy(v1::Mempolicy::MODE_DEFAULT, {2}), "echo"));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_NE(d->numa_node(), 2u);
    OutputOf(*d);
  }
  EXPECT_EQ(client_->KillClusterSandbox(r->sandbox_id()).code(),
            absl::StatusCode::kFailedPrecondition);
  // The worker comes back (same name): it joins again at once.
  StartWorker(2);
  AwaitPlaceable(2);
  auto back = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {2}), "echo", "back\n"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(OutputOf(*back), "back\n");
}

TEST_F(ClusterTest, ARestartedServerRebuildsItsMapFromTheWorkersReports) {
  auto r = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {1}), "spin"));
  ASSERT_TRUE(r.ok()) << r.status();
  const int port = server_->port();
  server_->Signal(SIGKILL);
  server_->Wait();
  StartServer(port);  // same data directory and port: leases restored
  // The workers reconnect on their leases and report what runs on them.
  const absl::Time until = absl::Now() + kPatience;
  v1::ClusterSandbox listed;
  while (absl::Now() < until) {
    listed = Listed(r->sandbox_id());
    if (!listed.sandbox_id().empty()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(listed.sandbox_id(), r->sandbox_id());
  EXPECT_EQ(listed.numa_node(), 1u);
  EXPECT_EQ(listed.worker_sandbox_id(), r->worker_sandbox_id());
  EXPECT_EQ(listed.status().reason(), v1::StopStatus::REASON_UNSPECIFIED);
  // And it can be killed through the new server.
  for (uint32_t i = 0; i < 3; ++i) AwaitPlaceable(i);
  ASSERT_TRUE(client_->KillClusterSandbox(r->sandbox_id()).ok());
  EXPECT_TRUE(AwaitReason(r->sandbox_id(), v1::StopStatus::KILLED));
}

TEST_F(ClusterTest, AWorkerThatStopsCleanlyLeavesAtOnce) {
  auto r = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {1}), "spin"));
  ASSERT_TRUE(r.ok()) << r.status();
  workers_[1]->Signal(SIGTERM);
  ASSERT_NE(workers_[1]->Wait(), -1);
  // The last report says KILLED (worker shutting down); the node is gone
  // without waiting for a lease expiry.
  EXPECT_EQ(Listed(r->sandbox_id()).status().reason(), v1::StopStatus::KILLED);
  auto bound = client_->CreateClusterSandbox(
      Request(Policy(v1::Mempolicy::MODE_BIND, {1}), "echo"));
  EXPECT_EQ(bound.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ClusterTest, MemmgrctlPlacesExplainsListsAndKills) {
  const std::string server = "--server=" + server_->address();
  std::string out, err;
  // A dry run says where and why, and creates nothing.
  ASSERT_EQ(RunCommand({MEMMGR_CTL_BIN, server, "place", "--policy=preferred",
                        "--nodes=2", "--dry_run", "--explain"},
                       &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("would place on node 2 (w2)"));
  EXPECT_THAT(out, HasSubstr("preferred(2)"));
  EXPECT_THAT(out, HasSubstr("dry run: nothing created"));
  // A real one: "<id> node <n> (<name>) <address> <worker id>".
  ASSERT_EQ(
      RunCommand({MEMMGR_CTL_BIN, server, "place", "--policy=bind", "--nodes=1",
                  "--image=probe", "--start", "--", "probe", "spin"},
                 &out, &err),
      0)
      << err;
  std::vector<std::string> fields =
      absl::StrSplit(out, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  ASSERT_EQ(fields.size(), 6u) << out;
  const std::string id = fields[0];
  EXPECT_EQ(fields[2], "1");
  EXPECT_EQ(fields[3], "(w1)");
  EXPECT_EQ(fields[4], workers_[1]->address());
  ASSERT_EQ(RunCommand({MEMMGR_CTL_BIN, server, "cluster-ps"}, &out, &err), 0);
  EXPECT_THAT(out, HasSubstr(id));
  ASSERT_EQ(RunCommand({MEMMGR_CTL_BIN, server, "-o", "json", "cluster-ps"},
                       &out, &err),
            0);
  EXPECT_THAT(out, HasSubstr("\"sandbox_id\": \"" + id + "\""));
  ASSERT_EQ(
      RunCommand({MEMMGR_CTL_BIN, server, "cluster-kill", id}, &out, &err), 0)
      << err;
  EXPECT_TRUE(AwaitReason(id, v1::StopStatus::KILLED));

  // Failures: the code by name, exit 1; usage errors exit 2.
  EXPECT_EQ(RunCommand({MEMMGR_CTL_BIN, server, "place", "--policy=bind",
                        "--nodes=9", "--image=probe", "--", "probe", "echo"},
                       &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_EQ(RunCommand({MEMMGR_CTL_BIN, server, "cluster-kill", "csb-nope"},
                       &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(RunCommand({MEMMGR_CTL_BIN, server, "place", "--policy=sideways",
                        "--dry_run"},
                       &out, &err),
            2);
  EXPECT_THAT(err, HasSubstr("--policy=sideways"));
  EXPECT_EQ(RunCommand(
                {MEMMGR_CTL_BIN, server, "place", "--policy=bind", "--dry_run"},
                &out, &err),
            2);
  EXPECT_THAT(err, HasSubstr("needs --nodes"));
  EXPECT_EQ(
      RunCommand({MEMMGR_CTL_BIN, server, "place", "--nodes=x", "--dry_run"},
                 &out, &err),
      2);
  EXPECT_EQ(RunCommand({MEMMGR_CTL_BIN, server, "cluster-kill"}, &out, &err),
            2);
}

}  // namespace
}  // namespace memmgr::testing
