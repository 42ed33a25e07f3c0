/* frm = 5 is a reserved rounding mode: writing it is allowed, but an FP
 * instruction with the dynamic rounding mode then is an illegal
 * instruction. Expected: SIGILL, status 132. */
  .text
  .globl _start
_start:
  fsrmi 5
  frrm a0 /* reads back 5 */
  fadd.d fa0, fa1, fa2, dyn
  li a7, 94 /* not reached */
  ecall
