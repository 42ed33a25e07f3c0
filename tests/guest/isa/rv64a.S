/* RV64A: LR/SC success and failure, AMOs returning the old value
 * (sign-extended for .w) and leaving the new one in memory, with every
 * ordering suffix. Single hart: an SC fails without a reservation, after
 * a successful SC (the reservation is consumed), and on an address
 * outside the reserved one. */
#define TEST_EXT "rv64a"
#include "test_macros.h"

/* Stores v at amo_dat (doubleword), runs code with a1 = &amo_dat and
 * a2 = operand; a0 must be old, then the doubleword at amo_dat new. */
#define TEST_AMO(n, old, new, v, operand, code...) \
  TEST_CASE(n, a0, old, la a1, amo_dat; li a3, v; sd a3, 0(a1); \
            li a2, operand; code)                                \
  ld a4, 0(a1);                                                  \
  CHECK_EQ(a4, new)

RVTEST_BEGIN

  /* amoswap */
  TEST_AMO(1, 0x0000000012345678, 0xffffffffaaaaaaaa, 0x12345678, 0xffffffffaaaaaaaa, amoswap.d a0, a2, (a1))
  TEST_AMO(2, 0xffffffff80000000, 0x1111111100000005, 0x1111111180000000, 5, amoswap.w a0, a2, (a1))
  TEST_AMO(3, 0x0000000000000007, 0x00000000ffffffff, 7, -1, amoswap.w.aqrl a0, a2, (a1))
  /* amoadd: wraps, W wraps in 32 bits and leaves the upper word alone */
  TEST_AMO(4, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff, 1, amoadd.d a0, a2, (a1))
  TEST_AMO(5, 0x000000007fffffff, 0x5555555580000000, 0x555555557fffffff, 1, amoadd.w a0, a2, (a1))
  TEST_AMO(6, 0xffffffffffffffff, 0x1234567800000000, 0x12345678ffffffff, 1, amoadd.w.aq a0, a2, (a1))
  TEST_AMO(7, 0x0000000000000005, 0x0000000000000003, 5, -2, amoadd.d.rl a0, a2, (a1))
  /* amoand / amoor / amoxor */
  TEST_AMO(8, 0xf0f0f0f0f0f0f0f0, 0x00f000f000f000f0, 0xf0f0f0f0f0f0f0f0, 0x0ff00ff00ff00ff0, amoand.d a0, a2, (a1))
  TEST_AMO(9, 0xfffffffff0f0f0f0, 0xaaaaaaaa00f000f0, 0xaaaaaaaaf0f0f0f0, 0x0ff00ff0, amoand.w a0, a2, (a1))
  TEST_AMO(10, 0x0000000000000001, 0x8000000000000001, 1, 0x8000000000000000, amoor.d.aqrl a0, a2, (a1))
  TEST_AMO(11, 0x0000000000000001, 0x0000000080000001, 1, 0x80000000, amoor.w a0, a2, (a1))
  TEST_AMO(12, 0xffffffffffffffff, 0x0000000000000000, -1, -1, amoxor.d a0, a2, (a1))
  TEST_AMO(13, 0xffffffffffffffff, 0xffffffff0f0f0f0f, -1, 0xf0f0f0f0, amoxor.w.rl a0, a2, (a1))
  /* amomin / amomax: signed */
  TEST_AMO(14, 0xffffffffffffffff, 0x8000000000000000, -1, 0x8000000000000000, amomin.d a0, a2, (a1))
  TEST_AMO(15, 0x8000000000000000, 0x8000000000000000, 0x8000000000000000, 0x7fffffffffffffff, amomin.d a0, a2, (a1))
  TEST_AMO(16, 0xffffffffffffffff, 0x7fffffffffffffff, -1, 0x7fffffffffffffff, amomax.d a0, a2, (a1))
  TEST_AMO(17, 0xffffffff80000000, 0x0000000080000000, 0x80000000, 5, amomin.w a0, a2, (a1))
  TEST_AMO(18, 0xffffffff80000000, 0x0000000000000005, 0x80000000, 5, amomax.w a0, a2, (a1))
  /* W compares the low 32 bits only: 0x1_00000001 is 1 */
  TEST_AMO(19, 0x0000000000000001, 0x0000000100000000, 0x100000001, 0, amomin.w.aq a0, a2, (a1))
  /* amominu / amomaxu: unsigned */
  TEST_AMO(20, 0xffffffffffffffff, 0x0000000000000000, -1, 0, amominu.d a0, a2, (a1))
  TEST_AMO(21, 0x0000000000000001, 0x8000000000000000, 1, 0x8000000000000000, amomaxu.d a0, a2, (a1))
  TEST_AMO(22, 0xffffffff80000000, 0x0000000000000005, 0x80000000, 5, amominu.w a0, a2, (a1))
  TEST_AMO(23, 0x0000000000000005, 0x00000000ffffffff, 5, -1, amomaxu.w.aqrl a0, a2, (a1))
  /* rd = x0: memory still updated */
  TEST_AMO(24, 0x0000000000000000, 0x0000000000000009, 4, 5, li a0, 0; amoadd.d x0, a2, (a1))
  /* rd == rs2 */
  TEST_CASE(25, a2, 10, la a1, amo_dat; li a3, 10; sd a3, 0(a1); li a2, 3; amoadd.d a2, a2, (a1))
  TEST_CASE(26, a4, 13, ld a4, 0(a1))

  /* lr.d / sc.d: success writes 0 to rd and stores */
  TEST_CASE(27, a0, 0, la a1, amo_dat; li a3, 100; sd a3, 0(a1); lr.d a4, (a1); addi a4, a4, 1; sc.d a0, a4, (a1))
  TEST_CASE(28, a4, 101, ld a4, 0(a1))
  /* lr returns the value (sign-extended for .w) */
  TEST_CASE(29, a4, 0xffffffff80000001, la a1, amo_dat; li a3, 0x1280000001; sd a3, 0(a1); lr.w a4, (a1); sc.w a0, a4, (a1); bnez a0, fail)
  TEST_CASE(30, a4, 0x1280000001, ld a4, 0(a1)) /* sc.w wrote 32 bits */
  /* the reservation is consumed by the sc: a second sc fails */
  TEST_CASE(31, a5, 1, la a1, amo_dat; lr.d a4, (a1); sc.d a0, x0, (a1); bnez a0, fail; li a3, 77; sc.d a0, a3, (a1); snez a5, a0)
  TEST_CASE(32, a4, 0, ld a4, 0(a1)) /* the failed sc did not store */
  /* sc without any lr before it fails (the previous sc consumed it) */
  TEST_CASE(33, a5, 1, la a1, amo_dat; li a3, 55; sc.w a0, a3, (a1); snez a5, a0)
  TEST_CASE(34, a4, 0, ld a4, 0(a1))
  /* sc to another address than the lr's fails, memory unchanged */
  TEST_CASE(35, a5, 1, la a1, amo_dat; li a3, 8; sd a3, 8(a1); lr.d a4, (a1); addi a6, a1, 8; li a3, 99; sc.d a0, a3, (a6); snez a5, a0)
  TEST_CASE(36, a4, 8, ld a4, 8(a1))
  /* ordering suffixes */
  TEST_CASE(37, a0, 0, la a1, amo_dat; lr.d.aq a4, (a1); sc.d.rl a0, a4, (a1))
  TEST_CASE(38, a0, 0, la a1, amo_dat; lr.w.aqrl a4, (a1); sc.w.aqrl a0, a4, (a1))
  /* a CAS loop: add 1000 times */
  TEST_CASE(39, a4, 1000, la a1, amo_dat; sd x0, 0(a1); li a5, 1000; 1: lr.d a4, (a1); addi a4, a4, 1; sc.d a0, a4, (a1); bnez a0, 1b; addi a5, a5, -1; bnez a5, 1b; ld a4, 0(a1))
  /* a compare-and-swap that fails the compare */
  TEST_CASE(40, a0, 1000, la a1, amo_dat; li a2, 5; lr.d a0, (a1); bne a0, a2, 2f; li a3, 6; sc.d a3, a3, (a1); 2: nop)
  TEST_CASE(41, a4, 1000, ld a4, 0(a1))

RVTEST_END

RVTEST_DATA_BEGIN
amo_dat: .dword 0, 0
RVTEST_DATA_END
