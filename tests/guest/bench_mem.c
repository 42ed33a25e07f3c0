// Memory-bound benchmark: random read-modify-writes of 64-bit words over a
// large buffer (default 256 MiB, 20 M updates), addresses from a fixed-seed
// xorshift64, then a checksum of the whole buffer. Optional arguments:
// MiB (a power of two, default 256) and updates (default 20000000); tests
// scale both down. Exit status 0.
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char** argv) {
  uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 256;
  uint64_t updates = argc > 2 ? strtoull(argv[2], NULL, 0) : 20000000;
  if (mib == 0 || (mib & (mib - 1)) != 0) {
    printf("MiB must be a power of two\n");
    return 2;
  }
  uint64_t words = mib << 17;  // 8-byte words
  uint64_t* buf = mmap(NULL, words * 8, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) {
    printf("mmap of %" PRIu64 " MiB failed\n", mib);
    return 1;
  }
  // Fill (sequential, touches every page once).
  for (uint64_t i = 0; i < words; ++i) buf[i] = i;
  uint64_t x = 0x9e3779b97f4a7c15ull, read_sum = 0;
  const uint64_t mask = words - 1;
  for (uint64_t n = 0; n < updates; ++n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t* p = &buf[x & mask];
    uint64_t v = *p;
    read_sum += v;
    *p = v * 0x100000001b3ull + (x >> 32);
  }
  uint64_t check = 1469598103934665603ull;
  for (uint64_t i = 0; i < words; ++i)
    check = (check ^ buf[i]) * 0x100000001b3ull;
  printf("mib %" PRIu64 " updates %" PRIu64 " read_sum %016" PRIx64
         " checksum %016" PRIx64 "\n",
         mib, updates, read_sum, check);
  munmap(buf, words * 8);
  return 0;
}
