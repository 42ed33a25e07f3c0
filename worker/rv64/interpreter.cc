#include "worker/rv64/interpreter.h"

#include <time.h>

#include <cstdint>
#include <cstring>

#include "absl/base/optimization.h"
#include "worker/rv64/alu.h"
#include "worker/rv64/fpu.h"
#include "worker/rv64/jit/jit.h"

namespace memmgr::rv64 {
namespace {

using mmu::GuestAddr;

// CSR numbers (Zicsr, user level).
constexpr int kCsrFflags = 0x001;
constexpr int kCsrFrm = 0x002;
constexpr int kCsrFcsr = 0x003;
constexpr int kCsrCycle = 0xc00;
constexpr int kCsrTime = 0xc01;
constexpr int kCsrInstret = 0xc02;

// rdtime ticks at 10 MHz (a common RISC-V timebase-frequency).
uint64_t TimeCsr() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 10'000'000 +
         static_cast<uint64_t>(ts.tv_nsec) / 100;
}

// f registers: singles are NaN-boxed.
inline uint32_t S(uint64_t reg) { return fpu::Unbox32(reg); }
inline uint64_t BoxS(uint32_t v) { return fpu::Box32(v); }

}  // namespace

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kEcall:
      return "ecall";
    case StopReason::kEbreak:
      return "ebreak";
    case StopReason::kIllegal:
      return "illegal instruction";
    case StopReason::kFault:
      return "memory fault";
    case StopReason::kMisaligned:
      return "misaligned atomic access";
    case StopReason::kLimit:
      return "instruction limit";
  }
  return "?";
}

int Stop::Signal() const {
  switch (reason) {
    case StopReason::kEbreak:
      return 5;  // SIGTRAP
    case StopReason::kIllegal:
      return 4;  // SIGILL
    case StopReason::kFault:
      return fault.Signal();
    case StopReason::kMisaligned:
      return 7;  // SIGBUS
    case StopReason::kEcall:
    case StopReason::kLimit:
      return 0;
  }
  return 0;
}

Interpreter::Interpreter(mmu::AddressSpace* as, CpuState* cpu, Options options)
    : as_(as), cpu_(cpu), options_(options), code_(as) {
  if (options_.jit) {
    absl::StatusOr<std::unique_ptr<jit::Jit>> j = jit::Jit::Create(this);
    if (j.ok()) {
      jit_ = *std::move(j);
    } else {
      jit_error_ = j.status().ToString();
    }
  }
}

Interpreter::~Interpreter() = default;

Stop Interpreter::Run(uint64_t instret_limit) {
  if (jit_ != nullptr) return jit_->Run(instret_limit);
  return RunInterpreted(instret_limit);
}

bool Interpreter::ExecCsr(const Insn& insn, uint64_t instret) {
  CpuState& s = *cpu_;
  const int csr = insn.imm;
  const int funct3 = insn.rm;
  const bool imm_form = funct3 >= 5;
  const uint64_t operand = imm_form ? insn.rs1 : s.x[insn.rs1];
  // csrrs/csrrc with x0 / uimm 0 do not write (and so may read read-only
  // CSRs); csrrw always writes.
  const bool writes = (funct3 & 3) == 1 || insn.rs1 != 0;
  uint64_t old;
  switch (csr) {
    case kCsrFflags:
      old = s.fflags;
      break;
    case kCsrFrm:
      old = s.frm;
      break;
    case kCsrFcsr:
      old = (s.frm << 5) | s.fflags;
      break;
    case kCsrCycle:
    case kCsrInstret:
      if (writes) return false;
      old = instret;
      break;
    case kCsrTime:
      if (writes) return false;
      old = TimeCsr();
      break;
    default:
      return false;
  }
  if (writes) {
    uint64_t v;
    switch (funct3 & 3) {
      case 1:
        v = operand;
        break;
      case 2:
        v = old | operand;
        break;
      default:
        v = old & ~operand;
        break;
    }
    switch (csr) {
      case kCsrFflags:
        s.fflags = v & 0x1f;
        break;
      case kCsrFrm:
        s.frm = v & 7;
        break;
      case kCsrFcsr:
        s.fflags = v & 0x1f;
        s.frm = (v >> 5) & 7;
        break;
    }
  }
  s.x[insn.rd] = old;
  return true;
}

// The dispatch loop. Invariants while running:
//   page  - the decoded page the current instruction belongs to;
//   insn  - its slot; PC() derives the guest pc from the two;
//   icount - instructions retired so far (written back at every exit).
// Every exit path stores pc and instret back into the CpuState.
Stop Interpreter::RunInterpreted(uint64_t instret_limit) {
  // Two handlers per op, for 2- and 4-byte encodings (Insn::dispatch), so
  // each one steps to the next slot by a constant.
  static const void* const kLabels[] = {
#define MEMMGR_RV64_LABEL(name) &&op_##name##_2, &&op_##name##_4,
      MEMMGR_RV64_OPS(MEMMGR_RV64_LABEL)
#undef MEMMGR_RV64_LABEL
  };
  static_assert(sizeof(kLabels) / sizeof(kLabels[0]) ==
                2 * static_cast<size_t>(Op::kCount));

  CpuState* const s = cpu_;
  uint64_t* const x = s->x;
  uint64_t* const f = s->f;
  mmu::AddressSpace* const as = as_;
  const uint64_t limit = instret_limit;
  uint64_t icount = s->instret;
  DecodedPage* page = nullptr;
  const Insn* insn = nullptr;
  Stop stop;

#define PC() (page->va + (static_cast<uint64_t>(insn - page->slots) << 1))
#define DISPATCH() goto* kLabels[insn->dispatch]
  // Handlers are instantiated twice, with kLen = 2 and 4: stepping to the
  // next slot is then a constant add, not a load of insn->len that every
  // following instruction would wait for.
#define HANDLER(name, ...)                   \
  op_##name##_2 : {                          \
    [[maybe_unused]] constexpr int kLen = 2; \
    __VA_ARGS__                              \
  }                                          \
  op_##name##_4 : {                          \
    [[maybe_unused]] constexpr int kLen = 4; \
    __VA_ARGS__                              \
  }
#define NEXT()        \
  do {                \
    ++icount;         \
    insn += kLen / 2; \
    DISPATCH();       \
  } while (0)
  // A taken control transfer to `target`: the place the limit is checked.
#define JUMP(target_expr)                                         \
  do {                                                            \
    const uint64_t target_ = (target_expr);                       \
    ++icount;                                                     \
    if (ABSL_PREDICT_TRUE(mmu::PageDown(target_) == page->va &&   \
                          icount < limit)) {                      \
      insn = &page->slots[(target_ & mmu::kPageOffsetMask) >> 1]; \
      DISPATCH();                                                 \
    }                                                             \
    s->pc = target_;                                              \
    goto enter;                                                   \
  } while (0)
  // Loads and stores: the soft-TLB fast path inline; the slow path works
  // on its own temporary so the value itself never has its address taken
  // outside the inlined hit path (it stays in a register).
#define LOAD(T, expr) LOAD_INTO(T, x, expr)
#define LOAD_INTO(T, regs, expr)                                  \
  do {                                                            \
    const uint64_t va_ = x[insn->rs1] + insn->imm;                \
    T v_;                                                         \
    if (ABSL_PREDICT_FALSE(!as->TryReadFast<T>(va_, &v_))) {      \
      T slow_;                                                    \
      if (!as->ReadSlow<T>(va_, &slow_, &stop.fault)) goto fault; \
      v_ = slow_;                                                 \
    }                                                             \
    regs[insn->rd] = (expr);                                      \
    NEXT();                                                       \
  } while (0)
#define STORE_VALUE(T, va_expr, value_expr)                  \
  do {                                                       \
    const uint64_t va_ = (va_expr);                          \
    const T v_ = (value_expr);                               \
    if (ABSL_PREDICT_FALSE(!as->TryWriteFast<T>(va_, v_)) && \
        !as->WriteSlow<T>(va_, v_, &stop.fault)) {           \
      goto fault;                                            \
    }                                                        \
  } while (0)
#define STORE(T)                                                            \
  do {                                                                      \
    STORE_VALUE(T, x[insn->rs1] + insn->imm, static_cast<T>(x[insn->rs2])); \
    NEXT();                                                                 \
  } while (0)
#define RM()                                                     \
  const uint32_t rm = insn->rm == fpu::kDyn ? s->frm : insn->rm; \
  if (ABSL_PREDICT_FALSE(rm > fpu::kRmm)) goto illegal

enter:
  // Not holding a page: retired decode pages can go.
  code_.ReleaseRetired();
  if (ABSL_PREDICT_FALSE(icount >= limit)) {
    s->instret = icount;
    stop.reason = StopReason::kLimit;
    return stop;
  }
  page = code_.Lookup(s->pc, &stop.fault);
  if (ABSL_PREDICT_FALSE(page == nullptr)) {
    s->instret = icount;
    stop.reason = StopReason::kFault;
    return stop;
  }
  insn = &page->slots[(s->pc & mmu::kPageOffsetMask) >> 1];
  DISPATCH();

  HANDLER(Decode, if (!code_.DecodeSlot(page, PC(), &stop.fault)) goto fault;
          DISPATCH();)
  HANDLER(PageEnd, s->pc = PC(); goto enter;)
  HANDLER(Illegal, goto illegal;)
illegal:
  stop.reason = StopReason::kIllegal;
  // kIllegal and the FP ops keep the word in imm; a CSR op holds the CSR
  // number there, so rebuild its word (I-type, opcode SYSTEM).
  stop.insn_word = insn->op == Op::kCsr
                       ? (static_cast<uint32_t>(insn->imm) << 20) |
                             (static_cast<uint32_t>(insn->rs1) << 15) |
                             (static_cast<uint32_t>(insn->rm) << 12) |
                             ((insn->rd == kSinkReg ? 0u : insn->rd) << 7) |
                             0x73u
                       : static_cast<uint32_t>(insn->imm);
  goto trap;

  // ---- RV64I ----
  HANDLER(Lui,
          x[insn->rd] = static_cast<uint64_t>(static_cast<int64_t>(insn->imm));
          NEXT();)
  HANDLER(Auipc, x[insn->rd] = PC() + static_cast<int64_t>(insn->imm); NEXT();)
  HANDLER(Jal, {
    const uint64_t pc = PC();
    x[insn->rd] = pc + kLen;
    JUMP(pc + static_cast<int64_t>(insn->imm));
  })
  HANDLER(J, JUMP(PC() + static_cast<int64_t>(insn->imm));)
  HANDLER(Jalr, {
    const uint64_t target = (x[insn->rs1] + insn->imm) & ~uint64_t{1};
    x[insn->rd] = PC() + kLen;
    JUMP(target);
  })
#define BRANCH(cond)                                      \
  if (cond) JUMP(PC() + static_cast<int64_t>(insn->imm)); \
  NEXT()
  HANDLER(Beq, BRANCH(x[insn->rs1] == x[insn->rs2]);)
  HANDLER(Bne, BRANCH(x[insn->rs1] != x[insn->rs2]);)
  HANDLER(Blt, BRANCH(static_cast<int64_t>(x[insn->rs1]) <
                      static_cast<int64_t>(x[insn->rs2]));)
  HANDLER(Bge, BRANCH(static_cast<int64_t>(x[insn->rs1]) >=
                      static_cast<int64_t>(x[insn->rs2]));)
  HANDLER(Bltu, BRANCH(x[insn->rs1] < x[insn->rs2]);)
  HANDLER(Bgeu, BRANCH(x[insn->rs1] >= x[insn->rs2]);)
#undef BRANCH
  HANDLER(Lb, LOAD(int8_t, static_cast<uint64_t>(static_cast<int64_t>(v_)));)
  HANDLER(Lh, LOAD(int16_t, static_cast<uint64_t>(static_cast<int64_t>(v_)));)
  HANDLER(Lw, LOAD(int32_t, static_cast<uint64_t>(static_cast<int64_t>(v_)));)
  HANDLER(Ld, LOAD(uint64_t, v_);)
  HANDLER(Lbu, LOAD(uint8_t, v_);)
  HANDLER(Lhu, LOAD(uint16_t, v_);)
  HANDLER(Lwu, LOAD(uint32_t, v_);)
  HANDLER(Sb, STORE(uint8_t);)
  HANDLER(Sh, STORE(uint16_t);)
  HANDLER(Sw, STORE(uint32_t);)
  HANDLER(Sd, STORE(uint64_t);)
  HANDLER(Addi, x[insn->rd] = x[insn->rs1] + insn->imm; NEXT();)
  HANDLER(Li,
          x[insn->rd] = static_cast<uint64_t>(static_cast<int64_t>(insn->imm));
          NEXT();)
  HANDLER(Mv, x[insn->rd] = x[insn->rs2]; NEXT();)
  HANDLER(Slti, x[insn->rd] = static_cast<int64_t>(x[insn->rs1]) < insn->imm;
          NEXT();)
  HANDLER(Sltiu,
          x[insn->rd] = x[insn->rs1] <
                        static_cast<uint64_t>(static_cast<int64_t>(insn->imm));
          NEXT();)
  HANDLER(Xori, x[insn->rd] = x[insn->rs1] ^ static_cast<int64_t>(insn->imm);
          NEXT();)
  HANDLER(Ori, x[insn->rd] = x[insn->rs1] | static_cast<int64_t>(insn->imm);
          NEXT();)
  HANDLER(Andi, x[insn->rd] = x[insn->rs1] & static_cast<int64_t>(insn->imm);
          NEXT();)
  HANDLER(Slli, x[insn->rd] = x[insn->rs1] << insn->imm; NEXT();)
  HANDLER(Srli, x[insn->rd] = x[insn->rs1] >> insn->imm; NEXT();)
  HANDLER(Srai, x[insn->rd] = static_cast<uint64_t>(
                    static_cast<int64_t>(x[insn->rs1]) >> insn->imm);
          NEXT();)
  HANDLER(Add, x[insn->rd] = x[insn->rs1] + x[insn->rs2]; NEXT();)
  HANDLER(Sub, x[insn->rd] = x[insn->rs1] - x[insn->rs2]; NEXT();)
  HANDLER(Sll, x[insn->rd] = x[insn->rs1] << (x[insn->rs2] & 63); NEXT();)
  HANDLER(Slt, x[insn->rd] = static_cast<int64_t>(x[insn->rs1]) <
                             static_cast<int64_t>(x[insn->rs2]);
          NEXT();)
  HANDLER(Sltu, x[insn->rd] = x[insn->rs1] < x[insn->rs2]; NEXT();)
  HANDLER(Xor, x[insn->rd] = x[insn->rs1] ^ x[insn->rs2]; NEXT();)
  HANDLER(Srl, x[insn->rd] = x[insn->rs1] >> (x[insn->rs2] & 63); NEXT();)
  HANDLER(Sra, x[insn->rd] = static_cast<uint64_t>(
                   static_cast<int64_t>(x[insn->rs1]) >> (x[insn->rs2] & 63));
          NEXT();)
  HANDLER(Or, x[insn->rd] = x[insn->rs1] | x[insn->rs2]; NEXT();)
  HANDLER(And, x[insn->rd] = x[insn->rs1] & x[insn->rs2]; NEXT();)
  HANDLER(Addiw, x[insn->rd] = Sext32(x[insn->rs1] + insn->imm); NEXT();)
  HANDLER(Slliw, x[insn->rd] =
                     Sext32(static_cast<uint32_t>(x[insn->rs1]) << insn->imm);
          NEXT();)
  HANDLER(Srliw, x[insn->rd] =
                     Sext32(static_cast<uint32_t>(x[insn->rs1]) >> insn->imm);
          NEXT();)
  HANDLER(Sraiw, x[insn->rd] = Sext32(static_cast<uint32_t>(
                     static_cast<int32_t>(x[insn->rs1]) >> insn->imm));
          NEXT();)
  HANDLER(Addw, x[insn->rd] = Sext32(x[insn->rs1] + x[insn->rs2]); NEXT();)
  HANDLER(Subw, x[insn->rd] = Sext32(x[insn->rs1] - x[insn->rs2]); NEXT();)
  HANDLER(Sllw, x[insn->rd] = Sext32(static_cast<uint32_t>(x[insn->rs1])
                                     << (x[insn->rs2] & 31));
          NEXT();)
  HANDLER(Srlw, x[insn->rd] = Sext32(static_cast<uint32_t>(x[insn->rs1]) >>
                                     (x[insn->rs2] & 31));
          NEXT();)
  HANDLER(Sraw, x[insn->rd] = Sext32(static_cast<uint32_t>(
                    static_cast<int32_t>(x[insn->rs1]) >> (x[insn->rs2] & 31)));
          NEXT();)
  // fence: one hart per address space, and it sees its own accesses in
  // order.
  HANDLER(Fence, NEXT();)
  // fence.i: make stores to code visible to fetch: drop every decoded page
  // (the current one is retired, not freed) and re-enter at the next pc.
  HANDLER(FenceI, s->pc = PC() + kLen; ++icount; code_.InvalidateAll();
          goto enter;)
  HANDLER(Ecall, s->pc = PC() + kLen; s->instret = icount + 1;
          stop.reason = StopReason::kEcall; return stop;)
  HANDLER(Ebreak, stop.reason = StopReason::kEbreak; goto trap;)

  // ---- M ----
  HANDLER(Mul, x[insn->rd] = x[insn->rs1] * x[insn->rs2]; NEXT();)
  HANDLER(Mulh, x[insn->rd] = Mulh(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Mulhsu, x[insn->rd] = Mulhsu(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Mulhu, x[insn->rd] = Mulhu(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Div, x[insn->rd] = Div(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Divu, x[insn->rd] = x[insn->rs2] == 0 ? ~uint64_t{0}
                                                : x[insn->rs1] / x[insn->rs2];
          NEXT();)
  HANDLER(Rem, x[insn->rd] = Rem(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Remu, x[insn->rd] = x[insn->rs2] == 0 ? x[insn->rs1]
                                                : x[insn->rs1] % x[insn->rs2];
          NEXT();)
  HANDLER(Mulw, x[insn->rd] = Sext32(x[insn->rs1] * x[insn->rs2]); NEXT();)
  HANDLER(Divw, x[insn->rd] = Divw(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Divuw, x[insn->rd] = Divuw(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Remw, x[insn->rd] = Remw(x[insn->rs1], x[insn->rs2]); NEXT();)
  HANDLER(Remuw, x[insn->rd] = Remuw(x[insn->rs1], x[insn->rs2]); NEXT();)

  // ---- A ----
  // Naturally aligned or SIGBUS (Linux does not emulate misaligned AMOs).
  // The memory write comes before rd's, so rd == rs1/rs2 reads the inputs.
#define ATOMIC_ADDR(size)             \
  const uint64_t addr = x[insn->rs1]; \
  if (ABSL_PREDICT_FALSE(addr & ((size)-1))) goto misaligned
#define AMO(T, expr)                                                     \
  do {                                                                   \
    ATOMIC_ADDR(sizeof(T));                                              \
    T old_;                                                              \
    if (!as->Read<T>(addr, &old_, &stop.fault)) goto fault;              \
    const T src_ = static_cast<T>(x[insn->rs2]);                         \
    const T new_ = (expr);                                               \
    if (!as->Write<T>(addr, new_, &stop.fault)) goto fault;              \
    x[insn->rd] = static_cast<uint64_t>(                                 \
        static_cast<int64_t>(static_cast<std::make_signed_t<T>>(old_))); \
    NEXT();                                                              \
  } while (0)
  HANDLER(LrW, {
    ATOMIC_ADDR(4);
    int32_t v;
    if (!as->Read<int32_t>(addr, &v, &stop.fault)) goto fault;
    x[insn->rd] = static_cast<uint64_t>(static_cast<int64_t>(v));
    s->reservation = addr;
    NEXT();
  })
  HANDLER(LrD, {
    ATOMIC_ADDR(8);
    uint64_t v;
    if (!as->Read<uint64_t>(addr, &v, &stop.fault)) goto fault;
    x[insn->rd] = v;
    s->reservation = addr;
    NEXT();
  })
  HANDLER(ScW, {
    ATOMIC_ADDR(4);
    const bool ok = s->reservation == addr;
    s->reservation = kNoReservation;
    if (ok && !as->Write<uint32_t>(addr, static_cast<uint32_t>(x[insn->rs2]),
                                   &stop.fault)) {
      goto fault;
    }
    x[insn->rd] = ok ? 0 : 1;
    NEXT();
  })
  HANDLER(ScD, {
    ATOMIC_ADDR(8);
    const bool ok = s->reservation == addr;
    s->reservation = kNoReservation;
    if (ok && !as->Write<uint64_t>(addr, x[insn->rs2], &stop.fault)) goto fault;
    x[insn->rd] = ok ? 0 : 1;
    NEXT();
  })
  HANDLER(AmoswapW, AMO(uint32_t, src_);)
  HANDLER(AmoaddW, AMO(uint32_t, old_ + src_);)
  HANDLER(AmoxorW, AMO(uint32_t, old_ ^ src_);)
  HANDLER(AmoandW, AMO(uint32_t, old_ & src_);)
  HANDLER(AmoorW, AMO(uint32_t, old_ | src_);)
  HANDLER(AmominW,
          AMO(uint32_t, static_cast<int32_t>(old_) < static_cast<int32_t>(src_)
                            ? old_
                            : src_);)
  HANDLER(AmomaxW,
          AMO(uint32_t, static_cast<int32_t>(old_) > static_cast<int32_t>(src_)
                            ? old_
                            : src_);)
  HANDLER(AmominuW, AMO(uint32_t, old_ < src_ ? old_ : src_);)
  HANDLER(AmomaxuW, AMO(uint32_t, old_ > src_ ? old_ : src_);)
  HANDLER(AmoswapD, AMO(uint64_t, src_);)
  HANDLER(AmoaddD, AMO(uint64_t, old_ + src_);)
  HANDLER(AmoxorD, AMO(uint64_t, old_ ^ src_);)
  HANDLER(AmoandD, AMO(uint64_t, old_ & src_);)
  HANDLER(AmoorD, AMO(uint64_t, old_ | src_);)
  HANDLER(AmominD,
          AMO(uint64_t, static_cast<int64_t>(old_) < static_cast<int64_t>(src_)
                            ? old_
                            : src_);)
  HANDLER(AmomaxD,
          AMO(uint64_t, static_cast<int64_t>(old_) > static_cast<int64_t>(src_)
                            ? old_
                            : src_);)
  HANDLER(AmominuD, AMO(uint64_t, old_ < src_ ? old_ : src_);)
  HANDLER(AmomaxuD, AMO(uint64_t, old_ > src_ ? old_ : src_);)
#undef AMO
#undef ATOMIC_ADDR

  // ---- Zicsr ----
  HANDLER(Csr, if (!ExecCsr(*insn, icount)) goto illegal; NEXT();)

  // ---- F ----
  HANDLER(Flw, LOAD_INTO(uint32_t, f, BoxS(v_));)
  HANDLER(Fsw, STORE_VALUE(uint32_t, x[insn->rs1] + insn->imm,
                           static_cast<uint32_t>(f[insn->rs2]));
          NEXT();)
#define FP3(OP, FN, BOX, UNBOX)                                               \
  HANDLER(OP, RM();                                                           \
          f[insn->rd] = BOX(fpu::FN(UNBOX(f[insn->rs1]), UNBOX(f[insn->rs2]), \
                                    UNBOX(f[insn->rs3]), rm, &s->fflags));    \
          NEXT();)
#define FP2(OP, FN, BOX, UNBOX)                                               \
  HANDLER(OP, RM();                                                           \
          f[insn->rd] = BOX(fpu::FN(UNBOX(f[insn->rs1]), UNBOX(f[insn->rs2]), \
                                    rm, &s->fflags));                         \
          NEXT();)
#define FP1(OP, FN, BOX, UNBOX)                                            \
  HANDLER(OP, RM();                                                        \
          f[insn->rd] = BOX(fpu::FN(UNBOX(f[insn->rs1]), rm, &s->fflags)); \
          NEXT();)
#define FMINMAX(OP, FN, BOX, UNBOX)                                        \
  HANDLER(OP, f[insn->rd] = BOX(fpu::FN(UNBOX(f[insn->rs1]),               \
                                        UNBOX(f[insn->rs2]), &s->fflags)); \
          NEXT();)
#define FCMP(OP, FN, UNBOX)                                                   \
  HANDLER(OP, x[insn->rd] = fpu::FN(UNBOX(f[insn->rs1]), UNBOX(f[insn->rs2]), \
                                    &s->fflags);                              \
          NEXT();)
  // Float -> integer register.
#define FTOI(OP, FN, UNBOX) \
  HANDLER(OP, RM();         \
          x[insn->rd] = fpu::FN(UNBOX(f[insn->rs1]), rm, &s->fflags); NEXT();)
  // Integer register -> float.
#define ITOF(OP, FN, BOX)                                                     \
  HANDLER(OP, RM(); f[insn->rd] = BOX(fpu::FN(x[insn->rs1], rm, &s->fflags)); \
          NEXT();)
#define RAW(v) (v)
  FP3(FmaddS, MaddS, BoxS, S)
  FP3(FmsubS, MsubS, BoxS, S)
  FP3(FnmsubS, NmsubS, BoxS, S)
  FP3(FnmaddS, NmaddS, BoxS, S)
  FP2(FaddS, AddS, BoxS, S)
  FP2(FsubS, SubS, BoxS, S)
  FP2(FmulS, MulS, BoxS, S)
  FP2(FdivS, DivS, BoxS, S)
  FP1(FsqrtS, SqrtS, BoxS, S)
  FMINMAX(FminS, MinS, BoxS, S)
  FMINMAX(FmaxS, MaxS, BoxS, S)
  FCMP(FeqS, EqS, S)
  FCMP(FltS, LtS, S)
  FCMP(FleS, LeS, S)
  FTOI(FcvtWS, CvtWS, S)
  FTOI(FcvtWuS, CvtWuS, S)
  FTOI(FcvtLS, CvtLS, S)
  FTOI(FcvtLuS, CvtLuS, S)
  ITOF(FcvtSW, CvtSW, BoxS)
  ITOF(FcvtSWu, CvtSWu, BoxS)
  ITOF(FcvtSL, CvtSL, BoxS)
  ITOF(FcvtSLu, CvtSLu, BoxS)
  HANDLER(FsgnjS, {
    const uint32_t a = S(f[insn->rs1]), b = S(f[insn->rs2]);
    f[insn->rd] = BoxS((a & 0x7fffffffu) | (b & 0x80000000u));
    NEXT();
  })
  HANDLER(FsgnjnS, {
    const uint32_t a = S(f[insn->rs1]), b = S(f[insn->rs2]);
    f[insn->rd] = BoxS((a & 0x7fffffffu) | (~b & 0x80000000u));
    NEXT();
  })
  HANDLER(FsgnjxS, {
    const uint32_t a = S(f[insn->rs1]), b = S(f[insn->rs2]);
    f[insn->rd] = BoxS(a ^ (b & 0x80000000u));
    NEXT();
  })
  HANDLER(FmvXW, x[insn->rd] = Sext32(f[insn->rs1]); NEXT();)
  HANDLER(FmvWX, f[insn->rd] = BoxS(static_cast<uint32_t>(x[insn->rs1]));
          NEXT();)
  HANDLER(FclassS, x[insn->rd] = fpu::ClassS(S(f[insn->rs1])); NEXT();)

  // ---- D ----
  HANDLER(Fld, LOAD_INTO(uint64_t, f, v_);)
  HANDLER(Fsd, STORE_VALUE(uint64_t, x[insn->rs1] + insn->imm, f[insn->rs2]);
          NEXT();)
  FP3(FmaddD, MaddD, RAW, RAW)
  FP3(FmsubD, MsubD, RAW, RAW)
  FP3(FnmsubD, NmsubD, RAW, RAW)
  FP3(FnmaddD, NmaddD, RAW, RAW)
  FP2(FaddD, AddD, RAW, RAW)
  FP2(FsubD, SubD, RAW, RAW)
  FP2(FmulD, MulD, RAW, RAW)
  FP2(FdivD, DivD, RAW, RAW)
  FP1(FsqrtD, SqrtD, RAW, RAW)
  FMINMAX(FminD, MinD, RAW, RAW)
  FMINMAX(FmaxD, MaxD, RAW, RAW)
  FCMP(FeqD, EqD, RAW)
  FCMP(FltD, LtD, RAW)
  FCMP(FleD, LeD, RAW)
  FTOI(FcvtWD, CvtWD, RAW)
  FTOI(FcvtWuD, CvtWuD, RAW)
  FTOI(FcvtLD, CvtLD, RAW)
  FTOI(FcvtLuD, CvtLuD, RAW)
  ITOF(FcvtDW, CvtDW, RAW)
  ITOF(FcvtDWu, CvtDWu, RAW)
  ITOF(FcvtDL, CvtDL, RAW)
  ITOF(FcvtDLu, CvtDLu, RAW)
  FP1(FcvtSD, CvtSD, BoxS, RAW)
  FP1(FcvtDS, CvtDS, RAW, S)
  HANDLER(FsgnjD, {
    const uint64_t a = f[insn->rs1], b = f[insn->rs2];
    f[insn->rd] = (a & ~(1ull << 63)) | (b & (1ull << 63));
    NEXT();
  })
  HANDLER(FsgnjnD, {
    const uint64_t a = f[insn->rs1], b = f[insn->rs2];
    f[insn->rd] = (a & ~(1ull << 63)) | (~b & (1ull << 63));
    NEXT();
  })
  HANDLER(FsgnjxD, {
    const uint64_t a = f[insn->rs1], b = f[insn->rs2];
    f[insn->rd] = a ^ (b & (1ull << 63));
    NEXT();
  })
  HANDLER(FmvXD, x[insn->rd] = f[insn->rs1]; NEXT();)
  HANDLER(FmvDX, f[insn->rd] = x[insn->rs1]; NEXT();)
  HANDLER(FclassD, x[insn->rd] = fpu::ClassD(f[insn->rs1]); NEXT();)
#undef FP3
#undef FP2
#undef FP1
#undef FMINMAX
#undef FCMP
#undef FTOI
#undef ITOF
#undef RAW

misaligned:
  stop.reason = StopReason::kMisaligned;
  stop.address = x[insn->rs1];
  goto trap;
fault:
  stop.reason = StopReason::kFault;
trap:
  // The trapping instruction is not retired; pc points at it.
  s->pc = PC();
  s->instret = icount;
  s->reservation = kNoReservation;
  return stop;

#undef PC
#undef DISPATCH
#undef NEXT
#undef HANDLER
#undef JUMP
#undef LOAD
#undef LOAD_INTO
#undef STORE
#undef STORE_VALUE
#undef RM
}

}  // namespace memmgr::rv64
