// DecodeCache: pre-decoded instructions per guest code page, so the
// interpreter decodes each instruction once, not on every execution.
//
// A DecodedPage has one Insn slot per 2-byte offset (C instructions may start
// at any even address) plus sentinel slots past the end, whose kPageEnd op
// sends the interpreter to the next page. Slots start undecoded (kDecode)
// and are filled on first execution.
//
// Coherence (RISC-V: a store to instruction memory is guaranteed visible to
// fetch only after fence.i):
//   - every page with a DecodedPage is marked in its pte (Pte::kCode) so the
//     MMU never caches a write mapping for it: the first write to it calls
//     back (OnCodeWrite) and the page is dropped;
//   - fence.i drops everything;
//   - the syscall layer drops ranges it unmaps, remaps or re-protects
//     (Invalidate).
// Dropped pages are retired, not freed: the interpreter may still be running
// in one (executing stale code until it leaves the page is what a hart
// without fence.i may do). Retired pages are freed at ReleaseRetired(), which
// the interpreter calls only when it holds no page pointer.
//
// A 4-byte instruction in the last slot spans two pages; it is cached in the
// first page, and the second page is marked too: invalidating the second
// page resets that slot.
//
// Thread-safety: not thread-safe; owned by one sandbox's interpreter.
#ifndef MEMMGR_WORKER_RV64_DECODE_CACHE_H_
#define MEMMGR_WORKER_RV64_DECODE_CACHE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "worker/mmu/address_space.h"
#include "worker/rv64/insn.h"

namespace memmgr::rv64 {

inline constexpr int kSlotsPerPage = mmu::kPageSize / 2;

struct DecodedPage {
  mmu::GuestAddr va = 0;
  // kSlotsPerPage slots + 2 kPageEnd sentinels (a 2-byte instruction in the
  // last slot continues at slot 2048, a 4-byte one at 2049).
  Insn slots[kSlotsPerPage + 2];
};

class DecodeCache {
 public:
  // At most `max_pages` live pages (32 KiB each: 8 MiB of host memory per
  // process by default, not charged to the guest); past that the cache is
  // flushed, like a full code buffer in a JIT. A static glibc program runs
  // in well under 100 code pages.
  explicit DecodeCache(mmu::AddressSpace* as, size_t max_pages = 256);
  ~DecodeCache();
  DecodeCache(const DecodeCache&) = delete;
  DecodeCache& operator=(const DecodeCache&) = delete;

  // The decoded page for `pc`'s page, creating it if needed. Checks that
  // the page is executable: nullptr with *fault set if not.
  DecodedPage* Lookup(mmu::GuestAddr pc, mmu::Fault* fault) {
    const mmu::GuestAddr page = mmu::PageDown(pc);
    RecentEntry& r = recent_[(page >> mmu::kPageShift) & (kRecent - 1)];
    if (r.va == page) return r.page;
    return LookupSlow(page, fault);
  }

  // Decodes the instruction at `pc` into its slot (pc's page must be the
  // given page). False with *fault set if fetching it faults.
  bool DecodeSlot(DecodedPage* page, mmu::GuestAddr pc, mmu::Fault* fault);

  // Told about every page this cache drops (kAllPages: all of them), so
  // code derived from decoded pages (the JIT's blocks) goes with them. The
  // callback may run from inside a guest store (the code-write observer).
  static constexpr mmu::GuestAddr kAllPages = ~mmu::GuestAddr{0};
  using DropObserver = void (*)(void* ctx, mmu::GuestAddr page);
  void SetDropObserver(DropObserver fn, void* ctx) {
    drop_observer_ = fn;
    drop_observer_ctx_ = ctx;
  }

  void Invalidate(mmu::GuestAddr start, mmu::GuestAddr end);
  void InvalidateAll();  // fence.i
  void ReleaseRetired() { retired_.clear(); }

  size_t pages() const { return pages_.size(); }
  uint64_t decoded() const { return decoded_; }
  uint64_t invalidations() const { return invalidations_; }

 private:
  static constexpr size_t kRecent = 64;
  struct RecentEntry {
    mmu::GuestAddr va = ~mmu::GuestAddr{0};
    DecodedPage* page = nullptr;
  };
  struct FreePage {
    void operator()(DecodedPage* p) const;
  };
  using PagePtr = std::unique_ptr<DecodedPage, FreePage>;

  DecodedPage* LookupSlow(mmu::GuestAddr page, mmu::Fault* fault);
  void Drop(mmu::GuestAddr page);
  static void OnCodeWrite(void* self, mmu::GuestAddr page);

  mmu::AddressSpace* const as_;
  const size_t max_pages_;
  absl::flat_hash_map<mmu::GuestAddr, PagePtr> pages_;
  std::vector<PagePtr> retired_;
  std::array<RecentEntry, kRecent> recent_{};
  DropObserver drop_observer_ = nullptr;
  void* drop_observer_ctx_ = nullptr;
  uint64_t decoded_ = 0;
  uint64_t invalidations_ = 0;
};

}  // namespace memmgr::rv64

#endif  // MEMMGR_WORKER_RV64_DECODE_CACHE_H_
