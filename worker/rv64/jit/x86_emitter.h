// X86Emitter: the few x86-64 instruction forms the RV64 template JIT needs,
// encoded into a caller-provided buffer.
//
// Operands are 64-bit registers, sign-extended 32-bit immediates and
// [base + disp32] memory operands (no index registers: the JIT computes
// addresses itself). Every write is bounds-checked: once an instruction
// would run past the end of the buffer, nothing more is written and
// overflowed() turns true, so a block that does not fit is simply discarded
// (the caller flushes the code buffer and translates again).
//
// The buffer may be written through one mapping and executed through
// another (W^X, see code_buffer.h): `exec_base` is the address the code will
// run at, used for rel32 branch and call targets.
//
// Thread-safety: a plain value; not shared.
#ifndef MEMMGR_WORKER_RV64_JIT_X86_EMITTER_H_
#define MEMMGR_WORKER_RV64_JIT_X86_EMITTER_H_

#include <cstdint>
#include <cstring>

namespace memmgr::rv64::jit {

enum HostReg : uint8_t {
  RAX = 0,
  RCX,
  RDX,
  RBX,
  RSP,
  RBP,
  RSI,
  RDI,
  R8,
  R9,
  R10,
  R11,
  R12,
  R13,
  R14,
  R15,
};

// x86 condition codes (the low nibble of Jcc / SETcc).
enum Cond : uint8_t {
  kO = 0x0,
  kNo = 0x1,
  kB = 0x2,   // unsigned <
  kAe = 0x3,  // unsigned >=
  kE = 0x4,
  kNe = 0x5,
  kBe = 0x6,
  kA = 0x7,
  kS = 0x8,
  kNs = 0x9,
  kL = 0xc,  // signed <
  kGe = 0xd,
  kLe = 0xe,
  kG = 0xf,
};

// The /digit of the group-1 ALU instructions (81 /n, 83 /n) and the
// matching r64, r/m64 opcode (8 * n + 3).
enum Alu : uint8_t {
  kAdd = 0,
  kOr = 1,
  kAnd = 4,
  kSub = 5,
  kXor = 6,
  kCmp = 7,
};

// The /digit of the group-2 shifts (C1 /n, D3 /n).
enum Shift : uint8_t {
  kShl = 4,
  kShr = 5,
  kSar = 7,
};

struct Mem {
  HostReg base;
  int32_t disp;
};

class X86Emitter {
 public:
  // A forward branch whose rel32 is filled in by Bind().
  struct Label {
    size_t patch = 0;  // offset of the rel32 field; 0 = unused
  };

  X86Emitter(uint8_t* write_base, uintptr_t exec_base, size_t capacity)
      : buf_(write_base), exec_(exec_base), cap_(capacity) {}

  size_t size() const { return pos_; }
  bool overflowed() const { return overflow_; }
  uintptr_t exec_address() const { return exec_ + pos_; }
  uintptr_t exec_address(size_t offset) const { return exec_ + offset; }

  // ---- moves ----
  void MovRR(HostReg dst, HostReg src) { RexRR(1, src, dst, 0x89); }
  void MovRR32(HostReg dst, HostReg src) { RexRR(0, src, dst, 0x89); }
  void Load64(HostReg dst, Mem m) { RexMem(1, dst, m, {0x8b}); }
  void Store64(Mem m, HostReg src) { RexMem(1, src, m, {0x89}); }
  void Store32(Mem m, HostReg src) { RexMem(0, src, m, {0x89}); }
  void Store16(Mem m, HostReg src) {
    Byte(0x66);
    RexMem(0, src, m, {0x89});
  }
  // Forces a REX prefix so that SPL/BPL/SIL/DIL are the low bytes, not
  // AH/CH/DH/BH.
  void Store8(Mem m, HostReg src) { RexMem(0, src, m, {0x88}, true); }
  // Zero- and sign-extending loads into a 64-bit register.
  void LoadZx8(HostReg dst, Mem m) { RexMem(0, dst, m, {0x0f, 0xb6}); }
  void LoadZx16(HostReg dst, Mem m) { RexMem(0, dst, m, {0x0f, 0xb7}); }
  void LoadZx32(HostReg dst, Mem m) { RexMem(0, dst, m, {0x8b}); }
  void LoadSx8(HostReg dst, Mem m) { RexMem(1, dst, m, {0x0f, 0xbe}); }
  void LoadSx16(HostReg dst, Mem m) { RexMem(1, dst, m, {0x0f, 0xbf}); }
  void LoadSx32(HostReg dst, Mem m) { RexMem(1, dst, m, {0x63}); }
  // movsxd dst, src32
  void Movsxd(HostReg dst, HostReg src) { RexRR(1, dst, src, 0x63); }
  // mov dst, imm (the shortest encoding that gives the 64-bit value).
  void MovImm(HostReg dst, uint64_t imm) {
    if (imm <= 0xffffffffu) {  // mov r32, imm32 zero-extends
      Rex(0, 0, 0, dst >> 3, false);
      Byte(0xb8 + (dst & 7));
      Imm32(static_cast<uint32_t>(imm));
    } else if (static_cast<int64_t>(imm) == static_cast<int32_t>(imm)) {
      Rex(1, 0, 0, dst >> 3, false);  // mov r/m64, simm32
      Byte(0xc7);
      Byte(0xc0 | (dst & 7));
      Imm32(static_cast<uint32_t>(imm));
    } else {
      Rex(1, 0, 0, dst >> 3, false);  // movabs
      Byte(0xb8 + (dst & 7));
      Imm64(imm);
    }
  }
  // mov qword [m], simm32
  void StoreImm64(Mem m, int32_t imm) {
    RexMem(1, static_cast<HostReg>(0), m, {0xc7});
    Imm32(static_cast<uint32_t>(imm));
  }
  void Lea(HostReg dst, Mem m) { RexMem(1, dst, m, {0x8d}); }

  // ---- ALU ----
  // dst = dst op src (64 bit, or 32 bit with w = 0: the result is
  // zero-extended).
  void AluRR(Alu op, HostReg dst, HostReg src, int w = 1) {
    RexRR(w, dst, src, static_cast<uint8_t>(op * 8 + 3));
  }
  void AluRM(Alu op, HostReg dst, Mem m, int w = 1) {
    RexMem(w, dst, m, {static_cast<uint8_t>(op * 8 + 3)});
  }
  // dst = dst op sign-extended imm32.
  void AluRI(Alu op, HostReg dst, int32_t imm, int w = 1) {
    Rex(w, 0, 0, dst >> 3, false);
    if (imm >= -128 && imm <= 127) {
      Byte(0x83);
      Byte(0xc0 | (op << 3) | (dst & 7));
      Byte(static_cast<uint8_t>(imm));
    } else {
      Byte(0x81);
      Byte(0xc0 | (op << 3) | (dst & 7));
      Imm32(static_cast<uint32_t>(imm));
    }
  }
  // qword [m] op= sign-extended imm32.
  void AluMI(Alu op, Mem m, int32_t imm) {
    const bool small = imm >= -128 && imm <= 127;
    RexMem(1, static_cast<HostReg>(op), m,
           {small ? uint8_t{0x83} : uint8_t{0x81}});
    if (small) {
      Byte(static_cast<uint8_t>(imm));
    } else {
      Imm32(static_cast<uint32_t>(imm));
    }
  }
  void IncM(Mem m) { RexMem(1, static_cast<HostReg>(0), m, {0xff}); }
  void TestRR(HostReg a, HostReg b, int w = 1) { RexRR(w, b, a, 0x85); }
  void ShiftRI(Shift op, HostReg dst, uint8_t count, int w = 1) {
    Rex(w, 0, 0, dst >> 3, false);
    Byte(0xc1);
    Byte(0xc0 | (op << 3) | (dst & 7));
    Byte(count);
  }
  // dst op= cl (the hardware masks the count to 6 bits, 5 for w = 0).
  void ShiftRCl(Shift op, HostReg dst, int w = 1) {
    Rex(w, 0, 0, dst >> 3, false);
    Byte(0xd3);
    Byte(0xc0 | (op << 3) | (dst & 7));
  }
  // dst = dst * src (low half).
  void ImulRR(HostReg dst, HostReg src, int w = 1) {
    Rex(w, dst >> 3, 0, src >> 3, false);
    Byte(0x0f);
    Byte(0xaf);
    Byte(0xc0 | ((dst & 7) << 3) | (src & 7));
  }
  // rdx:rax = rax * src, unsigned (mul) or signed (imul).
  void MulWide(HostReg src, bool is_signed) {
    Rex(1, 0, 0, src >> 3, false);
    Byte(0xf7);
    Byte(0xc0 | ((is_signed ? 5 : 4) << 3) | (src & 7));
  }
  // dst8 = cond ? 1 : 0 (REX forced so SIL/DIL are addressable).
  void Setcc(Cond cc, HostReg dst) {
    Rex(0, 0, 0, dst >> 3, true);
    Byte(0x0f);
    Byte(0x90 | cc);
    Byte(0xc0 | (dst & 7));
  }
  // dst32 = zero-extend src8.
  void MovzxRR8(HostReg dst, HostReg src) {
    Rex(0, dst >> 3, 0, src >> 3, true);
    Byte(0x0f);
    Byte(0xb6);
    Byte(0xc0 | ((dst & 7) << 3) | (src & 7));
  }

  // ---- control flow ----
  // Jumps and calls to an absolute address in the same code buffer (rel32).
  void Jmp(uintptr_t target) {
    Byte(0xe9);
    Rel32(target);
  }
  void Jcc(Cond cc, uintptr_t target) {
    Byte(0x0f);
    Byte(0x80 | cc);
    Rel32(target);
  }
  // Forward branches to a label bound later.
  Label JmpForward() {
    Byte(0xe9);
    return PendingRel32();
  }
  Label JccForward(Cond cc) {
    Byte(0x0f);
    Byte(0x80 | cc);
    return PendingRel32();
  }
  // Points `l` at the current position.
  void Bind(Label l) {
    if (overflow_ || l.patch == 0) return;
    const int32_t rel = static_cast<int32_t>(pos_ - (l.patch + 4));
    std::memcpy(buf_ + l.patch, &rel, 4);
  }
  void JmpR(HostReg r) {
    Rex(0, 0, 0, r >> 3, false);
    Byte(0xff);
    Byte(0xe0 | (r & 7));
  }
  void JmpM(Mem m) { RexMem(0, static_cast<HostReg>(4), m, {0xff}); }
  void CallR(HostReg r) {
    Rex(0, 0, 0, r >> 3, false);
    Byte(0xff);
    Byte(0xd0 | (r & 7));
  }
  void Push(HostReg r) {
    Rex(0, 0, 0, r >> 3, false);
    Byte(0x50 + (r & 7));
  }
  void Pop(HostReg r) {
    Rex(0, 0, 0, r >> 3, false);
    Byte(0x58 + (r & 7));
  }
  void Ret() { Byte(0xc3); }
  void Int3() { Byte(0xcc); }

  void Byte(uint8_t b) {
    if (pos_ >= cap_) {
      overflow_ = true;
      return;
    }
    buf_[pos_++] = b;
  }

 private:
  void Imm32(uint32_t v) {
    for (int i = 0; i < 4; ++i) Byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void Imm64(uint64_t v) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<uint8_t>(v >> (8 * i)));
  }
  void Rel32(uintptr_t target) {
    const intptr_t rel =
        static_cast<intptr_t>(target) - static_cast<intptr_t>(exec_ + pos_ + 4);
    Imm32(static_cast<uint32_t>(static_cast<int32_t>(rel)));
  }
  Label PendingRel32() {
    Label l{pos_};
    Imm32(0);
    return l;
  }
  // REX.W R X B; emitted only when needed (or forced for byte registers).
  void Rex(int w, int r, int x, int b, bool force) {
    const uint8_t rex = static_cast<uint8_t>(0x40 | (w << 3) | ((r & 1) << 2) |
                                             ((x & 1) << 1) | (b & 1));
    if (rex != 0x40 || force) Byte(rex);
  }
  // op with ModRM mod = 11: reg field `reg`, rm field `rm`.
  void RexRR(int w, HostReg reg, HostReg rm, uint8_t op) {
    Rex(w, reg >> 3, 0, rm >> 3, false);
    Byte(op);
    Byte(0xc0 | ((reg & 7) << 3) | (rm & 7));
  }
  struct Opcode {
    uint8_t a;
    uint8_t b = 0;  // second opcode byte (0F xx), 0 = none
  };
  // op with a [base + disp] memory operand; `reg` is the ModRM reg field
  // (a register or a /digit).
  void RexMem(int w, HostReg reg, Mem m, Opcode op, bool force_rex = false) {
    Rex(w, reg >> 3, 0, m.base >> 3, force_rex);
    Byte(op.a);
    if (op.b != 0) Byte(op.b);
    const bool disp8 = m.disp >= -128 && m.disp <= 127;
    // mod 00 with base RBP/R13 means RIP-relative: always give a disp.
    Byte(static_cast<uint8_t>((disp8 ? 0x40 : 0x80) | ((reg & 7) << 3) |
                              (m.base & 7)));
    if ((m.base & 7) == RSP) Byte(0x24);  // SIB: base only (RSP/R12)
    if (disp8) {
      Byte(static_cast<uint8_t>(m.disp));
    } else {
      Imm32(static_cast<uint32_t>(m.disp));
    }
  }

  uint8_t* const buf_;
  const uintptr_t exec_;
  const size_t cap_;
  size_t pos_ = 0;
  bool overflow_ = false;
};

}  // namespace memmgr::rv64::jit

#endif  // MEMMGR_WORKER_RV64_JIT_X86_EMITTER_H_
