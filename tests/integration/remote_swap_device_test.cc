// RemoteSwapDevice against the real memmgr-server: round trips and slot
// accounting on the server, retries through kill -9 and a restart on the
// same data and port, a lease lost for good, and bounded waits everywhere.
#include "worker/swap/remote_swap_device.h"

#include <signal.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_page.h"
#include "worker/mmu/mmu_types.h"

namespace memmgr::testing {
namespace {

using worker::RemoteSwapDevice;
using worker::RemoteSwapDeviceOptions;

std::unique_ptr<ServerProcess> StartServer(const std::string& data_dir,
                                           std::vector<std::string> flags = {},
                                           int port = 0) {
  if (port != 0) flags.push_back(absl::StrCat("--listen=127.0.0.1:", port));
  auto s = ServerProcess::Start(MEMMGR_SERVER_BIN, data_dir, flags);
  // A restart on the old port can lose a race for it with another process
  // binding an ephemeral port (EADDRINUSE): try again for a few seconds.
  for (int i = 0; port != 0 && !s.ok() && i < 30; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    s = ServerProcess::Start(MEMMGR_SERVER_BIN, data_dir, flags);
  }
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return nullptr;
  EXPECT_TRUE(port == 0 || (*s)->port() == port);
  return *std::move(s);
}

void Kill9(ServerProcess& server) {
  server.Signal(SIGKILL);
  EXPECT_NE(server.Wait(), -1);
}

// Bounded everywhere: a broken device fails the test instead of hanging it.
RemoteSwapDeviceOptions DeviceOptions(const std::string& target,
                                      absl::Duration retry_for) {
  RemoteSwapDeviceOptions o;
  o.target = target;
  o.worker_id = "swap-test";
  o.frame_capacity_pages = 1024;
  o.retry_for = retry_for;
  o.attempt_deadline = absl::Seconds(3);
  o.unregister_deadline = absl::Milliseconds(500);
  return o;
}

std::unique_ptr<RemoteSwapDevice> Connect(const RemoteSwapDeviceOptions& o) {
  auto d = RemoteSwapDevice::Connect(o);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *std::move(d) : nullptr;
}

std::unique_ptr<Client> ClientOf(const std::string& target) {
  ClientOptions o;
  o.target = target;
  o.max_attempts = 1;
  o.deadline = absl::Seconds(5);
  auto c = Client::Create(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

uint64_t ServerSlotsUsed(const std::string& target) {
  auto stats = ClientOf(target)->GetStats();
  EXPECT_TRUE(stats.ok()) << stats.status();
  return stats.ok() ? stats->slots_used() : ~uint64_t{0};
}

std::vector<std::string> Pages(uint64_t seed, size_t n) {
  std::vector<std::string> pages;
  for (size_t i = 0; i < n; ++i) pages.push_back(Page(seed * 1000 + i));
  return pages;
}

absl::StatusOr<std::vector<mmu::SwapSlot>> Write(
    RemoteSwapDevice& d, const std::vector<std::string>& pages) {
  return d.WritePages(
      std::vector<absl::string_view>(pages.begin(), pages.end()));
}

absl::StatusOr<std::vector<std::string>> Read(
    RemoteSwapDevice& d, const std::vector<mmu::SwapSlot>& slots) {
  std::vector<std::string> out(slots.size(), std::string(mmu::kPageSize, 0));
  std::vector<uint8_t*> dst;
  for (std::string& p : out)
    dst.push_back(reinterpret_cast<uint8_t*>(p.data()));
  absl::Status s = d.ReadPages(slots, dst);
  if (!s.ok()) return s;
  return out;
}

TEST(RemoteSwapDeviceTest, RoundTripAndRefcountsAsSeenByTheServer) {
  TempDir dir;
  auto server = StartServer(dir.Sub("db"), {"--max_batch_pages=64"});
  ASSERT_NE(server, nullptr);
  auto d = Connect(DeviceOptions(server->address(), absl::Seconds(5)));
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->max_batch_pages(), 64u) << "lowered to the server's limit";
  EXPECT_NE(d->Describe().find(server->address()), std::string::npos);
  EXPECT_NE(d->Describe().find(d->lease_id()), std::string::npos);

  std::vector<std::vector<std::string>> batches;
  std::vector<std::vector<mmu::SwapSlot>> slots;
  for (uint64_t b = 0; b < 3; ++b) {
    batches.push_back(Pages(b + 1, 1 + b * 30));  // 1, 31, 61 pages
    auto written = Write(*d, batches.back());
    ASSERT_TRUE(written.ok()) << written.status();
    slots.push_back(*written);
  }
  for (int b = 2; b >= 0; --b) {
    auto pages = Read(*d, slots[b]);
    ASSERT_TRUE(pages.ok()) << pages.status();
    EXPECT_EQ(*pages, batches[b]) << "batch " << b;
  }
  EXPECT_EQ(ServerSlotsUsed(server->address()), 93u);

  // A shared slot outlives the batch's free until its sharer frees it.
  const mmu::SwapSlot shared = slots[1][5];
  ASSERT_TRUE(d->DupSlots({shared}).ok());
  ASSERT_TRUE(d->FreeSlots(slots[1]).ok());
  EXPECT_EQ(ServerSlotsUsed(server->address()), 1u + 1 + 61);
  auto one = Read(*d, {shared});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ((*one)[0], batches[1][5]);
  ASSERT_TRUE(d->FreeSlots({shared}).ok());
  EXPECT_EQ(Read(*d, {shared}).status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(d->FreeSlots(slots[0]).ok());
  ASSERT_TRUE(d->FreeSlots(slots[2]).ok());
  EXPECT_EQ(ServerSlotsUsed(server->address()), 0u);

  // Bad requests are refused before any RPC, and are never retried.
  EXPECT_EQ(d->WritePages({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Write(*d, Pages(9, 65)).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string short_page(10, 'x');
  EXPECT_EQ(d->WritePages({short_page}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->FreeSlots({}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d->stats().retries, 0u);
  EXPECT_EQ(d->stats().frees_outcome_unknown, 0u);
}

TEST(RemoteSwapDeviceTest, DestroyingTheDeviceUnregistersAndFreesItsSlots) {
  TempDir dir;
  auto server = StartServer(dir.Sub("db"));
  ASSERT_NE(server, nullptr);
  auto d = Connect(DeviceOptions(server->address(), absl::Seconds(5)));
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(Write(*d, Pages(1, 50)).ok());
  ASSERT_TRUE(Write(*d, Pages(2, 50)).ok());
  EXPECT_EQ(ServerSlotsUsed(server->address()), 100u);
  d.reset();
  auto stats = ClientOf(server->address())->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->slots_used(), 0u);
  EXPECT_EQ(stats->leases(), 0u);
}

// kill -9 while calls are outstanding, restart on the same data dir and
// port 300 ms after a call found the server gone: the server restores the
// lease with a fresh TTL, and every call that was retrying meanwhile
// succeeds with the right data.
TEST(RemoteSwapDeviceTest, CallsRetryingThroughKill9AndRestartSucceed) {
  TempDir dir;
  auto server = StartServer(dir.Sub("db"));
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  auto d = Connect(DeviceOptions(server->address(), absl::Seconds(20)));
  ASSERT_NE(d, nullptr);
  const std::vector<std::string> a = Pages(1, 20), c = Pages(3, 10);
  auto slots_a = Write(*d, a);
  auto slots_c = Write(*d, c);
  ASSERT_TRUE(slots_a.ok() && slots_c.ok());

  Kill9(*server);
  const absl::Time down = absl::Now();
  // Three callers at once, all issued while nothing listens on the port.
  const std::vector<std::string> b = Pages(2, 15);
  absl::StatusOr<std::vector<mmu::SwapSlot>> slots_b;
  absl::StatusOr<std::vector<std::string>> read_a;
  absl::Status freed_c;
  std::thread writer([&] { slots_b = Write(*d, b); });
  std::thread reader([&] { read_a = Read(*d, *slots_a); });
  // The free waits until a call has found no connection: until then, gRPC
  // may not yet have noticed that the old one died with the server, and an
  // attempt sent on it fails with "Broken pipe" or "Socket closed", which
  // could as well have reached a live server: such a free is not retried
  // (AmbiguousFreeIsNotRetried... below). Any retry at all is not enough:
  // the writer's and reader's first attempts may have failed that way. The
  // server is restarted only then, so this wait cannot miss its moment.
  const absl::Time give_up = down + absl::Seconds(10);
  while (d->stats().connect_failures == 0 && absl::Now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool disconnected = d->stats().connect_failures > 0;
  std::thread freer([&] { freed_c = d->FreeSlots(*slots_c); });
  std::unique_ptr<ServerProcess> restarted;
  std::thread restarter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    restarted = StartServer(dir.Sub("db"), {}, port);
  });
  writer.join();
  reader.join();
  freer.join();
  const absl::Duration blocked = absl::Now() - down;
  restarter.join();
  ASSERT_TRUE(disconnected) << "no call found the server gone";
  ASSERT_NE(restarted, nullptr);

  ASSERT_TRUE(slots_b.ok()) << slots_b.status();
  ASSERT_TRUE(read_a.ok()) << read_a.status();
  EXPECT_EQ(*read_a, a);
  EXPECT_TRUE(freed_c.ok()) << freed_c;
  EXPECT_GE(blocked, absl::Milliseconds(250)) << "the calls did not wait";
  EXPECT_GT(d->stats().retries, 0u);
  // Refused a connection, the free certainly had not been applied, so it
  // was retried, not given up as unknown.
  EXPECT_EQ(d->stats().frees_outcome_unknown, 0u);
  EXPECT_FALSE(d->stats().lease_lost);
  auto read_b = Read(*d, *slots_b);
  ASSERT_TRUE(read_b.ok()) << read_b.status();
  EXPECT_EQ(*read_b, b);
  EXPECT_EQ(ServerSlotsUsed(restarted->address()), 20u + 15);
  d.reset();  // unregisters on the restarted server
  EXPECT_EQ(ServerSlotsUsed(restarted->address()), 0u);
}

// A FreeSlots whose attempt may have reached the server (here: it timed out
// on a stopped one) is not repeated: a second drop of a shared slot's
// reference could free a page a sharer still needs. It answers OK, and at
// worst the slots stay allocated until the lease ends.
TEST(RemoteSwapDeviceTest,
     AmbiguousFreeIsNotRetriedAndLeaksAtMostUntilLeaseEnd) {
  TempDir dir;
  auto server = StartServer(dir.Sub("db"));
  ASSERT_NE(server, nullptr);
  auto options = DeviceOptions(server->address(), absl::Seconds(5));
  options.attempt_deadline = absl::Milliseconds(300);
  auto d = Connect(options);
  ASSERT_NE(d, nullptr);
  auto slots = Write(*d, Pages(1, 4));
  ASSERT_TRUE(slots.ok());
  ASSERT_TRUE(d->DupSlots({(*slots)[0]}).ok());  // slot 0 is shared

  // Stopped for sure before the free is sent (a server still running would
  // just apply and answer it), on the connection the calls above used.
  ASSERT_TRUE(server->Stop());
  const uint64_t retries = d->stats().retries;
  const absl::Time start = absl::Now();
  const absl::Status freed = d->FreeSlots(*slots);
  const absl::Duration took = absl::Now() - start;
  server->Continue();
  EXPECT_TRUE(freed.ok()) << freed;
  EXPECT_LT(took, absl::Seconds(1)) << "one attempt, no retries";
  EXPECT_EQ(d->stats().retries, retries) << "the free was repeated";
  EXPECT_EQ(d->stats().frees_outcome_unknown, 1u);
  // Whether the stopped server applied it or not, the shared slot kept the
  // sharer's reference: it was dropped at most once.
  auto shared = Read(*d, {(*slots)[0]});
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ((*shared)[0], Pages(1, 4)[0]);
  const std::string target = server->address();
  d.reset();
  EXPECT_EQ(ServerSlotsUsed(target), 0u) << "the lease's end freed the rest";
}

TEST(RemoteSwapDeviceTest, ServerBackOnEmptyDataDirMeansLeaseLostForGood) {
  TempDir dir;
  auto server = StartServer(dir.Sub("db"));
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  auto d = Connect(DeviceOptions(server->address(), absl::Seconds(5)));
  ASSERT_NE(d, nullptr);
  auto slots = Write(*d, Pages(1, 4));
  ASSERT_TRUE(slots.ok());
  Kill9(*server);
  auto fresh = StartServer(dir.Sub("other-db"), {}, port);
  ASSERT_NE(fresh, nullptr);

  const absl::Time start = absl::Now();
  auto lost = Write(*d, Pages(2, 4));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition)
      << lost.status();
  EXPECT_NE(lost.status().message().find(absl::StrCat(
                "lease ", d->lease_id(), " on ", fresh->address(), " lost: ")),
            std::string::npos)
      << lost.status();
  EXPECT_TRUE(d->stats().lease_lost);
  // From now on every call fails at once, without an RPC.
  const absl::Time again = absl::Now();
  EXPECT_EQ(Read(*d, *slots).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(d->FreeSlots(*slots).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(d->DupSlots(*slots).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_LT(absl::Now() - again, absl::Milliseconds(100));
  EXPECT_EQ(ServerSlotsUsed(fresh->address()), 0u);
}

TEST(RemoteSwapDeviceTest, HeartbeatsKeepALeaseAliveAndNoticeItsLoss) {
  TempDir dir;
  // Heartbeats every 333 ms; the server expires a lease 1 s after the last
  // one (short, with slack for a loaded test machine).
  auto server = StartServer(dir.Sub("db"), {"--lease_ttl=1s"});
  ASSERT_NE(server, nullptr);
  auto d = Connect(DeviceOptions(server->address(), absl::Seconds(5)));
  ASSERT_NE(d, nullptr);
  auto slots = Write(*d, Pages(1, 8));
  ASSERT_TRUE(slots.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // 2.5 TTLs
  auto back = Read(*d, *slots);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Pages(1, 8));
  EXPECT_GE(d->stats().heartbeats, 4u);
  EXPECT_FALSE(d->stats().lease_lost);

  // The lease ends behind the device's back: its next heartbeat sees it,
  // without any call of ours.
  ASSERT_TRUE(
      ClientOf(server->address())->UnregisterWorker(d->lease_id()).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (!d->stats().lease_lost && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(d->stats().lease_lost);
  auto lost = Write(*d, Pages(2, 1));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(lost.status().message().find("lost: Heartbeat: "),
            std::string::npos)
      << lost.status();
}

TEST(RemoteSwapDeviceTest, StalledOrDeadServerIsUnavailableWithinRetryFor) {
  TempDir dir;
  auto server = StartServer(dir.Sub("db"));
  ASSERT_NE(server, nullptr);
  // attempt_deadline (3 s) is longer than retry_for: retry_for caps it.
  auto d = Connect(DeviceOptions(server->address(), absl::Seconds(1)));
  ASSERT_NE(d, nullptr);
  auto slots = Write(*d, Pages(1, 2));
  ASSERT_TRUE(slots.ok());

  ASSERT_TRUE(server->Stop());  // accepts connections, answers nothing
  absl::Time start = absl::Now();
  auto stalled = Write(*d, Pages(2, 2));
  absl::Duration took = absl::Now() - start;
  server->Continue();
  EXPECT_EQ(stalled.status().code(), absl::StatusCode::kUnavailable)
      << stalled.status();
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(2));
  auto back = Read(*d, *slots);
  ASSERT_TRUE(back.ok()) << "the server answers again: " << back.status();

  Kill9(*server);  // and nothing restarts it
  start = absl::Now();
  auto dead = Read(*d, *slots);
  took = absl::Now() - start;
  EXPECT_EQ(dead.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(dead.status().message().find("gave up"), std::string::npos)
      << dead.status();
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_FALSE(d->stats().lease_lost) << "unreachable is not lost";
  start = absl::Now();
  d.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST(RemoteSwapDeviceTest, DestructorDoesNotWaitForAStuckHeartbeat) {
  TempDir dir;
  // Heartbeats every second, each allowed up to the 3 s TTL.
  auto server = StartServer(dir.Sub("db"), {"--lease_ttl=3s"});
  ASSERT_NE(server, nullptr);
  auto options = DeviceOptions(server->address(), absl::Seconds(5));
  options.unregister_deadline = absl::Milliseconds(200);
  auto d = Connect(options);
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(server->Stop());
  // By now a heartbeat is waiting on the stopped server.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const absl::Time start = absl::Now();
  d.reset();
  const absl::Duration took = absl::Now() - start;
  server->Continue();
  EXPECT_LT(took, absl::Seconds(1)) << "the destructor waited " << took;
}

TEST(RemoteSwapDeviceTest, ConnectWaitsForTheServerWithinRetryFor) {
  TempDir dir;
  auto server = StartServer(dir.Sub("db"));
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  const std::string target = server->address();
  Kill9(*server);

  absl::Time start = absl::Now();
  auto none =
      RemoteSwapDevice::Connect(DeviceOptions(target, absl::Milliseconds(300)));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));

  std::unique_ptr<ServerProcess> restarted;
  std::thread restarter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    restarted = StartServer(dir.Sub("db"), {}, port);
  });
  auto d = Connect(DeviceOptions(target, absl::Seconds(20)));
  restarter.join();
  ASSERT_NE(d, nullptr);
  auto slots = Write(*d, Pages(1, 3));
  ASSERT_TRUE(slots.ok()) << slots.status();
}

TEST(RemoteSwapDeviceTest, ConnectRejectsBadOptions) {
  auto o = DeviceOptions("127.0.0.1:1", absl::Seconds(1));
  o.worker_id = "";
  EXPECT_EQ(RemoteSwapDevice::Connect(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = DeviceOptions("127.0.0.1:1", absl::Seconds(1));
  o.frame_capacity_pages = 0;
  EXPECT_EQ(RemoteSwapDevice::Connect(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = DeviceOptions("127.0.0.1:1", absl::ZeroDuration());
  EXPECT_EQ(RemoteSwapDevice::Connect(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = DeviceOptions("", absl::Seconds(1));
  EXPECT_EQ(RemoteSwapDevice::Connect(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memmgr::testing
