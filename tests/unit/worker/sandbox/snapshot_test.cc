// Snapshots, forks and resumable execution on a real static glibc guest
// (testdata/snapshot_probe.c, which uses tests/guest/include/memmgr_guest.h):
// forks see their own index and write their own copies, the original and the
// snapshot are unchanged, forks outlive both, frames are all returned, FP
// state survives, limits hold per fork, bad inputs are refused, RunFor
// slices and parks, and forks of one snapshot are made on several threads.
#include "worker/sandbox/snapshot.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/mmu/frame_pool.h"
#include "worker/sandbox/sandbox.h"

namespace memmgr::sandbox {
namespace {

using ::testing::HasSubstr;

std::string ReadProbe() {
  std::ifstream in(MEMMGR_SNAPSHOT_PROBE, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SandboxOptions Options(const std::string& mode,
                       std::vector<std::string> extra = {}) {
  SandboxOptions o;
  o.program_path = "snapshot_probe";
  o.program = ReadProbe();
  o.argv = {"snapshot_probe", mode};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  o.memory_bytes = 64 << 20;
  return o;
}

std::unique_ptr<Sandbox> Create(SandboxOptions o, GuestIo* io,
                                std::shared_ptr<mmu::FramePool> pool = {}) {
  auto sb = Sandbox::Create(std::move(o), io, std::move(pool));
  EXPECT_TRUE(sb.ok()) << sb.status();
  return sb.ok() ? std::move(*sb) : nullptr;
}

std::shared_ptr<mmu::FramePool> MakePool(uint64_t bytes) {
  mmu::FramePool::Options o;
  o.bytes = bytes;
  auto pool = mmu::FramePool::Create(o);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::shared_ptr<mmu::FramePool>(std::move(*pool))
                   : nullptr;
}

uint64_t UsedFrames(const mmu::FramePool& pool) {
  return pool.GetStats().used_frames;
}

// Runs until the guest asks for a snapshot or the sandbox finishes; parks
// (sleeps) while it is idle, as an executor would.
RunState RunUntilEvent(Sandbox& sb, uint64_t slice = 1 << 20) {
  for (;;) {
    const RunResult r = sb.RunFor(slice);
    if (r.state == RunState::kIdle) absl::SleepFor(r.wake_in);
    if (r.state == RunState::kSnapshotRequested ||
        r.state == RunState::kFinished) {
      return r.state;
    }
  }
}

// Runs to the end, carrying on past snapshot requests.
ExitStatus RunToEnd(Sandbox& sb) {
  while (RunUntilEvent(sb) != RunState::kFinished) {
  }
  return sb.exit_status();
}

std::shared_ptr<const Snapshot> Snap(Sandbox& sb) {
  auto snap = sb.TakeSnapshot();
  EXPECT_TRUE(snap.ok()) << snap.status();
  return snap.ok() ? *snap : nullptr;
}

std::unique_ptr<Sandbox> Fork(std::shared_ptr<const Snapshot> snap, GuestIo* io,
                              uint64_t index, uint64_t count) {
  ForkOptions f;
  f.io = io;
  f.index = index;
  f.count = count;
  auto sb = Sandbox::ForkFrom(std::move(snap), std::move(f));
  EXPECT_TRUE(sb.ok()) << sb.status();
  return sb.ok() ? std::move(*sb) : nullptr;
}

std::string ForkLine(int i, int n) {
  return absl::StrFormat(
      "fork %d of %d saw 1 page %d heap %d stack %d data fork%d\n", i, n, i, i,
      i, i);
}

TEST(SnapshotTest, ProbeBinaryWasBuilt) {
  ASSERT_GT(ReadProbe().size(), 1000u) << MEMMGR_SNAPSHOT_PROBE;
}

TEST(SnapshotTest, ForksWriteTheirIndexAndTheOriginalIsUnchanged) {
  StringIo io;
  auto sb = Create(Options("index"), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  EXPECT_EQ(io.out(), "warm\n");
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(snap->guest_requested());
  EXPECT_GT(snap->resident_pages(), 0u);

  constexpr int kForks = 100;
  std::vector<std::unique_ptr<StringIo>> ios;
  std::vector<std::unique_ptr<Sandbox>> forks;
  for (int i = 1; i <= kForks; ++i) {
    ios.push_back(std::make_unique<StringIo>());
    forks.push_back(Fork(snap, ios.back().get(), i, kForks));
    ASSERT_NE(forks.back(), nullptr);
    EXPECT_EQ(forks.back()->fork_index(), static_cast<uint64_t>(i));
  }
  // All alive at once, run one after another.
  for (int i = 1; i <= kForks; ++i) {
    const ExitStatus st = RunToEnd(*forks[i - 1]);
    EXPECT_EQ(st.ShellStatus(), 0) << st.reason;
    // Nothing printed before the snapshot is repeated: the guest flushed.
    EXPECT_EQ(ios[i - 1]->out(), ForkLine(i, kForks));
  }
  // The original goes on from the same point and saw none of it.
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  EXPECT_EQ(io.out(), "warm\nparent saw 1\n");
  EXPECT_EQ(sb->fork_index(), 0u);
}

TEST(SnapshotTest, AForkOutlivesItsParentAndItsSnapshot) {
  auto io = std::make_unique<StringIo>();
  auto sb = Create(Options("index"), io.get());
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  StringIo fork_io;
  auto fork = Fork(snap, &fork_io, 7, 9);
  ASSERT_NE(fork, nullptr);
  sb.reset();
  io.reset();
  snap.reset();
  const ExitStatus st = RunToEnd(*fork);
  EXPECT_EQ(st.ShellStatus(), 0) << st.reason;
  EXPECT_EQ(fork_io.out(), ForkLine(7, 9));
}

TEST(SnapshotTest, FramesReturnToTheBaselineOnceEverythingIsGone) {
  auto pool = MakePool(64 << 20);
  ASSERT_NE(pool, nullptr);
  const uint64_t baseline = UsedFrames(*pool);
  // Destroyed in different orders: snapshot first, parent first, forks
  // first.
  for (int order = 0; order < 3; ++order) {
    StringIo io;
    auto sb = Create(Options("index"), &io, pool);
    ASSERT_NE(sb, nullptr);
    ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
    auto snap = Snap(*sb);
    ASSERT_NE(snap, nullptr);
    std::vector<std::unique_ptr<StringIo>> ios;
    std::vector<std::unique_ptr<Sandbox>> forks;
    for (int i = 1; i <= 20; ++i) {
      ios.push_back(std::make_unique<StringIo>());
      forks.push_back(Fork(snap, ios.back().get(), i, 20));
      ASSERT_NE(forks.back(), nullptr);
      // Half of them run (and copy pages), half never do.
      if (i % 2 == 0) {
        EXPECT_EQ(RunToEnd(*forks.back()).ShellStatus(), 0);
      }
    }
    EXPECT_GT(UsedFrames(*pool), baseline);
    if (order == 0) {
      snap.reset();
      sb.reset();
      forks.clear();
    } else if (order == 1) {
      sb.reset();
      forks.clear();
      snap.reset();
    } else {
      forks.clear();
      snap.reset();
      sb.reset();
    }
    EXPECT_EQ(UsedFrames(*pool), baseline) << "order " << order;
  }
}

TEST(SnapshotTest, APageSharedByAThousandForksIsCopiedOnWrite) {
  auto pool = MakePool(256 << 20);
  ASSERT_NE(pool, nullptr);
  StringIo io;
  auto sb = Create(Options("index"), &io, pool);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  const uint64_t before = UsedFrames(*pool);
  constexpr int kForks = 1000;
  std::vector<std::unique_ptr<Sandbox>> forks;
  std::vector<std::unique_ptr<StringIo>> ios;
  for (int i = 1; i <= kForks; ++i) {
    ios.push_back(std::make_unique<StringIo>());
    forks.push_back(Fork(snap, ios.back().get(), i, kForks));
    ASSERT_NE(forks.back(), nullptr);
  }
  // Forking copies no page: every resident frame is shared 1002 ways (the
  // original, the snapshot, 1000 forks). (Less than a frame per fork, not
  // zero: page tables may one day live in the pool.)
  EXPECT_LT(UsedFrames(*pool) - before, static_cast<uint64_t>(kForks));
  // Each fork writes the shared pages in turn, while the others still share
  // them, and must see the original's values first (its "saw 1").
  for (int i = 1; i <= kForks; ++i) {
    const ExitStatus st = RunToEnd(*forks[i - 1]);
    ASSERT_EQ(st.ShellStatus(), 0) << st.reason;
    ASSERT_EQ(ios[i - 1]->out(), ForkLine(i, kForks));
    forks[i - 1].reset();  // bounds host memory (decode caches)
  }
  EXPECT_EQ(UsedFrames(*pool), before);
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  EXPECT_EQ(io.out(), "warm\nparent saw 1\n");
}

TEST(SnapshotTest, FpRegistersAndFcsrSurviveIntoForks) {
  StringIo io;
  auto sb = Create(Options("fp"), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  for (int i = 1; i <= 3; ++i) {
    StringIo fork_io;
    auto fork = Fork(snap, &fork_io, i, 3);
    ASSERT_NE(fork, nullptr);
    EXPECT_EQ(RunToEnd(*fork).ShellStatus(), 0);
    // frm = 2 (RDN) in bits 7:5, fflags = NV|NX.
    EXPECT_EQ(fork_io.out(), absl::StrFormat("fp %d regs 1 fcsr 0x51\n", i));
  }
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  EXPECT_EQ(io.out(), "fp 0 regs 1 fcsr 0x51\n");
}

TEST(SnapshotTest, AHostSnapshotMidComputationResumesExactly) {
  StringIo reference;
  auto whole = Create(Options("compute"), &reference);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(RunToEnd(*whole).ShellStatus(), 0);
  ASSERT_THAT(reference.out(), HasSubstr("compute "));

  StringIo io;
  auto sb = Create(Options("compute"), &io);
  ASSERT_NE(sb, nullptr);
  for (int k = 0; k < 5; ++k) {
    ASSERT_EQ(sb->RunFor(1'000'003).state, RunState::kRunnable);
  }
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  EXPECT_FALSE(snap->guest_requested());  // a0 is left alone
  StringIo fork_io;
  auto fork = Fork(snap, &fork_io, 1, 1);
  ASSERT_NE(fork, nullptr);
  EXPECT_EQ(RunToEnd(*fork).ShellStatus(), 0);
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  EXPECT_EQ(fork_io.out(), reference.out());
  EXPECT_EQ(io.out(), reference.out());
  // The fork's stats go on from the snapshot's.
  EXPECT_EQ(fork->stats().instructions, whole->stats().instructions);
}

TEST(SnapshotTest, ForkInfoAndPerForkArgsReachTheGuest) {
  StringIo io;
  auto sb = Create(Options("info"), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  StringIo fork_io;
  ForkOptions f;
  f.io = &fork_io;
  f.index = 2;
  f.count = 3;
  f.args = {"alpha", "", std::string(40, 'x')};
  auto fork = Sandbox::ForkFrom(snap, f);
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(RunToEnd(**fork).ShellStatus(), 0);
  // A long argument is truncated by the wrapper's buffer (31 bytes + NUL)
  // and reported with its full length.
  EXPECT_EQ(fork_io.out(), "info 2 3 3 [5:alpha] [0:] [40:" +
                               std::string(31, 'x') + "] past_end -22\n");
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  EXPECT_EQ(io.out(), "start\ninfo 0 0 0 past_end -22\n");
}

TEST(SnapshotTest, ASnapshotOfAForkMakesForksOfAFork) {
  StringIo io;
  auto sb = Create(Options("twice"), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto first = Snap(*sb);
  ASSERT_NE(first, nullptr);
  StringIo io1;
  auto fork1 = Fork(first, &io1, 1, 2);
  ASSERT_NE(fork1, nullptr);
  ASSERT_EQ(RunUntilEvent(*fork1), RunState::kSnapshotRequested);
  auto second = Snap(*fork1);
  ASSERT_NE(second, nullptr);
  StringIo io13;
  auto fork13 = Fork(second, &io13, 3, 5);
  ASSERT_NE(fork13, nullptr);
  EXPECT_EQ(RunToEnd(*fork13).ShellStatus(), 0);
  EXPECT_EQ(io13.out(), "first 1 second 3\n");
  // Not snapshotting at a request: the guest carries on with its own index.
  EXPECT_EQ(RunToEnd(*fork1).ShellStatus(), 0);
  EXPECT_EQ(io1.out(), "first 1 second 1\n");
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  EXPECT_EQ(io.out(), "first 0 second 0\n");
}

TEST(SnapshotTest, SeededForksDrawDifferentButReproducibleRandomness) {
  SandboxOptions o = Options("random");
  o.deterministic_random = true;
  o.random_seed = 42;
  StringIo io;
  auto sb = Create(std::move(o), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  std::string out[3];
  for (int k = 0; k < 3; ++k) {
    StringIo fork_io;
    auto fork = Fork(snap, &fork_io, k == 2 ? 2 : 1, 2);
    ASSERT_NE(fork, nullptr);
    EXPECT_EQ(RunToEnd(*fork).ShellStatus(), 0);
    out[k] = fork_io.out();
    EXPECT_EQ(out[k].size(), 17u);
  }
  EXPECT_EQ(out[0], out[1]);  // same seed, same index
  EXPECT_NE(out[0], out[2]);  // another index
}

TEST(SnapshotTest, MemoryLimitKillsOnlyTheForkThatExceedsIt) {
  auto pool = MakePool(256 << 20);
  ASSERT_NE(pool, nullptr);
  const uint64_t baseline = UsedFrames(*pool);
  SandboxOptions o = Options("hog", {"2"});
  o.memory_bytes = 32 << 20;  // per fork; the pool has 256 MiB
  StringIo io;
  auto sb = Create(std::move(o), &io, pool);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  constexpr int kForks = 4;
  std::vector<std::unique_ptr<StringIo>> ios;
  std::vector<std::unique_ptr<Sandbox>> forks;
  for (int i = 1; i <= kForks; ++i) {
    ios.push_back(std::make_unique<StringIo>());
    forks.push_back(Fork(snap, ios.back().get(), i, kForks));
    ASSERT_NE(forks.back(), nullptr);
  }
  // Interleaved in small slices, as an executor would run them.
  for (bool all_done = false; !all_done;) {
    all_done = true;
    for (auto& f : forks) {
      if (f->RunFor(50'000).state != RunState::kFinished) all_done = false;
    }
  }
  for (int i = 1; i <= kForks; ++i) {
    const ExitStatus& st = forks[i - 1]->exit_status();
    if (i == 2) {
      EXPECT_EQ(st.ShellStatus(), 137);
      EXPECT_THAT(st.reason, HasSubstr("out of memory"));
      EXPECT_EQ(ios[i - 1]->out(), "");
    } else {
      EXPECT_EQ(st.ShellStatus(), 0) << i << ": " << st.reason;
      EXPECT_EQ(ios[i - 1]->out(), absl::StrFormat("ok %d\n", i));
    }
  }
  forks.clear();
  snap.reset();
  sb.reset();
  EXPECT_EQ(UsedFrames(*pool), baseline);
}

TEST(SnapshotTest, AForkCanHaveAMemoryBudgetOfItsOwn) {
  auto pool = MakePool(256 << 20);  // a worker's memory
  ASSERT_NE(pool, nullptr);
  SandboxOptions o = Options("hog", {"2"});
  o.memory_bytes = 32 << 20;
  StringIo io;
  auto sb = Create(std::move(o), &io, pool);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  const uint64_t before = sb->memory_usage_pages();
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(sb->memory_usage_pages(), before)
      << "the snapshot is not charged to the sandbox it came from";

  // Fork 2 hogs 64 MiB, more than 32 MiB: with a 128 MiB budget of its
  // own it survives (the probe then exits 6 instead of being killed).
  StringIo big_io;
  ForkOptions f;
  f.io = &big_io;
  f.index = 2;
  f.count = 2;
  f.memory_bytes = 128 << 20;
  auto big = Sandbox::ForkFrom(snap, f);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ((*big)->memory_limit_pages(), (128u << 20) / 4096);
  EXPECT_GE((*big)->memory_usage_pages(), snap->resident_pages())
      << "a fork starts charged with what the snapshot maps";
  EXPECT_EQ(RunToEnd(**big).ShellStatus(), 6) << (*big)->exit_status().reason;

  // A budget smaller than what the snapshot already maps cannot work.
  f.memory_bytes = (snap->resident_pages() / 2) * 4096;
  if (*f.memory_bytes >= (1 << 20)) {
    auto small = Sandbox::ForkFrom(snap, f);
    EXPECT_EQ(small.status().code(), absl::StatusCode::kResourceExhausted)
        << small.status();
  }
  f.memory_bytes = 4096;
  EXPECT_EQ(Sandbox::ForkFrom(snap, f).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SnapshotTest, SnapshotOfAFinishedSandboxIsFailedPrecondition) {
  StringIo io;
  auto sb = Create(Options("plain"), &io);
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  EXPECT_EQ(io.out(), "plain\n");
  auto snap = sb->TakeSnapshot();
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(snap.status().message()), HasSubstr("finished"));
}

TEST(SnapshotTest, SnapshotWithAPipeOrAChildIsFailedPrecondition) {
  for (const char* mode : {"pipe", "child"}) {
    StringIo io;
    auto sb = Create(Options(mode), &io);
    ASSERT_NE(sb, nullptr);
    ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested) << mode;
    auto snap = sb->TakeSnapshot();
    EXPECT_EQ(snap.status().code(), absl::StatusCode::kFailedPrecondition)
        << mode;
    EXPECT_THAT(std::string(snap.status().message()),
                HasSubstr(std::string(mode) == "pipe" ? "pipe" : "processes"));
    // Refusing changes nothing: the guest goes on (index 0).
    if (std::string(mode) == "pipe") {
      EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
      EXPECT_EQ(io.out(), "pipe 0\n");
    }
  }
}

TEST(SnapshotTest, BadForkOptionsAreInvalidArgument) {
  StringIo io;
  auto sb = Create(Options("index"), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  StringIo fork_io;
  auto good = [&] {
    ForkOptions f;
    f.io = &fork_io;
    f.index = 1;
    f.count = 1;
    return f;
  };
  auto code = [&](std::shared_ptr<const Snapshot> s, ForkOptions f) {
    return Sandbox::ForkFrom(std::move(s), std::move(f)).status().code();
  };
  EXPECT_EQ(code(nullptr, good()), absl::StatusCode::kInvalidArgument);
  ForkOptions f = good();
  f.io = nullptr;
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  f = good();
  f.count = 0;
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  f = good();
  f.count = Sandbox::kMaxForkCount + 1;
  f.index = 1;
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  f = good();
  f.index = 0;
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  f = good();
  f.index = 2;
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  f = good();
  f.args.assign(Sandbox::kMaxForkArgs + 1, "a");
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  f = good();
  f.args = {std::string(Sandbox::kMaxForkArgBytes + 1, 'a')};
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  f = good();
  f.timeout = absl::Seconds(-1);
  EXPECT_EQ(code(snap, f), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(snap, good()), absl::StatusCode::kOk);
}

TEST(SnapshotTest, AForksLimitsCountFromTheForkPoint) {
  StringIo io;
  auto sb = Create(Options("spin"), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  const uint64_t at_snapshot = snap->stats().instructions;
  ASSERT_GT(at_snapshot, 0u);
  StringIo fork_io;
  ForkOptions f;
  f.io = &fork_io;
  f.limit_instructions = 500'000;
  auto fork = Sandbox::ForkFrom(snap, f);
  ASSERT_TRUE(fork.ok()) << fork.status();
  const ExitStatus st = RunToEnd(**fork);
  EXPECT_EQ(st.kind, ExitKind::kLimit);
  EXPECT_THAT(st.reason, HasSubstr("instruction limit"));
  const uint64_t ran = (*fork)->stats().instructions - at_snapshot;
  EXPECT_GE(ran, 500'000u);
  EXPECT_LE(ran, 500'000u + 2048);
}

// ---- RunFor ----

TEST(RunForTest, StopsAfterItsBudget) {
  StringIo io;
  auto sb = Create(Options("compute"), &io);
  ASSERT_NE(sb, nullptr);
  uint64_t total = 0;
  for (uint64_t budget : {100'000u, 1u, 0u, 12'345u}) {
    const RunResult r = sb->RunFor(budget);
    EXPECT_EQ(r.state, RunState::kRunnable);
    const uint64_t now = sb->stats().instructions;
    // At least one instruction per call; overshoot only by one straight-line
    // run inside a page.
    EXPECT_GT(now, total);
    EXPECT_LE(now - total, std::max<uint64_t>(budget, 1) + 2048);
    total = now;
  }
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
}

TEST(RunForTest, ReturnsIdleWithTheWakeUpTimeInsteadOfSpinning) {
  StringIo io;
  auto sb = Create(Options("sleep"), &io);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  RunResult r = sb->RunFor(1 << 20);
  ASSERT_EQ(r.state, RunState::kIdle);
  // sleep(10): a correctness bound, not a speed one.
  EXPECT_GT(r.wake_in, absl::Seconds(5));
  EXPECT_LE(r.wake_in, absl::Seconds(10));
  const uint64_t instructions = sb->stats().instructions;
  r = sb->RunFor(1 << 20);
  EXPECT_EQ(r.state, RunState::kIdle);
  EXPECT_EQ(sb->stats().instructions, instructions);  // nothing ran

  // A snapshot of a sleeping guest: the fork sleeps what was left.
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  StringIo fork_io;
  auto fork = Fork(snap, &fork_io, 1, 1);
  ASSERT_NE(fork, nullptr);
  r = fork->RunFor(1 << 20);
  EXPECT_EQ(r.state, RunState::kIdle);
  EXPECT_GT(r.wake_in, absl::Seconds(5));
}

TEST(RunForTest, TimeoutHoldsAcrossSlicesAndIdlePeriods) {
  SandboxOptions o = Options("sleep");
  o.timeout = absl::Milliseconds(200);
  StringIo io;
  auto sb = Create(std::move(o), &io);
  ASSERT_NE(sb, nullptr);
  for (;;) {
    const RunResult r = sb->RunFor(1000);
    if (r.state == RunState::kFinished) break;
    if (r.state == RunState::kIdle) {
      // Parked until the timeout at the latest, never until the wake-up.
      EXPECT_LE(r.wake_in, absl::Milliseconds(201));
      absl::SleepFor(r.wake_in);
    }
  }
  EXPECT_EQ(sb->exit_status().kind, ExitKind::kLimit);
  EXPECT_THAT(sb->exit_status().reason, HasSubstr("timeout"));
  EXPECT_EQ(io.out(), "");
}

TEST(RunForTest, InstructionLimitHoldsAcrossSmallSlices) {
  SandboxOptions o = Options("spin");
  o.limit_instructions = 1'000'000;
  StringIo io;
  auto sb = Create(std::move(o), &io);
  ASSERT_NE(sb, nullptr);
  int calls = 0;
  while (sb->RunFor(7777).state != RunState::kFinished) ++calls;
  EXPECT_GT(calls, 100);
  EXPECT_EQ(sb->exit_status().ShellStatus(), 128 + 24);
  EXPECT_LE(sb->stats().instructions, 1'000'000u + 2048);
  // Finished stays finished.
  EXPECT_EQ(sb->RunFor(1000).state, RunState::kFinished);
}

// ---- threads ----

TEST(SnapshotThreadsTest, ForksOfOneSnapshotAreMadeAndRunOnManyThreads) {
  auto pool = MakePool(256 << 20);
  ASSERT_NE(pool, nullptr);
  const uint64_t baseline = UsedFrames(*pool);
  StringIo io;
  auto sb = Create(Options("index"), &io, pool);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(RunUntilEvent(*sb), RunState::kSnapshotRequested);
  auto snap = Snap(*sb);
  ASSERT_NE(snap, nullptr);
  constexpr int kThreads = 4, kPerThread = 10, kForks = kThreads * kPerThread;
  std::vector<std::string> outs(kForks + 1);
  std::vector<int> statuses(kForks + 1, -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        const int i = 1 + t * kPerThread + k;
        StringIo fork_io;
        ForkOptions f;
        f.io = &fork_io;
        f.index = i;
        f.count = kForks;
        auto fork = Sandbox::ForkFrom(snap, f);
        if (!fork.ok()) continue;
        statuses[i] = RunToEnd(**fork).ShellStatus();
        outs[i] = fork_io.out();
      }
    });
  }
  // Meanwhile the original runs on this thread, sharing the frames.
  EXPECT_EQ(RunToEnd(*sb).ShellStatus(), 0);
  for (std::thread& t : threads) t.join();
  for (int i = 1; i <= kForks; ++i) {
    EXPECT_EQ(statuses[i], 0) << i;
    EXPECT_EQ(outs[i], ForkLine(i, kForks));
  }
  EXPECT_EQ(io.out(), "warm\nparent saw 1\n");
  snap.reset();
  sb.reset();
  EXPECT_EQ(UsedFrames(*pool), baseline);
}

}  // namespace
}  // namespace memmgr::sandbox
