// CRC-32C (Castagnoli), the checksum RocksDB, ext4 and iSCSI use. Abseil
// 20220623 has no absl/crc yet, so we bring our own: SSE4.2 `crc32`
// instructions when the CPU has them, a table-driven fallback otherwise.
//
// Thread-safety: pure functions, safe for concurrent use.
#ifndef MEMMGR_COMMON_CRC32C_H_
#define MEMMGR_COMMON_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace memmgr {

// Extends `crc` (the crc32c of the bytes before `data`) over `data`.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

inline uint32_t Crc32c(const void* data, size_t n) {
  return Crc32cExtend(0, data, n);
}
inline uint32_t Crc32c(absl::string_view s) {
  return Crc32c(s.data(), s.size());
}

// The portable implementation, exposed so tests can compare both paths.
uint32_t Crc32cExtendPortableForTest(uint32_t crc, const void* data, size_t n);
// True when the hardware path is in use on this CPU.
bool Crc32cIsHardwareAccelerated();

}  // namespace memmgr

#endif  // MEMMGR_COMMON_CRC32C_H_
