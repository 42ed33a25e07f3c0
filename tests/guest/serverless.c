// A serverless-style guest: warm up once (a prime sieve over argv[1] MiB,
// default 16: the "loaded runtime"), ask memmgr for a snapshot, and handle
// one request per fork: fork i counts the primes in its own window and
// writes its result into the shared table's first page (copy-on-write: the
// other forks never see it). Outside memmgr (qemu, Linux, or memmgr-worker
// run without --forks) memmgr_snapshot() returns 0 and the guest handles
// request 0 itself, so the differential test runs it as is.
//
//   memmgr-worker run --forks=100 --stats serverless 16
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memmgr_guest.h"

int main(int argc, char** argv) {
  const long mib = argc > 1 ? atol(argv[1]) : 16;
  if (mib < 1 || mib > 1024) {
    fprintf(stderr, "serverless: size %ld MiB out of range [1, 1024]\n", mib);
    return 2;
  }
  const size_t n = (size_t)mib << 20;
  // Warm-up: composite[k] != 0 for every composite k < n.
  unsigned char* composite = calloc(n, 1);
  if (composite == NULL) return 3;
  composite[0] = composite[1] = 1;
  for (size_t p = 2; p * p < n; ++p) {
    if (composite[p]) continue;
    for (size_t k = p * p; k < n; k += p) composite[k] = 1;
  }
  size_t primes = 0;
  for (size_t k = 0; k < n; ++k) primes += !composite[k];
  printf("warm: %zu primes below %zu\n", primes, n);
  fflush(stdout);  // or every fork would print the buffered line again

  const long request = memmgr_snapshot();
  if (request < 0) {
    fprintf(stderr, "serverless: memmgr_snapshot: %ld\n", request);
    return 4;
  }
  struct memmgr_fork_info info;
  if (memmgr_fork_info(&info) != 0) return 5;
  // Request i: the primes in a window of 64 Ki numbers of its own.
  const size_t window = 65536;
  const size_t start = ((size_t)request * 7919 * window) % (n - window);
  size_t count = 0;
  for (size_t k = start; k < start + window; ++k) count += !composite[k];
  // Every fork writes the shared table (one private copy of one page each)
  // and must read back its own value.
  memcpy(composite, &request, sizeof request);
  long back;
  memcpy(&back, composite, sizeof back);
  printf("request %ld of %lu: %zu primes in [%zu, %zu)%s\n", request,
         (unsigned long)info.count, count, start, start + window,
         back == request ? "" : " (own write lost!)");
  return back == request ? 0 : 1;
}
