// RV64 M-extension and word-operation semantics shared by the interpreter
// and the JIT's helpers, so both compute exactly the same results.
#ifndef MEMMGR_WORKER_RV64_ALU_H_
#define MEMMGR_WORKER_RV64_ALU_H_

#include <cstdint>

namespace memmgr::rv64 {

inline uint64_t Sext32(uint64_t v) {
  return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v)));
}

// RISC-V M division semantics: no traps (spec 13.2).
inline uint64_t Div(uint64_t a, uint64_t b) {
  const auto sa = static_cast<int64_t>(a), sb = static_cast<int64_t>(b);
  if (b == 0) return ~uint64_t{0};
  if (sa == INT64_MIN && sb == -1) return a;
  return static_cast<uint64_t>(sa / sb);
}
inline uint64_t Rem(uint64_t a, uint64_t b) {
  const auto sa = static_cast<int64_t>(a), sb = static_cast<int64_t>(b);
  if (b == 0) return a;
  if (sa == INT64_MIN && sb == -1) return 0;
  return static_cast<uint64_t>(sa % sb);
}
inline uint64_t Divw(uint64_t a, uint64_t b) {
  const auto sa = static_cast<int32_t>(a), sb = static_cast<int32_t>(b);
  if (sb == 0) return ~uint64_t{0};
  if (sa == INT32_MIN && sb == -1) return Sext32(static_cast<uint32_t>(sa));
  return Sext32(static_cast<uint32_t>(sa / sb));
}
inline uint64_t Remw(uint64_t a, uint64_t b) {
  const auto sa = static_cast<int32_t>(a), sb = static_cast<int32_t>(b);
  if (sb == 0) return Sext32(static_cast<uint32_t>(sa));
  if (sa == INT32_MIN && sb == -1) return 0;
  return Sext32(static_cast<uint32_t>(sa % sb));
}
inline uint64_t Divuw(uint64_t a, uint64_t b) {
  const auto ua = static_cast<uint32_t>(a), ub = static_cast<uint32_t>(b);
  if (ub == 0) return ~uint64_t{0};
  return Sext32(ua / ub);
}
inline uint64_t Remuw(uint64_t a, uint64_t b) {
  const auto ua = static_cast<uint32_t>(a), ub = static_cast<uint32_t>(b);
  if (ub == 0) return Sext32(ua);
  return Sext32(ua % ub);
}

inline uint64_t Mulh(uint64_t a, uint64_t b) {
  const __int128 p = static_cast<__int128>(static_cast<int64_t>(a)) *
                     static_cast<__int128>(static_cast<int64_t>(b));
  return static_cast<uint64_t>(static_cast<unsigned __int128>(p) >> 64);
}
inline uint64_t Mulhsu(uint64_t a, uint64_t b) {
  const __int128 p =
      static_cast<__int128>(static_cast<int64_t>(a)) * static_cast<__int128>(b);
  return static_cast<uint64_t>(static_cast<unsigned __int128>(p) >> 64);
}
inline uint64_t Mulhu(uint64_t a, uint64_t b) {
  const unsigned __int128 p =
      static_cast<unsigned __int128>(a) * static_cast<unsigned __int128>(b);
  return static_cast<uint64_t>(p >> 64);
}
inline uint64_t Divu(uint64_t a, uint64_t b) {
  return b == 0 ? ~uint64_t{0} : a / b;
}
inline uint64_t Remu(uint64_t a, uint64_t b) { return b == 0 ? a : a % b; }

}  // namespace memmgr::rv64

#endif  // MEMMGR_WORKER_RV64_ALU_H_
