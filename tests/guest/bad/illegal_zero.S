/* An all-zero halfword: the defined-illegal instruction (0x0000 is
 * reserved as illegal in RVC). Expected: SIGILL, status 132. */
  .text
  .globl _start
_start:
  li a0, 1
  .half 0x0000
  li a7, 94 /* not reached */
  ecall
