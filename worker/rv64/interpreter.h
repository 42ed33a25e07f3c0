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
#include <memory>
#include <string>

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

namespace jit {
class Jit;
}

class Interpreter {
 public:
  struct Options {
    // Translate basic blocks of the integer subset to x86-64 (jit/jit.h);
    // everything else still runs here. Falls back to interpreting alone
    // (jit_error() says why) when the host refuses executable memory.
    bool jit = false;
  };

  Interpreter(mmu::AddressSpace* as, CpuState* cpu)
      : Interpreter(as, cpu, Options()) {}
  Interpreter(mmu::AddressSpace* as, CpuState* cpu, Options options);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Runs from cpu->pc until a stop, or until cpu->instret >= instret_limit:
  // through the JIT when it is on, else RunInterpreted.
  Stop Run(uint64_t instret_limit);
  // The interpreter alone (the JIT calls it for what it does not
  // translate). Same contract as Run.
  Stop RunInterpreted(uint64_t instret_limit);

  // The syscall layer calls this for ranges whose mapping it changed
  // (munmap, mmap MAP_FIXED over, mprotect, madvise, mremap, brk shrink).
  void InvalidateCode(mmu::GuestAddr start, mmu::GuestAddr end) {
    code_.Invalidate(start, end);
  }
  // riscv_flush_icache(2): drop every decoded page.
  void FlushCode() { code_.InvalidateAll(); }
  const DecodeCache& code() const { return code_; }
  DecodeCache& mutable_code() { return code_; }
  const Options& options() const { return options_; }
  // The JIT, when on and working (nullptr otherwise).
  const jit::Jit* jit() const { return jit_.get(); }
  const std::string& jit_error() const { return jit_error_; }
  mmu::AddressSpace* address_space() const { return as_; }
  CpuState* cpu() const { return cpu_; }

 private:
  // Zicsr: false if the CSR or the access is illegal.
  bool ExecCsr(const Insn& insn, uint64_t instret);

  mmu::AddressSpace* const as_;
  CpuState* const cpu_;
  const Options options_;
  DecodeCache code_;
  // Declared after code_: it registers with the decode cache and must go
  // first.
  std::unique_ptr<jit::Jit> jit_;
  std::string jit_error_;
};

}  // namespace memmgr::rv64

#endif  // MEMMGR_WORKER_RV64_INTERPRETER_H_
