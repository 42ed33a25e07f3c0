#include "common/byte_size.h"

#include "gtest/gtest.h"

namespace memmgr {
namespace {

TEST(ByteSizeTest, ParsesPlainBytesAndBinarySuffixes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("64M"), 64u << 20);
  EXPECT_EQ(*ParseByteSize("1G"), 1u << 30);
  EXPECT_EQ(*ParseByteSize("1g"), 1u << 30);
  EXPECT_EQ(*ParseByteSize("512Ki"), 512u << 10);
  EXPECT_EQ(*ParseByteSize("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseByteSize("3T"), 3ull << 40);
  EXPECT_EQ(*ParseByteSize(" 8K "), 8u << 10);
  EXPECT_EQ(*ParseByteSize("100B"), 100u);
  EXPECT_EQ(*ParseByteSize("0"), 0u);
}

TEST(ByteSizeTest, RejectsBadText) {
  for (const char* bad : {"", "M", "-1", "1.5G", "12X", "1GG", "1Gx", "0x10",
                          "99999999999999999999", "17179869184G"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

TEST(ByteSizeTest, FormatRoundTrips) {
  for (uint64_t v :
       {uint64_t{0}, uint64_t{1}, uint64_t{1536}, uint64_t{64} << 20,
        uint64_t{1} << 30, (uint64_t{1} << 40) * 5}) {
    EXPECT_EQ(*ParseByteSize(FormatByteSize(v)), v) << FormatByteSize(v);
  }
  EXPECT_EQ(FormatByteSize(64u << 20), "64M");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
}

TEST(ByteSizeTest, WorksAsAnAbslFlagType) {
  ByteSize s;
  std::string err;
  EXPECT_TRUE(AbslParseFlag("1G", &s, &err));
  EXPECT_EQ(s.bytes, 1u << 30);
  EXPECT_EQ(AbslUnparseFlag(s), "1G");
  EXPECT_FALSE(AbslParseFlag("lots", &s, &err));
  EXPECT_NE(err.find("lots"), std::string::npos);
}

}  // namespace
}  // namespace memmgr
