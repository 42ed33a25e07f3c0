// C11 atomics and __atomic builtins on 32- and 64-bit objects (AMOs and
// LR/SC loops in the generated code), plus amomin/amomax[u] through inline
// asm (C has no fetch_min). Single process, single thread: every result is
// deterministic. Prints each old value and the final memory; exit status 0,
// or the number of mismatches.
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

static int failures = 0;

static void Check(const char* what, uint64_t got, uint64_t want) {
  printf("%-40s %016" PRIx64 "%s\n", what, got,
         got == want ? "" : "  MISMATCH");
  if (got != want) ++failures;
}

#define AMO(name, insn, type)             \
  static type name(type* p, type v) {     \
    type old;                             \
    __asm__ volatile(insn " %0, %2, (%1)" \
                     : "=r"(old)          \
                     : "r"(p), "r"(v)     \
                     : "memory");         \
    return old;                           \
  }
AMO(AmoMinW, "amomin.w.aqrl", int32_t)
AMO(AmoMaxW, "amomax.w", int32_t)
AMO(AmoMinuW, "amominu.w", uint32_t)
AMO(AmoMaxuW, "amomaxu.w.aq", uint32_t)
AMO(AmoMinD, "amomin.d", int64_t)
AMO(AmoMaxD, "amomax.d.rl", int64_t)
AMO(AmoMinuD, "amominu.d", uint64_t)
AMO(AmoMaxuD, "amomaxu.d", uint64_t)

static _Atomic int32_t a32;
static _Atomic int64_t a64;
static _Atomic uint64_t u64;

int main(void) {
  // 32-bit: fetch ops return the old value (sign-extended in the register).
  atomic_store(&a32, 0x7fffffff);
  Check("fetch_add32(MAX, 1) old", (uint64_t)(int64_t)atomic_fetch_add(&a32, 1),
        0x7fffffff);
  Check("  now (wrapped)", (uint64_t)(int64_t)atomic_load(&a32),
        0xffffffff80000000ull);
  Check("fetch_sub32(1) old", (uint64_t)(int64_t)atomic_fetch_sub(&a32, 1),
        0xffffffff80000000ull);
  Check("  now", (uint64_t)(int64_t)atomic_load(&a32), 0x7fffffff);
  atomic_store(&a32, (int32_t)0xf0f0f0f0);
  Check("fetch_and32 old",
        (uint64_t)(int64_t)atomic_fetch_and(&a32, 0x0ff00ff0),
        0xfffffffff0f0f0f0ull);
  Check("fetch_or32 old", (uint64_t)(int64_t)atomic_fetch_or(&a32, 0x1),
        0x00f000f0);
  Check("fetch_xor32 old", (uint64_t)(int64_t)atomic_fetch_xor(&a32, -1),
        0x00f000f1);
  Check("  now", (uint64_t)(uint32_t)atomic_load(&a32), 0xff0fff0e);
  Check("exchange32 old", (uint64_t)(int64_t)atomic_exchange(&a32, 5),
        0xffffffffff0fff0eull);

  // 64-bit.
  atomic_store(&a64, INT64_MAX);
  Check("fetch_add64(MAX, 1) old", (uint64_t)atomic_fetch_add(&a64, 1),
        0x7fffffffffffffffull);
  Check("  now (wrapped)", (uint64_t)atomic_load(&a64), 0x8000000000000000ull);
  Check("fetch_or64 old", (uint64_t)atomic_fetch_or(&a64, 0xff),
        0x8000000000000000ull);
  Check("fetch_and64 old", (uint64_t)atomic_fetch_and(&a64, 0xf0),
        0x80000000000000ffull);
  Check("fetch_xor64 old", (uint64_t)atomic_fetch_xor(&a64, 0xff), 0xf0);
  Check("exchange64 old", (uint64_t)atomic_exchange(&a64, -2), 0x0f);
  Check("  now", (uint64_t)atomic_load(&a64), 0xfffffffffffffffeull);

  // Compare-and-swap (LR/SC loops): success and failure, strong and weak.
  int64_t expected = -2;
  int ok = atomic_compare_exchange_strong(&a64, &expected, 100);
  Check("cas64 strong success", (uint64_t)ok, 1);
  Check("  now", (uint64_t)atomic_load(&a64), 100);
  expected = 7;
  ok = atomic_compare_exchange_strong(&a64, &expected, 200);
  Check("cas64 strong failure", (uint64_t)ok, 0);
  Check("  expected updated to current", (uint64_t)expected, 100);
  Check("  unchanged", (uint64_t)atomic_load(&a64), 100);
  int32_t e32 = 5;
  ok = atomic_compare_exchange_strong(&a32, &e32, -5);
  Check("cas32 strong success", (uint64_t)ok, 1);
  Check("  now", (uint64_t)(int64_t)atomic_load(&a32), (uint64_t)-5);
  e32 = 0;
  ok = atomic_compare_exchange_strong(&a32, &e32, 1);
  Check("cas32 strong failure, expected", (uint64_t)(int64_t)e32, (uint64_t)-5);
  // A weak CAS may fail spuriously: loop, as real code does.
  atomic_store(&u64, 0);
  for (int i = 0; i < 1000; ++i) {
    uint64_t cur = atomic_load_explicit(&u64, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &u64, &cur, cur * 3 + 1, memory_order_acq_rel, memory_order_relaxed)) {
    }
  }
  Check("1000 weak-CAS updates x=3x+1", atomic_load(&u64),
        0x2b0b49bde9dc2d90ull);

  // __atomic builtins on plain objects, with every memory order.
  uint64_t plain = 10;
  Check("__atomic_add_fetch seq_cst",
        __atomic_add_fetch(&plain, 5, __ATOMIC_SEQ_CST), 15);
  Check("__atomic_fetch_sub relaxed",
        __atomic_fetch_sub(&plain, 20, __ATOMIC_RELAXED), 15);
  Check("  now", plain, (uint64_t)-5);
  Check("__atomic_nand_fetch (LR/SC)",
        __atomic_nand_fetch(&plain, 0xff, __ATOMIC_ACQUIRE),
        ~((uint64_t)-5 & 0xff));
  uint32_t plain32 = 3;
  Check("__atomic_exchange_n release",
        __atomic_exchange_n(&plain32, 9, __ATOMIC_RELEASE), 3);
  uint32_t exp32 = 9;
  Check("__atomic_compare_exchange_n 32",
        __atomic_compare_exchange_n(&plain32, &exp32, 11, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE),
        1);
  Check("__atomic_load_n", __atomic_load_n(&plain32, __ATOMIC_ACQUIRE), 11);
  atomic_thread_fence(memory_order_seq_cst);
  static atomic_flag flag = ATOMIC_FLAG_INIT;
  Check("atomic_flag_test_and_set first", atomic_flag_test_and_set(&flag), 0);
  Check("atomic_flag_test_and_set second", atomic_flag_test_and_set(&flag), 1);
  atomic_flag_clear(&flag);
  Check("after clear", atomic_flag_test_and_set(&flag), 0);

  // amomin/amomax (signed and unsigned, 32 and 64 bit).
  int32_t w = -10;
  Check("amomin.w(-10, 3) old", (uint64_t)(int64_t)AmoMinW(&w, 3),
        (uint64_t)-10);
  Check("  now", (uint64_t)(int64_t)w, (uint64_t)-10);
  Check("amomax.w(-10, 3) old", (uint64_t)(int64_t)AmoMaxW(&w, 3),
        (uint64_t)-10);
  Check("  now", (uint64_t)(int64_t)w, 3);
  uint32_t uw = 0x80000000u;
  Check("amominu.w(0x80000000, 1) old",
        (uint64_t)(int64_t)(int32_t)AmoMinuW(&uw, 1), 0xffffffff80000000ull);
  Check("  now", uw, 1);
  Check("amomaxu.w(1, 0xffffffff) old", AmoMaxuW(&uw, 0xffffffffu), 1);
  Check("  now", uw, 0xffffffffu);
  int64_t d = INT64_MIN;
  Check("amomax.d(MIN, -1) old", (uint64_t)AmoMaxD(&d, -1),
        0x8000000000000000ull);
  Check("  now", (uint64_t)d, (uint64_t)-1);
  Check("amomin.d(-1, MIN) old", (uint64_t)AmoMinD(&d, INT64_MIN),
        (uint64_t)-1);
  Check("  now", (uint64_t)d, 0x8000000000000000ull);
  uint64_t ud = 5;
  Check("amomaxu.d(5, 2^63) old", AmoMaxuD(&ud, 1ull << 63), 5);
  Check("  now", ud, 1ull << 63);
  Check("amominu.d(2^63, 0) old", AmoMinuD(&ud, 0), 1ull << 63);
  Check("  now", ud, 0);

  // Lock-free property of the sizes the ISA handles natively.
  printf("lock free: int %d long %d pointer %d\n", ATOMIC_INT_LOCK_FREE,
         ATOMIC_LONG_LOCK_FREE, ATOMIC_POINTER_LOCK_FREE);
  printf("mismatches %d\n", failures);
  return failures;
}
