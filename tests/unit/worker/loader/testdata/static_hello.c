// A static glibc program for elf_loader_test: built at build time with
// `riscv64-linux-gnu-gcc -static -O2` (tests/CMakeLists.txt). The loader test
// only maps it and checks the image; it is not run there.
#include <stdio.h>

int initialized = 42;       // .data
int zeroed[1024];           // .bss
__thread int per_thread = 7;  // .tdata (PT_TLS)

int main(int argc, char** argv) {
  printf("hello from %s: %d %d %d\n", argv[0], initialized, zeroed[argc],
         per_thread);
  return 0;
}
