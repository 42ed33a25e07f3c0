// A guest for snapshot_test and the --forks CLI test: argv[1] picks one
// behaviour; most ask for a snapshot with memmgr_snapshot() after a
// "warm-up" that writes memory of every kind, then act on their fork index.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "memmgr_guest.h"

static char data_area[64] = "parent";  // .data

// The FP registers and fcsr set just before the snapshot's ecall, read back
// just after it, in one asm block so the compiler cannot spill them.
static long SnapshotWithFpState(const uint64_t in[4], uint64_t out[4],
                                uint64_t* fcsr) {
  register long a0 __asm__("a0") = 0;
  register long a7 __asm__("a7") = MEMMGR_SYS_SNAPSHOT;
  uint64_t r0, r1, r2, r3, csr;
  __asm__ volatile(
      "fmv.d.x ft0, %[v0]\n"
      "fmv.d.x fs0, %[v1]\n"
      "fmv.d.x fa7, %[v2]\n"
      "fmv.d.x ft11, %[v3]\n"
      "csrwi frm, 2\n"        // round down
      "csrwi fflags, 0x11\n"  // NV | NX
      "ecall\n"
      "fmv.x.d %[r0], ft0\n"
      "fmv.x.d %[r1], fs0\n"
      "fmv.x.d %[r2], fa7\n"
      "fmv.x.d %[r3], ft11\n"
      "csrr %[csr], fcsr\n"
      "csrw fcsr, zero\n"
      : "+r"(a0), [r0] "=&r"(r0), [r1] "=&r"(r1), [r2] "=&r"(r2),
        [r3] "=&r"(r3), [csr] "=&r"(csr)
      : [v0] "r"(in[0]), [v1] "r"(in[1]), [v2] "r"(in[2]), [v3] "r"(in[3]),
        "r"(a7)
      : "ft0", "fs0", "fa7", "ft11", "memory");
  out[0] = r0;
  out[1] = r1;
  out[2] = r2;
  out[3] = r3;
  *fcsr = csr;
  return a0 == -MEMMGR_ENOSYS ? 0 : a0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  // Warm-up: private anonymous memory, heap, stack and .data, all written.
  volatile uint64_t* page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 3;
  page[0] = 0xabc;
  uint64_t* heap = malloc(64 << 10);
  if (heap == NULL) return 3;
  for (int i = 0; i < (64 << 10) / 8; ++i) heap[i] = i * 7;
  volatile uint64_t stack_word = 0x5151;

  if (!strcmp(mode, "index")) {  // each fork writes its index everywhere
    printf("warm\n");
    fflush(stdout);
    const long i = memmgr_snapshot();
    struct memmgr_fork_info info;
    if (memmgr_fork_info(&info) != 0) return 4;
    const int saw_parent = page[0] == 0xabc && heap[100] == 700 &&
                           stack_word == 0x5151 && !strcmp(data_area, "parent");
    if (i == 0) {  // the original, after the forks ran
      printf("parent saw %d\n", saw_parent);
      return saw_parent ? 0 : 1;
    }
    page[0] = i;
    heap[100] = i;
    stack_word = i;
    snprintf(data_area, sizeof data_area, "fork%ld", i);
    printf("fork %ld of %lu saw %d page %lu heap %lu stack %lu data %s\n", i,
           (unsigned long)info.count, saw_parent, (unsigned long)page[0],
           (unsigned long)heap[100], (unsigned long)stack_word, data_area);
    return 0;
  }
  if (!strcmp(mode, "fp")) {  // FP registers and fcsr survive into forks
    const uint64_t in[4] = {0x400921fb54442d18ull, 0xfff8000000000001ull,
                            0x8000000000000000ull, 0x3ff0000000000001ull};
    uint64_t out[4], fcsr;
    const long i = SnapshotWithFpState(in, out, &fcsr);
    const int regs = !memcmp(in, out, sizeof in);
    printf("fp %ld regs %d fcsr 0x%lx\n", i, regs, (unsigned long)fcsr);
    return 0;
  }
  if (!strcmp(mode, "info")) {  // fork index, count and per-fork args
    printf("start\n");
    fflush(stdout);
    memmgr_snapshot();
    struct memmgr_fork_info info;
    if (memmgr_fork_info(&info) != 0) return 4;
    printf("info %lu %lu %lu", (unsigned long)info.index,
           (unsigned long)info.count, (unsigned long)info.nargs);
    for (unsigned long a = 0; a < info.nargs; ++a) {
      char buf[32];
      long n = memmgr_fork_arg(a, buf, sizeof buf);
      printf(" [%ld:%s]", n, buf);
    }
    char buf[8];
    printf(" past_end %ld\n", memmgr_fork_arg(info.nargs, buf, sizeof buf));
    return 0;
  }
  if (!strcmp(mode, "twice")) {  // a fork asks again: forks of a fork
    const long first = memmgr_snapshot();
    const long second = memmgr_snapshot();
    printf("first %ld second %ld\n", first, second);
    return 0;
  }
  if (!strcmp(mode, "hog")) {  // fork argv[2] touches 64 MiB; others print
    const long victim = argc > 2 ? atol(argv[2]) : -1;
    const long i = memmgr_snapshot();
    if (i == victim) {
      for (int mib = 0; mib < 64; ++mib) {
        volatile char* p = malloc(1 << 20);
        if (p == NULL) return 5;
        for (size_t b = 0; b < (1 << 20); b += 4096) p[b] = 1;
      }
      return 6;  // not reached: the memory limit kills this fork
    }
    printf("ok %ld\n", i);
    return 0;
  }
  if (!strcmp(mode, "random")) {  // getrandom after the snapshot
    memmgr_snapshot();
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != sizeof b) return 7;
    for (int k = 0; k < 8; ++k) printf("%02x", b[k]);
    printf("\n");
    return 0;
  }
  if (!strcmp(mode, "pipe")) {  // snapshot refused: a pipe is open
    int fds[2];
    if (pipe(fds) != 0) return 5;
    printf("pipe %ld\n", memmgr_snapshot());
    return 0;
  }
  if (!strcmp(mode, "child")) {  // snapshot refused: a child is alive
    if (fork() == 0) {
      sleep(30);
      _exit(0);
    }
    printf("child %ld\n", memmgr_snapshot());
    return 0;
  }
  if (!strcmp(mode, "compute")) {  // no request: snapshots mid-computation
    uint64_t h = 1469598103934665603ull;
    for (uint64_t k = 0; k < 3000000; ++k) {
      heap[k % 8192] += k;
      h = (h ^ heap[(k * 31) % 8192]) * 1099511628211ull;
    }
    printf("compute %016lx\n", (unsigned long)h);
    return 0;
  }
  if (!strcmp(mode, "sleep")) {  // idle: RunFor must not spin
    memmgr_snapshot();
    sleep(10);
    printf("woke\n");
    return 0;
  }
  if (!strcmp(mode, "spin")) {  // instruction limit across slices
    memmgr_snapshot();
    for (volatile unsigned long k = 0;; ++k) {
    }
  }
  if (!strcmp(mode, "plain")) {  // no snapshot at all
    printf("plain\n");
    return 0;
  }
  fprintf(stderr, "snapshot_probe: unknown mode '%s'\n", mode);
  return 2;
}
