/* An AMO on a misaligned address: Linux does not emulate misaligned
 * atomics, the process gets SIGBUS. Expected: status 135. */
  .text
  .globl _start
_start:
  la t0, word
  addi t0, t0, 2
  li t1, 1
  amoadd.w a0, t1, (t0)
  li a0, 1 /* not reached */
  li a7, 94
  ecall
  .data
  .balign 8
word:
  .dword 0
