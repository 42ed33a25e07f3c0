// Jit: a template JIT from RV64 basic blocks to x86-64, in front of the
// interpreter.
//
// A block is a straight run of decoded instructions (DecodeCache slots) from
// one guest code page, up to kMaxBlockInsns, continuing through not-taken
// conditional branches (side exits) and ending at a jump, the page end, or
// the first instruction the JIT does not translate. Translated: RV64I
// integer ALU, lui/auipc, loads and stores, branches, jal/jalr, and M.
// Everything else (F/D, A, CSRs, ecall, ebreak, fence.i, illegal) is left to
// Interpreter::RunInterpreted, which runs from that instruction to its next
// taken jump.
//
// Generated code (register roles, see jit.cc): guest registers stay in
// CpuState::x; every load and store does the soft TLB's hit check inline
// (exactly TryReadFast/TryWriteFast: table and mask reloaded from the
// SoftTlb on every access, so resizing is safe) and calls
// AddressSpace::ReadSlow/WriteSlow on a miss. A fault leaves the block with
// pc at the faulting instruction and instret counting exactly the
// instructions before it: the same Stop the interpreter gives.
//
// Dispatch: every block exit stores the next pc, adds the instructions it
// retired to cpu.instret, checks instret_limit and probes a direct-mapped
// jump cache (guest pc -> host code) inline; a hit jumps straight to the
// next block, anything else returns to Run(). The limit is thus checked at
// every block boundary: Run may overshoot it by at most one block.
//
// Coherence: blocks are derived from DecodedPages and die with them (the
// DecodeCache's drop observer): a write to a code page, fence.i,
// riscv_flush_icache and the syscall layer's InvalidateCode all reach it.
// A dropped block's code stays in the buffer (it may be the one running,
// e.g. the store that dropped it) until the buffer is reset, which happens
// only in Run() between blocks.
//
// Host safety: generated code touches only CpuState, the JitContext, the
// SoftTlb's table and counter, and guest memory through a TLB hit (an
// aligned access inside one page of the pool's arena, the MMU's own
// argument); it jumps only to code in its own buffer or to the fixed C++
// helpers below.
//
// Thread-safety: not thread-safe; owned by one Interpreter.
#ifndef MEMMGR_WORKER_RV64_JIT_JIT_H_
#define MEMMGR_WORKER_RV64_JIT_JIT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "worker/mmu/address_space.h"
#include "worker/rv64/cpu_state.h"
#include "worker/rv64/interpreter.h"
#include "worker/rv64/jit/code_buffer.h"
#include "worker/rv64/jit/tlb_layout.h"

namespace memmgr::rv64::jit {

// What generated code reads and writes besides CpuState (its address is in
// a host register while blocks run).
struct JitContext {
  static constexpr int kJumpCacheSize = 4096;  // power of two
  struct JumpCacheEntry {
    uint64_t pc = 1;  // odd: never a guest pc (invalid)
    uintptr_t code = 0;
  };
  uint64_t instret_limit = 0;
  mmu::AddressSpace* as = nullptr;
  mmu::Fault fault;  // filled by a slow-path helper that faults
  JumpCacheEntry jump_cache[kJumpCacheSize];
};

class Jit {
 public:
  static constexpr int kMaxBlockInsns = 64;
  static constexpr size_t kDefaultBufferBytes = 16 << 20;

  // UNAVAILABLE when the host gives no executable memory or the MMU's
  // layout is not the expected one.
  static absl::StatusOr<std::unique_ptr<Jit>> Create(
      Interpreter* interp, size_t buffer_bytes = kDefaultBufferBytes);
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  // Interpreter::Run's contract.
  Stop Run(uint64_t instret_limit);

  struct Stats {
    uint64_t blocks_translated = 0;
    uint64_t guest_insns_translated = 0;
    uint64_t block_entries = 0;     // entries from Run (not via jump cache)
    uint64_t interpreted_runs = 0;  // RunInterpreted calls
    uint64_t buffer_resets = 0;
    uint64_t blocks_dropped = 0;
  };
  const Stats& stats() const { return stats_; }
  size_t code_bytes_used() const { return buffer_->used(); }

 private:
  // A translation result: host code, or nullptr = interpret from here.
  struct Block {
    uintptr_t code = 0;
  };
  using EnterFn = uint32_t (*)(CpuState* cpu, JitContext* ctx, uintptr_t code,
                               mmu::SoftTlb::Entry* const* tlb_table);

  Jit(Interpreter* interp, std::unique_ptr<CodeBuffer> buffer,
      TlbLayout layout);
  void EmitStubs();
  // The block at `pc` (translating it); nullptr if `pc` cannot be fetched
  // (the interpreter reports the fault).
  const Block* FindOrTranslate(uint64_t pc);
  // 0 = not translatable (interpret), else the host code address. Sets
  // *overflow if the buffer ran out.
  uintptr_t Translate(uint64_t pc, bool* overflow);
  void ResetBuffer();
  static void OnDrop(void* self, mmu::GuestAddr page);
  void DropPage(mmu::GuestAddr page);
  void DropAll();

  Interpreter* const interp_;
  CpuState* const cpu_;
  std::unique_ptr<CodeBuffer> buffer_;
  const TlbLayout tlb_;
  std::unique_ptr<JitContext> ctx_;
  EnterFn enter_ = nullptr;
  uintptr_t dispatch_stub_ = 0;  // rax = next pc
  uintptr_t exit_stub_ = 0;      // eax = exit code
  absl::flat_hash_map<uint64_t, Block> blocks_;
  // Guest page -> the block start pcs on it, for DropPage.
  absl::flat_hash_map<mmu::GuestAddr, std::vector<uint64_t>> page_blocks_;
  Stats stats_;
};

}  // namespace memmgr::rv64::jit

#endif  // MEMMGR_WORKER_RV64_JIT_JIT_H_
