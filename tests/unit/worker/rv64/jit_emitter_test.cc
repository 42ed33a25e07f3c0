// The JIT's x86-64 emitter and W^X code buffer: small generated functions
// are executed and their results checked, covering every encoding family
// (REX.B/R for r8-r15, RSP/R12 bases that need a SIB byte, RBP/R13 bases
// that need a displacement, disp8 vs disp32, imm8 vs imm32, byte registers
// that need a REX prefix).
#include <cstdint>
#include <memory>

#include "gtest/gtest.h"
#include "worker/rv64/jit/code_buffer.h"
#include "worker/rv64/jit/x86_emitter.h"

namespace memmgr::rv64::jit {
namespace {

using Fn2 = uint64_t (*)(uint64_t, uint64_t);

class EmitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = CodeBuffer::Create(64 << 10);
    ASSERT_TRUE(b.ok()) << b.status();
    buf_ = *std::move(b);
  }
  // Starts a function at the buffer's tail.
  X86Emitter Begin() {
    return X86Emitter(buf_->write_ptr(), buf_->exec_ptr(), buf_->free_bytes());
  }
  template <typename F>
  F End(X86Emitter& e, uintptr_t start) {
    EXPECT_FALSE(e.overflowed());
    buf_->Commit(e.size());
    return reinterpret_cast<F>(start);
  }

  std::unique_ptr<CodeBuffer> buf_;
};

TEST_F(EmitterTest, AluOnEveryRegister) {
  // For each callee-clobberable register r: r = a; r op= b; rax = r.
  const HostReg regs[] = {RAX, RCX, RDX, RSI, RDI, R8, R9, R10, R11};
  for (HostReg r : regs) {
    for (Alu op : {kAdd, kSub, kAnd, kOr, kXor}) {
      X86Emitter e = Begin();
      const uintptr_t start = e.exec_address();
      e.MovRR(R11 == r ? R10 : R11, RSI);  // b somewhere safe
      const HostReg b = R11 == r ? R10 : R11;
      e.MovRR(r, RDI);
      e.AluRR(op, r, b);
      e.MovRR(RAX, r);
      e.Ret();
      auto f = End<Fn2>(e, start);
      const uint64_t a = 0x123456789abcdef0ull, c = 0x0fedcba987654321ull;
      uint64_t want = 0;
      switch (op) {
        case kAdd:
          want = a + c;
          break;
        case kSub:
          want = a - c;
          break;
        case kAnd:
          want = a & c;
          break;
        case kOr:
          want = a | c;
          break;
        default:
          want = a ^ c;
          break;
      }
      EXPECT_EQ(f(a, c), want) << "reg " << int{r} << " op " << int{op};
    }
  }
}

TEST_F(EmitterTest, ImmediatesAndThirtyTwoBitForms) {
  X86Emitter e = Begin();
  const uintptr_t start = e.exec_address();
  e.MovRR(RAX, RDI);
  e.AluRI(kAdd, RAX, 100);     // imm8
  e.AluRI(kAdd, RAX, 100000);  // imm32
  e.AluRI(kAnd, RAX, -4096);   // sign-extended
  e.AluRI(kAdd, RAX, 7, 0);    // 32-bit: zero-extends the result
  e.Movsxd(RAX, RAX);
  e.Ret();
  auto f = End<Fn2>(e, start);
  const uint64_t in = 0x00000000fffff000ull;
  const uint64_t want =
      static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(
          static_cast<uint32_t>(((in + 100 + 100000) & ~0xfffull) + 7))));
  EXPECT_EQ(f(in, 0), want);
}

TEST_F(EmitterTest, MovImmAllWidths) {
  for (uint64_t v :
       {uint64_t{0}, uint64_t{0x7fffffff}, uint64_t{0xffffffff}, ~uint64_t{0},
        uint64_t{0xffffffff80000000}, uint64_t{0x123456789abcdef0}}) {
    for (HostReg r : {RAX, R9}) {
      X86Emitter e = Begin();
      const uintptr_t start = e.exec_address();
      e.MovImm(r, v);
      e.MovRR(RAX, r);
      e.Ret();
      EXPECT_EQ(End<Fn2>(e, start)(0, 0), v) << std::hex << v;
    }
  }
}

TEST_F(EmitterTest, MemoryOperandsWithEveryBase) {
  // [base + disp] for bases that need special encodings, disp8 and
  // disp32: store a, load it back through the same address.
  alignas(16) static uint64_t slots[16384];
  for (HostReg base : {RSP, RBP, R12, R13, RDI, R8}) {
    for (int32_t disp : {0, 8, -8, 1000, -1000}) {
      X86Emitter e = Begin();
      const uintptr_t start = e.exec_address();
      // Callee-saved bases are preserved around the test.
      e.Push(RBP);
      e.Push(R12);
      e.Push(R13);
      e.Push(RBX);
      e.MovRR(RBX, RSP);  // RSP as a base: point it at our array too
      e.MovRR(base, RDI);
      e.Store64(Mem{base, disp}, RSI);
      e.Load64(RAX, Mem{base, disp});
      e.MovRR(RSP, RBX);
      e.Pop(RBX);
      e.Pop(R13);
      e.Pop(R12);
      e.Pop(RBP);
      e.Ret();
      auto f = End<Fn2>(e, start);
      // High in the array: with RSP as the base, a signal frame would land
      // below it, still inside.
      uint64_t* p = &slots[16000];
      p[disp / 8] = 0;
      EXPECT_EQ(f(reinterpret_cast<uint64_t>(p), 0xabcdef0123456789ull),
                0xabcdef0123456789ull)
          << "base " << int{base} << " disp " << disp;
      EXPECT_EQ(p[disp / 8], 0xabcdef0123456789ull);
    }
  }
}

TEST_F(EmitterTest, NarrowLoadsAndStores) {
  alignas(8) static uint8_t mem[16];
  struct Case {
    void (X86Emitter::*load)(HostReg, Mem);
    uint64_t want;
  };
  for (int i = 0; i < 16; ++i) mem[i] = static_cast<uint8_t>(0xf0 + i);
  const Case cases[] = {
      {&X86Emitter::LoadZx8, 0xf0},
      {&X86Emitter::LoadSx8, 0xfffffffffffffff0ull},
      {&X86Emitter::LoadZx16, 0xf1f0},
      {&X86Emitter::LoadSx16, 0xfffffffffffff1f0ull},
      {&X86Emitter::LoadZx32, 0xf3f2f1f0},
      {&X86Emitter::LoadSx32, 0xfffffffff3f2f1f0ull},
  };
  for (const Case& c : cases) {
    for (HostReg dst : {RAX, R10}) {
      X86Emitter e = Begin();
      const uintptr_t start = e.exec_address();
      e.MovImm(dst, ~uint64_t{0});  // the upper bits must be replaced
      (e.*c.load)(dst, Mem{RDI, 0});
      e.MovRR(RAX, dst);
      e.Ret();
      EXPECT_EQ(End<Fn2>(e, start)(reinterpret_cast<uint64_t>(mem), 0), c.want);
    }
  }
  // Byte stores from SIL need a REX prefix (else it would be DH).
  for (int size : {1, 2, 4, 8}) {
    X86Emitter e = Begin();
    const uintptr_t start = e.exec_address();
    const Mem m{RDI, 8};
    if (size == 1) e.Store8(m, RSI);
    if (size == 2) e.Store16(m, RSI);
    if (size == 4) e.Store32(m, RSI);
    if (size == 8) e.Store64(m, RSI);
    e.Ret();
    auto f = End<Fn2>(e, start);
    uint64_t word = 0;
    f(reinterpret_cast<uint64_t>(&word) - 8, 0x1122334455667788ull);
    const uint64_t mask =
        size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
    EXPECT_EQ(word, 0x1122334455667788ull & mask) << size;
  }
}

TEST_F(EmitterTest, ShiftsMultipliesAndSetcc) {
  // (a << 3) >> (b & 63) arithmetic, via cl.
  {
    X86Emitter e = Begin();
    const uintptr_t start = e.exec_address();
    e.MovRR(RAX, RDI);
    e.ShiftRI(kShl, RAX, 3);
    e.MovRR(RCX, RSI);
    e.ShiftRCl(kSar, RAX);
    e.Ret();
    EXPECT_EQ(End<Fn2>(e, start)(0xf000000000000001ull, 4),
              static_cast<uint64_t>(
                  static_cast<int64_t>(0x8000000000000008ull) >> 4));
  }
  // The high half of an unsigned and a signed 64x64 multiply.
  for (bool is_signed : {false, true}) {
    X86Emitter e = Begin();
    const uintptr_t start = e.exec_address();
    e.MovRR(RAX, RDI);
    e.MovRR(R9, RSI);
    e.MulWide(R9, is_signed);
    e.MovRR(RAX, RDX);
    e.Ret();
    const uint64_t a = ~uint64_t{0} - 5, b = 7;
    const uint64_t want =
        is_signed ? static_cast<uint64_t>(
                        (static_cast<__int128>(static_cast<int64_t>(a)) *
                         static_cast<int64_t>(b)) >>
                        64)
                  : static_cast<uint64_t>(
                        (static_cast<unsigned __int128>(a) * b) >> 64);
    EXPECT_EQ(End<Fn2>(e, start)(a, b), want);
  }
  // a < b signed into SIL, zero-extended (SIL needs REX).
  {
    X86Emitter e = Begin();
    const uintptr_t start = e.exec_address();
    e.AluRR(kCmp, RDI, RSI);
    e.Setcc(kL, RSI);
    e.MovzxRR8(RAX, RSI);
    e.Ret();
    auto f = End<Fn2>(e, start);
    EXPECT_EQ(f(static_cast<uint64_t>(-5), 3), 1u);
    EXPECT_EQ(f(3, static_cast<uint64_t>(-5)), 0u);
  }
}

TEST_F(EmitterTest, ForwardBranchesAndCalls) {
  // rax = a == b ? helper(a) : 99, with a forward jcc and an indirect call.
  static uint64_t (*const helper)(uint64_t) = [](uint64_t v) { return v * 3; };
  X86Emitter e = Begin();
  const uintptr_t start = e.exec_address();
  e.Push(RBX);  // realigns the stack for the call
  e.AluRR(kCmp, RDI, RSI);
  X86Emitter::Label ne = e.JccForward(kNe);
  e.MovImm(RAX, reinterpret_cast<uint64_t>(helper));
  e.CallR(RAX);
  X86Emitter::Label done = e.JmpForward();
  e.Bind(ne);
  e.MovImm(RAX, 99);
  e.Bind(done);
  e.Pop(RBX);
  e.Ret();
  auto f = End<Fn2>(e, start);
  EXPECT_EQ(f(5, 5), 15u);
  EXPECT_EQ(f(5, 6), 99u);
}

TEST_F(EmitterTest, OverflowStopsWritingInsteadOfRunningPastTheEnd) {
  uint8_t small[8] = {};
  X86Emitter e(small, reinterpret_cast<uintptr_t>(small), 4);
  e.MovImm(RAX, 0x123456789abcdef0ull);  // 10 bytes
  EXPECT_TRUE(e.overflowed());
  EXPECT_EQ(small[4], 0);  // nothing past the capacity
}

TEST(CodeBufferTest, IsWXorXAndResetsToThePinnedStubs) {
  auto b = CodeBuffer::Create(4096);
  ASSERT_TRUE(b.ok());
  CodeBuffer& buf = **b;
  EXPECT_NE(reinterpret_cast<uintptr_t>(buf.write_ptr()), buf.exec_ptr());
  buf.write_ptr()[0] = 0xc3;
  buf.Commit(1);
  buf.Pin();
  const size_t pinned = buf.used();
  buf.Commit(100);
  buf.Reset();
  EXPECT_EQ(buf.used(), pinned);
  // The executable view sees what was written through the other one.
  EXPECT_EQ(*reinterpret_cast<const uint8_t*>(buf.exec_ptr() - pinned), 0xc3);
}

}  // namespace
}  // namespace memmgr::rv64::jit
