/* RV64M: mul/mulh/mulhsu/mulhu/mulw and the divisions, with the spec's
 * division-by-zero results (quotient all ones, remainder = dividend) and
 * signed overflow (INT_MIN / -1 = INT_MIN, remainder 0), no trap; the W
 * forms use the low 32 bits and sign-extend their result. */
#define TEST_EXT "rv64m"
#include "test_macros.h"

#define MIN64 0x8000000000000000
#define MAX64 0x7fffffffffffffff

RVTEST_BEGIN

  /* mul: low 64 bits */
  TEST_RR_OP(1, mul, 0x0000000000000000, 0, 0x1234)
  TEST_RR_OP(2, mul, 0x0000000000000001, -1, -1)
  TEST_RR_OP(3, mul, 0x8000000000000000, MIN64, -1)
  TEST_RR_OP(4, mul, 0x8000000000000001, MAX64, -1)
  TEST_RR_OP(5, mul, 0x0000000000000001, MAX64, MAX64)
  TEST_RR_OP(6, mul, 0x0000000000000000, MIN64, MIN64)
  TEST_RR_OP(7, mul, 0x22236d88fe5618cf, 0x0123456789abcdef, 0x0fedcba987654321)
  TEST_RR_SRC12_EQ_DEST(8, mul, 0x0000000000000211, 23)
  TEST_RR_ZERODEST(9, mul, 5, 7)

  /* mulh: high 64 bits of signed x signed */
  TEST_RR_OP(10, mulh, 0x0000000000000000, 1, 1)
  TEST_RR_OP(11, mulh, 0xffffffffffffffff, -1, 1)
  TEST_RR_OP(12, mulh, 0x0000000000000000, -1, -1)
  TEST_RR_OP(13, mulh, 0x4000000000000000, MIN64, MIN64)
  TEST_RR_OP(14, mulh, 0x3fffffffffffffff, MAX64, MAX64)
  TEST_RR_OP(15, mulh, 0xc000000000000000, MIN64, MAX64)
  TEST_RR_OP(16, mulh, 0x0000000000000000, MIN64, -1)
  TEST_RR_OP(17, mulh, 0x0000000000000000, MIN64, 0)
  TEST_RR_OP(18, mulh, 0x0014b66dc333f6ac, 0x0123456789abcdef, 0x1234567890abcdef)

  /* mulhu: unsigned x unsigned */
  TEST_RR_OP(19, mulhu, 0xfffffffffffffffe, -1, -1)
  TEST_RR_OP(20, mulhu, 0x0000000000000000, -1, 1)
  TEST_RR_OP(21, mulhu, 0x4000000000000000, MIN64, MIN64)
  TEST_RR_OP(22, mulhu, 0x7fffffffffffffff, MIN64, -1)
  TEST_RR_OP(23, mulhu, 0x0014b66dc333f6ac, 0x0123456789abcdef, 0x1234567890abcdef)

  /* mulhsu: signed rs1 x unsigned rs2 */
  TEST_RR_OP(24, mulhsu, 0xffffffffffffffff, -1, -1)
  TEST_RR_OP(25, mulhsu, 0x0000000000000000, 1, -1)
  TEST_RR_OP(26, mulhsu, 0xffffffffffffffff, -1, 1)
  TEST_RR_OP(27, mulhsu, 0xc000000000000000, MIN64, MIN64)
  TEST_RR_OP(28, mulhsu, 0x8000000000000000, MIN64, -1)
  TEST_RR_OP(29, mulhsu, 0x7ffffffffffffffe, MAX64, -1)
  TEST_RR_OP(30, mulhsu, 0x0000000000000000, 0, -1)

  /* mulw: low 32 bits, sign-extended */
  TEST_RR_OP(31, mulw, 0x0000000000000001, -1, -1)
  TEST_RR_OP(32, mulw, 0xffffffff80000000, 0x40000000, 2)
  TEST_RR_OP(33, mulw, 0x0000000000000000, 0x100000000, 0x100000000)
  TEST_RR_OP(34, mulw, 0x0000000000000006, 0x1200000002, 0x3400000003)
  TEST_RR_OP(35, mulw, 0x0000000000000001, 0x7fffffff, 0x7fffffff)

  /* div / divu */
  TEST_RR_OP(36, div, 0x0000000000000003, 20, 6)
  TEST_RR_OP(37, div, 0xfffffffffffffffd, -20, 6)
  TEST_RR_OP(38, div, 0xfffffffffffffffd, 20, -6)
  TEST_RR_OP(39, div, 0x0000000000000003, -20, -6)
  TEST_RR_OP(40, div, 0xffffffffffffffff, 0, 0) /* by zero: -1 */
  TEST_RR_OP(41, div, 0xffffffffffffffff, 1, 0)
  TEST_RR_OP(42, div, 0xffffffffffffffff, MIN64, 0)
  TEST_RR_OP(43, div, MIN64, MIN64, -1) /* overflow */
  TEST_RR_OP(44, div, 0xc000000000000000, MIN64, 2)
  TEST_RR_OP(45, div, 0x0000000000000000, MAX64, MIN64)
  TEST_RR_OP(46, div, 0xffffffffffffffff, MIN64, MAX64)
  TEST_RR_OP(47, divu, 0x0000000000000003, 20, 6)
  TEST_RR_OP(48, divu, 0x2aaaaaaaaaaaaaa7, -20, 6)
  TEST_RR_OP(49, divu, 0x0000000000000000, 20, -6)
  TEST_RR_OP(50, divu, 0xffffffffffffffff, 0, 0) /* by zero: all ones */
  TEST_RR_OP(51, divu, 0xffffffffffffffff, 12345, 0)
  TEST_RR_OP(52, divu, 0x0000000000000000, MIN64, -1)
  TEST_RR_OP(53, divu, 0x0000000000000001, -1, -1)
  TEST_RR_OP(54, divu, 0x0000000000000002, -1, MAX64)

  /* rem / remu: sign of the dividend */
  TEST_RR_OP(55, rem, 0x0000000000000002, 20, 6)
  TEST_RR_OP(56, rem, 0xfffffffffffffffe, -20, 6)
  TEST_RR_OP(57, rem, 0x0000000000000002, 20, -6)
  TEST_RR_OP(58, rem, 0xfffffffffffffffe, -20, -6)
  TEST_RR_OP(59, rem, 0x0000000000000000, 0, 0) /* by zero: dividend */
  TEST_RR_OP(60, rem, 0x0000000000000001, 1, 0)
  TEST_RR_OP(61, rem, MIN64, MIN64, 0)
  TEST_RR_OP(62, rem, 0x0000000000000000, MIN64, -1) /* overflow: 0 */
  TEST_RR_OP(63, rem, 0xffffffffffffffff, MIN64, MAX64)
  TEST_RR_OP(64, remu, 0x0000000000000002, 20, 6)
  TEST_RR_OP(65, remu, 0x0000000000000002, -20, 6)
  TEST_RR_OP(66, remu, 0x0000000000000014, 20, -6)
  TEST_RR_OP(67, remu, 0xffffffffffffffff, -1, 0) /* by zero: dividend */
  TEST_RR_OP(68, remu, MIN64, MIN64, -1)
  TEST_RR_OP(69, remu, 0x0000000000000001, -1, 2)

  /* divw / divuw / remw / remuw: 32-bit operands, sign-extended results */
  TEST_RR_OP(70, divw, 0x0000000000000003, 20, 6)
  TEST_RR_OP(71, divw, 0xfffffffffffffffd, -20, 6)
  TEST_RR_OP(72, divw, 0xffffffffffffffff, 0x1234, 0) /* by zero */
  TEST_RR_OP(73, divw, 0xffffffffffffffff, 0x1234, 0x100000000) /* low half 0 */
  TEST_RR_OP(74, divw, 0xffffffff80000000, 0x80000000, -1) /* overflow */
  TEST_RR_OP(75, divw, 0xffffffff80000000, 0xffffffff80000000, 0xffffffff)
  TEST_RR_OP(76, divw, 0x0000000000000005, 0x7700000014, 0x8800000004)
  TEST_RR_OP(77, divuw, 0x0000000000000003, 20, 6)
  TEST_RR_OP(78, divuw, 0x000000002aaaaaa7, -20, 6)
  TEST_RR_OP(79, divuw, 0xffffffffffffffff, 0x1234, 0) /* by zero: sext(0xffffffff) */
  TEST_RR_OP(80, divuw, 0xffffffff80000000, 0x80000000, 1) /* sign-extended */
  TEST_RR_OP(81, divuw, 0x0000000000000000, 0x80000000, -1)
  TEST_RR_OP(82, remw, 0x0000000000000002, 20, 6)
  TEST_RR_OP(83, remw, 0xfffffffffffffffe, -20, 6)
  TEST_RR_OP(84, remw, 0xffffffff80000000, 0x80000000, 0) /* by zero: sext(dividend) */
  TEST_RR_OP(85, remw, 0x0000000000000000, 0x80000000, -1) /* overflow */
  TEST_RR_OP(86, remw, 0x0000000000000007, 0x1200000007, 0)
  TEST_RR_OP(87, remuw, 0x0000000000000002, 20, 6)
  TEST_RR_OP(88, remuw, 0x0000000000000002, -20, 6)
  TEST_RR_OP(89, remuw, 0xffffffffffffffec, -20, 0) /* by zero: sext(dividend) */
  TEST_RR_OP(90, remuw, 0xffffffff80000000, 0x80000000, 0xffffffff)
  TEST_RR_OP(91, remuw, 0x0000000000000001, 0xabcdef00000000ff, 0x1234560000000002)

RVTEST_END
