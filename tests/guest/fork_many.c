// Many children at once, each writing every kind of private memory (a
// private anonymous mapping, the heap, the stack, .data and .bss): every
// child must first see the parent's values, then only its own, and the
// parent must see none of it. One child forks a grandchild that writes the
// same pages. All children are alive together (forked first, reaped after),
// so their copy-on-write breaks interleave. Exit status 0, or 1 when a
// check fails; the output does not depend on scheduling.
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
  kChildren = 32,
  kAnonBytes = 1 << 20,
  kHeapWords = 32 * 1024,  // 256 KiB
  kStackWords = 512,
  kDataWords = 1024,
};

static uint64_t data_words[kDataWords] = {1};  // .data
static uint64_t bss_words[kDataWords];         // .bss

struct Regions {
  uint64_t* anon;
  uint64_t* heap;
  uint64_t* stack;
};

static void Fill(const struct Regions* r, uint64_t seed) {
  for (size_t i = 0; i < kHeapWords; ++i) r->heap[i] = seed * 31 + i;
  for (size_t i = 0; i < kStackWords; ++i) r->stack[i] = seed ^ (i << 8);
  for (size_t i = 0; i < kDataWords; ++i) {
    data_words[i] = seed + i * 3;
    bss_words[i] = ~seed + i;
  }
  for (size_t off = 0; off < kAnonBytes / 8; off += 509) {
    r->anon[off] = seed * 7 + off;
  }
}

// True iff every word holds the pattern Fill(seed) wrote.
static int Holds(const struct Regions* r, uint64_t seed) {
  for (size_t i = 0; i < kHeapWords; ++i) {
    if (r->heap[i] != seed * 31 + i) return 0;
  }
  for (size_t i = 0; i < kStackWords; ++i) {
    if (r->stack[i] != (seed ^ (i << 8))) return 0;
  }
  for (size_t i = 0; i < kDataWords; ++i) {
    if (data_words[i] != seed + i * 3 || bss_words[i] != ~seed + i) return 0;
  }
  for (size_t off = 0; off < kAnonBytes / 8; off += 509) {
    if (r->anon[off] != seed * 7 + off) return 0;
  }
  return 1;
}

// A child: checks it starts from the pattern `from`, writes its own, lets
// the others run, and checks it still reads its own. 0 when all is well.
static int Child(const struct Regions* r, uint64_t from, uint64_t seed) {
  if (!Holds(r, from)) return 1;
  Fill(r, seed);
  sched_yield();
  return Holds(r, seed) ? 0 : 2;
}

int main(void) {
  uint64_t stack_words[kStackWords];
  struct Regions r;
  r.anon = mmap(NULL, kAnonBytes, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  r.heap = malloc(kHeapWords * sizeof(uint64_t));
  r.stack = stack_words;
  if (r.anon == MAP_FAILED || r.heap == NULL) return 1;
  Fill(&r, 1000);

  pid_t pids[kChildren];
  for (int i = 0; i < kChildren; ++i) {
    fflush(stdout);
    pids[i] = fork();
    if (pids[i] < 0) {
      printf("fork %d failed\n", i);
      return 1;
    }
    if (pids[i] == 0) {
      int bad = Child(&r, 1000, 2000 + i);
      if (i == 0 && !bad) {
        // A grandchild of a child that has written: it starts from the
        // child's values, and the child keeps them.
        fflush(stdout);
        pid_t g = fork();
        if (g == 0) _exit(Child(&r, 2000, 9999));
        int status = 0;
        if (waitpid(g, &status, 0) != g || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0 || !Holds(&r, 2000)) {
          bad = 3;
        }
      }
      _exit(bad ? 100 + bad : 10 + i);
    }
  }
  // The parent writes too, after every fork: no child may see it (each
  // checks it starts from pattern 1000).
  Fill(&r, 3000);
  int failures = 0;
  for (int i = 0; i < kChildren; ++i) {
    int status = 0;
    if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status)) {
      printf("child %d: did not exit\n", i);
      ++failures;
      continue;
    }
    if (WEXITSTATUS(status) != 10 + i) {
      printf("child %d: exit %d (want %d)\n", i, WEXITSTATUS(status), 10 + i);
      ++failures;
    }
  }
  const int unchanged = Holds(&r, 3000);
  printf("%d children, each saw the parent's memory and wrote its own: %s\n",
         kChildren, failures ? "FAILED" : "ok");
  printf("parent memory unchanged: %s\n", unchanged ? "ok" : "FAILED");
  return failures || !unchanged ? 1 : 0;
}
