// RISC-V F and D arithmetic for the interpreter: every operation the F/D
// extensions define, on raw IEEE-754 bit patterns, with an explicit rounding
// mode and accrued exception flags exactly as the RISC-V unprivileged spec
// (chapter "F" and "D") defines them:
//   - results that are NaN are the canonical NaN (0x7fc00000 / 0x7ff8...),
//     never a propagated payload (the host's default NaN is negative);
//   - single-precision operands arrive NaN-boxed in 64-bit f registers; a
//     value whose upper 32 bits are not all ones reads as the canonical NaN;
//   - float→int conversions saturate (NaN → the maximum) and raise NV;
//   - fmin/fmax follow IEEE 754-2019 minimumNumber/maximumNumber (a quiet NaN
//     operand is ignored, -0 < +0, signaling NaN raises NV);
//   - feq is quiet, flt/fle signal on any NaN; fclass returns the 10-bit mask.
// Rounding modes are the instruction's rm field resolved against frm (never
// 7 = DYN here): 0 RNE, 1 RTZ, 2 RDN, 3 RUP, 4 RMM (ties away from zero,
// which x86 has no mode for).
//
// Spec references are to the RISC-V unprivileged ISA, version 20191213:
// chapter 11 ("F") and chapter 12 ("D"); section titles are kept in later
// versions.
//
// Implementation (fpu.cc): modes RNE/RTZ/RDN/RUP run on the host's SSE unit,
// with the rounding mode and the exception flags set and read directly in
// MXCSR (~8 ns an operation; <cfenv>'s feclearexcept/fetestexcept also
// touch the x87 unit and cost ~80 ns). The common round-to-nearest case of
// add, sub, mul, div, sqrt and the conversions does not touch MXCSR at all
// (~2-4 ns): it computes in the host's default mode, decides inexactness
// exactly in software, and falls back to the MXCSR path near overflow and
// underflow and for NaN. Fused multiply-adds always take the MXCSR path.
// RMM, which x86 lacks, uses the exact integer implementations in fpu::soft.
//
// Thread-safety and host state: pure functions. The calling thread's MXCSR
// must be in the process default state when a function is called (round to
// nearest, no flush-to-zero or denormals-are-zero, all exceptions masked);
// the functions clobber its exception flags and leave it in that state.
#ifndef MEMMGR_WORKER_RV64_FPU_H_
#define MEMMGR_WORKER_RV64_FPU_H_

#include <cstdint>

namespace memmgr::rv64::fpu {

// fflags bits (fcsr[4:0]).
enum Flag : uint32_t {
  kInexact = 1u << 0,    // NX
  kUnderflow = 1u << 1,  // UF
  kOverflow = 1u << 2,   // OF
  kDivByZero = 1u << 3,  // DZ
  kInvalid = 1u << 4,    // NV
};

enum RoundingMode : uint32_t {
  kRne = 0,
  kRtz = 1,
  kRdn = 2,
  kRup = 3,
  kRmm = 4,
  kDyn = 7,  // instruction field only: use frm
};

inline constexpr uint32_t kCanonicalNaN32 = 0x7fc00000u;
inline constexpr uint64_t kCanonicalNaN64 = 0x7ff8000000000000ull;

// NaN boxing of singles in 64-bit registers.
inline uint64_t Box32(uint32_t v) { return 0xffffffff00000000ull | v; }
inline uint32_t Unbox32(uint64_t reg) {
  return (reg >> 32) == 0xffffffffu ? static_cast<uint32_t>(reg)
                                    : kCanonicalNaN32;
}

// Every function takes `rm` in 0..4 and ORs raised flags into *flags.
// S = single (uint32_t bits), D = double (uint64_t bits).
uint32_t AddS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags);
uint32_t SubS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags);
uint32_t MulS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags);
uint32_t DivS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags);
uint32_t SqrtS(uint32_t a, uint32_t rm, uint32_t* flags);
// fmadd: a*b+c; fmsub: a*b-c; fnmsub: -(a*b)+c; fnmadd: -(a*b)-c. One
// rounding (fused).
uint32_t MaddS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
               uint32_t* flags);
uint32_t MsubS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
               uint32_t* flags);
uint32_t NmsubS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
                uint32_t* flags);
uint32_t NmaddS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
                uint32_t* flags);
uint32_t MinS(uint32_t a, uint32_t b, uint32_t* flags);
uint32_t MaxS(uint32_t a, uint32_t b, uint32_t* flags);
// Comparisons return 0/1.
uint64_t EqS(uint32_t a, uint32_t b, uint32_t* flags);
uint64_t LtS(uint32_t a, uint32_t b, uint32_t* flags);
uint64_t LeS(uint32_t a, uint32_t b, uint32_t* flags);
uint64_t ClassS(uint32_t a);

uint64_t AddD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags);
uint64_t SubD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags);
uint64_t MulD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags);
uint64_t DivD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags);
uint64_t SqrtD(uint64_t a, uint32_t rm, uint32_t* flags);
uint64_t MaddD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
               uint32_t* flags);
uint64_t MsubD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
               uint32_t* flags);
uint64_t NmsubD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
                uint32_t* flags);
uint64_t NmaddD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
                uint32_t* flags);
uint64_t MinD(uint64_t a, uint64_t b, uint32_t* flags);
uint64_t MaxD(uint64_t a, uint64_t b, uint32_t* flags);
uint64_t EqD(uint64_t a, uint64_t b, uint32_t* flags);
uint64_t LtD(uint64_t a, uint64_t b, uint32_t* flags);
uint64_t LeD(uint64_t a, uint64_t b, uint32_t* flags);
uint64_t ClassD(uint64_t a);

// Conversions. Float → integer results are sign-extended to 64 bits for the
// W forms (fcvt.w[u].s/d write the 32-bit result sign-extended, as the spec
// says for RV64, including fcvt.wu).
uint64_t CvtWS(uint32_t a, uint32_t rm, uint32_t* flags);   // fcvt.w.s
uint64_t CvtWuS(uint32_t a, uint32_t rm, uint32_t* flags);  // fcvt.wu.s
uint64_t CvtLS(uint32_t a, uint32_t rm, uint32_t* flags);   // fcvt.l.s
uint64_t CvtLuS(uint32_t a, uint32_t rm, uint32_t* flags);  // fcvt.lu.s
uint64_t CvtWD(uint64_t a, uint32_t rm, uint32_t* flags);
uint64_t CvtWuD(uint64_t a, uint32_t rm, uint32_t* flags);
uint64_t CvtLD(uint64_t a, uint32_t rm, uint32_t* flags);
uint64_t CvtLuD(uint64_t a, uint32_t rm, uint32_t* flags);
// Integer → float: the source is the integer register value; W forms use
// its low 32 bits (signed or unsigned).
uint32_t CvtSW(uint64_t x, uint32_t rm, uint32_t* flags);
uint32_t CvtSWu(uint64_t x, uint32_t rm, uint32_t* flags);
uint32_t CvtSL(uint64_t x, uint32_t rm, uint32_t* flags);
uint32_t CvtSLu(uint64_t x, uint32_t rm, uint32_t* flags);
uint64_t CvtDW(uint64_t x, uint32_t rm, uint32_t* flags);
uint64_t CvtDWu(uint64_t x, uint32_t rm, uint32_t* flags);
uint64_t CvtDL(uint64_t x, uint32_t rm, uint32_t* flags);
uint64_t CvtDLu(uint64_t x, uint32_t rm, uint32_t* flags);
// Between formats.
uint32_t CvtSD(uint64_t a, uint32_t rm, uint32_t* flags);  // fcvt.s.d
uint64_t CvtDS(uint32_t a, uint32_t rm, uint32_t* flags);  // fcvt.d.s

// Exact software implementations (integer arithmetic only, no host floating
// point) of the operations whose result depends on rounding, for every rm
// 0..4 and every input (NaN, infinity, zero, subnormal), with the same
// contracts as the functions above. The functions above use them for RMM;
// tests check them against the host in the other four modes. They cost tens
// of ns. Subtraction and the msub/nmsub/nmadd forms are sign flips of the
// operands, and the single-precision float-to-integer conversions are exact
// widenings to double first, so only these forms exist. There is no square
// root: a square root is never halfway between two floats, so RMM's result
// is RNE's (see fpu.cc).
namespace soft {
uint32_t AddS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags);
uint64_t AddD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags);
uint32_t MulS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags);
uint64_t MulD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags);
uint32_t DivS(uint32_t a, uint32_t b, uint32_t rm, uint32_t* flags);
uint64_t DivD(uint64_t a, uint64_t b, uint32_t rm, uint32_t* flags);
uint32_t MaddS(uint32_t a, uint32_t b, uint32_t c, uint32_t rm,
               uint32_t* flags);
uint64_t MaddD(uint64_t a, uint64_t b, uint64_t c, uint32_t rm,
               uint32_t* flags);
uint64_t CvtWD(uint64_t a, uint32_t rm, uint32_t* flags);
uint64_t CvtWuD(uint64_t a, uint32_t rm, uint32_t* flags);
uint64_t CvtLD(uint64_t a, uint32_t rm, uint32_t* flags);
uint64_t CvtLuD(uint64_t a, uint32_t rm, uint32_t* flags);
uint32_t CvtSL(uint64_t x, uint32_t rm, uint32_t* flags);
uint32_t CvtSLu(uint64_t x, uint32_t rm, uint32_t* flags);
uint64_t CvtDL(uint64_t x, uint32_t rm, uint32_t* flags);
uint64_t CvtDLu(uint64_t x, uint32_t rm, uint32_t* flags);
uint32_t CvtSD(uint64_t a, uint32_t rm, uint32_t* flags);
}  // namespace soft

}  // namespace memmgr::rv64::fpu

#endif  // MEMMGR_WORKER_RV64_FPU_H_
