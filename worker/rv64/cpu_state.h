// CpuState: the user-visible architectural state of one RV64GC hart — what a
// snapshot saves and fork copies. Registers are plain values; the
// interpreter owns the hart while it runs (see interpreter.h).
//
// x[0] reads as zero. The decoder redirects every write to x0 into the
// scratch slot x[kSinkReg], so handlers write rd unconditionally and x[0]
// stays 0 without a branch.
#ifndef MEMMGR_WORKER_RV64_CPU_STATE_H_
#define MEMMGR_WORKER_RV64_CPU_STATE_H_

#include <cstdint>

namespace memmgr::rv64 {

inline constexpr int kSinkReg = 32;
inline constexpr uint64_t kNoReservation = ~uint64_t{0};

// ABI register numbers the syscall layer uses.
enum Reg : int {
  kRa = 1,
  kSp = 2,
  kGp = 3,
  kTp = 4,
  kA0 = 10,
  kA1 = 11,
  kA2 = 12,
  kA3 = 13,
  kA4 = 14,
  kA5 = 15,
  kA7 = 17,
};

struct CpuState {
  uint64_t x[33] = {};  // x0..x31 + the x0 write sink
  uint64_t f[32] = {};  // raw bits; singles are NaN-boxed
  uint64_t pc = 0;
  uint32_t fflags = 0;   // fcsr[4:0], accrued exceptions
  uint32_t frm = 0;      // fcsr[7:5], dynamic rounding mode
  uint64_t instret = 0;  // retired instructions (the instret CSR)
  // LR/SC: the address an LR reserved, or kNoReservation. One hart per
  // address space, so only this hart's own SC (or a trap) clears it.
  uint64_t reservation = kNoReservation;
};

}  // namespace memmgr::rv64

#endif  // MEMMGR_WORKER_RV64_CPU_STATE_H_
