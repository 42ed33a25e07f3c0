/* ebreak in user mode: the kernel sends SIGTRAP. Expected: status 133. */
  .text
  .globl _start
_start:
  li a0, 1
  ebreak
  li a7, 94 /* not reached */
  ecall
