// SwapStore: the cluster's swap area. Workers hold leases; each SwapOut
// allocates slots (swap_map + allocator in memory), writes the pages and one
// metadata record per run of neighbouring slots to durable storage in one
// atomic batch, and only then answers with swap entries (slot, generation).
// SwapIn checks lease, generation and owner before reading, and verifies
// every page's crc32c after it.
//
// Thread-safety: safe for concurrent use. Storage I/O for page data runs
// outside the lock, so concurrent SwapOut batches share RocksDB's group
// commit.
//
// Lock order (acquire top to bottom, never the reverse):
//   mu_                  swap_map_, leases_, generation/lease counters
//   └─ meta_write_mu_    serialises writes of run records that other
//                        requests may also change (refcounts, frees of
//                        neighbouring slots), so the WAL sees them in the
//                        order they happened in memory. Taken while holding
//                        mu_, then mu_ is dropped for the I/O (a hand-off,
//                        like a ticket lock).
//   reaper_mu_           only the reaper's wake-up; never held with the others
//
// Slot life cycle: kFree -> (SwapOut) kAllocating -> (batch durable) kLive
//   -> (FreeSlots to count 0, lease end) kFreeing -> (delete durable) kFree.
// A slot is reusable only after its delete is durable, so a late delete can
// never erase a newer page.
//
// Run records and failed writes: a FreeSlots/DupSlots record is computed from
// memory, which may include a neighbour's change whose own write then fails
// and is reverted. So after a failed FreeSlots/DupSlots write the store
// fences: it refuses every further FreeSlots/DupSlots (UNAVAILABLE) until a
// restart, and what is durable stays exactly what memory holds after the
// reverts (docs/architecture.md, "Run records").
#ifndef MEMMGR_SERVER_SWAP_SWAP_STORE_H_
#define MEMMGR_SERVER_SWAP_SWAP_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "memmgr/v1/memory_manager.pb.h"
#include "server/lease/lease_table.h"
#include "server/swap/slot_storage.h"
#include "server/swap/storage_format.h"
#include "server/swap/swap_entry.h"
#include "server/swap/swap_map.h"
#include "server/zswap/zswap_pool.h"

namespace memmgr {

struct SwapStoreOptions {
  // Slots in the swap area (4 KiB pages each).
  uint64_t capacity_pages = uint64_t{1} << 20;
  // Largest batch one SwapOut/SwapIn/FreeSlots/DupSlots may carry.
  uint32_t max_batch_pages = 256;
  // fsync the WAL on every batch (power-loss durability).
  bool sync = false;
  absl::Duration lease_ttl = absl::Seconds(30);
  // At most this many live leases (RESOURCE_EXHAUSTED past it).
  uint32_t max_leases = 4096;
  Clock* clock = Clock::Real();
  // The compressed tier (server/zswap/zswap_pool.h). `compressor`: how
  // SwapOut encodes pages for RocksDB and the pool (same-filled pages are
  // always one word; kNone stores the rest raw, as before the tier).
  // zswap_max_pool_bytes 0: no pool (SwapIn reads RocksDB).
  Compressor compressor = Compressor::kNone;
  uint32_t max_compressed_bytes = 3072;  // larger: stored raw (poor)
  uint64_t zswap_max_pool_bytes = 0;
  uint32_t zswap_accept_threshold_percent = 90;
  // Test seam: called with the store's lock held just before a FreeSlots or
  // DupSlots waits its turn to write, i.e. after it computed its records.
  std::function<void()> before_meta_write_for_test;
};

struct SwapStoreStats {
  uint64_t slots_used = 0;
  uint64_t slots_capacity = 0;
  uint64_t swap_out_pages = 0;
  uint64_t swap_in_pages = 0;
  uint64_t freed_pages = 0;
  uint32_t leases = 0;
  uint64_t leases_expired = 0;
  // A FreeSlots/DupSlots write failed: those are refused until a restart.
  bool meta_fenced = false;
  StorageStats storage;
  // The compressed tier: pages SwapIn served from the pool and from
  // RocksDB; pages SwapOut encoded by codec; the pool's own stats.
  bool zswap_enabled = false;
  uint64_t swap_in_zswap_pages = 0;
  uint64_t swap_in_rocksdb_pages = 0;
  uint64_t stored_by_codec[4] = {};   // indexed by PageCodec
  uint64_t stored_payload_bytes = 0;  // encoded bytes SwapOut wrote
  ZswapPool::Stats zswap;
};

struct LeaseGrant {
  std::string lease_id;
  absl::Duration ttl;
};

class SwapStore {
 public:
  // Opens the store on `storage`, rebuilding swap_map, generations and leases
  // from it. Restored leases get a fresh TTL from now, so workers can
  // reconnect and keep their slots. Converts a format-1 directory to format
  // 2 first (docs/rocksdb-schema.md). Fails with a clear status when the
  // data has another format version or holds slots beyond capacity_pages.
  static absl::StatusOr<std::unique_ptr<SwapStore>> Open(
      SwapStoreOptions options, std::unique_ptr<SlotStorage> storage);
  ~SwapStore();

  SwapStore(const SwapStore&) = delete;
  SwapStore& operator=(const SwapStore&) = delete;

  // Starts the thread that expires leases (every ttl/4, 10 ms..1 s).
  void StartLeaseReaper();

  absl::StatusOr<LeaseGrant> RegisterLease(
      const v1::RegisterWorkerRequest& spec);
  // Refreshes the lease; copies its registration into *spec if non-null.
  absl::Status Heartbeat(absl::string_view lease_id,
                         v1::RegisterWorkerRequest* spec = nullptr);
  // OK while the lease is live (no refresh); the Heartbeat errors otherwise.
  absl::Status CheckLease(absl::string_view lease_id);
  // Ends the lease now and frees its slots; returns how many.
  absl::StatusOr<uint64_t> UnregisterLease(absl::string_view lease_id);

  // Each page must be kPageSize bytes; 1..max_batch_pages pages.
  absl::StatusOr<std::vector<SwapEntry>> SwapOut(
      absl::string_view lease_id, absl::Span<const absl::string_view> pages);
  // Appends one page per entry to *pages (which is cleared first).
  absl::Status SwapIn(absl::string_view lease_id,
                      absl::Span<const SwapEntry> entries,
                      std::vector<std::string>* pages);
  // swap_free: drops one reference per entry; returns slots freed.
  absl::StatusOr<uint64_t> FreeSlots(absl::string_view lease_id,
                                     absl::Span<const SwapEntry> entries);
  // swap_duplicate: adds one reference per entry.
  absl::Status DupSlots(absl::string_view lease_id,
                        absl::Span<const SwapEntry> entries);

  // Ends every lease past its deadline and frees its slots. Returns the
  // number of leases ended. The reaper calls this; tests call it directly.
  size_t ExpireLeases();

  SwapStoreStats GetStats() const;
  std::vector<v1::LeaseInfo> ListLeases() const;
  const SwapStoreOptions& options() const { return options_; }
  // The compressed tier's pool, or null (zswap_max_pool_bytes 0).
  ZswapPool* zswap() const { return zswap_.get(); }

 private:
  SwapStore(SwapStoreOptions options, std::unique_ptr<SlotStorage> storage);

  absl::Status Rebuild();
  // Converts every format-1 "s" record to a one-slot run record, deleting
  // it in the same batch; a no-op when there are none (format 2).
  absl::Status ConvertV1SlotRecords();
  absl::Status ValidateBatchSize(size_t n, absl::string_view what) const;
  // Makes sure generations [next_generation_, next_generation_ + n) are
  // covered by the durable reservation.
  absl::Status ReserveGenerationsLocked(uint64_t n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees every slot of lease `number` and deletes the lease record.
  // Called with mu_ held; returns with mu_ held (drops it for the I/O).
  uint64_t EndLeaseLocked(uint32_t number) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes `batch` (metadata another request may also touch) in the order
  // the in-memory change happened: takes meta_write_mu_ before dropping mu_.
  // A failed write fences the store: later calls write nothing and fail.
  absl::Status WriteMetaHandOffLocked(const StorageBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The run record of the run `slot` was allocated in, from the swap_map:
  // its slots still in the run and kLive, with their counts.
  RunMeta RunFromMapLocked(uint64_t slot) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds to *batch, for each run (given by one of its slots), the rewrite of
  // its record from memory, or its delete when no slot of it is live.
  void AddRunRecordsLocked(std::vector<uint64_t> slots,
                           StorageBatch* batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseSlotsLocked(const std::vector<uint64_t>& slots)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks every entry names a live slot of `owner` (all or nothing) and
  // counts how often each slot appears in the batch.
  absl::StatusOr<absl::flat_hash_map<uint64_t, uint32_t>> CountOwnedLocked(
      absl::Span<const SwapEntry> entries, uint32_t owner) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReaperLoop();

  const SwapStoreOptions options_;
  const std::unique_ptr<SlotStorage> storage_;
  std::unique_ptr<ZswapPool> zswap_;  // set once in Open

  mutable Mutex mu_;
  SwapMap swap_map_ ABSL_GUARDED_BY(mu_);
  LeaseTable leases_ ABSL_GUARDED_BY(mu_);
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t generation_reserved_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_lease_ ABSL_GUARDED_BY(mu_) = 1;

  Mutex meta_write_mu_ ABSL_ACQUIRED_AFTER(mu_);
  // Set (under meta_write_mu_) when a metadata write failed; never cleared.
  // Atomic so GetStats can read it without meta_write_mu_.
  std::atomic<bool> meta_fenced_{false};

  std::atomic<uint64_t> swap_out_pages_{0};
  std::atomic<uint64_t> swap_in_pages_{0};
  std::atomic<uint64_t> swap_in_zswap_pages_{0};
  std::atomic<uint64_t> stored_by_codec_[4] = {};
  std::atomic<uint64_t> stored_payload_bytes_{0};
  std::atomic<uint64_t> freed_pages_{0};
  std::atomic<uint64_t> leases_expired_{0};

  Mutex reaper_mu_;
  CondVar reaper_cv_;
  bool stopping_ ABSL_GUARDED_BY(reaper_mu_) = false;
  std::thread reaper_;
};

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SWAP_SWAP_STORE_H_
