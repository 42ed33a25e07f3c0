#include "worker/rv64/fpu.h"

#include <immintrin.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

// This file must be compiled with -frounding-math -fsignaling-nans (see
// worker/CMakeLists.txt): the host computations below run under rounding
// modes the compiler cannot see, and their flags matter.
#if !defined(__x86_64__) || !defined(__SSE2__)
#error "fpu.cc computes on the x86-64 SSE unit and programs MXCSR directly"
#endif

namespace memmgr::rv64::fpu {
namespace {

using U128 = unsigned __int128;

// ---------------------------------------------------------------------------
// Formats.

struct F32 {
  using Bits = uint32_t;
  using Host = float;
  static constexpr int kWidth = 32;
  static constexpr int kP = 24;  // significand bits, including the hidden one
  static constexpr int kBias = 127;
  static constexpr int kEmin = -126;  // exponent of the smallest normal
  static constexpr int kEmax = 127;
  static constexpr Bits kExpField = 0xff;
  static constexpr Bits kSign = 0x80000000u;
  static constexpr Bits kInf = 0x7f800000u;
  static constexpr Bits kMaxFinite = 0x7f7fffffu;
  static constexpr Bits kQuietBit = 0x00400000u;
  static constexpr Bits kMantMask = 0x007fffffu;
  static constexpr Bits kCanonicalNaN = kCanonicalNaN32;
};

struct F64 {
  using Bits = uint64_t;
  using Host = double;
  static constexpr int kWidth = 64;
  static constexpr int kP = 53;
  static constexpr int kBias = 1023;
  static constexpr int kEmin = -1022;
  static constexpr int kEmax = 1023;
  static constexpr Bits kExpField = 0x7ff;
  static constexpr Bits kSign = 0x8000000000000000ull;
  static constexpr Bits kInf = 0x7ff0000000000000ull;
  static constexpr Bits kMaxFinite = 0x7fefffffffffffffull;
  static constexpr Bits kQuietBit = 0x0008000000000000ull;
  static constexpr Bits kMantMask = 0x000fffffffffffffull;
  static constexpr Bits kCanonicalNaN = kCanonicalNaN64;
};

template <class F>
using Bits = typename F::Bits;

template <class F>
inline bool IsNaN(Bits<F> x) {
  return (x & ~F::kSign) > F::kInf;
}
template <class F>
inline bool IsSNaN(Bits<F> x) {
  return IsNaN<F>(x) && (x & F::kQuietBit) == 0;
}
template <class F>
inline bool IsInf(Bits<F> x) {
  return (x & ~F::kSign) == F::kInf;
}
template <class F>
inline bool IsInfOrNaN(Bits<F> x) {
  return (x & F::kInf) == F::kInf;
}
template <class F>
inline bool IsZero(Bits<F> x) {
  return (x & ~F::kSign) == 0;
}
template <class F>
inline bool SignOf(Bits<F> x) {
  return (x >> (F::kWidth - 1)) != 0;
}
template <class F>
inline unsigned ExpField(Bits<F> x) {
  return static_cast<unsigned>((x >> (F::kP - 1)) & F::kExpField);
}
// §11.3: every NaN result is the canonical NaN, whatever the inputs were.
template <class F>
inline Bits<F> Canonicalize(Bits<F> x) {
  return IsNaN<F>(x) ? F::kCanonicalNaN : x;
}

template <class F>
inline typename F::Host ToHost(Bits<F> x) {
  return std::bit_cast<typename F::Host>(x);
}
template <class F>
inline Bits<F> FromHost(typename F::Host x) {
  return std::bit_cast<Bits<F>>(x);
}

// The fast paths below only trust a result whose biased exponent is in
// [2, max - 2]: then it is normal and not the smallest binade, so it cannot
// be tiny (no UF, even with tininess detected after rounding), it is not an
// overflow, an infinity or a NaN (so no OF, DZ or NV either, and the inputs
// were finite), and it is far enough from overflow that the error terms
// computed below cannot overflow. NX is the only flag left to decide.
template <class F>
inline bool IsSafeResult(typename F::Host r) {
  return ExpField<F>(FromHost<F>(r)) - 2u < F::kExpField - 3u;
}

// For sums the window extends down through zero: a rounded sum below
// 2^(emin+1) comes from an exact sum below it (rounding is monotonic and
// 2^(emin+1) is a float), which as a multiple of the smallest subnormal has
// at most kP significant bits: it is exact, no UF or NX, and TwoSum's error
// term is 0. Only the top binade, infinities and NaN are left out.
template <class F>
inline bool IsSafeSum(typename F::Host r) {
  return ExpField<F>(FromHost<F>(r)) < F::kExpField - 1u;
}

// A finite nonzero value as (-1)^sign * sig * 2^exp, sig an integer.
struct Unpacked {
  bool sign;
  int exp;
  uint64_t sig;
};

template <class F>
inline Unpacked Unpack(Bits<F> x) {
  const int biased = static_cast<int>(ExpField<F>(x));
  const uint64_t mant = x & F::kMantMask;
  if (biased == 0) return {SignOf<F>(x), F::kEmin - (F::kP - 1), mant};
  return {SignOf<F>(x), biased - F::kBias - (F::kP - 1),
          mant | (uint64_t{1} << (F::kP - 1))};
}

// ---------------------------------------------------------------------------
// Exact software rounding (fpu::soft and the RMM mode).
//
// Producers hand RoundPack a 64-bit significand whose bit 0 may be "sticky":
// set when nonzero bits were shifted out below it. Every producer keeps the
// sticky bit far below the rounding position, so the rounding decision and
// the inexactness are the same as for the exact value.

inline int Clz128(U128 x) {
  const uint64_t hi = static_cast<uint64_t>(x >> 64);
  return hi != 0 ? std::countl_zero(hi)
                 : 64 + std::countl_zero(static_cast<uint64_t>(x));
}

inline uint64_t ShiftRightJam64(uint64_t x, int n) {
  if (n <= 0) return x;
  if (n >= 64) return x != 0;
  return (x >> n) | ((x << (64 - n)) != 0);
}

inline U128 ShiftRightJam128(U128 x, int n) {
  if (n <= 0) return x;
  if (n >= 128) return x != 0;
  return (x >> n) | static_cast<U128>((x << (128 - n)) != 0);
}

// Normalizes x (nonzero) to its top 64 bits with the rest jammed into bit 0;
// *exp is adjusted so that the value is unchanged (up to the sticky bit).
inline uint64_t Reduce128(U128 x, int* exp) {
  const int lz = Clz128(x);
  x <<= lz;
  *exp += 64 - lz;
  return static_cast<uint64_t>(x >> 64) | (static_cast<uint64_t>(x) != 0);
}

// Drops the low `drop` bits (1..63) of sig, rounding the rest per rm.
inline uint64_t RoundShift(uint64_t sig, int drop, bool negative, uint32_t rm,
                           bool* inexact) {
  const uint64_t q = sig >> drop;
  const uint64_t rest = sig & ((uint64_t{1} << drop) - 1);
  const uint64_t half = uint64_t{1} << (drop - 1);
  *inexact = rest != 0;
  bool up;
  switch (rm) {
    case kRtz:
      up = false;
      break;
    case kRdn:
      up = negative && rest != 0;
      break;
    case kRup:
      up = !negative && rest != 0;
      break;
    case kRmm:
      up = rest >= half;
      break;
    default:  // kRne
      up = rest > half || (rest == half && (q & 1) != 0);
      break;
  }
  return q + up;
}

// IEEE 754 §7.4: an overflowing result is ±inf when rounding to nearest or
// towards it (RUP for a positive result, RDN for a negative one), else the
// largest finite value of its sign.
template <class F>
inline Bits<F> OverflowResult(bool negative, uint32_t rm) {
  const bool to_inf = rm == kRne || rm == kRmm || (rm == kRdn && negative) ||
                      (rm == kRup && !negative);
  return (negative ? F::kSign : 0) | (to_inf ? F::kInf : F::kMaxFinite);
}

// Rounds (-1)^negative * sig * 2^exp (sig != 0) to format F.
template <class F>
Bits<F> RoundPack(bool negative, int exp, uint64_t sig, uint32_t rm,
                  uint32_t* flags) {
  constexpr int kDrop = 64 - F::kP;
  const int lz = std::countl_zero(sig);
  sig <<= lz;
  int e = exp - lz + 63;  // the value is in [2^e, 2^(e+1))
  const Bits<F> sign = negative ? F::kSign : 0;
  bool inexact;
  if (e < F::kEmin) {
    // §11.4: tininess is detected after rounding, i.e. the result is tiny
    // unless rounding to kP bits with an unbounded exponent reaches 2^emin.
    bool tiny = true;
    if (e == F::kEmin - 1) {
      bool unused;
      tiny = RoundShift(sig, kDrop, negative, rm, &unused) <
             (uint64_t{1} << F::kP);
    }
    sig = ShiftRightJam64(sig, F::kEmin - e);
    const uint64_t q = RoundShift(sig, kDrop, negative, rm, &inexact);
    // IEEE 754 §7.5 (default handling): UF only when also inexact.
    if (inexact) *flags |= kInexact | (tiny ? kUnderflow : 0u);
    // q == 2^(kP-1) carries into the exponent field: the smallest normal.
    return sign | static_cast<Bits<F>>(q);
  }
  uint64_t q = RoundShift(sig, kDrop, negative, rm, &inexact);
  if ((q >> F::kP) != 0) {  // rounded up to 2^kP: exact to shift
    q >>= 1;
    ++e;
  }
  if (e > F::kEmax) {
    *flags |= kOverflow | kInexact;
    return OverflowResult<F>(negative, rm);
  }
  if (inexact) *flags |= kInexact;
  // q includes the hidden bit, which adds one to the exponent field.
  return sign | ((static_cast<Bits<F>>(e + F::kBias - 1) << (F::kP - 1)) +
                 static_cast<Bits<F>>(q));
}

// The NaN result of an operation with a NaN operand (§11.3): canonical, NV
// if an operand is signaling.
template <class F>
inline Bits<F> NaNResult2(Bits<F> a, Bits<F> b, uint32_t* flags) {
  if (IsSNaN<F>(a) || IsSNaN<F>(b)) *flags |= kInvalid;
  return F::kCanonicalNaN;
}

template <class F>
inline Bits<F> InvalidResult(uint32_t* flags) {
  *flags |= kInvalid;
  return F::kCanonicalNaN;
}

// An exact zero sum of operands of opposite signs (IEEE 754 §6.3): +0, or
// -0 when rounding down.
template <class F>
inline Bits<F> ExactZeroSum(uint32_t rm) {
  return rm == kRdn ? F::kSign : 0;
}

template <class F>
Bits<F> SoftAdd(Bits<F> a, Bits<F> b, uint32_t rm, uint32_t* flags) {
  if (IsNaN<F>(a) || IsNaN<F>(b)) return NaNResult2<F>(a, b, flags);
  if (IsInf<F>(a)) {
    if (IsInf<F>(b) && a != b) return InvalidResult<F>(flags);  // inf - inf
    return a;
  }
  if (IsInf<F>(b)) return b;
  if (IsZero<F>(a) && IsZero<F>(b)) {
    return SignOf<F>(a) == SignOf<F>(b) ? a : ExactZeroSum<F>(rm);
  }
  if (IsZero<F>(a)) return b;
  if (IsZero<F>(b)) return a;
  Unpacked x = Unpack<F>(a), y = Unpack<F>(b);
  // Leading ones at bit 62: a carry fits, and the (at most 53-bit)
  // significands leave >= 10 zero bits below, so the aligned operand is only
  // jammed when the exponents differ by more than that; then the sum keeps
  // its leading one at bit 61 or above and the sticky bit stays far below
  // the rounding position.
  const int lx = std::countl_zero(x.sig) - 1;
  const int ly = std::countl_zero(y.sig) - 1;
  x.sig <<= lx;
  x.exp -= lx;
  y.sig <<= ly;
  y.exp -= ly;
  if (x.exp < y.exp || (x.exp == y.exp && x.sig < y.sig)) std::swap(x, y);
  y.sig = ShiftRightJam64(y.sig, x.exp - y.exp);
  uint64_t sum;
  if (x.sign == y.sign) {
    sum = x.sig + y.sig;
  } else {
    sum = x.sig - y.sig;
    if (sum == 0) return ExactZeroSum<F>(rm);
  }
  return RoundPack<F>(x.sign, x.exp, sum, rm, flags);
}

template <class F>
Bits<F> SoftMul(Bits<F> a, Bits<F> b, uint32_t rm, uint32_t* flags) {
  if (IsNaN<F>(a) || IsNaN<F>(b)) return NaNResult2<F>(a, b, flags);
  const Bits<F> sign = (a ^ b) & F::kSign;
  if (IsInf<F>(a) || IsInf<F>(b)) {
    if (IsZero<F>(a) || IsZero<F>(b)) return InvalidResult<F>(flags);
    return sign | F::kInf;
  }
  if (IsZero<F>(a) || IsZero<F>(b)) return sign;
  const Unpacked x = Unpack<F>(a), y = Unpack<F>(b);
  int exp = x.exp + y.exp;
  const uint64_t sig = Reduce128(static_cast<U128>(x.sig) * y.sig, &exp);
  return RoundPack<F>(sign != 0, exp, sig, rm, flags);
}

template <class F>
Bits<F> SoftDiv(Bits<F> a, Bits<F> b, uint32_t rm, uint32_t* flags) {
  if (IsNaN<F>(a) || IsNaN<F>(b)) return NaNResult2<F>(a, b, flags);
  const Bits<F> sign = (a ^ b) & F::kSign;
  if (IsInf<F>(a)) {
    if (IsInf<F>(b)) return InvalidResult<F>(flags);
    return sign | F::kInf;
  }
  if (IsInf<F>(b)) return sign;
  if (IsZero<F>(b)) {
    if (IsZero<F>(a)) return InvalidResult<F>(flags);
    *flags |= kDivByZero;
    return sign | F::kInf;
  }
  if (IsZero<F>(a)) return sign;
  Unpacked x = Unpack<F>(a), y = Unpack<F>(b);
  const int lx = std::countl_zero(x.sig), ly = std::countl_zero(y.sig);
  x.sig <<= lx;
  y.sig <<= ly;
  // Both in [2^63, 2^64): the quotient (x.sig * 2^64) / y.sig is in
  // (2^63, 2^65) with at least 64 exact bits; the remainder is sticky.
  const U128 n = static_cast<U128>(x.sig) << 64;
  const U128 q = n / y.sig;
  const uint64_t rem_sticky = (n % y.sig) != 0;
  int exp = (x.exp - lx) - (y.exp - ly) - 64;
  uint64_t sig;
  if ((q >> 64) != 0) {
    sig = static_cast<uint64_t>(q >> 1) | static_cast<uint64_t>(q & 1) |
          rem_sticky;
    ++exp;
  } else {
    sig = static_cast<uint64_t>(q) | rem_sticky;
  }
  return RoundPack<F>(sign != 0, exp, sig, rm, flags);
}

// a*b + c with one rounding.
template <class F>
Bits<F> SoftFma(Bits<F> a, Bits<F> b, Bits<F> c, uint32_t rm, uint32_t* flags) {
  const bool inf_times_zero =
      (IsInf<F>(a) && IsZero<F>(b)) || (IsZero<F>(a) && IsInf<F>(b));
  if (IsNaN<F>(a) || IsNaN<F>(b) || IsNaN<F>(c)) {
    // §11.6: NV for inf*0 "even when the addend is a quiet NaN".
    if (IsSNaN<F>(a) || IsSNaN<F>(b) || IsSNaN<F>(c) || inf_times_zero) {
      *flags |= kInvalid;
    }
    return F::kCanonicalNaN;
  }
  if (inf_times_zero) return InvalidResult<F>(flags);
  const Bits<F> psign = (a ^ b) & F::kSign;
  if (IsInf<F>(a) || IsInf<F>(b)) {
    if (IsInf<F>(c) && (c & F::kSign) != psign) {
      return InvalidResult<F>(flags);  // inf - inf
    }
    return psign | F::kInf;
  }
  if (IsInf<F>(c)) return c;
  if (IsZero<F>(a) || IsZero<F>(b)) {  // exact ±0 product
    if (IsZero<F>(c)) {
      return (c & F::kSign) == psign ? c : ExactZeroSum<F>(rm);
    }
    return c;
  }
  const Unpacked x = Unpack<F>(a), y = Unpack<F>(b);
  U128 prod = static_cast<U128>(x.sig) * y.sig;  // exact, <= 106 bits
  int pexp = x.exp + y.exp;
  if (IsZero<F>(c)) {  // the nonzero product alone, rounded once
    const uint64_t sig = Reduce128(prod, &pexp);
    return RoundPack<F>(psign != 0, pexp, sig, rm, flags);
  }
  const Unpacked z = Unpack<F>(c);
  // Both addends with their leading one at bit 125 (headroom for the carry).
  // The product has <= 106 significant bits and c <= 53, leaving >= 20 zero
  // bits below: jamming only happens when the exponents differ by more than
  // 20, and then the sum keeps its leading one at bit 124 or above.
  const int lp = Clz128(prod) - 2;
  prod <<= lp;
  pexp -= lp;
  U128 csig = z.sig;
  const int lc = Clz128(csig) - 2;
  csig <<= lc;
  struct Addend {
    bool sign;
    int exp;
    U128 sig;
  };
  Addend hi{psign != 0, pexp, prod}, lo{z.sign, z.exp - lc, csig};
  if (hi.exp < lo.exp || (hi.exp == lo.exp && hi.sig < lo.sig)) {
    std::swap(hi, lo);
  }
  lo.sig = ShiftRightJam128(lo.sig, hi.exp - lo.exp);
  U128 sum;
  if (hi.sign == lo.sign) {
    sum = hi.sig + lo.sig;
  } else {
    sum = hi.sig - lo.sig;
    if (sum == 0) return ExactZeroSum<F>(rm);
  }
  int exp = hi.exp;
  const uint64_t sig = Reduce128(sum, &exp);
  return RoundPack<F>(hi.sign, exp, sig, rm, flags);
}

template <class F>
Bits<F> SoftFromInt(bool negative, uint64_t magnitude, uint32_t rm,
                    uint32_t* flags) {
  if (magnitude == 0) return 0;  // §11.7: fcvt.s.w rd, x0 is +0, no flags
  return RoundPack<F>(negative, 0, magnitude, rm, flags);
}

inline uint32_t SoftCvtSD(uint64_t a, uint32_t rm, uint32_t* flags) {
  if (IsNaN<F64>(a)) {
    if (IsSNaN<F64>(a)) *flags |= kInvalid;
    return kCanonicalNaN32;
  }
  const uint32_t sign = SignOf<F64>(a) ? F32::kSign : 0;
  if (IsInf<F64>(a)) return sign | F32::kInf;
  if (IsZero<F64>(a)) return sign;
  const Unpacked x = Unpack<F64>(a);
  return RoundPack<F32>(x.sign, x.exp, x.sig, rm, flags);
}

// Integer destinations of fcvt.{w,wu,l,lu}: the largest valid magnitude of
// a positive (kMaxMag) and of a negative (kMinMag) rounded result, the
// register values that out-of-range results saturate to, and whether the
// host's 64-bit conversion result is in range.
struct ToW {
  static constexpr bool kWord = true;
  static constexpr uint64_t kMaxMag = 0x7fffffffull;  // 2^31 - 1
  static constexpr uint64_t kMinMag = 0x80000000ull;  // |-2^31|
  static constexpr uint64_t kMaxOut = 0x7fffffffull;  // sign-extended
  static constexpr uint64_t kMinOut = 0xffffffff80000000ull;
  static bool InRange(int64_t i) { return i >= INT32_MIN && i <= INT32_MAX; }
};
struct ToWu {
  static constexpr bool kWord = true;
  static constexpr uint64_t kMaxMag = 0xffffffffull;
  static constexpr uint64_t kMinMag = 0;
  // §11.7: "For XLEN > 32, FCVT.W[U].S sign-extends the 32-bit result".
  static constexpr uint64_t kMaxOut = 0xffffffffffffffffull;
  static constexpr uint64_t kMinOut = 0;
  static bool InRange(int64_t i) { return i >= 0 && i <= UINT32_MAX; }
};
struct ToL {
  static constexpr bool kWord = false;
  static constexpr uint64_t kMaxMag = 0x7fffffffffffffffull;
  static constexpr uint64_t kMinMag = 0x8000000000000000ull;
  static constexpr uint64_t kMaxOut = 0x7fffffffffffffffull;
  static constexpr uint64_t kMinOut = 0x8000000000000000ull;
  static bool InRange(int64_t) { return true; }
};
struct ToLu {
  static constexpr bool kWord = false;
  static constexpr uint64_t kMaxMag = 0xffffffffffffffffull;
  static constexpr uint64_t kMinMag = 0;
  static constexpr uint64_t kMaxOut = 0xffffffffffffffffull;
  static constexpr uint64_t kMinOut = 0;
  static bool InRange(int64_t i) { return i >= 0; }
};

// The register value of an in-range integer result (W forms sign-extend
// their 32-bit result, also fcvt.wu).
template <class T>
inline uint64_t IntResult(bool negative, uint64_t magnitude) {
  const uint64_t v = negative ? 0 - magnitude : magnitude;
  if constexpr (T::kWord) {
    return static_cast<uint64_t>(
        static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(v))));
  } else {
    return v;
  }
}

// §11.7 table 11.4: round per rm; out-of-range results and NaN saturate
// with NV (NaN and +inf to the maximum, -inf to the minimum) and then NX is
// not raised; otherwise NX when the result differs from the operand. For
// the unsigned forms a negative value that rounds to 0 is valid (NX only).
template <class T>
uint64_t SoftToInt(uint64_t a, uint32_t rm, uint32_t* flags) {
  if (IsNaN<F64>(a)) {
    *flags |= kInvalid;
    return T::kMaxOut;
  }
  const bool negative = SignOf<F64>(a);
  if (IsInf<F64>(a)) {
    *flags |= kInvalid;
    return negative ? T::kMinOut : T::kMaxOut;
  }
  if (IsZero<F64>(a)) return 0;
  const Unpacked x = Unpack<F64>(a);
  uint64_t magnitude = 0;
  bool too_big = false;  // |rounded value| >= 2^64
  bool inexact = false;
  if (x.exp >= 0) {
    // Only normals have exp >= 0, so sig >= 2^52.
    too_big = x.exp >= 12;
    if (!too_big) magnitude = x.sig << x.exp;
  } else if (x.exp >= -63) {
    magnitude = RoundShift(x.sig, -x.exp, negative, rm, &inexact);
  } else {
    // |value| < 2^53 * 2^-64: nonzero and below one half.
    inexact = true;
    magnitude = (rm == kRdn && negative) || (rm == kRup && !negative);
  }
  if (negative ? (too_big || magnitude > T::kMinMag)
               : (too_big || magnitude > T::kMaxMag)) {
    *flags |= kInvalid;
    return negative ? T::kMinOut : T::kMaxOut;
  }
  if (inexact) *flags |= kInexact;
  return IntResult<T>(negative, magnitude);
}

// ---------------------------------------------------------------------------
// The host SSE unit with an explicit rounding mode and exact flags.
//
// MXCSR: flags in bits 0-5 (IE, DE, ZE, OE, UE, PE), masks in 7-12, rounding
// control in 13-14, DAZ in 6 and FTZ in 15. x86 with all exceptions masked
// behaves as IEEE 754 default handling: UE only for tiny *and* inexact
// results, tininess detected after rounding (Intel SDM vol. 1 §4.9.1.5) as
// RISC-V requires (§11.4); IE for signaling NaN operands and invalid
// operations but not for quiet NaN operands.

constexpr uint32_t kMxcsrDefault = 0x1f80;  // all masked, RNE, no FTZ/DAZ

// RISC-V rm -> MXCSR rounding control (00 nearest, 01 down, 10 up, 11 zero).
// RMM never reaches the host; 5..7 are invalid and map to nearest.
constexpr std::array<uint32_t, 8> kMxcsrRounding = {
    0u << 13, 3u << 13, 1u << 13, 2u << 13, 0, 0, 0, 0};

// MXCSR flag bits -> fflags. DE (denormal operand) has no RISC-V meaning.
constexpr std::array<uint8_t, 64> kMxcsrToFflags = [] {
  std::array<uint8_t, 64> t{};
  for (unsigned i = 0; i < 64; ++i) {
    uint8_t f = 0;
    if (i & 0x01) f |= kInvalid;
    if (i & 0x04) f |= kDivByZero;
    if (i & 0x08) f |= kOverflow;
    if (i & 0x10) f |= kUnderflow;
    if (i & 0x20) f |= kInexact;
    t[i] = f;
  }
  return t;
}();

inline void LoadMxcsr(uint32_t v) { asm volatile("ldmxcsr %0" : : "m"(v)); }
inline uint32_t StoreMxcsr() {
  uint32_t v;
  asm volatile("stmxcsr %0" : "=m"(v));
  return v;
}

// Pins a value in a register at this point of the instruction stream: the
// volatile asm statements stay in program order, so the computation fed by
// (or feeding) a pinned value cannot move across the MXCSR accesses.
template <class T>
inline void Pin(T& v) {
  if constexpr (std::is_floating_point_v<T>) {
    asm volatile("" : "+x"(v));
  } else {
    asm volatile("" : "+r"(v));
  }
}

// Runs op(args...) on the SSE unit in rounding mode rm (0..3) and ORs the
// flags it raised into *flags. Leaves MXCSR in its default state.
template <class R, class Op, class... Args>
inline R OnHost(uint32_t rm, uint32_t* flags, Op op, Args... args) {
  LoadMxcsr(kMxcsrDefault | kMxcsrRounding[rm & 7]);
  (Pin(args), ...);
  R r = op(args...);
  Pin(r);
  const uint32_t status = StoreMxcsr();
  if (rm != kRne) LoadMxcsr(kMxcsrDefault);
  *flags |= kMxcsrToFflags[status & 0x3f];
  return r;
}

// ---------------------------------------------------------------------------
// Exactness tests for the round-to-nearest fast paths.

// x * y == m * 2^s, exactly.
inline bool ProductEquals(uint64_t x, uint64_t y, uint64_t m, int s) {
  const U128 p = static_cast<U128>(x) * y;
  if (s >= 0) {
    if (s >= 128) return false;  // m * 2^s >= 2^128 > p
    if (s > 0 && (p << (128 - s)) != 0) return false;
    return (p >> s) == m;
  }
  const int t = -s;  // p * 2^t == m
  if (t >= 64) return false;
  return (m & ((uint64_t{1} << t) - 1)) == 0 && p == (m >> t);
}

// Whether a double product a*b (finite, nonzero, with a normal result)
// needs more than 53 significant bits.
inline bool ProductInexactD(uint64_t a, uint64_t b) {
  const Unpacked x = Unpack<F64>(a), y = Unpack<F64>(b);
  const U128 p = static_cast<U128>(x.sig) * y.sig;
  const int drop = 128 - Clz128(p) - 53;  // bits below the kept 53
  if (drop <= 0) return false;
  return (p & ((U128{1} << drop) - 1)) != 0;
}

// Whether an integer of this magnitude needs more than p significant bits.
inline bool IntInexact(uint64_t magnitude, int p) {
  if (magnitude == 0) return false;
  const int significant =
      static_cast<int>(std::bit_width(magnitude)) - std::countr_zero(magnitude);
  return significant > p;
}

inline float SqrtHost(float x) {
  return _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x)));
}
inline double SqrtHost(double x) {
  const __m128d v = _mm_set_sd(x);
  return _mm_cvtsd_f64(_mm_sqrt_sd(v, v));
}

// ---------------------------------------------------------------------------
// Operations: fast path (RNE, safe result), else RMM in software, else the
// host with MXCSR.

template <class F>
[[gnu::noinline]] Bits<F> AddSlow(Bits<F> a, Bits<F> b, uint32_t rm,
                                  uint32_t* flags) {
  if (rm == kRmm) return SoftAdd<F>(a, b, rm, flags);
  using H = typename F::Host;
  return Canonicalize<F>(FromHost<F>(OnHost<H>(
      rm, flags, [](H x, H y) { return x + y; }, ToHost<F>(a), ToHost<F>(b))));
}

template <class F>
inline Bits<F> Add(Bits<F> a, Bits<F> b, uint32_t rm, uint32_t* flags) {
  using H = typename F::Host;
  if (rm == kRne) [[likely]] {
    const H x = ToHost<F>(a), y = ToHost<F>(b);
    const H s = x + y;
    if (IsSafeSum<F>(s)) {
      // TwoSum (Knuth): s + e == x + y exactly in round-to-nearest, so the
      // sum is inexact iff e != 0.
      const H bv = s - x;
      const H e = (x - (s - bv)) + (y - bv);
      if (e != 0) *flags |= kInexact;
      return FromHost<F>(s);
    }
  }
  return AddSlow<F>(a, b, rm, flags);
}

template <class F>
[[gnu::noinline]] Bits<F> MulSlow(Bits<F> a, Bits<F> b, uint32_t rm,
                                  uint32_t* flags) {
  if (rm == kRmm) return SoftMul<F>(a, b, rm, flags);
  using H = typename F::Host;
  return Canonicalize<F>(FromHost<F>(OnHost<H>(
      rm, flags, [](H x, H y) { return x * y; }, ToHost<F>(a), ToHost<F>(b))));
}

inline uint32_t MulF32(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  if (rm == kRne) [[likely]] {
    // The product of two singles is exact in double (48 bits); rounding it
    // to single is the correctly rounded single product.
    const double p = static_cast<double>(ToHost<F32>(a)) * ToHost<F32>(b);
    const float r = static_cast<float>(p);
    if (IsSafeResult<F32>(r)) {
      if (static_cast<double>(r) != p) *flags |= kInexact;
      return FromHost<F32>(r);
    }
    // A zero operand and a finite other one (the result is not NaN): an
    // exact ±0.
    if (r == 0 && (IsZero<F32>(a) || IsZero<F32>(b))) return FromHost<F32>(r);
  }
  return MulSlow<F32>(a, b, rm, flags);
}

inline uint64_t MulF64(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  if (rm == kRne) [[likely]] {
    const double r = ToHost<F64>(a) * ToHost<F64>(b);
    if (IsSafeResult<F64>(r)) {
      if (ProductInexactD(a, b)) *flags |= kInexact;
      return FromHost<F64>(r);
    }
    if (r == 0 && (IsZero<F64>(a) || IsZero<F64>(b))) return FromHost<F64>(r);
  }
  return MulSlow<F64>(a, b, rm, flags);
}

template <class F>
[[gnu::noinline]] Bits<F> DivSlow(Bits<F> a, Bits<F> b, uint32_t rm,
                                  uint32_t* flags) {
  if (rm == kRmm) return SoftDiv<F>(a, b, rm, flags);
  using H = typename F::Host;
  return Canonicalize<F>(FromHost<F>(OnHost<H>(
      rm, flags, [](H x, H y) { return x / y; }, ToHost<F>(a), ToHost<F>(b))));
}

inline uint32_t DivF32(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  if (rm == kRne) [[likely]] {
    const float r = ToHost<F32>(a) / ToHost<F32>(b);
    if (IsSafeResult<F32>(r)) {
      // r*b is exact in double: the quotient is exact iff r*b == a.
      if (static_cast<double>(r) * ToHost<F32>(b) !=
          static_cast<double>(ToHost<F32>(a))) {
        *flags |= kInexact;
      }
      return FromHost<F32>(r);
    }
  }
  return DivSlow<F32>(a, b, rm, flags);
}

inline uint64_t DivF64(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  if (rm == kRne) [[likely]] {
    const double r = ToHost<F64>(a) / ToHost<F64>(b);
    if (IsSafeResult<F64>(r)) {
      const uint64_t rb = FromHost<F64>(r);
      const Unpacked q = Unpack<F64>(rb), x = Unpack<F64>(a),
                     y = Unpack<F64>(b);
      // Exact iff q * y == x: q.sig * y.sig == x.sig * 2^(x.exp-q.exp-y.exp).
      if (!ProductEquals(q.sig, y.sig, x.sig, x.exp - q.exp - y.exp)) {
        *flags |= kInexact;
      }
      return rb;
    }
  }
  return DivSlow<F64>(a, b, rm, flags);
}

// A square root is never exactly halfway between two floats: a midpoint m
// has an odd significand M of kP+1 bits, and m^2 = M^2 * 2^2k has an odd
// significand of at least 2*kP+1 bits, so it is not a float; and results
// are never subnormal (sqrt of the smallest subnormal is normal). Hence RMM
// gives RNE's result and flags.
template <class F>
[[gnu::noinline]] Bits<F> SqrtSlow(Bits<F> a, uint32_t rm, uint32_t* flags) {
  using H = typename F::Host;
  return Canonicalize<F>(FromHost<F>(OnHost<H>(
      rm == kRmm ? kRne : rm, flags, [](H x) { return SqrtHost(x); },
      ToHost<F>(a))));
}

inline uint32_t SqrtF32(uint32_t a, uint32_t rm, uint32_t* flags) {
  if (rm == kRne || rm == kRmm) [[likely]] {
    const float r = SqrtHost(ToHost<F32>(a));
    if (IsSafeResult<F32>(r)) {
      const double rd = r;
      if (rd * rd != static_cast<double>(ToHost<F32>(a))) *flags |= kInexact;
      return FromHost<F32>(r);
    }
  }
  return SqrtSlow<F32>(a, rm, flags);
}

inline uint64_t SqrtF64(uint64_t a, uint32_t rm, uint32_t* flags) {
  if (rm == kRne || rm == kRmm) [[likely]] {
    const double r = SqrtHost(ToHost<F64>(a));
    if (IsSafeResult<F64>(r)) {
      const uint64_t rb = FromHost<F64>(r);
      const Unpacked q = Unpack<F64>(rb), x = Unpack<F64>(a);
      if (!ProductEquals(q.sig, q.sig, x.sig, x.exp - 2 * q.exp)) {
        *flags |= kInexact;
      }
      return rb;
    }
  }
  return SqrtSlow<F64>(a, rm, flags);
}

// Fused multiply-add. Inputs with an infinity or NaN and the RMM mode go to
// the software path: it implements the inf*0+qNaN rule (§11.6), which the
// host's FMA does not (vfmadd returns the quiet NaN without IE).
template <class F>
inline Bits<F> Fma(Bits<F> a, Bits<F> b, Bits<F> c, uint32_t rm,
                   uint32_t* flags) {
  if (rm == kRmm || IsInfOrNaN<F>(a) || IsInfOrNaN<F>(b) || IsInfOrNaN<F>(c))
      [[unlikely]] {
    return SoftFma<F>(a, b, c, rm, flags);
  }
  using H = typename F::Host;
  return Canonicalize<F>(FromHost<F>(OnHost<H>(
      rm, flags, [](H x, H y, H z) { return std::fma(x, y, z); }, ToHost<F>(a),
      ToHost<F>(b), ToHost<F>(c))));
}

// Float to integer: the host's 64-bit conversion (cvtsd2si rounds per
// MXCSR, i.e. to nearest; cvttsd2si truncates) for |x| < 2^62 in RNE/RTZ,
// the exact software conversion otherwise.
template <class T>
inline uint64_t ToInt(double x, uint32_t rm, uint32_t* flags) {
  if ((rm == kRne || rm == kRtz) && std::fabs(x) < 0x1p62) [[likely]] {
    const __m128d v = _mm_set_sd(x);
    const int64_t i = rm == kRtz ? _mm_cvttsd_si64(v) : _mm_cvtsd_si64(v);
    if (T::InRange(i)) {
      // Converting i back is exact: either x is integral and i == x, or
      // |x| < 2^52 and |i| <= 2^52.
      if (static_cast<double>(i) != x) *flags |= kInexact;
      return IntResult<T>(i < 0, i < 0 ? 0 - static_cast<uint64_t>(i)
                                       : static_cast<uint64_t>(i));
    }
  }
  return SoftToInt<T>(FromHost<F64>(x), rm, flags);
}

// Single to double is exact, NaN stays NaN, and a float-to-integer
// conversion raises the same flags for any NaN, so the W/L.S forms are the
// D forms of the widened value.
inline double WidenForInt(uint32_t a) {
  return static_cast<double>(ToHost<F32>(a));
}

// Integer to float in the host's default (nearest) mode; the conversion is
// inexact iff the integer has more than kP significant bits.
template <class F, class I>
inline Bits<F> FromInt(I v, uint32_t rm, uint32_t* flags) {
  using H = typename F::Host;
  bool negative = false;
  if constexpr (std::is_signed_v<I>) negative = v < 0;
  const uint64_t magnitude =
      negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  if (rm == kRne) [[likely]] {
    if (IntInexact(magnitude, F::kP)) *flags |= kInexact;
    return FromHost<F>(static_cast<H>(v));
  }
  if (rm == kRmm) return SoftFromInt<F>(negative, magnitude, rm, flags);
  return FromHost<F>(OnHost<H>(
      rm, flags, [](I x) { return static_cast<H>(x); }, v));
}

template <class F>
inline Bits<F> Min(Bits<F> a, Bits<F> b, bool max, uint32_t* flags) {
  const bool na = IsNaN<F>(a), nb = IsNaN<F>(b);
  if (na || nb) {
    // §11.6 (minimumNumber/maximumNumber): a NaN operand is ignored, both
    // NaN gives the canonical NaN, a signaling NaN raises NV either way.
    if (IsSNaN<F>(a) || IsSNaN<F>(b)) *flags |= kInvalid;
    if (na && nb) return F::kCanonicalNaN;
    return na ? b : a;
  }
  // Total order key: -0 < +0, as §11.6 asks for these instructions only.
  auto key = [](Bits<F> x) { return SignOf<F>(x) ? ~x : x | F::kSign; };
  const bool a_less = key(a) < key(b);
  return a_less != max ? a : b;
}

template <class F>
inline uint64_t Eq(Bits<F> a, Bits<F> b, uint32_t* flags) {
  if (IsNaN<F>(a) || IsNaN<F>(b)) {
    // §11.8: feq is quiet, NV only for signaling NaNs.
    if (IsSNaN<F>(a) || IsSNaN<F>(b)) *flags |= kInvalid;
    return 0;
  }
  return a == b || (IsZero<F>(a) && IsZero<F>(b));
}

// a < b (or a <= b), both not NaN; -0 == +0.
template <class F>
inline bool Less(Bits<F> a, Bits<F> b, bool or_equal) {
  const bool both_zero = IsZero<F>(a) && IsZero<F>(b);
  const bool sa = SignOf<F>(a);
  if (a == b || both_zero) return or_equal;
  if (sa != SignOf<F>(b)) return sa;
  return (a < b) != sa;  // same sign: magnitudes order (reversed if < 0)
}

template <class F>
inline uint64_t Compare(Bits<F> a, Bits<F> b, bool or_equal, uint32_t* flags) {
  if (IsNaN<F>(a) || IsNaN<F>(b)) {
    *flags |= kInvalid;  // §11.8: flt and fle are signaling comparisons
    return 0;
  }
  return Less<F>(a, b, or_equal);
}

template <class F>
inline uint64_t Class(Bits<F> a) {
  const bool negative = SignOf<F>(a);
  if (IsInf<F>(a)) return negative ? 1u << 0 : 1u << 7;
  if (IsNaN<F>(a)) return IsSNaN<F>(a) ? 1u << 8 : 1u << 9;
  if (ExpField<F>(a) == 0) {
    if (IsZero<F>(a)) return negative ? 1u << 3 : 1u << 4;
    return negative ? 1u << 2 : 1u << 5;
  }
  return negative ? 1u << 1 : 1u << 6;
}

}  // namespace

uint32_t AddS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  return Add<F32>(a, b, rm, flags);
}
uint32_t SubS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  return Add<F32>(a, b ^ F32::kSign, rm, flags);
}
uint32_t MulS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  return MulF32(a, b, rm, flags);
}
uint32_t DivS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  return DivF32(a, b, rm, flags);
}
uint32_t SqrtS(uint32_t a, uint32_t rm, uint32_t* flags) {
  return SqrtF32(a, rm, flags);
}
// §11.6: fnmsub/fnmadd negate the product (not the sum), which is negating
// one multiplicand; fmsub/fnmadd subtract c, which is adding -c.
uint32_t MaddS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
               uint32_t* flags) {
  return Fma<F32>(a, b, c, rm, flags);
}
uint32_t MsubS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
               uint32_t* flags) {
  return Fma<F32>(a, b, c ^ F32::kSign, rm, flags);
}
uint32_t NmsubS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
                uint32_t* flags) {
  return Fma<F32>(a ^ F32::kSign, b, c, rm, flags);
}
uint32_t NmaddS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
                uint32_t* flags) {
  return Fma<F32>(a ^ F32::kSign, b, c ^ F32::kSign, rm, flags);
}
uint32_t MinS(uint32_t a, uint32_t b, uint32_t* flags) {
  return Min<F32>(a, b, /*max=*/false, flags);
}
uint32_t MaxS(uint32_t a, uint32_t b, uint32_t* flags) {
  return Min<F32>(a, b, /*max=*/true, flags);
}
uint64_t EqS(uint32_t a, uint32_t b, uint32_t* flags) {
  return Eq<F32>(a, b, flags);
}
uint64_t LtS(uint32_t a, uint32_t b, uint32_t* flags) {
  return Compare<F32>(a, b, /*or_equal=*/false, flags);
}
uint64_t LeS(uint32_t a, uint32_t b, uint32_t* flags) {
  return Compare<F32>(a, b, /*or_equal=*/true, flags);
}
uint64_t ClassS(uint32_t a) { return Class<F32>(a); }

uint64_t AddD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  return Add<F64>(a, b, rm, flags);
}
uint64_t SubD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  return Add<F64>(a, b ^ F64::kSign, rm, flags);
}
uint64_t MulD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  return MulF64(a, b, rm, flags);
}
uint64_t DivD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  return DivF64(a, b, rm, flags);
}
uint64_t SqrtD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return SqrtF64(a, rm, flags);
}
uint64_t MaddD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
               uint32_t* flags) {
  return Fma<F64>(a, b, c, rm, flags);
}
uint64_t MsubD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
               uint32_t* flags) {
  return Fma<F64>(a, b, c ^ F64::kSign, rm, flags);
}
uint64_t NmsubD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
                uint32_t* flags) {
  return Fma<F64>(a ^ F64::kSign, b, c, rm, flags);
}
uint64_t NmaddD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
                uint32_t* flags) {
  return Fma<F64>(a ^ F64::kSign, b, c ^ F64::kSign, rm, flags);
}
uint64_t MinD(uint64_t a, uint64_t b, uint32_t* flags) {
  return Min<F64>(a, b, /*max=*/false, flags);
}
uint64_t MaxD(uint64_t a, uint64_t b, uint32_t* flags) {
  return Min<F64>(a, b, /*max=*/true, flags);
}
uint64_t EqD(uint64_t a, uint64_t b, uint32_t* flags) {
  return Eq<F64>(a, b, flags);
}
uint64_t LtD(uint64_t a, uint64_t b, uint32_t* flags) {
  return Compare<F64>(a, b, /*or_equal=*/false, flags);
}
uint64_t LeD(uint64_t a, uint64_t b, uint32_t* flags) {
  return Compare<F64>(a, b, /*or_equal=*/true, flags);
}
uint64_t ClassD(uint64_t a) { return Class<F64>(a); }

uint64_t CvtWS(uint32_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToW>(WidenForInt(a), rm, flags);
}
uint64_t CvtWuS(uint32_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToWu>(WidenForInt(a), rm, flags);
}
uint64_t CvtLS(uint32_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToL>(WidenForInt(a), rm, flags);
}
uint64_t CvtLuS(uint32_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToLu>(WidenForInt(a), rm, flags);
}
uint64_t CvtWD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToW>(ToHost<F64>(a), rm, flags);
}
uint64_t CvtWuD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToWu>(ToHost<F64>(a), rm, flags);
}
uint64_t CvtLD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToL>(ToHost<F64>(a), rm, flags);
}
uint64_t CvtLuD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return ToInt<ToLu>(ToHost<F64>(a), rm, flags);
}

uint32_t CvtSW(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromInt<F32>(static_cast<int32_t>(x), rm, flags);
}
uint32_t CvtSWu(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromInt<F32>(static_cast<int64_t>(static_cast<uint32_t>(x)), rm,
                      flags);
}
uint32_t CvtSL(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromInt<F32>(static_cast<int64_t>(x), rm, flags);
}
uint32_t CvtSLu(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromInt<F32>(x, rm, flags);
}
// §12.5: fcvt.d.w[u] is always exact.
uint64_t CvtDW(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromHost<F64>(static_cast<double>(static_cast<int32_t>(x)));
}
uint64_t CvtDWu(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromHost<F64>(static_cast<double>(static_cast<uint32_t>(x)));
}
uint64_t CvtDL(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromInt<F64>(static_cast<int64_t>(x), rm, flags);
}
uint64_t CvtDLu(uint64_t x, uint32_t rm, uint32_t* flags) {
  return FromInt<F64>(x, rm, flags);
}

uint32_t CvtSD(uint64_t a, uint32_t rm, uint32_t* flags) {
  if (rm == kRne) [[likely]] {
    const float r = static_cast<float>(ToHost<F64>(a));
    if (IsSafeResult<F32>(r)) {
      if (static_cast<double>(r) != ToHost<F64>(a)) *flags |= kInexact;
      return FromHost<F32>(r);
    }
  }
  if (rm == kRmm) return SoftCvtSD(a, rm, flags);
  return Canonicalize<F32>(FromHost<F32>(OnHost<float>(
      rm, flags, [](double x) { return static_cast<float>(x); },
      ToHost<F64>(a))));
}

// §12.5: fcvt.d.s never rounds; a signaling NaN still raises NV.
uint64_t CvtDS(uint32_t a, uint32_t rm, uint32_t* flags) {
  if (IsNaN<F32>(a)) {
    if (IsSNaN<F32>(a)) *flags |= kInvalid;
    return kCanonicalNaN64;
  }
  return FromHost<F64>(static_cast<double>(ToHost<F32>(a)));
}

namespace soft {

uint32_t AddS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  return SoftAdd<F32>(a, b, rm, flags);
}
uint64_t AddD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  return SoftAdd<F64>(a, b, rm, flags);
}
uint32_t MulS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  return SoftMul<F32>(a, b, rm, flags);
}
uint64_t MulD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  return SoftMul<F64>(a, b, rm, flags);
}
uint32_t DivS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags) {
  return SoftDiv<F32>(a, b, rm, flags);
}
uint64_t DivD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags) {
  return SoftDiv<F64>(a, b, rm, flags);
}
uint32_t MaddS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
               uint32_t* flags) {
  return SoftFma<F32>(a, b, c, rm, flags);
}
uint64_t MaddD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
               uint32_t* flags) {
  return SoftFma<F64>(a, b, c, rm, flags);
}
uint64_t CvtWD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return SoftToInt<ToW>(a, rm, flags);
}
uint64_t CvtWuD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return SoftToInt<ToWu>(a, rm, flags);
}
uint64_t CvtLD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return SoftToInt<ToL>(a, rm, flags);
}
uint64_t CvtLuD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return SoftToInt<ToLu>(a, rm, flags);
}
uint32_t CvtSL(uint64_t x, uint32_t rm, uint32_t* flags) {
  const bool negative = static_cast<int64_t>(x) < 0;
  return SoftFromInt<F32>(negative, negative ? 0 - x : x, rm, flags);
}
uint32_t CvtSLu(uint64_t x, uint32_t rm, uint32_t* flags) {
  return SoftFromInt<F32>(false, x, rm, flags);
}
uint64_t CvtDL(uint64_t x, uint32_t rm, uint32_t* flags) {
  const bool negative = static_cast<int64_t>(x) < 0;
  return SoftFromInt<F64>(negative, negative ? 0 - x : x, rm, flags);
}
uint64_t CvtDLu(uint64_t x, uint32_t rm, uint32_t* flags) {
  return SoftFromInt<F64>(false, x, rm, flags);
}
uint32_t CvtSD(uint64_t a, uint32_t rm, uint32_t* flags) {
  return SoftCvtSD(a, rm, flags);
}

}  // namespace soft
}  // namespace memmgr::rv64::fpu
