// kill -9 of memmgr-server in the middle of a stream of swap-outs: after a
// restart on the same data dir, every acknowledged page reads back
// byte-identical and the lease is still valid.
#include <signal.h>

#include <map>
#include <thread>

#include "gtest/gtest.h"
#include "server/swap/rocksdb_slot_storage.h"
#include "server/swap/storage_format.h"
#include "tests/integration/test_helpers.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::testing {
namespace {

void KillDuringSwapOutsAndVerify(const std::vector<std::string>& flags) {
  TempDir dir;
  auto server = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.Sub("db"), flags);
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ClientFor(**server, /*attempts=*/1);
  const std::string lease = RegisterLease(*client, "crashy");

  // Four writers stream batches; an entry counts once SwapOut answered OK.
  constexpr int kWriters = 4;
  std::mutex mu;
  std::map<uint64_t, v1::SwapEntry> acked;  // page index -> entry
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acked_count{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (uint64_t b = 0; b < 100000 && !stop.load(); ++b) {
        const uint64_t first = (b * kWriters + w) * 16;
        auto e = client->SwapOut(lease, Pages(42, first, 16));
        if (!e.ok()) break;  // the server died
        std::lock_guard<std::mutex> l(mu);
        for (uint64_t i = 0; i < 16; ++i) acked[first + i] = (*e)[i];
        acked_count += 16;
      }
    });
  }
  // Kill once a good number of batches are acknowledged (bounded wait).
  for (int i = 0; i < 2000 && acked_count.load() < 3000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*server)->Signal(SIGKILL);
  (*server)->Wait();
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GT(acked.size(), 0u);

  auto again = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.Sub("db"), flags);
  ASSERT_TRUE(again.ok()) << again.status();
  auto c2 = ClientFor(**again);
  std::vector<uint64_t> indexes;
  std::vector<v1::SwapEntry> entries;
  for (const auto& [index, entry] : acked) {
    indexes.push_back(index);
    entries.push_back(entry);
  }
  uint64_t verified = 0;
  for (size_t i = 0; i < entries.size(); i += 200) {
    const size_t n = std::min<size_t>(200, entries.size() - i);
    auto pages =
        c2->SwapIn(lease, std::vector<v1::SwapEntry>(entries.begin() + i,
                                                     entries.begin() + i + n));
    ASSERT_TRUE(pages.ok()) << pages.status();
    for (size_t j = 0; j < n; ++j) {
      ASSERT_EQ((*pages)[j], MakeTestPage(42, indexes[i + j]))
          << "page " << indexes[i + j] << " changed across kill -9";
      ++verified;
    }
  }
  EXPECT_EQ(verified, acked.size());
  // Unacknowledged in-flight batches may also have landed, never fewer.
  EXPECT_GE(c2->GetStats()->slots_used(), acked.size());
  EXPECT_TRUE(c2->HeartbeatOnce(lease).ok());
  // The lease still owns everything: releasing it frees all of it.
  EXPECT_GE(c2->UnregisterWorker(lease).value(), acked.size());
  EXPECT_EQ(c2->GetStats()->slots_used(), 0u);
}

TEST(CrashRecoveryTest, AcknowledgedPagesSurviveKill9) {
  KillDuringSwapOutsAndVerify({});
}

TEST(CrashRecoveryTest, AcknowledgedPagesSurviveKill9WithSync) {
  KillDuringSwapOutsAndVerify({"--sync"});
}

// The compressed tier's pool is a cache over RocksDB: killed while the pool
// is full (256 KiB against thousands of pages, half of them compressible),
// every acknowledged page still comes back intact.
TEST(CrashRecoveryTest, AcknowledgedPagesSurviveKill9WithAFullCompressedPool) {
  KillDuringSwapOutsAndVerify(
      {"--zswap_compressor=lz4", "--zswap_max_pool_bytes=256K"});
}

TEST(CrashRecoveryTest, AcknowledgedPagesSurviveKill9WithZstd) {
  KillDuringSwapOutsAndVerify({"--zswap_compressor=zstd"});
}

TEST(CrashRecoveryTest, BytesRottedOnDiskAreDataLossAfterRestart) {
  TempDir dir;
  std::vector<v1::SwapEntry> entries;
  std::string lease;
  {
    auto server = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.Sub("db"));
    ASSERT_TRUE(server.ok()) << server.status();
    auto client = ClientFor(**server);
    lease = RegisterLease(*client, "rot");
    auto e = client->SwapOut(lease, Pages(3, 0, 4));
    ASSERT_TRUE(e.ok());
    entries = *e;
    (*server)->Signal(SIGTERM);
    ASSERT_NE((*server)->Wait(), -1);
  }
  {  // Flip one byte inside page 2's stored record, as a bad disk would.
    auto storage = RocksDbSlotStorage::Open(dir.Sub("db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    const std::string key = NumberKey(kPageDataPrefix, entries[2].slot());
    auto value = (*storage)->Get(key);
    ASSERT_TRUE(value.ok() && value->has_value());
    std::string rotten = **value;
    rotten[rotten.size() - 7] ^= 0x01;
    StorageBatch b;
    b.Put(key, rotten);
    ASSERT_TRUE((*storage)->Write(b, true).ok());
  }
  auto server = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.Sub("db"));
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ClientFor(**server);
  auto bad = client->SwapIn(lease, {entries[2]});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  auto good = client->SwapIn(lease, {entries[0], entries[1], entries[3]});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)[2], MakeTestPage(3, 3));
}

}  // namespace
}  // namespace memmgr::testing
