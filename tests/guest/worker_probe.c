// A guest for the worker service tests (worker_service_test,
// worker_manager_test, memmgrctl_worker_test) and scripts/demo. argv[1]
// picks the behaviour:
//
//   serve [MIB]  warm up: write a pattern into MIB MiB (default 4) and a
//                result page; print "warm"; ask for a snapshot
//                (memmgr_snapshot()). A fork i of n then checks the pattern
//                is intact (no other fork's writes are visible), writes i
//                into the result page and into every 16th page of the
//                region (CoW breaks), reads them back, and prints one line
//                "fork I of N result=I region=ok arg=A stdin=S" (A: its
//                first fork argument, S: its first stdin line; "-" if none).
//                The original (index 0) keeps running: every 10 ms it checks
//                its own memory still holds the warm-up pattern and prints
//                "parent changed" if not; a fork of a host snapshot taken
//                during that loop prints "parent-check ok|changed" and
//                exits, so a test can look at the parent's memory after
//                forks wrote theirs.
//   spin         loop forever (for Kill tests)
//   hog          touch 1 MiB after 1 MiB until the memory limit kills it
//   echo         copy stdin to stdout, then print "echo done" on stderr
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "memmgr_guest.h"

enum { kPage = 4096 };

static unsigned char Pattern(size_t page, size_t byte) {
  return (unsigned char)(page * 31 + byte * 7 + 0x5a);
}

static int RegionIntact(const unsigned char* region, size_t pages) {
  for (size_t p = 0; p < pages; ++p) {
    for (size_t b = 0; b < kPage; b += 512) {
      if (region[p * kPage + b] != Pattern(p, b)) return 0;
    }
  }
  return 1;
}

static void FirstLine(char* buf, size_t len) {
  size_t n = 0;
  char c;
  while (n + 1 < len && read(0, &c, 1) == 1 && c != '\n') buf[n++] = c;
  buf[n] = '\0';
  if (n == 0) strcpy(buf, "-");
}

static int Serve(size_t mib) {
  const size_t pages = mib * 256;
  unsigned char* region = mmap(NULL, pages * kPage, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  volatile uint64_t* result = mmap(NULL, kPage, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED || result == MAP_FAILED) return 3;
  for (size_t p = 0; p < pages; ++p) {
    for (size_t b = 0; b < kPage; ++b) region[p * kPage + b] = Pattern(p, b);
  }
  result[0] = 0;
  printf("warm %zu MiB\n", mib);
  fflush(stdout);

  const long i = memmgr_snapshot();
  if (i < 0) return 4;
  struct memmgr_fork_info info;
  if (memmgr_fork_info(&info) != 0) return 4;
  if (i > 0) {
    const int intact = RegionIntact(region, pages) && result[0] == 0;
    result[0] = (uint64_t)i;
    for (size_t p = 0; p < pages; p += 16) region[p * kPage] = (unsigned char)i;
    int wrote = result[0] == (uint64_t)i;
    for (size_t p = 0; p < pages; p += 16) {
      wrote &= region[p * kPage] == (unsigned char)i;
    }
    char arg[64];
    if (memmgr_fork_arg(0, arg, sizeof arg) < 0) strcpy(arg, "-");
    char line[64];
    FirstLine(line, sizeof line);
    printf("fork %ld of %lu result=%lu region=%s arg=%s stdin=%s\n", i,
           (unsigned long)info.count, (unsigned long)result[0],
           intact && wrote ? "ok" : "BAD", arg, line);
    return intact && wrote ? 0 : 1;
  }
  // The original: keep running; a fork of a host snapshot taken in this
  // loop reports what the parent's memory held at that point.
  for (;;) {
    const int intact = RegionIntact(region, pages) && result[0] == 0;
    if (memmgr_fork_info(&info) != 0) return 4;
    if (info.index != 0) {
      printf("parent-check %s\n", intact ? "ok" : "changed");
      return intact ? 0 : 1;
    }
    if (!intact) {
      printf("parent changed\n");
      return 1;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "serve")) {
    const long mib = argc > 2 ? atol(argv[2]) : 4;
    return Serve(mib > 0 && mib < 4096 ? (size_t)mib : 4);
  }
  if (!strcmp(mode, "spin")) {
    printf("spinning\n");
    fflush(stdout);
    for (volatile unsigned long k = 0;; ++k) {
    }
  }
  if (!strcmp(mode, "hog")) {
    for (;;) {
      volatile char* p = malloc(1 << 20);
      if (p == NULL) return 5;
      for (size_t b = 0; b < (1 << 20); b += kPage) p[b] = 1;
    }
  }
  if (!strcmp(mode, "echo")) {
    char buf[4096];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);
    fprintf(stderr, "echo done\n");
    return 0;
  }
  fprintf(stderr, "worker_probe: unknown mode '%s'\n", mode);
  return 2;
}
