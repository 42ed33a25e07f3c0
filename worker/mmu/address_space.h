// AddressSpace: one guest's memory, Linux's mm_struct. It owns the vmas, the
// radix page table and the soft TLB, references frames of a shared FramePool,
// and resolves every guest load, store and instruction fetch:
//
//   Read/Write/Fetch<T>()  inline fast path: soft-TLB hit = compare + add
//   ...Slow()              TLB miss: page-table walk, fault handling, refill
//   Mmap/Munmap/...        the operations the syscall layer calls
//
// Faults are values: an access that cannot complete returns false and fills a
// Fault (address, access, reason). Nothing a guest does (addresses, sizes,
// protections) can make this class touch host memory outside the pool's
// arena, throw, or abort.
//
// Host safety argument: a TLB entry's addend is computed from a pte's pfn,
// ptes are only ever set to frames this address space got from its pool, a
// fast-path hit is an aligned access inside one page (the tag compare folds
// in the size's low bits), and the slow path splits page-crossing accesses.
//
// Thread-safety: not thread-safe. One sandbox = one AddressSpace, used by the
// executor thread currently running that sandbox, which holds the pool's
// MmGate shared (mm_gate.h) when the pool has a Reclaimer: reclaim rewrites
// ptes and flushes TLBs of address spaces only with the gate exclusive. Frames
// may be shared with other address spaces (fork), which is why PageDescriptor
// counts are atomic. The FramePool must outlive every AddressSpace that uses
// it.
#ifndef MEMMGR_WORKER_MMU_ADDRESS_SPACE_H_
#define MEMMGR_WORKER_MMU_ADDRESS_SPACE_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/mmu/frame_pool.h"
#include "worker/mmu/mem_cgroup.h"
#include "worker/mmu/mmu_stats.h"
#include "worker/mmu/mmu_types.h"
#include "worker/mmu/page_table.h"
#include "worker/mmu/pte.h"
#include "worker/mmu/soft_tlb.h"
#include "worker/mmu/vma.h"

namespace memmgr::mmu {

// mmap flags this layer understands (the syscall layer translates MAP_*).
enum MapFlag : uint32_t {
  kMapFixed = 1u << 0,           // MAP_FIXED: replace whatever is there
  kMapFixedNoReplace = 1u << 1,  // MAP_FIXED_NOREPLACE: EEXIST if occupied
  kMapGrowsDown = 1u << 2,       // MAP_GROWSDOWN
  kMapLocked = 1u << 3,          // MAP_LOCKED
  kMapPopulate = 1u << 4,        // MAP_POPULATE: prefault now
};

// madvise advice values (Linux's MADV_*).
enum Advice : int {
  kMadvNormal = 0,
  kMadvRandom = 1,
  kMadvSequential = 2,
  kMadvWillNeed = 3,
  kMadvDontNeed = 4,
  kMadvFree = 8,
  kMadvHugePage = 14,
  kMadvNoHugePage = 15,
};

// The errno a syscall returns for a Status from the operations below:
// INVALID_ARGUMENT → EINVAL, RESOURCE_EXHAUSTED → ENOMEM, ALREADY_EXISTS →
// EEXIST, PERMISSION_DENIED → EPERM, UNAVAILABLE → EAGAIN, OUT_OF_RANGE →
// EFAULT; OK → 0.
int ErrnoFromStatus(const absl::Status& status);

class AddressSpace {
 public:
  struct Options {
    GuestAddr va_limit = kMaxUserVa;    // exclusive top (TASK_SIZE)
    GuestAddr mmap_min_addr = 0x10000;  // vm.mmap_min_addr
    GuestAddr mmap_base = 0;            // top of the mmap area; 0 = derived
    uint64_t max_vmas = 65530;          // vm.max_map_count
    uint64_t limit_pages =
        0;  // memcg-like limit on frames + page tables; 0 = none
    // A budget shared with other address spaces (mem_cgroup.h): charged
    // with this address space's frames and tables, its limit applies.
    // When set, limit_pages must be 0.
    std::shared_ptr<MemCgroup> memcg;
    uint64_t stack_limit = 8 << 20;    // RLIMIT_STACK for grows-down vmas
    uint32_t tlb_entries = 1024;       // initial size: power of two >= 256
    uint32_t tlb_max_entries = 65536;  // grows up to this (power of two)
  };

  // INVALID_ARGUMENT for options out of range.
  static absl::StatusOr<std::unique_ptr<AddressSpace>> Create(FramePool* pool,
                                                              Options options);
  // Drops every frame reference (munmap of everything).
  ~AddressSpace();
  AddressSpace(const AddressSpace&) = delete;
  AddressSpace& operator=(const AddressSpace&) = delete;

  // ---- Guest accesses (T: 1, 2, 4 or 8 bytes) ----
  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Read(GuestAddr va, T* out, Fault* fault) {
    if (ABSL_PREDICT_TRUE(TryReadFast(va, out))) return true;
    return AccessSlow(va, out, sizeof(T), Access::kRead, fault);
  }
  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Write(GuestAddr va, T value, Fault* fault) {
    if (ABSL_PREDICT_TRUE(TryWriteFast(va, value))) return true;
    return AccessSlow(va, &value, sizeof(T), Access::kWrite, fault);
  }

  // The fast path alone: a soft-TLB hit does the access and returns true; a
  // miss does nothing and returns false (then call ReadSlow/WriteSlow).
  // For the interpreter: a value whose address only the inlined fast path
  // takes stays in a register, where Read()'s out-parameter, also passed to
  // the out-of-line slow path, would be spilled to the stack on every load.
  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool TryReadFast(GuestAddr va, T* out) {
    static_assert(sizeof(T) <= 8 && (sizeof(T) & (sizeof(T) - 1)) == 0);
    SoftTlb::Entry& e = tlb_.EntryFor(va);
    if (ABSL_PREDICT_FALSE(!SoftTlb::Hit(e, va, sizeof(T), SoftTlb::kRead))) {
      return false;
    }
    ++tlb_hits_;
    std::memcpy(out, reinterpret_cast<const void*>(va + e.addend), sizeof(T));
    return true;
  }
  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool TryWriteFast(GuestAddr va, T value) {
    static_assert(sizeof(T) <= 8 && (sizeof(T) & (sizeof(T) - 1)) == 0);
    SoftTlb::Entry& e = tlb_.EntryFor(va);
    if (ABSL_PREDICT_FALSE(!SoftTlb::Hit(e, va, sizeof(T), SoftTlb::kWrite))) {
      return false;
    }
    ++tlb_hits_;
    std::memcpy(reinterpret_cast<void*>(va + e.addend), &value, sizeof(T));
    return true;
  }
  template <typename T>
  bool ReadSlow(GuestAddr va, T* out, Fault* fault) {
    return AccessSlow(va, out, sizeof(T), Access::kRead, fault);
  }
  template <typename T>
  bool WriteSlow(GuestAddr va, T value, Fault* fault) {
    return AccessSlow(va, &value, sizeof(T), Access::kWrite, fault);
  }
  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Fetch(GuestAddr va, T* out, Fault* fault) {
    static_assert(sizeof(T) <= 8 && (sizeof(T) & (sizeof(T) - 1)) == 0);
    SoftTlb::Entry& e = tlb_.EntryFor(va);
    if (ABSL_PREDICT_TRUE(SoftTlb::Hit(e, va, sizeof(T), SoftTlb::kExec))) {
      ++tlb_hits_;
      std::memcpy(out, reinterpret_cast<const void*>(va + e.addend), sizeof(T));
      return true;
    }
    return AccessSlow(va, out, sizeof(T), Access::kExec, fault);
  }

  // The host address of the page holding `va`, resolved for `access` (faults
  // in as needed). For decode caches and bulk copies: valid until the next
  // operation that may change this page's mapping (munmap, mprotect,
  // madvise, a CoW break, fork). nullptr with *fault set on failure.
  uint8_t* TranslatePage(GuestAddr va, Access access, Fault* fault);

  // Bulk copies for loaders and syscalls, page by page through the MMU with
  // the guest's permissions. On failure *fault names the first bad page;
  // bytes before it may have been copied (like copy_to_user).
  bool CopyFromGuest(GuestAddr va, void* dst, uint64_t len, Fault* fault);
  bool CopyToGuest(GuestAddr va, const void* src, uint64_t len, Fault* fault);
  bool ZeroGuest(GuestAddr va, uint64_t len, Fault* fault);

  // ---- Memory operations (the mm syscalls; errors map with ErrnoFromStatus)
  // ----

  // Anonymous private mapping. `addr` is a hint unless kMapFixed*.
  absl::StatusOr<GuestAddr> Mmap(GuestAddr addr, uint64_t length, uint32_t prot,
                                 uint32_t flags, absl::string_view name = "");
  // Private mapping of image bytes [file_offset, file_offset + file_bytes) at
  // a fixed page-aligned `addr`; the rest of `length` reads as zero (bss).
  // For the ELF loader. INVALID_ARGUMENT if the image range is out of bounds.
  absl::StatusOr<GuestAddr> MapImage(GuestAddr addr, uint64_t length,
                                     uint32_t prot,
                                     std::shared_ptr<const GuestImage> image,
                                     uint64_t file_offset, uint64_t file_bytes,
                                     uint32_t flags = kMapFixedNoReplace);
  absl::Status Munmap(GuestAddr addr, uint64_t length);
  absl::Status Mprotect(GuestAddr addr, uint64_t length, uint32_t prot);
  absl::Status Madvise(GuestAddr addr, uint64_t length, int advice);
  absl::Status Mlock(GuestAddr addr, uint64_t length);
  absl::Status Munlock(GuestAddr addr, uint64_t length);

  // The program break. SetBrkBase is called once by the loader (end of the
  // data segment, page aligned up); Brk follows brk(2): it returns the new
  // break, or the current one when the request cannot be met.
  absl::Status SetBrkBase(GuestAddr base);
  GuestAddr Brk(GuestAddr new_brk);
  GuestAddr brk() const { return brk_; }
  GuestAddr brk_base() const { return brk_base_; }

  // fork(): a child address space sharing everything copy-on-write. Only
  // the root page table is copied (see page_table.h): the cost does not
  // depend on how much is mapped. Drops this address space's TLB write
  // entries (its tables are shared from now on). The child charges `memcg`,
  // or this address space's memcg when null (a guest fork stays in its
  // sandbox's budget); its starting charge is everything it maps, even
  // beyond the limit (the next allocation then fails).
  absl::StatusOr<std::unique_ptr<AddressSpace>> Fork(
      std::shared_ptr<MemCgroup> memcg = nullptr);
  // Fork of an address space that nobody runs or changes any more (a
  // snapshot's): it does not touch this one at all, so any number of
  // threads may call it at once.
  absl::StatusOr<std::unique_ptr<AddressSpace>> ForkFrozen(
      std::shared_ptr<MemCgroup> memcg = nullptr) const;

  // ---- Decode-cache coherence (worker/rv64/decode_cache.h) ----
  // MarkCode flags the present pte of `va`'s page (no-op if not present) and
  // drops any cached write mapping of it. The first write access to a
  // flagged page after that (a guest store, CopyToGuest, a CoW break) clears
  // the flag and calls the observer with the page address before the write
  // happens. Like QEMU's TLB_NOTDIRTY for translated code pages.
  using CodeWriteObserver = void (*)(void* ctx, GuestAddr page);
  void SetCodeWriteObserver(CodeWriteObserver fn, void* ctx) {
    code_observer_ = fn;
    code_observer_ctx_ = ctx;
  }
  void MarkCode(GuestAddr va);

  // ---- For generated code (worker/rv64/jit) ----
  // Where the soft TLB's table pointer, index mask and hit counter live, so
  // a JIT can do TryReadFast/TryWriteFast's lookup inline. Valid for the
  // address space's lifetime; the table pointer and mask change when the
  // TLB resizes, so generated code reloads them on every lookup and calls
  // ReadSlow/WriteSlow on a miss (which keeps every rule of soft_tlb.h).
  struct TlbView {
    SoftTlb::Entry* const* table;
    const uint64_t* mask;
    uint64_t* hits;
  };
  TlbView TlbViewForJit() {
    return {tlb_.table_address(), tlb_.mask_address(), &tlb_hits_};
  }

  // ---- Introspection ----
  // True when the pte of `va`'s page is not empty (a frame or a swap entry):
  // the page has contents of its own.
  bool Resident(GuestAddr va) const {
    const Pte* ptep = page_table_.Find(va);
    return ptep != nullptr && !ptep->none();
  }
  MmuStats GetStats() const;
  // Calls fn(pfn) for every frame other than the zero page that a present
  // pte maps. Only reads: like ForkFrozen, safe from any thread on an
  // address space nobody runs or changes (a snapshot's).
  void ForEachMappedFrame(absl::FunctionRef<void(Pfn)> fn) const {
    page_table_.ForEachPte(0, options_.va_limit, [&](GuestAddr, Pte pte) {
      if (pte.present() && pte.pfn() != FramePool::kZeroPfn) fn(pte.pfn());
    });
  }
  const VmaSet& vmas() const { return vmas_; }
  const Options& options() const { return options_; }
  // Top of the mmap area (options().mmap_base, or derived from va_limit and
  // stack_limit); the ELF loader places a static-PIE image below it.
  GuestAddr mmap_base() const { return mmap_base_; }
  FramePool* pool() const { return pool_; }
  // /proc/<pid>/maps-style listing.
  std::string DumpMaps() const;

  // Test hooks.
  Pte PteForTest(GuestAddr va) const;
  // True if va's pte sits below a page table shared with another address
  // space (it is read-only until a write copies the path).
  bool PteSharedForTest(GuestAddr va) const;
  // Present ptes mapping a frame other than the zero page, counted by
  // walking the tables (GetStats().rss_pages keeps the same number).
  uint64_t CountResidentForTest() const;
  void SetSwapPteForTest(GuestAddr va, uint64_t swap_value);
  const SoftTlb::Entry& TlbEntryForTest(GuestAddr va) {
    return tlb_.EntryFor(va);
  }
  uint32_t TlbSizeForTest() const { return tlb_.size(); }

  // Why the last access failed with FaultReason::kSwapIo (the swap
  // device's status), for the sandbox's stop message.
  const absl::Status& swap_error() const { return swap_error_; }

  // Parking, for an executor that can run other guests while a page comes
  // from the swap device (the worker service). While a hook is set, a fault
  // that must read a device without synchronous_io() (a remote one: reads
  // from an in-process store are cheaper than parking) starts the read on
  // the reclaimer's I/O
  // threads (Reclaimer::StartSwapIn) and fails at once with
  // FaultReason::kSwapWait; `*hook` runs on an I/O thread when the page is
  // in the swap cache (or the read failed), after which the access is
  // simply retried. Set it only around guest instruction execution, whose
  // faults are precise (pc at the instruction, nothing written): syscall
  // copies into guest memory are not restartable and must wait in place.
  // nullptr (the default) = wait in place. `*hook` must outlive its use.
  void SetParkHook(const std::function<void()>* hook) { park_hook_ = hook; }

 private:
  friend class Reclaimer;  // the rmap walk rewrites ptes, flushes the TLB

  AddressSpace(FramePool* pool, Options options);

  // The slow path of every access: TLB miss, misaligned or page-crossing.
  bool AccessSlow(GuestAddr va, void* data, uint64_t size, Access access,
                  Fault* fault);
  // TLB lookup for the page of `va` (any alignment), else Translate.
  uint8_t* TranslateCached(GuestAddr va, Access access, Fault* fault);
  // Page-table walk + fault handling + TLB refill. Returns the host page.
  // Waits (gate released) and retries when TranslateOnce asks for it.
  uint8_t* Translate(GuestAddr va, Access access, Fault* fault);
  // One attempt; may leave a request to wait in pending_.
  uint8_t* TranslateOnce(GuestAddr va, Access access, Fault* fault);
  // A fault on a swap pte: maps the page from the swap cache, or asks
  // Translate (pending_) to read it in first.
  Pte SwapFault(const Vma& vma, GuestAddr va, Access access, Pte* ptep,
                Fault* fault);
  // The pool had no frame: with a reclaimer, ask Translate for direct
  // reclaim and a retry; else an out-of-memory fault.
  void NoFrame(GuestAddr va, Access access, Fault* fault);
  // A pte maps a new frame: it joins the LRU.
  void OnNewFrame(Pfn pfn);
  // Reclaim unmapped the pte of `va` (gate held exclusive by reclaim).
  void ReclaimedPte(GuestAddr va);
  // Refills the TLB entry of `va` with every access `pte` allows now (see
  // soft_tlb.h for the rules); `exclusive`: no table on its path is shared.
  // Returns the host page.
  uint8_t* FillTlb(GuestAddr va, Pte pte, bool exclusive);
  // True if `pfn` is a private frame with no other reference (a write may
  // go to it in place).
  bool FrameExclusive(Pfn pfn) const;
  // Can a write go straight to the frame of `pte` (in a table of our own)?
  // Writable, not decoded code, and the frame is ours alone (not the zero
  // page, not shared with a fork: the W bit follows the vma, the refcount
  // decides about sharing).
  bool CanWriteInPlace(Pte pte) const {
    return pte.writable() && !pte.code() && !pte.cow() &&
           FrameExclusive(pte.pfn());
  }
  // Clears the code bit of *ptep and tells the decode cache, before a
  // write. Returns the new pte.
  Pte NotifyCodeWrite(GuestAddr va, Pte* ptep);
  // Resolves a not-present pte (demand paging). Returns the new pte, or an
  // empty one with *fault set.
  Pte FaultInPage(const Vma& vma, GuestAddr va, Access access, Fault* fault);
  // Write to a present, write-protected pte (zero page or CoW).
  Pte BreakCow(const Vma& vma, GuestAddr va, Pte pte, Fault* fault);
  // Extends a grows-down vma above `va` down to cover it, if allowed.
  const Vma* MaybeGrowStack(GuestAddr va);
  bool Fail(GuestAddr va, Access access, FaultReason reason, FaultClass c,
            Fault* fault);
  // A frame for a new private page, charged against limit_pages.
  Pfn AllocPrivateFrame(GuestAddr va, Access access, bool zero, Fault* fault);
  void CountFault(FaultClass c) { ++faults_[static_cast<int>(c)]; }
  // What a limit limits: resident frames plus page-table pages.
  uint64_t LocalPages() const { return rss_pages_ + page_table_.table_pages(); }
  // Would `extra` more pages pass limit_pages or the memcg's limit?
  bool OverLimit(uint64_t extra);
  // Brings the memcg's charge in line with LocalPages(). Called after
  // every change of the rss or the table count.
  void SyncCharge();
  void AddRss(int64_t delta);

  // Drops the ptes in [start, end): frames are put, tables freed, the TLB
  // flushed (zap_page_range).
  void ZapRange(GuestAddr start, GuestAddr end);
  // Re-derives pte permissions in [start, end) from the vmas (mprotect).
  void ChangePteProtection(GuestAddr start, GuestAddr end, uint32_t prot);
  // Faults in every page of [start, end) (MAP_POPULATE, mlock).
  absl::Status Populate(GuestAddr start, GuestAddr end);
  // Validates an (addr, length) range argument; returns the page-aligned end.
  absl::StatusOr<GuestAddr> CheckRange(GuestAddr addr, uint64_t length,
                                       const char* op) const;
  absl::Status CheckVmaBudget(int new_vmas, const char* op) const;
  // mlock/munlock's range: rounded out to pages, fully mapped, and within
  // the vma budget once split. Returns [start, end).
  absl::StatusOr<std::pair<GuestAddr, GuestAddr>> CheckLockRange(
      GuestAddr addr, uint64_t length, const char* op) const;

  FramePool* const pool_;
  const Options options_;
  GuestAddr mmap_base_;
  VmaSet vmas_;
  PageTable page_table_;
  SoftTlb tlb_;
  GuestAddr brk_base_ = 0;
  GuestAddr brk_ = 0;

  CodeWriteObserver code_observer_ = nullptr;
  void* code_observer_ctx_ = nullptr;

  // What TranslateOnce needs before it can finish (a wait with the gate
  // released).
  struct Pending {
    enum Kind : uint8_t { kNone, kReclaim, kSwapIn } kind = kNone;
    uint64_t value = 0;  // kSwapIn: the swap value
  };
  Pending pending_;
  // The device error behind the last kSwapIo fault.
  absl::Status swap_error_;
  // Fault latency of the Translate call in progress: when its timed fault
  // started (0 = not timed) and whether it waited for the swap device.
  uint64_t fault_start_ns_ = 0;
  bool fault_swapin_ = false;
  // Parking (SetParkHook): the hook, and the swap entry of the last fault
  // that parked until its page is mapped (with when it first faulted).
  const std::function<void()>* park_hook_ = nullptr;
  bool parked_ = false;
  uint64_t parked_value_ = 0;
  uint64_t parked_start_ns_ = 0;
  uint32_t fault_sample_ = 0;  // counts faults for the 1-in-N sampling

  uint64_t tlb_hits_ = 0;
  uint64_t tlb_misses_ = 0;
  std::array<uint64_t, kFaultClassCount> faults_{};
  uint64_t rss_pages_ = 0;
  uint64_t peak_rss_pages_ = 0;
  uint64_t charged_ = 0;  // pages charged to options_.memcg so far
};

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_ADDRESS_SPACE_H_
