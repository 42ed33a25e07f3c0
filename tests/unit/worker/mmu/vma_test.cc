#include "worker/mmu/vma.h"

#include "gtest/gtest.h"

namespace memmgr::mmu {
namespace {

Vma Anon(GuestAddr start, GuestAddr end, uint32_t prot = kProtRead) {
  Vma v;
  v.start = start;
  v.end = end;
  v.prot = prot;
  return v;
}

TEST(VmaSetTest, AdjacentIdenticalVmasMerge) {
  VmaSet s;
  s.Insert(Anon(0x1000, 0x3000));
  s.Insert(Anon(0x5000, 0x6000));
  EXPECT_EQ(s.size(), 2u);
  s.Insert(Anon(0x3000, 0x5000));  // fills the hole: all three merge
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s.Find(0x1000)->end, 0x6000u);
}

TEST(VmaSetTest, DifferentAttributesDoNotMerge) {
  VmaSet s;
  s.Insert(Anon(0x1000, 0x2000, kProtRead));
  s.Insert(Anon(0x2000, 0x3000, kProtRead | kProtWrite));
  Vma locked = Anon(0x3000, 0x4000, kProtRead | kProtWrite);
  locked.flags = kVmaLocked;
  s.Insert(locked);
  Vma named = Anon(0x4000, 0x5000, kProtRead | kProtWrite);
  named.name = "[heap]";
  s.Insert(named);
  EXPECT_EQ(s.size(), 4u);
}

TEST(VmaSetTest, RemoveSplitsAtBothEdges) {
  VmaSet s;
  s.Insert(Anon(0x1000, 0x9000));
  s.Remove(0x3000, 0x5000);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.Find(0x1000)->end, 0x3000u);
  EXPECT_EQ(s.Find(0x5000)->start, 0x5000u);
  EXPECT_EQ(s.Find(0x4000), nullptr);
  s.Remove(0x0, 0x2000);  // overlaps the start
  EXPECT_EQ(s.Find(0x2000)->start, 0x2000u);
  s.Remove(0x8000, 0x20000);  // overlaps the end
  EXPECT_EQ(s.Find(0x7000)->end, 0x8000u);
  s.Remove(0x0, 0x100000);
  EXPECT_EQ(s.size(), 0u);
}

TEST(VmaSetTest, ModifyRangeSplitsThenRemerges) {
  VmaSet s;
  s.Insert(Anon(0x1000, 0x9000, kProtRead));
  s.ModifyRange(0x3000, 0x4000, [](Vma& v) { v.prot = kProtNone; });
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.Find(0x3000)->prot, kProtNone);
  EXPECT_EQ(s.Find(0x2fff)->prot, kProtRead);
  s.ModifyRange(0x3000, 0x4000, [](Vma& v) { v.prot = kProtRead; });
  EXPECT_EQ(s.size(), 1u);
}

TEST(VmaSetTest, ImageOffsetsFollowSplitsAndOnlyContiguousOnesMerge) {
  auto img = std::make_shared<GuestImage>();
  img->bytes.assign(0x10000, 'x');
  Vma v = Anon(0x10000, 0x14000);
  v.image = img;
  v.file_offset = 0x2000;
  v.file_bytes = 0x2800;  // 2.5 pages of file, then zeros
  VmaSet s;
  s.Insert(v);
  s.SplitAt(0x12000);
  const Vma* hi = s.Find(0x12000);
  ASSERT_NE(hi, nullptr);
  EXPECT_EQ(hi->file_offset, 0x4000u);
  EXPECT_EQ(hi->file_bytes, 0x800u);
  EXPECT_EQ(s.Find(0x10000)->file_bytes, 0x2000u);
  // Splitting inside the zero tail leaves no file bytes above the cut.
  s.SplitAt(0x13000);
  EXPECT_EQ(s.Find(0x13000)->file_bytes, 0u);
  // A neighbour with a discontiguous offset does not merge.
  Vma other = Anon(0x14000, 0x15000);
  other.image = img;
  other.file_offset = 0x9000;
  other.file_bytes = 0x1000;
  s.Insert(other);
  EXPECT_EQ(s.size(), 4u);
}

TEST(VmaSetTest, FindGapTopDownTakesTheHighestFit) {
  VmaSet s;
  s.Insert(Anon(0x10000, 0x20000));
  s.Insert(Anon(0x30000, 0x40000));
  EXPECT_EQ(*s.FindGapTopDown(0x1000, 0x1000, 0x50000), 0x4f000u);
  EXPECT_EQ(*s.FindGapTopDown(0x10000, 0x1000, 0x40000), 0x20000u);
  EXPECT_EQ(*s.FindGapTopDown(0x10000, 0x1000, 0x35000), 0x20000u)
      << "a vma straddling the top";
  EXPECT_EQ(*s.FindGapTopDown(0xf000, 0x1000, 0x20000), 0x1000u);
  EXPECT_FALSE(s.FindGapTopDown(0x20000, 0x1000, 0x40000).has_value());
  EXPECT_FALSE(s.FindGapTopDown(0, 0x1000, 0x40000).has_value());
  EXPECT_FALSE(s.FindGapTopDown(0x1000, 0x5000, 0x4000).has_value());
}

TEST(VmaSetTest, FullyMappedAndSplitsNeeded) {
  VmaSet s;
  s.Insert(Anon(0x1000, 0x3000, kProtRead));
  s.Insert(Anon(0x3000, 0x5000, kProtRead | kProtWrite));
  EXPECT_TRUE(s.FullyMapped(0x1000, 0x5000));
  EXPECT_FALSE(s.FullyMapped(0x1000, 0x6000));
  EXPECT_FALSE(s.FullyMapped(0x0, 0x2000));
  EXPECT_EQ(s.SplitsNeeded(0x2000, 0x4000), 2);
  EXPECT_EQ(s.SplitsNeeded(0x1000, 0x5000), 0);
  EXPECT_EQ(s.SplitsNeeded(0x1800, 0x1900), 2);
}

}  // namespace
}  // namespace memmgr::mmu
