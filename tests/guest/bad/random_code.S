/* Random bytes as code: 64 pseudo-random words (xorshift32, seed 14:
 * x ^= x << 13; x ^= x >> 17; x ^= x << 5, one word per step) jumped into
 * with every register (sp included) pointing into the middle of a 64 KiB
 * zeroed .bss scratch area, so that the run does not depend on where the
 * loader put the stack. Under qemu-riscv64 7.2 the blob executes 16
 * instructions (compressed and 32-bit ones, a 32-bit one at a 2-byte
 * aligned address, a misaligned ld, stores into the scratch area, an
 * fnmsub.d with a static rounding mode) and then hits 0xc9e8e39b (OP-IMM-32
 * with the reserved funct3 6): SIGILL, status 132. Two zero halfwords
 * after the blob stop a run that falls off its end. */
  .text
  .globl _start
_start:
  .option norvc
  lla x1, scratch + 32768
  mv x2, x1
  mv x3, x1
  mv x4, x1
  mv x5, x1
  mv x6, x1
  mv x7, x1
  mv x8, x1
  mv x9, x1
  mv x10, x1
  mv x11, x1
  mv x12, x1
  mv x13, x1
  mv x14, x1
  mv x15, x1
  mv x16, x1
  mv x17, x1
  mv x18, x1
  mv x19, x1
  mv x20, x1
  mv x21, x1
  mv x22, x1
  mv x23, x1
  mv x24, x1
  mv x25, x1
  mv x26, x1
  mv x27, x1
  mv x28, x1
  mv x29, x1
  mv x30, x1
  mv x31, x1
  j blob
  .balign 4
blob:
  .word 0x0039c1ce, 0x3803a40e, 0xdcca0baf, 0x2a4b0b70
  .word 0x2f80f2a2, 0x0b41e348, 0xd237e35c, 0xe5d2fa32
  .word 0xe8080878, 0xc9e8e39b, 0x66e6c396, 0x6c1fc75c
  .word 0x0a75a9e6, 0x566ffe02, 0x9c52b075, 0x81d2de3b
  .word 0x98afb511, 0xafb9e0f7, 0xe74e6da4, 0x75a5e3f9
  .word 0xf28e4594, 0x7da7c9ca, 0x1747bb25, 0xe44e0db4
  .word 0x9aeb7648, 0x70638779, 0x111840df, 0x3976279e
  .word 0x4d36b2dc, 0xf6c2922a, 0x34778d49, 0x7e073b66
  .word 0xb41d4db3, 0xa8cf4fa6, 0x664e485b, 0x47ea80d9
  .word 0xe9c4cf01, 0x74be3573, 0xf011831b, 0xce22e762
  .word 0xcb132ea5, 0x763ce106, 0xa996d508, 0x15ca7ef3
  .word 0x18924cd9, 0x7021cffd, 0x72172952, 0x70997b4c
  .word 0xa1ea4234, 0xdc3a6aa2, 0xbca220b5, 0xee2b610f
  .word 0xc352c14a, 0xf4025217, 0x765d4bd7, 0x3bdf4cc4
  .word 0x9ab31907, 0xcbe33c0e, 0x2037eddf, 0x6c000039
  .word 0xece5d17a, 0x8f9df9ff, 0x24e2346e, 0x2f976e79
  .half 0
  .half 0

  .bss
  .balign 4096
scratch:
  .skip 65536
