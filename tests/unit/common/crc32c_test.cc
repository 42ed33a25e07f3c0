#include "common/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace memmgr {
namespace {

// Test vectors from RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32cTest, MatchesRfc3720Vectors) {
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32cTest, HardwareAndPortablePathsAgreeOnEveryLengthAndSplit) {
  std::string data(3 * 4096, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 131 + 7);
  // Around every stream boundary of the three-way path (3*256, 3*1024).
  for (size_t len :
       {0,    1,    7,    8,    9,    63,   767,  768,  769,  775,
        1536, 3071, 3072, 3073, 3840, 4088, 4096, 4109, 6144, 6912}) {
    EXPECT_EQ(Crc32c(data.data(), len),
              Crc32cExtendPortableForTest(0, data.data(), len))
        << "len " << len;
  }
  for (size_t len = 0; len <= data.size(); len += 97) {
    ASSERT_EQ(Crc32c(data.data(), len),
              Crc32cExtendPortableForTest(0, data.data(), len))
        << "len " << len;
  }
  // Extending in two pieces equals one pass.
  const uint32_t whole = Crc32c(data);
  const uint32_t split = Crc32cExtend(Crc32c(data.data(), 1000),
                                      data.data() + 1000, data.size() - 1000);
  EXPECT_EQ(whole, split);
}

TEST(Crc32cTest, DetectsASingleFlippedBit) {
  std::string page(4096, 'a');
  const uint32_t before = Crc32c(page);
  page[2049] ^= 0x10;
  EXPECT_NE(Crc32c(page), before);
}

}  // namespace
}  // namespace memmgr
