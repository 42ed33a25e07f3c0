// Integer edge cases with RISC-V semantics, on the real instructions (inline
// asm, so gcc cannot fold or trap-guard them): division by zero gives all
// ones (x/0 = -1, x%0 = x), INT64_MIN / -1 = INT64_MIN with remainder 0, the
// W forms sign-extend their 32-bit result, shift amounts use only the low 6
// (or 5 for W) bits, mulh/mulhsu/mulhu are the high halves of the 128-bit
// products (checked against __int128). Prints every result; exit status 0,
// or the number of mismatches with the spec's values.
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

static int failures = 0;

static void Check(const char* what, int64_t a, int64_t b, uint64_t got,
                  uint64_t want) {
  printf("%-7s %016" PRIx64 " %016" PRIx64 " = %016" PRIx64 "%s\n", what,
         (uint64_t)a, (uint64_t)b, got, got == want ? "" : "  MISMATCH");
  if (got != want) ++failures;
}

#define RR(insn)                                                      \
  static uint64_t insn##_(int64_t a, int64_t b) {                     \
    uint64_t r;                                                       \
    __asm__ volatile(#insn " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); \
    return r;                                                         \
  }
RR(div)
RR(divu)
RR(rem)
RR(remu)
RR(divw)
RR(divuw)
RR(remw)
RR(remuw)
RR(mul)
RR(mulw)
RR(mulh)
RR(mulhu)
RR(mulhsu)
RR(sll)
RR(srl)
RR(sra)
RR(sllw)
RR(srlw)
RR(sraw)
RR(addw)
RR(subw)
RR(slt)
RR(sltu)

static int64_t Sext32(uint64_t x) { return (int64_t)(int32_t)(uint32_t)x; }

int main(void) {
  const int64_t kMin = INT64_MIN, kMax = INT64_MAX;
  const int64_t kValues[] = {0,           1,          -1,
                             7,           -7,         kMin,
                             kMax,        INT32_MIN,  INT32_MAX,
                             0x80000000,  0xffffffff, 0x123456789abcdef0,
                             -0x123456789};
  const size_t n = sizeof kValues / sizeof kValues[0];

  // Division and remainder, all pairs, against the spec's table.
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      int64_t a = kValues[i], b = kValues[j];
      uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
      int64_t q, r;
      if (b == 0) {
        q = -1;
        r = a;
      } else if (a == kMin && b == -1) {
        q = kMin;
        r = 0;
      } else {
        q = a / b;
        r = a % b;
      }
      Check("div", a, b, div_(a, b), (uint64_t)q);
      Check("rem", a, b, rem_(a, b), (uint64_t)r);
      Check("divu", a, b, divu_(a, b), b == 0 ? UINT64_MAX : ua / ub);
      Check("remu", a, b, remu_(a, b), b == 0 ? ua : ua % ub);
      int32_t a32 = (int32_t)a, b32 = (int32_t)b;
      uint32_t ua32 = (uint32_t)a, ub32 = (uint32_t)b;
      int32_t q32, r32;
      if (b32 == 0) {
        q32 = -1;
        r32 = a32;
      } else if (a32 == INT32_MIN && b32 == -1) {
        q32 = INT32_MIN;
        r32 = 0;
      } else {
        q32 = a32 / b32;
        r32 = a32 % b32;
      }
      Check("divw", a, b, divw_(a, b), (uint64_t)(int64_t)q32);
      Check("remw", a, b, remw_(a, b), (uint64_t)(int64_t)r32);
      Check("divuw", a, b, divuw_(a, b),
            (uint64_t)Sext32(ub32 == 0 ? UINT32_MAX : ua32 / ub32));
      Check("remuw", a, b, remuw_(a, b),
            (uint64_t)Sext32(ub32 == 0 ? ua32 : ua32 % ub32));
    }
  }

  // Multiplication: low and high halves against __int128.
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      int64_t a = kValues[i], b = kValues[j];
      __int128 ss = (__int128)a * b;
      unsigned __int128 uu = (unsigned __int128)(uint64_t)a * (uint64_t)b;
      __int128 su = (__int128)a * (__int128)(unsigned __int128)(uint64_t)b;
      Check("mul", a, b, mul_(a, b), (uint64_t)ss);
      Check("mulh", a, b, mulh_(a, b), (uint64_t)(ss >> 64));
      Check("mulhu", a, b, mulhu_(a, b), (uint64_t)(uu >> 64));
      Check("mulhsu", a, b, mulhsu_(a, b), (uint64_t)(su >> 64));
      Check("mulw", a, b, mulw_(a, b),
            (uint64_t)Sext32((uint32_t)a * (uint32_t)b));
      Check("addw", a, b, addw_(a, b),
            (uint64_t)Sext32((uint32_t)a + (uint32_t)b));
      Check("subw", a, b, subw_(a, b),
            (uint64_t)Sext32((uint32_t)a - (uint32_t)b));
      Check("slt", a, b, slt_(a, b), a < b);
      Check("sltu", a, b, sltu_(a, b), (uint64_t)a < (uint64_t)b);
    }
  }

  // Shifts: amounts 0, 1, 31, 32, 33, 63, 64 (= 0), 65 (= 1), -1 (= 63).
  const int64_t kShifts[] = {0, 1, 31, 32, 33, 63, 64, 65, -1};
  const int64_t kShifted[] = {1, -1, kMin, 0x123456789abcdef0, 0x80000000};
  for (size_t i = 0; i < sizeof kShifted / sizeof kShifted[0]; ++i) {
    for (size_t j = 0; j < sizeof kShifts / sizeof kShifts[0]; ++j) {
      int64_t a = kShifted[i], s = kShifts[j];
      unsigned s6 = (unsigned)s & 63, s5 = (unsigned)s & 31;
      Check("sll", a, s, sll_(a, s), (uint64_t)a << s6);
      Check("srl", a, s, srl_(a, s), (uint64_t)a >> s6);
      Check("sra", a, s, sra_(a, s), (uint64_t)(a >> s6));
      Check("sllw", a, s, sllw_(a, s), (uint64_t)Sext32((uint32_t)a << s5));
      Check("srlw", a, s, srlw_(a, s), (uint64_t)Sext32((uint32_t)a >> s5));
      Check("sraw", a, s, sraw_(a, s), (uint64_t)(int64_t)((int32_t)a >> s5));
    }
  }

  // Plain C on volatile operands (gcc's own code for / and % guards nothing
  // on RISC-V: no trap on division by zero).
  volatile int64_t zero = 0, minus_one = -1, min = kMin, x = 12345;
  printf("C: x/0=%" PRId64 " x%%0=%" PRId64 " MIN/-1=%" PRId64
         " MIN%%-1=%" PRId64 "\n",
         x / zero, x % zero, min / minus_one, min % minus_one);
  volatile uint64_t big = UINT64_MAX;
  printf("C: UINT64_MAX/0=%" PRIu64 " wrap %" PRIu64 " %" PRId64 "\n",
         big / (uint64_t)zero, big + 1, (int64_t)((uint64_t)kMax + 1));
  printf("mismatches %d\n", failures);
  return failures;
}
