/* RV64F: single precision. Every operation checks its result bits, that
 * the result is NaN-boxed in the 64-bit f register (upper 32 bits all
 * ones), and the exact fflags it raised. Covers the static rounding mode
 * in the rm field and the dynamic one from frm, NaN canonicalization (no
 * payload propagation), inputs that are not NaN-boxed (read as the
 * canonical NaN), fmin/fmax with NaN and signed zeros, fcvt saturation,
 * compares (quiet feq, signaling flt/fle), fclass. Uses fmv.x.d/fmv.d.x
 * (D) to look at the whole register. */
#define TEST_EXT "rv64f"
#include "test_macros.h"

#define NV FFLAGS_NV
#define DZ FFLAGS_DZ
#define OF FFLAGS_OF
#define UF FFLAGS_UF
#define NX FFLAGS_NX

RVTEST_BEGIN

  /* fadd / fsub / fmul / fdiv, default rounding (frm = 0 at start) */
  TEST_F32(1, 0, 0x40400000, F32_ONE, F32_TWO, 0, fadd.s fa0, fa1, fa2)
  TEST_F32(2, 0, 0x00000000, F32_ONE, F32_MONE, 0, fadd.s fa0, fa1, fa2) /* +0 */
  TEST_F32(3, 0, 0x80000000, F32_NZERO, F32_NZERO, 0, fadd.s fa0, fa1, fa2)
  TEST_F32(4, NX, 0x3f800000, F32_ONE, 0x33800000, 0, fadd.s fa0, fa1, fa2) /* tie: even */
  TEST_F32(5, OF | NX, F32_PINF, F32_MAX, F32_MAX, 0, fadd.s fa0, fa1, fa2)
  TEST_F32(6, NV, F32_QNAN, F32_PINF, F32_NINF, 0, fadd.s fa0, fa1, fa2)
  TEST_F32(7, 0, F32_PINF, F32_PINF, F32_PINF, 0, fadd.s fa0, fa1, fa2)
  TEST_F32(8, 0, F32_QNAN, F32_QNAN_PAYLOAD, F32_ONE, 0, fadd.s fa0, fa1, fa2) /* no payload */
  TEST_F32(9, NV, F32_QNAN, F32_SNAN, F32_ONE, 0, fadd.s fa0, fa1, fa2)
  TEST_F32(10, 0, 0x3f800000, F32_THREE, F32_TWO, 0, fsub.s fa0, fa1, fa2)
  TEST_F32(11, 0, 0x80000000, F32_NZERO, F32_PZERO, 0, fsub.s fa0, fa1, fa2)
  TEST_F32(12, NV, F32_QNAN, F32_PINF, F32_PINF, 0, fsub.s fa0, fa1, fa2)
  TEST_F32(13, 0, 0x40c00000, F32_TWO, F32_THREE, 0, fmul.s fa0, fa1, fa2)
  TEST_F32(14, 0, 0x80000000, F32_MONE, F32_PZERO, 0, fmul.s fa0, fa1, fa2)
  TEST_F32(15, NV, F32_QNAN, F32_PINF, F32_PZERO, 0, fmul.s fa0, fa1, fa2)
  TEST_F32(16, UF | NX, 0x00000000, F32_MIN_SUB, F32_HALF, 0, fmul.s fa0, fa1, fa2)
  TEST_F32(17, 0, 0x00400000, F32_MIN_NORMAL, F32_HALF, 0, fmul.s fa0, fa1, fa2) /* exact subnormal */
  TEST_F32(18, NX, 0x3eaaaaab, F32_ONE, F32_THREE, 0, fdiv.s fa0, fa1, fa2)
  TEST_F32(19, DZ, F32_PINF, F32_ONE, F32_PZERO, 0, fdiv.s fa0, fa1, fa2)
  TEST_F32(20, DZ, F32_NINF, F32_ONE, F32_NZERO, 0, fdiv.s fa0, fa1, fa2)
  TEST_F32(21, NV, F32_QNAN, F32_PZERO, F32_PZERO, 0, fdiv.s fa0, fa1, fa2)
  TEST_F32(22, 0, 0x80000000, F32_ONE, F32_NINF, 0, fdiv.s fa0, fa1, fa2)
  TEST_F32(23, 0, 0x40000000, 0x40800000, 0, 0, fsqrt.s fa0, fa1)
  TEST_F32(24, NX, 0x3fb504f3, F32_TWO, 0, 0, fsqrt.s fa0, fa1)
  TEST_F32(25, 0, 0x80000000, F32_NZERO, 0, 0, fsqrt.s fa0, fa1) /* sqrt(-0) = -0 */
  TEST_F32(26, NV, F32_QNAN, F32_MONE, 0, 0, fsqrt.s fa0, fa1)
  TEST_F32(27, 0, F32_PINF, F32_PINF, 0, 0, fsqrt.s fa0, fa1)

  /* static rounding modes in the rm field: 1 + 2^-24 is a tie */
  TEST_F32(28, NX, 0x3f800000, F32_ONE, 0x33800000, 0, fadd.s fa0, fa1, fa2, rne)
  TEST_F32(29, NX, 0x3f800000, F32_ONE, 0x33800000, 0, fadd.s fa0, fa1, fa2, rtz)
  TEST_F32(30, NX, 0x3f800000, F32_ONE, 0x33800000, 0, fadd.s fa0, fa1, fa2, rdn)
  TEST_F32(31, NX, 0x3f800001, F32_ONE, 0x33800000, 0, fadd.s fa0, fa1, fa2, rup)
  TEST_F32(32, NX, 0x3f800001, F32_ONE, 0x33800000, 0, fadd.s fa0, fa1, fa2, rmm)
  TEST_F32(33, NX, 0xbf800000, F32_MONE, 0xb3800000, 0, fadd.s fa0, fa1, fa2, rne)
  TEST_F32(34, NX, 0xbf800000, F32_MONE, 0xb3800000, 0, fadd.s fa0, fa1, fa2, rtz)
  TEST_F32(35, NX, 0xbf800001, F32_MONE, 0xb3800000, 0, fadd.s fa0, fa1, fa2, rdn)
  TEST_F32(36, NX, 0xbf800000, F32_MONE, 0xb3800000, 0, fadd.s fa0, fa1, fa2, rup)
  TEST_F32(37, NX, 0xbf800001, F32_MONE, 0xb3800000, 0, fadd.s fa0, fa1, fa2, rmm)
  TEST_F32(38, NX, 0x3eaaaaaa, F32_ONE, F32_THREE, 0, fdiv.s fa0, fa1, fa2, rtz)
  TEST_F32(39, NX, 0x3eaaaaab, F32_ONE, F32_THREE, 0, fdiv.s fa0, fa1, fa2, rup)
  TEST_F32(40, NX, 0x3fb504f4, F32_TWO, 0, 0, fsqrt.s fa0, fa1, rup)
  /* overflow rounds to MAX toward zero, to inf away */
  TEST_F32(41, OF | NX, F32_MAX, F32_MAX, F32_MAX, 0, fadd.s fa0, fa1, fa2, rtz)
  TEST_F32(42, OF | NX, 0xff7fffff, 0xff7fffff, 0xff7fffff, 0, fadd.s fa0, fa1, fa2, rup)
  TEST_F32(43, OF | NX, F32_NINF, 0xff7fffff, 0xff7fffff, 0, fadd.s fa0, fa1, fa2, rdn)
  /* x - x is -0 only when rounding down */
  TEST_F32(44, 0, 0x80000000, F32_ONE, F32_ONE, 0, fsub.s fa0, fa1, fa2, rdn)
  TEST_F32(45, 0, 0x00000000, F32_ONE, F32_ONE, 0, fsub.s fa0, fa1, fa2, rup)

  /* dynamic rounding mode from frm (fsrmi), restored to rne after */
  TEST_F32(46, NX, 0x3f800001, F32_ONE, 0x33800000, 0, fsrmi 3; fadd.s fa0, fa1, fa2; fsrmi 0)
  TEST_F32(47, NX, 0xbf800001, F32_MONE, 0xb3800000, 0, fsrmi 2; fadd.s fa0, fa1, fa2, dyn; fsrmi 0)
  TEST_F32(48, NX, 0x3f800001, F32_ONE, 0x33800000, 0, fsrmi 4; fadd.s fa0, fa1, fa2; fsrmi 0)
  TEST_F32(49, NX, 0x3eaaaaaa, F32_ONE, F32_THREE, 0, fsrmi 1; fdiv.s fa0, fa1, fa2; fsrmi 0)
  /* a static rm overrides frm */
  TEST_F32(50, NX, 0x3f800000, F32_ONE, 0x33800000, 0, fsrmi 3; fadd.s fa0, fa1, fa2, rne; fsrmi 0)

  /* fused multiply-add: one rounding */
  TEST_F32(51, 0, 0x40e00000, F32_TWO, F32_THREE, F32_ONE, fmadd.s fa0, fa1, fa2, fa3)
  TEST_F32(52, 0, 0x40a00000, F32_TWO, F32_THREE, F32_ONE, fmsub.s fa0, fa1, fa2, fa3)
  TEST_F32(53, 0, 0xc0a00000, F32_TWO, F32_THREE, F32_ONE, fnmsub.s fa0, fa1, fa2, fa3)
  TEST_F32(54, 0, 0xc0e00000, F32_TWO, F32_THREE, F32_ONE, fnmadd.s fa0, fa1, fa2, fa3)
  TEST_F32(55, 0, 0x28800000, 0x3f800001, 0x3f800001, 0xbf800002, fmadd.s fa0, fa1, fa2, fa3)
  /* inf * 0 + qNaN is invalid (RISC-V raises NV even with a quiet addend) */
  TEST_F32(56, NV, F32_QNAN, F32_PINF, F32_PZERO, F32_QNAN, fmadd.s fa0, fa1, fa2, fa3)
  TEST_F32(57, NV, F32_QNAN, F32_PINF, F32_ONE, F32_NINF, fmadd.s fa0, fa1, fa2, fa3)
  TEST_F32(58, 0, F32_QNAN, F32_ONE, F32_ONE, F32_QNAN_PAYLOAD, fmadd.s fa0, fa1, fa2, fa3)
  TEST_F32(59, NX, 0x3f800001, F32_ONE, F32_ONE, 0x33800000, fmadd.s fa0, fa1, fa2, fa3, rup)

  /* sign injection: bit operations, no flags, NaN bits kept */
  TEST_F32(60, 0, 0xbf800000, F32_ONE, F32_MONE, 0, fsgnj.s fa0, fa1, fa2)
  TEST_F32(61, 0, 0x3f800000, F32_ONE, F32_MONE, 0, fsgnjn.s fa0, fa1, fa2)
  TEST_F32(62, 0, 0x3f800000, F32_MONE, F32_MONE, 0, fsgnjx.s fa0, fa1, fa2)
  TEST_F32(63, 0, 0x7f800001, F32_SNAN, F32_ONE, 0, fsgnj.s fa0, fa1, fa2) /* sNaN, no NV */
  TEST_F32(64, 0, 0x7fc12345, F32_QNAN_PAYLOAD, F32_QNAN_PAYLOAD, 0, fsgnjn.s fa0, fa1, fa2)
  TEST_F32(65, 0, 0x3f800000, F32_MONE, 0, 0, fabs.s fa0, fa1)
  TEST_F32(66, 0, 0x80000000, F32_PZERO, 0, 0, fneg.s fa0, fa1)
  TEST_F32(67, 0, 0x40400000, F32_THREE, 0, 0, fmv.s fa0, fa1)

  /* fmin / fmax: a NaN operand loses; both NaN -> canonical; -0 < +0;
   * sNaN sets NV */
  TEST_F32(68, 0, F32_ONE, F32_ONE, F32_TWO, 0, fmin.s fa0, fa1, fa2)
  TEST_F32(69, 0, F32_TWO, F32_ONE, F32_TWO, 0, fmax.s fa0, fa1, fa2)
  TEST_F32(70, 0, F32_ONE, F32_QNAN_PAYLOAD, F32_ONE, 0, fmin.s fa0, fa1, fa2)
  TEST_F32(71, 0, F32_ONE, F32_ONE, F32_QNAN_PAYLOAD, 0, fmax.s fa0, fa1, fa2)
  TEST_F32(72, NV, F32_ONE, F32_SNAN, F32_ONE, 0, fmin.s fa0, fa1, fa2)
  TEST_F32(73, 0, F32_QNAN, F32_QNAN_PAYLOAD, F32_QNAN_PAYLOAD, 0, fmax.s fa0, fa1, fa2)
  TEST_F32(74, NV, F32_QNAN, F32_SNAN, F32_QNAN_PAYLOAD, 0, fmin.s fa0, fa1, fa2)
  TEST_F32(75, 0, F32_NZERO, F32_PZERO, F32_NZERO, 0, fmin.s fa0, fa1, fa2)
  TEST_F32(76, 0, F32_NZERO, F32_NZERO, F32_PZERO, 0, fmin.s fa0, fa1, fa2)
  TEST_F32(77, 0, F32_PZERO, F32_NZERO, F32_PZERO, 0, fmax.s fa0, fa1, fa2)
  TEST_F32(78, 0, F32_PZERO, F32_PZERO, F32_NZERO, 0, fmax.s fa0, fa1, fa2)
  TEST_F32(79, 0, F32_NINF, F32_NINF, F32_MAX, 0, fmin.s fa0, fa1, fa2)

  /* compares: feq is quiet (NV only for sNaN), flt/fle signal on any NaN */
  TEST_F32_INT(80, 0, 1, F32_ONE, F32_ONE, feq.s a0, fa1, fa2)
  TEST_F32_INT(81, 0, 1, F32_NZERO, F32_PZERO, feq.s a0, fa1, fa2)
  TEST_F32_INT(82, 0, 0, F32_QNAN, F32_QNAN, feq.s a0, fa1, fa2)
  TEST_F32_INT(83, NV, 0, F32_SNAN, F32_ONE, feq.s a0, fa1, fa2)
  TEST_F32_INT(84, 0, 1, F32_NINF, F32_PINF, flt.s a0, fa1, fa2)
  TEST_F32_INT(85, 0, 0, F32_NZERO, F32_PZERO, flt.s a0, fa1, fa2)
  TEST_F32_INT(86, NV, 0, F32_QNAN, F32_ONE, flt.s a0, fa1, fa2)
  TEST_F32_INT(87, 0, 1, F32_NZERO, F32_PZERO, fle.s a0, fa1, fa2)
  TEST_F32_INT(88, 0, 0, F32_TWO, F32_ONE, fle.s a0, fa1, fa2)
  TEST_F32_INT(89, NV, 0, F32_ONE, F32_QNAN, fle.s a0, fa1, fa2)
  TEST_F32_INT(90, 0, 1, F32_ONE, F32_TWO, fgt.s a0, fa2, fa1)

  /* fclass: one bit per class */
  TEST_F32_INT(91, 0, 0x001, F32_NINF, 0, fclass.s a0, fa1)
  TEST_F32_INT(92, 0, 0x002, F32_MONE, 0, fclass.s a0, fa1)
  TEST_F32_INT(93, 0, 0x004, 0x807fffff, 0, fclass.s a0, fa1)
  TEST_F32_INT(94, 0, 0x008, F32_NZERO, 0, fclass.s a0, fa1)
  TEST_F32_INT(95, 0, 0x010, F32_PZERO, 0, fclass.s a0, fa1)
  TEST_F32_INT(96, 0, 0x020, F32_MIN_SUB, 0, fclass.s a0, fa1)
  TEST_F32_INT(97, 0, 0x040, F32_MAX, 0, fclass.s a0, fa1)
  TEST_F32_INT(98, 0, 0x080, F32_PINF, 0, fclass.s a0, fa1)
  TEST_F32_INT(99, 0, 0x100, F32_SNAN, 0, fclass.s a0, fa1)
  TEST_F32_INT(100, 0, 0x200, F32_QNAN_PAYLOAD, 0, fclass.s a0, fa1)

  /* fcvt to integer: rounding modes, saturation, NV on out of range or
   * NaN, W results sign-extended */
  TEST_F32_INT(101, NX, 2, 0x40200000, 0, fcvt.w.s a0, fa1, rne) /* 2.5 */
  TEST_F32_INT(102, NX, 3, 0x40200000, 0, fcvt.w.s a0, fa1, rmm)
  TEST_F32_INT(103, NX, 3, 0x40200000, 0, fcvt.w.s a0, fa1, rup)
  TEST_F32_INT(104, NX, 2, 0x40200000, 0, fcvt.w.s a0, fa1, rdn)
  TEST_F32_INT(105, NX, 2, 0x40200000, 0, fcvt.w.s a0, fa1, rtz)
  TEST_F32_INT(106, NX, -2, 0xc0200000, 0, fcvt.w.s a0, fa1, rne) /* -2.5 */
  TEST_F32_INT(107, NX, -3, 0xc0200000, 0, fcvt.w.s a0, fa1, rmm)
  TEST_F32_INT(108, NX, -2, 0xc0200000, 0, fcvt.w.s a0, fa1, rup)
  TEST_F32_INT(109, NX, -3, 0xc0200000, 0, fcvt.w.s a0, fa1, rdn)
  TEST_F32_INT(110, NX, -2, 0xc0200000, 0, fcvt.w.s a0, fa1, rtz)
  TEST_F32_INT(111, NX, -4, 0xc0600000, 0, fsrmi 2; fcvt.w.s a0, fa1; fsrmi 0) /* -3.5 rdn */
  TEST_F32_INT(112, NV, 0x000000007fffffff, F32_QNAN, 0, fcvt.w.s a0, fa1, rtz)
  TEST_F32_INT(113, NV, 0x000000007fffffff, 0xffc00000, 0, fcvt.w.s a0, fa1, rtz) /* -NaN */
  TEST_F32_INT(114, NV, 0x000000007fffffff, F32_PINF, 0, fcvt.w.s a0, fa1, rtz)
  TEST_F32_INT(115, NV, 0xffffffff80000000, F32_NINF, 0, fcvt.w.s a0, fa1, rtz)
  TEST_F32_INT(116, NV, 0x000000007fffffff, 0x4f000000, 0, fcvt.w.s a0, fa1, rtz) /* 2^31 */
  TEST_F32_INT(117, 0, 0xffffffff80000000, 0xcf000000, 0, fcvt.w.s a0, fa1, rtz) /* -2^31 */
  TEST_F32_INT(118, NV, 0xffffffffffffffff, F32_QNAN, 0, fcvt.wu.s a0, fa1, rtz)
  TEST_F32_INT(119, NV, 0xffffffffffffffff, F32_PINF, 0, fcvt.wu.s a0, fa1, rtz)
  TEST_F32_INT(120, NV, 0x0000000000000000, F32_MONE, 0, fcvt.wu.s a0, fa1, rtz)
  TEST_F32_INT(121, NX, 0x0000000000000000, 0xbf000000, 0, fcvt.wu.s a0, fa1, rtz) /* -0.5 -> 0 */
  TEST_F32_INT(122, NV, 0x0000000000000000, 0xbf000000, 0, fcvt.wu.s a0, fa1, rdn) /* -0.5 -> -1 */
  TEST_F32_INT(123, 0, 0xffffffff80000000, 0x4f000000, 0, fcvt.wu.s a0, fa1, rtz) /* 2^31 sext */
  TEST_F32_INT(124, NV, 0x7fffffffffffffff, F32_QNAN, 0, fcvt.l.s a0, fa1, rtz)
  TEST_F32_INT(125, NV, 0x8000000000000000, F32_NINF, 0, fcvt.l.s a0, fa1, rtz)
  TEST_F32_INT(126, NV, 0x7fffffffffffffff, 0x5f000000, 0, fcvt.l.s a0, fa1, rtz) /* 2^63 */
  TEST_F32_INT(127, 0, 0x8000000000000000, 0xdf000000, 0, fcvt.l.s a0, fa1, rtz) /* -2^63 */
  TEST_F32_INT(128, 0, 0x0000000080000000, 0x4f000000, 0, fcvt.l.s a0, fa1, rtz)
  TEST_F32_INT(129, NV, 0xffffffffffffffff, F32_QNAN, 0, fcvt.lu.s a0, fa1, rtz)
  TEST_F32_INT(130, NV, 0x0000000000000000, F32_NINF, 0, fcvt.lu.s a0, fa1, rtz)
  TEST_F32_INT(131, 0, 0x8000000000000000, 0x5f000000, 0, fcvt.lu.s a0, fa1, rtz)
  TEST_F32_INT(132, NV, 0xffffffffffffffff, 0x5f800000, 0, fcvt.lu.s a0, fa1, rtz) /* 2^64 */
  TEST_F32_INT(133, 0, 0, F32_NZERO, 0, fcvt.lu.s a0, fa1, rtz)

  /* fcvt from integer: W forms read the low 32 bits of rs1 */
  TEST_INT_F32(134, 0, 0x40a00000, 0x100000005, fcvt.s.w fa0, a1)
  TEST_INT_F32(135, 0, 0xcf000000, 0x80000000, fcvt.s.w fa0, a1)
  TEST_INT_F32(136, NX, 0x4f000000, 0x7fffffff, fcvt.s.w fa0, a1)
  TEST_INT_F32(137, NX, 0x4effffff, 0x7fffffff, fcvt.s.w fa0, a1, rtz)
  TEST_INT_F32(138, NX, 0x4f800000, 0xffffffffffffffff, fcvt.s.wu fa0, a1)
  TEST_INT_F32(139, NX, 0x4f7fffff, 0xffffffff, fcvt.s.wu fa0, a1, rdn)
  TEST_INT_F32(140, 0, 0x00000000, 0, fcvt.s.w fa0, a1) /* +0, never -0 */
  TEST_INT_F32(141, 0, 0xdf000000, 0x8000000000000000, fcvt.s.l fa0, a1)
  TEST_INT_F32(142, NX, 0x5f800000, 0xffffffffffffffff, fcvt.s.lu fa0, a1)
  TEST_INT_F32(143, 0, 0xbf800000, 0xffffffffffffffff, fcvt.s.l fa0, a1)
  TEST_INT_F32(144, NX, 0x5effffff, 0x7fffffffffffffff, fcvt.s.l fa0, a1, rtz)

  /* moves: fmv.w.x boxes, fmv.x.w sign-extends bit 31, bits untouched */
  TEST_INT_F32(145, 0, 0x7f800001, 0x123456787f800001, fmv.w.x fa0, a1) /* sNaN kept */
  TEST_F32_INT(146, 0, 0xffffffff80000000, 0x80000000, 0, fmv.x.w a0, fa1)
  TEST_F32_INT(147, 0, 0x000000007fc12345, 0x7fc12345, 0, fmv.x.w a0, fa1)

  /* loads and stores: flw boxes, fsw writes 32 bits */
  TEST_CASE(148, a0, 0xffffffffbf800000, la a1, fdat; flw fa0, 0(a1); fmv.x.d a0, fa0)
  TEST_CASE(149, a0, 0xffffffff7f800001, la a1, fdat; flw fa0, 4(a1); fmv.x.d a0, fa0)
  TEST_CASE(150, a0, 0x7f8000013f800000, la a1, fdat; li a2, F32_ONE; fmv.w.x fa1, a2; fsw fa1, 0(a1); ld a0, 0(a1))
  TEST_CASE(151, a0, 0x7f80000140400000, la a1, fdat; li a2, F32_THREE; fmv.w.x fa1, a2; fsw fa1, 0(a1); ld a0, 0(a1))

  /* NaN boxing: an input whose upper 32 bits are not all ones is the
   * canonical NaN to every single-precision operation... */
  TEST_CASE(152, a0, 0xffffffff7fc00000, li a1, 0x000000003f800000; fmv.d.x fa1, a1; fadd.s fa0, fa1, fa1; fmv.x.d a0, fa0)
  TEST_CASE(153, a0, 0xffffffffffc00000, li a1, 0x000000003f800000; fmv.d.x fa1, a1; li a2, F32_MONE; fmv.w.x fa2, a2; fsgnj.s fa0, fa1, fa2; fmv.x.d a0, fa0)
  TEST_CASE(154, a0, 0xffffffff7fc00000, li a1, 0xfffffffe3f800000; fmv.d.x fa1, a1; fmv.s fa0, fa1; fmv.x.d a0, fa0)
  TEST_CASE(155, a0, 0x200, li a1, 0x000000003f800000; fmv.d.x fa1, a1; fclass.s a0, fa1)
  TEST_CASE(156, a0, F32_TWO | 0xffffffff00000000, li a1, 0x000000003f800000; fmv.d.x fa1, a1; li a2, F32_TWO; fmv.w.x fa2, a2; fmax.s fa0, fa1, fa2; fmv.x.d a0, fa0)
  TEST_CASE(157, a0, 0, li a1, 0x3f800000; fmv.d.x fa1, a1; feq.s a0, fa1, fa1)
  /* ...but transfers out (fmv.x.w, fsw) take the low 32 bits as they are */
  TEST_CASE(158, a0, 0x000000003f800000, li a1, 0x000000003f800000; fmv.d.x fa1, a1; fmv.x.w a0, fa1)
  TEST_CASE(159, a0, 0x3f800000, li a1, 0x123456783f800000; fmv.d.x fa1, a1; la a2, fdat; fsw fa1, 8(a2); lwu a0, 8(a2))

  /* fflags accrue until cleared */
  TEST_CASE(160, t5, NV | DZ | NX, fsflags x0; li a1, F32_ONE; fmv.w.x fa1, a1; fmv.w.x fa2, x0; fdiv.s fa0, fa1, fa2; fdiv.s fa0, fa2, fa2; li a2, F32_THREE; fmv.w.x fa2, a2; fdiv.s fa0, fa1, fa2; frflags t5)

RVTEST_END

RVTEST_DATA_BEGIN
fdat: .word 0xbf800000, 0x7f800001, 0, 0
RVTEST_DATA_END
