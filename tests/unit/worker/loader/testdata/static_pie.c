// A freestanding static-PIE for elf_loader_test: ET_DYN without PT_INTERP,
// linked with `riscv64-linux-gnu-gcc -static-pie -Wl,--no-dynamic-linker
// -nostdlib` (tests/CMakeLists.txt). Debian 12's riscv64 glibc ships no
// rcrt1.o, so a glibc static-PIE cannot be linked; this one has no libc.
// The table holds an absolute pointer, i.e. an R_RISCV_RELATIVE relocation
// that a real static-PIE would apply to itself.
static const char kMessage[] = "hello from a static PIE\n";
const char* volatile table[] = {kMessage};

void _start(void) {
  register long a0 asm("a0") = 0;   // status
  register long a7 asm("a7") = 93;  // exit
  asm volatile("ecall" : : "r"(a0), "r"(a7));
  for (;;) {
  }
}
