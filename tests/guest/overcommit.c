// Overcommit: fills MiB (argv[1], default 48) of anonymous memory with a
// pattern, then revisits it in several orders (forwards, backwards, a
// strided permutation, random pages with writes in between) and prints a
// checksum after each pass. Then forks children that read the (by then
// mostly swapped-out) pages they share with the parent, each writing a few
// pages of its own, and checks the parent still sees its own values.
// Run with a worker --memory of a third of that, every page goes to swap
// and back several times; the output must be the same as with plenty of
// memory (and as qemu-riscv64's). Exit status 0, or 1 when a check fails.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kPage = 4096, kWordsPerPage = kPage / 8, kChildren = 4 };

static uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

static uint64_t SumPage(const uint64_t* page) {
  uint64_t s = 0;
  for (int i = 0; i < kWordsPerPage; ++i) s = s * 31 + page[i];
  return s;
}

int main(int argc, char** argv) {
  const long mib = argc > 1 ? atol(argv[1]) : 48;
  if (mib < 1 || mib > 4096) {
    fprintf(stderr, "overcommit: MiB must be in 1..4096\n");
    return 2;
  }
  const size_t pages = (size_t)mib * 256;
  uint64_t* mem = mmap(NULL, pages * kPage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  // Pass 1: fill forwards. Every word depends on its address.
  for (size_t p = 0; p < pages; ++p) {
    uint64_t* page = mem + p * kWordsPerPage;
    for (int i = 0; i < kWordsPerPage; ++i) page[i] = Mix(p * kWordsPerPage + i);
  }
  uint64_t sum = 0;
  for (size_t p = 0; p < pages; ++p) sum += SumPage(mem + p * kWordsPerPage);
  printf("forwards  %016llx\n", (unsigned long long)sum);
  // Pass 2: backwards.
  sum = 0;
  for (size_t p = pages; p-- > 0;) sum ^= SumPage(mem + p * kWordsPerPage) + p;
  printf("backwards %016llx\n", (unsigned long long)sum);
  // Pass 3: a strided permutation (stride coprime with the page count).
  size_t stride = 7919;
  while (pages % stride == 0) stride += 2;
  sum = 0;
  for (size_t k = 0, p = 0; k < pages; ++k, p = (p + stride) % pages) {
    sum = sum * 3 + SumPage(mem + p * kWordsPerPage);
  }
  printf("strided   %016llx\n", (unsigned long long)sum);
  // Pass 4: random pages, each read then written (the page is dirtied
  // again after it came back from swap).
  uint64_t rng = 12345;
  sum = 0;
  for (size_t k = 0; k < pages; ++k) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    const size_t p = (rng >> 33) % pages;
    uint64_t* page = mem + p * kWordsPerPage;
    sum += SumPage(page);
    page[k % kWordsPerPage] += k;
  }
  printf("random    %016llx\n", (unsigned long long)sum);
  sum = 0;
  for (size_t p = 0; p < pages; ++p) sum += SumPage(mem + p * kWordsPerPage);
  printf("after     %016llx\n", (unsigned long long)sum);
  fflush(stdout);

  // Forks share every page (swapped or not) copy-on-write. Each child
  // checks the shared contents, writes some pages of its own, checks them.
  const uint64_t parent_sum = sum;
  for (int c = 0; c < kChildren; ++c) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) {
      uint64_t s = 0;
      for (size_t p = 0; p < pages; ++p) s += SumPage(mem + p * kWordsPerPage);
      if (s != parent_sum) {
        printf("child %d: shared pages differ\n", c);
        _exit(1);
      }
      for (size_t p = (size_t)c; p < pages; p += 16) {
        mem[p * kWordsPerPage] = 0xc0ffee00u + (uint64_t)c;
      }
      for (size_t p = (size_t)c; p < pages; p += 16) {
        if (mem[p * kWordsPerPage] != 0xc0ffee00u + (uint64_t)c) _exit(1);
      }
      _exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      printf("child %d failed (status %#x)\n", c, status);
      return 1;
    }
    printf("child %d ok\n", c);
  }
  sum = 0;
  for (size_t p = 0; p < pages; ++p) sum += SumPage(mem + p * kWordsPerPage);
  printf("parent    %s\n", sum == parent_sum ? "unchanged" : "CHANGED");
  return sum == parent_sum ? 0 : 1;
}
