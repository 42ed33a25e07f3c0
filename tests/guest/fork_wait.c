// fork + wait4: children compute, print and exit with a status; the parent
// reaps each one with wait4 before doing anything else, so the output order
// is fixed. After fork the two memories are independent: the child's writes
// (globals, heap, stack, a private anonymous mapping) are invisible to the
// parent and vice versa. A last child dies of SIGSEGV; the parent sees
// WTERMSIG 11. Exit status 0, or 1 when a check fails.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t global_counter = 1000;
static int failures = 0;

static void Expect(const char* what, int ok) {
  printf("parent: %-50s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

static uint64_t Sum(const uint64_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s = s * 1099511628211ull + p[i];
  return s;
}

// Reaps pid and prints how it ended. Returns the raw wait status.
static int Reap(pid_t pid) {
  int status = 0;
  struct rusage usage;
  pid_t got = wait4(pid, &status, 0, &usage);
  if (got != pid) {
    printf("parent: wait4 returned the wrong pid\n");
    ++failures;
    return -1;
  }
  if (WIFEXITED(status)) {
    printf("parent: child exited, WEXITSTATUS %d\n", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    printf("parent: child killed by signal %d\n", WTERMSIG(status));
  } else {
    printf("parent: child ended otherwise\n");
  }
  return status;
}

int main(void) {
  enum { kWords = 64 * 1024 };  // 512 KiB heap block
  uint64_t* heap = malloc(kWords * sizeof *heap);
  for (size_t i = 0; i < kWords; ++i) heap[i] = i * 3;
  uint64_t* anon = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (size_t i = 0; i < (1 << 20) / 8; i += 512) anon[i] = i;
  uint64_t stack_array[256];
  for (size_t i = 0; i < 256; ++i) stack_array[i] = i ^ 0x55;
  const uint64_t heap_sum = Sum(heap, kWords);
  const uint64_t stack_sum = Sum(stack_array, 256);
  const uint64_t anon_sum = Sum(anon, (1 << 20) / 8);
  pid_t parent_pid = getpid();

  // Child 1: rewrites every kind of memory, checks it saw the parent's
  // values first, exits with a status computed from the data.
  fflush(stdout);  // nothing buffered may be duplicated into the child
  pid_t pid = fork();
  if (pid < 0) {
    printf("fork failed\n");
    return 1;
  }
  if (pid == 0) {
    int saw_parent_values =
        Sum(heap, kWords) == heap_sum && Sum(stack_array, 256) == stack_sum &&
        Sum(anon, (1 << 20) / 8) == anon_sum && global_counter == 1000;
    for (size_t i = 0; i < kWords; ++i) heap[i] = ~heap[i];
    for (size_t i = 0; i < 256; ++i) stack_array[i] = 0;
    for (size_t i = 0; i < (1 << 20) / 8; i += 512) anon[i] = 7;
    global_counter = 12345;
    uint64_t work = 0;
    for (uint64_t i = 1; i <= 1000000; ++i) work += i % 7;
    printf("child 1: saw parent values %d, getppid matches %d, work %llu\n",
           saw_parent_values, getppid() == parent_pid,
           (unsigned long long)work);
    exit(saw_parent_values ? (int)(work % 200) : 255);
  }
  Reap(pid);
  Expect("heap unchanged by the child", Sum(heap, kWords) == heap_sum);
  Expect("stack unchanged by the child", Sum(stack_array, 256) == stack_sum);
  Expect("mmap unchanged by the child", Sum(anon, (1 << 20) / 8) == anon_sum);
  Expect("global unchanged by the child", global_counter == 1000);

  // The parent writes after the fork; the child must still see the old
  // values. A pipe orders the two: the child reads only after the parent
  // has written.
  int to_child[2];
  if (pipe(to_child) != 0) return 1;
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    close(to_child[1]);
    char c;
    ssize_t got = read(to_child[0], &c, 1);
    int unchanged =
        got == 1 && global_counter == 1000 && Sum(heap, kWords) == heap_sum;
    printf("child 2: parent's later writes invisible %d\n", unchanged);
    exit(unchanged ? 42 : 43);
  }
  close(to_child[0]);
  global_counter = 2000;
  heap[0] = 999;
  if (write(to_child[1], "x", 1) != 1) ++failures;
  close(to_child[1]);
  int status = Reap(pid);
  Expect("child 2 exited 42", WIFEXITED(status) && WEXITSTATUS(status) == 42);
  heap[0] = 0;
  global_counter = 1000;

  // Several children at once, reaped in creation order by pid.
  pid_t pids[5];
  for (int i = 0; i < 5; ++i) {
    fflush(stdout);
    pids[i] = fork();
    if (pids[i] == 0) _exit(10 + i);
  }
  int sum = 0;
  for (int i = 0; i < 5; ++i) {
    status = Reap(pids[i]);
    if (WIFEXITED(status)) sum += WEXITSTATUS(status);
  }
  Expect("five children exited 10..14", sum == 60);

  // A child that faults: killed by SIGSEGV.
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    volatile int* volatile bad = (volatile int*)(uintptr_t)16;
    *bad = 1;
    _exit(0);
  }
  status = Reap(pid);
  Expect("faulting child killed by SIGSEGV",
         WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);

  // No children left.
  Expect("wait4 with no children fails", wait4(-1, &status, 0, NULL) == -1);
  printf("parent: failures %d\n", failures);
  return failures ? 1 : 0;
}
