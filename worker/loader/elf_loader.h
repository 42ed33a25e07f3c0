// ElfLoader: loads a RISC-V ELF64 executable into a fresh AddressSpace the
// way Linux's binfmt_elf (load_elf_binary, create_elf_tables) does, so an
// unmodified static glibc binary starts:
//   - ET_EXEC at its link addresses; static-PIE ET_DYN (no PT_INTERP) at a
//     load bias: ELF_ET_DYN_BASE = PageDown(va_limit / 3 * 2), or just below
//     the mmap area when the image does not fit between that and mmap_base;
//   - each PT_LOAD becomes a private image mapping (demand-paged from the
//     file bytes, the rest of the segment zero: bss), with the segment's
//     R/W/X (W implies R). A page two segments share holds both segments'
//     bytes with the union of their permissions (see elf_loader.cc);
//   - PT_INTERP (a dynamically linked program) is rejected;
//   - the stack is a grows-down "[stack]" vma whose top is va_limit (riscv's
//     STACK_TOP = TASK_SIZE, no randomisation): 128 KiB below the initial
//     frame are mapped, the rest grows on demand up to the address space's
//     stack_limit. It is executable only if PT_GNU_STACK has PF_X: riscv's
//     VM_DATA_DEFAULT_FLAGS is non-exec, so a missing PT_GNU_STACK means a
//     non-executable stack, as in Linux;
//   - the initial stack, from the top down, exactly as Linux lays it out: an
//     8-byte zero word, the execfn string, the envp and argv strings, the 16
//     AT_RANDOM bytes at the 16-aligned address below them, then (sp, 16-byte
//     aligned) argc, argv[], NULL, envp[], NULL and the auxv pairs in
//     create_elf_tables' order (AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR,
//     AT_PHENT, AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID,
//     AT_GID, AT_EGID, AT_SECURE, AT_RANDOM, AT_EXECFN, AT_NULL). There is no
//     vDSO, so no AT_SYSINFO_EHDR, and riscv has no AT_PLATFORM;
//   - the program break starts at the page after the highest segment end
//     (no brk randomisation).
// Every header field is validated before anything is mapped; a bad file is
// an INVALID_ARGUMENT (or FAILED_PRECONDITION for a valid but unsupported
// one, e.g. dynamic) naming the field and value, never a crash.
//
// Thread-safety: stateless functions; the AddressSpace is used by the
// calling thread only.
#ifndef MEMMGR_WORKER_LOADER_ELF_LOADER_H_
#define MEMMGR_WORKER_LOADER_ELF_LOADER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/mmu/address_space.h"

namespace memmgr::loader {

struct LoadOptions {
  std::vector<std::string> argv;     // argv[0] included; empty → {""}
  std::vector<std::string> envp;     // "NAME=value"
  std::array<uint8_t, 16> random{};  // AT_RANDOM bytes (caller's entropy)
  std::string execfn;                // AT_EXECFN string; default argv[0]
  uint64_t hwcap = 0;                // AT_HWCAP (RV64: one bit per letter)
  uint32_t uid = 0;                  // AT_UID and AT_EUID
  uint32_t gid = 0;                  // AT_GID and AT_EGID
  // RLIMIT_STACK. 0 = the address space's stack_limit, which is what bounds
  // the stack's growth; a nonzero value must equal it. Also sets the
  // argument limit like Linux: argv + envp + execfn bytes and pointers may
  // use at most max(min(stack_size / 4, 6 MiB), 128 KiB) (else E2BIG).
  uint64_t stack_size = 0;
};

struct LoadedProgram {
  mmu::GuestAddr entry = 0;          // pc to start at (bias applied)
  mmu::GuestAddr stack_pointer = 0;  // initial sp (points at argc)
  mmu::GuestAddr load_bias = 0;      // 0 for ET_EXEC
  mmu::GuestAddr phdr = 0;           // AT_PHDR
  mmu::GuestAddr brk_base = 0;       // SetBrkBase was called with this
  mmu::GuestAddr stack_top = 0;      // end of the stack vma (va_limit)
  bool executable_stack = false;     // PT_GNU_STACK has PF_X
  // The auxiliary vector as written to the stack, AT_NULL last (Linux keeps
  // it as mm->saved_auxv for /proc/<pid>/auxv).
  std::vector<std::pair<uint64_t, uint64_t>> auxv;
};

// Header-only validation (no mapping): what LoadElf checks first. `limits`
// supplies the va_limit and mmap_min_addr the segments must fit (ET_EXEC
// addresses are absolute; a static-PIE image only has to fit in size).
absl::Status ValidateElf(const std::string& bytes,
                         const mmu::AddressSpace::Options& limits = {});

// Loads `image` (its bytes are the whole file) into `as`, which must be
// empty (FAILED_PRECONDITION otherwise). Bad arguments (argument list too
// long, a NUL inside a string, stack_size mismatch) are INVALID_ARGUMENT;
// running out of frames while writing the stack is RESOURCE_EXHAUSTED. On
// error `as` may hold partial mappings: discard it.
absl::StatusOr<LoadedProgram> LoadElf(
    mmu::AddressSpace& as, std::shared_ptr<const mmu::GuestImage> image,
    const LoadOptions& options);

}  // namespace memmgr::loader

#endif  // MEMMGR_WORKER_LOADER_ELF_LOADER_H_
