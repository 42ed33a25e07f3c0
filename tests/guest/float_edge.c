// IEEE 754 edge cases on RISC-V F/D: NaN (canonical NaN is positive,
// 0x7ff8000000000000 / 0x7fc00000), infinities, signed zero, subnormals;
// the four C rounding modes through fesetround (arithmetic, rint,
// nearbyint, lrint); the accrued exception flags (fetestexcept) after each
// operation; float->int conversions of out-of-range values with fcvt in
// inline asm (RISC-V saturates: NaN and +large -> max, -large -> min;
// unsigned negative -> 0; W results sign-extended). Every value is printed
// as bits. Exit status 0, or the number of mismatches with the spec's
// values.
#include <fenv.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

static uint64_t Bits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}
static uint32_t BitsF(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static double FromBits(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}
static float FromBitsF(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void Flags(char* out) {
  int f = fetestexcept(FE_ALL_EXCEPT);
  sprintf(out, "%s%s%s%s%s", f & FE_INVALID ? "NV" : "--",
          f & FE_DIVBYZERO ? "DZ" : "--", f & FE_OVERFLOW ? "OF" : "--",
          f & FE_UNDERFLOW ? "UF" : "--", f & FE_INEXACT ? "NX" : "--");
}

static void CheckBits(const char* what, uint64_t got, uint64_t want) {
  char flags[16];
  Flags(flags);
  printf("%-34s %016" PRIx64 " %s%s\n", what, got, flags,
         got == want ? "" : "  MISMATCH");
  if (got != want) ++failures;
}

static void CheckFlags(const char* what, int want) {
  int got = fetestexcept(FE_ALL_EXCEPT);
  char flags[16];
  Flags(flags);
  printf("%-34s flags %s%s\n", what, flags, got == want ? "" : "  MISMATCH");
  if (got != want) ++failures;
}

// fcvt.<int>.<fp> with the static rounding mode rtz, on a register.
#define CVT(name, insn, type)                                 \
  static uint64_t name(type x) {                              \
    uint64_t r;                                               \
    __asm__ volatile(insn " %0, %1, rtz" : "=r"(r) : "f"(x)); \
    return r;                                                 \
  }
CVT(CvtWD, "fcvt.w.d", double)
CVT(CvtWuD, "fcvt.wu.d", double)
CVT(CvtLD, "fcvt.l.d", double)
CVT(CvtLuD, "fcvt.lu.d", double)
CVT(CvtWS, "fcvt.w.s", float)
CVT(CvtWuS, "fcvt.wu.s", float)
CVT(CvtLS, "fcvt.l.s", float)
CVT(CvtLuS, "fcvt.lu.s", float)

int main(void) {
  volatile double zero = 0.0, one = 1.0, three = 3.0, big = DBL_MAX,
                  tiny = DBL_MIN, inf = INFINITY;
  volatile float fzero = 0.0f, fone = 1.0f, fthree = 3.0f;
  const uint64_t kCanonicalNaN = 0x7ff8000000000000ull;
  const uint32_t kCanonicalNaNF = 0x7fc00000u;

  // --- NaN, infinities, signed zero; flags per operation.
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("0/0 (canonical NaN)", Bits(zero / zero), kCanonicalNaN);
  CheckFlags("  after 0/0", FE_INVALID);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("1/0", Bits(one / zero), 0x7ff0000000000000ull);
  CheckFlags("  after 1/0", FE_DIVBYZERO);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("-1/0", Bits(-one / zero), 0xfff0000000000000ull);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("inf-inf", Bits(inf - inf), kCanonicalNaN);
  CheckFlags("  after inf-inf", FE_INVALID);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("inf*0", Bits(inf * zero), kCanonicalNaN);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("sqrt(-1)", Bits(sqrt(-one)), kCanonicalNaN);
  CheckFlags("  after sqrt(-1)", FE_INVALID);
  feclearexcept(FE_ALL_EXCEPT);
  // A NaN operand with a payload: RISC-V does not propagate payloads.
  volatile double payload = FromBits(0x7ff8000000012345ull);
  CheckBits("qNaN(payload)+1", Bits(payload + one), kCanonicalNaN);
  CheckFlags("  after qNaN+1 (quiet: no flag)", 0);
  volatile double snan = FromBits(0x7ff0000000000001ull);
  CheckBits("sNaN+1", Bits(snan + one), kCanonicalNaN);
  CheckFlags("  after sNaN+1", FE_INVALID);
  feclearexcept(FE_ALL_EXCEPT);
  volatile float fnan = FromBitsF(0xffc01234u);
  CheckBits("float -qNaN(payload)*1", BitsF(fnan * fone), kCanonicalNaNF);
  CheckBits("float 0/0", BitsF(fzero / fzero), kCanonicalNaNF);
  feclearexcept(FE_ALL_EXCEPT);
  // Sign operations keep the NaN bits (they are not arithmetic).
  CheckBits("-(qNaN payload)", Bits(-payload), 0xfff8000000012345ull);
  CheckBits("fabs(-qNaN payload)", Bits(fabs(-payload)), 0x7ff8000000012345ull);
  CheckBits("copysign(1, -0)", Bits(copysign(one, -zero)), Bits(-1.0));
  CheckBits("0 * -1 (signed zero)", Bits(zero * -one), 0x8000000000000000ull);
  CheckBits("-0 + -0", Bits(-zero + -zero), 0x8000000000000000ull);
  CheckBits("-0 + 0 (RNE: +0)", Bits(-zero + zero), 0);
  CheckBits("1 - 1 (RNE: +0)", Bits(one - one), 0);
  CheckBits("1/-inf", Bits(one / -inf), 0x8000000000000000ull);
  CheckBits("fmin(-0, +0)", Bits(fmin(-zero, zero)), 0x8000000000000000ull);
  CheckBits("fmax(-0, +0)", Bits(fmax(-zero, zero)), 0);
  CheckBits("fmin(NaN, 1)", Bits(fmin(payload, one)), Bits(1.0));
  CheckBits("fmax(1, NaN)", Bits(fmax(one, payload)), Bits(1.0));
  printf(
      "quiet comparisons with NaN: == %d != %d isless %d isnan %d "
      "isunordered %d\n",
      payload == payload, payload != payload, isless(payload, one),
      isnan(payload), isunordered(payload, one));
  CheckFlags("  after quiet comparisons", 0);
  volatile int lt = payload < one;  // flt.d on a qNaN: invalid
  printf("NaN < 1: %d\n", lt);
  CheckFlags("  after NaN < 1 (signaling compare)", FE_INVALID);
  feclearexcept(FE_ALL_EXCEPT);

  // --- Overflow, underflow, subnormals.
  CheckBits("DBL_MAX*2", Bits(big * 2.0), 0x7ff0000000000000ull);
  CheckFlags("  after DBL_MAX*2", FE_OVERFLOW | FE_INEXACT);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("DBL_MIN/2 (subnormal, exact)", Bits(tiny / 2.0),
            0x0008000000000000ull);
  CheckFlags("  after exact subnormal (no UF)", 0);
  CheckBits("DBL_MIN/3 (subnormal, inexact)", Bits(tiny / three),
            0x0005555555555555ull);
  CheckFlags("  after inexact subnormal", FE_UNDERFLOW | FE_INEXACT);
  feclearexcept(FE_ALL_EXCEPT);
  volatile double smallest = FromBits(1);
  CheckBits("smallest subnormal / 2", Bits(smallest / 2.0), 0);
  CheckFlags("  after flush to zero by rounding", FE_UNDERFLOW | FE_INEXACT);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("smallest subnormal * 2^52", Bits(smallest * 4503599627370496.0),
            Bits(DBL_MIN));
  CheckBits("float FLT_MIN/4", BitsF(FLT_MIN / (4 * fone)), 0x00200000u);
  CheckFlags("  all exact so far", 0);
  CheckBits("1/3", Bits(one / three), 0x3fd5555555555555ull);
  CheckFlags("  after 1/3", FE_INEXACT);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("float 1/3", BitsF(fone / fthree), 0x3eaaaaabu);
  CheckBits("(double)float 1/3", Bits((double)(fone / fthree)),
            0x3fd5555560000000ull);
  CheckBits("(float)DBL_MAX", BitsF((float)big), 0x7f800000u);
  CheckFlags("  after (float)DBL_MAX", FE_OVERFLOW | FE_INEXACT);
  feclearexcept(FE_ALL_EXCEPT);

  // --- Rounding modes: arithmetic, rint, nearbyint, lrint.
  static const struct {
    int mode;
    const char* name;
    uint64_t third, minus_third, rint_25, rint_m25, rint_35;
    long lrint_m15;
  } kModes[] = {
      {FE_TONEAREST, "nearest", 0x3fd5555555555555ull, 0xbfd5555555555555ull,
       0x4000000000000000ull, 0xc000000000000000ull, 0x4010000000000000ull, -2},
      {FE_TOWARDZERO, "toward zero", 0x3fd5555555555555ull,
       0xbfd5555555555555ull, 0x4000000000000000ull, 0xc000000000000000ull,
       0x4008000000000000ull, -1},
      {FE_UPWARD, "upward", 0x3fd5555555555556ull, 0xbfd5555555555555ull,
       0x4008000000000000ull, 0xc000000000000000ull, 0x4010000000000000ull, -1},
      {FE_DOWNWARD, "downward", 0x3fd5555555555555ull, 0xbfd5555555555556ull,
       0x4000000000000000ull, 0xc008000000000000ull, 0x4008000000000000ull, -2},
  };
  volatile double two_half = 2.5, three_half = 3.5, one_half = 1.5;
  for (size_t i = 0; i < 4; ++i) {
    if (fesetround(kModes[i].mode) != 0) {
      printf("fesetround(%s) failed\n", kModes[i].name);
      ++failures;
      continue;
    }
    printf("rounding mode %s: fegetround matches %d\n", kModes[i].name,
           fegetround() == kModes[i].mode);
    feclearexcept(FE_ALL_EXCEPT);
    CheckBits("  1/3", Bits(one / three), kModes[i].third);
    CheckBits("  -1/3", Bits(-one / three), kModes[i].minus_third);
    feclearexcept(FE_ALL_EXCEPT);
    CheckBits("  rint(2.5)", Bits(rint(two_half)), kModes[i].rint_25);
    CheckFlags("  after rint(2.5)", FE_INEXACT);
    feclearexcept(FE_ALL_EXCEPT);
    CheckBits("  nearbyint(-2.5)", Bits(nearbyint(-two_half)),
              kModes[i].rint_m25);
    CheckFlags("  after nearbyint (no flags)", 0);
    CheckBits("  rint(3.5)", Bits(rint(three_half)), kModes[i].rint_35);
    feclearexcept(FE_ALL_EXCEPT);
    CheckBits("  lrint(-1.5)", (uint64_t)lrint(-one_half),
              (uint64_t)kModes[i].lrint_m15);
    CheckBits("  DBL_MAX+DBL_MAX", Bits(big + big),
              kModes[i].mode == FE_TONEAREST || kModes[i].mode == FE_UPWARD
                  ? 0x7ff0000000000000ull
                  : 0x7fefffffffffffffull);
    feclearexcept(FE_ALL_EXCEPT);
  }
  fesetround(FE_TONEAREST);

  // --- fcvt saturation (rtz), RISC-V's table: NaN -> max; the W results
  // are sign-extended to 64 bits (so wu's UINT32_MAX reads as all ones).
  static const struct {
    uint64_t in;
    uint64_t w, wu, l, lu;
  } kCvt[] = {
      // NaN
      {0x7ff8000000000000ull, 0x7fffffff, 0xffffffffffffffffull,
       0x7fffffffffffffffull, 0xffffffffffffffffull},
      // -NaN: still the max values
      {0xfff8000000000000ull, 0x7fffffff, 0xffffffffffffffffull,
       0x7fffffffffffffffull, 0xffffffffffffffffull},
      // +inf
      {0x7ff0000000000000ull, 0x7fffffff, 0xffffffffffffffffull,
       0x7fffffffffffffffull, 0xffffffffffffffffull},
      // -inf
      {0xfff0000000000000ull, 0xffffffff80000000ull, 0, 0x8000000000000000ull,
       0},
      // 1e20
      {0x4415af1d78b58c40ull, 0x7fffffff, 0xffffffffffffffffull,
       0x7fffffffffffffffull, 0xffffffffffffffffull},
      // -1e20
      {0xc415af1d78b58c40ull, 0xffffffff80000000ull, 0, 0x8000000000000000ull,
       0},
      // 3e9: too big for w, fits wu (sign-extended: 0xffffffffb2d05e00)
      {0x41e65a0bc0000000ull, 0x7fffffff, 0xffffffffb2d05e00ull, 3000000000,
       3000000000},
      // -1.0: wu/lu saturate to 0 (invalid)
      {0xbff0000000000000ull, 0xffffffffffffffffull, 0, 0xffffffffffffffffull,
       0},
      // -0.9: rounds to -0 -> 0 for unsigned, only inexact
      {0xbfeccccccccccccdull, 0, 0, 0, 0},
      // 2^63: too big for l, fits lu
      {0x43e0000000000000ull, 0x7fffffff, 0xffffffffffffffffull,
       0x7fffffffffffffffull, 0x8000000000000000ull},
      // -2^63: exactly INT64_MIN
      {0xc3e0000000000000ull, 0xffffffff80000000ull, 0, 0x8000000000000000ull,
       0},
      // -2147483648.9 truncates to INT32_MIN (in range)
      {0xc1e00000001ccccdull, 0xffffffff80000000ull, 0, 0xffffffff80000000ull,
       0},
  };
  for (size_t i = 0; i < sizeof kCvt / sizeof kCvt[0]; ++i) {
    double d = FromBits(kCvt[i].in);
    char what[64];
    feclearexcept(FE_ALL_EXCEPT);
    snprintf(what, sizeof what, "fcvt.w.d(%016" PRIx64 ")", kCvt[i].in);
    CheckBits(what, CvtWD(d), kCvt[i].w);
    feclearexcept(FE_ALL_EXCEPT);
    snprintf(what, sizeof what, "fcvt.wu.d(%016" PRIx64 ")", kCvt[i].in);
    CheckBits(what, CvtWuD(d), kCvt[i].wu);
    feclearexcept(FE_ALL_EXCEPT);
    snprintf(what, sizeof what, "fcvt.l.d(%016" PRIx64 ")", kCvt[i].in);
    CheckBits(what, CvtLD(d), kCvt[i].l);
    feclearexcept(FE_ALL_EXCEPT);
    snprintf(what, sizeof what, "fcvt.lu.d(%016" PRIx64 ")", kCvt[i].in);
    CheckBits(what, CvtLuD(d), kCvt[i].lu);
    // The same through single precision (exact for these inputs except
    // where float rounds: only the saturation matters here).
    float f = (float)d;
    feclearexcept(FE_ALL_EXCEPT);
    printf("  as float %08" PRIx32 ": w %016" PRIx64 " wu %016" PRIx64
           " l %016" PRIx64 " lu %016" PRIx64 "\n",
           BitsF(f), CvtWS(f), CvtWuS(f), CvtLS(f), CvtLuS(f));
  }
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("fcvt.w.s(2^31 as float)", CvtWS(2147483648.0f * fone), 0x7fffffff);
  CheckFlags("  after (invalid)", FE_INVALID);
  feclearexcept(FE_ALL_EXCEPT);
  CheckBits("fcvt.l.d(-0.5) rtz", CvtLD(-0.5 * one), 0);
  CheckFlags("  after (inexact only)", FE_INEXACT);
  feclearexcept(FE_ALL_EXCEPT);

  // C conversions of in-range values go through the same instructions.
  volatile double m = -123.75;
  printf("(long)-123.75=%ld (unsigned)123.75=%u (int)(float)1e9=%d\n", (long)m,
         (unsigned)-m, (int)(float)1e9);
  printf("mismatches %d\n", failures);
  return failures;
}
