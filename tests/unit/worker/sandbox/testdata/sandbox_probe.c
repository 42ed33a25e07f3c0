// A guest for sandbox_test: argv[1] picks one behaviour. Raw syscalls where
// the test needs an exact argument (bad pointers, unknown numbers).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long RawSyscall3(long nr, long a, long b, long c) {
  register long a0 __asm__("a0") = a;
  register long a1 __asm__("a1") = b;
  register long a2 __asm__("a2") = c;
  register long a7 __asm__("a7") = nr;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
  return a0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "spew")) {  // output limit
    for (;;) fputs("0123456789abcdef", stdout);
  }
  if (!strcmp(mode, "syscalls")) {  // instruction limit, slices end in ecalls
    for (;;) RawSyscall3(SYS_getpid, 0, 0, 0);
  }
  if (!strcmp(mode, "abort")) abort();
  if (!strcmp(mode, "rseq")) {  // (this glibc does not register rseq)
    static unsigned int area[8] __attribute__((aligned(32))) = {~0u, ~0u};
    static unsigned int other[8] __attribute__((aligned(32)));
    long bad_len = RawSyscall3(293, (long)area, 16, 0);
    long reg = RawSyscall3(293, (long)area, 32, 0);
    unsigned cpu_start = area[0], cpu = area[1];
    long again = RawSyscall3(293, (long)area, 32, 0);
    long second = RawSyscall3(293, (long)other, 32, 0);
    printf("bad_len %ld register %ld cpu %u %u again %ld other %ld\n",
           bad_len, reg, cpu_start, cpu, again, second);
    return 0;
  }
  if (!strcmp(mode, "cpu")) {  // glibc reads the CPU from its rseq area
    printf("cpu %d\n", sched_getcpu());
    return 0;
  }
  if (!strcmp(mode, "sleeper")) {  // a sleeping child must not stall us
    pid_t pid = fork();
    if (pid == 0) {
      sleep(30);
      _exit(0);
    }
    unsigned long work = 0;
    for (int round = 0; round < 20; ++round) {
      for (volatile int i = 0; i < 1000000; ++i) work += i;
      sched_yield();
    }
    printf("child still asleep %d\n", waitpid(pid, NULL, WNOHANG) == 0);
    return 0;
  }
  if (!strcmp(mode, "forkbomb")) {  // fork without reaping until refused
    int n = 0;
    for (;;) {
      pid_t pid = fork();
      if (pid == 0) _exit(0);
      if (pid < 0) break;
      ++n;
    }
    printf("forked %d then %s\n", n, errno == EAGAIN ? "EAGAIN" : "?");
    return 0;
  }  // raise(SIGABRT): exit 134
  if (!strcmp(mode, "selfmod")) {  // code written at run time + clear_cache
    // A page of "li a0, N; ret", rewritten between calls.
    unsigned int* code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int results[2];
    for (int n = 1; n <= 2; ++n) {
      code[0] = 0x00000513u | ((unsigned)n << 20);  // addi a0, zero, n
      code[1] = 0x00008067u;                          // ret
      __builtin___clear_cache((char*)code, (char*)(code + 2));
      results[n - 1] = ((int (*)(void))code)();
    }
    printf("selfmod %d %d\n", results[0], results[1]);
    return 0;
  }
  if (!strcmp(mode, "spin")) {  // instruction limit
    for (volatile unsigned long i = 0;; ++i) {
    }
  }
  if (!strcmp(mode, "sleep")) {  // timeout
    for (;;) sleep(10);
  }
  if (!strcmp(mode, "hog")) {  // memory limit: touch 64 MiB, 1 MiB at a time
    for (int mib = 0; mib < 64; ++mib) {
      volatile char* p = malloc(1 << 20);  // volatile: the stores happen
      if (p == NULL) return 3;
      for (size_t i = 0; i < (1 << 20); i += 4096) p[i] = 1;
    }
    return 0;
  }
  if (!strcmp(mode, "forkhog")) {  // two processes, one memory budget
    // The child touches 12 MiB and says so; the parent then touches 12 MiB
    // while the child still holds its pages. With --memory=16M the parent
    // runs out (the budget is the sandbox's, not each process's).
    int ready[2], hold[2];
    if (pipe(ready) != 0 || pipe(hold) != 0) return 5;
    pid_t pid = fork();
    if (pid == 0) {
      volatile char* p = malloc(12 << 20);
      if (p == NULL) _exit(3);
      for (size_t i = 0; i < (12 << 20); i += 4096) p[i] = 1;
      char c = 'r';
      write(ready[1], &c, 1);
      read(hold[0], &c, 1);  // until the parent exits
      _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) return 6;
    volatile char* p = malloc(12 << 20);
    if (p == NULL) return 3;
    for (size_t i = 0; i < (12 << 20); i += 4096) p[i] = 1;
    printf("both hold 12 MiB\n");
    return 0;
  }
  if (!strcmp(mode, "bigalloc")) {  // one request larger than the memory
    void* p = malloc((size_t)64 << 20);
    printf("malloc %s errno %d\n", p == NULL ? "null" : "ok", errno);
    return 0;
  }
  if (!strcmp(mode, "file")) {  // --file: read it; others are ENOENT
    char buf[64] = {0};
    int fd = open("/data/in.txt", O_RDONLY);
    if (fd < 0) return 4;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int other = open("/etc/passwd", O_RDONLY);
    printf("read %zd: %s|other %d errno %d\n", n, buf, other,
           other < 0 ? errno : 0);
    return 0;
  }
  if (!strcmp(mode, "deadlock")) {  // read from a pipe only we can write
    int fds[2];
    if (pipe(fds) != 0) return 5;
    char c;
    read(fds[0], &c, 1);
    return 6;
  }
  if (!strcmp(mode, "sigpipe")) {  // write with no reader
    int fds[2];
    if (pipe(fds) != 0) return 5;
    close(fds[0]);
    if (argc > 2) signal(SIGPIPE, SIG_IGN);
    ssize_t n = write(fds[1], "x", 1);
    printf("write %zd errno %d\n", n, errno);
    return 0;
  }
  if (!strcmp(mode, "badptr")) {  // EFAULT, never a crash
    long w = RawSyscall3(SYS_write, 1, 1, 10);
    // Read into a bad pointer from a pipe of our own that has bytes in it
    // (not stdin, whose contents depend on the caller).
    int p[2];
    if (pipe(p) != 0 || write(p[1], "data", 4) != 4) return 9;
    long r = RawSyscall3(SYS_read, p[0], 0x7000000000, 10);
    long u = RawSyscall3(999, 0, 0, 0);
    long m = RawSyscall3(SYS_munmap, 4097, 10, 0);
    printf("write %ld read %ld unknown %ld munmap %ld\n", w, r, u, m);
    return 0;
  }
  if (!strcmp(mode, "random")) {  // AT_RANDOM-seeded and getrandom bytes
    unsigned char b[8];
    if (getrandom(b, sizeof(b), 0) != sizeof(b)) return 7;
    for (int i = 0; i < 8; ++i) printf("%02x", b[i]);
    printf("\n");
    return 0;
  }
  if (!strcmp(mode, "stdin")) {  // echo stdin
    char buf[256];
    ssize_t n;
    while ((n = read(0, buf, sizeof(buf))) > 0) write(1, buf, n);
    return 0;
  }
  fprintf(stderr, "sandbox_probe: unknown mode '%s'\n", mode);
  return 2;
}
