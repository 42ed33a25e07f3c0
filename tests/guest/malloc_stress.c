// glibc malloc under pressure: many sizes (16 B .. 64 KiB from the brk heap,
// >= 1 MiB through mmap), free in FIFO / LIFO / random / interleaved
// orders, realloc growing and shrinking (content kept), calloc zeroing
// (also of reused memory), memalign. Every block carries a pattern derived
// from its index (all of a small block; the ends and every 256th byte of a
// larger one), checked before it is freed; checksums of the contents are
// printed, never addresses. Optional argument: rounds
// (default 4). Exit status 0, or 1 when a check fails.
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x2545f4914f6cdd1dull;
static uint64_t Next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static int failures = 0;
static uint64_t checksum = 0;

// The bytes of a block that carry the pattern: all of a small block; of a
// larger one the first and last 64 bytes (where a neighbour's header or an
// overrun would land) and every 256th byte between, so that the run is
// dominated by malloc and free rather than by byte loops. Returns the
// patterned index after i.
static size_t NextPatterned(size_t i, size_t n) {
  if (n <= 256 || i + 1 < 64 || i + 1 >= n - 64) return i + 1;
  size_t next = (i + 256) & ~(size_t)255;
  return next < n - 64 ? next : n - 64;
}

static void Fill(unsigned char* p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i = NextPatterned(i, n)) {
    p[i] = (unsigned char)(seed * 31 + i * 7);
  }
}

// Checks the first m bytes of a block that Fill patterned for size n.
static void CheckPrefix(const unsigned char* p, size_t n, size_t m,
                        uint32_t seed) {
  for (size_t i = 0; i < m; i = NextPatterned(i, n)) {
    if (p[i] != (unsigned char)(seed * 31 + i * 7)) {
      ++failures;
      return;
    }
    checksum = checksum * 1099511628211ull + p[i];
  }
}

static void Check(const unsigned char* p, size_t n, uint32_t seed) {
  CheckPrefix(p, n, n, seed);
}

static size_t SmallSize(void) {
  switch (Next() % 4) {
    case 0:
      return 1 + Next() % 64;
    case 1:
      return 64 + Next() % 1024;
    case 2:
      return 1024 + Next() % 16384;
    default:
      return 16384 + Next() % 65536;
  }
}

enum { kBlocks = 2000 };
static unsigned char* blocks[kBlocks];
static size_t sizes[kBlocks];

static void Allocate(size_t i) {
  sizes[i] = SmallSize();
  blocks[i] = malloc(sizes[i]);
  if (blocks[i] == NULL) {
    ++failures;
    sizes[i] = 0;
    return;
  }
  Fill(blocks[i], sizes[i], (uint32_t)i);
}

static void Release(size_t i) {
  if (blocks[i] == NULL) return;
  Check(blocks[i], sizes[i], (uint32_t)i);
  free(blocks[i]);
  blocks[i] = NULL;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 4;
  static const char* const kOrders[] = {"fifo", "lifo", "random",
                                        "interleaved"};
  for (int round = 0; round < rounds; ++round) {
    int order = round % 4;
    for (size_t i = 0; i < kBlocks; ++i) Allocate(i);
    switch (order) {
      case 0:
        for (size_t i = 0; i < kBlocks; ++i) Release(i);
        break;
      case 1:
        for (size_t i = kBlocks; i-- > 0;) Release(i);
        break;
      case 2:
        for (size_t k = 0; k < 4 * kBlocks; ++k) Release(Next() % kBlocks);
        for (size_t i = 0; i < kBlocks; ++i) Release(i);
        break;
      default:
        // Free every other block, reallocate them, then free all.
        for (size_t i = 0; i < kBlocks; i += 2) Release(i);
        for (size_t i = 0; i < kBlocks; i += 2) Allocate(i);
        for (size_t i = 1; i < kBlocks; i += 2) Release(i);
        for (size_t i = 0; i < kBlocks; i += 2) Release(i);
        break;
    }
    printf("round %d order %s checksum %016llx failures %d\n", round,
           kOrders[order], (unsigned long long)checksum, failures);
  }

  // realloc: grow in steps (the block moves between arenas and into mmap),
  // then shrink; the prefix must survive every step.
  size_t size = 8;
  unsigned char* p = malloc(size);
  Fill(p, size, 77);
  while (size < (4u << 20)) {
    size_t next = size * 3 + 5;
    unsigned char* q = realloc(p, next);
    if (q == NULL) {
      ++failures;
      break;
    }
    Check(q, size, 77);
    p = q;
    Fill(p, next, 77);
    size = next;
  }
  while (size > 16) {
    size_t next = size / 5;
    p = realloc(p, next);
    CheckPrefix(p, size, next, 77);
    Fill(p, next, 77);
    size = next;
  }
  free(p);
  printf("realloc chain done checksum %016llx failures %d\n",
         (unsigned long long)checksum, failures);

  // calloc must hand out zeroed memory, also when it reuses freed blocks.
  for (int k = 0; k < 200; ++k) {
    size_t n = 1 + Next() % 5000, each = 1 + Next() % 24;
    unsigned char* d = malloc(n * each);
    memset(d, 0xa5, n * each);
    free(d);
    unsigned char* z = calloc(n, each);
    for (size_t i = 0; i < n * each; ++i) {
      if (z[i] != 0) {
        ++failures;
        break;
      }
    }
    free(z);
  }
  printf("calloc zeroing failures %d\n", failures);

  // Large allocations (>= 1 MiB: glibc serves them with mmap and returns
  // them with munmap), touched at every page and at the end.
  uint64_t large_sum = 0;
  for (int k = 0; k < 12; ++k) {
    size_t n = ((size_t)1 << 20) + (size_t)k * 300000 + (Next() % 4096);
    unsigned char* big = (k % 2) ? calloc(1, n) : malloc(n);
    if (big == NULL) {
      ++failures;
      continue;
    }
    if (k % 2) {
      for (size_t i = 0; i < n; i += 4096) large_sum += big[i];  // zero
    }
    for (size_t i = 0; i < n; i += 4096) big[i] = (unsigned char)(i >> 12);
    big[n - 1] = 0x5a;
    for (size_t i = 0; i < n; i += 4096) large_sum += big[i];
    large_sum += big[n - 1];
    free(big);
  }
  printf("large blocks sum %llu\n", (unsigned long long)large_sum);

  // Aligned allocations.
  for (size_t align = 16; align <= 65536; align *= 4) {
    void* a = memalign(align, 1000);
    void* b = NULL;
    int rc = posix_memalign(&b, align, 3000);
    int aligned = a != NULL && rc == 0 && ((uintptr_t)a % align) == 0 &&
                  ((uintptr_t)b % align) == 0;
    printf("align %zu ok %d\n", align, aligned);
    if (!aligned) ++failures;
    free(a);
    free(b);
  }
  printf("total failures %d checksum %016llx\n", failures,
         (unsigned long long)checksum);
  return failures ? 1 : 0;
}
