/* Zifencei: code written at run time into an anonymous RWX mapping
 * (mmap, a7=222) is executed after fence.i; rewritten and executed again
 * after another fence.i, the new instructions run (the old translation
 * must not be reused); code that patches an instruction later in its own
 * page, then fence.i, runs the patched instruction. */
#define TEST_EXT "zifencei"
#include "test_macros.h"

#define SYS_mmap 222
#define SYS_mprotect 226
/* addi a0, x0, imm  = imm << 20 | 0x00000513 */
#define ADDI_A0(imm) (((imm) << 20) | 0x00000513)
#define RET 0x00008067 /* jalr x0, 0(ra) */

/* Position-independent routines, never executed in place: the tests copy
 * them into the mapping (uncompressed, whole words). */
  .section .rodata
  .option push
  .option norvc
  .option norelax
  .balign 4
routine:
  li a0, 0
  li a1, 10
1:addi a0, a0, 3
  addi a1, a1, -1
  bnez a1, 1b
  ret
routine_end:

/* a0 = 0; 10 times: a0 += 3 -- except that before the first iteration
 * the add is patched to += 5, and every later iteration of the loop runs
 * the patched instruction: 10 * 5 = 50 - 2 (one "addi a0, a0, -2" at the
 * end) = 48. */
patcher:
  li a0, 0
  li a1, 10
  li a3, (5 << 20) | 0x00050513 /* addi a0, a0, 5 */
  auipc a2, 0
  sw a3, 12(a2)              /* patch_me is 3 instructions after the auipc */
  fence.i
patch_me:
  addi a0, a0, 3
  addi a1, a1, -1
  bnez a1, patch_me
  addi a0, a0, -2
  ret
patcher_end:
  .option pop

RVTEST_BEGIN

  /* s2 = mmap(NULL, 8192, RWX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) */
  TEST_CASE(1, a1, 0, li a0, 0; li a1, 8192; li a2, 7; li a3, 0x22; li a4, -1; li a5, 0; li a7, SYS_mmap; ecall; mv s2, a0; srli a1, a0, 63)
  /* write "addi a0, x0, 1; ret", fence.i, call it */
  TEST_CASE(2, a0, 1, li a1, ADDI_A0(1); sw a1, 0(s2); li a1, RET; sw a1, 4(s2); fence.i; li a0, 0; jalr ra, 0(s2))
  /* call it again without changes */
  TEST_CASE(3, a0, 1, li a0, 0; jalr ra, 0(s2))
  /* rewrite the first instruction, fence.i, call: the new one runs */
  TEST_CASE(4, a0, 2, li a1, ADDI_A0(2); sw a1, 0(s2); fence.i; li a0, 0; jalr ra, 0(s2))
  /* and again, many times, with a different value each time */
  TEST_CASE(5, a0, 0x7ff, li a3, 0; 1: addi a3, a3, 1; slli a1, a3, 20; li a2, 0x513; or a1, a1, a2; sw a1, 0(s2); fence.i; jalr ra, 0(s2); bne a0, a3, fail; li a2, 0x7ff; bne a3, a2, 1b)
  /* a longer routine on the second page: loop 10 times adding 3 */
  TEST_CASE(6, a0, 30, li a1, 4096; add s3, s2, a1; la a1, routine; la a2, routine_end; sub a2, a2, a1; mv a3, s3; 1: lw a4, 0(a1); sw a4, 0(a3); addi a1, a1, 4; addi a3, a3, 4; addi a2, a2, -4; bnez a2, 1b; fence.i; jalr ra, 0(s3))
  /* self-modifying: the routine on page 2 patches its own later
   * "addi a0, a0, 3" into "addi a0, a0, 5" on the first pass (a1 = address
   * of the instruction, a2 = new encoding) and executes fence.i */
  TEST_CASE(7, a0, 48, li a1, 4096; add s3, s2, a1; la a1, patcher; la a2, patcher_end; sub a2, a2, a1; mv a3, s3; 1: lw a4, 0(a1); sw a4, 0(a3); addi a1, a1, 4; addi a3, a3, 4; addi a2, a2, -4; bnez a2, 1b; fence.i; jalr ra, 0(s3))
  /* make the mapping read-execute only: the code still runs */
  TEST_CASE(8, a0, 0, mv a0, s2; li a1, 8192; li a2, 5; li a7, SYS_mprotect; ecall)
  TEST_CASE(9, a0, 0x7ff, li a0, 0; jalr ra, 0(s2))

RVTEST_END

