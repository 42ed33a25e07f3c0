// SwapCache: the worker's swap entries and swap cache (Linux's swap_map
// counts + the swap cache's address_space, in one table).
//
// A swapped-out pte holds a swap value naming an entry of this table:
// (generation << 32) | index. The generation is bumped each time an index is
// reused, so a stale value (or one a guest forged through a bug) never maps
// someone else's page: it is rejected as invalid. An entry records
//   refs       the swap ptes holding it (page-table slots, like frame
//              refcounts: a leaf shared by forks counts once, a leaf copy
//              takes one more: Dup/Drop from PageTable)
//   pfn        the frame while the page is in the swap cache (the entry
//              holds one frame reference then, PG_swapcache is set and
//              PageDescriptor::private_data is the value)
//   slot       the device slot once a write-out was acknowledged
//   writeback  a write-out is in flight
//
// The life of an anonymous page: reclaim unmaps it into a new entry (frame
// kept, writeback set), writes it out with the gate released, then drops
// the frame unless a fault mapped it again meanwhile (a swap-cache hit: no
// I/O). A fault on an entry without a frame reads the slot (plus readahead
// of neighbouring slots) into new frames that join the cache. A page mapped
// from the cache stays there, slot kept, until it is written (TryReuseFor
// Write removes it) — so clean pages are reclaimed again without a write.
// When the last swap pte goes and no frame is cached, the slot is freed
// (queued, sent to the device in batches by FlushFrees).
//
// Thread-safety: safe for concurrent use; mu_ is taken after the MmGate and
// before FramePool locks (PutPage may run under mu_). Device I/O never runs
// under mu_.
#ifndef MEMMGR_WORKER_MMU_SWAP_CACHE_H_
#define MEMMGR_WORKER_MMU_SWAP_CACHE_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/mutex.h"
#include "worker/mmu/frame_pool.h"
#include "worker/mmu/mmu_types.h"
#include "worker/mmu/swap_device.h"

namespace memmgr::mmu {

class SwapCache {
 public:
  struct Stats {
    uint64_t entries = 0;        // live swap entries
    uint64_t cached_frames = 0;  // entries holding a frame
    uint64_t slots = 0;          // entries holding a device slot
    uint64_t writeback = 0;      // writes in flight
    uint64_t queued_frees = 0;   // slot frees not yet sent
    uint64_t freed_slots = 0;    // slot frees sent to the device
    uint64_t free_errors = 0;    // slot frees the device refused
  };

  SwapCache(FramePool* pool, SwapDevice* device);
  ~SwapCache();
  SwapCache(const SwapCache&) = delete;
  SwapCache& operator=(const SwapCache&) = delete;

  // ---- page-table hooks ----
  // A pte holding `value` was copied (leaf unshare): one more reference.
  void Dup(uint64_t value);
  // A pte holding `value` was cleared or freed.
  void Drop(uint64_t value);
  // A present pte mapping the cached frame `pfn` went away: frees the
  // entry when that was the last use of the page.
  void FrameUnmapped(Pfn pfn);

  // ---- faults ----
  enum class Lookup { kCached, kNeedsRead, kInvalid };
  // For a fault on a swap pte holding `value`: kCached with *pfn holding a
  // new frame reference and mapcount for the pte that will map it; or
  // kNeedsRead (no frame: read the slot first, see ReadIn); or kInvalid for
  // a value that names no live entry.
  Lookup MapCached(uint64_t value, Pfn* pfn);
  // Reads `value`'s page and up to `readahead` entries whose slots follow
  // its slot, into new frames that join the cache (unmapped, on the LRU via
  // `on_cached`). Called with the gate released. OK if the page is cached
  // when it returns (by this call or a racing one); UNAVAILABLE /
  // FAILED_PRECONDITION from the device; RESOURCE_EXHAUSTED with no frame.
  absl::Status ReadIn(uint64_t value, uint32_t readahead,
                      void (*on_cached)(void* ctx, Pfn pfn), void* ctx,
                      uint64_t* pages_read);
  // Before a write to a frame in the cache: removes it from the cache (and
  // queues its slot's free) when nothing else needs the cached copy — no
  // write-out in flight, no swap pte left, the caller's pte the only
  // mapping. Then the caller may write in place. False: copy instead.
  bool TryReuseForWrite(Pfn pfn);

  // ---- reclaim (gate held exclusive) ----
  // Moves `pfn`, just unmapped from `ptes` pte slots (whose frame
  // references the caller drops), into the cache. Returns the swap value
  // for those ptes. *needs_write: the page has no slot yet (call
  // WriteBack); otherwise its cached copy was clean and is dropped here.
  // A frame whose earlier write-out failed (still cached, no slot) comes
  // back here with ptes = 0 and is written again.
  uint64_t AddUnmapped(Pfn pfn, uint32_t ptes, bool* needs_write);
  // Drops an unmapped, clean cached frame (a readahead page never used).
  // False if the frame is mapped or has no slot.
  bool DropCleanUnmapped(Pfn pfn);
  // Writes the pages of `values` (from AddUnmapped) out, gate released.
  // Pages written and not mapped again are freed; on a device error the
  // frames stay cached (unmapped, nothing lost, still on the LRU) and the
  // next scan that reaches them tries again. Returns the device status.
  absl::Status WriteBack(const std::vector<uint64_t>& values,
                         uint64_t* written);

  // Sends queued slot frees to the device.
  void FlushFrees();

  Stats GetStats() const;
  SwapDevice* device() const { return device_; }

  static bool Valid(uint64_t value) { return (value >> 32) != 0; }

 private:
  struct Entry {
    uint32_t generation = 0;  // of the current (or last) use
    bool live = false;
    uint32_t refs = 0;
    Pfn pfn = kNoPfn;
    bool has_slot = false;
    bool writeback = false;
    bool reading = false;
    SwapSlot slot;
  };
  static uint64_t Value(uint32_t index, uint32_t generation) {
    return (static_cast<uint64_t>(generation) << 32) | index;
  }
  // The live entry `value` names, or nullptr.
  Entry* Find(uint64_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t AllocIndex() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the cached frame of `e` (its reference, PG_swapcache).
  void UncacheLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees `e` when nothing refers to it any more.
  void MaybeReleaseLocked(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FramePool* const pool_;
  SwapDevice* const device_;

  mutable Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_indices_ ABSL_GUARDED_BY(mu_);
  // Device slot -> entry index, for readahead of neighbouring slots.
  absl::flat_hash_map<uint64_t, uint32_t> by_slot_ ABSL_GUARDED_BY(mu_);
  std::vector<SwapSlot> queued_frees_ ABSL_GUARDED_BY(mu_);
  uint64_t live_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cached_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t slots_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writeback_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t freed_slots_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t free_errors_ ABSL_GUARDED_BY(mu_) = 0;
  CondVar read_done_;  // with mu_: a ReadIn finished (reading flags clear)
  Mutex flush_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one FlushFrees at a time
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_SWAP_CACHE_H_
