// The real memmgr-server binary on 127.0.0.1 with an ephemeral port: round
// trips, every bad input with its code, lease expiry, concurrent clients,
// SIGTERM.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>
#include <utility>

#include "gtest/gtest.h"
#include "tests/integration/test_helpers.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::testing {
namespace {

// The server's graceful GOAWAY on shutdown waits for each connected client
// to answer a ping; a gRPC client with no call in flight only polls its
// socket from the backup poller (every 5 s by default). Workers poll far
// more often; make this binary's clients do so too. Set during static
// initialisation, before gRPC reads it (Bazel runs all tests of a binary in
// one process; ctest runs them one per process).
const bool kFastBackupPoll = [] {
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", 0);
  return true;
}();

std::unique_ptr<ServerProcess> StartServer(
    const TempDir& dir, const std::vector<std::string>& flags = {}) {
  auto s = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.Sub("db"), flags);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(ServerIntegrationTest, ThousandsOfPagesRoundTripOverGrpc) {
  TempDir dir;
  auto server = StartServer(dir);
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  const std::string lease = RegisterLease(*client, "worker-0");
  std::vector<v1::SwapEntry> entries;
  for (uint64_t b = 0; b < 40; ++b) {
    auto e = client->SwapOut(lease, Pages(7, b * 64, 64));
    ASSERT_TRUE(e.ok()) << e.status();
    entries.insert(entries.end(), e->begin(), e->end());
  }
  for (uint64_t b = 0; b < 40; ++b) {
    std::vector<v1::SwapEntry> batch(entries.begin() + b * 64,
                                     entries.begin() + (b + 1) * 64);
    auto pages = client->SwapIn(lease, batch);
    ASSERT_TRUE(pages.ok()) << pages.status();
    ASSERT_EQ(*pages, Pages(7, b * 64, 64)) << "batch " << b;
  }
  auto stats = client->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->slots_used(), 2560u);
  EXPECT_EQ(stats->swap_out_pages(), 2560u);
  EXPECT_EQ(stats->swap_in_pages(), 2560u);
  EXPECT_EQ(client->UnregisterWorker(lease).value(), 2560u);
  EXPECT_EQ(client->GetStats()->slots_used(), 0u);
}

TEST(ServerIntegrationTest, EveryBadInputGetsItsCodeAndTheServerKeepsServing) {
  TempDir dir;
  auto server = StartServer(dir, {"--swap_capacity=16", "--max_batch_pages=8"});
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  const std::string a = RegisterLease(*client, "a");
  const std::string b = RegisterLease(*client, "b");
  auto* stub = client->stub();
  auto code = [&](auto call) {
    auto ctx = client->NewContext();
    return call(ctx.get()).error_code();
  };

  // Page sizes, empty and oversized batches.
  for (size_t size : {0, 100, 4095, 4097}) {
    v1::SwapOutRequest req;
    req.set_lease_id(a);
    req.add_pages(std::string(size, 'x'));
    v1::SwapOutResponse resp;
    EXPECT_EQ(code([&](grpc::ClientContext* c) {
                return stub->SwapOut(c, req, &resp);
              }),
              grpc::StatusCode::INVALID_ARGUMENT)
        << size;
  }
  {
    v1::SwapOutRequest req;
    req.set_lease_id(a);
    v1::SwapOutResponse resp;
    EXPECT_EQ(code([&](grpc::ClientContext* c) {
                return stub->SwapOut(c, req, &resp);
              }),
              grpc::StatusCode::INVALID_ARGUMENT);
    for (int i = 0; i < 9; ++i) req.add_pages(std::string(4096, 'y'));
    EXPECT_EQ(code([&](grpc::ClientContext* c) {
                return stub->SwapOut(c, req, &resp);
              }),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Leases: unknown, empty, released.
  EXPECT_EQ(client->SwapOut("00000000000000000000000000000000", Pages(1, 0, 1))
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(client->SwapOut("", Pages(1, 0, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string gone = RegisterLease(*client, "gone");
  ASSERT_TRUE(client->UnregisterWorker(gone).ok());
  EXPECT_EQ(client->SwapOut(gone, Pages(1, 0, 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->HeartbeatOnce(gone).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->HeartbeatOnce("nope").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(client->HeartbeatOnce(a).ok());

  // Entries: foreign, stale, out of range; capacity.
  auto ea = client->SwapOut(a, Pages(2, 0, 8));
  ASSERT_TRUE(ea.ok()) << ea.status();
  EXPECT_EQ(client->SwapIn(b, *ea).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client->FreeSlots(b, *ea).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::SwapEntry stale = (*ea)[0];
  stale.set_generation(stale.generation() + 1000);
  EXPECT_EQ(client->SwapIn(a, {stale}).status().code(),
            absl::StatusCode::kNotFound);
  v1::SwapEntry wild;
  wild.set_slot(1ull << 40);
  EXPECT_EQ(client->SwapIn(a, {wild}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(client->SwapOut(b, Pages(3, 0, 6)).ok());  // 14 of 16 used
  EXPECT_EQ(client->SwapOut(a, Pages(4, 0, 3)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(client->GetStats()->slots_used(), 14u);  // nothing half-written
  // Freed slot, then its stale entry.
  ASSERT_EQ(client->FreeSlots(a, {(*ea)[0]}).value(), 1u);
  EXPECT_EQ(client->SwapIn(a, {(*ea)[0]}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client->FreeSlots(a, {(*ea)[0]}).status().code(),
            absl::StatusCode::kNotFound);

  // Registration garbage.
  v1::RegisterWorkerRequest reg;
  EXPECT_EQ(client->RegisterWorker(reg).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Cluster placement: a create with nothing to run, a kill without an id.
  {
    v1::CreateClusterSandboxRequest req;
    v1::CreateClusterSandboxResponse resp;
    EXPECT_EQ(code([&](grpc::ClientContext* c) {
                return stub->CreateSandbox(c, req, &resp);
              }),
              grpc::StatusCode::INVALID_ARGUMENT);
    req.set_restart_from_snapshot(true);
    EXPECT_EQ(code([&](grpc::ClientContext* c) {
                return stub->CreateSandbox(c, req, &resp);
              }),
              grpc::StatusCode::UNIMPLEMENTED);
    v1::KillClusterSandboxRequest kill;
    v1::KillClusterSandboxResponse killed;
    EXPECT_EQ(code([&](grpc::ClientContext* c) {
                return stub->KillSandbox(c, kill, &killed);
              }),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // RPCs of later milestones.
  {
    v1::ForkSnapshotRequest req;
    v1::ForkSnapshotResponse resp;
    EXPECT_EQ(code([&](grpc::ClientContext* c) {
                return stub->ForkSnapshot(c, req, &resp);
              }),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  // After all of it the server still serves the honest owner.
  std::vector<v1::SwapEntry> rest(ea->begin() + 1, ea->end());
  auto back = client->SwapIn(a, rest);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Pages(2, 1, 7));
  EXPECT_TRUE(server->running());
}

TEST(ServerIntegrationTest, LeaseWithoutHeartbeatsExpiresAndItsSlotsAreFreed) {
  TempDir dir;
  auto server = StartServer(dir, {"--lease_ttl=400ms"});
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  const std::string lease = RegisterLease(*client, "mortal");
  const std::string keeper = RegisterLease(*client, "keeper");
  auto e = client->SwapOut(lease, Pages(5, 0, 10));
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(client->SwapOut(keeper, Pages(6, 0, 3)).ok());
  // Heartbeats keep both alive well past one TTL.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(client->HeartbeatOnce(lease).ok());
    ASSERT_TRUE(client->HeartbeatOnce(keeper).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(client->GetStats()->slots_used(), 13u);
  // Now only keeper heartbeats; poll (bounded) until the reaper acts.
  bool freed = false;
  for (int i = 0; i < 100 && !freed; ++i) {
    ASSERT_TRUE(client->HeartbeatOnce(keeper).ok());
    freed = client->GetStats()->slots_used() == 3;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(freed);
  auto stats = client->GetStats();
  EXPECT_EQ(stats->leases(), 1u);
  EXPECT_EQ(stats->leases_expired(), 1u);
  EXPECT_EQ(client->SwapIn(lease, *e).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ServerIntegrationTest, ConcurrentClientsEachGetTheirOwnPagesBack) {
  TempDir dir;
  auto server = StartServer(dir);
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      auto client = ClientFor(*server);
      const std::string lease = RegisterLease(*client, "c" + std::to_string(t));
      for (uint64_t r = 0; r < 25; ++r) {
        auto pages = Pages(100 + t, r * 16, 16);
        auto e = client->SwapOut(lease, pages);
        if (!e.ok()) {
          ++failures;
          continue;
        }
        auto back = client->SwapIn(lease, *e);
        if (!back.ok() || *back != pages) ++failures;
        auto f = client->FreeSlots(lease, *e);
        if (!f.ok() || *f != 16) ++failures;
      }
      if (!client->UnregisterWorker(lease).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto client = ClientFor(*server);
  EXPECT_EQ(client->GetStats()->slots_used(), 0u);
  EXPECT_EQ(client->GetStats()->swap_out_pages(), kClients * 25u * 16u);
}

TEST(ServerIntegrationTest,
     SigtermWithAConnectedWorkerStopsCleanlyAndKeepsData) {
  TempDir dir;
  auto server = StartServer(dir);
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  const std::string lease = RegisterLease(*client, "w");
  auto e = client->SwapOut(lease, Pages(9, 0, 32));
  ASSERT_TRUE(e.ok());
  // An open heartbeat stream must not hold up shutdown.
  grpc::ClientContext hb_ctx;
  auto stream = client->stub()->Heartbeat(&hb_ctx);
  v1::HeartbeatRequest hb;
  hb.set_lease_id(lease);
  v1::HeartbeatResponse hb_resp;
  ASSERT_TRUE(stream->Write(hb) && stream->Read(&hb_resp));
  EXPECT_GT(hb_resp.lease_ttl_ms(), 0u);
  // Like a real worker, keep a Read pending on the stream: it is what makes
  // the client answer the server's GOAWAY at once (an idle gRPC client only
  // polls its socket every 5 s).
  std::thread worker_reader([&] {
    v1::HeartbeatResponse r;
    while (stream->Read(&r)) {
    }
  });

  const absl::Time start = absl::Now();
  server->Signal(SIGTERM);
  const int status = server->Wait(absl::Seconds(20));
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3))
      << "did not drain promptly: " << server->ReadLog();
  EXPECT_NE(server->ReadLog().find("stopped cleanly"), std::string::npos);
  worker_reader.join();
  EXPECT_FALSE(stream->Finish().ok());  // the server ended it

  auto again = StartServer(dir);
  ASSERT_NE(again, nullptr);
  auto c2 = ClientFor(*again);
  auto back = c2->SwapIn(lease, *e);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Pages(9, 0, 32));
}

TEST(ServerIntegrationTest,
     BulkStreamsAnswerEachBatchInOrderAndSurviveBadOnes) {
  TempDir dir;
  auto server = StartServer(dir, {"--max_batch_pages=16"});
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  const std::string lease = RegisterLease(*client, "streamer");

  // Four batches pipelined on one stream before reading any answer; the
  // third is bad (a short page) and must fail alone.
  auto out_ctx = client->NewContext();
  auto out = client->stub()->StreamSwapOut(out_ctx.get());
  for (uint64_t b = 0; b < 4; ++b) {
    v1::SwapOutRequest req;
    req.set_lease_id(lease);
    req.set_seq(100 + b);
    for (const std::string& p : Pages(11, b * 8, 8)) req.add_pages(p);
    if (b == 2) req.set_pages(3, "short");
    ASSERT_TRUE(out->Write(req));
  }
  out->WritesDone();
  std::vector<v1::SwapOutResponse> answers(4);
  for (auto& a : answers) ASSERT_TRUE(out->Read(&a));
  ASSERT_TRUE(out->Finish().ok());
  std::vector<v1::SwapEntry> entries;
  for (uint64_t b = 0; b < 4; ++b) {
    EXPECT_EQ(answers[b].seq(), 100 + b);
    if (b == 2) {
      EXPECT_EQ(answers[b].status_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_NE(answers[b].status_message().find("4096"), std::string::npos);
      EXPECT_EQ(answers[b].entries_size(), 0);
      continue;
    }
    EXPECT_EQ(answers[b].status_code(), 0) << answers[b].status_message();
    ASSERT_EQ(answers[b].entries_size(), 8);
    entries.insert(entries.end(), answers[b].entries().begin(),
                   answers[b].entries().end());
  }
  EXPECT_EQ(client->GetStats()->slots_used(),
            24u);  // the bad batch wrote nothing

  // Read back over StreamSwapIn; one request names a foreign slot number.
  auto in_ctx = client->NewContext();
  auto in = client->stub()->StreamSwapIn(in_ctx.get());
  const uint64_t firsts[] = {0, 8, 24};  // page indexes of the good batches
  for (int b = 0; b < 3; ++b) {
    v1::SwapInRequest req;
    req.set_lease_id(lease);
    req.set_seq(b);
    for (int i = 0; i < 8; ++i) *req.add_entries() = entries[b * 8 + i];
    ASSERT_TRUE(in->Write(req));
  }
  v1::SwapInRequest bad;
  bad.set_lease_id(lease);
  bad.set_seq(3);
  v1::SwapEntry stale = entries[0];
  stale.set_generation(stale.generation() + 99999);
  *bad.add_entries() = stale;
  ASSERT_TRUE(in->Write(bad));
  in->WritesDone();
  for (int b = 0; b < 4; ++b) {
    v1::SwapInResponse resp;
    ASSERT_TRUE(in->Read(&resp));
    EXPECT_EQ(resp.seq(), static_cast<uint64_t>(b));
    if (b == 3) {
      EXPECT_EQ(resp.status_code(), grpc::StatusCode::NOT_FOUND);
      EXPECT_EQ(resp.pages_size(), 0);
      continue;
    }
    ASSERT_EQ(resp.status_code(), 0) << resp.status_message();
    const auto want = Pages(11, firsts[b], 8);
    ASSERT_EQ(resp.pages_size(), 8);
    for (int i = 0; i < 8; ++i)
      EXPECT_EQ(resp.pages(i), want[i]) << b << "/" << i;
  }
  EXPECT_TRUE(in->Finish().ok());
}

TEST(ServerIntegrationTest, BadFlagsFailWithAClearMessage) {
  TempDir dir;
  std::string out, err;
  EXPECT_EQ(RunCommand({MEMMGR_SERVER_BIN}, &out, &err), 1);
  EXPECT_NE(err.find("--data_dir is required"), std::string::npos) << err;
  EXPECT_NE(RunCommand({MEMMGR_SERVER_BIN, "--data_dir=" + dir.Sub("d"),
                        "--swap_capacity=0"},
                       &out, &err),
            0);
  EXPECT_NE(err.find("swap capacity"), std::string::npos) << err;
  EXPECT_NE(RunCommand({MEMMGR_SERVER_BIN, "--data_dir=" + dir.Sub("d"),
                        "--listen=not-an-address"},
                       &out, &err),
            0);
  EXPECT_NE(err.find("cannot listen"), std::string::npos) << err;
  EXPECT_NE(RunCommand({MEMMGR_SERVER_BIN, "--lease_ttl=banana"}, &out, &err),
            0);
  EXPECT_EQ(RunCommand({MEMMGR_SERVER_BIN, "--help"}, &out, &err), 1);
  EXPECT_NE((out + err).find("--swap_capacity"), std::string::npos);
  EXPECT_NE((out + err).find("--zswap_compressor"), std::string::npos);
  // The compressed tier's flags, refused before the data directory is
  // touched.
  for (const auto& [flag, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"--zswap_compressor=gzip", "want lz4, zstd or none"},
           {"--zswap_max_pool_percent=101", "want 0..100"},
           {"--zswap_accept_threshold_percent=0", "want 1..100"},
           {"--zswap_max_pool_bytes=lots", "bad size \"lots\""}}) {
    EXPECT_EQ(
        RunCommand({MEMMGR_SERVER_BIN, "--data_dir=" + dir.Sub("z"), flag},
                   &out, &err),
        1)
        << flag;
    EXPECT_NE(err.find(message), std::string::npos) << flag << ": " << err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("z")))
      << "a refused flag created the data directory";
}

}  // namespace
}  // namespace memmgr::testing
