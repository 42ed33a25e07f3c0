// Fills a large buffer (default 64 MiB; optional argument: MiB) with a
// position-dependent pattern, then hashes it with FNV-1a over 64-bit words
// and with a simple rolling sum, and prints both. Exit status 0.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
  size_t words = mib * (1u << 20) / sizeof(uint64_t);
  uint64_t* buf = malloc(words * sizeof *buf);
  if (buf == NULL) {
    printf("malloc of %zu MiB failed\n", mib);
    return 1;
  }
  for (size_t i = 0; i < words; ++i) {
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    buf[i] = x ^ (x >> 29);
  }
  uint64_t fnv = 1469598103934665603ull, rolling = 0;
  for (size_t i = 0; i < words; ++i) {
    fnv = (fnv ^ buf[i]) * 1099511628211ull;
    rolling = (rolling << 1 | rolling >> 63) + buf[i];
  }
  // Read back a byte at the end of every page through a byte pointer.
  const unsigned char* bytes = (const unsigned char*)buf;
  uint64_t page_sum = 0;
  for (size_t off = 4095; off < words * sizeof *buf; off += 4096) {
    page_sum += bytes[off];
  }
  printf("size %zu MiB fnv1a64 %016llx rolling %016llx page_sum %llu\n", mib,
         (unsigned long long)fnv, (unsigned long long)rolling,
         (unsigned long long)page_sum);
  free(buf);
  return 0;
}
