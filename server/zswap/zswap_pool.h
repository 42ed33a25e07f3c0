// ZswapPool: the compressed tier's pool (mm/zswap.c for the server): the
// encoded pages of recent SwapOuts kept in server memory, so that most
// SwapIns never touch RocksDB.
//
// Durability (a decision, docs/architecture.md): the pool is a cache over
// RocksDB, not a buffer in front of it. SwapOut encodes each page once
// (page_codec.h: same-filled, LZ4 or zstd, raw when it compresses poorly),
// writes that encoding to RocksDB (WAL) and only then acknowledges and puts
// the same bytes in the pool. So an acknowledged page survives kill -9 with
// a full pool, and "writing back" a cold entry to RocksDB is dropping it
// from the pool: its bytes are already there. What zswap buys here is what
// it buys Linux: faults served from compressed RAM; and RocksDB writes
// compressed bytes (fewer WAL and memtable bytes).
//
// Limit and hysteresis, as zswap's: the pool holds at most max_pool_bytes
// (payload plus a fixed per-entry overhead). A store that would pass it is
// refused (the page stays in RocksDB only), the pool is marked full and the
// shrink thread drops least recently used entries until the pool is under
// accept_threshold_percent of the limit; stores are refused until then.
// Compressing poorly pages (raw) are not stored (reject_compress_poor).
// Loads move an entry to the head of the LRU.
//
// Thread-safety: safe for concurrent use. mu_ guards the map, the LRU and
// the byte count; it is a leaf (the store calls in with no lock held) and is
// never held while decoding: a Load copies a reference to the entry's bytes
// and decodes after unlocking, so the shrink thread never blocks a SwapIn
// for longer than a map lookup.
#ifndef MEMMGR_SERVER_ZSWAP_ZSWAP_POOL_H_
#define MEMMGR_SERVER_ZSWAP_ZSWAP_POOL_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "server/swap/page_codec.h"

namespace memmgr {

struct ZswapPoolOptions {
  uint64_t max_pool_bytes = uint64_t{256} << 20;  // > 0
  uint32_t accept_threshold_percent = 90;         // 1..100
  // Bytes counted per entry besides its payload (map node, LRU node,
  // header): the limit bounds real memory, not just payloads.
  uint32_t entry_overhead_bytes = 96;
  // Run the shrink thread (tests that drive ShrinkForTest turn it off).
  bool shrink_thread = true;
};

class ZswapPool {
 public:
  enum class StoreResult { kStored, kRejectedPoor, kRejectedFull };

  struct Stats {
    uint64_t pool_bytes = 0;  // payload + overhead of every entry
    uint64_t stored_pages = 0;
    uint64_t same_filled_pages = 0;
    uint64_t stored_uncompressed_bytes = 0;  // stored_pages * 4096
    uint64_t payload_bytes = 0;              // the encoded bytes alone
    uint64_t reject_compress_poor = 0;
    uint64_t reject_pool_full = 0;
    uint64_t written_back = 0;  // dropped by the shrinker (in RocksDB)
    uint64_t pool_limit_hits = 0;
    uint64_t hits = 0;    // Loads served
    uint64_t misses = 0;  // Loads of pages not here
    uint64_t crc_errors = 0;
  };

  static absl::StatusOr<std::unique_ptr<ZswapPool>> Create(
      ZswapPoolOptions options);
  ~ZswapPool();  // stops the shrink thread
  ZswapPool(const ZswapPool&) = delete;
  ZswapPool& operator=(const ZswapPool&) = delete;

  // Keeps `page` (already durable in RocksDB) for slot/generation; replaces
  // what the slot held. Pages encoded raw because they compress poorly are
  // refused, and everything while the pool is full.
  StoreResult Store(uint64_t slot, uint64_t generation, EncodedPage page);
  // Decodes the page of slot/generation into out[0..4096): true if it was
  // here, false if not (or another generation: the caller reads RocksDB).
  // DATA_LOSS if the stored bytes fail their check (the entry is dropped;
  // the caller may still read RocksDB's copy).
  absl::StatusOr<bool> Load(uint64_t slot, uint64_t generation, char* out);
  // The slot was freed: forget it.
  void Erase(uint64_t slot);

  Stats GetStats() const;
  const ZswapPoolOptions& options() const { return options_; }

  // Test seam: flips a byte of the slot's stored payload.
  bool CorruptForTest(uint64_t slot);
  // Test seam: runs one shrink pass now, as the thread would.
  void ShrinkForTest();

 private:
  struct Entry {
    uint64_t slot = 0;
    uint64_t generation = 0;
    PageCodec codec = PageCodec::kRaw;
    uint32_t crc = 0;
    // Shared with Loads in progress, so the entry can go meanwhile.
    std::shared_ptr<const std::string> payload;
    uint64_t charge = 0;  // payload + overhead
  };
  using Lru = std::list<Entry>;  // head: most recently used

  explicit ZswapPool(ZswapPoolOptions options);
  void ShrinkLoop();
  // Drops LRU entries until the pool is at or under `target` bytes.
  void ShrinkTo(uint64_t target);
  void EraseLocked(Lru::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ZswapPoolOptions options_;
  const uint64_t accept_bytes_;  // accept_threshold_percent of the limit

  mutable Mutex mu_;
  CondVar shrink_cv_;  // with mu_: wakes the shrink thread
  Lru lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Lru::iterator> by_slot_ ABSL_GUARDED_BY(mu_);
  uint64_t pool_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t payload_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t same_filled_ ABSL_GUARDED_BY(mu_) = 0;
  // Set when a store hit the limit; cleared once under accept_bytes_.
  bool full_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread shrinker_;

  std::atomic<uint64_t> reject_poor_{0}, reject_full_{0}, written_back_{0},
      limit_hits_{0}, hits_{0}, misses_{0}, crc_errors_{0};
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_ZSWAP_ZSWAP_POOL_H_
