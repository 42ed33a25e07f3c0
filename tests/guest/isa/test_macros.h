/* clang-format off */
/* (Assembler macros, not C: clang-format stays off in this file.)
 *
 * Instruction-level tests in the spirit of riscv-tests, as Linux user
 * programs: no libc, raw syscalls (write a7=64, exit_group a7=94).
 *
 * A test file defines TEST_EXT (a string, e.g. "rv64i"), includes this
 * header, and writes
 *
 *   RVTEST_BEGIN
 *     TEST_RR_OP(1, add, 3, 1, 2)
 *     ...
 *   RVTEST_END
 *   RVTEST_DATA_BEGIN ... RVTEST_DATA_END   (optional)
 *
 * Case numbers are 1..255 and strictly increasing (checked at assembly
 * time): on the first failing case the program writes "FAIL <ext> case
 * <n>\n" to stdout and exits with status n; when every case passes it
 * writes "PASS <ext>\n" and exits 0. Expected values are the spec's.
 *
 * Registers: s11 holds the case number, t6 the expected value, t5 the
 * fflags read after an FP operation; the cases use a0 (result), a1-a3
 * (operands), fa0 (FP result) and fa1-fa3 (FP operands). gp is set to
 * __global_pointer$ (the linker may relax accesses to gp-relative).
 * Unless a file says otherwise (rv64c), instructions are assembled
 * uncompressed (.option norvc) so that the 32-bit encodings are tested.
 */
#ifndef MEMMGR_TESTS_GUEST_ISA_TEST_MACROS_H_
#define MEMMGR_TESTS_GUEST_ISA_TEST_MACROS_H_

#define TESTNUM s11

#define SYS_write 64
#define SYS_exit_group 94

/* ---------------------------------------------------------------- frame */

#define RVTEST_BEGIN                                      \
  .text;                                                  \
  .globl _start;                                          \
  .type _start, @function;                                \
  _start:                                                 \
  .option push;                                           \
  .option norelax;                                        \
  la gp, __global_pointer$;                               \
  .option pop;                                            \
  RVTEST_RVC_MODE;                                        \
  li TESTNUM, 0;                                          \
  .set rvtest_last_case, 0;

#ifndef RVTEST_RVC_MODE
#define RVTEST_RVC_MODE .option norvc
#endif

/* The pass and fail paths use only base RV64I instructions. The case
 * number is converted to decimal by repeated subtraction (no M). */
#define RVTEST_END                                                      \
  .section .rodata;                                                     \
  rvtest_pass_msg:                                                      \
  .ascii "PASS ";                                                       \
  .ascii TEST_EXT;                                                      \
  .asciz "\n";                                                          \
  rvtest_fail_msg:                                                      \
  .ascii "FAIL ";                                                       \
  .ascii TEST_EXT;                                                      \
  .asciz " case ";                                                      \
  rvtest_newline:                                                       \
  .asciz "\n";                                                          \
  .bss;                                                                 \
  rvtest_fail_digits:                                                   \
  .skip 8;                                                              \
  .text;                                                                \
  pass:                                                                 \
  la a1, rvtest_pass_msg;                                               \
  call rvtest_puts;                                                     \
  li a0, 0;                                                             \
  li a7, SYS_exit_group;                                                \
  ecall;                                                                \
  fail:                                                                 \
  la a1, rvtest_fail_msg;                                               \
  call rvtest_puts;                                                     \
  /* three decimal digits of the case number, leading zeros skipped */  \
  la a1, rvtest_fail_digits;                                            \
  mv a3, TESTNUM;                                                       \
  li a4, 100;                                                           \
  call rvtest_digit;                                                    \
  li a4, 10;                                                            \
  call rvtest_digit;                                                    \
  li a4, 1;                                                             \
  call rvtest_digit;                                                    \
  sb x0, 0(a1);                                                         \
  la a1, rvtest_fail_digits;                                            \
  li a6, 48;                                                            \
  1: lbu a5, 0(a1);                                                     \
  bne a5, a6, 2f;                                                       \
  lbu a5, 1(a1);                                                        \
  beqz a5, 2f;                                                          \
  addi a1, a1, 1;                                                       \
  j 1b;                                                                 \
  2: call rvtest_puts;                                                  \
  la a1, rvtest_newline;                                                \
  call rvtest_puts;                                                     \
  mv a0, TESTNUM;                                                       \
  li a7, SYS_exit_group;                                                \
  ecall;                                                                \
  /* write(1, a1, strlen(a1)) */                                        \
  rvtest_puts:                                                          \
  mv a2, x0;                                                            \
  3: add a5, a1, a2;                                                    \
  lbu a5, 0(a5);                                                        \
  beqz a5, 4f;                                                          \
  addi a2, a2, 1;                                                       \
  j 3b;                                                                 \
  4: li a0, 1;                                                          \
  li a7, SYS_write;                                                     \
  ecall;                                                                \
  ret;                                                                  \
  /* a3 -= a4 while a3 >= a4; store '0' + count at a1++ */              \
  rvtest_digit:                                                         \
  li a5, 48;                                                            \
  5: bltu a3, a4, 6f;                                                   \
  sub a3, a3, a4;                                                       \
  addi a5, a5, 1;                                                       \
  j 5b;                                                                 \
  6: sb a5, 0(a1);                                                      \
  addi a1, a1, 1;                                                       \
  ret

#define RVTEST_DATA_BEGIN \
  .data;                  \
  .balign 16;
#define RVTEST_DATA_END .text

/* ---------------------------------------------------------------- cases */

#define TEST_INIT(n)                                             \
  .if ((n) < 1) || ((n) > 255);                                  \
  .error "case numbers are 1..255 (they are the exit status)";  \
  .endif;                                                        \
  .if (n) <= rvtest_last_case;                                   \
  .error "case numbers must increase";                          \
  .endif;                                                        \
  .set rvtest_last_case, (n);                                    \
  test_##n:                                                      \
  li TESTNUM, n;

#define CHECK_EQ(reg, val) \
  li t6, val;              \
  bne reg, t6, fail;

/* Runs code, then compares reg with the expected value. */
#define TEST_CASE(n, reg, val, code...) \
  TEST_INIT(n)                          \
  code;                                 \
  CHECK_EQ(reg, val)

/* Register-register and register-immediate ALU ops. */
#define TEST_RR_OP(n, inst, result, v1, v2) \
  TEST_CASE(n, a0, result, li a1, v1; li a2, v2; inst a0, a1, a2)
#define TEST_RR_SRC1_EQ_DEST(n, inst, result, v1, v2) \
  TEST_CASE(n, a1, result, li a1, v1; li a2, v2; inst a1, a1, a2)
#define TEST_RR_SRC2_EQ_DEST(n, inst, result, v1, v2) \
  TEST_CASE(n, a2, result, li a1, v1; li a2, v2; inst a2, a1, a2)
#define TEST_RR_SRC12_EQ_DEST(n, inst, result, v1) \
  TEST_CASE(n, a1, result, li a1, v1; inst a1, a1, a1)
#define TEST_RR_ZEROSRC1(n, inst, result, v2) \
  TEST_CASE(n, a0, result, li a2, v2; inst a0, x0, a2)
#define TEST_RR_ZEROSRC2(n, inst, result, v1) \
  TEST_CASE(n, a0, result, li a1, v1; inst a0, a1, x0)
#define TEST_RR_ZERODEST(n, inst, v1, v2) \
  TEST_CASE(n, x0, 0, li a1, v1; li a2, v2; inst x0, a1, a2)
#define TEST_IMM_OP(n, inst, result, v1, imm) \
  TEST_CASE(n, a0, result, li a1, v1; inst a0, a1, imm)
#define TEST_IMM_SRC1_EQ_DEST(n, inst, result, v1, imm) \
  TEST_CASE(n, a1, result, li a1, v1; inst a1, a1, imm)

/* Loads from a labelled datum; stores then a load back. */
#define TEST_LD_OP(n, inst, result, offset, base) \
  TEST_CASE(n, a0, result, la a1, base; inst a0, offset(a1))
#define TEST_ST_OP(n, st, ld, result, value, offset, base) \
  TEST_CASE(n, a0, result, la a1, base; li a2, value;      \
            st a2, offset(a1); ld a0, offset(a1))

/* Branches: taken must reach the label after "j fail"; not taken must
 * fall through. Both directions: forward and backward targets. */
#define TEST_BR2_TAKEN(n, inst, v1, v2) \
  TEST_INIT(n)                          \
  li a1, v1;                            \
  li a2, v2;                            \
  inst a1, a2, 2f;                      \
  j fail;                               \
  1: j 3f;                              \
  2: inst a1, a2, 1b;                   \
  j fail;                               \
  3:
#define TEST_BR2_NOTTAKEN(n, inst, v1, v2) \
  TEST_INIT(n)                             \
  li a1, v1;                               \
  li a2, v2;                               \
  inst a1, a2, 1f;                         \
  j 2f;                                    \
  1: j fail;                               \
  2: inst a1, a2, 1b;

/* ------------------------------------------------------- floating point */

/* Single precision: operands are bit patterns moved in with fmv.w.x; the
 * result must be NaN-boxed (upper 32 bits all ones) and equal the
 * expected bits; fflags must equal the expected flags. */
#define FFLAGS_NV 0x10
#define FFLAGS_DZ 0x08
#define FFLAGS_OF 0x04
#define FFLAGS_UF 0x02
#define FFLAGS_NX 0x01

#define CHECK_FLAGS(flags) \
  frflags t5;              \
  li t6, flags;            \
  bne t5, t6, fail;

#define TEST_F32(n, flags, result, v1, v2, v3, code...) \
  TEST_INIT(n)                                          \
  li a1, v1;                                            \
  fmv.w.x fa1, a1;                                      \
  li a2, v2;                                            \
  fmv.w.x fa2, a2;                                      \
  li a3, v3;                                            \
  fmv.w.x fa3, a3;                                      \
  fsflags x0;                                           \
  code;                                                 \
  CHECK_FLAGS(flags)                                    \
  fmv.x.d a0, fa0;                                      \
  CHECK_EQ(a0, 0xffffffff00000000 | (result))

#define TEST_F64(n, flags, result, v1, v2, v3, code...) \
  TEST_INIT(n)                                          \
  li a1, v1;                                            \
  fmv.d.x fa1, a1;                                      \
  li a2, v2;                                            \
  fmv.d.x fa2, a2;                                      \
  li a3, v3;                                            \
  fmv.d.x fa3, a3;                                      \
  fsflags x0;                                           \
  code;                                                 \
  CHECK_FLAGS(flags)                                    \
  fmv.x.d a0, fa0;                                      \
  CHECK_EQ(a0, result)

/* FP operands, integer result in a0 (compares, fclass, fcvt to int,
 * fmv.x.*). */
#define TEST_F32_INT(n, flags, result, v1, v2, code...) \
  TEST_INIT(n)                                          \
  li a1, v1;                                            \
  fmv.w.x fa1, a1;                                      \
  li a2, v2;                                            \
  fmv.w.x fa2, a2;                                      \
  fsflags x0;                                           \
  code;                                                 \
  CHECK_FLAGS(flags)                                    \
  CHECK_EQ(a0, result)

#define TEST_F64_INT(n, flags, result, v1, v2, code...) \
  TEST_INIT(n)                                          \
  li a1, v1;                                            \
  fmv.d.x fa1, a1;                                      \
  li a2, v2;                                            \
  fmv.d.x fa2, a2;                                      \
  fsflags x0;                                           \
  code;                                                 \
  CHECK_FLAGS(flags)                                    \
  CHECK_EQ(a0, result)

/* Integer operand in a1, FP result in fa0 (fcvt from int, fmv.*.x). */
#define TEST_INT_F32(n, flags, result, v1, code...) \
  TEST_INIT(n)                                      \
  li a1, v1;                                        \
  fsflags x0;                                       \
  code;                                             \
  CHECK_FLAGS(flags)                                \
  fmv.x.d a0, fa0;                                  \
  CHECK_EQ(a0, 0xffffffff00000000 | (result))

#define TEST_INT_F64(n, flags, result, v1, code...) \
  TEST_INIT(n)                                      \
  li a1, v1;                                        \
  fsflags x0;                                       \
  code;                                             \
  CHECK_FLAGS(flags)                                \
  fmv.x.d a0, fa0;                                  \
  CHECK_EQ(a0, result)

/* Common bit patterns. */
#define F32_ONE 0x3f800000
#define F32_MONE 0xbf800000
#define F32_TWO 0x40000000
#define F32_THREE 0x40400000
#define F32_HALF 0x3f000000
#define F32_PZERO 0x00000000
#define F32_NZERO 0x80000000
#define F32_PINF 0x7f800000
#define F32_NINF 0xff800000
#define F32_QNAN 0x7fc00000 /* the canonical NaN */
#define F32_SNAN 0x7f800001
#define F32_QNAN_PAYLOAD 0xffc12345
#define F32_MAX 0x7f7fffff
#define F32_MIN_NORMAL 0x00800000
#define F32_MIN_SUB 0x00000001

#define F64_ONE 0x3ff0000000000000
#define F64_MONE 0xbff0000000000000
#define F64_TWO 0x4000000000000000
#define F64_THREE 0x4008000000000000
#define F64_HALF 0x3fe0000000000000
#define F64_PZERO 0x0000000000000000
#define F64_NZERO 0x8000000000000000
#define F64_PINF 0x7ff0000000000000
#define F64_NINF 0xfff0000000000000
#define F64_QNAN 0x7ff8000000000000 /* the canonical NaN */
#define F64_SNAN 0x7ff0000000000001
#define F64_QNAN_PAYLOAD 0xfff8000000012345
#define F64_MAX 0x7fefffffffffffff
#define F64_MIN_NORMAL 0x0010000000000000
#define F64_MIN_SUB 0x0000000000000001

#endif /* MEMMGR_TESTS_GUEST_ISA_TEST_MACROS_H_ */
/* clang-format on */
