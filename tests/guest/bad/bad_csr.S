/* Reading a machine-mode CSR (mstatus) from user mode is an illegal
 * instruction. Expected: SIGILL, status 132. */
  .text
  .globl _start
_start:
  csrr a0, mstatus
  li a7, 94 /* not reached */
  ecall
