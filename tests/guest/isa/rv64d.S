/* RV64D: double precision, as rv64f: result bits and exact fflags for
 * every operation, rounding modes static and dynamic, NaN
 * canonicalization, fmin/fmax, compares, fclass, fcvt saturation (W
 * results sign-extended), conversions between single and double
 * (including a not NaN-boxed single input), fld/fsd, fmv.x.d/fmv.d.x. */
#define TEST_EXT "rv64d"
#include "test_macros.h"

#define NV FFLAGS_NV
#define DZ FFLAGS_DZ
#define OF FFLAGS_OF
#define UF FFLAGS_UF
#define NX FFLAGS_NX
#define F64_2M53 0x3ca0000000000000 /* 2^-53: 1 + 2^-53 is a tie */
#define F64_THIRD 0x3fd5555555555555

RVTEST_BEGIN

  /* arithmetic */
  TEST_F64(1, 0, F64_THREE, F64_ONE, F64_TWO, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(2, 0, F64_PZERO, F64_ONE, F64_MONE, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(3, 0, F64_NZERO, F64_NZERO, F64_NZERO, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(4, NX, F64_ONE, F64_ONE, F64_2M53, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(5, OF | NX, F64_PINF, F64_MAX, F64_MAX, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(6, NV, F64_QNAN, F64_PINF, F64_NINF, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(7, 0, F64_QNAN, F64_QNAN_PAYLOAD, F64_ONE, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(8, NV, F64_QNAN, F64_ONE, F64_SNAN, 0, fadd.d fa0, fa1, fa2)
  TEST_F64(9, 0, F64_ONE, F64_THREE, F64_TWO, 0, fsub.d fa0, fa1, fa2)
  TEST_F64(10, NV, F64_QNAN, F64_NINF, F64_NINF, 0, fsub.d fa0, fa1, fa2)
  TEST_F64(11, 0, 0x4018000000000000, F64_TWO, F64_THREE, 0, fmul.d fa0, fa1, fa2)
  TEST_F64(12, NV, F64_QNAN, F64_NZERO, F64_NINF, 0, fmul.d fa0, fa1, fa2)
  TEST_F64(13, UF | NX, F64_PZERO, F64_MIN_SUB, F64_HALF, 0, fmul.d fa0, fa1, fa2)
  TEST_F64(14, 0, 0x0008000000000000, F64_MIN_NORMAL, F64_HALF, 0, fmul.d fa0, fa1, fa2)
  TEST_F64(15, UF | NX, 0x0005555555555555, F64_MIN_NORMAL, F64_THREE, 0, fdiv.d fa0, fa1, fa2)
  TEST_F64(16, NX, F64_THIRD, F64_ONE, F64_THREE, 0, fdiv.d fa0, fa1, fa2)
  TEST_F64(17, DZ, F64_NINF, F64_MONE, F64_PZERO, 0, fdiv.d fa0, fa1, fa2)
  TEST_F64(18, NV, F64_QNAN, F64_PINF, F64_NINF, 0, fdiv.d fa0, fa1, fa2)
  TEST_F64(19, 0, F64_PZERO, F64_PZERO, F64_ONE, 0, fdiv.d fa0, fa1, fa2)
  TEST_F64(20, 0, 0x4000000000000000, 0x4010000000000000, 0, 0, fsqrt.d fa0, fa1)
  TEST_F64(21, NX, 0x3ff6a09e667f3bcd, F64_TWO, 0, 0, fsqrt.d fa0, fa1)
  TEST_F64(22, 0, F64_NZERO, F64_NZERO, 0, 0, fsqrt.d fa0, fa1)
  TEST_F64(23, NV, F64_QNAN, F64_NINF, 0, 0, fsqrt.d fa0, fa1)
  TEST_F64(24, NV, F64_QNAN, F64_SNAN, 0, 0, fsqrt.d fa0, fa1)

  /* static rounding modes */
  TEST_F64(25, NX, F64_ONE, F64_ONE, F64_2M53, 0, fadd.d fa0, fa1, fa2, rne)
  TEST_F64(26, NX, F64_ONE, F64_ONE, F64_2M53, 0, fadd.d fa0, fa1, fa2, rtz)
  TEST_F64(27, NX, F64_ONE, F64_ONE, F64_2M53, 0, fadd.d fa0, fa1, fa2, rdn)
  TEST_F64(28, NX, 0x3ff0000000000001, F64_ONE, F64_2M53, 0, fadd.d fa0, fa1, fa2, rup)
  TEST_F64(29, NX, 0x3ff0000000000001, F64_ONE, F64_2M53, 0, fadd.d fa0, fa1, fa2, rmm)
  TEST_F64(30, NX, 0xbff0000000000001, F64_MONE, 0xbca0000000000000, 0, fadd.d fa0, fa1, fa2, rdn)
  TEST_F64(31, NX, 0xbff0000000000000, F64_MONE, 0xbca0000000000000, 0, fadd.d fa0, fa1, fa2, rup)
  TEST_F64(32, NX, 0x3fd5555555555556, F64_ONE, F64_THREE, 0, fdiv.d fa0, fa1, fa2, rup)
  TEST_F64(33, NX, 0xbfd5555555555555, F64_MONE, F64_THREE, 0, fdiv.d fa0, fa1, fa2, rup)
  TEST_F64(34, NX, 0xbfd5555555555556, F64_MONE, F64_THREE, 0, fdiv.d fa0, fa1, fa2, rdn)
  TEST_F64(35, NX, 0x3ff6a09e667f3bcc, F64_TWO, 0, 0, fsqrt.d fa0, fa1, rtz)
  TEST_F64(36, OF | NX, F64_MAX, F64_MAX, F64_MAX, 0, fadd.d fa0, fa1, fa2, rtz)
  TEST_F64(37, OF | NX, F64_PINF, F64_MAX, F64_MAX, 0, fadd.d fa0, fa1, fa2, rmm)
  TEST_F64(38, 0, F64_NZERO, F64_TWO, F64_TWO, 0, fsub.d fa0, fa1, fa2, rdn)

  /* dynamic rounding mode */
  TEST_F64(39, NX, 0x3ff0000000000001, F64_ONE, F64_2M53, 0, fsrmi 3; fadd.d fa0, fa1, fa2; fsrmi 0)
  TEST_F64(40, NX, 0x3fd5555555555555, F64_ONE, F64_THREE, 0, fsrmi 1; fdiv.d fa0, fa1, fa2, dyn; fsrmi 0)
  TEST_F64(41, NX, 0xbff0000000000001, F64_MONE, 0xbca0000000000000, 0, fsrmi 4; fadd.d fa0, fa1, fa2; fsrmi 0)

  /* fused multiply-add */
  TEST_F64(42, 0, 0x401c000000000000, F64_TWO, F64_THREE, F64_ONE, fmadd.d fa0, fa1, fa2, fa3)
  TEST_F64(43, 0, 0x4014000000000000, F64_TWO, F64_THREE, F64_ONE, fmsub.d fa0, fa1, fa2, fa3)
  TEST_F64(44, 0, 0xc014000000000000, F64_TWO, F64_THREE, F64_ONE, fnmsub.d fa0, fa1, fa2, fa3)
  TEST_F64(45, 0, 0xc01c000000000000, F64_TWO, F64_THREE, F64_ONE, fnmadd.d fa0, fa1, fa2, fa3)
  TEST_F64(46, 0, 0x3970000000000000, 0x3ff0000000000001, 0x3ff0000000000001, 0xbff0000000000002, fmadd.d fa0, fa1, fa2, fa3)
  TEST_F64(47, NV, F64_QNAN, F64_NZERO, F64_NINF, F64_QNAN, fmadd.d fa0, fa1, fa2, fa3)
  TEST_F64(48, NV, F64_QNAN, F64_SNAN, F64_ONE, F64_ONE, fmsub.d fa0, fa1, fa2, fa3)

  /* sign injection */
  TEST_F64(49, 0, F64_MONE, F64_ONE, F64_NZERO, 0, fsgnj.d fa0, fa1, fa2)
  TEST_F64(50, 0, F64_ONE, F64_MONE, F64_NZERO, 0, fsgnjn.d fa0, fa1, fa2)
  TEST_F64(51, 0, F64_MONE, F64_MONE, F64_PZERO, 0, fsgnjx.d fa0, fa1, fa2)
  TEST_F64(52, 0, 0xfff0000000000001, F64_SNAN, F64_MONE, 0, fsgnj.d fa0, fa1, fa2)
  TEST_F64(53, 0, 0x7ff8000000012345, F64_QNAN_PAYLOAD, 0, 0, fabs.d fa0, fa1)

  /* fmin / fmax */
  TEST_F64(54, 0, F64_ONE, F64_QNAN_PAYLOAD, F64_ONE, 0, fmin.d fa0, fa1, fa2)
  TEST_F64(55, 0, F64_ONE, F64_ONE, F64_QNAN, 0, fmax.d fa0, fa1, fa2)
  TEST_F64(56, NV, F64_ONE, F64_ONE, F64_SNAN, 0, fmax.d fa0, fa1, fa2)
  TEST_F64(57, 0, F64_QNAN, F64_QNAN_PAYLOAD, F64_QNAN_PAYLOAD, 0, fmin.d fa0, fa1, fa2)
  TEST_F64(58, NV, F64_QNAN, F64_SNAN, F64_SNAN, 0, fmax.d fa0, fa1, fa2)
  TEST_F64(59, 0, F64_NZERO, F64_PZERO, F64_NZERO, 0, fmin.d fa0, fa1, fa2)
  TEST_F64(60, 0, F64_PZERO, F64_NZERO, F64_PZERO, 0, fmax.d fa0, fa1, fa2)
  TEST_F64(61, 0, F64_NINF, F64_NINF, F64_ONE, 0, fmin.d fa0, fa1, fa2)

  /* compares */
  TEST_F64_INT(62, 0, 1, F64_NZERO, F64_PZERO, feq.d a0, fa1, fa2)
  TEST_F64_INT(63, 0, 0, F64_QNAN, F64_QNAN, feq.d a0, fa1, fa2)
  TEST_F64_INT(64, NV, 0, F64_ONE, F64_SNAN, feq.d a0, fa1, fa2)
  TEST_F64_INT(65, 0, 1, F64_MONE, F64_ONE, flt.d a0, fa1, fa2)
  TEST_F64_INT(66, 0, 0, F64_ONE, F64_ONE, flt.d a0, fa1, fa2)
  TEST_F64_INT(67, NV, 0, F64_QNAN, F64_ONE, flt.d a0, fa1, fa2)
  TEST_F64_INT(68, 0, 1, F64_ONE, F64_ONE, fle.d a0, fa1, fa2)
  TEST_F64_INT(69, NV, 0, F64_QNAN, F64_QNAN, fle.d a0, fa1, fa2)

  /* fclass */
  TEST_F64_INT(70, 0, 0x001, F64_NINF, 0, fclass.d a0, fa1)
  TEST_F64_INT(71, 0, 0x002, 0xc000000000000000, 0, fclass.d a0, fa1)
  TEST_F64_INT(72, 0, 0x004, 0x800fffffffffffff, 0, fclass.d a0, fa1)
  TEST_F64_INT(73, 0, 0x008, F64_NZERO, 0, fclass.d a0, fa1)
  TEST_F64_INT(74, 0, 0x010, F64_PZERO, 0, fclass.d a0, fa1)
  TEST_F64_INT(75, 0, 0x020, F64_MIN_SUB, 0, fclass.d a0, fa1)
  TEST_F64_INT(76, 0, 0x040, F64_MIN_NORMAL, 0, fclass.d a0, fa1)
  TEST_F64_INT(77, 0, 0x080, F64_PINF, 0, fclass.d a0, fa1)
  TEST_F64_INT(78, 0, 0x100, 0xfff4000000000000, 0, fclass.d a0, fa1)
  TEST_F64_INT(79, 0, 0x200, 0xfff8000000000000, 0, fclass.d a0, fa1)

  /* fcvt to integer */
  TEST_F64_INT(80, NX, 2, 0x4004000000000000, 0, fcvt.w.d a0, fa1, rne) /* 2.5 */
  TEST_F64_INT(81, NX, 3, 0x4004000000000000, 0, fcvt.w.d a0, fa1, rmm)
  TEST_F64_INT(82, NX, -3, 0xc004000000000000, 0, fcvt.w.d a0, fa1, rdn)
  TEST_F64_INT(83, NX, -2, 0xc004000000000000, 0, fcvt.w.d a0, fa1, rup)
  TEST_F64_INT(84, NX, 0x7fffffff, 0x41dfffffffd9999a, 0, fcvt.w.d a0, fa1, rne) /* 2^31-0.6 */
  /* 2^31 - 0.5 rounds (to even) to 2^31: out of range, NV and no NX */
  TEST_F64_INT(85, NV, 0x7fffffff, 0x41dfffffffe00000, 0, fcvt.w.d a0, fa1, rne)
  TEST_F64_INT(86, NX, 0x7fffffff, 0x41dfffffffe00000, 0, fcvt.w.d a0, fa1, rtz)
  TEST_F64_INT(87, NX, 0xffffffff80000000, 0xc1e0000000100000, 0, fcvt.w.d a0, fa1, rtz) /* -2^31-0.5 */
  TEST_F64_INT(88, NV, 0xffffffff80000000, 0xc1e0000000100000, 0, fcvt.w.d a0, fa1, rdn)
  TEST_F64_INT(89, NV, 0x7fffffff, F64_QNAN_PAYLOAD, 0, fcvt.w.d a0, fa1, rtz)
  TEST_F64_INT(90, NV, 0xffffffffffffffff, F64_SNAN, 0, fcvt.wu.d a0, fa1, rtz)
  TEST_F64_INT(91, NX, 0xffffffffffffffff, 0x41effffffff00000, 0, fcvt.wu.d a0, fa1, rtz) /* 2^32-0.5 */
  TEST_F64_INT(92, NV, 0xffffffffffffffff, 0x41effffffff00000, 0, fcvt.wu.d a0, fa1, rne)
  TEST_F64_INT(93, NV, 0, F64_MONE, 0, fcvt.wu.d a0, fa1, rtz)
  TEST_F64_INT(94, NV, 0x7fffffffffffffff, F64_PINF, 0, fcvt.l.d a0, fa1, rtz)
  TEST_F64_INT(95, NV, 0x7fffffffffffffff, 0x43e02207973f6440, 0, fcvt.l.d a0, fa1, rtz) /* 9.3e18 */
  TEST_F64_INT(96, 0, 0x81103cb9fb220000, 0x43e02207973f6440, 0, fcvt.lu.d a0, fa1, rtz)
  TEST_F64_INT(97, NV, 0x8000000000000000, 0xc3e0000000000001, 0, fcvt.l.d a0, fa1, rtz) /* < -2^63 */
  TEST_F64_INT(98, 0, 0x8000000000000000, 0xc3e0000000000000, 0, fcvt.l.d a0, fa1, rtz)
  TEST_F64_INT(99, NV, 0xffffffffffffffff, F64_QNAN, 0, fcvt.lu.d a0, fa1, rtz)
  TEST_F64_INT(100, NV, 0, F64_NINF, 0, fcvt.lu.d a0, fa1, rtz)
  TEST_F64_INT(101, NX, 0, 0xbfe0000000000000, 0, fcvt.lu.d a0, fa1, rtz) /* -0.5 */
  TEST_F64_INT(102, NX, 0xfffffffffffffff9, 0xc01a000000000000, 0, fsrmi 2; fcvt.l.d a0, fa1; fsrmi 0) /* -6.5 rdn */

  /* fcvt from integer */
  TEST_INT_F64(103, 0, 0xc1e0000000000000, 0x80000000, fcvt.d.w fa0, a1)
  TEST_INT_F64(104, 0, 0x4014000000000000, 0xabcdef0000000005, fcvt.d.w fa0, a1)
  TEST_INT_F64(105, 0, 0x41efffffffe00000, 0xffffffffffffffff, fcvt.d.wu fa0, a1)
  TEST_INT_F64(106, 0, 0xc3e0000000000000, 0x8000000000000000, fcvt.d.l fa0, a1)
  TEST_INT_F64(107, NX, 0x43e0000000000000, 0x7fffffffffffffff, fcvt.d.l fa0, a1)
  TEST_INT_F64(108, NX, 0x43dfffffffffffff, 0x7fffffffffffffff, fcvt.d.l fa0, a1, rtz)
  TEST_INT_F64(109, NX, 0x43f0000000000000, 0xffffffffffffffff, fcvt.d.lu fa0, a1)
  TEST_INT_F64(110, 0, F64_PZERO, 0, fcvt.d.l fa0, a1)

  /* between single and double */
  TEST_F64(111, NX, 0xffffffff3eaaaaab, F64_THIRD, 0, 0, fcvt.s.d fa0, fa1)
  TEST_F64(112, NX, 0xffffffff3eaaaaaa, F64_THIRD, 0, 0, fcvt.s.d fa0, fa1, rtz)
  TEST_F64(113, OF | NX, 0xffffffff7f800000, F64_MAX, 0, 0, fcvt.s.d fa0, fa1)
  TEST_F64(114, OF | NX, 0xffffffff7f7fffff, F64_MAX, 0, 0, fcvt.s.d fa0, fa1, rtz)
  TEST_F64(115, UF | NX, 0xffffffff00000000, 0x358dee7a4ad4b81f, 0, 0, fcvt.s.d fa0, fa1) /* 1e-50 */
  TEST_F64(116, 0, 0xffffffff7fc00000, F64_QNAN_PAYLOAD, 0, 0, fcvt.s.d fa0, fa1)
  TEST_F64(117, NV, 0xffffffff7fc00000, F64_SNAN, 0, 0, fcvt.s.d fa0, fa1)
  TEST_F64(118, 0, 0xffffffff80000000, F64_NZERO, 0, 0, fcvt.s.d fa0, fa1)
  TEST_F64(119, 0, 0x3fd5555560000000, 0xffffffff3eaaaaab, 0, 0, fcvt.d.s fa0, fa1)
  TEST_F64(120, 0, 0x36a0000000000000, 0xffffffff00000001, 0, 0, fcvt.d.s fa0, fa1) /* 2^-149 */
  TEST_F64(121, NV, F64_QNAN, 0xffffffff7f800001, 0, 0, fcvt.d.s fa0, fa1)
  TEST_F64(122, 0, F64_QNAN, 0xffffffffffc12345, 0, 0, fcvt.d.s fa0, fa1)
  TEST_F64(123, 0, F64_NINF, 0xffffffffff800000, 0, 0, fcvt.d.s fa0, fa1)
  /* a single input that is not NaN-boxed is the canonical NaN */
  TEST_F64(124, 0, F64_QNAN, 0x000000003f800000, 0, 0, fcvt.d.s fa0, fa1)

  /* moves, loads, stores */
  TEST_CASE(125, a0, 0x7ff0000000000001, li a1, F64_SNAN; fmv.d.x fa1, a1; fmv.x.d a0, fa1)
  TEST_CASE(126, a0, 0x7ff0000000000001, li a1, F64_SNAN; fmv.d.x fa1, a1; fmv.d fa0, fa1; fmv.x.d a0, fa0)
  TEST_CASE(127, a0, 0xc00921fb54442d18, la a1, ddat; fld fa0, 0(a1); fmv.x.d a0, fa0)
  TEST_CASE(128, a0, 0x8000000000000001, la a1, ddat; fld fa0, 8(a1); fsd fa0, 16(a1); ld a0, 16(a1))
  TEST_CASE(129, a0, 0xffffffff3f800000, la a1, ddat; li a2, F32_ONE; fmv.w.x fa1, a2; fsd fa1, 16(a1); ld a0, 16(a1)) /* fsd stores the boxed bits */
  TEST_CASE(130, a0, 0x3ff0000000000000, la a1, ddat; li a2, F64_ONE; sd a2, 24(a1); fld fa0, 24(a1); fmv.x.d a0, fa0)

RVTEST_END

RVTEST_DATA_BEGIN
ddat: .dword 0xc00921fb54442d18, 0x8000000000000001, 0, 0
RVTEST_DATA_END
