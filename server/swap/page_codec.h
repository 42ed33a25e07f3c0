// How one 4 KiB page is stored: raw, LZ4, zstd, or same-filled (the page is
// one 8-byte word repeated, zero pages included: stored as that word, as
// zswap's same-filled pages are). Used by the page records in RocksDB
// (storage_format.h) and by the compressed tier's pool (server/zswap), which
// share one encoding so a page is compressed once per SwapOut.
//
// Every encoded page carries the crc32c of the decoded page: decoding checks
// it, so rot in storage, a codec bug or a torn record is DATA_LOSS, never
// wrong bytes.
//
// Thread-safety: the functions are thread-safe (a per-thread scratch
// buffer and zstd contexts, no shared state).
#ifndef MEMMGR_SERVER_SWAP_PAGE_CODEC_H_
#define MEMMGR_SERVER_SWAP_PAGE_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memmgr {

// Stored in page records: the values never change.
enum class PageCodec : uint8_t {
  kRaw = 0,
  kLz4 = 1,
  kZstd = 2,
  kSameFilled = 3,  // payload: the 8-byte word, little-endian
};
const char* PageCodecName(PageCodec c);  // "raw", "lz4", "zstd", "same"

// What SwapOut compresses with (--zswap_compressor).
enum class Compressor : uint8_t { kNone, kLz4, kZstd };
const char* CompressorName(Compressor c);  // "none", "lz4", "zstd"
// "lz4" | "zstd" | "none"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Compressor> ParseCompressor(absl::string_view name);

struct EncodedPage {
  PageCodec codec = PageCodec::kRaw;
  uint32_t crc = 0;     // crc32c of the decoded page
  std::string payload;  // the stored bytes
  // Compression was tried and did not get under the limit: stored raw
  // (zswap's reject_compress_poor).
  bool compress_poor = false;
};

struct EncodeOptions {
  Compressor compressor = Compressor::kLz4;
  // A compressed page larger than this is stored raw instead (kept at
  // most this; default 3 KiB: saving less than a quarter of a page is not
  // worth a decompression on every read).
  uint32_t max_compressed_bytes = 3072;
  int zstd_level = 1;
};

// True if `page` (kPageSize bytes) is one 8-byte word repeated; *word gets
// it.
bool SameFilled(absl::string_view page, uint64_t* word);

// Encodes `page` (exactly kPageSize bytes): same-filled first, then the
// compressor if it gets the page to max_compressed_bytes or less, else raw.
EncodedPage EncodePage(absl::string_view page, const EncodeOptions& options);

// Decodes into out[0..kPageSize) and checks the crc. DATA_LOSS on an
// unknown codec, a payload that does not decode to exactly one page, or a
// crc mismatch.
absl::Status DecodePage(PageCodec codec, absl::string_view payload,
                        uint32_t crc, char* out);

}  // namespace memmgr

#endif  // MEMMGR_SERVER_SWAP_PAGE_CODEC_H_
