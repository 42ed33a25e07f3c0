/* RV64I: every base instruction with edge operands (0, -1, INT64_MIN/MAX,
 * shift amounts 0/31/32/63, sign extension of the W forms and of loads,
 * branches taken and not taken both ways, jal/jalr link values, writes to
 * x0 ignored). Expected values from the RISC-V unprivileged spec. */
#define TEST_EXT "rv64i"
#include "test_macros.h"

RVTEST_BEGIN

  /* add / addi / sub */
  TEST_RR_OP(1, add, 0x0000000000000003, 1, 2)
  TEST_RR_OP(2, add, 0xffffffffffffffff, 0, -1)
  TEST_RR_OP(3, add, 0x8000000000000000, 0x7fffffffffffffff, 1)
  TEST_RR_OP(4, add, 0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_RR_OP(5, add, 0x0000000000000000, 0x8000000000000000, 0x8000000000000000)
  TEST_RR_SRC1_EQ_DEST(6, add, 24, 13, 11)
  TEST_RR_SRC2_EQ_DEST(7, add, 25, 14, 11)
  TEST_RR_SRC12_EQ_DEST(8, add, 26, 13)
  TEST_RR_ZEROSRC1(9, add, 15, 15)
  TEST_RR_ZERODEST(10, add, 16, 30)
  TEST_IMM_OP(11, addi, 0x0000000000000800, 0x1, 0x7ff)
  TEST_IMM_OP(12, addi, 0xfffffffffffff800, 0x0, -2048)
  TEST_IMM_OP(13, addi, 0x7fffffffffffffff, 0x8000000000000000, -1)
  TEST_IMM_OP(14, addi, 0x8000000000000000, 0x7fffffffffffffff, 1)
  TEST_IMM_SRC1_EQ_DEST(15, addi, 24, 13, 11)
  TEST_RR_OP(16, sub, 0xffffffffffffffff, 0, 1)
  TEST_RR_OP(17, sub, 0x7fffffffffffffff, 0x8000000000000000, 1)
  TEST_RR_OP(18, sub, 0x8000000000000000, 0x8000000000000000, 0)
  TEST_RR_OP(19, sub, 0x8000000000000001, 0, 0x7fffffffffffffff)
  TEST_RR_SRC12_EQ_DEST(20, sub, 0, 0x123456789)

  /* addw / addiw / subw: 32-bit result, sign-extended; upper input bits
   * ignored */
  TEST_RR_OP(21, addw, 0xffffffff80000000, 0x7fffffff, 1)
  TEST_RR_OP(22, addw, 0x0000000000000000, 0xffffffff, 1)
  TEST_RR_OP(23, addw, 0x0000000000000003, 0x1234567800000001, 0xabcdef0000000002)
  TEST_RR_OP(24, addw, 0xffffffffffffffff, 0x00000000ffffffff, 0)
  TEST_IMM_OP(25, addiw, 0xffffffff80000000, 0x7fffffff, 1)
  TEST_IMM_OP(26, addiw, 0x0000000000000005, 0x7777777700000005, 0)
  TEST_IMM_OP(27, addiw, 0xffffffff80000000, 0x80000000, 0) /* sext.w */
  TEST_IMM_OP(28, addiw, 0x000000007ffff800, 0x80000000, -2048)
  TEST_RR_OP(29, subw, 0x000000007fffffff, 0x80000000, 1)
  TEST_RR_OP(30, subw, 0xffffffffffffffff, 0, 1)
  TEST_RR_OP(31, subw, 0x0000000000000000, 0x100000000, 0x200000000)

  /* logic */
  TEST_RR_OP(32, and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR_OP(33, or, 0xffffffffff0fff0f, 0xffffffffff00ff00, 0x0f0f0f0f)
  TEST_RR_OP(34, xor, 0xfffffffff00ff00f, 0xffffffffff00ff00, 0x0f0f0f0f)
  TEST_IMM_OP(35, andi, 0xffffffffff00ff00, 0xffffffffff00ff00, -1)
  TEST_IMM_OP(36, andi, 0x0000000000000700, 0xffffffffff00ff00, 0x70f)
  TEST_IMM_OP(37, ori, 0xffffffffffffff0f, 0x00ff00ff00ff0000, -241) /* imm sign-extends */
  TEST_IMM_OP(38, xori, 0xff00ff00ff00ff00, 0x00ff00ff00ff00ff, -1) /* not */
  TEST_IMM_OP(39, xori, 0x00ff00ff00ff070f, 0x00ff00ff00ff00f0, 0x7ff)

  /* slt / sltu / slti / sltiu */
  TEST_RR_OP(40, slt, 1, 0x8000000000000000, 0)
  TEST_RR_OP(41, slt, 0, 0x7fffffffffffffff, 0x8000000000000000)
  TEST_RR_OP(42, slt, 1, -1, 0)
  TEST_RR_OP(43, slt, 0, 5, 5)
  TEST_RR_OP(44, sltu, 0, 0x8000000000000000, 0)
  TEST_RR_OP(45, sltu, 1, 0, -1)
  TEST_RR_OP(46, sltu, 0, -1, -1)
  TEST_RR_ZEROSRC1(47, sltu, 1, 7) /* snez */
  TEST_IMM_OP(48, slti, 1, -1, 0)
  TEST_IMM_OP(49, slti, 0, 0x7fffffffffffffff, -2048)
  TEST_IMM_OP(50, slti, 1, 0x8000000000000000, -2048)
  TEST_IMM_OP(51, sltiu, 1, 0, -1) /* imm sign-extends, then unsigned */
  TEST_IMM_OP(52, sltiu, 0, 0xffffffffffffffff, -1)
  TEST_IMM_OP(53, sltiu, 1, 0, 1) /* seqz */
  TEST_IMM_OP(54, sltiu, 0, 5, 1)

  /* shifts: amounts use the low 6 bits (5 for W forms) */
  TEST_RR_OP(55, sll, 0x0000000000000001, 1, 0)
  TEST_RR_OP(56, sll, 0x8000000000000000, 1, 63)
  TEST_RR_OP(57, sll, 0x0000000000000001, 1, 64)
  TEST_RR_OP(58, sll, 0x0000000100000000, 1, 0xffffffffffffffe0) /* 32 */
  TEST_RR_OP(59, srl, 0x0000000000000001, 0x8000000000000000, 63)
  TEST_RR_OP(60, srl, 0x8000000000000000, 0x8000000000000000, 0)
  TEST_RR_OP(61, srl, 0x00000000ffffffff, 0xffffffffffffffff, 32)
  TEST_RR_OP(62, sra, 0xffffffffffffffff, 0x8000000000000000, 63)
  TEST_RR_OP(63, sra, 0xffffffff80000000, 0x8000000000000000, 32)
  TEST_RR_OP(64, sra, 0x3fffffffffffffff, 0x7fffffffffffffff, 65)
  TEST_IMM_OP(65, slli, 0x8000000000000000, 1, 63)
  TEST_IMM_OP(66, slli, 0x0123456789abcdef, 0x0123456789abcdef, 0)
  TEST_IMM_OP(67, srli, 0x0000000000000001, 0xffffffffffffffff, 63)
  TEST_IMM_OP(68, srli, 0x00000000ffffffff, 0xffffffff80000000, 32)
  TEST_IMM_OP(69, srai, 0xffffffffffffffff, 0x8000000000000000, 63)
  TEST_IMM_OP(70, srai, 0x0000000000000000, 0x7fffffffffffffff, 63)
  TEST_IMM_OP(71, srai, 0xfffffffff8000000, 0x8000000000000000, 36)
  TEST_RR_OP(72, sllw, 0xffffffff80000000, 1, 31)
  TEST_RR_OP(73, sllw, 0x0000000000000002, 1, 33)
  TEST_RR_OP(74, sllw, 0x0000000000000000, 0x100000000, 0)
  TEST_RR_OP(75, srlw, 0x0000000000000001, 0x80000000, 31)
  TEST_RR_OP(76, srlw, 0xffffffff80000000, 0xffffffff80000000, 0) /* sext */
  TEST_RR_OP(77, srlw, 0x000000007fffffff, 0xffffffffffffffff, 1)
  TEST_RR_OP(78, srlw, 0x000000007fffffff, 0xffffffffffffffff, 33)
  TEST_RR_OP(79, sraw, 0xffffffffffffffff, 0x80000000, 31)
  TEST_RR_OP(80, sraw, 0xffffffffc0000000, 0x0000000080000000, 1)
  TEST_RR_OP(81, sraw, 0x0000000000000001, 0xffffffff00000002, 1)
  TEST_IMM_OP(82, slliw, 0xffffffff80000000, 1, 31)
  TEST_IMM_OP(83, slliw, 0x0000000000000000, 0x100000000, 0)
  TEST_IMM_OP(84, slliw, 0xffffffffabcdef00, 0x12345678abcdef, 8)
  TEST_IMM_OP(85, srliw, 0xffffffff80000000, 0x80000000, 0)
  TEST_IMM_OP(86, srliw, 0x0000000000000001, 0xffffffff80000000, 31)
  TEST_IMM_OP(87, srliw, 0x0000000000ffffff, 0x00000000ffffffff, 8)
  TEST_IMM_OP(88, sraiw, 0xffffffffffffffff, 0x80000000, 31)
  TEST_IMM_OP(89, sraiw, 0x0000000000000000, 0xffffffff7fffffff, 31)
  TEST_IMM_OP(90, sraiw, 0xfffffffff8000000, 0x80000000, 4)

  /* lui / auipc */
  TEST_CASE(91, a0, 0x0000000000000000, lui a0, 0)
  TEST_CASE(92, a0, 0xfffffffffffff000, lui a0, 0xfffff)
  TEST_CASE(93, a0, 0x000000007ffff000, lui a0, 0x7ffff)
  TEST_CASE(94, a0, 0xffffffff80000000, lui a0, 0x80000)
  TEST_CASE(95, a0, 0x0000000000001000, 1: auipc a0, 1; la a1, 1b; sub a0, a0, a1)
  TEST_CASE(96, a0, 0xfffffffffffff000, 1: auipc a0, 0xfffff; la a1, 1b; sub a0, a0, a1)
  TEST_CASE(97, a0, 0, 1: auipc a0, 0; la a1, 1b; sub a0, a0, a1)
  TEST_CASE(98, a0, 0xffffffff80000000, 1: auipc a0, 0x80000; la a1, 1b; sub a0, a0, a1)

  /* loads: every width, sign and zero extension, positive and negative
   * offsets, aligned */
  TEST_LD_OP(99, lb, 0xffffffffffffff80, 0, tdat8)
  TEST_LD_OP(100, lb, 0x000000000000007f, 1, tdat8)
  TEST_LD_OP(101, lb, 0xffffffffffffffff, 2, tdat8)
  TEST_LD_OP(102, lbu, 0x0000000000000080, 0, tdat8)
  TEST_LD_OP(103, lbu, 0x00000000000000ff, 2, tdat8)
  TEST_LD_OP(104, lb, 0x0000000000000000, 3, tdat8)
  TEST_LD_OP(105, lh, 0xffffffffffff8000, 0, tdat16)
  TEST_LD_OP(106, lh, 0x0000000000007fff, 2, tdat16)
  TEST_LD_OP(107, lhu, 0x0000000000008000, 0, tdat16)
  TEST_LD_OP(108, lhu, 0x000000000000ffff, 4, tdat16)
  TEST_LD_OP(109, lh, 0xffffffffffffffff, -2, tdat16_end)
  TEST_LD_OP(110, lw, 0xffffffff80000000, 0, tdat32)
  TEST_LD_OP(111, lw, 0x000000007fffffff, 4, tdat32)
  TEST_LD_OP(112, lwu, 0x0000000080000000, 0, tdat32)
  TEST_LD_OP(113, lwu, 0x00000000ffffffff, 8, tdat32)
  TEST_LD_OP(114, lw, 0xffffffffffffffff, -4, tdat32_end)
  TEST_LD_OP(115, ld, 0x8000000000000000, 0, tdat64)
  TEST_LD_OP(116, ld, 0x7fffffffffffffff, 8, tdat64)
  TEST_LD_OP(117, ld, 0x0123456789abcdef, -8, tdat64_end)
  /* little endian: the bytes of a doubleword */
  TEST_LD_OP(118, lbu, 0x00000000000000ef, 16, tdat64)
  TEST_LD_OP(119, lhu, 0x0000000000004567, 20, tdat64)
  TEST_LD_OP(120, lwu, 0x0000000001234567, 20, tdat64)
  TEST_CASE(121, x0, 0, la a1, tdat64; ld x0, 0(a1)) /* load to x0 */

  /* stores: width, truncation, neighbours untouched */
  TEST_ST_OP(122, sb, lb, 0xffffffffffffffaa, 0x12345678aa, 0, sdat)
  TEST_CASE(123, a0, 0xdeadbeefcafebaaa, la a1, sdat; ld a0, 0(a1))
  TEST_ST_OP(124, sb, lbu, 0x0000000000000011, 0x11, 7, sdat)
  TEST_CASE(125, a0, 0x11adbeefcafebaaa, la a1, sdat; ld a0, 0(a1))
  TEST_ST_OP(126, sh, lh, 0xffffffffffff8001, 0x78008001, 2, sdat)
  TEST_CASE(127, a0, 0x11adbeef8001baaa, la a1, sdat; ld a0, 0(a1))
  TEST_ST_OP(128, sw, lw, 0xffffffff87654321, 0x1287654321, 4, sdat)
  TEST_CASE(129, a0, 0x876543218001baaa, la a1, sdat; ld a0, 0(a1))
  TEST_ST_OP(130, sd, ld, 0x0123456789abcdef, 0x0123456789abcdef, 8, sdat)
  TEST_CASE(131, a0, 0x876543218001baaa, la a1, sdat; ld a0, 0(a1))
  TEST_CASE(132, a0, 0x5555555555555555, la a1, sdat; ld a0, 16(a1))
  TEST_ST_OP(133, sd, ld, 0xffffffffffffffff, -1, -8, sdat_end)
  TEST_CASE(134, a0, 0x0123456789abcdef, la a1, sdat; ld a0, 8(a1))
  TEST_ST_OP(135, sw, lwu, 0x00000000fedcba98, 0xfedcba98, -4, sdat_end)

  /* branches: taken / not taken, forward and backward */
  TEST_BR2_TAKEN(136, beq, 0, 0)
  TEST_BR2_TAKEN(137, beq, -1, -1)
  TEST_BR2_NOTTAKEN(138, beq, 0, 1)
  TEST_BR2_NOTTAKEN(139, beq, 0x8000000000000000, 0)
  TEST_BR2_TAKEN(140, bne, 0, 1)
  TEST_BR2_TAKEN(141, bne, 0x100000000, 0)
  TEST_BR2_NOTTAKEN(142, bne, -1, -1)
  TEST_BR2_TAKEN(143, blt, -1, 0)
  TEST_BR2_TAKEN(144, blt, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_BR2_NOTTAKEN(145, blt, 0, -1)
  TEST_BR2_NOTTAKEN(146, blt, 5, 5)
  TEST_BR2_TAKEN(147, bge, 0, -1)
  TEST_BR2_TAKEN(148, bge, 5, 5)
  TEST_BR2_NOTTAKEN(149, bge, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_BR2_TAKEN(150, bltu, 0, -1)
  TEST_BR2_TAKEN(151, bltu, 0x7fffffffffffffff, 0x8000000000000000)
  TEST_BR2_NOTTAKEN(152, bltu, -1, 0)
  TEST_BR2_NOTTAKEN(153, bltu, 5, 5)
  TEST_BR2_TAKEN(154, bgeu, -1, 0)
  TEST_BR2_TAKEN(155, bgeu, 5, 5)
  TEST_BR2_NOTTAKEN(156, bgeu, 0, -1)

  /* jal / jalr: link value is the address of the next instruction */
  TEST_CASE(157, a0, 0, la a1, 2f; jal a0, 1f; 2: j fail; 1: sub a0, a0, a1)
  TEST_CASE(158, a0, 0, jal x0, 1f; j fail; 1: li a0, 0) /* j: no link */
  TEST_CASE(159, a0, 0, la a1, 2f; 1: jal a0, 3f; 2: j fail; 3: sub a0, a0, a1)
  TEST_CASE(160, a0, 0, la t0, 1f; la a1, 2f; jalr a0, 0(t0); 2: j fail; 1: sub a0, a0, a1)
  /* jalr clears bit 0 of the target */
  TEST_CASE(161, a0, 0, la t0, 1f; addi t0, t0, 1; la a1, 2f; jalr a0, 0(t0); 2: j fail; 1: sub a0, a0, a1)
  /* jalr with an offset, negative */
  TEST_CASE(162, a0, 0, la t0, 1f; addi t0, t0, 16; la a1, 2f; jalr a0, -16(t0); 2: j fail; 1: sub a0, a0, a1)
  /* rd == rs1: the target uses the old value */
  TEST_CASE(163, a0, 0, la t0, 1f; la a1, 2f; jalr t0, 0(t0); 2: j fail; 1: sub a0, t0, a1)
  /* a backward jal */
  TEST_CASE(164, a0, 3, li a0, 0; j 2f; 1: addi a0, a0, 1; j 3f; 2: addi a0, a0, 2; jal x0, 1b; 3: nop)
  /* call / ret through a function */
  TEST_CASE(165, a0, 42, li a0, 40; call add_two)

  /* writes to x0 are discarded */
  TEST_CASE(166, x0, 0, addi x0, x0, 5)
  TEST_CASE(167, x0, 0, lui x0, 0x12345)
  TEST_CASE(168, x0, 0, auipc x0, 1)
  TEST_CASE(169, a0, 0, li a1, -1; or x0, a1, a1; mv a0, x0)
  TEST_CASE(170, a0, 0, la t0, 1f; jalr x0, 0(t0); j fail; 1: mv a0, x0)

  /* fence and nop do nothing observable */
  TEST_CASE(171, a0, 7, li a0, 7; fence; fence rw, rw; fence r, w; fence.tso; nop)

  /* ecall: getpid returns a positive pid; an unknown syscall -ENOSYS */
  TEST_CASE(172, a1, 1, li a7, 172; ecall; sgt a1, a0, x0)
  TEST_CASE(173, a0, -38, li a7, 4095; ecall)
  TEST_CASE(174, a0, -38, li a7, 0x10000000; ecall)
  /* registers other than a0 survive an ecall */
  TEST_CASE(175, a0, 0x1234, li s2, 0x1234; li a7, 172; ecall; mv a0, s2)

RVTEST_END

add_two:
  addi a0, a0, 2
  ret

RVTEST_DATA_BEGIN
tdat8: .byte 0x80, 0x7f, 0xff, 0x00
  .balign 8
tdat16: .half 0x8000, 0x7fff, 0xffff, 0xffff
tdat16_end:
  .balign 8
tdat32: .word 0x80000000, 0x7fffffff, 0xffffffff, 0xffffffff
tdat32_end:
  .balign 8
tdat64: .dword 0x8000000000000000, 0x7fffffffffffffff, 0x0123456789abcdef
tdat64_end:
  .balign 8
sdat: .dword 0xdeadbeefcafebabe, 0x0, 0x5555555555555555, 0x0
sdat_end:
RVTEST_DATA_END
