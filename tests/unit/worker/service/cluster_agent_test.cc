// ClusterAgent in process against a real memmgr-server (ServerRunner on
// 127.0.0.1, RocksDB in a temp dir): the agent joins, placements reach its
// SandboxManager over the Heartbeat stream, and many client threads create,
// list and kill at once while heartbeats flow (label unit-tsan: the
// server's stream reactor with its write queue, ClusterState and the agent's
// two threads under ThreadSanitizer). Also: the agent rejects bad options,
// and a lease lost for good kills what was placed and joins again.
#include "worker/service/cluster_agent.h"

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server_runner.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::worker {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(60);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ClusterAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    probe_ = ReadFile(MEMMGR_WORKER_PROBE);
    ASSERT_FALSE(probe_.empty());
    ServerConfig sc;
    sc.listen = "127.0.0.1:0";
    sc.data_dir = dir_.Sub("server");
    sc.metrics_listen = "";
    sc.lease_ttl = absl::Seconds(2);
    auto s = ServerRunner::Start(sc);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ClientOptions co;
    co.target = absl::StrCat("127.0.0.1:", server_->port());
    co.deadline = absl::Seconds(30);
    auto c = Client::Create(co);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
    SandboxManagerOptions mo;
    mo.memory_bytes = 128 << 20;
    mo.executors = 2;
    auto m = SandboxManager::Create(mo);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = *std::move(m);
  }
  void TearDown() override {
    agent_.reset();
    manager_.reset();
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  ClusterAgentOptions AgentOptions() {
    ClusterAgentOptions o;
    o.server = absl::StrCat("127.0.0.1:", server_->port());
    o.node_name = "in-process";
    o.node = 4;
    o.address = "127.0.0.1:1";  // nobody calls it here
    o.max_backoff = absl::Milliseconds(200);
    return o;
  }

  void StartAgent() {
    auto a = ClusterAgent::Start(AgentOptions(), manager_.get());
    ASSERT_TRUE(a.ok()) << a.status();
    agent_ = *std::move(a);
    // Placeable once its first heartbeat (with memory status) is in.
    v1::CreateClusterSandboxRequest dry;
    dry.mutable_policy()->set_mode(v1::Mempolicy::MODE_BIND);
    dry.mutable_policy()->add_nodes(4);
    dry.set_dry_run(true);
    const absl::Time until = absl::Now() + kPatience;
    while (absl::Now() < until && !client_->CreateClusterSandbox(dry).ok()) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  v1::CreateClusterSandboxRequest Request(const std::string& mode) {
    v1::CreateClusterSandboxRequest req;
    req.mutable_sandbox()->set_elf(probe_);
    req.mutable_sandbox()->add_args("probe");
    req.mutable_sandbox()->add_args(mode);
    req.set_start(true);
    return req;
  }

  testing::TempDir dir_;
  std::string probe_;
  std::unique_ptr<ServerRunner> server_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<SandboxManager> manager_;
  std::unique_ptr<ClusterAgent> agent_;
};

TEST_F(ClusterAgentTest, BadOptionsAreRefused) {
  ClusterAgentOptions o = AgentOptions();
  o.server = "";
  EXPECT_EQ(ClusterAgent::Start(o, manager_.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = AgentOptions();
  o.node = 1024;
  EXPECT_THAT(ClusterAgent::Start(o, manager_.get()).status().message(),
              HasSubstr("0..1023"));
  o = AgentOptions();
  o.node_name = "";
  EXPECT_EQ(ClusterAgent::Start(o, manager_.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = AgentOptions();
  o.distances[2] = 5;
  EXPECT_THAT(ClusterAgent::Start(o, manager_.get()).status().message(),
              HasSubstr("10..254"));
}

TEST_F(ClusterAgentTest, ConcurrentCreatesListsAndKillsWhileHeartbeating) {
  StartAgent();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 6;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = client_->CreateClusterSandbox(
            Request(i % 2 == 0 ? "spin" : "echo"));
        EXPECT_TRUE(r.ok()) << r.status();
        if (!r.ok()) continue;
        EXPECT_EQ(r->numa_node(), 4u);
        ids[t].push_back(r->sandbox_id());
        EXPECT_TRUE(client_->ListClusterSandboxes().ok());
        if (i % 2 == 0) {
          EXPECT_TRUE(client_->KillClusterSandbox(r->sandbox_id()).ok());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // Every one is known, on this node, and ends KILLED (spin) or EXITED
  // (echo) as the agent's reports come in.
  const absl::Time until = absl::Now() + kPatience;
  int settled = 0;
  while (absl::Now() < until) {
    auto list = client_->ListClusterSandboxes();
    ASSERT_TRUE(list.ok()) << list.status();
    settled = 0;
    for (const v1::ClusterSandbox& s : list->sandboxes()) {
      settled += s.status().reason() == v1::StopStatus::KILLED ||
                 s.status().reason() == v1::StopStatus::EXITED;
    }
    if (settled == kThreads * kPerThread) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(settled, kThreads * kPerThread);
  const ClusterAgent::Stats s = agent_->GetStats();
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.commands, uint64_t{kThreads * kPerThread * 3 / 2});
  EXPECT_EQ(s.registrations, 1u);
}

TEST_F(ClusterAgentTest, ALeaseLostForGoodKillsWhatWasPlacedAndJoinsAgain) {
  StartAgent();
  auto r = client_->CreateClusterSandbox(Request("spin"));
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string lease = agent_->GetStats().lease_id;
  // The server ends the lease (as an expiry would): the sandbox is LOST
  // there, so the worker must not keep running it.
  ASSERT_TRUE(client_->UnregisterWorker(lease).ok());
  const absl::Time until = absl::Now() + kPatience;
  while (absl::Now() < until && (agent_->GetStats().registrations < 2 ||
                                 agent_->GetStats().lease_id == lease)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(agent_->GetStats().registrations, 2u);
  bool killed = false;
  while (absl::Now() < until && !killed) {
    const v1::ListSandboxesResponse list = manager_->ListSandboxes();
    for (const v1::SandboxInfo& i : list.sandboxes()) {
      killed |= i.sandbox_id() == r->worker_sandbox_id() &&
                i.status().reason() == v1::StopStatus::KILLED;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(killed);
  auto listed = client_->ListClusterSandboxes();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->sandboxes_size(), 1);
  EXPECT_EQ(listed->sandboxes(0).status().reason(), v1::StopStatus::LOST);
  // Placement works again on the new lease.
  absl::StatusOr<v1::CreateClusterSandboxResponse> again;
  do {
    again = client_->CreateClusterSandbox(Request("echo"));
  } while (!again.ok() && absl::Now() < until);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->numa_node(), 4u);
}

}  // namespace
}  // namespace memmgr::worker
