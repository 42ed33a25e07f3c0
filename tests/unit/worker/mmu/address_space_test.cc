#include "worker/mmu/address_space.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace memmgr::mmu {
namespace {

using ::testing::HasSubstr;

constexpr GuestAddr kBase = 0x100000;  // a fixed test address

class AddressSpaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FramePool::Options po;
    po.bytes = 16 << 20;  // 4096 frames, min watermark 128
    auto pool = FramePool::Create(po);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    mm_ = NewMm();
  }

  std::unique_ptr<AddressSpace> NewMm(AddressSpace::Options o = {}) {
    auto mm = AddressSpace::Create(pool_.get(), o);
    EXPECT_TRUE(mm.ok()) << mm.status();
    return std::move(*mm);
  }

  GuestAddr MapFixed(GuestAddr addr, uint64_t len, uint32_t prot,
                     uint32_t flags = 0) {
    auto r = mm_->Mmap(addr, len, prot, kMapFixed | flags);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : 0;
  }

  uint64_t Faults(FaultClass c) { return mm_->GetStats().fault(c); }

  std::unique_ptr<FramePool> pool_;
  std::unique_ptr<AddressSpace> mm_;
};

TEST_F(AddressSpaceTest, ReadOfUntouchedAnonMemoryMapsTheSharedZeroPage) {
  MapFixed(kBase, 2 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  uint64_t v = 123;
  ASSERT_TRUE(mm_->Read(kBase + 8, &v, &f));
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(Faults(FaultClass::kZeroFillRead), 1u);
  Pte pte = mm_->PteForTest(kBase);
  EXPECT_TRUE(pte.present());
  EXPECT_EQ(pte.pfn(), FramePool::kZeroPfn);
  EXPECT_FALSE(pte.writable()) << "the zero page must never be writable";
  EXPECT_EQ(mm_->GetStats().rss_pages, 0u) << "the zero page is not rss";
  EXPECT_EQ(pool_->GetStats().used_frames, 0u);
}

TEST_F(AddressSpaceTest, FirstWriteAllocatesAZeroedFrame) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint32_t>(kBase + 100, 0xdeadbeef, &f));
  EXPECT_EQ(Faults(FaultClass::kAnonFirstWrite), 1u);
  uint32_t v = 0;
  ASSERT_TRUE(mm_->Read(kBase + 100, &v, &f));
  EXPECT_EQ(v, 0xdeadbeefu);
  uint64_t other = 1;
  ASSERT_TRUE(mm_->Read(kBase + 200, &other, &f));
  EXPECT_EQ(other, 0u);
  Pte pte = mm_->PteForTest(kBase);
  EXPECT_TRUE(pte.writable());
  EXPECT_TRUE(pte.dirty());
  EXPECT_TRUE(pte.accessed());
  EXPECT_NE(pte.pfn(), FramePool::kZeroPfn);
  EXPECT_EQ(mm_->GetStats().rss_pages, 1u);
}

TEST_F(AddressSpaceTest, WriteAfterZeroPageReadGetsAPrivateFrame) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  Fault f;
  uint8_t b;
  ASSERT_TRUE(mm_->Read(kBase, &b, &f));
  ASSERT_TRUE(mm_->Write<uint8_t>(kBase, 7, &f));
  EXPECT_EQ(Faults(FaultClass::kAnonFirstWrite), 1u);
  EXPECT_NE(mm_->PteForTest(kBase).pfn(), FramePool::kZeroPfn);
  // The zero page itself is untouched.
  EXPECT_EQ(pool_->FrameAddress(FramePool::kZeroPfn)[0], 0);
  ASSERT_TRUE(mm_->Read(kBase, &b, &f));
  EXPECT_EQ(b, 7);
}

TEST_F(AddressSpaceTest, ImagePagesAreCopiedAndTheBssTailIsZero) {
  auto image = std::make_shared<GuestImage>();
  image->name = "prog";
  image->bytes.assign(3 * kPageSize, 'x');
  for (size_t i = 0; i < image->bytes.size(); ++i)
    image->bytes[i] = char(i * 7);
  // Map 1.5 pages of file at image offset 4096 into a 3-page vma.
  const uint64_t file_bytes = kPageSize + kPageSize / 2;
  auto r = mm_->MapImage(kBase, 3 * kPageSize, kProtRead | kProtWrite, image,
                         kPageSize, file_bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<uint8_t> got(3 * kPageSize);
  Fault f;
  ASSERT_TRUE(mm_->CopyFromGuest(kBase, got.data(), got.size(), &f));
  for (uint64_t i = 0; i < got.size(); ++i) {
    uint8_t want = i < file_bytes ? uint8_t(image->bytes[kPageSize + i]) : 0;
    ASSERT_EQ(got[i], want) << "offset " << i;
  }
  EXPECT_EQ(Faults(FaultClass::kFilePage), 2u);
  EXPECT_EQ(Faults(FaultClass::kZeroFillRead), 1u) << "the pure bss page";
  // Writes stay private: the image is unchanged.
  ASSERT_TRUE(mm_->Write<uint8_t>(kBase, 0xAA, &f));
  EXPECT_EQ(uint8_t(image->bytes[kPageSize]), uint8_t(kPageSize * 7));
}

TEST_F(AddressSpaceTest, MapImageRejectsRangesOutsideTheImage) {
  auto image = std::make_shared<GuestImage>();
  image->bytes.assign(100, 'a');
  EXPECT_EQ(
      mm_->MapImage(kBase, kPageSize, kProtRead, image, 50, 51).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mm_->MapImage(kBase, kPageSize, kProtRead, image, UINT64_MAX, 2)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mm_->MapImage(kBase, 10, kProtRead, image, 0, 11).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mm_->vmas().size(), 0u);
}

TEST_F(AddressSpaceTest, UnmappedAndProtectionFaultsAreValues) {
  MapFixed(kBase, kPageSize, kProtRead);
  Fault f;
  uint32_t v;
  EXPECT_FALSE(mm_->Read(kBase + kPageSize + 4, &v, &f));
  EXPECT_EQ(f.reason, FaultReason::kUnmapped);
  EXPECT_EQ(f.address, kBase + kPageSize + 4);
  EXPECT_EQ(f.access, Access::kRead);
  EXPECT_EQ(f.Signal(), 11);

  EXPECT_FALSE(mm_->Write<uint32_t>(kBase, 1, &f));
  EXPECT_EQ(f.reason, FaultReason::kProtection);
  EXPECT_EQ(f.access, Access::kWrite);

  EXPECT_FALSE(mm_->Fetch(kBase, &v, &f));
  EXPECT_EQ(f.reason, FaultReason::kProtection);
  EXPECT_EQ(f.access, Access::kExec);

  for (GuestAddr wild : {GuestAddr{0}, kMaxUserVa, kMaxUserVa + 12345,
                         ~GuestAddr{0}, ~GuestAddr{0} - 3}) {
    EXPECT_FALSE(mm_->Read(wild, &v, &f)) << wild;
    EXPECT_NE(f.reason, FaultReason::kNone);
    EXPECT_FALSE(mm_->Write<uint64_t>(wild, 1, &f)) << wild;
  }
  EXPECT_EQ(Faults(FaultClass::kSegvProtection), 2u);
}

TEST_F(AddressSpaceTest, MisalignedAccessesInsideAPageWork) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  Fault f;
  for (uint64_t off : {1, 3, 5, 7, 4093}) {
    uint32_t value = 0x11223344 + off;
    if (off + 4 > kPageSize) continue;
    ASSERT_TRUE(mm_->Write(kBase + off, value, &f));
    uint32_t got = 0;
    ASSERT_TRUE(mm_->Read(kBase + off, &got, &f));
    EXPECT_EQ(got, value);
  }
  uint64_t v64 = 0x0102030405060708;
  ASSERT_TRUE(mm_->Write(kBase + 1001, v64, &f));
  uint8_t raw[8];
  ASSERT_TRUE(mm_->CopyFromGuest(kBase + 1001, raw, 8, &f));
  uint64_t back;
  std::memcpy(&back, raw, 8);
  EXPECT_EQ(back, v64) << "little-endian layout preserved";
}

TEST_F(AddressSpaceTest, PageCrossingAccessesSpanBothFrames) {
  MapFixed(kBase, 2 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  const uint64_t value = 0xA1B2C3D4E5F60718;
  for (uint64_t back = 1; back < 8; ++back) {
    GuestAddr va = kBase + kPageSize - back;
    ASSERT_TRUE(mm_->Write(va, value + back, &f));
    uint64_t got = 0;
    ASSERT_TRUE(mm_->Read(va, &got, &f));
    EXPECT_EQ(got, value + back);
  }
  EXPECT_NE(mm_->PteForTest(kBase).pfn(),
            mm_->PteForTest(kBase + kPageSize).pfn());
}

TEST_F(AddressSpaceTest, PageCrossingWriteIntoAFaultIsAllOrNothing) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  MapFixed(kBase + kPageSize, kPageSize, kProtRead);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase + kPageSize - 8, 0, &f));
  EXPECT_FALSE(mm_->Write<uint64_t>(kBase + kPageSize - 4, ~0ull, &f));
  EXPECT_EQ(f.reason, FaultReason::kProtection);
  EXPECT_EQ(f.address, kBase + kPageSize);
  uint64_t got = 1;
  ASSERT_TRUE(mm_->Read(kBase + kPageSize - 8, &got, &f));
  EXPECT_EQ(got, 0u) << "no byte of the faulting store landed";
  // Crossing into an unmapped page faults at the first byte of that page.
  MapFixed(kBase + 4 * kPageSize, kPageSize, kProtRead);
  uint32_t v;
  EXPECT_FALSE(mm_->Read(kBase + 5 * kPageSize - 2, &v, &f));
  EXPECT_EQ(f.reason, FaultReason::kUnmapped);
  EXPECT_EQ(f.address, kBase + 5 * kPageSize);
}

TEST_F(AddressSpaceTest, TlbHitNeedsNoWalkAndCountsAsHit) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 5, &f));
  MmuStats before = mm_->GetStats();
  uint64_t v;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(mm_->Read(kBase + 8 * (i % 512), &v, &f));
    ASSERT_TRUE(mm_->Write<uint64_t>(kBase + 8 * (i % 512), i, &f));
  }
  MmuStats after = mm_->GetStats();
  EXPECT_EQ(after.tlb_misses, before.tlb_misses);
  EXPECT_EQ(after.tlb_hits - before.tlb_hits, 200u);
}

TEST_F(AddressSpaceTest, WriteTlbEntryOnlyForDirtyWritablePages) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  Fault f;
  uint8_t b;
  ASSERT_TRUE(mm_->Read(kBase, &b, &f));  // zero page
  const SoftTlb::Entry& e = mm_->TlbEntryForTest(kBase);
  EXPECT_TRUE(SoftTlb::Hit(e, kBase, 8, SoftTlb::kRead));
  EXPECT_FALSE(SoftTlb::Hit(e, kBase, 8, SoftTlb::kWrite))
      << "zero page must not be writable";
  ASSERT_TRUE(mm_->Write<uint8_t>(kBase, 1, &f));
  EXPECT_TRUE(
      SoftTlb::Hit(mm_->TlbEntryForTest(kBase), kBase, 8, SoftTlb::kWrite));
  EXPECT_FALSE(
      SoftTlb::Hit(mm_->TlbEntryForTest(kBase), kBase + 1, 8, SoftTlb::kWrite))
      << "a misaligned access never hits";
  EXPECT_TRUE(mm_->PteForTest(kBase).dirty());
}

TEST_F(AddressSpaceTest, MunmapLeavesNoStaleTlbEntry) {
  MapFixed(kBase, 4 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(mm_->Write<uint64_t>(kBase + i * kPageSize, 42, &f));
  }
  ASSERT_TRUE(mm_->Munmap(kBase + kPageSize, 2 * kPageSize).ok());
  uint64_t v;
  EXPECT_FALSE(mm_->Write<uint64_t>(kBase + kPageSize, 1, &f));
  EXPECT_EQ(f.reason, FaultReason::kUnmapped);
  EXPECT_FALSE(mm_->Read(kBase + 2 * kPageSize, &v, &f));
  EXPECT_EQ(f.reason, FaultReason::kUnmapped);
  ASSERT_TRUE(mm_->Read(kBase, &v, &f));
  EXPECT_EQ(v, 42u);
  ASSERT_TRUE(mm_->Read(kBase + 3 * kPageSize, &v, &f));
  EXPECT_EQ(v, 42u);
  EXPECT_EQ(mm_->GetStats().rss_pages, 2u);
  EXPECT_EQ(pool_->GetStats().used_frames, 2u) << "frames went back";
}

TEST_F(AddressSpaceTest, MprotectReadOnlyStopsWritesThroughTheTlb) {
  MapFixed(kBase, 2 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint32_t>(kBase, 1, &f));
  ASSERT_TRUE(mm_->Write<uint32_t>(kBase + kPageSize, 1, &f));
  ASSERT_TRUE(
      SoftTlb::Hit(mm_->TlbEntryForTest(kBase), kBase, 8, SoftTlb::kWrite));
  ASSERT_TRUE(mm_->Mprotect(kBase, kPageSize, kProtRead).ok());
  EXPECT_FALSE(mm_->Write<uint32_t>(kBase, 2, &f))
      << "a stale write entry let a write through";
  EXPECT_EQ(f.reason, FaultReason::kProtection);
  uint32_t v;
  ASSERT_TRUE(mm_->Read(kBase, &v, &f));
  EXPECT_EQ(v, 1u);
  // The other page keeps its permissions and its TLB entry still works.
  ASSERT_TRUE(mm_->Write<uint32_t>(kBase + kPageSize, 3, &f));
  EXPECT_EQ(mm_->vmas().size(), 2u);
  // PROT_NONE stops reads too; restoring RW allows both again.
  ASSERT_TRUE(mm_->Mprotect(kBase, 2 * kPageSize, kProtNone).ok());
  EXPECT_FALSE(mm_->Read(kBase + kPageSize, &v, &f));
  ASSERT_TRUE(mm_->Mprotect(kBase, 2 * kPageSize, kProtRead | kProtWrite).ok());
  EXPECT_EQ(mm_->vmas().size(), 1u) << "vmas merged back";
  ASSERT_TRUE(mm_->Write<uint32_t>(kBase, 9, &f));
  ASSERT_TRUE(mm_->Read(kBase + kPageSize, &v, &f));
  EXPECT_EQ(v, 3u);
}

TEST_F(AddressSpaceTest, MprotectOfAHoleFailsWithEnomemAndChangesNothing) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  absl::Status s = mm_->Mprotect(kBase, 2 * kPageSize, kProtRead);
  EXPECT_EQ(ErrnoFromStatus(s), ENOMEM) << s;
  EXPECT_EQ(mm_->vmas().Find(kBase)->prot, kProtRead | kProtWrite);
  EXPECT_EQ(ErrnoFromStatus(mm_->Mprotect(kBase + 1, kPageSize, kProtRead)),
            EINVAL);
  EXPECT_EQ(ErrnoFromStatus(mm_->Mprotect(kBase, kPageSize, 0x80)), EINVAL);
  EXPECT_TRUE(mm_->Mprotect(kBase, 0, kProtRead).ok());
}

TEST_F(AddressSpaceTest, MadviseDontNeedDropsAnonToZeroAndImageToItsBytes) {
  MapFixed(kBase, 2 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 77, &f));
  ASSERT_TRUE(mm_->Madvise(kBase, 2 * kPageSize, kMadvDontNeed).ok());
  uint64_t v = 1;
  ASSERT_TRUE(mm_->Read(kBase, &v, &f));
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(pool_->GetStats().used_frames, 0u);

  auto image = std::make_shared<GuestImage>();
  image->bytes.assign(kPageSize, 'i');
  ASSERT_TRUE(mm_->MapImage(kBase + 8 * kPageSize, kPageSize,
                            kProtRead | kProtWrite, image, 0, kPageSize)
                  .ok());
  ASSERT_TRUE(mm_->Write<uint8_t>(kBase + 8 * kPageSize, 'X', &f));
  ASSERT_TRUE(
      mm_->Madvise(kBase + 8 * kPageSize, kPageSize, kMadvDontNeed).ok());
  uint8_t c;
  ASSERT_TRUE(mm_->Read(kBase + 8 * kPageSize, &c, &f));
  EXPECT_EQ(c, 'i') << "a private image page refaults from the image";
}

TEST_F(AddressSpaceTest, MadviseArgumentErrors) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  EXPECT_EQ(ErrnoFromStatus(mm_->Madvise(kBase, kPageSize, 999)), EINVAL);
  EXPECT_EQ(ErrnoFromStatus(mm_->Madvise(kBase + 1, kPageSize, 0)), EINVAL);
  EXPECT_EQ(ErrnoFromStatus(mm_->Madvise(kBase, 2 * kPageSize, kMadvDontNeed)),
            ENOMEM);
  ASSERT_TRUE(mm_->Mlock(kBase, kPageSize).ok());
  EXPECT_EQ(ErrnoFromStatus(mm_->Madvise(kBase, kPageSize, kMadvDontNeed)),
            EINVAL);
  EXPECT_TRUE(mm_->Madvise(kBase, kPageSize, kMadvWillNeed).ok());
}

TEST_F(AddressSpaceTest, MlockPopulatesAndMarksFramesUnevictable) {
  MapFixed(kBase, 3 * kPageSize, kProtRead | kProtWrite);
  ASSERT_TRUE(mm_->Mlock(kBase + 10, kPageSize).ok());  // covers 2 pages
  EXPECT_EQ(mm_->GetStats().rss_pages, 2u);
  for (GuestAddr va : {kBase, kBase + kPageSize}) {
    Pte pte = mm_->PteForTest(va);
    ASSERT_TRUE(pte.present());
    EXPECT_TRUE(pool_->Descriptor(pte.pfn()).TestFlag(kPgUnevictable));
  }
  EXPECT_FALSE(mm_->PteForTest(kBase + 2 * kPageSize).present());
  EXPECT_EQ(mm_->vmas().size(), 2u);
  ASSERT_TRUE(mm_->Munlock(kBase, 2 * kPageSize).ok());
  EXPECT_FALSE(
      pool_->Descriptor(mm_->PteForTest(kBase).pfn()).TestFlag(kPgUnevictable));
  EXPECT_EQ(mm_->vmas().size(), 1u);
  EXPECT_EQ(ErrnoFromStatus(mm_->Mlock(kBase, 8 * kPageSize)), ENOMEM);
}

TEST_F(AddressSpaceTest, MmapPicksFreeRangesTopDownAndHonoursHints) {
  auto a = mm_->Mmap(0, 3 * kPageSize, kProtRead | kProtWrite, 0);
  auto b = mm_->Mmap(0, kPageSize, kProtRead, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*b + kPageSize, *a) << "top-down placement";
  EXPECT_LT(*a + 3 * kPageSize, kMaxUserVa);
  auto hinted = mm_->Mmap(0x40000000, kPageSize, kProtRead, 0);
  ASSERT_TRUE(hinted.ok());
  EXPECT_EQ(*hinted, 0x40000000u);
  auto taken = mm_->Mmap(0x40000000, kPageSize, kProtRead, 0);
  ASSERT_TRUE(taken.ok());
  EXPECT_NE(*taken, 0x40000000u) << "an occupied hint is not replaced";
  auto unaligned_hint = mm_->Mmap(0x50000001, kPageSize, kProtRead, 0);
  ASSERT_TRUE(unaligned_hint.ok());
  EXPECT_TRUE(IsPageAligned(*unaligned_hint));
}

TEST_F(AddressSpaceTest, MmapBaseLeavesTheStackGapBelowVaLimit) {
  // mm/util.c mmap_base(): the stack rlimit, at least 128 MiB, below the top.
  EXPECT_EQ(mm_->mmap_base(), kMaxUserVa - (128ull << 20));
  AddressSpace::Options big_stack;
  big_stack.stack_limit = 256ull << 20;
  EXPECT_EQ(NewMm(big_stack)->mmap_base(), kMaxUserVa - (256ull << 20));
  AddressSpace::Options small;  // the gap is capped at half the space
  small.va_limit = 64ull << 20;
  EXPECT_EQ(NewMm(small)->mmap_base(),
            small.va_limit - PageDown((small.va_limit - 0x10000) / 2));
  AddressSpace::Options given;
  given.mmap_base = 0x40000000;
  EXPECT_EQ(NewMm(given)->mmap_base(), 0x40000000u);
  // Top-down placement starts there.
  auto a = mm_->Mmap(0, kPageSize, kProtRead, 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a + kPageSize, mm_->mmap_base());
}

TEST_F(AddressSpaceTest, MmapFixedReplacesAndNoReplaceRefuses) {
  MapFixed(kBase, 2 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 5, &f));
  auto r = mm_->Mmap(kBase, kPageSize, kProtRead, kMapFixedNoReplace);
  EXPECT_EQ(ErrnoFromStatus(r.status()), EEXIST);
  r = mm_->Mmap(kBase, kPageSize, kProtRead | kProtWrite, kMapFixed);
  ASSERT_TRUE(r.ok());
  uint64_t v = 1;
  ASSERT_TRUE(mm_->Read(kBase, &v, &f));
  EXPECT_EQ(v, 0u) << "MAP_FIXED replaced the old page with a fresh one";
}

TEST_F(AddressSpaceTest, MmapArgumentErrors) {
  EXPECT_EQ(ErrnoFromStatus(mm_->Mmap(0, 0, kProtRead, 0).status()), EINVAL);
  EXPECT_EQ(ErrnoFromStatus(mm_->Mmap(0, kPageSize, 0x10, 0).status()), EINVAL);
  EXPECT_EQ(ErrnoFromStatus(
                mm_->Mmap(kBase + 1, kPageSize, kProtRead, kMapFixed).status()),
            EINVAL);
  EXPECT_EQ(ErrnoFromStatus(
                mm_->Mmap(0x1000, kPageSize, kProtRead, kMapFixed).status()),
            EPERM);
  EXPECT_EQ(ErrnoFromStatus(mm_->Mmap(kMaxUserVa - kPageSize, 2 * kPageSize,
                                      kProtRead, kMapFixed)
                                .status()),
            ENOMEM);
  EXPECT_EQ(ErrnoFromStatus(mm_->Mmap(0, ~0ull, kProtRead, 0).status()),
            ENOMEM);
  EXPECT_EQ(ErrnoFromStatus(mm_->Mmap(0, kMaxUserVa, kProtRead, 0).status()),
            ENOMEM);
  EXPECT_EQ(mm_->vmas().size(), 0u);
}

TEST_F(AddressSpaceTest, MunmapArgumentErrors) {
  EXPECT_EQ(ErrnoFromStatus(mm_->Munmap(kBase, 0)), EINVAL);
  EXPECT_EQ(ErrnoFromStatus(mm_->Munmap(kBase + 1, kPageSize)), EINVAL);
  EXPECT_EQ(ErrnoFromStatus(mm_->Munmap(~0ull & kPageMask, kPageSize)), EINVAL);
  EXPECT_TRUE(mm_->Munmap(kBase, kPageSize).ok()) << "unmapping a hole is fine";
}

TEST_F(AddressSpaceTest, VmaCountLimitIsEnforced) {
  AddressSpace::Options o;
  o.max_vmas = 3;
  mm_ = NewMm(o);
  // Alternating protections keep the vmas from merging.
  for (int i = 0; i < 3; ++i) {
    MapFixed(kBase + i * 2 * kPageSize, kPageSize, kProtRead);
  }
  auto r = mm_->Mmap(kBase + 10 * kPageSize, kPageSize, kProtRead, kMapFixed);
  EXPECT_EQ(ErrnoFromStatus(r.status()), ENOMEM);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("max_map_count"));
  // An adjacent identical mapping merges, so it still fits.
  EXPECT_TRUE(
      mm_->Mmap(kBase + kPageSize, kPageSize, kProtRead, kMapFixed).ok());
  EXPECT_EQ(mm_->vmas().size(), 2u);
  // Punching a hole needs one more vma.
  MapFixed(kBase + 20 * kPageSize, 3 * kPageSize, kProtRead | kProtWrite);
  EXPECT_EQ(ErrnoFromStatus(mm_->Munmap(kBase + 21 * kPageSize, kPageSize)),
            ENOMEM);
  EXPECT_EQ(ErrnoFromStatus(
                mm_->Mprotect(kBase + 21 * kPageSize, kPageSize, kProtRead)),
            ENOMEM);
}

TEST_F(AddressSpaceTest, LimitPagesStopsTheSandboxWithAMemoryLimitFault) {
  AddressSpace::Options o;
  // Page tables are charged too: the root and one table per level down to
  // the single leaf these pages share (4), plus 4 frames.
  o.limit_pages = 4 + 4;
  mm_ = NewMm(o);
  MapFixed(kBase, 16 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(mm_->Write<uint8_t>(kBase + i * kPageSize, 1, &f));
  }
  uint8_t b;
  ASSERT_TRUE(mm_->Read(kBase + 10 * kPageSize, &b, &f))
      << "zero-page reads cost no frame";
  EXPECT_FALSE(mm_->Write<uint8_t>(kBase + 5 * kPageSize, 1, &f));
  EXPECT_EQ(f.reason, FaultReason::kMemoryLimit);
  EXPECT_EQ(f.Signal(), 9);
  EXPECT_EQ(mm_->GetStats().rss_pages, 4u);
  ASSERT_TRUE(mm_->Munmap(kBase, kPageSize).ok());
  EXPECT_TRUE(mm_->Write<uint8_t>(kBase + 5 * kPageSize, 1, &f));
}

TEST_F(AddressSpaceTest, PageTablesAreChargedToLimitPages) {
  // Reads of untouched memory use no frame (the zero page), but every new
  // leaf table is host memory: sparse reads must hit the limit too.
  AddressSpace::Options o;
  o.limit_pages = 64;
  mm_ = NewMm(o);
  const uint64_t span = uint64_t{1} << 40;  // 1 TiB, read-only
  auto base = mm_->Mmap(0, span, kProtRead, 0);
  ASSERT_TRUE(base.ok()) << base.status();
  Fault f;
  uint8_t b;
  int reads = 0;
  for (; reads < 1000; ++reads) {
    // One read per 2 MiB: each needs its own leaf table.
    if (!mm_->Read(*base + uint64_t(reads) * (2 << 20), &b, &f)) break;
  }
  EXPECT_LT(reads, 64);
  EXPECT_EQ(f.reason, FaultReason::kMemoryLimit);
  EXPECT_LE(mm_->GetStats().page_table_pages, 64u);
}

TEST_F(AddressSpaceTest, PoolBelowMinWatermarkIsAnOutOfMemoryFault) {
  const uint64_t usable = pool_->free_frames() - pool_->watermarks().min;
  const uint64_t len = (usable + 8) * kPageSize;
  MapFixed(kBase, len, kProtRead | kProtWrite);
  Fault f;
  uint64_t ok_pages = 0;
  for (GuestAddr va = kBase; va < kBase + len; va += kPageSize) {
    if (!mm_->Write<uint8_t>(va, 1, &f)) break;
    ++ok_pages;
  }
  EXPECT_EQ(ok_pages, usable);
  EXPECT_EQ(f.reason, FaultReason::kOutOfMemory);
  EXPECT_EQ(Faults(FaultClass::kOutOfMemory), 1u);
  EXPECT_GT(pool_->GetStats().alloc_pressure_failures, 0u);
}

TEST_F(AddressSpaceTest, BrkGrowsShrinksAndRefusesToOverlap) {
  ASSERT_TRUE(mm_->SetBrkBase(kBase).ok());
  EXPECT_EQ(mm_->Brk(0), kBase) << "brk(0) reports the current break";
  EXPECT_EQ(mm_->Brk(kBase + 10000), kBase + 10000);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint8_t>(kBase + 9999, 1, &f));
  uint8_t b;
  EXPECT_FALSE(mm_->Read(kBase + 3 * kPageSize, &b, &f));
  EXPECT_EQ(mm_->vmas().Find(kBase)->name, "[heap]");
  EXPECT_EQ(mm_->Brk(kBase + 20000), kBase + 20000);
  EXPECT_EQ(mm_->vmas().size(), 1u) << "heap growth merges";
  EXPECT_EQ(mm_->Brk(kBase + 100), kBase + 100);
  EXPECT_FALSE(mm_->Read(kBase + kPageSize, &b, &f));
  EXPECT_EQ(mm_->Brk(kBase - kPageSize), kBase + 100) << "below the base";
  // Growing into another mapping fails and keeps the old break.
  MapFixed(kBase + 16 * kPageSize, kPageSize, kProtRead);
  EXPECT_EQ(mm_->Brk(kBase + 20 * kPageSize), kBase + 100);
  EXPECT_EQ(mm_->Brk(~0ull), kBase + 100);
  EXPECT_EQ(mm_->Brk(kBase + 15 * kPageSize), kBase + 15 * kPageSize)
      << "up to a guard page below the next mapping";
}

TEST_F(AddressSpaceTest, GrowsDownStackExtendsWithinItsLimit) {
  AddressSpace::Options o;
  o.stack_limit = 16 * kPageSize;
  mm_ = NewMm(o);
  const GuestAddr top = 0x7f0000000000;
  ASSERT_TRUE(mm_->Mmap(top - kPageSize, kPageSize, kProtRead | kProtWrite,
                        kMapFixed | kMapGrowsDown, "[stack]")
                  .ok());
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(top - 5 * kPageSize, 1, &f));
  EXPECT_EQ(mm_->vmas().Find(top - 5 * kPageSize)->start, top - 5 * kPageSize);
  EXPECT_EQ(Faults(FaultClass::kStackGrow), 1u);
  EXPECT_FALSE(mm_->Write<uint64_t>(top - 17 * kPageSize, 1, &f))
      << "beyond the stack limit";
  EXPECT_EQ(f.reason, FaultReason::kUnmapped);
}

TEST_F(AddressSpaceTest, CowWriteCopiesWhileSharedAndReusesWhenAlone) {
  MapFixed(kBase, 2 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 1, &f));
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase + kPageSize, 2, &f));
  auto child = mm_->Fork();
  ASSERT_TRUE(child.ok());
  const Pfn shared = mm_->PteForTest(kBase).pfn();
  EXPECT_EQ((*child)->PteForTest(kBase).pfn(), shared);
  // Fork shares the tables: one leaf maps the frame, for both.
  EXPECT_TRUE(mm_->PteSharedForTest(kBase));
  EXPECT_TRUE((*child)->PteSharedForTest(kBase));
  EXPECT_EQ(pool_->Descriptor(shared).refcount.load(), 1u);
  EXPECT_EQ((*child)->GetStats().rss_pages, 2u);

  // Parent writes: it copies the tables on the path (the frames gain a
  // reference from its new leaf), then the shared frame itself.
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 100, &f));
  EXPECT_EQ(Faults(FaultClass::kCowCopy), 1u);
  EXPECT_NE(mm_->PteForTest(kBase).pfn(), shared);
  EXPECT_FALSE(mm_->PteSharedForTest(kBase));
  EXPECT_EQ(mm_->GetStats().page_table_unshares, 3u);
  uint64_t v;
  ASSERT_TRUE((*child)->Read(kBase, &v, &f));
  EXPECT_EQ(v, 1u) << "the child still sees the snapshot value";
  // The child now holds the old tables alone and the old frame alone: its
  // write goes in place, no fault, no copy.
  ASSERT_TRUE((*child)->Write<uint64_t>(kBase, 200, &f));
  EXPECT_EQ((*child)->GetStats().fault(FaultClass::kCowCopy), 0u);
  EXPECT_EQ((*child)->PteForTest(kBase).pfn(), shared);
  EXPECT_EQ(pool_->GetStats().used_frames, 3u);
  ASSERT_TRUE(mm_->Read(kBase, &v, &f));
  EXPECT_EQ(v, 100u);
  // Dropping the child returns its frames; the parent's second page is
  // alone again and its next write reuses it.
  child->reset();
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase + kPageSize, 3, &f));
  EXPECT_EQ(Faults(FaultClass::kCowReuse), 1u);
  EXPECT_EQ(pool_->GetStats().used_frames, 2u);
  EXPECT_EQ(mm_->CountResidentForTest(), mm_->GetStats().rss_pages);
}

TEST_F(AddressSpaceTest, ForkedReadOnlyPageStaysSharedAfterMprotectWrite) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 1, &f));
  ASSERT_TRUE(mm_->Mprotect(kBase, kPageSize, kProtRead).ok());
  auto child = mm_->Fork();
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(mm_->Mprotect(kBase, kPageSize, kProtRead | kProtWrite).ok());
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 9, &f));
  uint64_t v;
  ASSERT_TRUE((*child)->Read(kBase, &v, &f));
  EXPECT_EQ(v, 1u) << "mprotect must not make a shared frame writable";
}

TEST_F(AddressSpaceTest, SwapPteFaultsWithSwapEntryReason) {
  MapFixed(kBase, kPageSize, kProtRead | kProtWrite);
  mm_->SetSwapPteForTest(kBase, 0x1234);
  EXPECT_TRUE(mm_->PteForTest(kBase).is_swap());
  EXPECT_EQ(mm_->PteForTest(kBase).swap_value(), 0x1234u);
  Fault f;
  uint8_t b;
  EXPECT_FALSE(mm_->Read(kBase, &b, &f));
  EXPECT_EQ(f.reason, FaultReason::kSwapEntry);
}

TEST_F(AddressSpaceTest, DestroyingAnAddressSpaceReturnsEveryFrame) {
  MapFixed(kBase, 64 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(mm_->Write<uint8_t>(kBase + i * kPageSize, 1, &f));
  }
  EXPECT_EQ(pool_->GetStats().used_frames, 64u);
  EXPECT_GT(mm_->GetStats().page_table_pages, 1u);
  mm_.reset();
  EXPECT_EQ(pool_->GetStats().used_frames, 0u);
}

TEST_F(AddressSpaceTest, MunmapFreesEmptyPageTables) {
  MapFixed(0x7000000000, kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint8_t>(0x7000000000, 1, &f));
  EXPECT_EQ(mm_->GetStats().page_table_pages, 4u);
  ASSERT_TRUE(mm_->Munmap(0x7000000000, kPageSize).ok());
  EXPECT_EQ(mm_->GetStats().page_table_pages, 1u);
}

TEST_F(AddressSpaceTest, CopyToAndFromGuestSpanPagesAndReportTheBadPage) {
  MapFixed(kBase, 3 * kPageSize, kProtRead | kProtWrite);
  std::string data(2 * kPageSize + 100, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char(i * 13 + 1);
  Fault f;
  ASSERT_TRUE(mm_->CopyToGuest(kBase + 50, data.data(), data.size(), &f));
  std::string back(data.size(), '\0');
  ASSERT_TRUE(mm_->CopyFromGuest(kBase + 50, back.data(), back.size(), &f));
  EXPECT_EQ(back, data);
  EXPECT_FALSE(mm_->CopyFromGuest(kBase + 2 * kPageSize, back.data(),
                                  2 * kPageSize, &f));
  EXPECT_EQ(f.address, kBase + 3 * kPageSize);
  ASSERT_TRUE(mm_->ZeroGuest(kBase + 1, 10, &f));
  uint8_t b = 1;
  ASSERT_TRUE(mm_->Read(kBase + 5, &b, &f));
  EXPECT_EQ(b, 0);
}

TEST_F(AddressSpaceTest, CreateRejectsBadOptions) {
  AddressSpace::Options o;
  o.tlb_entries = 100;
  EXPECT_FALSE(AddressSpace::Create(pool_.get(), o).ok());
  o = {};
  o.va_limit = kMaxUserVa * 2;
  EXPECT_FALSE(AddressSpace::Create(pool_.get(), o).ok());
  o = {};
  o.va_limit = 0x12345;
  EXPECT_FALSE(AddressSpace::Create(pool_.get(), o).ok());
  EXPECT_FALSE(AddressSpace::Create(nullptr, {}).ok());
}

TEST_F(AddressSpaceTest, DumpMapsListsVmasLikeProcMaps) {
  MapFixed(kBase, kPageSize, kProtRead | kProtExec);
  ASSERT_TRUE(mm_->SetBrkBase(kBase + 0x10000).ok());
  mm_->Brk(kBase + 0x11000);
  std::string maps = mm_->DumpMaps();
  EXPECT_THAT(maps, HasSubstr("000000100000-000000101000 r-xp"));
  EXPECT_THAT(maps, HasSubstr("rw-p 00000000 [heap]"));
}

TEST_F(AddressSpaceTest, TlbGrowsWithTheWorkingSetAndShrinksWhenFlushedIdle) {
  AddressSpace::Options o;
  o.tlb_entries = 256;
  o.tlb_max_entries = 4096;
  mm_ = NewMm(o);
  const uint64_t pages = 2048;
  MapFixed(kBase, pages * kPageSize, kProtRead | kProtWrite);
  Fault f;
  for (int round = 0; round < 8; ++round) {
    for (uint64_t i = 0; i < pages; ++i) {
      ASSERT_TRUE(mm_->Write<uint64_t>(kBase + i * kPageSize, i, &f));
    }
  }
  EXPECT_EQ(mm_->TlbSizeForTest(), 2048u) << "grew to cover the working set";
  EXPECT_EQ(mm_->GetStats().tlb_entries, 2048u);
  // Now every access hits.
  MmuStats before = mm_->GetStats();
  for (uint64_t i = 0; i < pages; ++i) {
    uint64_t v;
    ASSERT_TRUE(mm_->Read(kBase + i * kPageSize, &v, &f));
    ASSERT_EQ(v, i);
  }
  EXPECT_EQ(mm_->GetStats().tlb_misses, before.tlb_misses);
  // With the working set gone (munmap flushes a full table), the next full
  // flush (an mprotect over more pages than the TLB has) finds it idle and
  // halves it.
  ASSERT_TRUE(mm_->Munmap(kBase, pages * kPageSize).ok());
  EXPECT_EQ(mm_->TlbSizeForTest(), 2048u);
  MapFixed(kBase, pages * kPageSize, kProtRead | kProtWrite);
  ASSERT_TRUE(mm_->Mprotect(kBase, pages * kPageSize, kProtRead).ok());
  EXPECT_EQ(mm_->TlbSizeForTest(), 1024u);
}

TEST_F(AddressSpaceTest, ForkDropsTheParentsWriteEntriesAndKeepsItsReadOnes) {
  MapFixed(kBase, 4 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 1, &f));
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase + kPageSize, 2, &f));
  uint64_t v;
  ASSERT_TRUE(mm_->Read(kBase + 2 * kPageSize, &v, &f));  // the zero page
  EXPECT_NE(mm_->TlbEntryForTest(kBase).tag & SoftTlb::kWrite, 0u);
  auto child = mm_->Fork();
  ASSERT_TRUE(child.ok());
  for (GuestAddr va : {kBase, kBase + kPageSize, kBase + 2 * kPageSize}) {
    const SoftTlb::Entry& e = mm_->TlbEntryForTest(va);
    EXPECT_EQ(e.tag & SoftTlb::kWrite, 0u) << std::hex << va;
    EXPECT_NE(e.tag & SoftTlb::kRead, 0u) << "reads still hit " << va;
  }
  const MmuStats before = mm_->GetStats();
  ASSERT_TRUE(mm_->Read(kBase, &v, &f));
  EXPECT_EQ(mm_->GetStats().tlb_misses, before.tlb_misses);
  // The parent's next write goes through the slow path and copies.
  ASSERT_TRUE(mm_->Write<uint64_t>(kBase, 10, &f));
  ASSERT_TRUE((*child)->Read(kBase, &v, &f));
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(Faults(FaultClass::kCowCopy), 1u);
}

TEST_F(AddressSpaceTest, AMemCgroupLimitsTheSumOfItsAddressSpaces) {
  auto memcg = std::make_shared<MemCgroup>(64);
  AddressSpace::Options o;
  o.memcg = memcg;
  mm_ = NewMm(o);
  MapFixed(kBase, 64 * kPageSize, kProtRead | kProtWrite);
  Fault f;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(mm_->Write<uint8_t>(kBase + i * kPageSize, 1, &f));
  }
  const uint64_t parent = memcg->usage_pages();
  EXPECT_EQ(parent, 20u + mm_->GetStats().page_table_pages);
  // A guest fork stays in the budget, charged with everything it maps.
  auto child = mm_->Fork();
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(memcg->usage_pages(), 2 * parent);
  // 64 pages in all: the child gets what is left, then the memcg OOM.
  int written = 0;
  for (int i = 20; i < 64; ++i) {
    if (!(*child)->Write<uint8_t>(kBase + i * kPageSize, 1, &f)) break;
    ++written;
  }
  EXPECT_EQ(f.reason, FaultReason::kMemoryLimit);
  EXPECT_EQ(memcg->usage_pages(), 64u);
  EXPECT_EQ(static_cast<uint64_t>(written), 64 - 2 * parent);
  EXPECT_GT(memcg->limit_hits(), 0u);
  EXPECT_FALSE(mm_->Write<uint8_t>(kBase + 63 * kPageSize, 1, &f))
      << "the parent shares the exhausted budget";
  // Freeing in one lets the other go on.
  child->reset();
  EXPECT_EQ(memcg->usage_pages(), parent);
  EXPECT_TRUE(mm_->Write<uint8_t>(kBase + 63 * kPageSize, 1, &f));
  // A fork with a budget of its own starts charged with what it maps.
  auto other = std::make_shared<MemCgroup>(0);
  auto frozen = mm_->ForkFrozen(other);
  ASSERT_TRUE(frozen.ok());
  EXPECT_EQ(other->usage_pages(), memcg->usage_pages());
  frozen->reset();
  EXPECT_EQ(other->usage_pages(), 0u);
  EXPECT_EQ(other->peak_pages(), memcg->usage_pages());
  mm_.reset();
  EXPECT_EQ(memcg->usage_pages(), 0u);
}

TEST_F(AddressSpaceTest, LimitPagesAndAMemCgroupAreExclusive) {
  AddressSpace::Options o;
  o.memcg = std::make_shared<MemCgroup>(10);
  o.limit_pages = 10;
  EXPECT_EQ(AddressSpace::Create(pool_.get(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memmgr::mmu
