#include "worker/mmu/page_table.h"

#include <vector>

#include "gtest/gtest.h"

namespace memmgr::mmu {
namespace {

TEST(PageTableTest, EmptyTableHasNoPtes) {
  PageTable pt;
  EXPECT_EQ(pt.Find(0), nullptr);
  EXPECT_EQ(pt.Find(kMaxUserVa - kPageSize), nullptr);
  EXPECT_EQ(pt.table_pages(), 1u);
}

TEST(PageTableTest, FindOrCreateBuildsOneTablePerLevel) {
  PageTable pt;
  Pte* p = pt.FindOrCreate(0x12345678000);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->none());
  EXPECT_EQ(pt.table_pages(), 4u);
  *p = Pte::Present(7, Pte::kRead);
  EXPECT_EQ(pt.Find(0x12345678000), p);
  EXPECT_EQ(pt.Find(0x12345678abc), p) << "same page, any offset";
  EXPECT_EQ(pt.Find(0x12345679000)->raw(), 0u) << "neighbour shares the leaf";
  // Same leaf table for the next page; new ones for a far address.
  pt.FindOrCreate(0x12345679000);
  EXPECT_EQ(pt.table_pages(), 4u);
  pt.FindOrCreate(kMaxUserVa - kPageSize);
  EXPECT_EQ(pt.table_pages(), 7u);
}

TEST(PageTableTest, ForEachPteVisitsOnlyTheRangeInOrder) {
  PageTable pt;
  std::vector<GuestAddr> addrs = {0x1000,       0x2000,
                                  0x200000,     0x40000000,
                                  0x8000000000, kMaxUserVa - kPageSize};
  for (GuestAddr a : addrs) *pt.FindOrCreate(a) = Pte::Present(1, 0);
  std::vector<GuestAddr> seen;
  pt.ForEachPte(0, kMaxUserVa, [&](GuestAddr va, Pte&) { seen.push_back(va); });
  EXPECT_EQ(seen, addrs);
  seen.clear();
  pt.ForEachPte(0x2000, 0x40000001,
                [&](GuestAddr va, Pte&) { seen.push_back(va); });
  EXPECT_EQ(seen, (std::vector<GuestAddr>{0x2000, 0x200000, 0x40000000}));
}

TEST(PageTableTest, FreeEmptyTablesReleasesOnlyEmptyOnes) {
  PageTable pt;
  *pt.FindOrCreate(0x1000) = Pte::Present(1, 0);
  *pt.FindOrCreate(0x8000000000) = Pte::Present(2, 0);
  EXPECT_EQ(pt.table_pages(), 7u);
  pt.ForEachPte(0x8000000000, 0x8000001000,
                [](GuestAddr, Pte& p) { p = Pte(); });
  pt.FreeEmptyTables(0x8000000000, 0x8000001000);
  EXPECT_EQ(pt.table_pages(), 4u);
  EXPECT_EQ(pt.Find(0x8000000000), nullptr);
  EXPECT_EQ(pt.Find(0x1000)->pfn(), 1u);
  // A table with a live entry survives a free over its range.
  pt.FreeEmptyTables(0, kMaxUserVa);
  EXPECT_EQ(pt.table_pages(), 4u);
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
