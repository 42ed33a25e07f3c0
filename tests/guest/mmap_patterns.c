// Anonymous private mappings: mmap/munmap/mprotect/mremap/madvise patterns,
// each printing what it observed (never an address). Holes are probed with
// mprotect (ENOMEM on an unmapped range) instead of touching them. Ends with
// a store to a read-only mapping: the process dies of SIGSEGV, so the
// expected exit status is 139 (128 + 11) and the last stdout line is the
// announcement before the store.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u

static int failures = 0;

static void Expect(const char* what, int ok) {
  printf("%-58s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

static int Mapped(void* p, size_t len) {  // 1 mapped, 0 hole, -1 other
  int rc = mprotect(p, len, PROT_READ | PROT_WRITE);
  if (rc == 0) return 1;
  return errno == ENOMEM ? 0 : -1;
}

static uint64_t Sum(const unsigned char* p, size_t len) {
  uint64_t s = 0;
  for (size_t i = 0; i < len; ++i) s = s * 31 + p[i];
  return s;
}

static const char* ErrName(int e) {
  switch (e) {
    case EINVAL:
      return "EINVAL";
    case ENOMEM:
      return "ENOMEM";
    case EFAULT:
      return "EFAULT";
    case EACCES:
      return "EACCES";
    default:
      return "other";
  }
}

int main(void) {
  const int rw = PROT_READ | PROT_WRITE;
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS;

  // 1. A 16-page mapping reads as zeros, holds what is written.
  unsigned char* a = mmap(NULL, 16 * PAGE, rw, flags, -1, 0);
  Expect("mmap 16 pages", a != MAP_FAILED);
  Expect("fresh anonymous memory is zero", Sum(a, 16 * PAGE) == 0);
  for (size_t i = 0; i < 16 * PAGE; ++i) a[i] = (unsigned char)(i / PAGE + 1);
  printf("pattern sum %016llx\n", (unsigned long long)Sum(a, 16 * PAGE));

  // 2. munmap the middle 4 pages: a hole, the rest intact.
  Expect("munmap pages 4..7", munmap(a + 4 * PAGE, 4 * PAGE) == 0);
  Expect("pages 4..7 are a hole (mprotect: ENOMEM)",
         Mapped(a + 4 * PAGE, PAGE) == 0 && Mapped(a + 7 * PAGE, PAGE) == 0);
  Expect("mprotect across the hole fails with ENOMEM",
         Mapped(a + 3 * PAGE, 2 * PAGE) == 0);
  Expect("pages 0..3 and 8..15 still mapped",
         Mapped(a, 4 * PAGE) == 1 && Mapped(a + 8 * PAGE, 8 * PAGE) == 1);
  Expect("page 3 and page 8 kept their contents",
         a[3 * PAGE + 17] == 4 && a[8 * PAGE] == 9 && a[16 * PAGE - 1] == 16);
  Expect("munmap of a hole is not an error", munmap(a + 5 * PAGE, PAGE) == 0);

  // 3. MAP_FIXED into the hole: fresh zero pages, neighbours untouched.
  unsigned char* f = mmap(a + 4 * PAGE, 4 * PAGE, rw, flags | MAP_FIXED, -1, 0);
  Expect("MAP_FIXED into the hole lands at the hint", f == a + 4 * PAGE);
  Expect("the refilled hole is zero", Sum(f, 4 * PAGE) == 0);
  // MAP_FIXED over live pages replaces them with zero pages.
  unsigned char* g = mmap(a + PAGE, PAGE, rw, flags | MAP_FIXED, -1, 0);
  Expect("MAP_FIXED over a live page zeroes it",
         g == a + PAGE && g[0] == 0 && a[0] == 1 && a[2 * PAGE] == 3);
  // (Not MAP_FIXED_NOREPLACE: qemu-riscv64 7.2 treats it as a plain hint
  // and maps elsewhere instead of failing with EEXIST as Linux does.)

  // 4. mprotect: read-only still readable, then writable again; PROT_NONE
  // then RW.
  Expect("mprotect page 9 read-only",
         mprotect(a + 9 * PAGE, PAGE, PROT_READ) == 0);
  Expect("read-only page readable", a[9 * PAGE + 100] == 10);
  Expect("mprotect page 9 back to RW", mprotect(a + 9 * PAGE, PAGE, rw) == 0);
  a[9 * PAGE + 100] = 99;
  Expect("write after RW again", a[9 * PAGE + 100] == 99);
  unsigned char* none = mmap(NULL, 3 * PAGE, PROT_NONE, flags, -1, 0);
  Expect("mmap PROT_NONE", none != MAP_FAILED);
  Expect("mprotect PROT_NONE -> RW", mprotect(none, 3 * PAGE, rw) == 0);
  none[2 * PAGE + 5] = 7;
  Expect("write after PROT_NONE -> RW", none[2 * PAGE + 5] == 7);

  // 5. mremap: grow (may move), contents kept, the new tail is zero; shrink
  // in place. The first 4 of 5 pages cannot grow in place (the 5th page is
  // mapped): without MREMAP_MAYMOVE that is ENOMEM.
  unsigned char* r = mmap(NULL, 5 * PAGE, rw, flags, -1, 0);
  for (size_t i = 0; i < 5 * PAGE; ++i) r[i] = (unsigned char)(i * 3);
  uint64_t before = Sum(r, 4 * PAGE);
  errno = 0;
  void* nomove = mremap(r, 4 * PAGE, 64 * PAGE, 0);
  printf("mremap grow without MAYMOVE against a neighbour: %s %s\n",
         nomove == MAP_FAILED ? "failed" : "succeeded", ErrName(errno));
  unsigned char* r2 = mremap(r, 4 * PAGE, 64 * PAGE, MREMAP_MAYMOVE);
  Expect("mremap grow with MAYMOVE moves it", r2 != MAP_FAILED && r2 != r);
  Expect("grown mapping kept its contents", Sum(r2, 4 * PAGE) == before);
  Expect("grown tail is zero", Sum(r2 + 4 * PAGE, 60 * PAGE) == 0);
  r2[64 * PAGE - 1] = 1;
  r2[PAGE + 7] = 42;
  uint64_t head = Sum(r2, 2 * PAGE);
  unsigned char* r3 = mremap(r2, 64 * PAGE, 2 * PAGE, 0);
  Expect("mremap shrink stays in place", r3 == r2);
  Expect("shrunk mapping kept its contents",
         Sum(r3, 2 * PAGE) == head && r3[PAGE + 7] == 42);
  Expect("the cut-off tail is a hole", Mapped(r3 + 2 * PAGE, 62 * PAGE) == 0);
  Expect("munmap the mremapped block", munmap(r3, 2 * PAGE) == 0);
  Expect("the page left behind kept its contents",
         r[4 * PAGE + 1] == (unsigned char)((4 * PAGE + 1) * 3));
  Expect("munmap the page left behind", munmap(r + 4 * PAGE, PAGE) == 0);

  // 6. madvise(MADV_DONTNEED) on private anonymous memory: the pages read
  // back as zero.
  unsigned char* d = mmap(NULL, 8 * PAGE, rw, flags, -1, 0);
  memset(d, 0x5a, 8 * PAGE);
  Expect("madvise DONTNEED",
         madvise(d + 2 * PAGE, 4 * PAGE, MADV_DONTNEED) == 0);
  printf("after DONTNEED: page 1 byte %d, page 2 byte %d, page 6 byte %d\n",
         d[PAGE], d[2 * PAGE], d[6 * PAGE]);

  // 7. Invalid arguments.
  errno = 0;
  void* z = mmap(NULL, 0, rw, flags, -1, 0);
  printf("mmap length 0: %s %s\n", z == MAP_FAILED ? "failed" : "succeeded",
         ErrName(errno));
  errno = 0;
  int rc = munmap(a + 1, PAGE);
  printf("munmap unaligned: %d %s\n", rc, ErrName(errno));
  errno = 0;
  rc = mprotect(a + 1, PAGE, PROT_READ);
  printf("mprotect unaligned: %d %s\n", rc, ErrName(errno));
  errno = 0;
  z = mmap(NULL, PAGE, rw, MAP_ANONYMOUS, -1, 0);  // neither PRIVATE nor SHARED
  printf("mmap without MAP_PRIVATE/SHARED: %s %s\n",
         z == MAP_FAILED ? "failed" : "succeeded", ErrName(errno));

  // 8. Many small mappings and unmappings.
  uint64_t many = 0;
  for (int i = 0; i < 256; ++i) {
    unsigned char* m = mmap(NULL, (size_t)(1 + i % 5) * PAGE, rw, flags, -1, 0);
    if (m == MAP_FAILED) {
      ++failures;
      continue;
    }
    m[0] = (unsigned char)i;
    many += m[0];
    munmap(m, (size_t)(1 + i % 5) * PAGE);
  }
  printf("256 map/unmap cycles sum %llu\n", (unsigned long long)many);
  printf("failures %d\n", failures);

  // 9. The end: a store to a read-only mapping. SIGSEGV, status 139.
  unsigned char* ro = mmap(NULL, PAGE, PROT_READ, flags, -1, 0);
  printf("reading the read-only page: %d\n", ro[10]);
  printf("storing to the read-only page (expect SIGSEGV, status 139)\n");
  fflush(stdout);
  *(volatile unsigned char*)(ro + 10) = 1;
  printf("the store did not fault\n");
  return 1;
}
