// The on-disk format of the swap store in RocksDB (docs/rocksdb-schema.md is
// the user-facing description; keep both in step). All integers are
// little-endian in values and big-endian in keys (so keys sort by number).
//
//   "m/format"          -> u32 format version (kFormatVersion)
//   "m/generation"      -> u64: every generation below this was (maybe)
//                          issued; the next start issues from here
//   "m/next_lease"      -> u64: lease numbers below this were issued
//   "l" + be64(lease)   -> LeaseRecord protobuf
//   (server/lease/lease_record.proto) "s" + be64(slot)    -> SlotMeta: the
//   swap_map entry (generation, owner,
//                          refcount); scanned on restart to rebuild the map
//   "d" + be64(slot)    -> PageRecord: codec, crc32c, generation, payload
//
// Pure functions; thread-safe.
#ifndef MEMMGR_SERVER_SWAP_STORAGE_FORMAT_H_
#define MEMMGR_SERVER_SWAP_STORAGE_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memmgr {

inline constexpr uint32_t kFormatVersion = 1;

inline constexpr absl::string_view kFormatKey = "m/format";
inline constexpr absl::string_view kGenerationKey = "m/generation";
inline constexpr absl::string_view kNextLeaseKey = "m/next_lease";
inline constexpr char kLeasePrefix = 'l';
inline constexpr char kSlotMetaPrefix = 's';
inline constexpr char kPageDataPrefix = 'd';

class StorageBatch;

// Adds the deletes of both records of `slot` ("s" meta and "d" page) to
// *batch: the two are always written and deleted in the same batch.
void DeleteSlotRecords(uint64_t slot, StorageBatch* batch);

// A one-byte prefix followed by a big-endian u64.
std::string NumberKey(char prefix, uint64_t number);
// Parses a NumberKey with the given prefix; false if `key` is not one.
bool ParseNumberKey(absl::string_view key, char prefix, uint64_t* number);

std::string EncodeU64(uint64_t v);
absl::StatusOr<uint64_t> DecodeU64(absl::string_view value);

// The persistent part of a swap_map entry.
struct SlotMeta {
  uint64_t generation = 0;
  uint64_t owner = 0;     // lease number
  uint32_t refcount = 0;  // swap_map count: sharers of the slot
};
std::string EncodeSlotMeta(const SlotMeta& meta);
absl::StatusOr<SlotMeta> DecodeSlotMeta(absl::string_view value);

// How a page's bytes are stored. Only kRaw is written by this format version
// 1 server; the compressed tier adds codecs without changing the layout.
enum class PageCodec : uint8_t {
  kRaw = 0,
};

// PageRecord layout (20-byte header, then the payload):
//   u8 codec | u8 reserved | u16 reserved | u32 crc32c(page) | u64 generation
//   | u32 payload length | payload
// The crc covers the decoded 4096-byte page, so it checks storage and codec
// end to end.
inline constexpr size_t kPageRecordHeaderSize = 20;

// The 20-byte header of the record for `page`; the record is header + page.
std::string EncodePageRecordHeader(absl::string_view page, uint64_t generation);
// Appends the whole record for `page` (kPageSize bytes) to *out.
void EncodePageRecord(absl::string_view page, uint64_t generation,
                      std::string* out);

// Decodes a record into *page (kPageSize bytes). NOT_FOUND if the record's
// generation is not `expected_generation` (the slot was reused); DATA_LOSS on
// any malformation or crc mismatch.
absl::Status DecodePageRecord(absl::string_view record,
                              uint64_t expected_generation, std::string* page);

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SWAP_STORAGE_FORMAT_H_
