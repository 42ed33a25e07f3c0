/* Never ends: for the worker's instruction-limit and timeout tests only
 * (under qemu-riscv64 it runs forever). A tight backward jump, after a
 * short loop that writes to memory, so it is neither a pure one-
 * instruction loop nor free of side effects. */
  .text
  .globl _start
_start:
  la t0, counter
1:
  ld t1, 0(t0)
  addi t1, t1, 1
  sd t1, 0(t0)
  j 1b
  .bss
  .balign 8
counter:
  .skip 8
