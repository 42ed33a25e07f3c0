// Fork benchmark guest (bench/fork_bench): touches argv[1] MiB of
// anonymous memory (one write per 4 KiB page, default 16), then asks
// memmgr for a snapshot. Fork i writes its index into one page and exits 0
// at once: the benchmark times the fork, not the work. Not forked (Linux,
// qemu-riscv64, or memmgr-worker run without --forks): prints a checksum of
// the pages, so the differential test compares it with qemu.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "memmgr_guest.h"

int main(int argc, char** argv) {
  const uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 16;
  if (mib == 0 || mib > 4096) {
    printf("MiB must be 1..4096\n");
    return 2;
  }
  const uint64_t pages = mib << 8;
  volatile unsigned char* p = mmap(NULL, pages << 12, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    printf("mmap of %llu MiB failed\n", (unsigned long long)mib);
    return 1;
  }
  for (uint64_t i = 0; i < pages; ++i) p[i << 12] = (unsigned char)(i * 7 + 1);
  fflush(stdout);
  const long index = memmgr_snapshot();
  if (index > 0) {
    p[((uint64_t)index % pages) << 12] = (unsigned char)index;
    return 0;
  }
  uint64_t sum = 0;
  for (uint64_t i = 0; i < pages; ++i) sum = sum * 31 + p[i << 12];
  printf("bench_fork %llu MiB checksum %016llx\n", (unsigned long long)mib,
         (unsigned long long)sum);
  return 0;
}
