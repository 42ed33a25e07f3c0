// `memmgr-worker run` overcommitted 3x, swapping to the embedded store and
// to a real memmgr-server on loopback — including a server killed with
// SIGKILL and restarted mid-run. The guest (overcommit.c) prints checksums
// of every pass; the output must equal the run with enough frames, and the
// server's slots must all be free afterwards.
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace memmgr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;
using testing::ServerProcess;
using testing::TempDir;

const char kGuest[] = MEMMGR_GUEST_DIR "/overcommit";
// 24 MiB of data through an 8 MiB frame pool.
const char kMiB[] = "24";
const char kPool[] = "--memory=8M";

int RunGuest(const std::vector<std::string>& flags, std::string* out,
             std::string* err) {
  std::vector<std::string> argv = {MEMMGR_WORKER_BIN, "run", "--stats"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(kGuest);
  argv.push_back(kMiB);
  return RunCommand(argv, out, err);
}

// The reference: enough frames, no swap at all.
const std::string& Expected() {
  static const std::string* expected = [] {
    auto* s = new std::string;
    std::string err;
    EXPECT_EQ(RunGuest({"--memory=128M", "--swap=none"}, s, &err), 0) << err;
    EXPECT_THAT(*s, HasSubstr("parent    unchanged"));
    return s;
  }();
  return *expected;
}

uint64_t SlotsUsed(const std::string& address) {
  ClientOptions o;
  o.target = address;
  auto client = Client::Create(o);
  EXPECT_TRUE(client.ok()) << client.status();
  auto stats = (*client)->GetStats();
  EXPECT_TRUE(stats.ok()) << stats.status();
  return stats.ok() ? stats->slots_used() : ~uint64_t{0};
}

// Polls the server (bounded: 60 s) until the worker running the guest
// holds more than 500 slots there; false if it never did or ended first
// (*status >= 0).
bool WaitUntilSwapping(const std::string& address,
                       const std::atomic<int>& status) {
  ClientOptions o;
  o.target = address;
  o.max_attempts = 1;
  auto client = Client::Create(o);
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return false;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && status.load() < 0) {
    auto stats = (*client)->GetStats();
    if (stats.ok() && stats->slots_used() > 500) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

TEST(WorkerSwapTest, EmbeddedSwapGivesTheSameOutput) {
  TempDir dir;
  std::string out, err;
  ASSERT_EQ(RunGuest({kPool, "--swap_dir=" + dir.path() + "/swap"}, &out, &err),
            0)
      << err;
  EXPECT_EQ(out, Expected());
  EXPECT_THAT(err, Not(HasSubstr("swap          out 0 pages")));
  EXPECT_THAT(err, HasSubstr("0 I/O errors"));
}

TEST(WorkerSwapTest, RemoteSwapGivesTheSameOutputAndFreesEverySlot) {
  TempDir dir;
  auto server = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.path() + "/data");
  ASSERT_TRUE(server.ok()) << server.status();
  std::string out, err;
  ASSERT_EQ(RunGuest({kPool, "--server=" + (*server)->address()}, &out, &err),
            0)
      << err;
  EXPECT_EQ(out, Expected());
  EXPECT_THAT(err, Not(HasSubstr("swap          out 0 pages")));
  EXPECT_EQ(SlotsUsed((*server)->address()), 0u);
}

TEST(WorkerSwapTest, ServerKilledAndRestartedMidRunLosesNothing) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  auto server = ServerProcess::Start(MEMMGR_SERVER_BIN, data);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  const int port = (*server)->port();

  std::string out, err;
  std::atomic<int> status{-1};
  std::thread worker([&] {
    status = RunGuest({kPool, "--server=" + address}, &out, &err);
  });

  // Wait until the worker has pages on the server, then kill it.
  const bool swapping = WaitUntilSwapping(address, status);
  ASSERT_TRUE(swapping) << "the worker never swapped";
  (*server)->Signal(SIGKILL);
  (*server)->Wait();
  absl::SleepFor(absl::Milliseconds(500));  // the worker retries meanwhile
  const std::vector<std::string> same_port = {"--listen=127.0.0.1:" +
                                              std::to_string(port)};
  auto restarted = ServerProcess::Start(MEMMGR_SERVER_BIN, data, same_port);
  // Another process may have taken the port meanwhile (EADDRINUSE): retry.
  for (int i = 0; !restarted.ok() && i < 30; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    restarted = ServerProcess::Start(MEMMGR_SERVER_BIN, data, same_port);
  }
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  ASSERT_EQ((*restarted)->port(), port);

  worker.join();
  ASSERT_EQ(status.load(), 0) << err;
  EXPECT_EQ(out, Expected());
  EXPECT_EQ(SlotsUsed(address), 0u);
}

TEST(WorkerSwapTest, AServerThatNeverComesBackStopsTheGuestClearly) {
  TempDir dir;
  auto server = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.path() + "/data");
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  std::string out, err;
  std::atomic<int> status{-1};
  std::thread worker([&] {
    status = RunGuest({kPool, "--server=" + address, "--swap_retry_for=2s"},
                      &out, &err);
  });
  const bool swapping = WaitUntilSwapping(address, status);
  ASSERT_TRUE(swapping);
  (*server)->Signal(SIGKILL);
  (*server)->Wait();
  worker.join();
  // SIGBUS (the page cannot be read back), with the reason on stderr.
  EXPECT_EQ(status.load(), 128 + SIGBUS) << err;
  EXPECT_THAT(err, HasSubstr("swap device"));
}

}  // namespace
}  // namespace memmgr
