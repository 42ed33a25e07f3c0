#include "worker/mmu/page_table.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "worker/mmu/frame_pool.h"

namespace memmgr::mmu {
namespace {

TEST(PageTableTest, EmptyTableHasNoPtes) {
  PageTable pt;
  EXPECT_EQ(pt.Find(0), nullptr);
  EXPECT_EQ(pt.Find(kMaxUserVa - kPageSize), nullptr);
  EXPECT_EQ(pt.table_pages(), 1u);
}

TEST(PageTableTest, FindForWriteBuildsOneTablePerLevel) {
  PageTable pt;
  Pte* p = pt.FindForWrite(0x12345678000);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->none());
  EXPECT_EQ(pt.table_pages(), 4u);
  *p = Pte::Present(7, Pte::kRead);
  EXPECT_EQ(pt.Find(0x12345678000), p);
  EXPECT_EQ(pt.Find(0x12345678abc), p) << "same page, any offset";
  EXPECT_EQ(pt.Find(0x12345679000)->raw(), 0u) << "neighbour shares the leaf";
  EXPECT_TRUE(pt.Lookup(0x12345678000).exclusive);
  // Same leaf table for the next page; new ones for a far address.
  pt.FindForWrite(0x12345679000);
  EXPECT_EQ(pt.table_pages(), 4u);
  pt.FindForWrite(kMaxUserVa - kPageSize);
  EXPECT_EQ(pt.table_pages(), 7u);
  EXPECT_EQ(pt.unshares(), 0u);
}

TEST(PageTableTest, ForEachPteVisitsOnlyTheRangeInOrder) {
  PageTable pt;
  std::vector<GuestAddr> addrs = {0x1000,       0x2000,
                                  0x200000,     0x40000000,
                                  0x8000000000, kMaxUserVa - kPageSize};
  for (GuestAddr a : addrs) *pt.FindForWrite(a) = Pte::Present(1, 0);
  std::vector<GuestAddr> seen;
  pt.ForEachPte(0, kMaxUserVa, [&](GuestAddr va, Pte) { seen.push_back(va); });
  EXPECT_EQ(seen, addrs);
  seen.clear();
  pt.ForEachPte(0x2000, 0x40000001,
                [&](GuestAddr va, Pte) { seen.push_back(va); });
  EXPECT_EQ(seen, (std::vector<GuestAddr>{0x2000, 0x200000, 0x40000000}));
}

TEST(PageTableTest, ZapClearsTheRangeAndFreesOnlyEmptyTables) {
  PageTable pt;
  *pt.FindForWrite(0x1000) = Pte::Present(1, 0);
  *pt.FindForWrite(0x8000000000) = Pte::Present(2, 0);
  EXPECT_EQ(pt.table_pages(), 7u);
  EXPECT_EQ(pt.Zap(0x8000000000, 0x8000001000), 1u);
  EXPECT_EQ(pt.table_pages(), 4u);
  EXPECT_EQ(pt.Find(0x8000000000), nullptr);
  EXPECT_EQ(pt.Find(0x1000)->pfn(), 1u);
  // A table with a live entry survives a zap of an empty part of its range.
  EXPECT_EQ(pt.Zap(0x2000, 0x200000), 0u);
  EXPECT_EQ(pt.table_pages(), 4u);
  EXPECT_EQ(pt.Zap(0, kMaxUserVa), 1u);
  EXPECT_EQ(pt.table_pages(), 1u);
}

TEST(PageTableTest, ShareCopiesTheRootAndAWriteCopiesOnlyItsPath) {
  PageTable parent;
  *parent.FindForWrite(0x1000) = Pte::Present(1, Pte::kRead);
  *parent.FindForWrite(0x8000000000) = Pte::Present(2, Pte::kRead);
  PageTable child;
  child.Share(parent);
  EXPECT_EQ(child.table_pages(), parent.table_pages());
  for (PageTable* t : {&parent, &child}) {
    EXPECT_FALSE(t->Lookup(0x1000).exclusive);
    EXPECT_FALSE(t->Lookup(0x8000000000).exclusive);
  }
  EXPECT_EQ(child.Find(0x1000), parent.Find(0x1000)) << "the same leaf";

  // The child writes below 0x1000: its three tables on that path are
  // copied; the other path stays shared.
  *child.FindForWrite(0x1000) = Pte::Present(3, Pte::kRead);
  EXPECT_EQ(child.unshares(), 3u);
  EXPECT_EQ(child.table_pages(), 7u) << "a copy replaces a shared table";
  EXPECT_EQ(parent.Find(0x1000)->pfn(), 1u) << "the parent is unchanged";
  EXPECT_EQ(child.Find(0x1000)->pfn(), 3u);
  EXPECT_TRUE(child.Lookup(0x1000).exclusive);
  EXPECT_TRUE(parent.Lookup(0x1000).exclusive) << "the parent is alone there";
  EXPECT_FALSE(child.Lookup(0x8000000000).exclusive);
  EXPECT_EQ(parent.unshares(), 0u);
}

TEST(PageTableTest, ZappingASharedSubtreeReleasesItWithoutCopying) {
  PageTable parent;
  for (GuestAddr va = 0x40000000; va < 0x40000000 + 64 * kPageSize;
       va += kPageSize) {
    *parent.FindForWrite(va) = Pte::Present(5, Pte::kRead);
  }
  {
    PageTable child;
    child.Share(parent);
    // The whole 1 GiB entry goes: only the table above it is copied (to
    // clear the entry); the 1 GiB subtree is released, not copied.
    EXPECT_EQ(child.Zap(0x40000000, 0x80000000), 64u);
    EXPECT_EQ(child.unshares(), 1u);
    EXPECT_EQ(child.table_pages(), 1u) << "the emptied copy is freed too";
    // Part of a leaf: the path is copied, the rest kept.
    child.Share(parent);
    EXPECT_EQ(child.Zap(0x40000000, 0x40000000 + kPageSize), 1u);
    EXPECT_EQ(child.unshares(), 4u);
    EXPECT_EQ(child.Find(0x40000000)->raw(), 0u);
    EXPECT_EQ(child.Find(0x40001000)->pfn(), 5u);
  }
  EXPECT_EQ(parent.Find(0x40000000)->pfn(), 5u);
  EXPECT_TRUE(parent.Lookup(0x40000000).exclusive);
}

TEST(PageTableTest, LeafCopiesHoldFrameReferencesUntilTheLastTableGoes) {
  FramePool::Options po;
  po.bytes = 1 << 20;
  auto pool = FramePool::Create(po);
  ASSERT_TRUE(pool.ok());
  const Pfn pfn = (*pool)->Alloc();
  ASSERT_NE(pfn, kNoPfn);
  (*pool)->Descriptor(pfn).mapcount.store(1);
  auto parent = std::make_unique<PageTable>(pool->get());
  *parent->FindForWrite(0x1000) = Pte::Present(pfn, Pte::kRead);
  auto child = std::make_unique<PageTable>(pool->get());
  child->Share(*parent);
  EXPECT_EQ((*pool)->Descriptor(pfn).refcount.load(), 1u)
      << "shared tables: one leaf, one reference";
  child->FindForWrite(0x2000);  // a write elsewhere in the same leaf
  EXPECT_EQ((*pool)->Descriptor(pfn).refcount.load(), 2u);
  EXPECT_EQ((*pool)->Descriptor(pfn).mapcount.load(), 2u);
  EXPECT_TRUE(child->Find(0x1000)->cow()) << "the copy marks shared frames";
  EXPECT_FALSE(parent->Find(0x1000)->cow());
  parent.reset();
  EXPECT_EQ((*pool)->Descriptor(pfn).refcount.load(), 1u);
  EXPECT_EQ((*pool)->GetStats().used_frames, 1u);
  child.reset();
  EXPECT_EQ((*pool)->GetStats().used_frames, 0u);
}

TEST(PteTest, EncodesPresentAndSwapEntries) {
  Pte p = Pte::Present(0xABCDE, Pte::kRead | Pte::kWrite | Pte::kDirty);
  EXPECT_TRUE(p.present());
  EXPECT_FALSE(p.is_swap());
  EXPECT_EQ(p.pfn(), 0xABCDEu);
  EXPECT_TRUE(p.writable());
  EXPECT_FALSE(p.executable());
  EXPECT_TRUE(p.dirty());
  Pte s = Pte::SwapEntry(Pte::kMaxSwapValue);
  EXPECT_FALSE(s.present());
  EXPECT_TRUE(s.is_swap());
  EXPECT_EQ(s.swap_value(), Pte::kMaxSwapValue);
  EXPECT_FALSE(Pte().is_swap());
  EXPECT_TRUE(Pte().none());
  EXPECT_EQ(Pte::Present(~Pfn{0}, 0).pfn(), ~Pfn{0});
}

}  // namespace
}  // namespace memmgr::mmu
