// The RV64GC decoder: 32-bit instructions by opcode/funct fields, and the
// compressed (C) quadrants expanded to the same ops (RISC-V unprivileged
// spec, chapter 16 "C" Standard Extension, table "RVC opcode map").
//
// Reserved encodings and anything outside RV64GC decode to kIllegal, so the
// guest stops with SIGILL instead of executing a guess.
#include <cstddef>
#include <cstdint>

#include "worker/rv64/cpu_state.h"
#include "worker/rv64/insn.h"

namespace memmgr::rv64 {
namespace {

constexpr uint32_t Bits(uint32_t w, int hi, int lo) {
  return (w >> lo) & ((1u << (hi - lo + 1)) - 1);
}
constexpr uint32_t Bit(uint32_t w, int b) { return (w >> b) & 1; }
// Sign-extends the low `bits` bits of v.
constexpr int32_t Sext(uint32_t v, int bits) {
  return static_cast<int32_t>(v << (32 - bits)) >> (32 - bits);
}

// An integer destination: writes to x0 go to the sink register.
constexpr uint8_t IntRd(uint32_t rd) {
  return rd == 0 ? kSinkReg : static_cast<uint8_t>(rd);
}

Insn Make(Op op, uint32_t rd, uint32_t rs1, uint32_t rs2, int32_t imm,
          uint8_t len) {
  Insn i;
  i.op = op;
  i.rd = static_cast<uint8_t>(rd);
  i.rs1 = static_cast<uint8_t>(rs1);
  i.rs2 = static_cast<uint8_t>(rs2);
  i.imm = imm;
  i.len = len;
  return i;
}

Insn Illegal(uint32_t raw, uint8_t len) {
  return Make(Op::kIllegal, 0, 0, 0, static_cast<int32_t>(raw), len);
}

// Picks the cheaper equivalent where one exists (li, mv, j): they are the
// most frequent instructions in compiled code and need fewer operands.
Insn Specialise(Insn i) {
  if (i.op == Op::kAddi && i.rs1 == 0) {
    i.op = Op::kLi;
  } else if (i.op == Op::kAddi && i.imm == 0) {
    i.op = Op::kMv;
    i.rs2 = i.rs1;
  } else if (i.op == Op::kAdd && i.rs1 == 0) {
    i.op = Op::kMv;
  } else if (i.op == Op::kJal && i.rd == kSinkReg) {
    i.op = Op::kJ;
  }
  return i;
}

Insn DecodeOpFp(uint32_t w) {
  const uint32_t rd = Bits(w, 11, 7), rs1 = Bits(w, 19, 15),
                 rs2 = Bits(w, 24, 20), f3 = Bits(w, 14, 12),
                 f7 = Bits(w, 31, 25);
  const bool dbl = f7 & 1;
  auto fp = [&](Op op) {  // FP destination, rounding mode field
    if (f3 == 5 || f3 == 6) return Illegal(w, 4);
    // imm is unused: it keeps the word for the SIGILL report of a bad frm.
    Insn i = Make(op, rd, rs1, rs2, static_cast<int32_t>(w), 4);
    i.rm = static_cast<uint8_t>(f3);
    return i;
  };
  auto to_int = [&](Op op) {  // integer destination
    Insn i = fp(op);
    if (i.op != Op::kIllegal) i.rd = IntRd(rd);
    return i;
  };
  switch (f7) {
    case 0x00:
      return fp(Op::kFaddS);
    case 0x01:
      return fp(Op::kFaddD);
    case 0x04:
      return fp(Op::kFsubS);
    case 0x05:
      return fp(Op::kFsubD);
    case 0x08:
      return fp(Op::kFmulS);
    case 0x09:
      return fp(Op::kFmulD);
    case 0x0c:
      return fp(Op::kFdivS);
    case 0x0d:
      return fp(Op::kFdivD);
    case 0x2c:
    case 0x2d:
      if (rs2 != 0) break;
      return fp(dbl ? Op::kFsqrtD : Op::kFsqrtS);
    case 0x10:
    case 0x11: {
      static constexpr Op kS[] = {Op::kFsgnjS, Op::kFsgnjnS, Op::kFsgnjxS};
      static constexpr Op kD[] = {Op::kFsgnjD, Op::kFsgnjnD, Op::kFsgnjxD};
      if (f3 > 2) break;
      return Make(dbl ? kD[f3] : kS[f3], rd, rs1, rs2, 0, 4);
    }
    case 0x14:
    case 0x15:
      if (f3 > 1) break;
      return Make(
          dbl ? (f3 ? Op::kFmaxD : Op::kFminD) : (f3 ? Op::kFmaxS : Op::kFminS),
          rd, rs1, rs2, 0, 4);
    case 0x20:  // fcvt.s.d
      if (rs2 != 1) break;
      return fp(Op::kFcvtSD);
    case 0x21:  // fcvt.d.s
      if (rs2 != 0) break;
      return fp(Op::kFcvtDS);
    case 0x50:
    case 0x51: {
      static constexpr Op kS[] = {Op::kFleS, Op::kFltS, Op::kFeqS};
      static constexpr Op kD[] = {Op::kFleD, Op::kFltD, Op::kFeqD};
      if (f3 > 2) break;
      return Make(dbl ? kD[f3] : kS[f3], IntRd(rd), rs1, rs2, 0, 4);
    }
    case 0x60:
    case 0x61: {
      static constexpr Op kS[] = {Op::kFcvtWS, Op::kFcvtWuS, Op::kFcvtLS,
                                  Op::kFcvtLuS};
      static constexpr Op kD[] = {Op::kFcvtWD, Op::kFcvtWuD, Op::kFcvtLD,
                                  Op::kFcvtLuD};
      if (rs2 > 3) break;
      return to_int(dbl ? kD[rs2] : kS[rs2]);
    }
    case 0x68:
    case 0x69: {
      static constexpr Op kS[] = {Op::kFcvtSW, Op::kFcvtSWu, Op::kFcvtSL,
                                  Op::kFcvtSLu};
      static constexpr Op kD[] = {Op::kFcvtDW, Op::kFcvtDWu, Op::kFcvtDL,
                                  Op::kFcvtDLu};
      if (rs2 > 3) break;
      return fp(dbl ? kD[rs2] : kS[rs2]);
    }
    case 0x70:
    case 0x71:
      if (rs2 != 0) break;
      if (f3 == 0) {
        return Make(dbl ? Op::kFmvXD : Op::kFmvXW, IntRd(rd), rs1, 0, 0, 4);
      }
      if (f3 == 1) {
        return Make(dbl ? Op::kFclassD : Op::kFclassS, IntRd(rd), rs1, 0, 0, 4);
      }
      break;
    case 0x78:
    case 0x79:
      if (rs2 != 0 || f3 != 0) break;
      return Make(dbl ? Op::kFmvDX : Op::kFmvWX, rd, rs1, 0, 0, 4);
    default:
      break;
  }
  return Illegal(w, 4);
}

Insn DecodeAmo(uint32_t w) {
  const uint32_t rd = Bits(w, 11, 7), rs1 = Bits(w, 19, 15),
                 rs2 = Bits(w, 24, 20), f3 = Bits(w, 14, 12),
                 f5 = Bits(w, 31, 27);
  if (f3 != 2 && f3 != 3) return Illegal(w, 4);
  const bool d = f3 == 3;
  Op op;
  switch (f5) {
    case 0x02:
      if (rs2 != 0) return Illegal(w, 4);
      op = d ? Op::kLrD : Op::kLrW;
      break;
    case 0x03:
      op = d ? Op::kScD : Op::kScW;
      break;
    case 0x01:
      op = d ? Op::kAmoswapD : Op::kAmoswapW;
      break;
    case 0x00:
      op = d ? Op::kAmoaddD : Op::kAmoaddW;
      break;
    case 0x04:
      op = d ? Op::kAmoxorD : Op::kAmoxorW;
      break;
    case 0x0c:
      op = d ? Op::kAmoandD : Op::kAmoandW;
      break;
    case 0x08:
      op = d ? Op::kAmoorD : Op::kAmoorW;
      break;
    case 0x10:
      op = d ? Op::kAmominD : Op::kAmominW;
      break;
    case 0x14:
      op = d ? Op::kAmomaxD : Op::kAmomaxW;
      break;
    case 0x18:
      op = d ? Op::kAmominuD : Op::kAmominuW;
      break;
    case 0x1c:
      op = d ? Op::kAmomaxuD : Op::kAmomaxuW;
      break;
    default:
      return Illegal(w, 4);
  }
  return Make(op, IntRd(rd), rs1, rs2, 0, 4);
}

Insn Decode32(uint32_t w) {
  const uint32_t rd = Bits(w, 11, 7), rs1 = Bits(w, 19, 15),
                 rs2 = Bits(w, 24, 20), f3 = Bits(w, 14, 12),
                 f7 = Bits(w, 31, 25);
  const int32_t imm_i = static_cast<int32_t>(w) >> 20;
  const int32_t imm_s =
      static_cast<int32_t>((static_cast<int32_t>(w) >> 25) * 32) |
      static_cast<int32_t>(Bits(w, 11, 7));
  const int32_t imm_b = Sext((Bit(w, 31) << 12) | (Bit(w, 7) << 11) |
                                 (Bits(w, 30, 25) << 5) | (Bits(w, 11, 8) << 1),
                             13);
  const int32_t imm_u = static_cast<int32_t>(w & 0xfffff000u);
  const int32_t imm_j = Sext((Bit(w, 31) << 20) | (Bits(w, 19, 12) << 12) |
                                 (Bit(w, 20) << 11) | (Bits(w, 30, 21) << 1),
                             21);
  switch (w & 0x7f) {
    case 0x37:
      return Make(Op::kLui, IntRd(rd), 0, 0, imm_u, 4);
    case 0x17:
      return Make(Op::kAuipc, IntRd(rd), 0, 0, imm_u, 4);
    case 0x6f:
      return Make(Op::kJal, IntRd(rd), 0, 0, imm_j, 4);
    case 0x67:
      if (f3 != 0) break;
      return Make(Op::kJalr, IntRd(rd), rs1, 0, imm_i, 4);
    case 0x63: {
      static constexpr Op kOps[] = {Op::kBeq,     Op::kBne, Op::kIllegal,
                                    Op::kIllegal, Op::kBlt, Op::kBge,
                                    Op::kBltu,    Op::kBgeu};
      if (kOps[f3] == Op::kIllegal) break;
      return Make(kOps[f3], 0, rs1, rs2, imm_b, 4);
    }
    case 0x03: {
      static constexpr Op kOps[] = {Op::kLb,  Op::kLh,  Op::kLw,  Op::kLd,
                                    Op::kLbu, Op::kLhu, Op::kLwu, Op::kIllegal};
      if (kOps[f3] == Op::kIllegal) break;
      return Make(kOps[f3], IntRd(rd), rs1, 0, imm_i, 4);
    }
    case 0x23: {
      static constexpr Op kOps[] = {Op::kSb, Op::kSh, Op::kSw, Op::kSd};
      if (f3 > 3) break;
      return Make(kOps[f3], 0, rs1, rs2, imm_s, 4);
    }
    case 0x13: {
      const uint32_t shamt = Bits(w, 25, 20), f6 = Bits(w, 31, 26);
      switch (f3) {
        case 0:
          return Make(Op::kAddi, IntRd(rd), rs1, 0, imm_i, 4);
        case 1:
          if (f6 != 0) break;
          return Make(Op::kSlli, IntRd(rd), rs1, 0, shamt, 4);
        case 2:
          return Make(Op::kSlti, IntRd(rd), rs1, 0, imm_i, 4);
        case 3:
          return Make(Op::kSltiu, IntRd(rd), rs1, 0, imm_i, 4);
        case 4:
          return Make(Op::kXori, IntRd(rd), rs1, 0, imm_i, 4);
        case 5:
          if (f6 == 0) return Make(Op::kSrli, IntRd(rd), rs1, 0, shamt, 4);
          if (f6 == 0x10) {
            return Make(Op::kSrai, IntRd(rd), rs1, 0, shamt, 4);
          }
          break;
        case 6:
          return Make(Op::kOri, IntRd(rd), rs1, 0, imm_i, 4);
        case 7:
          return Make(Op::kAndi, IntRd(rd), rs1, 0, imm_i, 4);
      }
      break;
    }
    case 0x33: {
      Op op = Op::kIllegal;
      if (f7 == 0x00) {
        static constexpr Op kOps[] = {Op::kAdd, Op::kSll, Op::kSlt, Op::kSltu,
                                      Op::kXor, Op::kSrl, Op::kOr,  Op::kAnd};
        op = kOps[f3];
      } else if (f7 == 0x20) {
        op = f3 == 0 ? Op::kSub : f3 == 5 ? Op::kSra : Op::kIllegal;
      } else if (f7 == 0x01) {
        static constexpr Op kOps[] = {Op::kMul,   Op::kMulh, Op::kMulhsu,
                                      Op::kMulhu, Op::kDiv,  Op::kDivu,
                                      Op::kRem,   Op::kRemu};
        op = kOps[f3];
      }
      if (op == Op::kIllegal) break;
      return Make(op, IntRd(rd), rs1, rs2, 0, 4);
    }
    case 0x1b: {
      const uint32_t shamt = Bits(w, 24, 20);
      if (f3 == 0) return Make(Op::kAddiw, IntRd(rd), rs1, 0, imm_i, 4);
      if (f3 == 1 && f7 == 0) {
        return Make(Op::kSlliw, IntRd(rd), rs1, 0, shamt, 4);
      }
      if (f3 == 5 && f7 == 0) {
        return Make(Op::kSrliw, IntRd(rd), rs1, 0, shamt, 4);
      }
      if (f3 == 5 && f7 == 0x20) {
        return Make(Op::kSraiw, IntRd(rd), rs1, 0, shamt, 4);
      }
      break;
    }
    case 0x3b: {
      Op op = Op::kIllegal;
      if (f7 == 0x00) {
        op = f3 == 0   ? Op::kAddw
             : f3 == 1 ? Op::kSllw
             : f3 == 5 ? Op::kSrlw
                       : Op::kIllegal;
      } else if (f7 == 0x20) {
        op = f3 == 0 ? Op::kSubw : f3 == 5 ? Op::kSraw : Op::kIllegal;
      } else if (f7 == 0x01) {
        static constexpr Op kOps[] = {Op::kMulw,    Op::kIllegal, Op::kIllegal,
                                      Op::kIllegal, Op::kDivw,    Op::kDivuw,
                                      Op::kRemw,    Op::kRemuw};
        op = kOps[f3];
      }
      if (op == Op::kIllegal) break;
      return Make(op, IntRd(rd), rs1, rs2, 0, 4);
    }
    case 0x0f:
      if (f3 == 0) return Make(Op::kFence, 0, 0, 0, 0, 4);
      if (f3 == 1) return Make(Op::kFenceI, 0, 0, 0, 0, 4);
      break;
    case 0x73:
      if (f3 == 0) {
        if (w == 0x00000073) return Make(Op::kEcall, 0, 0, 0, 0, 4);
        if (w == 0x00100073) return Make(Op::kEbreak, 0, 0, 0, 0, 4);
        break;
      }
      if (f3 == 4) break;
      {
        Insn i = Make(Op::kCsr, IntRd(rd), rs1, 0,
                      static_cast<int32_t>(Bits(w, 31, 20)), 4);
        i.rm = static_cast<uint8_t>(f3);
        return i;
      }
    case 0x2f:
      return DecodeAmo(w);
    case 0x07:
      if (f3 == 2) return Make(Op::kFlw, rd, rs1, 0, imm_i, 4);
      if (f3 == 3) return Make(Op::kFld, rd, rs1, 0, imm_i, 4);
      break;
    case 0x27:
      if (f3 == 2) return Make(Op::kFsw, 0, rs1, rs2, imm_s, 4);
      if (f3 == 3) return Make(Op::kFsd, 0, rs1, rs2, imm_s, 4);
      break;
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f: {
      const uint32_t fmt = Bits(w, 26, 25);
      if (fmt > 1 || f3 == 5 || f3 == 6) break;
      static constexpr Op kS[] = {Op::kFmaddS, Op::kFmsubS, Op::kFnmsubS,
                                  Op::kFnmaddS};
      static constexpr Op kD[] = {Op::kFmaddD, Op::kFmsubD, Op::kFnmsubD,
                                  Op::kFnmaddD};
      const uint32_t which = ((w & 0x7f) - 0x43) >> 2;
      Insn i = Make(fmt ? kD[which] : kS[which], rd, rs1, rs2,
                    static_cast<int32_t>(w), 4);
      i.rs3 = static_cast<uint8_t>(Bits(w, 31, 27));
      i.rm = static_cast<uint8_t>(f3);
      return i;
    }
    case 0x53:
      return DecodeOpFp(w);
    default:
      break;
  }
  return Illegal(w, 4);
}

// The compressed register fields rd'/rs1'/rs2' name x8..x15 (or f8..f15).
constexpr uint32_t Creg(uint32_t v) { return 8 + (v & 7); }

Insn Decode16(uint16_t h) {
  const uint32_t c = h;
  const uint32_t f3 = Bits(c, 15, 13);
  const uint32_t rd = Bits(c, 11, 7), rs2 = Bits(c, 6, 2);
  const uint32_t rdp = Creg(Bits(c, 4, 2)), rs1p = Creg(Bits(c, 9, 7));
  // Scaled unsigned offsets of the loads and stores.
  const uint32_t uimm_w = (Bits(c, 12, 10) << 3) | (Bit(c, 6) << 2) |
                          (Bit(c, 5) << 6);  // c.lw/c.sw
  const uint32_t uimm_d = (Bits(c, 12, 10) << 3) | (Bits(c, 6, 5) << 6);
  const int32_t imm6 = Sext((Bit(c, 12) << 5) | Bits(c, 6, 2), 6);
  const uint32_t shamt = (Bit(c, 12) << 5) | Bits(c, 6, 2);
  switch (c & 3) {
    case 0:
      switch (f3) {
        case 0: {  // c.addi4spn
          const uint32_t nzuimm = (Bits(c, 12, 11) << 4) |
                                  (Bits(c, 10, 7) << 6) | (Bit(c, 6) << 2) |
                                  (Bit(c, 5) << 3);
          if (nzuimm == 0) break;  // includes the all-zero illegal parcel
          return Make(Op::kAddi, rdp, 2, 0, static_cast<int32_t>(nzuimm), 2);
        }
        case 1:
          return Make(Op::kFld, rdp, rs1p, 0, uimm_d, 2);
        case 2:
          return Make(Op::kLw, rdp, rs1p, 0, uimm_w, 2);
        case 3:
          return Make(Op::kLd, rdp, rs1p, 0, uimm_d, 2);
        case 5:
          return Make(Op::kFsd, 0, rs1p, rdp, uimm_d, 2);
        case 6:
          return Make(Op::kSw, 0, rs1p, rdp, uimm_w, 2);
        case 7:
          return Make(Op::kSd, 0, rs1p, rdp, uimm_d, 2);
        default:
          break;
      }
      break;
    case 1:
      switch (f3) {
        case 0:  // c.addi (rd = 0: c.nop / hint)
          return Make(Op::kAddi, IntRd(rd), rd, 0, imm6, 2);
        case 1:  // c.addiw
          if (rd == 0) break;
          return Make(Op::kAddiw, rd, rd, 0, imm6, 2);
        case 2:  // c.li
          return Make(Op::kAddi, IntRd(rd), 0, 0, imm6, 2);
        case 3:
          if (rd == 2) {  // c.addi16sp
            const int32_t imm =
                Sext((Bit(c, 12) << 9) | (Bit(c, 6) << 4) | (Bit(c, 5) << 6) |
                         (Bits(c, 4, 3) << 7) | (Bit(c, 2) << 5),
                     10);
            if (imm == 0) break;
            return Make(Op::kAddi, 2, 2, 0, imm, 2);
          } else {  // c.lui
            const int32_t imm =
                Sext((Bit(c, 12) << 17) | (Bits(c, 6, 2) << 12), 18);
            if (imm == 0) break;
            return Make(Op::kLui, IntRd(rd), 0, 0, imm, 2);
          }
        case 4: {
          const uint32_t rdq = rs1p;
          switch (Bits(c, 11, 10)) {
            case 0:
              return Make(Op::kSrli, rdq, rdq, 0, shamt, 2);
            case 1:
              return Make(Op::kSrai, rdq, rdq, 0, shamt, 2);
            case 2:
              return Make(Op::kAndi, rdq, rdq, 0, imm6, 2);
            case 3: {
              static constexpr Op kOps[] = {
                  Op::kSub,  Op::kXor,  Op::kOr,      Op::kAnd,
                  Op::kSubw, Op::kAddw, Op::kIllegal, Op::kIllegal};
              const Op op = kOps[(Bit(c, 12) << 2) | Bits(c, 6, 5)];
              if (op == Op::kIllegal) break;
              return Make(op, rdq, rdq, rdp, 0, 2);
            }
          }
          break;
        }
        case 5: {  // c.j
          const int32_t imm = Sext(
              (Bit(c, 12) << 11) | (Bit(c, 11) << 4) | (Bits(c, 10, 9) << 8) |
                  (Bit(c, 8) << 10) | (Bit(c, 7) << 6) | (Bit(c, 6) << 7) |
                  (Bits(c, 5, 3) << 1) | (Bit(c, 2) << 5),
              12);
          return Make(Op::kJal, kSinkReg, 0, 0, imm, 2);
        }
        case 6:
        case 7: {  // c.beqz / c.bnez
          const int32_t imm = Sext((Bit(c, 12) << 8) | (Bits(c, 11, 10) << 3) |
                                       (Bits(c, 6, 5) << 6) |
                                       (Bits(c, 4, 3) << 1) | (Bit(c, 2) << 5),
                                   9);
          return Make(f3 == 6 ? Op::kBeq : Op::kBne, 0, rs1p, 0, imm, 2);
        }
      }
      break;
    case 2:
      switch (f3) {
        case 0:  // c.slli
          return Make(Op::kSlli, IntRd(rd), rd, 0, shamt, 2);
        case 1: {  // c.fldsp
          const uint32_t uimm =
              (Bit(c, 12) << 5) | (Bits(c, 6, 5) << 3) | (Bits(c, 4, 2) << 6);
          return Make(Op::kFld, rd, 2, 0, uimm, 2);
        }
        case 2: {  // c.lwsp
          if (rd == 0) break;
          const uint32_t uimm =
              (Bit(c, 12) << 5) | (Bits(c, 6, 4) << 2) | (Bits(c, 3, 2) << 6);
          return Make(Op::kLw, rd, 2, 0, uimm, 2);
        }
        case 3: {  // c.ldsp
          if (rd == 0) break;
          const uint32_t uimm =
              (Bit(c, 12) << 5) | (Bits(c, 6, 5) << 3) | (Bits(c, 4, 2) << 6);
          return Make(Op::kLd, rd, 2, 0, uimm, 2);
        }
        case 4:
          if (Bit(c, 12) == 0) {
            if (rs2 == 0) {  // c.jr
              if (rd == 0) break;
              return Make(Op::kJalr, kSinkReg, rd, 0, 0, 2);
            }
            return Make(Op::kAdd, IntRd(rd), 0, rs2, 0, 2);  // c.mv
          }
          if (rs2 == 0) {
            if (rd == 0) return Make(Op::kEbreak, 0, 0, 0, 0, 2);
            return Make(Op::kJalr, 1, rd, 0, 0, 2);  // c.jalr
          }
          return Make(Op::kAdd, IntRd(rd), rd, rs2, 0, 2);  // c.add
        case 5: {                                           // c.fsdsp
          const uint32_t uimm = (Bits(c, 12, 10) << 3) | (Bits(c, 9, 7) << 6);
          return Make(Op::kFsd, 0, 2, rs2, uimm, 2);
        }
        case 6: {  // c.swsp
          const uint32_t uimm = (Bits(c, 12, 9) << 2) | (Bits(c, 8, 7) << 6);
          return Make(Op::kSw, 0, 2, rs2, uimm, 2);
        }
        case 7: {  // c.sdsp
          const uint32_t uimm = (Bits(c, 12, 10) << 3) | (Bits(c, 9, 7) << 6);
          return Make(Op::kSd, 0, 2, rs2, uimm, 2);
        }
      }
      break;
  }
  return Illegal(c, 2);
}

}  // namespace

const char* OpName(Op op) {
  static constexpr const char* kNames[] = {
#define MEMMGR_RV64_OP_NAME(name) #name,
      MEMMGR_RV64_OPS(MEMMGR_RV64_OP_NAME)
#undef MEMMGR_RV64_OP_NAME
  };
  const auto i = static_cast<size_t>(op);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

Insn Decode(uint16_t lo, uint16_t hi) {
  Insn i;
  if (IsCompressed(lo)) {
    i = Specialise(Decode16(lo));
  } else {
    const uint32_t w = lo | (static_cast<uint32_t>(hi) << 16);
    // 48-bit and longer encodings (low bits 11111) are not part of RV64GC.
    i = (w & 0x1f) == 0x1f ? Illegal(w, 4) : Specialise(Decode32(w));
  }
  i.dispatch = static_cast<uint16_t>(2 * static_cast<unsigned>(i.op) +
                                     (i.len == 4 ? 1 : 0));
  return i;
}

}  // namespace memmgr::rv64
