// Requests that cannot be satisfied must fail cleanly, not kill the
// process: brk far beyond any memory, mmap of 2^47 bytes and of almost
// 2^64, malloc/calloc/realloc of absurd sizes (calloc's multiplication
// overflowing). The program checks each error and exits 0 when all of
// them failed the way Linux fails them; otherwise 1.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failures = 0;

static void Expect(const char* what, int ok) {
  printf("%-52s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

int main(void) {
  // volatile: gcc must not see (or fold) the absurd sizes.
  volatile size_t huge = (size_t)1 << 47, all = SIZE_MAX, half = SIZE_MAX / 2;
  // brk: the raw syscall returns the unchanged break on failure.
  uintptr_t start = (uintptr_t)syscall(SYS_brk, 0);
  uintptr_t want = start + ((uintptr_t)1 << 46);  // + 64 TiB
  uintptr_t got = (uintptr_t)syscall(SYS_brk, want);
  Expect("brk(+64 TiB) leaves the break unchanged", got == start);
  got = (uintptr_t)syscall(SYS_brk, (uintptr_t)-4096);
  Expect("brk(top of the address space) fails", got == start);
  errno = 0;
  void* s = sbrk((intptr_t)1 << 46);
  Expect("sbrk(64 TiB) returns -1 with ENOMEM",
         s == (void*)-1 && errno == ENOMEM);
  // The heap still works after the failures.
  got = (uintptr_t)syscall(SYS_brk, start + 4096);
  Expect("brk(+4 KiB) succeeds", got == start + 4096);
  memset((void*)start, 0x5a, 4096);
  Expect("the new heap page is usable", ((unsigned char*)start)[4095] == 0x5a);
  syscall(SYS_brk, start);

  errno = 0;
  void* m = mmap(NULL, huge, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  Expect("mmap(128 TiB) fails with ENOMEM", m == MAP_FAILED && errno == ENOMEM);
  errno = 0;
  m = mmap(NULL, all - 4095, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  Expect("mmap(2^64 - 4 KiB) fails with ENOMEM",
         m == MAP_FAILED && errno == ENOMEM);

  errno = 0;
  void* p = malloc(huge);
  Expect("malloc(128 TiB) returns NULL with ENOMEM",
         p == NULL && errno == ENOMEM);
  p = malloc(all);
  Expect("malloc(SIZE_MAX) returns NULL", p == NULL);
  errno = 0;
  p = calloc(half, 4);  // overflows size_t
  Expect("calloc(SIZE_MAX/2, 4) returns NULL with ENOMEM",
         p == NULL && errno == ENOMEM);
  char* keep = malloc(100);
  strcpy(keep, "still here");
  char* r = realloc(keep, huge);
  Expect("realloc(128 TiB) returns NULL", r == NULL);
  if (r == NULL) {
    Expect("the original block is intact", strcmp(keep, "still here") == 0);
    free(keep);
  } else {
    free(r);
  }

  // After all that, ordinary allocation still works.
  char* fine = malloc(1 << 20);
  Expect("malloc(1 MiB) afterwards succeeds", fine != NULL);
  memset(fine, 1, 1 << 20);
  free(fine);
  printf("failures %d\n", failures);
  return failures ? 1 : 0;
}
