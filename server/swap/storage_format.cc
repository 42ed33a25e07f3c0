#include "server/swap/storage_format.h"

#include <cstring>
#include <limits>

#include "absl/base/internal/endian.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "server/swap/slot_storage.h"
#include "server/swap/swap_entry.h"

namespace memmgr {
namespace {

void PutLE32(char* p, uint32_t v) { absl::little_endian::Store32(p, v); }
void PutLE64(char* p, uint64_t v) { absl::little_endian::Store64(p, v); }
uint32_t GetLE32(const char* p) { return absl::little_endian::Load32(p); }
uint64_t GetLE64(const char* p) { return absl::little_endian::Load64(p); }

constexpr size_t kSlotMetaSize = 1 + 8 + 8 + 4;
constexpr uint8_t kSlotMetaVersion = 1;

constexpr uint8_t kRunMetaVersion = 1;
// version, owner, first_slot, first_generation, length
constexpr size_t kRunMetaHeaderSize = 1 + 4 + 8 + 8 + 4;

}  // namespace

std::string NumberKey(char prefix, uint64_t number) {
  std::string key(9, '\0');
  key[0] = prefix;
  absl::big_endian::Store64(key.data() + 1, number);
  return key;
}

bool ParseNumberKey(absl::string_view key, char prefix, uint64_t* number) {
  if (key.size() != 9 || key[0] != prefix) return false;
  *number = absl::big_endian::Load64(key.data() + 1);
  return true;
}

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  PutLE64(s.data(), v);
  return s;
}

absl::StatusOr<uint64_t> DecodeU64(absl::string_view value) {
  if (value.size() != 8) {
    return absl::DataLossError(absl::StrCat("expected an 8-byte integer, got ",
                                            value.size(), " bytes"));
  }
  return GetLE64(value.data());
}

std::string EncodeSlotMetaV1ForTest(const SlotMetaV1& meta) {
  std::string s(kSlotMetaSize, '\0');
  s[0] = static_cast<char>(kSlotMetaVersion);
  PutLE64(s.data() + 1, meta.generation);
  PutLE64(s.data() + 9, meta.owner);
  PutLE32(s.data() + 17, meta.refcount);
  return s;
}

absl::StatusOr<SlotMetaV1> DecodeSlotMetaV1(absl::string_view value) {
  if (value.size() != kSlotMetaSize ||
      static_cast<uint8_t>(value[0]) != kSlotMetaVersion) {
    return absl::DataLossError(absl::StrCat("malformed format-1 slot record (",
                                            value.size(), " bytes)"));
  }
  SlotMetaV1 meta;
  meta.generation = GetLE64(value.data() + 1);
  meta.owner = GetLE64(value.data() + 9);
  meta.refcount = GetLE32(value.data() + 17);
  if (meta.refcount == 0) {
    return absl::DataLossError("format-1 slot record with refcount 0");
  }
  return meta;
}

bool RunMeta::any_live() const {
  for (uint32_t c : counts) {
    if (c != 0) return true;
  }
  return false;
}

std::string RunKey(uint64_t first_generation) {
  return NumberKey(kRunMetaPrefix, first_generation);
}

void DeleteRunRecords(const RunMeta& run, StorageBatch* batch) {
  for (uint32_t i = 0; i < run.length(); ++i) {
    if (run.counts[i] != 0) {
      batch->Delete(NumberKey(kPageDataPrefix, run.first_slot + i));
    }
  }
  batch->Delete(RunKey(run.first_generation));
}

std::string EncodeRunMeta(const RunMeta& run) {
  const uint32_t length = run.length();
  const size_t bitmap_size = (length + 7) / 8;
  uint32_t exceptions = 0;
  for (uint32_t c : run.counts) exceptions += (c > 1);
  std::string s(kRunMetaHeaderSize + bitmap_size + 4 + 8 * exceptions, '\0');
  char* p = s.data();
  p[0] = static_cast<char>(kRunMetaVersion);
  PutLE32(p + 1, run.owner);
  PutLE64(p + 5, run.first_slot);
  PutLE64(p + 13, run.first_generation);
  PutLE32(p + 21, length);
  char* bitmap = p + kRunMetaHeaderSize;
  for (uint32_t i = 0; i < length; ++i) {
    if (run.counts[i] != 0) bitmap[i / 8] |= static_cast<char>(1 << (i % 8));
  }
  char* q = bitmap + bitmap_size;
  PutLE32(q, exceptions);
  q += 4;
  for (uint32_t i = 0; i < length; ++i) {
    if (run.counts[i] > 1) {
      PutLE32(q, i);
      PutLE32(q + 4, run.counts[i]);
      q += 8;
    }
  }
  return s;
}

absl::StatusOr<RunMeta> DecodeRunMeta(absl::string_view value) {
  auto malformed = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("malformed run record (", value.size(), " bytes): ", why));
  };
  if (value.size() < kRunMetaHeaderSize + 4) return malformed("too short");
  const char* p = value.data();
  if (static_cast<uint8_t>(p[0]) != kRunMetaVersion) {
    return malformed(absl::StrCat("version ", static_cast<uint8_t>(p[0])));
  }
  RunMeta run;
  run.owner = GetLE32(p + 1);
  run.first_slot = GetLE64(p + 5);
  run.first_generation = GetLE64(p + 13);
  const uint32_t length = GetLE32(p + 21);
  if (length == 0 || length > kMaxRunSlots) {
    return malformed(absl::StrCat("length ", length));
  }
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (run.first_slot > kMax - length || run.first_generation > kMax - length) {
    return malformed("slot or generation range overflows");
  }
  const size_t bitmap_size = (length + 7) / 8;
  if (value.size() < kRunMetaHeaderSize + bitmap_size + 4) {
    return malformed("truncated bitmap");
  }
  const char* bitmap = p + kRunMetaHeaderSize;
  run.counts.assign(length, 0);
  for (uint32_t i = 0; i < bitmap_size * 8; ++i) {
    const bool live = (static_cast<uint8_t>(bitmap[i / 8]) >> (i % 8)) & 1;
    if (!live) continue;
    if (i >= length) return malformed("bits set past the run length");
    run.counts[i] = 1;
  }
  const char* q = bitmap + bitmap_size;
  const uint32_t exceptions = GetLE32(q);
  q += 4;
  if (value.size() !=
      kRunMetaHeaderSize + bitmap_size + 4 + uint64_t{8} * exceptions) {
    return malformed(absl::StrCat(exceptions, " count exceptions"));
  }
  int64_t previous = -1;
  for (uint32_t e = 0; e < exceptions; ++e, q += 8) {
    const uint32_t index = GetLE32(q);
    const uint32_t count = GetLE32(q + 4);
    if (static_cast<int64_t>(index) <= previous || index >= length) {
      return malformed("count exceptions out of order or range");
    }
    if (run.counts[index] == 0 || count < 2) {
      return malformed(absl::StrCat("count ", count, " for slot index ", index,
                                    run.counts[index] == 0 ? " (dead)" : ""));
    }
    run.counts[index] = count;
    previous = index;
  }
  if (!run.any_live()) return malformed("no live slot");
  return run;
}

std::string EncodePageRecordHeader(absl::string_view page,
                                   uint64_t generation) {
  std::string h(kPageRecordHeaderSize, '\0');
  char* p = h.data();
  p[0] = static_cast<char>(PageCodec::kRaw);
  PutLE32(p + 4, Crc32c(page));
  PutLE64(p + 8, generation);
  PutLE32(p + 16, static_cast<uint32_t>(page.size()));
  return h;
}

std::string EncodePageRecordHeader(const EncodedPage& page,
                                   uint64_t generation) {
  std::string h(kPageRecordHeaderSize, '\0');
  char* p = h.data();
  p[0] = static_cast<char>(page.codec);
  PutLE32(p + 4, page.crc);
  PutLE64(p + 8, generation);
  PutLE32(p + 16, static_cast<uint32_t>(page.payload.size()));
  return h;
}

void EncodePageRecord(absl::string_view page, uint64_t generation,
                      std::string* out) {
  out->append(EncodePageRecordHeader(page, generation));
  out->append(page.data(), page.size());
}

absl::Status DecodePageRecord(absl::string_view record,
                              uint64_t expected_generation, std::string* page) {
  if (record.size() < kPageRecordHeaderSize) {
    return absl::DataLossError(
        absl::StrCat("page record truncated to ", record.size(), " bytes"));
  }
  const char* p = record.data();
  const uint32_t crc = GetLE32(p + 4);
  const uint64_t generation = GetLE64(p + 8);
  const uint32_t length = GetLE32(p + 16);
  if (generation != expected_generation) {
    return absl::NotFoundError(
        absl::StrCat("slot was reused: stored generation ", generation,
                     ", entry has ", expected_generation));
  }
  if (record.size() != kPageRecordHeaderSize + length) {
    return absl::DataLossError(absl::StrCat("page record length ", length,
                                            " in a ", record.size(),
                                            "-byte record"));
  }
  page->resize(kPageSize);
  absl::Status s =
      DecodePage(static_cast<PageCodec>(static_cast<uint8_t>(p[0])),
                 record.substr(kPageRecordHeaderSize), crc, page->data());
  if (!s.ok()) page->clear();
  return s;
}

}  // namespace memmgr
