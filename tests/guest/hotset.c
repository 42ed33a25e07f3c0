// Hot set: writes a large cold region once (argv[1] MiB, default 40), then
// loops over a hot set (argv[2] MiB, default 8) for argv[3] passes (default
// 60), each pass a read-modify-write of every word, and prints a checksum of
// each region. The shape of a program whose footprint is much larger than
// what it keeps using (a heap initialised once, a small part of it hot):
// with a worker --memory of a third of the footprint, the cold region should
// go to swap once and the hot set stay resident (bench/reclaim_bench, the
// overcommit section). Exit status 0.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static uint64_t* Map(uint64_t mib) {
  uint64_t* p = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  return p;
}

int main(int argc, char** argv) {
  const uint64_t cold_mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 40;
  const uint64_t hot_mib = argc > 2 ? strtoull(argv[2], NULL, 0) : 8;
  const uint64_t passes = argc > 3 ? strtoull(argv[3], NULL, 0) : 60;
  if (cold_mib < 1 || cold_mib > 4096 || hot_mib < 1 || hot_mib > 4096) {
    fprintf(stderr, "hotset: MiB must be in 1..4096\n");
    return 2;
  }
  // The cold region: every word written once, never read again.
  const uint64_t cold_words = cold_mib << 17;
  uint64_t* cold = Map(cold_mib);
  uint64_t cold_sum = 0;
  for (uint64_t i = 0; i < cold_words; ++i) {
    const uint64_t v = i * 0x9e3779b97f4a7c15ull;
    cold[i] = v;
    cold_sum += v;
  }
  // The hot set: initialised, then updated in place on every pass.
  const uint64_t hot_words = hot_mib << 17;
  uint64_t* hot = Map(hot_mib);
  for (uint64_t i = 0; i < hot_words; ++i) hot[i] = i;
  uint64_t hot_sum = 0;
  for (uint64_t pass = 0; pass < passes; ++pass) {
    for (uint64_t i = 0; i < hot_words; ++i) {
      const uint64_t v = hot[i];
      hot_sum += v;
      hot[i] = v * 0x100000001b3ull + pass;
    }
  }
  printf("cold %llu MiB %016llx hot %llu MiB x %llu passes %016llx\n",
         (unsigned long long)cold_mib, (unsigned long long)cold_sum,
         (unsigned long long)hot_mib, (unsigned long long)passes,
         (unsigned long long)hot_sum);
  return 0;
}
