// ElfLoader: loads a RISC-V ELF64 executable into a fresh AddressSpace the
// way Linux's binfmt_elf (load_elf_binary, create_elf_tables) does, so an
// unmodified static glibc binary starts:
//   - ET_EXEC at its link addresses, static-PIE ET_DYN at a load bias;
//   - each PT_LOAD becomes a private image mapping (demand-paged from the
//     file bytes, the rest of the segment zero: bss), with the segment's
//     R/W/X; PT_GNU_STACK decides whether the stack is executable;
//   - PT_INTERP (a dynamically linked program) is rejected;
//   - the initial stack: argc, argv[], NULL, envp[], NULL, auxv pairs
//     (AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY,
//     AT_UID/EUID/GID/EGID, AT_SECURE, AT_RANDOM, AT_HWCAP, AT_CLKTCK,
//     AT_EXECFN, AT_NULL), the strings and the 16 AT_RANDOM bytes above it,
//     sp 16-byte aligned;
//   - the program break starts at the page after the highest segment end.
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
#include <vector>

#include "absl/status/statusor.h"
#include "worker/mmu/address_space.h"

namespace memmgr::loader {

struct LoadOptions {
  std::vector<std::string> argv;     // argv[0] included
  std::vector<std::string> envp;     // "NAME=value"
  std::array<uint8_t, 16> random{};  // AT_RANDOM bytes (caller's entropy)
  std::string execfn;                // AT_EXECFN string; default argv[0]
  uint64_t hwcap = 0;                // AT_HWCAP (RV64: one bit per letter)
  uint64_t stack_size = 8 << 20;     // RLIMIT_STACK: grows-down vma limit
};

struct LoadedProgram {
  mmu::GuestAddr entry = 0;          // pc to start at (bias applied)
  mmu::GuestAddr stack_pointer = 0;  // initial sp (points at argc)
  mmu::GuestAddr load_bias = 0;      // 0 for ET_EXEC
  mmu::GuestAddr phdr = 0;           // AT_PHDR
  mmu::GuestAddr brk_base = 0;       // SetBrkBase was called with this
  mmu::GuestAddr stack_top = 0;      // end of the stack vma
  bool executable_stack = false;     // PT_GNU_STACK has PF_X (or absent)
};

// Header-only validation (no mapping): what LoadElf checks first.
absl::Status ValidateElf(const std::string& bytes);

// Loads `image` (its bytes are the whole file) into `as`, which must be
// empty. On error `as` may hold partial mappings: discard it.
absl::StatusOr<LoadedProgram> LoadElf(
    mmu::AddressSpace& as, std::shared_ptr<const mmu::GuestImage> image,
    const LoadOptions& options);

}  // namespace memmgr::loader

#endif  // MEMMGR_WORKER_LOADER_ELF_LOADER_H_
