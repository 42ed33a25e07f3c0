/* RV64C: the compressed instructions, written as explicit c.* mnemonics
 * (assembled with .option rvc; the checking code around them may be
 * compressed too). Link values of c.jalr are pc + 2; a 32-bit instruction
 * at a 2-byte aligned address, and one that straddles a page boundary,
 * must execute as one instruction. */
#define TEST_EXT "rv64c"
#define RVTEST_RVC_MODE .option rvc
#include "test_macros.h"

RVTEST_BEGIN

  /* constants */
  TEST_CASE(1, a0, 0xffffffffffffffe0, c.li a0, -32)
  TEST_CASE(2, a0, 31, c.li a0, 31)
  TEST_CASE(3, a0, 0x1000, c.lui a0, 1)
  TEST_CASE(4, a0, 0x1f000, c.lui a0, 0x1f)
  TEST_CASE(5, a0, 0xfffffffffffff000, c.lui a0, 0xfffff)
  TEST_CASE(6, a0, 0xfffffffffffe0000, c.lui a0, 0xfffe0)

  /* immediates */
  TEST_CASE(7, a0, 0xffffffffffffffff, li a0, 0; c.addi a0, -1)
  TEST_CASE(8, a0, 0x8000000000000000, li a0, 0x7fffffffffffffe1; c.addi a0, 31)
  TEST_CASE(9, a0, 0xffffffff80000000, li a0, 0x7fffffff; c.addiw a0, 1)
  TEST_CASE(10, a0, 0xffffffff80000000, li a0, 0x1280000000; c.addiw a0, 0) /* sext.w */
  TEST_CASE(11, a0, 0x000000007fffffff, li a0, 0x80000000; c.addiw a0, -1)
  TEST_CASE(12, a0, 0x8000000000000000, li a0, 1; c.slli a0, 63)
  TEST_CASE(13, a0, 0x0000000000000001, li a0, 0x8000000000000000; c.srli a0, 63)
  TEST_CASE(14, a0, 0x4000000000000000, li a0, 0x8000000000000000; c.srli a0, 1)
  TEST_CASE(15, a0, 0xffffffffffffffff, li a0, 0x8000000000000000; c.srai a0, 63)
  TEST_CASE(16, a0, 0xffffffff80000000, li a0, 0x8000000000000000; c.srai a0, 32)
  TEST_CASE(17, a0, 0x00000000000000ff, li a0, 0xff; c.andi a0, -1)
  TEST_CASE(18, a0, 0x0000000000000000, li a0, 0xff; c.andi a0, 0)
  TEST_CASE(19, a0, 0x1234567812345660, li a0, 0x1234567812345678; c.andi a0, -32)
  TEST_CASE(20, a0, 0x000000000000001f, li a0, -1; c.andi a0, 31)

  /* register-register */
  TEST_CASE(21, a0, 0x1234, li a1, 0x1234; c.mv a0, a1)
  TEST_CASE(22, a0, 0x0000000000000000, li a0, 1; li a1, -1; c.add a0, a1)
  TEST_CASE(23, a0, 0x8000000000000000, li a0, 0x7fffffffffffffff; li a1, 1; c.add a0, a1)
  TEST_CASE(24, a0, 0xffffffffffffffff, li a0, 0; li a1, 1; c.sub a0, a1)
  TEST_CASE(25, a0, 0x0ff00ff0, li a0, 0x0f0f0f0f; li a1, 0x00ff00ff; c.xor a0, a1; li a1, 0x0ff00ff0; c.and a0, a1)
  TEST_CASE(26, a0, 0x0fff0fff, li a0, 0x0f0f0f0f; li a1, 0x00ff00ff; c.or a0, a1)
  TEST_CASE(27, a0, 0xffffffff80000000, li a0, 0x7fffffff; li a1, 1; c.addw a0, a1)
  TEST_CASE(28, a0, 0x0000000000000003, li a0, 0x1200000001; li a1, 0x3400000002; c.addw a0, a1)
  TEST_CASE(29, a0, 0x000000007fffffff, li a0, 0x80000000; li a1, 1; c.subw a0, a1)
  TEST_CASE(30, a0, 0xffffffffffffffff, li a0, 0; li a1, 1; c.subw a0, a1)
  TEST_CASE(31, s1, 0x55, li s0, 0x50; li s1, 5; c.add s1, s0) /* s0/s1 are in the C set */

  /* loads and stores through a register (x8-x15) */
  TEST_CASE(32, a0, 0xffffffff80000000, la a1, cdat; c.lw a0, 0(a1))
  TEST_CASE(33, a0, 0x000000007fffffff, la a1, cdat; c.lw a0, 4(a1))
  TEST_CASE(34, a0, 0x0123456789abcdef, la a1, cdat; c.ld a0, 8(a1))
  TEST_CASE(35, a0, 0x0000000587654321, la a1, cdat; li a2, 0x1187654321; c.sw a2, 16(a1); li a2, 5; c.sw a2, 20(a1); ld a0, 16(a1))
  TEST_CASE(36, a0, 0xfedcba9876543210, la a1, cdat; li a2, 0xfedcba9876543210; c.sd a2, 24(a1); ld a0, 24(a1))
  TEST_CASE(37, a0, 0x400921fb54442d18, la a1, cdat; c.fld fa0, 32(a1); c.fsd fa0, 40(a1); ld a0, 40(a1))
  /* loads and stores relative to sp */
  TEST_CASE(38, a0, 0, mv a5, sp; c.addi16sp sp, -64; sub a0, a5, sp; addi a0, a0, -64)
  TEST_CASE(39, a0, 0xffffffff87654321, li a1, 0x87654321; c.swsp a1, 12(sp); c.lwsp a0, 12(sp))
  TEST_CASE(40, a0, 0x00000000deadbeef, li a1, 0x00000000deadbeef; c.sdsp a1, 16(sp); c.ldsp a0, 16(sp))
  TEST_CASE(41, a0, 0x4000000000000000, li a1, 0x4000000000000000; fmv.d.x fa1, a1; c.fsdsp fa1, 24(sp); c.fldsp fa0, 24(sp); fmv.x.d a0, fa0)
  TEST_CASE(42, a0, 16, c.addi4spn a0, sp, 16; sub a0, a0, sp)
  TEST_CASE(43, a0, 1020, c.addi4spn a0, sp, 1020; sub a0, a0, sp)
  TEST_CASE(44, a0, 64, mv a5, sp; c.addi16sp sp, 64; sub a0, sp, a5)

  /* control transfer */
  TEST_CASE(45, a0, 1, li a0, 0; c.j 1f; c.li a0, 2; 1: c.addi a0, 1)
  TEST_CASE(46, a0, 5, li a0, 0; c.j 2f; 1: c.addi a0, 1; c.j 3f; 2: c.addi a0, 4; c.j 1b; 3: c.nop)
  TEST_CASE(47, a0, 0, la t0, 1f; la a1, 2f; c.jalr t0; 2: j fail; 1: sub a0, ra, a1) /* link = pc+2 */
  TEST_CASE(48, a0, 7, la t0, 1f; li a0, 0; c.jr t0; c.li a0, 9; 1: c.addi a0, 7)
  TEST_CASE(49, a0, 0, li a0, 0; c.beqz a0, 1f; j fail; 1: c.bnez a0, fail)
  TEST_CASE(50, a0, 3, li a0, 3; c.beqz a0, fail; c.bnez a0, 1f; j fail; 1: c.nop)
  TEST_CASE(51, a0, 0x8000000000000000, li a0, 0x8000000000000000; c.bnez a0, 1f; j fail; 1: c.nop)
  TEST_CASE(52, a0, 10, li a0, 0; li a1, 4; 1: c.addi a0, 1; c.addi a1, -1; c.bnez a1, 1b; c.addi a0, 6) /* loop */

  /* a 32-bit instruction at pc % 4 == 2 */
  TEST_CASE(53, a0, 0x345, .balign 4; c.nop; .option push; .option norvc; addi a0, x0, 0x345; .option pop; c.nop)
  /* a 32-bit instruction straddling a page boundary (2 bytes each side),
   * then a compressed one and a jump back */
  TEST_CASE(54, a0, 0x4d2, li a0, 0; j page_straddle; page_straddle_back: c.nop)

RVTEST_END

  /* Placed after the pass/fail code: a page-aligned block whose last
   * 6 bytes hold c.nop, c.nop, and the first half of an addi. */
  .balign 4096
  .skip 4096 - 6
page_straddle:
  c.nop
  c.nop
  .option push
  .option norvc
  addi a0, a0, 0x4d2 /* bytes 4094..4097 */
  .option pop
  c.nop
  j page_straddle_back

RVTEST_DATA_BEGIN
cdat: .word 0x80000000, 0x7fffffff
  .dword 0x0123456789abcdef, 0, 0, 0x400921fb54442d18, 0
RVTEST_DATA_END
