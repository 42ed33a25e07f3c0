// memmgr-worker run as users call it: exit statuses for every kind of
// failure (usage 125, not runnable 126, not found 127, the guest's own
// status, 128+signal), guest argv passed verbatim, --stats, --forks.
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace memmgr {
namespace {

using ::memmgr::testing::RunCommand;
using ::testing::HasSubstr;
using ::testing::Not;

int RunWorker(const std::vector<std::string>& args, std::string* out,
              std::string* err) {
  std::vector<std::string> argv = {MEMMGR_WORKER_BIN, "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, out, err);
}

TEST(MemmgrWorkerCliTest, UsageErrorsExit125) {
  std::string out, err;
  EXPECT_EQ(RunWorker({}, &out, &err), 125);
  EXPECT_THAT(err, HasSubstr("no program given"));
  EXPECT_EQ(RunWorker({"-"}, &out, &err), 125);
  EXPECT_EQ(RunWorker({"---x", MEMMGR_SANDBOX_PROBE}, &out, &err), 125);
  EXPECT_EQ(RunWorker({"--bogus", MEMMGR_SANDBOX_PROBE}, &out, &err), 125);
  EXPECT_THAT(err, HasSubstr("unknown flag --bogus"));
  EXPECT_EQ(RunWorker({"--memory=abc", MEMMGR_SANDBOX_PROBE}, &out, &err), 125);
  EXPECT_THAT(err, HasSubstr("--memory=abc"));
  EXPECT_EQ(RunWorker({"--memory=512K", MEMMGR_SANDBOX_PROBE}, &out, &err),
            125);
  EXPECT_THAT(err, HasSubstr("too small"));
  EXPECT_EQ(RunWorker({"--max_processes=0", MEMMGR_SANDBOX_PROBE}, &out, &err),
            125);
  EXPECT_EQ(RunWorker({"--env=NOEQUALS", MEMMGR_SANDBOX_PROBE}, &out, &err),
            125);
  EXPECT_EQ(RunWorker({"--timeout"}, &out, &err), 125);  // needs a value
}

TEST(MemmgrWorkerCliTest, MissingAndUnrunnableProgramsExit127And126) {
  testing::TempDir dir;
  std::string out, err;
  EXPECT_EQ(RunWorker({dir.path() + "/nope"}, &out, &err), 127);
  const std::string text = dir.path() + "/text";
  std::ofstream(text) << "#!/bin/sh\necho not an ELF\n";
  EXPECT_EQ(RunWorker({text}, &out, &err), 126);
  EXPECT_THAT(err, HasSubstr("ELF"));
}

TEST(MemmgrWorkerCliTest, GuestArgvIsPassedVerbatimEvenIfItLooksLikeFlags) {
  std::string out, err;
  // The probe does not know the mode "--memory=1" and says so (exit 2).
  EXPECT_EQ(RunWorker({"--memory", "64M", MEMMGR_SANDBOX_PROBE, "--memory=1"},
                      &out, &err),
            2);
  EXPECT_THAT(err, HasSubstr("unknown mode '--memory=1'"));
}

TEST(MemmgrWorkerCliTest, StatusesAndStats) {
  std::string out, err;
  EXPECT_EQ(RunWorker({"--stats", MEMMGR_SANDBOX_PROBE, "badptr"}, &out, &err),
            0);
  EXPECT_EQ(out, "write -14 read -14 unknown -38 munmap -22\n");
  EXPECT_THAT(err, HasSubstr("MIPS"));
  EXPECT_THAT(err, HasSubstr("tlb hit rate"));
  EXPECT_THAT(err, HasSubstr("peak frames"));
  EXPECT_THAT(err, HasSubstr("999×1"));  // the unknown syscall, counted

  EXPECT_EQ(
      RunWorker({"--limit_instructions=100000", MEMMGR_SANDBOX_PROBE, "spin"},
                &out, &err),
      128 + 24);
  EXPECT_THAT(err, HasSubstr("instruction limit"));
  // Without swap, --memory is a hard limit.
  EXPECT_EQ(
      RunWorker({"--memory=16M", "--swap=none", MEMMGR_SANDBOX_PROBE, "hog"},
                &out, &err),
      137);
  EXPECT_THAT(err, HasSubstr("out of memory"));
  // With the default (embedded) swap the same guest overcommits and ends
  // normally; --stats shows the reclaim it took.
  EXPECT_EQ(RunWorker({"--memory=16M", "--stats", MEMMGR_SANDBOX_PROBE, "hog"},
                      &out, &err),
            0)
      << err;
  EXPECT_THAT(err, HasSubstr("swap          out"));
  EXPECT_THAT(err, Not(HasSubstr("out 0 pages")));
  EXPECT_EQ(RunWorker({MEMMGR_SANDBOX_PROBE, "abort"}, &out, &err), 134);
}

TEST(MemmgrWorkerCliTest, ForksRunFromTheGuestsSnapshotInOrder) {
  std::string out, err;
  EXPECT_EQ(
      RunWorker({"--forks=3", MEMMGR_SNAPSHOT_PROBE, "index"}, &out, &err), 0)
      << err;
  // The warm-up once, then each fork's output in fork order; the original
  // does not run past the snapshot.
  EXPECT_EQ(out,
            "warm\n"
            "fork 1 of 3 saw 1 page 1 heap 1 stack 1 data fork1\n"
            "fork 2 of 3 saw 1 page 2 heap 2 stack 2 data fork2\n"
            "fork 3 of 3 saw 1 page 3 heap 3 stack 3 data fork3\n");
  EXPECT_EQ(err, "");

  // Without --forks the request is ignored and the original goes on.
  EXPECT_EQ(RunWorker({MEMMGR_SNAPSHOT_PROBE, "index"}, &out, &err), 0);
  EXPECT_EQ(out, "warm\nparent saw 1\n");

  EXPECT_EQ(
      RunWorker({"--forks", "2", "--stats", MEMMGR_SNAPSHOT_PROBE, "index"},
                &out, &err),
      0);
  EXPECT_THAT(err, HasSubstr("memmgr-worker stats (original):"));
  EXPECT_THAT(err, HasSubstr("memmgr-worker forks:"));
  EXPECT_THAT(err, HasSubstr("2 of one snapshot"));
}

TEST(MemmgrWorkerCliTest, ForksExitWithTheFirstFailingForksStatus) {
  std::string out, err;
  // Fork 2 touches 64 MiB: killed by its memory limit; the others run.
  EXPECT_EQ(RunWorker({"--memory=32M", "--swap=none", "--forks=4",
                       MEMMGR_SNAPSHOT_PROBE, "hog", "2"},
                      &out, &err),
            137);
  EXPECT_EQ(out, "ok 1\nok 3\nok 4\n");
  EXPECT_THAT(err, HasSubstr("fork 2: killed by SIGKILL: out of memory"));
  // With swap (the default) fork 2 gets its 64 MiB through the 32 MiB pool
  // and ends with the probe's "not killed" status, 6.
  EXPECT_EQ(RunWorker({"--memory=32M", "--forks=4", MEMMGR_SNAPSHOT_PROBE,
                       "hog", "2"},
                      &out, &err),
            6)
      << err;
  EXPECT_EQ(out, "ok 1\nok 3\nok 4\n");
}

TEST(MemmgrWorkerCliTest, ForksOfAGuestThatCannotBeForkedExit125) {
  std::string out, err;
  EXPECT_EQ(
      RunWorker({"--forks=2", MEMMGR_SNAPSHOT_PROBE, "plain"}, &out, &err),
      125);
  EXPECT_EQ(out, "plain\n");  // it ran to its end first
  EXPECT_THAT(err, HasSubstr("without asking for a snapshot"));
  EXPECT_EQ(RunWorker({"--forks=2", MEMMGR_SNAPSHOT_PROBE, "pipe"}, &out, &err),
            125);
  EXPECT_THAT(err, HasSubstr("is a pipe"));
  EXPECT_EQ(out, "");

  for (const char* bad : {"--forks=-1", "--forks=65537", "--forks=x"}) {
    EXPECT_EQ(RunWorker({bad, MEMMGR_SNAPSHOT_PROBE, "index"}, &out, &err), 125)
        << bad;
    EXPECT_THAT(err, HasSubstr("--forks=")) << bad;
    EXPECT_EQ(out, "") << bad;
  }
}

}  // namespace
}  // namespace memmgr
