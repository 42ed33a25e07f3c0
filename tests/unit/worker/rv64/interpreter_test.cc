// The interpreter on hand-encoded programs: dispatch, the x0 sink, loads and
// stores through the MMU, control flow and the instruction limit, every
// stop reason, the decode cache's coherence (self-modifying code, fence.i,
// an instruction spanning two pages) and compressed instructions. ISA
// coverage per instruction lives in tests/guest/isa (run against qemu).
//
// Every test runs twice: interpreted, and with the JIT in front
// (Interpreter::Options::jit), which must give the same results, stops,
// pcs and instruction counts. JitMatchesTheInterpreter compares the two on
// random programs of the instructions the JIT translates.
#include "worker/rv64/interpreter.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/mmu/address_space.h"
#include "worker/mmu/frame_pool.h"
#include "worker/rv64/jit/jit.h"

namespace memmgr::rv64 {
namespace {

using mmu::GuestAddr;

// ---- a tiny assembler (RV64 base encodings) ----
uint32_t R(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd,
           uint32_t op) {
  return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}
uint32_t I(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op) {
  return (static_cast<uint32_t>(imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) |
         (rd << 7) | op;
}
uint32_t S(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t op) {
  const auto u = static_cast<uint32_t>(imm);
  return (((u >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
         ((u & 0x1f) << 7) | op;
}
uint32_t B(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3) {
  const auto u = static_cast<uint32_t>(imm);
  return (((u >> 12) & 1) << 31) | (((u >> 5) & 0x3f) << 25) | (rs2 << 20) |
         (rs1 << 15) | (f3 << 12) | (((u >> 1) & 0xf) << 8) |
         (((u >> 11) & 1) << 7) | 0x63;
}
uint32_t J(int32_t imm, uint32_t rd) {
  const auto u = static_cast<uint32_t>(imm);
  return (((u >> 20) & 1) << 31) | (((u >> 1) & 0x3ff) << 21) |
         (((u >> 11) & 1) << 20) | (((u >> 12) & 0xff) << 12) | (rd << 7) |
         0x6f;
}
uint32_t Addi(uint32_t rd, uint32_t rs1, int32_t imm) {
  return I(imm, rs1, 0, rd, 0x13);
}
uint32_t Add(uint32_t rd, uint32_t a, uint32_t b) {
  return R(0, b, a, 0, rd, 0x33);
}
uint32_t Sd(uint32_t rs2, uint32_t rs1, int32_t imm) {
  return S(imm, rs2, rs1, 3, 0x23);
}
uint32_t Sw(uint32_t rs2, uint32_t rs1, int32_t imm) {
  return S(imm, rs2, rs1, 2, 0x23);
}
uint32_t Ld(uint32_t rd, uint32_t rs1, int32_t imm) {
  return I(imm, rs1, 3, rd, 0x03);
}
uint32_t Lw(uint32_t rd, uint32_t rs1, int32_t imm) {
  return I(imm, rs1, 2, rd, 0x03);
}
uint32_t Lui(uint32_t rd, uint32_t imm20) {
  return (imm20 << 12) | (rd << 7) | 0x37;
}
constexpr uint32_t kEcall = 0x00000073;
constexpr uint32_t kEbreak = 0x00100073;
constexpr uint32_t kFenceI = 0x0000100f;

class InterpreterTest : public ::testing::TestWithParam<bool> {
 protected:
  static constexpr GuestAddr kCode = 0x10000;
  static constexpr GuestAddr kData = 0x40000;

  void SetUp() override {
    mmu::FramePool::Options po;
    po.bytes = 16 << 20;
    pool_ = *mmu::FramePool::Create(po);
    as_ = *mmu::AddressSpace::Create(pool_.get(), {});
    ASSERT_TRUE(as_->Mmap(kCode, 4 * mmu::kPageSize,
                          mmu::kProtRead | mmu::kProtWrite | mmu::kProtExec,
                          mmu::kMapFixed)
                    .ok());
    ASSERT_TRUE(as_->Mmap(kData, mmu::kPageSize,
                          mmu::kProtRead | mmu::kProtWrite, mmu::kMapFixed)
                    .ok());
    interp_ = std::make_unique<Interpreter>(as_.get(), &cpu_,
                                            Interpreter::Options{GetParam()});
    // The JIT must come up on this host (a silent fallback would test the
    // interpreter twice).
    ASSERT_EQ(interp_->jit() != nullptr, GetParam()) << interp_->jit_error();
  }

  void Load(GuestAddr at, const std::vector<uint32_t>& words) {
    mmu::Fault f;
    ASSERT_TRUE(as_->CopyToGuest(at, words.data(), words.size() * 4, &f));
  }
  Stop RunFrom(GuestAddr pc, uint64_t limit = 1'000'000) {
    cpu_.pc = pc;
    return interp_->Run(cpu_.instret + limit);
  }

  std::unique_ptr<mmu::FramePool> pool_;
  std::unique_ptr<mmu::AddressSpace> as_;
  CpuState cpu_;
  std::unique_ptr<Interpreter> interp_;
};

TEST_P(InterpreterTest, ArithmeticAndEcallRetires) {
  Load(kCode, {Addi(10, 0, 40), Addi(11, 0, 2), Add(10, 10, 11), kEcall});
  const Stop s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kEcall);
  EXPECT_EQ(cpu_.x[10], 42u);
  EXPECT_EQ(cpu_.pc, kCode + 16);  // past the ecall
  EXPECT_EQ(cpu_.instret, 4u);
}

TEST_P(InterpreterTest, WritesToX0AreDiscarded) {
  Load(kCode, {Addi(0, 0, 5), Add(0, 0, 0), Lui(0, 1), Addi(10, 0, 0), kEcall});
  RunFrom(kCode);
  EXPECT_EQ(cpu_.x[0], 0u);
  EXPECT_EQ(cpu_.x[10], 0u);
}

TEST_P(InterpreterTest, LoadsAndStoresGoThroughTheMmu) {
  // x5 = kData; sd x6 -> [x5+8]; lw x7 <- [x5+8] (sign-extended).
  cpu_.x[5] = kData;
  cpu_.x[6] = 0xffffffff80000001ull;
  Load(kCode, {Sd(6, 5, 8), Lw(7, 5, 8), Ld(8, 5, 8), kEcall});
  RunFrom(kCode);
  EXPECT_EQ(cpu_.x[7], 0xffffffff80000001ull);
  EXPECT_EQ(cpu_.x[8], 0xffffffff80000001ull);
  uint64_t v = 0;
  mmu::Fault f;
  ASSERT_TRUE(as_->Read(kData + 8, &v, &f));
  EXPECT_EQ(v, 0xffffffff80000001ull);
}

TEST_P(InterpreterTest, LoopCountsInstructionsAndHonoursTheLimit) {
  // x10 = 1000; loop: x10 -= 1; bne x10, x0, loop; ecall
  Load(kCode, {Addi(10, 0, 1000), Addi(10, 10, -1), B(-4, 0, 10, 1), kEcall});
  Stop s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kEcall);
  EXPECT_EQ(cpu_.instret, 1u + 2 * 1000 + 1);

  // An infinite loop stops at the limit, resumably.
  Load(kCode, {J(0, 0)});
  cpu_.instret = 0;
  s = RunFrom(kCode, 5000);
  EXPECT_EQ(s.reason, StopReason::kLimit);
  EXPECT_EQ(cpu_.instret, 5000u);
  EXPECT_EQ(cpu_.pc, kCode);
  s = interp_->Run(cpu_.instret + 10);
  EXPECT_EQ(s.reason, StopReason::kLimit);
  EXPECT_EQ(cpu_.instret, 5010u);
}

TEST_P(InterpreterTest, FaultStopsAtTheInstructionWithoutRetiringIt) {
  cpu_.x[5] = 0x7000000;  // unmapped
  Load(kCode, {Addi(6, 0, 1), Sd(6, 5, 0), kEcall});
  const Stop s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kFault);
  EXPECT_EQ(s.fault.address, 0x7000000u);
  EXPECT_EQ(s.fault.access, mmu::Access::kWrite);
  EXPECT_EQ(s.Signal(), 11);
  EXPECT_EQ(cpu_.pc, kCode + 4);
  EXPECT_EQ(cpu_.instret, 1u);
}

TEST_P(InterpreterTest, IllegalEbreakAndExecFaults) {
  Load(kCode, {0xffffffffu});
  Stop s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kIllegal);
  EXPECT_EQ(s.insn_word, 0xffffffffu);
  EXPECT_EQ(s.Signal(), 4);

  Load(kCode, {kEbreak});
  s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kEbreak);
  EXPECT_EQ(s.Signal(), 5);

  // Jumping into a non-executable page is an exec fault at the target.
  s = RunFrom(kData);
  EXPECT_EQ(s.reason, StopReason::kFault);
  EXPECT_EQ(s.fault.access, mmu::Access::kExec);
  EXPECT_EQ(cpu_.pc, kData);

  // The all-zero parcel is defined illegal.
  Load(kCode, {0});
  s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kIllegal);
}

TEST_P(InterpreterTest, CsrReadsInstretAndFcsr) {
  // csrr x10, instret (0xc02); csrwi fcsr... csrrwi x0, frm, 3; csrr x11, fcsr
  const uint32_t csrr_instret = I(0xc02, 0, 2, 10, 0x73);
  const uint32_t csrwi_frm = I(0x002, 3, 5, 0, 0x73);
  const uint32_t csrr_fcsr = I(0x003, 0, 2, 11, 0x73);
  const uint32_t csrw_cycle = I(0xc00, 10, 1, 0, 0x73);  // read-only: illegal
  Load(kCode, {Addi(5, 0, 1), csrr_instret, csrwi_frm, csrr_fcsr, csrw_cycle});
  const Stop s = RunFrom(kCode);
  EXPECT_EQ(cpu_.x[10], 1u);       // one instruction retired before it
  EXPECT_EQ(cpu_.x[11], 3u << 5);  // frm in fcsr[7:5]
  EXPECT_EQ(s.reason, StopReason::kIllegal);
}

TEST_P(InterpreterTest, SelfModifyingCodeIsSeenAfterFenceI) {
  // Patch the instruction at `target` (addi x10, x0, 1 -> addi x10, x0, 2)
  // with a store, fence.i, then execute it.
  const GuestAddr target = kCode + 2 * mmu::kPageSize;
  Load(target, {Addi(10, 0, 1), kEcall});
  Stop s = RunFrom(target);  // decode it once
  ASSERT_EQ(cpu_.x[10], 1u);
  cpu_.x[5] = target;
  cpu_.x[6] = Addi(10, 0, 2);
  Load(kCode, {Sw(6, 5, 0), kFenceI,
               J(static_cast<int32_t>(target - (kCode + 8)), 0)});
  s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kEcall);
  EXPECT_EQ(cpu_.x[10], 2u);
  EXPECT_GE(interp_->code().invalidations(), 1u);
}

TEST_P(InterpreterTest, ACodeWriteDropsTheDecodedPageEvenWithoutFenceI) {
  // A write from outside (a syscall's CopyToGuest) must also be seen.
  Load(kCode, {Addi(10, 0, 1), kEcall});
  RunFrom(kCode);
  ASSERT_EQ(cpu_.x[10], 1u);
  Load(kCode, {Addi(10, 0, 7), kEcall});
  RunFrom(kCode);
  EXPECT_EQ(cpu_.x[10], 7u);
}

TEST_P(InterpreterTest, InstructionSpanningTwoPages) {
  // c.nop at the page's last-but-one parcel... put a 4-byte addi at offset
  // 0xffe so its halves live on two pages.
  const GuestAddr at = kCode + mmu::kPageSize - 2;
  const uint32_t addi = Addi(10, 0, 99);
  const uint16_t parcels[4] = {
      static_cast<uint16_t>(addi), static_cast<uint16_t>(addi >> 16),
      static_cast<uint16_t>(kEcall), static_cast<uint16_t>(kEcall >> 16)};
  mmu::Fault f;
  ASSERT_TRUE(as_->CopyToGuest(at, parcels, sizeof(parcels), &f));
  Stop s = RunFrom(at);
  EXPECT_EQ(s.reason, StopReason::kEcall);
  EXPECT_EQ(cpu_.x[10], 99u);
  // Rewriting the second half (on the next page) is seen.
  const uint32_t addi2 = Addi(10, 0, 77);
  const uint16_t hi = static_cast<uint16_t>(addi2 >> 16);
  ASSERT_TRUE(as_->CopyToGuest(at + 2, &hi, 2, &f));
  s = RunFrom(at);
  EXPECT_EQ(cpu_.x[10], 77u);
}

TEST_P(InterpreterTest, CompressedInstructions) {
  // c.li a0, 5 (0x4515); c.addi a0, 3 (0x050d); c.mv a1, a0 (0x85aa);
  // c.add a0, a1 (0x952e); then ecall.
  const uint16_t code[] = {0x4515,
                           0x050d,
                           0x85aa,
                           0x952e,
                           static_cast<uint16_t>(kEcall),
                           static_cast<uint16_t>(kEcall >> 16)};
  mmu::Fault f;
  ASSERT_TRUE(as_->CopyToGuest(kCode, code, sizeof(code), &f));
  const Stop s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kEcall);
  EXPECT_EQ(cpu_.x[10], 16u);
  EXPECT_EQ(cpu_.x[11], 8u);
  EXPECT_EQ(cpu_.pc, kCode + 12);
}

TEST_P(InterpreterTest, LrScAndMisalignedAmo) {
  cpu_.x[5] = kData;
  cpu_.x[6] = 123;
  const uint32_t lr_d = R(0x02 << 2, 0, 5, 3, 7, 0x2f);
  const uint32_t sc_d = R(0x03 << 2, 6, 5, 3, 8, 0x2f);
  Load(kCode, {lr_d, sc_d, sc_d, kEcall});
  RunFrom(kCode);
  EXPECT_EQ(cpu_.x[8], 1u);  // the second sc fails: reservation consumed
  uint64_t v = 0;
  mmu::Fault f;
  ASSERT_TRUE(as_->Read(kData, &v, &f));
  EXPECT_EQ(v, 123u);

  cpu_.x[5] = kData + 4;  // misaligned for a doubleword AMO
  const uint32_t amoadd_d = R(0x00, 6, 5, 3, 7, 0x2f);
  Load(kCode, {amoadd_d});
  const Stop s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kMisaligned);
  EXPECT_EQ(s.Signal(), 7);
}

TEST_P(InterpreterTest, DivisionEdgeCases) {
  // div x10, x5, x0 = -1; rem x11, x5, x0 = x5; div INT64_MIN / -1.
  cpu_.x[5] = 17;
  cpu_.x[6] = 0x8000000000000000ull;
  cpu_.x[7] = ~0ull;
  Load(kCode, {R(1, 0, 5, 4, 10, 0x33), R(1, 0, 5, 6, 11, 0x33),
               R(1, 7, 6, 4, 12, 0x33), R(1, 7, 6, 6, 13, 0x33), kEcall});
  RunFrom(kCode);
  EXPECT_EQ(cpu_.x[10], ~0ull);
  EXPECT_EQ(cpu_.x[11], 17u);
  EXPECT_EQ(cpu_.x[12], 0x8000000000000000ull);
  EXPECT_EQ(cpu_.x[13], 0u);
}

TEST_P(InterpreterTest, MunmappedCodeIsInvalidatedByTheSyscallLayer) {
  Load(kCode + 3 * mmu::kPageSize, {Addi(10, 0, 1), kEcall});
  RunFrom(kCode + 3 * mmu::kPageSize);
  ASSERT_TRUE(as_->Munmap(kCode + 3 * mmu::kPageSize, mmu::kPageSize).ok());
  interp_->InvalidateCode(kCode + 3 * mmu::kPageSize,
                          kCode + 4 * mmu::kPageSize);
  const Stop s = RunFrom(kCode + 3 * mmu::kPageSize);
  EXPECT_EQ(s.reason, StopReason::kFault);
  EXPECT_EQ(s.fault.reason, mmu::FaultReason::kUnmapped);
}

// Random bytes as code: whatever they decode to, every run ends in a clean
// stop (no host crash, no sanitizer report, the limit honoured) and leaves
// the guest state consistent. Registers point into the data page half the
// time so loads, stores and AMOs hit mapped memory too.
TEST_P(InterpreterTest, RandomCodeAlwaysStopsCleanly) {
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  auto next = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  int stops[6] = {};
  for (int round = 0; round < 300; ++round) {
    std::vector<uint32_t> words(1024);
    for (uint32_t& w : words) w = static_cast<uint32_t>(next());
    Load(kCode, words);
    for (int r = 1; r < 32; ++r) {
      cpu_.x[r] = (next() & 1) ? kData + (next() & 0xff8) : next();
    }
    cpu_.instret = 0;
    const Stop s = RunFrom(kCode + 4 * (next() % 1024), 10'000);
    ++stops[static_cast<int>(s.reason)];
    EXPECT_LE(cpu_.instret, 10'000u + 2048);
    EXPECT_EQ(cpu_.x[0], 0u);
    EXPECT_EQ(cpu_.pc & 1, 0u);
  }
  // Mostly illegal instructions and faults; the mix is what it is, but the
  // run must have exercised more than one kind of stop.
  int kinds = 0;
  for (int n : stops) kinds += n > 0;
  EXPECT_GE(kinds, 2);
}

// One machine (pool, address space, hart) for the JIT-vs-interpreter
// comparison below.
struct Machine {
  static constexpr GuestAddr kCode = 0x10000;
  static constexpr GuestAddr kData = 0x40000;
  explicit Machine(bool jit) {
    mmu::FramePool::Options po;
    po.bytes = 4 << 20;
    pool = *mmu::FramePool::Create(po);
    as = *mmu::AddressSpace::Create(pool.get(), {});
    EXPECT_TRUE(as->Mmap(kCode, 2 * mmu::kPageSize,
                         mmu::kProtRead | mmu::kProtWrite | mmu::kProtExec,
                         mmu::kMapFixed)
                    .ok());
    EXPECT_TRUE(as->Mmap(kData, mmu::kPageSize,
                         mmu::kProtRead | mmu::kProtWrite, mmu::kMapFixed)
                    .ok());
    interp = std::make_unique<Interpreter>(as.get(), &cpu,
                                           Interpreter::Options{jit});
  }
  std::unique_ptr<mmu::FramePool> pool;
  std::unique_ptr<mmu::AddressSpace> as;
  CpuState cpu;
  std::unique_ptr<Interpreter> interp;
};

// Random straight-line-ish programs (forward branches and jumps only, so
// they end) of the instructions the JIT translates, with a CSR read of
// instret mixed in (interpreted mid-block: the count must be exact there),
// loads and stores around a data page (some misaligned, some faulting once
// a pointer register is overwritten). The JIT and the interpreter must end
// in the same state: stop, pc, instret, registers and memory.
TEST(JitTest, JitMatchesTheInterpreter) {
  uint64_t rng = 0x2545f4914f6cdd1dull;
  auto next = [&rng] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  auto reg = [&] { return static_cast<uint32_t>(next() % 16); };
  // Destinations mostly spare the pointer registers x1..x4, so programs
  // run long before an access faults.
  auto rd = [&] {
    if (next() % 64 == 0) return 1 + static_cast<uint32_t>(next() % 4);
    const auto r = static_cast<uint32_t>(next() % 12);
    return r == 0 ? 0u : r + 4;
  };
  struct RType {
    uint32_t f7, f3, op;
  };
  static constexpr RType kRTypes[] = {
      {0, 0, 0x33}, {0x20, 0, 0x33}, {0, 1, 0x33},    {0, 2, 0x33},
      {0, 3, 0x33}, {0, 4, 0x33},    {0, 5, 0x33},    {0x20, 5, 0x33},
      {0, 6, 0x33}, {0, 7, 0x33},    {1, 0, 0x33},    {1, 1, 0x33},
      {1, 2, 0x33}, {1, 3, 0x33},    {1, 4, 0x33},    {1, 5, 0x33},
      {1, 6, 0x33}, {1, 7, 0x33},    {0, 0, 0x3b},    {0x20, 0, 0x3b},
      {0, 1, 0x3b}, {0, 5, 0x3b},    {0x20, 5, 0x3b}, {1, 0, 0x3b},
      {1, 4, 0x3b}, {1, 5, 0x3b},    {1, 6, 0x3b},    {1, 7, 0x3b},
  };
  int compared = 0;
  uint64_t translated = 0;
  for (int round = 0; round < 300; ++round) {
    constexpr int kLen = 600;
    std::vector<uint32_t> w;
    while (w.size() < kLen) {
      const int i = static_cast<int>(w.size());
      const int left = kLen - i;  // forward targets stay inside
      const int32_t fwd =
          4 * static_cast<int32_t>(1 + next() % std::min(8, left));
      const int32_t imm12 = static_cast<int32_t>(next() % 4096) - 2048;
      switch (next() % 12) {
        case 0:
        case 1: {
          const RType& r = kRTypes[next() % std::size(kRTypes)];
          w.push_back(R(r.f7, reg(), reg(), r.f3, rd(), r.op));
          break;
        }
        case 2:
        case 3: {
          static constexpr uint32_t kF3[] = {0, 2, 3, 4, 6, 7};
          w.push_back(I(imm12, reg(), kF3[next() % 6], rd(), 0x13));
          break;
        }
        case 4: {  // shifts by immediate, 64- and 32-bit
          const bool word = next() & 1;
          const int32_t sh = static_cast<int32_t>(next() % (word ? 32 : 64));
          static constexpr uint32_t kF3[] = {1, 5, 5};
          const int k = static_cast<int>(next() % 3);
          w.push_back(I(sh | (k == 2 ? 0x400 : 0), reg(), kF3[k], rd(),
                        word ? 0x1b : 0x13));
          break;
        }
        case 5:
          w.push_back(I(imm12, reg(), 0, rd(), 0x1b));  // addiw
          break;
        case 6: {  // loads off a pointer register (x1..x4)
          static constexpr uint32_t kF3[] = {0, 1, 2, 3, 4, 5, 6};
          w.push_back(I(static_cast<int32_t>(next() % 128) - 64,
                        1 + static_cast<uint32_t>(next() % 4), kF3[next() % 7],
                        rd(), 0x03));
          break;
        }
        case 7:
          w.push_back(S(static_cast<int32_t>(next() % 128) - 64, reg(),
                        1 + static_cast<uint32_t>(next() % 4),
                        static_cast<uint32_t>(next() % 4), 0x23));
          break;
        case 8: {
          static constexpr uint32_t kF3[] = {0, 1, 4, 5, 6, 7};
          w.push_back(B(fwd, reg(), reg(), kF3[next() % 6]));
          break;
        }
        case 9:
          if (next() & 1) {
            w.push_back(J(fwd, rd()));
          } else if (left > 2) {
            // auipc x5, 0; jalr rd, x5, 8 + forward
            w.push_back(0x297);
            w.push_back(I(fwd + 4, 5, 0, rd(), 0x67));
          }
          break;
        case 10:
          if (next() & 1) {
            w.push_back(Lui(rd(), static_cast<uint32_t>(next() & 0xfffff)));
          } else {
            w.push_back((static_cast<uint32_t>(next() & 0xfffff) << 12) |
                        (rd() << 7) | 0x17);  // auipc
          }
          break;
        case 11:
          // csrrs rd, instret, x0: interpreted in the middle of a block.
          w.push_back(0xc0202073u | (rd() << 7));
          break;
      }
    }
    w.resize(kLen);
    w.push_back(kEcall);
    std::vector<uint8_t> data(mmu::kPageSize);
    for (uint8_t& b : data) b = static_cast<uint8_t>(next());
    uint64_t regs[32];
    for (int r = 0; r < 32; ++r) {
      regs[r] = r >= 1 && r <= 4 ? Machine::kData + 64 + next() % 3968
                                 : next() >> (next() % 64);
    }
    regs[0] = 0;

    Machine m[2] = {Machine(false), Machine(true)};
    Stop stops[2];
    for (int k = 0; k < 2; ++k) {
      ASSERT_EQ(m[k].interp->jit() != nullptr, k == 1);
      mmu::Fault f;
      ASSERT_TRUE(
          m[k].as->CopyToGuest(Machine::kCode, w.data(), w.size() * 4, &f));
      // Read-only code: a store into it would be self-modifying code
      // without fence.i, where the two may legitimately differ in when
      // they notice (the interpreter at its next page exit, the JIT at its
      // next block exit).
      ASSERT_TRUE(m[k].as
                      ->Mprotect(Machine::kCode, 2 * mmu::kPageSize,
                                 mmu::kProtRead | mmu::kProtExec)
                      .ok());
      ASSERT_TRUE(
          m[k].as->CopyToGuest(Machine::kData, data.data(), data.size(), &f));
      for (int r = 0; r < 32; ++r) m[k].cpu.x[r] = regs[r];
      m[k].cpu.pc = Machine::kCode;
      stops[k] = m[k].interp->Run(100'000);
    }
    translated += m[1].interp->jit()->stats().guest_insns_translated;
    SCOPED_TRACE(testing::Message() << "round " << round);
    // A jalr reached by a branch that skipped its auipc can jump back and
    // loop; where the two stop at the limit is allowed to differ (the JIT
    // checks it per block, the interpreter per jump).
    if (stops[0].reason == StopReason::kLimit &&
        stops[1].reason == StopReason::kLimit) {
      continue;
    }
    ASSERT_EQ(stops[0].reason, stops[1].reason);
    if (stops[0].reason == StopReason::kFault) {
      EXPECT_EQ(stops[0].fault.address, stops[1].fault.address);
      EXPECT_EQ(stops[0].fault.access, stops[1].fault.access);
      EXPECT_EQ(stops[0].fault.reason, stops[1].fault.reason);
    }
    EXPECT_EQ(m[0].cpu.pc, m[1].cpu.pc);
    EXPECT_EQ(m[0].cpu.instret, m[1].cpu.instret);
    for (int r = 0; r < 32; ++r) {
      EXPECT_EQ(m[0].cpu.x[r], m[1].cpu.x[r]) << "x" << r;
    }
    std::vector<uint8_t> after[2];
    for (int k = 0; k < 2; ++k) {
      after[k].resize(mmu::kPageSize);
      mmu::Fault f;
      ASSERT_TRUE(m[k].as->CopyFromGuest(Machine::kData, after[k].data(),
                                         after[k].size(), &f));
    }
    EXPECT_EQ(after[0], after[1]);
    ++compared;
  }
  EXPECT_GE(compared, 250);
  // The JIT translated most of it (not a silent fallback).
  EXPECT_GT(translated, 300u * 50);
}

INSTANTIATE_TEST_SUITE_P(Modes, InterpreterTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Jit" : "Interpreted";
                         });

}  // namespace
}  // namespace memmgr::rv64
