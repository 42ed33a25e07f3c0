/* A store to a read-only page (.rodata lives in the read-execute
 * segment). Expected: SIGSEGV, status 139. */
  .section .rodata
  .balign 8
constant:
  .dword 0x1234
  .text
  .globl _start
_start:
  la t0, constant
  ld t1, 0(t0) /* reading is fine */
  sd t1, 0(t0)
  li a0, 1 /* not reached */
  li a7, 94
  ecall
