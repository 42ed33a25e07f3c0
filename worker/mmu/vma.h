// Vma and VmaSet: the virtual memory areas of an address space (Linux's
// vm_area_struct and the mm's maple tree), kept sorted by start address.
//
// A vma is either anonymous or a private mapping of a GuestImage (an ELF
// file's bytes): its first `file_bytes` bytes come from the image at
// `file_offset`, the rest (a bss tail) reads as zero. The VmaSet splits and
// merges areas the way mmap/munmap/mprotect do in Linux: neighbours with the
// same attributes (and, for image mappings, contiguous offsets) merge.
//
// Thread-safety: not thread-safe; the owning AddressSpace serialises access.
#ifndef MEMMGR_WORKER_MMU_VMA_H_
#define MEMMGR_WORKER_MMU_VMA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "worker/mmu/mmu_types.h"

namespace memmgr::mmu {

// The bytes of a file a guest maps privately (an ELF image). Immutable once
// built; shared by every vma and every forked address space that maps it.
struct GuestImage {
  std::string name;
  std::string bytes;
};

enum VmaFlag : uint32_t {
  kVmaGrowsDown =
      1u << 0,           // VM_GROWSDOWN: a stack, extended by faults below it
  kVmaLocked = 1u << 1,  // VM_LOCKED: mlock'ed, pages unevictable
};

struct Vma {
  GuestAddr start = 0;  // page aligned
  GuestAddr end = 0;    // page aligned, exclusive
  uint32_t prot = kProtNone;
  uint32_t flags = 0;
  std::shared_ptr<const GuestImage> image;  // null: anonymous
  uint64_t file_offset = 0;                 // image offset of `start`
  uint64_t file_bytes = 0;  // bytes from `start` backed by the image
  std::string name;         // "[heap]", "[stack]", the image name...

  uint64_t length() const { return end - start; }
  bool anonymous() const { return image == nullptr; }
  bool Contains(GuestAddr va) const { return va >= start && va < end; }
  // The attributes that must match for two neighbours to merge.
  bool CanMergeWith(const Vma& next) const;
  // Drops the first `delta` bytes (the part of a split below the cut).
  void AdvanceStart(GuestAddr new_start);
};

class VmaSet {
 public:
  using Map = std::map<GuestAddr, Vma>;  // keyed by start

  // The vma containing `va`, or nullptr.
  const Vma* Find(GuestAddr va) const;
  Vma* FindMutable(GuestAddr va);
  // The first vma whose end is above `va` (it may start above `va`).
  const Vma* FindFirstEndingAfter(GuestAddr va) const;
  // The last vma starting below `va`.
  const Vma* FindLastStartingBefore(GuestAddr va) const;

  bool Overlaps(GuestAddr start, GuestAddr end) const;
  // True if every byte of [start, end) is covered by some vma.
  bool FullyMapped(GuestAddr start, GuestAddr end) const;
  // How many new vmas splitting at `start` and `end` would create (0..2).
  int SplitsNeeded(GuestAddr start, GuestAddr end) const;

  // Splits a vma strictly containing `addr` in two at `addr`.
  void SplitAt(GuestAddr addr);
  // Inserts `vma`. REQUIRES: it overlaps nothing. Merges with neighbours.
  void Insert(Vma vma);
  // Moves the start of the (anonymous) vma at `start` down to `new_start`
  // (stack growth). REQUIRES: [new_start, start) is free.
  const Vma* ExpandDown(GuestAddr start, GuestAddr new_start);
  // Removes [start, end) (splitting the vmas at the edges).
  void Remove(GuestAddr start, GuestAddr end);
  // Calls fn(Vma&) for every vma intersecting [start, end) after splitting
  // at both edges, so fn only sees vmas inside the range; then re-merges.
  // fn may change prot/flags/name but not the bounds.
  template <typename Fn>
  void ModifyRange(GuestAddr start, GuestAddr end, Fn fn);

  // Highest gap of `length` bytes inside [low, high), top-down like the
  // kernel's mmap layout, or nullopt.
  std::optional<GuestAddr> FindGapTopDown(uint64_t length, GuestAddr low,
                                          GuestAddr high) const;

  size_t size() const { return map_.size(); }
  const Map& map() const { return map_; }

 private:
  // Merges the vma at `it` with its neighbours where possible.
  void MergeAround(Map::iterator it);

  Map map_;
};

template <typename Fn>
void VmaSet::ModifyRange(GuestAddr start, GuestAddr end, Fn fn) {
  SplitAt(start);
  SplitAt(end);
  for (auto it = map_.lower_bound(start); it != map_.end() && it->first < end;
       ++it) {
    fn(it->second);
  }
  // Re-merge: the range's vmas and the neighbours at both edges.
  auto it = map_.lower_bound(start);
  if (it != map_.begin()) --it;
  while (it != map_.end() && it->first <= end) {
    GuestAddr key = it->first;
    MergeAround(it);
    it = map_.upper_bound(key);
    // MergeAround may have absorbed the vma at `key` into its predecessor.
  }
}

}  // namespace memmgr::mmu

#endif  // MEMMGR_WORKER_MMU_VMA_H_
