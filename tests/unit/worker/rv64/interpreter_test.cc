// The interpreter on hand-encoded programs: dispatch, the x0 sink, loads and
// stores through the MMU, control flow and the instruction limit, every
// stop reason, the decode cache's coherence (self-modifying code, fence.i,
// an instruction spanning two pages) and compressed instructions. ISA
// coverage per instruction lives in tests/guest/isa (run against qemu).
#include "worker/rv64/interpreter.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/mmu/address_space.h"
#include "worker/mmu/frame_pool.h"

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

class InterpreterTest : public ::testing::Test {
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
    interp_ = std::make_unique<Interpreter>(as_.get(), &cpu_);
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

TEST_F(InterpreterTest, ArithmeticAndEcallRetires) {
  Load(kCode, {Addi(10, 0, 40), Addi(11, 0, 2), Add(10, 10, 11), kEcall});
  const Stop s = RunFrom(kCode);
  EXPECT_EQ(s.reason, StopReason::kEcall);
  EXPECT_EQ(cpu_.x[10], 42u);
  EXPECT_EQ(cpu_.pc, kCode + 16);  // past the ecall
  EXPECT_EQ(cpu_.instret, 4u);
}

TEST_F(InterpreterTest, WritesToX0AreDiscarded) {
  Load(kCode, {Addi(0, 0, 5), Add(0, 0, 0), Lui(0, 1), Addi(10, 0, 0), kEcall});
  RunFrom(kCode);
  EXPECT_EQ(cpu_.x[0], 0u);
  EXPECT_EQ(cpu_.x[10], 0u);
}

TEST_F(InterpreterTest, LoadsAndStoresGoThroughTheMmu) {
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

TEST_F(InterpreterTest, LoopCountsInstructionsAndHonoursTheLimit) {
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

TEST_F(InterpreterTest, FaultStopsAtTheInstructionWithoutRetiringIt) {
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

TEST_F(InterpreterTest, IllegalEbreakAndExecFaults) {
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

TEST_F(InterpreterTest, CsrReadsInstretAndFcsr) {
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

TEST_F(InterpreterTest, SelfModifyingCodeIsSeenAfterFenceI) {
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

TEST_F(InterpreterTest, ACodeWriteDropsTheDecodedPageEvenWithoutFenceI) {
  // A write from outside (a syscall's CopyToGuest) must also be seen.
  Load(kCode, {Addi(10, 0, 1), kEcall});
  RunFrom(kCode);
  ASSERT_EQ(cpu_.x[10], 1u);
  Load(kCode, {Addi(10, 0, 7), kEcall});
  RunFrom(kCode);
  EXPECT_EQ(cpu_.x[10], 7u);
}

TEST_F(InterpreterTest, InstructionSpanningTwoPages) {
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

TEST_F(InterpreterTest, CompressedInstructions) {
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

TEST_F(InterpreterTest, LrScAndMisalignedAmo) {
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

TEST_F(InterpreterTest, DivisionEdgeCases) {
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

TEST_F(InterpreterTest, MunmappedCodeIsInvalidatedByTheSyscallLayer) {
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
TEST_F(InterpreterTest, RandomCodeAlwaysStopsCleanly) {
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

}  // namespace
}  // namespace memmgr::rv64
