// Insn: one pre-decoded RV64GC instruction, the unit of the decode cache.
// Decoding happens once per instruction slot of a code page (decode_cache.h);
// the interpreter then dispatches on `op` with a computed goto and reads
// operands straight from the fields, never from the instruction word.
//
// Compressed (C) instructions decode to the same ops as their 32-bit
// expansions with len = 2, so the interpreter has one handler per operation.
#ifndef MEMMGR_WORKER_RV64_INSN_H_
#define MEMMGR_WORKER_RV64_INSN_H_

#include <cstdint>

namespace memmgr::rv64 {

// clang-format off
// X(name): every operation the interpreter implements. The order is the
// label table's order; kDecode must stay first (a zeroed slot = undecoded).
#define MEMMGR_RV64_OPS(X)                                                   \
  /* interpreter-internal */                                                 \
  X(Decode) X(PageEnd) X(Illegal)                                            \
  /* RV64I */                                                                \
  X(Lui) X(Auipc) X(Jal) X(Jalr) X(Beq) X(Bne) X(Blt) X(Bge) X(Bltu) X(Bgeu) \
  X(Lb) X(Lh) X(Lw) X(Ld) X(Lbu) X(Lhu) X(Lwu) X(Sb) X(Sh) X(Sw) X(Sd)       \
  X(Addi) X(Slti) X(Sltiu) X(Xori) X(Ori) X(Andi) X(Slli) X(Srli) X(Srai)    \
  X(Add) X(Sub) X(Sll) X(Slt) X(Sltu) X(Xor) X(Srl) X(Sra) X(Or) X(And)      \
  X(Addiw) X(Slliw) X(Srliw) X(Sraiw) X(Addw) X(Subw) X(Sllw) X(Srlw)        \
  X(Sraw) X(Fence) X(FenceI) X(Ecall) X(Ebreak)                              \
  /* specialisations the decoder picks (li, mv, j) */                        \
  X(Li) X(Mv) X(J)                                                           \
  /* M */                                                                    \
  X(Mul) X(Mulh) X(Mulhsu) X(Mulhu) X(Div) X(Divu) X(Rem) X(Remu) X(Mulw)    \
  X(Divw) X(Divuw) X(Remw) X(Remuw)                                          \
  /* A (aq/rl are irrelevant for one hart per address space) */              \
  X(LrW) X(ScW) X(AmoswapW) X(AmoaddW) X(AmoxorW) X(AmoandW) X(AmoorW)       \
  X(AmominW) X(AmomaxW) X(AmominuW) X(AmomaxuW) X(LrD) X(ScD) X(AmoswapD)    \
  X(AmoaddD) X(AmoxorD) X(AmoandD) X(AmoorD) X(AmominD) X(AmomaxD)           \
  X(AmominuD) X(AmomaxuD)                                                    \
  /* Zicsr: funct3 in rm, csr number in imm, uimm in rs1 for the I forms */  \
  X(Csr)                                                                     \
  /* F */                                                                    \
  X(Flw) X(Fsw) X(FmaddS) X(FmsubS) X(FnmsubS) X(FnmaddS) X(FaddS) X(FsubS)  \
  X(FmulS) X(FdivS) X(FsqrtS) X(FsgnjS) X(FsgnjnS) X(FsgnjxS) X(FminS)       \
  X(FmaxS) X(FcvtWS) X(FcvtWuS) X(FcvtLS) X(FcvtLuS) X(FmvXW) X(FeqS)        \
  X(FltS) X(FleS) X(FclassS) X(FcvtSW) X(FcvtSWu) X(FcvtSL) X(FcvtSLu)       \
  X(FmvWX)                                                                   \
  /* D */                                                                    \
  X(Fld) X(Fsd) X(FmaddD) X(FmsubD) X(FnmsubD) X(FnmaddD) X(FaddD) X(FsubD)  \
  X(FmulD) X(FdivD) X(FsqrtD) X(FsgnjD) X(FsgnjnD) X(FsgnjxD) X(FminD)       \
  X(FmaxD) X(FcvtWD) X(FcvtWuD) X(FcvtLD) X(FcvtLuD) X(FmvXD) X(FeqD)        \
  X(FltD) X(FleD) X(FclassD) X(FcvtDW) X(FcvtDWu) X(FcvtDL) X(FcvtDLu)       \
  X(FmvDX) X(FcvtSD) X(FcvtDS)
// clang-format on

enum class Op : uint16_t {
#define MEMMGR_RV64_OP_ENUM(name) k##name,
  MEMMGR_RV64_OPS(MEMMGR_RV64_OP_ENUM)
#undef MEMMGR_RV64_OP_ENUM
      kCount
};

const char* OpName(Op op);

// 16 bytes: four per cache line.
struct Insn {
  // The interpreter's handler index: 2 * op + (len == 4). A zeroed slot is
  // kDecode's.
  uint16_t dispatch = 0;
  Op op = Op::kDecode;
  uint8_t rd = 0;   // kSinkReg when the architectural rd is x0 (integer rd)
  uint8_t rs1 = 0;  // or the CSR uimm
  uint8_t rs2 = 0;
  uint8_t rs3 = 0;
  uint8_t rm = 0;   // FP rounding mode field, or the CSR funct3
  uint8_t len = 0;  // 2 (compressed) or 4
  // Sign-extended immediate; the CSR number for kCsr; the instruction word
  // for kIllegal (for the SIGILL report).
  int32_t imm = 0;
};
static_assert(sizeof(Insn) == 16);

// Decodes one instruction. `lo` is the first 16-bit parcel; `hi` the next
// one (ignored for compressed instructions). Never fails: anything not in
// RV64GC (or reserved) decodes to kIllegal with the word in `imm`.
Insn Decode(uint16_t lo, uint16_t hi);

// True when the parcel starts a compressed (16-bit) instruction.
inline bool IsCompressed(uint16_t lo) { return (lo & 3) != 3; }

}  // namespace memmgr::rv64

#endif  // MEMMGR_WORKER_RV64_INSN_H_
