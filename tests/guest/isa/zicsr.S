/* Zicsr from user mode: fcsr = frm[7:5] | fflags[4:0] and its two views
 * (read/write/set/clear, register and immediate forms, the old value
 * returned), the upper bits of fcsr reading as zero, FP operations
 * accruing into fflags; and the counters: rdcycle, rdtime and rdinstret
 * never go backwards, and cycle and instret advance over a loop of 1000
 * iterations. */
#define TEST_EXT "zicsr"
#include "test_macros.h"

RVTEST_BEGIN

  /* fcsr and its fields */
  TEST_CASE(1, a0, 0, csrw fcsr, x0; csrr a0, fcsr)
  TEST_CASE(2, a0, 0xff, li a1, 0xff; csrw fcsr, a1; csrr a0, fcsr)
  TEST_CASE(3, a0, 7, csrr a0, frm)
  TEST_CASE(4, a0, 0x1f, csrr a0, fflags)
  TEST_CASE(5, a0, 0xff, li a1, 0xffffffffffffffff; csrw fcsr, a1; csrr a0, fcsr) /* bits 8+ read 0 */
  TEST_CASE(6, a0, 0x00, csrw fcsr, x0; li a1, 0x1ff; csrw fflags, a1; csrr a0, frm) /* fflags keeps 5 bits */
  TEST_CASE(7, a0, 0x1f, csrr a0, fcsr)
  TEST_CASE(8, a0, 0x7f, li a1, 0xfb; csrw frm, a1; csrr a0, fcsr) /* frm keeps 3 bits: 3 */
  TEST_CASE(9, a0, 3, csrr a0, frm)
  /* csrrw returns the old value */
  TEST_CASE(10, a0, 0x7f, li a1, 0x41; csrrw a0, fcsr, a1)
  TEST_CASE(11, a0, 0x41, csrr a0, fcsr)
  TEST_CASE(12, a0, 0x01, li a1, 0x1e; csrrw a0, fflags, a1)
  TEST_CASE(13, a0, 0x5e, csrr a0, fcsr)
  TEST_CASE(14, a0, 0x02, li a1, 4; csrrw a0, frm, a1)
  TEST_CASE(15, a0, 0x9e, csrr a0, fcsr)
  /* csrrs / csrrc: old value, then set / clear the given bits */
  TEST_CASE(16, a0, 0x9e, li a1, 0x01; csrrs a0, fcsr, a1)
  TEST_CASE(17, a0, 0x9f, csrr a0, fcsr)
  TEST_CASE(18, a0, 0x9f, li a1, 0x81; csrrc a0, fcsr, a1)
  TEST_CASE(19, a0, 0x1e, csrr a0, fcsr)
  TEST_CASE(20, a0, 0x1e, csrrs a0, fcsr, x0) /* rs1 = x0: a pure read */
  TEST_CASE(21, a0, 0x1e, csrrc a0, fcsr, x0)
  TEST_CASE(22, a0, 0x1e, csrr a0, fcsr)
  /* immediate forms (5-bit zero-extended immediate) */
  TEST_CASE(23, a0, 0x1e, csrrwi a0, fcsr, 0x1f)
  TEST_CASE(24, a0, 0x1f, csrrci a0, fflags, 0x10)
  TEST_CASE(25, a0, 0x0f, csrrsi a0, fflags, 0x10)
  TEST_CASE(26, a0, 0x1f, csrr a0, fcsr)
  TEST_CASE(27, a0, 0x1f, csrrwi a0, fflags, 0)
  TEST_CASE(28, a0, 0x00, csrrsi a0, frm, 2)
  TEST_CASE(29, a0, 0x40, csrr a0, fcsr)
  TEST_CASE(30, a0, 0x02, csrrci a0, frm, 2)
  TEST_CASE(31, a0, 0x00, csrr a0, fcsr)
  /* the pseudo-instructions */
  TEST_CASE(32, a0, 0x00, li a1, 3; fsrm a0, a1)
  TEST_CASE(33, a0, 0x03, frrm a0)
  TEST_CASE(34, a0, 0x60, frcsr a0)
  TEST_CASE(35, a0, 0x60, li a1, 0x15; fscsr a0, a1)
  TEST_CASE(36, a0, 0x15, frflags a0)
  TEST_CASE(37, a0, 0x15, fsflagsi a0, 0x0a)
  TEST_CASE(38, a0, 0x0a, frflags a0)
  TEST_CASE(39, a0, 0x00, fsrmi a0, 1)
  TEST_CASE(40, a0, 0x2a, frcsr a0)
  TEST_CASE(41, a0, 0x2a, fscsr a0, x0)
  /* FP operations OR their exceptions into fflags (accrued) */
  TEST_CASE(42, a0, FFLAGS_NX, li a1, 1; fcvt.s.w fa1, a1; li a1, 3; fcvt.s.w fa2, a1; fdiv.s fa0, fa1, fa2; frflags a0)
  TEST_CASE(43, a0, FFLAGS_NX | FFLAGS_DZ, fmv.w.x fa2, x0; fdiv.s fa0, fa1, fa2; frflags a0)
  TEST_CASE(44, a0, FFLAGS_NX | FFLAGS_DZ, fadd.s fa0, fa1, fa1; frflags a0) /* exact: no change */
  TEST_CASE(45, a0, 0x00, fsflags x0; frcsr a0)
  /* the rounding mode in frm is used by dyn operations (rup: 1/3 up) */
  TEST_CASE(46, a0, 0x3eaaaaab, fsrmi 1; fdiv.s fa0, fa1, fa2; fsrmi 0; li a1, 3; fcvt.s.w fa2, a1; fsrmi 3; fdiv.s fa0, fa1, fa2; fsrmi 0; fmv.x.w a0, fa0)
  TEST_CASE(47, a0, 0x3eaaaaaa, fsrmi 1; fdiv.s fa0, fa1, fa2; fsrmi 0; fmv.x.w a0, fa0)

  /* counters: monotonic; cycle and instret advance over real work */
  TEST_CASE(48, a0, 1, rdcycle a1; rdcycle a2; sltu a0, a2, a1; xori a0, a0, 1)
  TEST_CASE(49, a0, 1, rdtime a1; rdtime a2; sltu a0, a2, a1; xori a0, a0, 1)
  TEST_CASE(50, a0, 1, rdinstret a1; rdinstret a2; sltu a0, a2, a1; xori a0, a0, 1)
  TEST_CASE(51, a0, 1, rdinstret a1; li a3, 1000; 1: addi a3, a3, -1; bnez a3, 1b; rdinstret a2; sltu a0, a1, a2)
  TEST_CASE(52, a0, 1, rdcycle a1; li a3, 1000; 1: addi a3, a3, -1; bnez a3, 1b; rdcycle a2; sltu a0, a1, a2)
  TEST_CASE(53, a0, 1, rdtime a1; li a3, 1000; 1: addi a3, a3, -1; bnez a3, 1b; rdtime a2; sltu a0, a2, a1; xori a0, a0, 1)
  /* the CSR names and numbers agree (cycle 0xc00, time 0xc01, instret 0xc02) */
  TEST_CASE(54, a0, 1, csrr a1, 0xc01; rdtime a2; sltu a0, a2, a1; xori a0, a0, 1)
  TEST_CASE(55, a0, 1, csrrs a1, cycle, x0; rdcycle a2; sltu a0, a2, a1; xori a0, a0, 1)

RVTEST_END
