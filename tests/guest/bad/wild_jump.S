/* A jump to an address no Linux process has mapped (0x1000 is below
 * vm.mmap_min_addr). Expected: SIGSEGV (instruction fetch fault), status
 * 139. */
  .text
  .globl _start
_start:
  li t0, 0x1000
  jr t0
  li a0, 1 /* not reached */
  li a7, 94
  ecall
