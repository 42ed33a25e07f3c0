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

TEST(StorageFormatTest, V1SlotMetaRoundTripsAndRejectsGarbage) {
  SlotMetaV1 m{42, 7, 3};
  const std::string v = EncodeSlotMetaV1ForTest(m);
  ASSERT_EQ(v.size(), 21u);  // the format-1 layout
  EXPECT_EQ(v[0], 1);
  absl::StatusOr<SlotMetaV1> back = DecodeSlotMetaV1(v);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->generation, 42u);
  EXPECT_EQ(back->owner, 7u);
  EXPECT_EQ(back->refcount, 3u);
  EXPECT_EQ(DecodeSlotMetaV1("short").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeSlotMetaV1(EncodeSlotMetaV1ForTest(SlotMetaV1{1, 1, 0}))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

RunMeta SampleRun() {
  RunMeta run;
  run.owner = 7;
  run.first_slot = 1000;
  run.first_generation = 123456;
  run.counts = {1, 0, 3, 1, 1, 0, 0, 1, 1, 2};  // 10 slots, 3 dead
  return run;
}

TEST(StorageFormatTest, RunMetaRoundTripsLiveSlotsAndCounts) {
  const RunMeta run = SampleRun();
  const std::string v = EncodeRunMeta(run);
  // 25-byte header, 2 bitmap bytes, 4 + 2 x 8 bytes of count exceptions.
  EXPECT_EQ(v.size(), 25u + 2 + 4 + 16);
  absl::StatusOr<RunMeta> back = DecodeRunMeta(v);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->owner, 7u);
  EXPECT_EQ(back->first_slot, 1000u);
  EXPECT_EQ(back->first_generation, 123456u);
  EXPECT_EQ(back->counts, run.counts);
  EXPECT_TRUE(back->any_live());

  // A fresh 64-slot run (every slot live, count 1) is 37 bytes.
  RunMeta fresh;
  fresh.owner = 1;
  fresh.first_slot = 5;
  fresh.first_generation = 9;
  fresh.counts.assign(64, 1);
  EXPECT_EQ(EncodeRunMeta(fresh).size(), 37u);
  back = DecodeRunMeta(EncodeRunMeta(fresh));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->counts, fresh.counts);

  // The longest run, with a huge count on its last slot.
  fresh.counts.assign(kMaxRunSlots, 1);
  fresh.counts.back() = 0x7fffffff;
  back = DecodeRunMeta(EncodeRunMeta(fresh));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->counts, fresh.counts);
}

TEST(StorageFormatTest, RunKeysSortByFirstGeneration) {
  EXPECT_LT(RunKey(255), RunKey(256));
  uint64_t g = 0;
  EXPECT_TRUE(ParseNumberKey(RunKey(77), kRunMetaPrefix, &g));
  EXPECT_EQ(g, 77u);
}

TEST(StorageFormatTest, EveryMalformedRunRecordIsDataLoss) {
  const std::string good = EncodeRunMeta(SampleRun());
  auto code = [](const std::string& v) {
    return DecodeRunMeta(v).status().code();
  };
  ASSERT_EQ(code(good), absl::StatusCode::kOk);
  EXPECT_EQ(code(""), absl::StatusCode::kDataLoss);
  EXPECT_EQ(code(good.substr(0, 20)), absl::StatusCode::kDataLoss);
  EXPECT_EQ(code(good.substr(0, good.size() - 1)), absl::StatusCode::kDataLoss);
  EXPECT_EQ(code(good + "x"), absl::StatusCode::kDataLoss);
  std::string bad = good;
  bad[0] = 2;  // unknown version
  EXPECT_EQ(code(bad), absl::StatusCode::kDataLoss);
  bad = good;
  bad[21] = 0;  // length 0 (10 -> 0)
  EXPECT_EQ(code(bad), absl::StatusCode::kDataLoss);
  bad = good;
  bad[26] |= 0x80;  // bit 15 set in a 10-slot run
  EXPECT_EQ(code(bad), absl::StatusCode::kDataLoss);
  bad = good;
  bad[25] &= ~0x04;  // slot 2 dead but it has a count exception
  EXPECT_EQ(code(bad), absl::StatusCode::kDataLoss);

  RunMeta run = SampleRun();
  run.counts.assign(kMaxRunSlots + 1, 1);
  EXPECT_EQ(code(EncodeRunMeta(run)), absl::StatusCode::kDataLoss);
  run.counts.assign(3, 0);  // no live slot: such a record is deleted instead
  EXPECT_EQ(code(EncodeRunMeta(run)), absl::StatusCode::kDataLoss);
  run.counts = {1, 1};
  run.first_slot = ~uint64_t{0};
  EXPECT_EQ(code(EncodeRunMeta(run)), absl::StatusCode::kDataLoss);
  run.first_slot = 0;
  run.first_generation = ~uint64_t{0} - 1;
  EXPECT_EQ(code(EncodeRunMeta(run)), absl::StatusCode::kDataLoss);
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
