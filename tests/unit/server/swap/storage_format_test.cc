#include "server/swap/storage_format.h"

#include "gtest/gtest.h"
#include "server/swap/swap_entry.h"

namespace memmgr {
namespace {

TEST(StorageFormatTest, NumberKeysSortNumerically) {
  EXPECT_LT(NumberKey('d', 1), NumberKey('d', 2));
  EXPECT_LT(NumberKey('d', 255), NumberKey('d', 256));
  EXPECT_LT(NumberKey('d', 0xffffffff), NumberKey('d', 0x100000000ull));
  uint64_t n = 0;
  EXPECT_TRUE(ParseNumberKey(NumberKey('s', 123456789), 's', &n));
  EXPECT_EQ(n, 123456789u);
  EXPECT_FALSE(ParseNumberKey(NumberKey('s', 1), 'd', &n));
  EXPECT_FALSE(ParseNumberKey("s123", 's', &n));
}

TEST(StorageFormatTest, SlotMetaRoundTripsAndRejectsGarbage) {
  SlotMeta m{42, 7, 3};
  absl::StatusOr<SlotMeta> back = DecodeSlotMeta(EncodeSlotMeta(m));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->generation, 42u);
  EXPECT_EQ(back->owner, 7u);
  EXPECT_EQ(back->refcount, 3u);
  EXPECT_EQ(DecodeSlotMeta("short").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeSlotMeta(EncodeSlotMeta(SlotMeta{1, 1, 0})).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(StorageFormatTest, PageRecordRoundTrips) {
  std::string page(kPageSize, '\0');
  for (size_t i = 0; i < page.size(); ++i)
    page[i] = static_cast<char>(i ^ 0x5a);
  std::string record;
  EncodePageRecord(page, 99, &record);
  ASSERT_EQ(record.size(), kPageRecordHeaderSize + kPageSize);
  std::string out;
  ASSERT_TRUE(DecodePageRecord(record, 99, &out).ok());
  EXPECT_EQ(out, page);
}

TEST(StorageFormatTest, PageRecordWithOtherGenerationIsNotFound) {
  std::string record;
  EncodePageRecord(std::string(kPageSize, 'x'), 5, &record);
  std::string out;
  EXPECT_EQ(DecodePageRecord(record, 6, &out).code(),
            absl::StatusCode::kNotFound);
}

TEST(StorageFormatTest, EveryCorruptionIsDataLossNeverWrongBytes) {
  std::string good;
  EncodePageRecord(std::string(kPageSize, 'q'), 1, &good);
  std::string out;
  // A flipped payload byte fails the crc.
  std::string bad = good;
  bad[kPageRecordHeaderSize + 100] ^= 1;
  EXPECT_EQ(DecodePageRecord(bad, 1, &out).code(), absl::StatusCode::kDataLoss);
  // A flipped crc byte too.
  bad = good;
  bad[5] ^= 1;
  EXPECT_EQ(DecodePageRecord(bad, 1, &out).code(), absl::StatusCode::kDataLoss);
  // Unknown codec, truncation, wrong length.
  bad = good;
  bad[0] = 9;
  EXPECT_EQ(DecodePageRecord(bad, 1, &out).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePageRecord(good.substr(0, 10), 1, &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePageRecord(good.substr(0, good.size() - 1), 1, &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace memmgr
