// Page encodings of the compressed tier: every kind of page round-trips
// through every compressor; what does not compress is stored raw and
// flagged; any damage is DATA_LOSS, never wrong bytes.
#include "server/swap/page_codec.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace memmgr {
namespace {

constexpr size_t kPage = 4096;

std::string Zero() { return std::string(kPage, '\0'); }
std::string SameWord(uint64_t w) {
  std::string p(kPage, '\0');
  for (size_t i = 0; i < kPage; i += 8) std::memcpy(&p[i], &w, 8);
  return p;
}
std::string Text() {
  std::string p;
  const char* words[] = {"memory ", "manager ", "swap ",  "slot ", "page ",
                         "the ",    "of ",      "zswap ", "pool "};
  for (int i = 0; p.size() < kPage; ++i) p += words[(i * 7) % 9];
  p.resize(kPage);
  return p;
}
std::string Random(uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string p(kPage, '\0');
  for (size_t i = 0; i < kPage; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&p[i], &v, 8);
  }
  return p;
}
// Like a heap page: small integers, pointers into one region, zero runs.
std::string HeapLike(uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string p(kPage, '\0');
  for (size_t i = 0; i < kPage; i += 8) {
    uint64_t v = 0;
    switch (rng() % 4) {
      case 0:
        v = rng() % 256;
        break;
      case 1:
        v = 0x00007f3a12340000ull + (rng() % 4096) * 16;
        break;
      default:
        break;  // zero
    }
    std::memcpy(&p[i], &v, 8);
  }
  return p;
}

std::string Decode(const EncodedPage& e) {
  std::string out(kPage, 'x');
  EXPECT_TRUE(DecodePage(e.codec, e.payload, e.crc, out.data()).ok());
  return out;
}

TEST(PageCodecTest, EveryKindOfPageRoundTripsThroughEveryCompressor) {
  const std::vector<std::string> pages = {Zero(),
                                          SameWord(0x0101010101010101),
                                          SameWord(0xdeadbeefcafef00d),
                                          Text(),
                                          Random(1),
                                          HeapLike(2),
                                          HeapLike(3)};
  for (Compressor c :
       {Compressor::kNone, Compressor::kLz4, Compressor::kZstd}) {
    EncodeOptions o;
    o.compressor = c;
    for (size_t i = 0; i < pages.size(); ++i) {
      const EncodedPage e = EncodePage(pages[i], o);
      EXPECT_EQ(Decode(e), pages[i]) << CompressorName(c) << " page " << i;
      EXPECT_LE(e.payload.size(), kPage);
    }
  }
}

TEST(PageCodecTest, SameFilledPagesAreOneWordWhateverTheCompressor) {
  for (Compressor c :
       {Compressor::kNone, Compressor::kLz4, Compressor::kZstd}) {
    EncodeOptions o;
    o.compressor = c;
    for (const std::string& p :
         {Zero(), SameWord(0xabababababababab), SameWord(42)}) {
      const EncodedPage e = EncodePage(p, o);
      EXPECT_EQ(e.codec, PageCodec::kSameFilled);
      EXPECT_EQ(e.payload.size(), 8u);
      EXPECT_FALSE(e.compress_poor);
    }
  }
  std::string almost = Zero();
  almost[4095] = 1;
  uint64_t w;
  EXPECT_FALSE(SameFilled(almost, &w));
}

TEST(PageCodecTest, CompressiblePagesShrinkAndRandomOnesAreStoredRaw) {
  for (Compressor c : {Compressor::kLz4, Compressor::kZstd}) {
    EncodeOptions o;
    o.compressor = c;
    const EncodedPage text = EncodePage(Text(), o);
    EXPECT_NE(text.codec, PageCodec::kRaw);
    EXPECT_LT(text.payload.size(), kPage / 4) << CompressorName(c);
    const EncodedPage heap = EncodePage(HeapLike(9), o);
    EXPECT_NE(heap.codec, PageCodec::kRaw);
    const EncodedPage random = EncodePage(Random(7), o);
    EXPECT_EQ(random.codec, PageCodec::kRaw);
    EXPECT_TRUE(random.compress_poor);
    EXPECT_EQ(random.payload, Random(7));
  }
  // The threshold decides: a limit below the text's compressed size makes
  // it raw (poor) too.
  EncodeOptions tight;
  tight.max_compressed_bytes = 16;
  const EncodedPage e = EncodePage(Text(), tight);
  EXPECT_EQ(e.codec, PageCodec::kRaw);
  EXPECT_TRUE(e.compress_poor);
  // No compressor: raw, and not "poor" (nothing was tried).
  EncodeOptions none;
  none.compressor = Compressor::kNone;
  EXPECT_FALSE(EncodePage(Text(), none).compress_poor);
}

TEST(PageCodecTest, EveryDamageIsDataLossNeverWrongBytes) {
  EncodeOptions o;
  for (Compressor c : {Compressor::kLz4, Compressor::kZstd}) {
    o.compressor = c;
    const EncodedPage e = EncodePage(HeapLike(5), o);
    ASSERT_NE(e.codec, PageCodec::kRaw);
    std::string out(kPage, '\0');
    // A flipped payload byte: the codec fails or the crc does.
    for (size_t at : {size_t{0}, e.payload.size() / 2, e.payload.size() - 1}) {
      std::string bad = e.payload;
      bad[at] ^= 0x40;
      EXPECT_EQ(DecodePage(e.codec, bad, e.crc, out.data()).code(),
                absl::StatusCode::kDataLoss)
          << CompressorName(c) << " byte " << at;
    }
    // Truncated, or a crc that does not match.
    EXPECT_EQ(DecodePage(e.codec, e.payload.substr(0, e.payload.size() - 3),
                         e.crc, out.data())
                  .code(),
              absl::StatusCode::kDataLoss);
    EXPECT_EQ(DecodePage(e.codec, e.payload, e.crc ^ 1, out.data()).code(),
              absl::StatusCode::kDataLoss);
    // The wrong codec for the bytes.
    EXPECT_EQ(DecodePage(PageCodec::kRaw, e.payload, e.crc, out.data()).code(),
              absl::StatusCode::kDataLoss);
  }
  std::string out(kPage, '\0');
  EXPECT_EQ(DecodePage(PageCodec::kSameFilled, "1234567", 0, out.data()).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePage(static_cast<PageCodec>(9), Zero(), 0, out.data()).code(),
            absl::StatusCode::kDataLoss);
}

TEST(PageCodecTest, CompressorNamesParse) {
  EXPECT_EQ(*ParseCompressor("lz4"), Compressor::kLz4);
  EXPECT_EQ(*ParseCompressor("zstd"), Compressor::kZstd);
  EXPECT_EQ(*ParseCompressor("none"), Compressor::kNone);
  EXPECT_EQ(ParseCompressor("gzip").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_STREQ(PageCodecName(PageCodec::kSameFilled), "same");
}

}  // namespace
}  // namespace memmgr
