// MemoryManagerService handlers called directly (no network): status
// conversion at the edge, and many threads through service + store +
// metrics at once. Runs under TSan (label "tsan"); the integration tests
// cover the same handlers over real gRPC, but Debian's gRPC is not
// TSan-instrumented, so only this in-process path is checked for races.
#include "server/grpc/memory_manager_service.h"

#include <thread>

#include "client/ctl_commands.h"
#include "gtest/gtest.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "tests/testing/temp_dir.h"

namespace memmgr {
namespace {

class MemoryManagerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = RocksDbSlotStorage::Open(dir_.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    SwapStoreOptions o;
    o.capacity_pages = 1 << 16;
    o.max_batch_pages = 64;
    auto store = SwapStore::Open(o, *std::move(storage));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    metrics_ = std::make_unique<ServerMetrics>(store_.get());
    service_ = std::make_unique<MemoryManagerService>(
        MemoryManagerService::Options{store_.get(), metrics_.get()});
  }

  std::string Register(const std::string& name) {
    grpc::ServerContext ctx;
    v1::RegisterWorkerRequest req;
    req.set_node_name(name);
    req.set_frame_capacity_pages(100);
    v1::RegisterWorkerResponse resp;
    EXPECT_TRUE(service_->RegisterWorker(&ctx, &req, &resp).ok());
    return resp.lease_id();
  }

  testing::TempDir dir_;
  std::unique_ptr<SwapStore> store_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<MemoryManagerService> service_;
};

TEST_F(MemoryManagerServiceTest, StoreErrorsKeepTheirCodeAndMessageAtTheEdge) {
  grpc::ServerContext ctx;
  v1::SwapOutRequest req;
  req.set_lease_id(Register("n"));
  req.add_pages("short");
  v1::SwapOutResponse resp;
  grpc::Status s = service_->SwapOut(&ctx, &req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("exactly 4096 bytes"), std::string::npos);
  req.set_lease_id("ffffffffffffffffffffffffffffffff");
  req.set_pages(0, std::string(4096, 'a'));
  EXPECT_EQ(service_->SwapOut(&ctx, &req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(resp.entries_size(), 0);
}

TEST_F(MemoryManagerServiceTest, ManyThreadsThroughHandlersStayConsistent) {
  constexpr int kThreads = 6;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string lease = Register("w" + std::to_string(t));
      for (uint64_t r = 0; r < 30; ++r) {
        grpc::ServerContext ctx;
        v1::SwapOutRequest out;
        out.set_lease_id(lease);
        for (uint64_t i = 0; i < 8; ++i)
          out.add_pages(MakeTestPage(t, r * 8 + i));
        v1::SwapOutResponse out_resp;
        if (!service_->SwapOut(&ctx, &out, &out_resp).ok()) {
          ++failures;
          continue;
        }
        v1::SwapInRequest in;
        in.set_lease_id(lease);
        *in.mutable_entries() = out_resp.entries();
        v1::SwapInResponse in_resp;
        if (!service_->SwapIn(&ctx, &in, &in_resp).ok()) {
          ++failures;
          continue;
        }
        for (int i = 0; i < 8; ++i) {
          if (in_resp.pages(i) != out.pages(i)) ++failures;
        }
        v1::FreeSlotsRequest free_req;
        free_req.set_lease_id(lease);
        *free_req.mutable_entries() = out_resp.entries();
        v1::FreeSlotsResponse free_resp;
        if (!service_->FreeSlots(&ctx, &free_req, &free_resp).ok() ||
            free_resp.freed_slots() != 8) {
          ++failures;
        }
        v1::GetStatsResponse stats;
        v1::GetStatsRequest stats_req;
        if (!service_->GetStats(&ctx, &stats_req, &stats).ok()) ++failures;
      }
      grpc::ServerContext ctx;
      v1::UnregisterWorkerRequest unreg;
      unreg.set_lease_id(lease);
      v1::UnregisterWorkerResponse unreg_resp;
      if (!service_->UnregisterWorker(&ctx, &unreg, &unreg_resp).ok())
        ++failures;
    });
  }
  // Scrapes race with the traffic, as Prometheus would.
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i) {
      if (metrics_->store_collector()->Collect().empty()) ++failures;
      (void)metrics_->registry()->Collect();
    }
  });
  for (auto& t : threads) t.join();
  scraper.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->GetStats().slots_used, 0u);
  EXPECT_EQ(store_->GetStats().swap_out_pages, kThreads * 30u * 8u);
}

}  // namespace
}  // namespace memmgr
