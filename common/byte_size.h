// ByteSize: a memory size given by a person, e.g. on a flag or in a config
// file: "64M", "1G", "512Ki", "4096", "2GiB". Suffixes are binary (K = 1024,
// like the kernel's memparse and Kubernetes' Ki/Mi/Gi); a trailing "i" and/or
// "B" is accepted. No suffix means bytes. Every flag that takes a size uses
// this type, so `--memory=1G` means the same thing everywhere.
//
// Thread-safety: value type.
#ifndef MEMMGR_COMMON_BYTE_SIZE_H_
#define MEMMGR_COMMON_BYTE_SIZE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memmgr {

struct ByteSize {
  uint64_t bytes = 0;
};

// Parses "64M" etc. Errors (INVALID_ARGUMENT) name the bad text: empty,
// negative, fractional, unknown suffix, or overflow past 2^64-1.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// Formats with the largest exact binary suffix: 67108864 -> "64M",
// 1536 -> "1536" ... "1.5K" is never produced (round-trips through Parse).
std::string FormatByteSize(uint64_t bytes);

// Human-readable, approximate: 1536 -> "1.5 KiB". For logs and tables only.
std::string HumanBytes(uint64_t bytes);

// absl flags hooks: ABSL_FLAG(memmgr::ByteSize, memory, ...).
bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error);
std::string AbslUnparseFlag(ByteSize size);

}  // namespace memmgr

#endif  // MEMMGR_COMMON_BYTE_SIZE_H_
