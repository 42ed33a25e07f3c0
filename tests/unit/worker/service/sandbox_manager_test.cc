// SandboxManager without gRPC: a real RISC-V guest (tests/guest/
// worker_probe.c) on real executor threads. Labelled unit-tsan: forks of
// one snapshot are made from several threads at once while executors run
// them and other threads read stats.
#include "worker/service/sandbox_manager.h"

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace memmgr::worker {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Guards against hangs only; nothing asserts how long anything takes.
constexpr absl::Duration kPatience = absl::Seconds(120);

class SandboxManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    probe_ = ReadFile(MEMMGR_WORKER_PROBE);
    ASSERT_FALSE(probe_.empty()) << MEMMGR_WORKER_PROBE;
  }

  std::unique_ptr<SandboxManager> NewManager(SandboxManagerOptions o = {}) {
    if (o.memory_bytes == (uint64_t{1} << 30)) o.memory_bytes = 256 << 20;
    if (o.executors == 0) o.executors = 3;
    auto m = SandboxManager::Create(o);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *std::move(m) : nullptr;
  }

  std::string Create(SandboxManager& m, std::vector<std::string> args,
                     bool start = true, uint64_t memory_pages = 0) {
    v1::CreateSandboxRequest req;
    req.set_elf(probe_);
    for (const std::string& a : args) req.add_args(a);
    req.mutable_limits()->set_memory_max_pages(memory_pages);
    auto r = m.CreateSandbox(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    if (start) EXPECT_TRUE(m.Start(r->sandbox_id()).ok());
    return r->sandbox_id();
  }

  static v1::SandboxInfo Info(SandboxManager& m, const std::string& id) {
    const v1::ListSandboxesResponse list = m.ListSandboxes();
    for (const v1::SandboxInfo& i : list.sandboxes()) {
      if (i.sandbox_id() == id) return i;
    }
    ADD_FAILURE() << "no " << id;
    return {};
  }

  // The snapshot a guest asked for with memmgr_snapshot().
  static std::string AwaitGuestSnapshot(SandboxManager& m,
                                        const std::string& id) {
    const absl::Time until = absl::Now() + kPatience;
    while (absl::Now() < until) {
      const v1::SandboxInfo i = Info(m, id);
      if (!i.last_snapshot_id().empty()) return i.last_snapshot_id();
      if (i.status().reason() != v1::StopStatus::REASON_UNSPECIFIED) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << id << " never asked for a snapshot";
    return "";
  }

  static v1::WaitResponse WaitFor(SandboxManager& m, const std::string& id) {
    auto r = m.Wait(id, absl::Now() + kPatience, nullptr);
    EXPECT_TRUE(r.ok()) << id << ": " << r.status();
    return r.ok() ? *r : v1::WaitResponse();
  }

  static std::string Output(SandboxManager& m, const std::string& id) {
    auto out = m.OutputOf(id);
    EXPECT_TRUE(out.ok());
    std::string s;
    if (!out.ok()) return s;
    for (const OutputPiece& p : (*out)->Read(0, 1 << 20)) s += p.data;
    return s;
  }

  std::string probe_;
};

TEST_F(SandboxManagerTest, ConcurrentForksOfOneSnapshotAreCorrectAndFreeAll) {
  auto m = NewManager();
  ASSERT_NE(m, nullptr);
  const std::string parent = Create(*m, {"probe", "serve", "1"});
  const std::string snap = AwaitGuestSnapshot(*m, parent);
  ASSERT_FALSE(snap.empty());

  constexpr int kThreads = 4;
  constexpr int kForksEach = 8;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::atomic<bool> forking{true};
  std::thread reader([&] {  // stats and listings race with the forks
    while (forking.load()) {
      (void)m->GetStats();
      (void)m->ListSandboxes();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      v1::ForkRequest req;
      req.set_snapshot_id(snap);
      req.set_count(kForksEach);
      req.set_start(true);
      for (int i = 0; i < kForksEach; ++i) {
        v1::ForkDelta* d = req.add_deltas();
        d->add_args(absl::StrCat("t", t, "i", i));
        d->set_stdin(absl::StrCat("line", t, "\n"));
      }
      auto r = m->Fork(req);
      ASSERT_TRUE(r.ok()) << r.status();
      ids[t].assign(r->sandbox_ids().begin(), r->sandbox_ids().end());
    });
  }
  for (std::thread& t : threads) t.join();
  forking = false;
  reader.join();

  std::set<std::string> unique;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(ids[t].size(), kForksEach);
    for (int i = 0; i < kForksEach; ++i) {
      const std::string& id = ids[t][i];
      unique.insert(id);
      const v1::WaitResponse w = WaitFor(*m, id);
      EXPECT_EQ(w.status().reason(), v1::StopStatus::EXITED) << id;
      EXPECT_EQ(w.status().exit_code(), 0) << Output(*m, id);
      EXPECT_EQ(
          Output(*m, id),
          absl::StrCat("fork ", i + 1, " of ", kForksEach, " result=", i + 1,
                       " region=ok arg=t", t, "i", i, " stdin=line", t, "\n"));
      const v1::SandboxInfo info = Info(*m, id);
      EXPECT_EQ(info.snapshot_id(), snap);
      EXPECT_EQ(info.fork_index(), static_cast<uint64_t>(i + 1));
    }
  }
  EXPECT_EQ(unique.size(), kThreads * kForksEach);
  const ManagerStats stats = m->GetStats();
  EXPECT_EQ(stats.forks_total, kThreads * kForksEach);
  // Every fork wrote its result page and 16 region pages at least.
  EXPECT_GE(stats.cow_breaks_total, uint64_t{kThreads * kForksEach * 17});

  // The parent still runs and sees its own memory unchanged.
  EXPECT_TRUE(Info(*m, parent).running());
  EXPECT_FALSE(absl::StrContains(Output(*m, parent), "changed"));
  ASSERT_TRUE(m->Kill(parent).ok());
  EXPECT_EQ(WaitFor(*m, parent).status().reason(), v1::StopStatus::KILLED);
  ASSERT_TRUE(m->DeleteSnapshot(snap).ok());
  // Every frame comes back: frames are freed just after the stop is
  // visible, so poll (a hang guard, not a timing check).
  const absl::Time until = absl::Now() + kPatience;
  while (m->pool().GetStats().used_frames != 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(m->pool().GetStats().used_frames, 0u);
  EXPECT_EQ(m->GetStats().live, 0u);
}

TEST_F(SandboxManagerTest, KillingOneSandboxLeavesTheOthersRunning) {
  auto m = NewManager();
  ASSERT_NE(m, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Create(*m, {"probe", "spin"}));
  ASSERT_TRUE(m->Kill(ids[1]).ok());
  const v1::WaitResponse w = WaitFor(*m, ids[1]);
  EXPECT_EQ(w.status().reason(), v1::StopStatus::KILLED);
  EXPECT_TRUE(absl::StrContains(w.status().detail(), "Kill"))
      << w.DebugString();
  // The others keep running and keep making progress.
  const uint64_t before0 = Info(*m, ids[0]).instructions();
  const uint64_t before2 = Info(*m, ids[2]).instructions();
  const absl::Time until = absl::Now() + kPatience;
  while ((Info(*m, ids[0]).instructions() == before0 ||
          Info(*m, ids[2]).instructions() == before2) &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(Info(*m, ids[0]).running());
  EXPECT_TRUE(Info(*m, ids[2]).running());
  EXPECT_GT(Info(*m, ids[0]).instructions(), before0);
  EXPECT_GT(Info(*m, ids[2]).instructions(), before2);
  EXPECT_TRUE(m->Kill(ids[1]).ok());  // killing a stopped one is a no-op
  EXPECT_EQ(WaitFor(*m, ids[1]).status().detail(), w.status().detail());
}

// Also the regression test for snapshot starvation: a sandbox that never
// sleeps was re-taken by an executor at every check-in before the waiting
// Snapshot could reacquire the lock (it hung under TSan); a waiting
// Snapshot now keeps it off the run queue (SandboxEntry::hold_waiters).
TEST_F(SandboxManagerTest, SnapshotOfASpinningSandboxStopsItAndForksResume) {
  auto m = NewManager();
  ASSERT_NE(m, nullptr);
  const std::string id = Create(*m, {"probe", "spin"});
  v1::SnapshotRequest req;
  req.set_sandbox_id(id);  // keep_running false: it stops
  auto snap = m->Snapshot(req);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_GT(snap->resident_pages(), 0u);
  const v1::WaitResponse w = WaitFor(*m, id);
  EXPECT_EQ(w.status().reason(), v1::StopStatus::KILLED);
  EXPECT_TRUE(absl::StrContains(w.status().detail(), snap->snapshot_id()));
  // A second snapshot of the stopped sandbox: FAILED_PRECONDITION.
  EXPECT_EQ(m->Snapshot(req).status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::ForkRequest fork;
  fork.set_snapshot_id(snap->snapshot_id());
  fork.set_count(2);
  fork.set_start(true);
  auto forks = m->Fork(fork);
  ASSERT_TRUE(forks.ok()) << forks.status();
  for (const std::string& f : forks->sandbox_ids()) {
    const absl::Time until = absl::Now() + kPatience;
    while (Info(*m, f).instructions() == 0 && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_TRUE(Info(*m, f).running()) << f;
    EXPECT_GT(Info(*m, f).instructions(), 0u) << f;
    ASSERT_TRUE(m->Kill(f).ok());
    EXPECT_EQ(WaitFor(*m, f).status().reason(), v1::StopStatus::KILLED);
  }
}

TEST_F(SandboxManagerTest, BadRequestsGetPreciseCodes) {
  SandboxManagerOptions o;
  o.max_forks = 5;
  o.max_sandboxes = 3;
  auto m = NewManager(o);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->Start("sb-404").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m->Kill("sb-404").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m->Start("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->DeleteSnapshot("snap-404").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m->Wait("sb-404", absl::InfiniteFuture(), nullptr).status().code(),
            absl::StatusCode::kNotFound);
  v1::ForkRequest fork;
  fork.set_snapshot_id("snap-404");
  fork.set_count(1);
  EXPECT_EQ(m->Fork(fork).status().code(), absl::StatusCode::kNotFound);

  v1::CreateSandboxRequest create;
  EXPECT_EQ(m->CreateSandbox(create).status().code(),
            absl::StatusCode::kInvalidArgument);  // neither elf nor image
  create.set_elf("not an elf");
  EXPECT_EQ(m->CreateSandbox(create).status().code(),
            absl::StatusCode::kInvalidArgument);  // the loader refuses it
  create.set_elf(probe_);
  create.add_env("NOEQUALS");
  EXPECT_EQ(m->CreateSandbox(create).status().code(),
            absl::StatusCode::kInvalidArgument);
  create.clear_env();
  create.mutable_limits()->set_memory_high_pages(10);
  EXPECT_EQ(m->CreateSandbox(create).status().code(),
            absl::StatusCode::kUnimplemented);
  create.mutable_limits()->set_memory_high_pages(0);
  create.mutable_limits()->set_memory_max_pages(uint64_t{1} << 30);
  EXPECT_EQ(m->CreateSandbox(create).status().code(),
            absl::StatusCode::kResourceExhausted);
  create.mutable_limits()->set_memory_max_pages(0);
  create.set_image("x");
  EXPECT_EQ(m->CreateSandbox(create).status().code(),
            absl::StatusCode::kInvalidArgument);  // both elf and image

  const std::string id = Create(*m, {"probe", "serve", "1"});
  EXPECT_EQ(m->Start(id).code(), absl::StatusCode::kFailedPrecondition);
  const std::string snap = AwaitGuestSnapshot(*m, id);
  fork.set_snapshot_id(snap);
  fork.set_count(0);
  EXPECT_EQ(m->Fork(fork).status().code(), absl::StatusCode::kInvalidArgument);
  fork.set_count(6);  // over max_forks
  EXPECT_EQ(m->Fork(fork).status().code(), absl::StatusCode::kInvalidArgument);
  fork.set_count(2);
  fork.add_deltas();  // 1 delta for 2 forks
  EXPECT_EQ(m->Fork(fork).status().code(), absl::StatusCode::kInvalidArgument);
  fork.clear_deltas();
  fork.set_count(3);  // 1 live + 3 > max_sandboxes
  EXPECT_EQ(m->Fork(fork).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(m->GetStats().live, 1u);  // nothing half-made

  // Deleting the snapshot leaves its forks alive and correct.
  fork.set_count(2);
  fork.set_start(false);
  auto forks = m->Fork(fork);
  ASSERT_TRUE(forks.ok()) << forks.status();
  ASSERT_TRUE(m->DeleteSnapshot(snap).ok());
  EXPECT_EQ(m->DeleteSnapshot(snap).code(), absl::StatusCode::kNotFound);
  for (const std::string& f : forks->sandbox_ids()) {
    ASSERT_TRUE(m->Start(f).ok());
    EXPECT_EQ(WaitFor(*m, f).status().exit_code(), 0) << Output(*m, f);
    EXPECT_TRUE(absl::StrContains(Output(*m, f), "region=ok"));
  }
  ASSERT_TRUE(m->Kill(id).ok());
  EXPECT_EQ(WaitFor(*m, id).status().reason(), v1::StopStatus::KILLED);
  v1::SnapshotRequest dead;
  dead.set_sandbox_id(id);
  EXPECT_EQ(m->Snapshot(dead).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SandboxManagerTest, OverItsMemoryLimitASandboxIsOomKilledAlone) {
  auto m = NewManager();
  ASSERT_NE(m, nullptr);
  const std::string spin = Create(*m, {"probe", "spin"});
  const std::string hog =
      Create(*m, {"probe", "hog"}, /*start=*/true, /*memory_pages=*/2048);
  const v1::WaitResponse w = WaitFor(*m, hog);
  EXPECT_EQ(w.status().reason(), v1::StopStatus::OOM_KILLED) << w.DebugString();
  EXPECT_EQ(w.status().signal(), 9);
  EXPECT_TRUE(absl::StrContains(w.status().detail(), "memcg"));
  EXPECT_TRUE(Info(*m, spin).running());
  ASSERT_TRUE(m->Kill(spin).ok());
}

TEST_F(SandboxManagerTest, WaitPastItsDeadlineIsDeadlineExceeded) {
  auto m = NewManager();
  ASSERT_NE(m, nullptr);
  const std::string id = Create(*m, {"probe", "spin"}, /*start=*/false);
  EXPECT_EQ(m->Wait(id, absl::Now() + absl::Milliseconds(50), nullptr)
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(
      m->Wait(id, absl::InfiniteFuture(), [] { return true; }).status().code(),
      absl::StatusCode::kCancelled);
}

TEST_F(SandboxManagerTest, ShutdownKillsEverySandboxAndRefusesNewOnes) {
  auto m = NewManager();
  ASSERT_NE(m, nullptr);
  const std::string running = Create(*m, {"probe", "spin"});
  const std::string created = Create(*m, {"probe", "spin"}, false);
  m->Shutdown();
  for (const std::string& id : {running, created}) {
    const v1::WaitResponse w = WaitFor(*m, id);
    EXPECT_EQ(w.status().reason(), v1::StopStatus::KILLED);
    EXPECT_TRUE(absl::StrContains(w.status().detail(), "shutting down"));
  }
  v1::CreateSandboxRequest req;
  req.set_elf(probe_);
  EXPECT_EQ(m->CreateSandbox(req).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace memmgr::worker
