// The sandbox on a real static glibc guest (testdata/sandbox_probe.c,
// cross-compiled by the build): every limit, the stdio seam, passed-in
// files, pipes (deadlock, SIGPIPE), bad pointers, unknown syscalls,
// reproducible randomness, and bad options/programs at Create().
#include "worker/sandbox/sandbox.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace memmgr::sandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadProbe() {
  std::ifstream in(MEMMGR_SANDBOX_PROBE, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every test runs interpreted and with the JIT (SandboxOptions::jit): the
// fixture sets this for Options().
bool g_jit = false;

class SandboxTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { g_jit = GetParam(); }
  void TearDown() override { g_jit = false; }
};

SandboxOptions Options(const std::string& mode) {
  SandboxOptions o;
  o.jit = g_jit;
  o.program_path = "sandbox_probe";
  o.program = ReadProbe();
  o.argv = {"sandbox_probe", mode};
  o.memory_bytes = 64 << 20;
  return o;
}

struct Result {
  ExitStatus status;
  SandboxStats stats;
  std::string out, err;
};

Result RunGuest(SandboxOptions o, std::string input = "") {
  StringIo io(std::move(input));
  auto sb = Sandbox::Create(std::move(o), &io);
  EXPECT_TRUE(sb.ok()) << sb.status();
  Result r;
  if (!sb.ok()) return r;
  r.status = (*sb)->Run();
  r.stats = (*sb)->stats();
  r.out = io.out();
  r.err = io.err();
  return r;
}

TEST_P(SandboxTest, ProbeBinaryWasBuilt) {
  ASSERT_GT(ReadProbe().size(), 1000u) << MEMMGR_SANDBOX_PROBE;
}

TEST_P(SandboxTest, OutputLimitStopsWithSigxfszAndExactBytes) {
  SandboxOptions o = Options("spew");
  o.limit_output_bytes = 10000;
  const Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.kind, ExitKind::kLimit);
  EXPECT_EQ(r.status.ShellStatus(), 128 + 25);
  EXPECT_THAT(r.status.reason, HasSubstr("output limit"));
  EXPECT_EQ(r.out.size(), 10000u);
}

TEST_P(SandboxTest, InstructionLimitStopsARunawayGuest) {
  SandboxOptions o = Options("spin");
  o.limit_instructions = 5'000'000;
  const Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.kind, ExitKind::kLimit);
  EXPECT_EQ(r.status.ShellStatus(), 128 + 24);
  EXPECT_THAT(r.status.reason, HasSubstr("instruction limit"));
  EXPECT_GE(r.stats.instructions, 5'000'000u);
  EXPECT_LE(r.stats.instructions, 5'000'000u + 2048);
}

TEST_P(SandboxTest, InstructionLimitHoldsWhenEverySliceEndsInASyscall) {
  // Regression: the limit was only checked when a slice ran out, and the
  // remaining budget could wrap around after an overshoot.
  for (uint64_t limit : {1'000'000u, 1'000'003u, 1'000'007u}) {
    SandboxOptions o = Options("syscalls");
    o.limit_instructions = limit;
    const Result r = RunGuest(std::move(o));
    EXPECT_EQ(r.status.kind, ExitKind::kLimit) << limit;
    EXPECT_LE(r.stats.instructions, limit + 2048);
  }
}

TEST_P(SandboxTest, SchedGetcpuWorks) {
  const Result r = RunGuest(Options("cpu"));
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "cpu 0\n");
  EXPECT_TRUE(r.stats.unknown_syscalls.empty());
}

TEST_P(SandboxTest, RseqRegistersOnceAndFillsInTheCpu) {
  // A short area is EINVAL; registering writes cpu_id_start/cpu_id (0);
  // the same area again is EBUSY (sig 0 matches), another one EINVAL.
  const Result r = RunGuest(Options("rseq"));
  EXPECT_EQ(r.out, "bad_len -22 register 0 cpu 0 0 again -16 other -22\n");
}

TEST_P(SandboxTest, AbortKillsWithSigabrt) {
  const Result r = RunGuest(Options("abort"));
  EXPECT_EQ(r.status.kind, ExitKind::kSignaled);
  EXPECT_EQ(r.status.ShellStatus(), 128 + 6);
}

TEST_P(SandboxTest, CodeRewrittenAndFlushedWithClearCacheRuns) {
  const Result r = RunGuest(Options("selfmod"));
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "selfmod 1 2\n");
}

TEST_P(SandboxTest, TimeoutStopsASleepingGuestPromptly) {
  SandboxOptions o = Options("sleep");
  o.timeout = absl::Milliseconds(200);
  const absl::Time t0 = absl::Now();
  const Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.kind, ExitKind::kLimit);
  EXPECT_THAT(r.status.reason, HasSubstr("timeout"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

TEST_P(SandboxTest, MemoryLimitKillsWithSigkill) {
  SandboxOptions o = Options("hog");
  o.memory_bytes = 16 << 20;
  const Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.kind, ExitKind::kSignaled);
  EXPECT_EQ(r.status.ShellStatus(), 137);
  EXPECT_THAT(r.status.reason, HasSubstr("out of memory"));
}

TEST_P(SandboxTest, ProcessesShareOneMemoryBudget) {
  // A child holds 12 MiB while the parent touches 12 MiB more: over a
  // 16 MiB sandbox together, though each process alone is under it.
  SandboxOptions o = Options("forkhog");
  o.memory_bytes = 16 << 20;
  Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.ShellStatus(), 137) << r.status.reason;
  EXPECT_THAT(r.status.reason, HasSubstr("out of memory"));
  o = Options("forkhog");
  o.memory_bytes = 40 << 20;
  r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "both hold 12 MiB\n");
}

TEST_P(SandboxTest, OneRequestLargerThanTheMemoryFailsWithEnomem) {
  // Like Linux's overcommit heuristic: no single writable mapping (or brk)
  // larger than the sandbox's memory; malloc sees ENOMEM, nothing dies.
  SandboxOptions o = Options("bigalloc");
  o.memory_bytes = 16 << 20;
  const Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "malloc null errno 12\n");
}

TEST_P(SandboxTest, OnlyPassedInFilesCanBeOpened) {
  SandboxOptions o = Options("file");
  o.files["/data/in.txt"] = "hello file";
  const Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "read 10: hello file|other -1 errno 2\n");
}

TEST_P(SandboxTest, ReadingAPipeNobodyCanWriteIsADeadlock) {
  const Result r = RunGuest(Options("deadlock"));
  EXPECT_EQ(r.status.kind, ExitKind::kSignaled);
  EXPECT_THAT(r.status.reason, HasSubstr("deadlock"));
}

TEST_P(SandboxTest, WritingAPipeWithoutReaderIsSigpipeUnlessIgnored) {
  Result r = RunGuest(Options("sigpipe"));
  EXPECT_EQ(r.status.ShellStatus(), 128 + 13);
  EXPECT_THAT(r.status.reason, HasSubstr("SIGPIPE"));

  SandboxOptions o = Options("sigpipe");
  o.argv.push_back("ignore");
  r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.ShellStatus(), 0);
  EXPECT_EQ(r.out, "write -1 errno 32\n");  // EPIPE
}

TEST_P(SandboxTest, BadPointersAreEfaultAndUnknownSyscallsEnosys) {
  // Input is waiting, so read() really copies (at EOF Linux returns 0
  // without touching the buffer, and so do we).
  const Result r = RunGuest(Options("badptr"), "input");
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "write -14 read -14 unknown -38 munmap -22\n");
  EXPECT_EQ(r.stats.unknown_syscalls.at(999), 1u);
}

TEST_P(SandboxTest, SeededRandomnessIsReproducible) {
  SandboxOptions a = Options("random");
  a.deterministic_random = true;
  a.random_seed = 42;
  SandboxOptions b = a;
  const Result ra = RunGuest(std::move(a));
  const Result rb = RunGuest(std::move(b));
  EXPECT_EQ(ra.out, rb.out);
  EXPECT_EQ(ra.out.size(), 17u);
  SandboxOptions c = Options("random");
  c.deterministic_random = true;
  c.random_seed = 43;
  EXPECT_NE(RunGuest(std::move(c)).out, ra.out);
}

TEST_P(SandboxTest, ASleepingProcessDoesNotStallTheOthers) {
  // The child sleeps 30 s; the parent computes (tens of millions of
  // instructions across many slices, well under a second optimised, a few
  // seconds in an unoptimised sanitizer build) and exits without waiting,
  // which ends the sandbox. Sleeping the whole sandbox on the child's
  // nanosleep would take at least 30 s; the 15 s bound is a correctness
  // check with a wide margin, not a speed target.
  const absl::Time t0 = absl::Now();
  const Result r = RunGuest(Options("sleeper"));
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "child still asleep 1\n");
  EXPECT_LT(absl::Now() - t0, absl::Seconds(15));
}

TEST_P(SandboxTest, ZombiesCountTowardsTheProcessLimit) {
  SandboxOptions o = Options("forkbomb");
  o.max_processes = 8;
  const Result r = RunGuest(std::move(o));
  EXPECT_EQ(r.status.ShellStatus(), 0) << r.status.reason;
  EXPECT_EQ(r.out, "forked 7 then EAGAIN\n");
  EXPECT_EQ(r.stats.processes, 8u);
}

TEST_P(SandboxTest, StdinComesThroughTheIoSeam) {
  const Result r = RunGuest(Options("stdin"), "line one\nline two\n");
  EXPECT_EQ(r.out, "line one\nline two\n");
}

// Mutated copies of a real program: flipped bytes in the headers, the code
// and the data. Each must end with a status (loader error, signal, limit or
// exit) — never a host crash, a hang or a sanitizer report (CI runs this
// under ASan+UBSan).
TEST_P(SandboxTest, MutatedProgramsAlwaysEndCleanly) {
  const std::string original = ReadProbe();
  ASSERT_GT(original.size(), 4096u);
  uint64_t rng = 0x243f6a8885a308d3ull;
  auto next = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  int loaded = 0, rejected = 0;
  for (int round = 0; round < 400; ++round) {
    SandboxOptions o = Options(round % 2 ? "badptr" : "file");
    std::string& bytes = o.program;
    const int flips = 1 + static_cast<int>(next() % 16);
    for (int i = 0; i < flips; ++i) {
      // Half of the flips land in the first 4 KiB (ELF and program
      // headers, start-up code), the rest anywhere.
      const size_t span = (next() & 1) ? 4096 : bytes.size();
      bytes[next() % span] ^= static_cast<char>(1 + next() % 255);
    }
    o.limit_instructions = 2'000'000;
    o.limit_output_bytes = 1 << 16;
    o.timeout = absl::Seconds(1);  // a mutant may sleep
    o.memory_bytes = 32 << 20;
    StringIo io;
    auto sb = Sandbox::Create(std::move(o), &io);
    if (!sb.ok()) {
      ++rejected;
      EXPECT_FALSE(sb.status().message().empty());
      continue;
    }
    ++loaded;
    const ExitStatus st = (*sb)->Run();
    if (st.kind != ExitKind::kExited) {
      EXPECT_FALSE(st.reason.empty()) << "round " << round;
    }
    EXPECT_LE(io.out().size() + io.err().size(), size_t{1} << 16);
  }
  // Both paths were exercised.
  EXPECT_GT(loaded, 0);
  EXPECT_GT(rejected, 0);
}

TEST_P(SandboxTest, CreateRejectsBadProgramsAndOptions) {
  StringIo io;
  SandboxOptions o = Options("x");
  o.program = "not an elf";
  auto sb = Sandbox::Create(std::move(o), &io);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sb.status().message()),
              StartsWith("sandbox_probe: "));

  o = Options("x");
  o.memory_bytes = 4096;
  EXPECT_EQ(Sandbox::Create(std::move(o), &io).status().code(),
            absl::StatusCode::kInvalidArgument);

  o = Options("x");
  o.argv.clear();
  EXPECT_EQ(Sandbox::Create(std::move(o), &io).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sandbox::Create(Options("x"), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Modes, SandboxTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Jit" : "Interpreted";
                         });

}  // namespace
}  // namespace memmgr::sandbox
