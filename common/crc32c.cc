#include "common/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace memmgr {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ kPolyReflected : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t ExtendPortable(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

// --- Combining CRCs: the operator that advances a CRC over `len` zero
// bytes, as 4 byte-indexed tables (Mark Adler's method). With it three
// independent crc32 instruction chains, each over its own third of the
// buffer, are merged; the instruction's 3-cycle latency is then hidden.

uint32_t Gf2MatrixTimes(const uint32_t* mat, uint32_t vec) {
  uint32_t sum = 0;
  while (vec != 0) {
    if (vec & 1) sum ^= *mat;
    vec >>= 1;
    ++mat;
  }
  return sum;
}

void Gf2MatrixSquare(uint32_t* square, const uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = Gf2MatrixTimes(mat, mat[n]);
}

struct ZerosTable {
  uint32_t t[4][256];
};

// Table that shifts a (non-inverted) CRC over `len` zero bytes. REQUIRES:
// len is a power of two (each squaring doubles the operator's length).
ZerosTable MakeZerosTable(size_t len) {
  uint32_t even[32], odd[32];
  odd[0] = kPolyReflected;  // operator for one zero bit
  uint32_t row = 1;
  for (int n = 1; n < 32; ++n) {
    odd[n] = row;
    row <<= 1;
  }
  Gf2MatrixSquare(even, odd);  // two zero bits
  Gf2MatrixSquare(odd, even);  // four zero bits
  // Each square doubles the zeros; bytes start at the next square (8 bits).
  const uint32_t* result = even;
  do {
    Gf2MatrixSquare(even, odd);
    result = even;
    len >>= 1;
    if (len == 0) break;
    Gf2MatrixSquare(odd, even);
    result = odd;
    len >>= 1;
  } while (len != 0);
  ZerosTable z;
  for (uint32_t n = 0; n < 256; ++n) {
    z.t[0][n] = Gf2MatrixTimes(result, n);
    z.t[1][n] = Gf2MatrixTimes(result, n << 8);
    z.t[2][n] = Gf2MatrixTimes(result, n << 16);
    z.t[3][n] = Gf2MatrixTimes(result, n << 24);
  }
  return z;
}

inline uint32_t Shift(const ZerosTable& z, uint32_t crc) {
  return z.t[0][crc & 0xff] ^ z.t[1][(crc >> 8) & 0xff] ^
         z.t[2][(crc >> 16) & 0xff] ^ z.t[3][crc >> 24];
}

// Stream lengths (powers of two): a 4096-byte page is one kLong round
// (3072 bytes), one kShort round (768) and 256 bytes on one chain.
constexpr size_t kLong = 1024;
constexpr size_t kShort = 256;
const ZerosTable kLongZeros = MakeZerosTable(kLong);
const ZerosTable kShortZeros = MakeZerosTable(kShort);

#if defined(__x86_64__)
template <size_t kStream>
__attribute__((target("sse4.2"))) inline uint64_t ThreeWay(
    uint64_t c0, const uint8_t* p, const ZerosTable& zeros) {
  uint64_t c1 = 0, c2 = 0;
  for (size_t i = 0; i < kStream; i += 8) {
    uint64_t w0, w1, w2;
    std::memcpy(&w0, p + i, 8);
    std::memcpy(&w1, p + kStream + i, 8);
    std::memcpy(&w2, p + 2 * kStream + i, 8);
    c0 = _mm_crc32_u64(c0, w0);
    c1 = _mm_crc32_u64(c1, w1);
    c2 = _mm_crc32_u64(c2, w2);
  }
  c0 = Shift(zeros, static_cast<uint32_t>(c0)) ^ c1;
  return Shift(zeros, static_cast<uint32_t>(c0)) ^ c2;
}

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc,
                                                       const uint8_t* p,
                                                       size_t n) {
  uint64_t c = static_cast<uint32_t>(~crc);
  while (n >= 3 * kLong) {
    c = ThreeWay<kLong>(c, p, kLongZeros);
    p += 3 * kLong;
    n -= 3 * kLong;
  }
  while (n >= 3 * kShort) {
    c = ThreeWay<kShort>(c, p, kShortZeros);
    p += 3 * kShort;
    n -= 3 * kShort;
  }
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}

bool DetectSse42() { return __builtin_cpu_supports("sse4.2"); }
#else
bool DetectSse42() { return false; }
#endif

const bool kHaveSse42 = DetectSse42();

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (kHaveSse42) return ExtendSse42(crc, p, n);
#endif
  return ExtendPortable(crc, p, n);
}

uint32_t Crc32cExtendPortableForTest(uint32_t crc, const void* data, size_t n) {
  return ExtendPortable(crc, static_cast<const uint8_t*>(data), n);
}

bool Crc32cIsHardwareAccelerated() { return kHaveSse42; }

}  // namespace memmgr
