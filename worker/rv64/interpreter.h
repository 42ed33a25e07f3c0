// Interpreter: runs one RV64GC hart over one AddressSpace.
//
// Pre-decoded, threaded dispatch: instructions come from the DecodeCache
// (decoded once per code page slot), each handler ends in its own indirect
// jump to the next handler (GCC computed goto), and every load, store and
// fetch goes through the AddressSpace's inline soft-TLB fast path. The pc is
// not stored per instruction: it is derived from the slot pointer when an
// instruction needs it (auipc, jumps, traps).
//
// Run() returns at the first event the caller must handle: an ecall (the
// syscall layer), ebreak, an illegal instruction, a memory fault, a
// misaligned atomic, or the instruction limit. The instruction limit is
// checked on every taken jump/branch and page crossing, so a guest can never
// run away; it may overshoot by at most one straight-line run of
// instructions inside one page.
//
// Thread-safety: not thread-safe. A sandbox's interpreter, CpuState and
// AddressSpace are used by one executor thread at a time.
#ifndef MEMMGR_WORKER_RV64_INTERPRETER_H_
#define MEMMGR_WORKER_RV64_INTERPRETER_H_

#include <cstdint>

#include "worker/mmu/address_space.h"
#include "worker/rv64/cpu_state.h"
#include "worker/rv64/decode_cache.h"

namespace memmgr::rv64 {

enum class StopReason : uint8_t {
  kEcall,       // retired: cpu.pc is past the ecall; handle a7 and resume
  kEbreak,      // cpu.pc at the ebreak (SIGTRAP)
  kIllegal,     // cpu.pc at the instruction (SIGILL)
  kFault,       // cpu.pc at the instruction, fault says why (SIGSEGV/KILL)
  kMisaligned,  // misaligned LR/SC/AMO (SIGBUS), cpu.pc at it
  kLimit,       // cpu.instret reached the limit; resumable
};
const char* StopReasonName(StopReason reason);

struct Stop {
  StopReason reason = StopReason::kLimit;
  mmu::Fault fault;        // kFault
  uint64_t address = 0;    // kMisaligned: the address
  uint32_t insn_word = 0;  // kIllegal: the raw instruction (16 or 32 bits)
  // The Linux signal a process would die of (0 for kEcall and kLimit).
  int Signal() const;
};

class Interpreter {
 public:
  Interpreter(mmu::AddressSpace* as, CpuState* cpu);
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Runs from cpu->pc until a stop, or until cpu->instret >= instret_limit.
  Stop Run(uint64_t instret_limit);

  // The syscall layer calls this for ranges whose mapping it changed
  // (munmap, mmap MAP_FIXED over, mprotect, madvise, mremap, brk shrink).
  void InvalidateCode(mmu::GuestAddr start, mmu::GuestAddr end) {
    code_.Invalidate(start, end);
  }
  // riscv_flush_icache(2): drop every decoded page.
  void FlushCode() { code_.InvalidateAll(); }
  const DecodeCache& code() const { return code_; }
  mmu::AddressSpace* address_space() const { return as_; }
  CpuState* cpu() const { return cpu_; }

 private:
  // Zicsr: false if the CSR or the access is illegal.
  bool ExecCsr(const Insn& insn, uint64_t instret);

  mmu::AddressSpace* const as_;
  CpuState* const cpu_;
  DecodeCache code_;
};

}  // namespace memmgr::rv64

#endif  // MEMMGR_WORKER_RV64_INTERPRETER_H_
