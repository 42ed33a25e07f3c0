// Grows the stack: a 100000-frame non-tail recursion (about 4.8 MiB of
// stack: 48-byte frames at -O2), then a 1 MiB variable-length array on the
// stack touched from the far end down, then the recursion again under the
// array. The main thread's stack must grow (8 MiB RLIMIT_STACK is Linux's
// default). Optional argument: depth (default 100000). Exit status 0, or 1 when
// a result is wrong.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// noinline + work after the call: no tail call, no inlining, one real frame
// per level (with a local array that the optimizer cannot drop).
__attribute__((noinline)) static uint64_t Deep(uint64_t n, uint64_t acc) {
  volatile uint64_t local[2] = {n, acc};
  if (n == 0) return acc;
  uint64_t r = Deep(n - 1, acc * 6364136223846793005ull + n);
  return r ^ (local[0] + local[1]);
}

__attribute__((noinline)) static uint64_t Ackermann(uint64_t m, uint64_t n) {
  if (m == 0) return n + 1;
  if (n == 0) return Ackermann(m - 1, 1);
  return Ackermann(m - 1, Ackermann(m, n - 1));
}

__attribute__((noinline)) static uint64_t WithArray(size_t bytes,
                                                    uint64_t depth) {
  volatile unsigned char vla[bytes];
  // Touch from the high end (near the caller's frame) down to the lowest
  // address: every page of the array is a new stack page.
  for (size_t i = bytes; i-- > 0;) vla[i] = (unsigned char)(i * 13);
  uint64_t sum = 0;
  for (size_t i = 0; i < bytes; i += 509) sum += vla[i];
  return sum + Deep(depth, 1);
}

int main(int argc, char** argv) {
  uint64_t depth = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000;
  uint64_t r1 = Deep(depth, 1);
  printf("deep(%llu) = %016llx\n", (unsigned long long)depth,
         (unsigned long long)r1);
  uint64_t a = Ackermann(2, 2000);  // 2*2000+3, ~4000 frames deep
  printf("ackermann(2, 2000) = %llu\n", (unsigned long long)a);
  uint64_t r2 = WithArray((size_t)1 << 20, depth / 2);
  printf("with 1 MiB stack array + deep(%llu) = %016llx\n",
         (unsigned long long)(depth / 2), (unsigned long long)r2);
  uint64_t r3 = Deep(depth, 1);
  int ok = a == 4003 && r3 == r1;
  printf("repeat matches %d\n", ok);
  return ok ? 0 : 1;
}
