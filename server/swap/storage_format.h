// The on-disk format of the swap store in RocksDB (docs/rocksdb-schema.md is
// the user-facing description; keep both in step). All integers are
// little-endian in values and big-endian in keys (so keys sort by number).
//
//   "m/format"          -> u64 format version (kFormatVersion)
//   "m/generation"      -> u64: every generation below this was (maybe)
//                          issued; the next start issues from here
//   "m/next_lease"      -> u64: lease numbers below this were issued
//   "l" + be64(lease)   -> LeaseRecord protobuf
//                          (server/lease/lease_record.proto)
//   "r" + be64(gen)     -> RunMeta: the swap_map entries of one run of
//                          neighbouring slots a SwapOut allocated, keyed by
//                          the run's first generation (never reissued);
//                          scanned on restart to rebuild the map
//   "d" + be64(slot)    -> PageRecord: codec, crc32c, generation, payload
//   "s" + be64(slot)    -> format 1 only: SlotMetaV1 per slot; converted to
//                          one-slot runs when a format-1 directory is opened
//
// Pure functions; thread-safe.
#ifndef MEMMGR_SERVER_SWAP_STORAGE_FORMAT_H_
#define MEMMGR_SERVER_SWAP_STORAGE_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/swap/page_codec.h"

namespace memmgr {

inline constexpr uint32_t kFormatVersion = 2;
// The only older format; opening it converts it (SwapStore::Open).
inline constexpr uint32_t kFormatVersionV1 = 1;

inline constexpr absl::string_view kFormatKey = "m/format";
inline constexpr absl::string_view kGenerationKey = "m/generation";
inline constexpr absl::string_view kNextLeaseKey = "m/next_lease";
inline constexpr char kLeasePrefix = 'l';
inline constexpr char kPageDataPrefix = 'd';
inline constexpr char kRunMetaPrefix = 'r';
// Format 1's per-slot metadata records, read only to convert them.
inline constexpr char kSlotMetaV1Prefix = 's';

// The most slots one run record describes: a run is part of one SwapOut
// batch, and batches are at most 4096 pages (SwapStoreOptions).
inline constexpr uint32_t kMaxRunSlots = 4096;

class StorageBatch;

// A one-byte prefix followed by a big-endian u64.
std::string NumberKey(char prefix, uint64_t number);
// Parses a NumberKey with the given prefix; false if `key` is not one.
bool ParseNumberKey(absl::string_view key, char prefix, uint64_t* number);

std::string EncodeU64(uint64_t v);
absl::StatusOr<uint64_t> DecodeU64(absl::string_view value);

// Format 1's persistent part of a swap_map entry (21 bytes: u8 version 1,
// u64 generation, u64 owner, u32 refcount >= 1).
struct SlotMetaV1 {
  uint64_t generation = 0;
  uint64_t owner = 0;     // lease number
  uint32_t refcount = 0;  // swap_map count: sharers of the slot
};
absl::StatusOr<SlotMetaV1> DecodeSlotMetaV1(absl::string_view value);
// Format 1's encoder, for tests that write a format-1 directory; the server
// never writes format 1.
std::string EncodeSlotMetaV1ForTest(const SlotMetaV1& meta);

// The persistent part of the swap_map entries of one run: `length`
// neighbouring slots first_slot, first_slot+1, ... that one SwapOut batch
// allocated with generations first_generation, first_generation+1, ... (the
// allocator issues a batch's generations in batch order, and a run is a
// stretch of the batch). Stored under
// RunKey(first_generation). counts[i] is slot first_slot+i's sharer count,
// 0 once that slot is freed (it may since hold another run's page).
struct RunMeta {
  uint32_t owner = 0;  // lease number
  uint64_t first_slot = 0;
  uint64_t first_generation = 0;
  std::vector<uint32_t> counts;  // size() is the run length

  uint32_t length() const { return static_cast<uint32_t>(counts.size()); }
  bool any_live() const;
};

std::string RunKey(uint64_t first_generation);

// Adds to *batch the deletes of `run`'s record and of the page records of
// its live slots: a run record and its pages go in the same batch.
void DeleteRunRecords(const RunMeta& run, StorageBatch* batch);

// Layout: u8 version (1) | u32 owner | u64 first_slot | u64 first_generation
// | u32 length | live bitmap, (length + 7) / 8 bytes, bit i = slot i live |
// u32 n | n x (u32 index, u32 count) for the live slots whose count is not
// 1, by ascending index. A run's slots usually all have count 1, so a
// 64-slot run is 37 bytes.
std::string EncodeRunMeta(const RunMeta& run);
// DATA_LOSS on any malformation: wrong version or size, length 0 or above
// kMaxRunSlots, bits past the length, an exception for a dead slot or with
// count < 2, unsorted exceptions, no live slot at all, slot or generation
// ranges that overflow.
absl::StatusOr<RunMeta> DecodeRunMeta(absl::string_view value);

// PageRecord layout (20-byte header, then the payload):
//   u8 codec | u8 reserved | u16 reserved | u32 crc32c(page) | u64 generation
//   | u32 payload length | payload
// The codec (page_codec.h: raw, lz4, zstd, same-filled) says how the payload
// decodes to the page; formats 1 and 2 before the compressed tier wrote only
// raw records, which decode unchanged. The crc covers the decoded 4096-byte
// page, so it checks storage and codec end to end.
inline constexpr size_t kPageRecordHeaderSize = 20;

// The 20-byte header of the raw record for `page`; the record is header +
// page.
std::string EncodePageRecordHeader(absl::string_view page, uint64_t generation);
// The header of the record for an encoded page; the record is header +
// page.payload.
std::string EncodePageRecordHeader(const EncodedPage& page,
                                   uint64_t generation);
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
