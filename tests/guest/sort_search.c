// qsort and bsearch over a generated array (fixed-seed xorshift64), with a
// checksum of the sorted order. Optional argument: the element count
// (default 200000). Exit status 0, or 1 when a self-check fails.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t Next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static int CompareU32(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return (x > y) - (x < y);
}

struct Record {
  int32_t key;
  char name[12];
};

static int CompareRecord(const void* a, const void* b) {
  const struct Record* x = a;
  const struct Record* y = b;
  if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
  return strcmp(x->name, y->name);
}

int main(int argc, char** argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000;
  int failures = 0;
  uint32_t* a = malloc(n * sizeof *a);
  if (a == NULL) return 2;
  for (size_t i = 0; i < n; ++i) a[i] = (uint32_t)Next() % (uint32_t)(4 * n);
  qsort(a, n, sizeof *a, CompareU32);
  uint64_t sum = 1469598103934665603ull;  // FNV-1a over the sorted order.
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && a[i - 1] > a[i]) ++failures;
    sum = (sum ^ a[i]) * 1099511628211ull;
  }
  printf("n %zu min %u max %u median %u checksum %016llx\n", n, a[0], a[n - 1],
         a[n / 2], (unsigned long long)sum);

  size_t found = 0, probes = 100000;
  uint64_t positions = 0;
  for (size_t i = 0; i < probes; ++i) {
    uint32_t key = (uint32_t)Next() % (uint32_t)(4 * n);
    uint32_t* p = bsearch(&key, a, n, sizeof *a, CompareU32);
    if (p != NULL) {
      if (*p != key) ++failures;
      ++found;
      // bsearch may land on any of equal keys: count distinct positions by
      // value, not by index.
      positions += *p;
    }
  }
  printf("bsearch probes %zu found %zu sum %llu\n", probes, found,
         (unsigned long long)positions);

  // Stable-looking sort of records with string tie-breaks.
  size_t m = n / 10 + 1;
  struct Record* r = calloc(m, sizeof *r);
  if (r == NULL) return 2;
  for (size_t i = 0; i < m; ++i) {
    r[i].key = (int32_t)(Next() % 1000) - 500;
    snprintf(r[i].name, sizeof r[i].name, "r%08x", (unsigned)(Next() >> 40));
  }
  qsort(r, m, sizeof *r, CompareRecord);
  uint64_t rsum = 0;
  for (size_t i = 0; i < m; ++i) {
    if (i > 0 && CompareRecord(&r[i - 1], &r[i]) > 0) ++failures;
    rsum = rsum * 31 + (uint32_t)r[i].key + (uint8_t)r[i].name[3];
  }
  printf("records %zu first %d %s last %d %s checksum %016llx\n", m, r[0].key,
         r[0].name, r[m - 1].key, r[m - 1].name, (unsigned long long)rsum);
  free(r);
  free(a);
  printf("failures %d\n", failures);
  return failures ? 1 : 0;
}
