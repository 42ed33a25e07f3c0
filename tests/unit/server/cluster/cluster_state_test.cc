// ClusterState with members on fake Heartbeat streams (a thread per fake
// worker answers the commands the state sends down), over a real SwapStore
// on RocksDB for the leases: placement end to end, refusals falling to the
// next node, bind never spilling, interleave, kill, lost workers, a stream
// that closes or never answers, a server restart rebuilt from reports, and
// concurrent creates.
#include "server/cluster/cluster_state.h"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/swap_store.h"
#include "tests/testing/temp_dir.h"

namespace memmgr {
namespace {

using ::testing::HasSubstr;

// A member's stream plus the worker behind it: commands sent down are
// answered by this fake's thread through OnMemberHeartbeat, as the real
// worker's agent answers in its next HeartbeatRequest.
class FakeWorker final : public ClusterState::Stream {
 public:
  FakeWorker(ClusterState* state, SwapStore* store, uint32_t node,
             uint64_t free_frames)
      : state_(state), node_(node) {
    spec_.set_node_name("worker-" + std::to_string(node));
    spec_.set_numa_node(node);
    spec_.set_frame_capacity_pages(10000);
    spec_.set_address("127.0.0.1:" + std::to_string(7100 + node));
    spec_.set_cluster_member(true);
    auto grant = store->RegisterLease(spec_);
    EXPECT_TRUE(grant.ok()) << grant.status();
    lease_ = grant.ok() ? grant->lease_id : "";
    status_.set_free_frames(free_frames);
    status_.set_watermark_high_pages(100);
    status_.set_capacity_frames(10000);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeWorker() override {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    thread_.join();
  }

  // Sends a heartbeat with the memory status (and reports, if asked).
  void Beat(bool report = false) {
    v1::HeartbeatRequest r;
    r.set_lease_id(lease_);
    *r.mutable_status() = status_;
    if (report) {
      MutexLock lock(&mu_);
      r.set_sandboxes_reported(true);
      for (const auto& [id, wid] : created_) {
        v1::PlacedSandboxReport* s = r.add_sandboxes();
        s->set_sandbox_id(id);
        s->set_worker_sandbox_id(wid);
      }
    }
    ClusterState* state;
    {
      MutexLock lock(&mu_);
      state = state_;
    }
    state->OnMemberHeartbeat(lease_, spec_, r, this);
  }

  void Send(const v1::HeartbeatResponse& response) override {
    MutexLock lock(&mu_);
    for (const v1::WorkerCommand& c : response.commands()) queue_.push_back(c);
    cv_.SignalAll();
  }

  // The server restarted: answer to `state` from now on.
  void Reconnect(ClusterState* state) {
    MutexLock lock(&mu_);
    state_ = state;
  }

  // What this worker answers to creates: OK, or RESOURCE_EXHAUSTED (full).
  void SetFull(bool full) {
    MutexLock lock(&mu_);
    full_ = full;
  }
  void SetSilent(bool silent) {
    MutexLock lock(&mu_);
    silent_ = silent;
  }
  std::vector<std::string> killed() {
    MutexLock lock(&mu_);
    return killed_;
  }
  size_t created() {
    MutexLock lock(&mu_);
    return created_.size();
  }
  size_t commands_seen() {
    MutexLock lock(&mu_);
    return commands_seen_;
  }
  const std::string& lease() const { return lease_; }

 private:
  void Loop() {
    for (;;) {
      v1::HeartbeatRequest answer;
      answer.set_lease_id(lease_);
      ClusterState* state;
      {
        MutexLock lock(&mu_);
        while (!stop_ && queue_.empty()) cv_.Wait(&mu_);
        if (stop_) return;
        const v1::WorkerCommand c = queue_.front();
        queue_.pop_front();
        ++commands_seen_;
        if (silent_) continue;
        v1::CommandResult* r = answer.add_results();
        r->set_command_id(c.command_id());
        if (c.has_create()) {
          if (full_) {
            r->set_status_code(
                static_cast<int>(absl::StatusCode::kResourceExhausted));
            r->set_status_message("no room: pool below min");
          } else {
            const std::string wid = "sb-" + std::to_string(created_.size() + 1);
            created_[c.create().sandbox_id()] = wid;
            r->set_worker_sandbox_id(wid);
          }
        } else if (c.has_kill()) {
          killed_.push_back(c.kill().sandbox_id());
        }
        state = state_;
      }
      state->OnMemberHeartbeat(lease_, spec_, answer, this);
    }
  }

  ClusterState* state_ ABSL_GUARDED_BY(mu_);
  const uint32_t node_;
  v1::RegisterWorkerRequest spec_;
  v1::WorkerStatus status_;
  std::string lease_;
  Mutex mu_;
  CondVar cv_;
  std::deque<v1::WorkerCommand> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> created_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> killed_ ABSL_GUARDED_BY(mu_);
  size_t commands_seen_ ABSL_GUARDED_BY(mu_) = 0;
  bool full_ ABSL_GUARDED_BY(mu_) = false;
  bool silent_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class ClusterStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    SwapStoreOptions o;
    o.capacity_pages = 1024;
    o.lease_ttl = absl::Seconds(10);
    o.clock = &clock_;
    auto store = SwapStore::Open(o, *std::move(storage));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    NewState();
  }
  void TearDown() override {
    workers_.clear();  // their threads call into state_
    state_.reset();
  }
  void NewState() {
    ClusterStateOptions o;
    o.store = store_.get();
    o.command_timeout = absl::Seconds(30);
    state_ = std::make_unique<ClusterState>(o);
  }
  FakeWorker* AddWorker(uint32_t node, uint64_t free_frames) {
    workers_.push_back(std::make_unique<FakeWorker>(state_.get(), store_.get(),
                                                    node, free_frames));
    workers_.back()->Beat();
    return workers_.back().get();
  }
  absl::StatusOr<v1::CreateClusterSandboxResponse> Create(
      v1::Mempolicy::Mode mode, std::vector<uint32_t> nodes = {},
      bool dry_run = false, absl::Duration patience = absl::Seconds(30)) {
    v1::CreateClusterSandboxRequest r;
    r.mutable_sandbox()->set_image("probe");
    r.mutable_policy()->set_mode(mode);
    for (uint32_t n : nodes) r.mutable_policy()->add_nodes(n);
    r.mutable_policy()->set_interleave_group("g");
    r.set_dry_run(dry_run);
    return state_->CreateSandbox(r, absl::Now() + patience);
  }
  std::map<uint32_t, int> RunningPerNode() {
    std::map<uint32_t, int> count;
    const v1::ListClusterSandboxesResponse list = state_->ListSandboxes();
    for (const v1::ClusterSandbox& s : list.sandboxes()) {
      if (s.status().reason() == v1::StopStatus::REASON_UNSPECIFIED) {
        ++count[s.numa_node()];
      }
    }
    return count;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<SwapStore> store_;
  std::unique_ptr<ClusterState> state_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;
};

TEST_F(ClusterStateTest, CreatePlacesOnTheMostFreeNodeAndListsIt) {
  AddWorker(0, 1000);
  AddWorker(1, 5000);
  AddWorker(2, 3000);
  auto r = Create(v1::Mempolicy::MODE_DEFAULT);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->numa_node(), 1u);
  EXPECT_EQ(r->node_name(), "worker-1");
  EXPECT_EQ(r->worker_address(), "127.0.0.1:7101");
  EXPECT_EQ(r->worker_sandbox_id(), "sb-1");
  EXPECT_THAT(r->explanation(), HasSubstr("-> node 1 (worker-1): created"));
  const auto list = state_->ListSandboxes();
  ASSERT_EQ(list.sandboxes_size(), 1);
  EXPECT_EQ(list.sandboxes(0).sandbox_id(), r->sandbox_id());
  EXPECT_EQ(list.sandboxes(0).worker_sandbox_id(), "sb-1");
  EXPECT_EQ(workers_[1]->created(), 1u);
  EXPECT_EQ(state_->GetStats().placements, 1u);
}

TEST_F(ClusterStateTest, AWorkerThatRefusesSendsTheSandboxToTheNextNode) {
  AddWorker(0, 1000);
  FakeWorker* big = AddWorker(1, 5000);
  big->SetFull(true);
  auto r = Create(v1::Mempolicy::MODE_DEFAULT);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->numa_node(), 0u);
  EXPECT_THAT(r->explanation(),
              HasSubstr("-> node 1 refused: RESOURCE_EXHAUSTED"));
}

TEST_F(ClusterStateTest, BindOverflowIsResourceExhaustedAndNeverSpills) {
  FakeWorker* w0 = AddWorker(0, 1000);
  AddWorker(1, 5000);
  w0->SetFull(true);
  auto r = Create(v1::Mempolicy::MODE_BIND, {0});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no room"));
  EXPECT_EQ(workers_[1]->commands_seen(), 0u);  // never asked
  EXPECT_TRUE(state_->ListSandboxes().sandboxes().empty());
}

TEST_F(ClusterStateTest, InterleaveSpreadsAGroupEvenly) {
  for (uint32_t n = 0; n < 3; ++n) AddWorker(n, 4000 + n * 1000);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(Create(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2}).ok());
  }
  EXPECT_EQ(RunningPerNode(),
            (std::map<uint32_t, int>{{0, 2}, {1, 2}, {2, 2}}));
}

TEST_F(ClusterStateTest, DryRunExplainsAndCreatesNothing) {
  AddWorker(0, 1000);
  AddWorker(1, 5000);
  auto r = Create(v1::Mempolicy::MODE_PREFERRED, {0}, /*dry_run=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->sandbox_id().empty());
  EXPECT_EQ(r->numa_node(), 0u);
  EXPECT_THAT(r->explanation(), HasSubstr("policy preferred(0)"));
  EXPECT_THAT(r->explanation(), HasSubstr("dry run"));
  EXPECT_EQ(state_->GetStats().commands_sent, 0u);
}

TEST_F(ClusterStateTest, KillGoesToTheSandboxesWorker) {
  AddWorker(0, 1000);
  FakeWorker* w1 = AddWorker(1, 5000);
  auto r = Create(v1::Mempolicy::MODE_DEFAULT);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(
      state_->KillSandbox(r->sandbox_id(), absl::Now() + absl::Seconds(30))
          .ok());
  EXPECT_EQ(w1->killed(), std::vector<std::string>{r->sandbox_id()});
  EXPECT_EQ(
      state_->KillSandbox("csb-nope", absl::Now() + absl::Seconds(1)).code(),
      absl::StatusCode::kNotFound);
}

TEST_F(ClusterStateTest, AnExpiredWorkerIsSkippedAndItsSandboxesAreLost) {
  FakeWorker* w0 = AddWorker(0, 1000);
  AddWorker(1, 5000);
  auto r = Create(v1::Mempolicy::MODE_DEFAULT);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->numa_node(), 1u);
  // Worker 0 keeps heartbeating; worker 1 falls silent past the lease TTL.
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(store_->Heartbeat(w0->lease()).ok());
  clock_.Advance(absl::Seconds(6));
  const auto list = state_->ListSandboxes();
  ASSERT_EQ(list.sandboxes_size(), 1);
  EXPECT_EQ(list.sandboxes(0).status().reason(), v1::StopStatus::LOST);
  EXPECT_THAT(list.sandboxes(0).status().detail(), HasSubstr("worker-1"));
  EXPECT_EQ(state_->KillSandbox(r->sandbox_id(), absl::Now() + absl::Seconds(1))
                .code(),
            absl::StatusCode::kFailedPrecondition);
  auto again = Create(v1::Mempolicy::MODE_DEFAULT);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->numa_node(), 0u);
  EXPECT_EQ(state_->GetStats().members, 1u);
  EXPECT_EQ(state_->GetStats().lost, 1u);
}

TEST_F(ClusterStateTest, ASilentWorkerTimesOutAndAClosedStreamFailsOver) {
  FakeWorker* w0 = AddWorker(0, 5000);
  w0->SetSilent(true);
  auto r =
      Create(v1::Mempolicy::MODE_BIND, {0}, false, absl::Milliseconds(200));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  // A stream that closes while a command waits: the command was sent and
  // may have taken effect, so it is ABORTED, not placed on node 1 as well.
  FakeWorker* w1 = AddWorker(1, 1000);
  std::thread closer([&] {
    while (w0->commands_seen() < 2) absl::SleepFor(absl::Milliseconds(1));
    state_->OnStreamClosed(w0);
  });
  auto aborted = Create(v1::Mempolicy::MODE_DEFAULT);
  closer.join();
  EXPECT_EQ(aborted.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(aborted.status().message(), HasSubstr("stream closed"));
  EXPECT_EQ(w1->commands_seen(), 0u);
  // Until it reconnects, node 0 is not a candidate: node 1 gets the next.
  auto next = Create(v1::Mempolicy::MODE_DEFAULT);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->numa_node(), 1u);
  EXPECT_THAT(next->explanation(), HasSubstr("not connected"));
}

TEST_F(ClusterStateTest, ARestartedServerRebuildsItsSandboxesFromReports) {
  AddWorker(0, 1000);
  AddWorker(1, 5000);
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = Create(v1::Mempolicy::MODE_INTERLEAVE, {0, 1});
    ASSERT_TRUE(r.ok());
    ids.insert(r->sandbox_id());
  }
  // A new state (the server restarted; the leases came back from RocksDB):
  // the workers reconnect and their first heartbeats report what they run.
  NewState();
  EXPECT_TRUE(state_->ListSandboxes().sandboxes().empty());
  for (auto& w : workers_) {
    w->Reconnect(state_.get());
    w->Beat(/*report=*/true);
  }
  const v1::ListClusterSandboxesResponse list = state_->ListSandboxes();
  std::set<std::string> listed;
  std::map<uint32_t, int> per_node;
  for (const auto& s : list.sandboxes()) {
    listed.insert(s.sandbox_id());
    ++per_node[s.numa_node()];
    EXPECT_EQ(s.node_name(), "worker-" + std::to_string(s.numa_node()));
    EXPECT_FALSE(s.worker_sandbox_id().empty());
  }
  EXPECT_EQ(listed, ids);
  EXPECT_EQ(per_node, (std::map<uint32_t, int>{{0, 2}, {1, 1}}));
  // And they can be killed through the new state.
  EXPECT_TRUE(
      state_->KillSandbox(*ids.begin(), absl::Now() + absl::Seconds(30)).ok());
}

TEST_F(ClusterStateTest, ConcurrentCreatesAllLandWithUniqueIds) {
  for (uint32_t n = 0; n < 3; ++n) AddWorker(n, 5000);
  std::vector<std::thread> threads;
  Mutex mu;
  std::set<std::string> ids;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = Create(v1::Mempolicy::MODE_INTERLEAVE, {0, 1, 2});
        if (!r.ok()) {
          ++failures;
          continue;
        }
        MutexLock lock(&mu);
        ids.insert(r->sandbox_id());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  MutexLock lock(&mu);
  EXPECT_EQ(ids.size(), 40u);
  EXPECT_EQ(state_->ListSandboxes().sandboxes_size(), 40);
}

TEST_F(ClusterStateTest, ShutdownFailsAWaitingCommand) {
  FakeWorker* w0 = AddWorker(0, 5000);
  w0->SetSilent(true);
  std::thread stopper([&] {
    while (w0->commands_seen() < 1) absl::SleepFor(absl::Milliseconds(1));
    state_->Shutdown();
  });
  auto r = Create(v1::Mempolicy::MODE_DEFAULT);
  stopper.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Create(v1::Mempolicy::MODE_DEFAULT).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace memmgr
