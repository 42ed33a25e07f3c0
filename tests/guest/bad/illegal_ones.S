/* 0xffffffff: a reserved encoding (the >= 192-bit instruction-length
 * prefix). Expected: SIGILL, status 132. */
  .text
  .globl _start
_start:
  li a0, 1
  .word 0xffffffff
  li a7, 94 /* not reached */
  ecall
