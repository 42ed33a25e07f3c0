#include "worker/rv64/jit/jit.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "worker/rv64/alu.h"
#include "worker/rv64/decode_cache.h"
#include "worker/rv64/jit/x86_emitter.h"

namespace memmgr::rv64::jit {
namespace {

using mmu::GuestAddr;

// Register roles in generated code. The four pinned ones are callee-saved
// in the SysV ABI, so C++ helpers called from blocks preserve them; the
// scratch registers (rax, rcx, rdx, rsi, rdi) hold nothing across a guest
// instruction.
constexpr HostReg kCpu = RBX;  // CpuState*
constexpr HostReg kCtx = R12;  // JitContext*
constexpr HostReg kTlb = R13;  // &SoftTlb's table pointer (TlbLayout::table)

// Exit codes of the entry trampoline.
constexpr uint32_t kExitNext = 0;   // continue at cpu.pc (Run decides)
constexpr uint32_t kExitFault = 1;  // ctx.fault; cpu.pc at the instruction

constexpr int32_t kPcOff = static_cast<int32_t>(offsetof(CpuState, pc));
constexpr int32_t kInstretOff =
    static_cast<int32_t>(offsetof(CpuState, instret));
constexpr int32_t kLimitOff =
    static_cast<int32_t>(offsetof(JitContext, instret_limit));
constexpr int32_t kJumpCacheOff =
    static_cast<int32_t>(offsetof(JitContext, jump_cache));

// The largest block's code: a load or store is ~110 bytes with its slow
// path, so 64 instructions fit well within this.
constexpr size_t kMaxBlockBytes = 16 << 10;

Mem X(int reg) { return Mem{kCpu, 8 * reg}; }
Mem Instret() { return Mem{kCpu, kInstretOff}; }

// ---- helpers called from generated code (SysV ABI) ----

// Returned in rax:rdx.
struct LoadResult {
  uint64_t value;
  uint64_t ok;
};

template <typename T>
LoadResult LoadSlow(JitContext* ctx, uint64_t va) {
  T v;
  if (!ctx->as->ReadSlow<T>(va, &v, &ctx->fault)) return {0, 0};
  // T's signedness gives the RISC-V extension (lb vs lbu, ...).
  return {static_cast<uint64_t>(static_cast<int64_t>(v)), 1};
}
template <>
LoadResult LoadSlow<uint64_t>(JitContext* ctx, uint64_t va) {
  uint64_t v;
  if (!ctx->as->ReadSlow<uint64_t>(va, &v, &ctx->fault)) return {0, 0};
  return {v, 1};
}
template <typename T>
uint64_t StoreSlow(JitContext* ctx, uint64_t va, uint64_t value) {
  return ctx->as->WriteSlow<T>(va, static_cast<T>(value), &ctx->fault) ? 1 : 0;
}

uint64_t HelperMulhsu(uint64_t a, uint64_t b) { return Mulhsu(a, b); }
uint64_t HelperDiv(uint64_t a, uint64_t b) { return Div(a, b); }
uint64_t HelperDivu(uint64_t a, uint64_t b) { return Divu(a, b); }
uint64_t HelperRem(uint64_t a, uint64_t b) { return Rem(a, b); }
uint64_t HelperRemu(uint64_t a, uint64_t b) { return Remu(a, b); }
uint64_t HelperDivw(uint64_t a, uint64_t b) { return Divw(a, b); }
uint64_t HelperDivuw(uint64_t a, uint64_t b) { return Divuw(a, b); }
uint64_t HelperRemw(uint64_t a, uint64_t b) { return Remw(a, b); }
uint64_t HelperRemuw(uint64_t a, uint64_t b) { return Remuw(a, b); }

template <typename F>
uint64_t FnAddr(F* f) {
  return reinterpret_cast<uint64_t>(f);
}

struct MemOp {
  int size;        // bytes
  bool is_signed;  // loads: sign-extend
  bool is_store;
  uint64_t helper;  // the slow path
};

bool MemOpFor(Op op, MemOp* m) {
  switch (op) {
    case Op::kLb:
      *m = {1, true, false, FnAddr(&LoadSlow<int8_t>)};
      return true;
    case Op::kLh:
      *m = {2, true, false, FnAddr(&LoadSlow<int16_t>)};
      return true;
    case Op::kLw:
      *m = {4, true, false, FnAddr(&LoadSlow<int32_t>)};
      return true;
    case Op::kLd:
      *m = {8, false, false, FnAddr(&LoadSlow<uint64_t>)};
      return true;
    case Op::kLbu:
      *m = {1, false, false, FnAddr(&LoadSlow<uint8_t>)};
      return true;
    case Op::kLhu:
      *m = {2, false, false, FnAddr(&LoadSlow<uint16_t>)};
      return true;
    case Op::kLwu:
      *m = {4, false, false, FnAddr(&LoadSlow<uint32_t>)};
      return true;
    case Op::kSb:
      *m = {1, false, true, FnAddr(&StoreSlow<uint8_t>)};
      return true;
    case Op::kSh:
      *m = {2, false, true, FnAddr(&StoreSlow<uint16_t>)};
      return true;
    case Op::kSw:
      *m = {4, false, true, FnAddr(&StoreSlow<uint32_t>)};
      return true;
    case Op::kSd:
      *m = {8, false, true, FnAddr(&StoreSlow<uint64_t>)};
      return true;
    default:
      return false;
  }
}

uint64_t DivHelperFor(Op op) {
  switch (op) {
    case Op::kMulhsu:
      return FnAddr(&HelperMulhsu);
    case Op::kDiv:
      return FnAddr(&HelperDiv);
    case Op::kDivu:
      return FnAddr(&HelperDivu);
    case Op::kRem:
      return FnAddr(&HelperRem);
    case Op::kRemu:
      return FnAddr(&HelperRemu);
    case Op::kDivw:
      return FnAddr(&HelperDivw);
    case Op::kDivuw:
      return FnAddr(&HelperDivuw);
    case Op::kRemw:
      return FnAddr(&HelperRemw);
    case Op::kRemuw:
      return FnAddr(&HelperRemuw);
    default:
      return 0;
  }
}

// Out-of-line code of one block, emitted after its straight-line body so
// the common path falls through.
struct Pending {
  enum Kind { kTakenBranch, kSlowMem } kind;
  X86Emitter::Label from;
  uint32_t retired;  // instructions to add to instret on this exit
  uint64_t pc;       // kTakenBranch: target; kSlowMem: the instruction's pc
  Insn insn;         // kSlowMem
  MemOp mem;         // kSlowMem
  size_t done = 0;   // kSlowMem: offset to continue at
};

class BlockEmitter {
 public:
  BlockEmitter(X86Emitter* e, uintptr_t dispatch, uintptr_t exit,
               int32_t mask_disp, int32_t hits_disp)
      : e_(*e),
        dispatch_(dispatch),
        exit_(exit),
        mask_disp_(mask_disp),
        hits_disp_(hits_disp) {}

  // Emits `in` at `pc`, the block's instruction number `index`. False if
  // the JIT does not translate it (nothing emitted). *ends: the block ends
  // after it (an unconditional jump, which emitted its own exit).
  bool Emit(const Insn& in, uint64_t pc, uint32_t index, bool* ends);

  // Leaves the block for `next`, with `retired` instructions retired.
  void ExitTo(uint64_t next, uint32_t retired) {
    e_.AluMI(kAdd, Instret(), static_cast<int32_t>(retired));
    e_.MovImm(RAX, next);
    e_.Jmp(dispatch_);
  }
  void EmitPending();

 private:
  void Load(HostReg dst, int reg) { e_.Load64(dst, X(reg)); }
  void Store(int reg, HostReg src) { e_.Store64(X(reg), src); }
  void EmitMem(const Insn& in, uint64_t pc, uint32_t index, const MemOp& m);

  X86Emitter& e_;
  const uintptr_t dispatch_;
  const uintptr_t exit_;
  const int32_t mask_disp_;
  const int32_t hits_disp_;
  std::vector<Pending> pending_;
};

// The soft-TLB probe of AddressSpace::TryReadFast/TryWriteFast, inline:
//   e = table[(va >> 12) & mask]
//   hit = (e.tag & (kPageMask | perm)) == ((va & (kPageMask | size-1)) | perm)
//   host = va + e.addend
// va in rsi; on a hit rsi = the host address. The slow path gets va in rsi
// untouched.
void BlockEmitter::EmitMem(const Insn& in, uint64_t pc, uint32_t index,
                           const MemOp& m) {
  const int32_t page_mask = static_cast<int32_t>(mmu::kPageMask);  // -4096
  const int32_t perm = static_cast<int32_t>(m.is_store ? mmu::SoftTlb::kWrite
                                                       : mmu::SoftTlb::kRead);
  Load(RSI, in.rs1);
  if (in.imm != 0) e_.AluRI(kAdd, RSI, in.imm);
  e_.MovRR(RAX, RSI);
  e_.ShiftRI(kShr, RAX, mmu::kPageShift);
  e_.AluRM(kAnd, RAX, Mem{kTlb, mask_disp_});
  e_.ShiftRI(kShl, RAX, 4);  // sizeof(SoftTlb::Entry)
  e_.AluRM(kAdd, RAX, Mem{kTlb, 0});
  e_.MovRR(RDX, RSI);
  e_.AluRI(kAnd, RDX, page_mask | (m.size - 1));
  e_.AluRI(kOr, RDX, perm);
  e_.Load64(RCX, Mem{RAX, 0});
  e_.AluRI(kAnd, RCX, page_mask | perm);
  e_.AluRR(kCmp, RCX, RDX);
  Pending p{Pending::kSlowMem, e_.JccForward(kNe), index, pc, in, m};
  e_.AluRM(kAdd, RSI, Mem{RAX, 8});
  const Mem host{RSI, 0};
  if (m.is_store) {
    Load(RCX, in.rs2);
    switch (m.size) {
      case 1:
        e_.Store8(host, RCX);
        break;
      case 2:
        e_.Store16(host, RCX);
        break;
      case 4:
        e_.Store32(host, RCX);
        break;
      default:
        e_.Store64(host, RCX);
        break;
    }
  } else {
    switch (m.size * (m.is_signed ? -1 : 1)) {
      case 1:
        e_.LoadZx8(RAX, host);
        break;
      case -1:
        e_.LoadSx8(RAX, host);
        break;
      case 2:
        e_.LoadZx16(RAX, host);
        break;
      case -2:
        e_.LoadSx16(RAX, host);
        break;
      case 4:
        e_.LoadZx32(RAX, host);
        break;
      case -4:
        e_.LoadSx32(RAX, host);
        break;
      default:
        e_.Load64(RAX, host);
        break;
    }
    Store(in.rd, RAX);
  }
  // Count the hit like TryReadFast: the TLB's resize heuristic and --stats
  // depend on it.
  e_.IncM(Mem{kTlb, hits_disp_});
  p.done = e_.size();
  pending_.push_back(p);
}

bool BlockEmitter::Emit(const Insn& in, uint64_t pc, uint32_t index,
                        bool* ends) {
  *ends = false;
  const int rd = in.rd, rs1 = in.rs1, rs2 = in.rs2;
  const int32_t imm = in.imm;
  // rd = rs1 op rs2 (w = 0: 32-bit op, result sign-extended).
  auto alu_rr = [&](Alu op, int w) {
    Load(RAX, rs1);
    e_.AluRM(op, RAX, X(rs2), w);
    if (w == 0) e_.Movsxd(RAX, RAX);
    Store(rd, RAX);
  };
  auto alu_ri = [&](Alu op, int w) {
    Load(RAX, rs1);
    e_.AluRI(op, RAX, imm, w);
    if (w == 0) e_.Movsxd(RAX, RAX);
    Store(rd, RAX);
  };
  auto set_rr = [&](Cond cc) {
    Load(RAX, rs1);
    e_.AluRM(kCmp, RAX, X(rs2));
    e_.Setcc(cc, RCX);
    e_.MovzxRR8(RCX, RCX);
    Store(rd, RCX);
  };
  auto set_ri = [&](Cond cc) {
    Load(RAX, rs1);
    e_.AluRI(kCmp, RAX, imm);
    e_.Setcc(cc, RCX);
    e_.MovzxRR8(RCX, RCX);
    Store(rd, RCX);
  };
  auto shift_ri = [&](Shift op, int w) {
    Load(RAX, rs1);
    e_.ShiftRI(op, RAX, static_cast<uint8_t>(imm & (w ? 63 : 31)), w);
    if (w == 0) e_.Movsxd(RAX, RAX);
    Store(rd, RAX);
  };
  auto shift_rr = [&](Shift op, int w) {
    Load(RCX, rs2);
    Load(RAX, rs1);
    e_.ShiftRCl(op, RAX, w);
    if (w == 0) e_.Movsxd(RAX, RAX);
    Store(rd, RAX);
  };
  auto branch = [&](Cond cc) {
    Load(RAX, rs1);
    e_.AluRM(kCmp, RAX, X(rs2));
    pending_.push_back(Pending{Pending::kTakenBranch, e_.JccForward(cc),
                               index + 1, pc + static_cast<int64_t>(imm), in,
                               MemOp{}});
  };
  MemOp m;
  if (MemOpFor(in.op, &m)) {
    EmitMem(in, pc, index, m);
    return true;
  }
  switch (in.op) {
    case Op::kLui:
    case Op::kLi:
      e_.StoreImm64(X(rd), imm);
      return true;
    case Op::kAuipc:
      e_.MovImm(RAX, pc + static_cast<int64_t>(imm));
      Store(rd, RAX);
      return true;
    case Op::kMv:
      Load(RAX, rs2);
      Store(rd, RAX);
      return true;
    case Op::kAddi:
      alu_ri(kAdd, 1);
      return true;
    case Op::kXori:
      alu_ri(kXor, 1);
      return true;
    case Op::kOri:
      alu_ri(kOr, 1);
      return true;
    case Op::kAndi:
      alu_ri(kAnd, 1);
      return true;
    case Op::kSlti:
      set_ri(kL);
      return true;
    case Op::kSltiu:
      set_ri(kB);
      return true;
    case Op::kSlli:
      shift_ri(kShl, 1);
      return true;
    case Op::kSrli:
      shift_ri(kShr, 1);
      return true;
    case Op::kSrai:
      shift_ri(kSar, 1);
      return true;
    case Op::kAdd:
      alu_rr(kAdd, 1);
      return true;
    case Op::kSub:
      alu_rr(kSub, 1);
      return true;
    case Op::kXor:
      alu_rr(kXor, 1);
      return true;
    case Op::kOr:
      alu_rr(kOr, 1);
      return true;
    case Op::kAnd:
      alu_rr(kAnd, 1);
      return true;
    case Op::kSlt:
      set_rr(kL);
      return true;
    case Op::kSltu:
      set_rr(kB);
      return true;
    case Op::kSll:
      shift_rr(kShl, 1);
      return true;
    case Op::kSrl:
      shift_rr(kShr, 1);
      return true;
    case Op::kSra:
      shift_rr(kSar, 1);
      return true;
    case Op::kAddiw:
      alu_ri(kAdd, 0);
      return true;
    case Op::kSlliw:
      shift_ri(kShl, 0);
      return true;
    case Op::kSrliw:
      shift_ri(kShr, 0);
      return true;
    case Op::kSraiw:
      shift_ri(kSar, 0);
      return true;
    case Op::kAddw:
      alu_rr(kAdd, 0);
      return true;
    case Op::kSubw:
      alu_rr(kSub, 0);
      return true;
    case Op::kSllw:
      shift_rr(kShl, 0);
      return true;
    case Op::kSrlw:
      shift_rr(kShr, 0);
      return true;
    case Op::kSraw:
      shift_rr(kSar, 0);
      return true;
    case Op::kFence:
      // One hart per address space: it sees its own accesses in order.
      return true;
    case Op::kMul:
    case Op::kMulw: {
      const int w = in.op == Op::kMul ? 1 : 0;
      Load(RAX, rs1);
      Load(RCX, rs2);
      e_.ImulRR(RAX, RCX, w);
      if (w == 0) e_.Movsxd(RAX, RAX);
      Store(rd, RAX);
      return true;
    }
    case Op::kMulh:
    case Op::kMulhu:
      Load(RAX, rs1);
      Load(RCX, rs2);
      e_.MulWide(RCX, in.op == Op::kMulh);
      Store(rd, RDX);
      return true;
    case Op::kMulhsu:
    case Op::kDiv:
    case Op::kDivu:
    case Op::kRem:
    case Op::kRemu:
    case Op::kDivw:
    case Op::kDivuw:
    case Op::kRemw:
    case Op::kRemuw:
      // Out of line: RISC-V's no-trap division semantics (alu.h) would be
      // a dozen host instructions around a div that costs tens of cycles.
      Load(RDI, rs1);
      Load(RSI, rs2);
      e_.MovImm(RAX, DivHelperFor(in.op));
      e_.CallR(RAX);
      Store(rd, RAX);
      return true;
    case Op::kBeq:
      branch(kE);
      return true;
    case Op::kBne:
      branch(kNe);
      return true;
    case Op::kBlt:
      branch(kL);
      return true;
    case Op::kBge:
      branch(kGe);
      return true;
    case Op::kBltu:
      branch(kB);
      return true;
    case Op::kBgeu:
      branch(kAe);
      return true;
    case Op::kJal:
      e_.MovImm(RCX, pc + in.len);
      Store(rd, RCX);
      [[fallthrough]];
    case Op::kJ:
      ExitTo(pc + static_cast<int64_t>(imm), index + 1);
      *ends = true;
      return true;
    case Op::kJalr:
      // The target is computed before rd is written (rd may be rs1).
      Load(RAX, rs1);
      if (imm != 0) e_.AluRI(kAdd, RAX, imm);
      e_.AluRI(kAnd, RAX, -2);
      e_.MovImm(RCX, pc + in.len);
      Store(rd, RCX);
      e_.AluMI(kAdd, Instret(), static_cast<int32_t>(index + 1));
      e_.Jmp(dispatch_);
      *ends = true;
      return true;
    default:
      return false;
  }
}

void BlockEmitter::EmitPending() {
  for (const Pending& p : pending_) {
    e_.Bind(p.from);
    if (p.kind == Pending::kTakenBranch) {
      ExitTo(p.pc, p.retired);
      continue;
    }
    // Slow path: rsi = va. The helper may fault (then leave the block with
    // the instruction not retired), may resize or flush the TLB (the fast
    // path reloads table and mask every time), and may drop decoded pages,
    // this block's included (its code stays valid until Run resets the
    // buffer).
    e_.MovRR(RDI, kCtx);
    if (p.mem.is_store) Load(RDX, p.insn.rs2);
    e_.MovImm(RAX, p.mem.helper);
    e_.CallR(RAX);
    X86Emitter::Label fault;
    if (p.mem.is_store) {
      e_.TestRR(RAX, RAX);
      fault = e_.JccForward(kE);
    } else {
      e_.TestRR(RDX, RDX);
      fault = e_.JccForward(kE);
      Store(p.insn.rd, RAX);
    }
    e_.Jmp(e_.exec_address(p.done));
    e_.Bind(fault);
    if (p.retired != 0) {
      e_.AluMI(kAdd, Instret(), static_cast<int32_t>(p.retired));
    }
    e_.MovImm(RAX, p.pc);
    e_.Store64(Mem{kCpu, kPcOff}, RAX);
    e_.MovImm(RAX, kExitFault);
    e_.Jmp(exit_);
  }
  pending_.clear();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Jit>> Jit::Create(Interpreter* interp,
                                                 size_t buffer_bytes) {
  TlbLayout layout;
  if (!TlbLayout::Resolve(interp->address_space(), &layout)) {
    return absl::UnavailableError("jit: unexpected soft TLB layout");
  }
  // Generated code reaches the mask and the hit counter at fixed
  // displacements from the table pointer's address.
  const auto base = reinterpret_cast<intptr_t>(layout.table);
  const intptr_t mask_disp = reinterpret_cast<intptr_t>(layout.mask) - base;
  const intptr_t hits_disp = reinterpret_cast<intptr_t>(layout.hits) - base;
  if (mask_disp != static_cast<int32_t>(mask_disp) ||
      hits_disp != static_cast<int32_t>(hits_disp)) {
    return absl::UnavailableError("jit: soft TLB fields too far apart");
  }
  absl::StatusOr<std::unique_ptr<CodeBuffer>> buffer =
      CodeBuffer::Create(buffer_bytes);
  if (!buffer.ok()) return buffer.status();
  std::unique_ptr<Jit> jit(new Jit(interp, *std::move(buffer), layout));
  jit->EmitStubs();
  return jit;
}

Jit::Jit(Interpreter* interp, std::unique_ptr<CodeBuffer> buffer,
         TlbLayout layout)
    : interp_(interp),
      cpu_(interp->cpu()),
      buffer_(std::move(buffer)),
      tlb_(layout),
      ctx_(std::make_unique<JitContext>()) {
  ctx_->as = interp->address_space();
  interp_->mutable_code().SetDropObserver(&Jit::OnDrop, this);
}

Jit::~Jit() { interp_->mutable_code().SetDropObserver(nullptr, nullptr); }

// The permanent stubs at the start of the buffer:
//   enter(cpu, ctx, code, tlb_table_ptr): saves the callee-saved registers,
//     loads the pinned ones and jumps to `code`;
//   exit: eax = exit code; restores and returns from enter;
//   dispatch: rax = next guest pc, instret already counted: stores pc,
//     checks the limit, and jumps to the next block if the jump cache has
//     it, else exits with kExitNext.
void Jit::EmitStubs() {
  X86Emitter e(buffer_->write_ptr(), buffer_->exec_ptr(),
               buffer_->free_bytes());
  const uintptr_t enter = e.exec_address();
  e.Push(RBX);
  e.Push(RBP);
  e.Push(R12);
  e.Push(R13);
  e.Push(R14);
  e.Push(R15);
  e.AluRI(kSub, RSP, 8);  // 16-byte aligned at calls from blocks
  e.MovRR(kCpu, RDI);
  e.MovRR(kCtx, RSI);
  e.MovRR(kTlb, RCX);
  e.JmpR(RDX);

  const size_t exit_off = e.size();
  e.AluRI(kAdd, RSP, 8);
  e.Pop(R15);
  e.Pop(R14);
  e.Pop(R13);
  e.Pop(R12);
  e.Pop(RBP);
  e.Pop(RBX);
  e.Ret();

  const size_t dispatch_off = e.size();
  e.Store64(Mem{kCpu, kPcOff}, RAX);
  e.Load64(RCX, Mem{kCpu, kInstretOff});
  e.AluRM(kCmp, RCX, Mem{kCtx, kLimitOff});
  X86Emitter::Label at_limit = e.JccForward(kAe);
  e.MovRR32(RCX, RAX);
  e.ShiftRI(kShr, RCX, 1, 0);
  e.AluRI(kAnd, RCX, JitContext::kJumpCacheSize - 1, 0);
  e.ShiftRI(kShl, RCX, 4, 0);  // sizeof(JumpCacheEntry)
  e.AluRR(kAdd, RCX, kCtx);
  e.AluRM(kCmp, RAX, Mem{RCX, kJumpCacheOff});
  X86Emitter::Label miss = e.JccForward(kNe);
  e.JmpM(Mem{RCX, kJumpCacheOff + 8});
  e.Bind(at_limit);
  e.Bind(miss);
  e.MovImm(RAX, kExitNext);
  e.Jmp(e.exec_address(exit_off));

  // The stubs are a few hundred bytes in a buffer of megabytes.
  buffer_->Commit(e.size());
  buffer_->Pin();
  enter_ = reinterpret_cast<EnterFn>(enter);
  exit_stub_ = e.exec_address(exit_off);
  dispatch_stub_ = e.exec_address(dispatch_off);
}

void Jit::OnDrop(void* self, GuestAddr page) {
  auto* jit = static_cast<Jit*>(self);
  if (page == DecodeCache::kAllPages) {
    jit->DropAll();
  } else {
    jit->DropPage(page);
  }
}

void Jit::DropPage(GuestAddr page) {
  auto it = page_blocks_.find(page);
  if (it == page_blocks_.end()) return;
  for (uint64_t pc : it->second) {
    JitContext::JumpCacheEntry& j =
        ctx_->jump_cache[(pc >> 1) & (JitContext::kJumpCacheSize - 1)];
    if (j.pc == pc) j = JitContext::JumpCacheEntry();
    blocks_.erase(pc);
    ++stats_.blocks_dropped;
  }
  page_blocks_.erase(it);
}

void Jit::DropAll() {
  stats_.blocks_dropped += blocks_.size();
  blocks_.clear();
  page_blocks_.clear();
  std::fill(std::begin(ctx_->jump_cache), std::end(ctx_->jump_cache),
            JitContext::JumpCacheEntry());
}

void Jit::ResetBuffer() {
  DropAll();
  buffer_->Reset();
  ++stats_.buffer_resets;
}

uintptr_t Jit::Translate(uint64_t pc, bool* overflow) {
  *overflow = false;
  DecodeCache& code = interp_->mutable_code();
  mmu::Fault fault;
  DecodedPage* page = code.Lookup(pc, &fault);
  if (page == nullptr) return 0;
  X86Emitter e(buffer_->write_ptr(), buffer_->exec_ptr(),
               std::min(buffer_->free_bytes(), kMaxBlockBytes));
  const auto base = reinterpret_cast<intptr_t>(tlb_.table);
  BlockEmitter b(
      &e, dispatch_stub_, exit_stub_,
      static_cast<int32_t>(reinterpret_cast<intptr_t>(tlb_.mask) - base),
      static_cast<int32_t>(reinterpret_cast<intptr_t>(tlb_.hits) - base));
  const uintptr_t entry = e.exec_address();
  uint64_t cur = pc;
  uint32_t n = 0;
  bool ended = false;
  while (n < static_cast<uint32_t>(kMaxBlockInsns)) {
    // Past the page's last slot are kPageEnd sentinels.
    Insn* slot = &page->slots[(cur - page->va) >> 1];
    // A fetch fault ends the block: the interpreter reports it.
    if (slot->op == Op::kDecode && !code.DecodeSlot(page, cur, &fault)) break;
    const Insn in = *slot;
    if (in.op == Op::kPageEnd) break;
    if (!b.Emit(in, cur, n, &ended)) break;
    ++n;
    cur += in.len;
    if (ended) break;
  }
  if (n == 0) return 0;
  if (!ended) b.ExitTo(cur, n);
  b.EmitPending();
  if (e.overflowed()) {
    *overflow = true;
    return 0;
  }
  buffer_->Commit(e.size());
  ++stats_.blocks_translated;
  stats_.guest_insns_translated += n;
  return entry;
}

const Jit::Block* Jit::FindOrTranslate(uint64_t pc) {
  if (auto it = blocks_.find(pc); it != blocks_.end()) return &it->second;
  {
    // Not cached for a page that cannot be fetched: that is a fault the
    // interpreter reports, and the page may become executable later.
    mmu::Fault fault;
    if (interp_->mutable_code().Lookup(pc, &fault) == nullptr) return nullptr;
  }
  bool overflow;
  uintptr_t code = Translate(pc, &overflow);
  if (overflow) {
    // Full: start over (no block is running now), then once more.
    ResetBuffer();
    code = Translate(pc, &overflow);
    if (overflow) code = 0;
  }
  Block& b = blocks_[pc];
  b.code = code;
  page_blocks_[mmu::PageDown(pc)].push_back(pc);
  if (code != 0) {
    ctx_->jump_cache[(pc >> 1) & (JitContext::kJumpCacheSize - 1)] = {pc, code};
  }
  return &b;
}

Stop Jit::Run(uint64_t instret_limit) {
  CpuState* const s = cpu_;
  ctx_->instret_limit = instret_limit;
  for (;;) {
    // No block is running and nothing holds a decoded page.
    interp_->mutable_code().ReleaseRetired();
    if (s->instret >= instret_limit) return Stop{};  // kLimit
    const Block* b = FindOrTranslate(s->pc);
    if (b != nullptr && b->code != 0) {
      ++stats_.block_entries;
      const uint32_t r = enter_(s, ctx_.get(), b->code, tlb_.table);
      if (r == kExitFault) {
        // As the interpreter's trap: the reservation does not survive.
        s->reservation = kNoReservation;
        Stop stop;
        stop.reason = StopReason::kFault;
        stop.fault = ctx_->fault;
        return stop;
      }
      continue;
    }
    // Not translated (or not fetchable): the interpreter runs it, up to
    // its next taken jump or page crossing.
    ++stats_.interpreted_runs;
    const Stop stop =
        interp_->RunInterpreted(std::min(instret_limit, s->instret + 1));
    if (stop.reason != StopReason::kLimit) return stop;
  }
}

}  // namespace memmgr::rv64::jit
