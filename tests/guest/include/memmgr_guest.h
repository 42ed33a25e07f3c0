/* memmgr_guest.h: the memmgr syscalls for RISC-V guest programs
 * (riscv64-linux-gnu-gcc, any libc or none). Header-only.
 *
 * A guest that warms up once and is then forked many times (a serverless
 * runtime after loading its code, a test harness after its set-up):
 *
 *   warm_up();
 *   fflush(stdout);              // as before fork(): or every fork flushes
 *                                // the same buffered bytes
 *   int i = memmgr_snapshot();   // 0 here; fork i of n resumes here with i
 *   if (i > 0) handle_request(i);
 *
 * ABI (docs/worker-execution.md): ecall with the number in a7, arguments in
 * a0..a2, the result (or -errno) in a0, like any Linux syscall.
 *   0x4d4d0 MEMMGR_SYS_SNAPSHOT(flags = 0): asks the host for a snapshot at
 *           this point. Returns the caller's fork index: 0 in a sandbox
 *           created from a program, i in fork i of the snapshot taken here.
 *           -EINVAL for flags != 0.
 *   0x4d4d1 MEMMGR_SYS_FORK_INFO(struct memmgr_fork_info *info, size):
 *           fills in *info; size must be >= sizeof *info. 0, or -EINVAL /
 *           -EFAULT.
 *   0x4d4d2 MEMMGR_SYS_FORK_ARG(index, char *buf, len): copies up to len
 *           bytes of per-fork argument `index` (not NUL-terminated) and
 *           returns its full length; -EINVAL if index >= nargs.
 *
 * Outside memmgr (Linux, qemu-riscv64) the numbers are -ENOSYS; the
 * wrappers below turn that into "not forked" (index 0, count 0, no
 * arguments), so one binary runs under both: the differential tests rely
 * on it.
 */
#ifndef MEMMGR_GUEST_H_
#define MEMMGR_GUEST_H_

#include <stddef.h>
#include <stdint.h>

#define MEMMGR_SYS_SNAPSHOT 0x4d4d0
#define MEMMGR_SYS_FORK_INFO 0x4d4d1
#define MEMMGR_SYS_FORK_ARG 0x4d4d2
#define MEMMGR_ENOSYS 38 /* the riscv64 Linux value, without <errno.h> */

struct memmgr_fork_info {
  uint64_t index; /* 1..count in a fork; 0 otherwise */
  uint64_t count; /* forks made from the snapshot; 0 if not a fork */
  uint64_t nargs; /* per-fork arguments (memmgr_fork_arg) */
};

static inline long memmgr_syscall3(long nr, long a, long b, long c) {
  register long a0 __asm__("a0") = a;
  register long a1 __asm__("a1") = b;
  register long a2 __asm__("a2") = c;
  register long a7 __asm__("a7") = nr;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
  return a0;
}

/* Asks for a snapshot here. Returns the fork index (0: the original, or not
 * running under memmgr), or -errno. */
static inline long memmgr_snapshot(void) {
  long r = memmgr_syscall3(MEMMGR_SYS_SNAPSHOT, 0, 0, 0);
  return r == -MEMMGR_ENOSYS ? 0 : r;
}

/* Fills in *info (all zero outside memmgr). Returns 0 or -errno. */
static inline long memmgr_fork_info(struct memmgr_fork_info* info) {
  long r = memmgr_syscall3(MEMMGR_SYS_FORK_INFO, (long)info, sizeof *info, 0);
  if (r == -MEMMGR_ENOSYS) {
    info->index = info->count = info->nargs = 0;
    return 0;
  }
  return r;
}

/* Copies per-fork argument `index` into buf as a NUL-terminated string
 * (truncated to len - 1 bytes). Returns its full length, or -errno
 * (-EINVAL: no such argument, which is always the case outside memmgr). */
static inline long memmgr_fork_arg(unsigned long index, char* buf, size_t len) {
  if (len == 0) return -22; /* EINVAL */
  long r = memmgr_syscall3(MEMMGR_SYS_FORK_ARG, (long)index, (long)buf,
                           (long)(len - 1));
  if (r == -MEMMGR_ENOSYS) r = -22;
  if (r < 0) {
    buf[0] = '\0';
    return r;
  }
  buf[(size_t)r < len - 1 ? (size_t)r : len - 1] = '\0';
  return r;
}

#endif /* MEMMGR_GUEST_H_ */
