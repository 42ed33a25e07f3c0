#include "server/swap/page_codec.h"

#include <lz4.h>
#include <zstd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"

namespace memmgr {
namespace {

constexpr size_t kPage = 4096;

void PutLE64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetLE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}

}  // namespace

const char* PageCodecName(PageCodec c) {
  switch (c) {
    case PageCodec::kRaw:
      return "raw";
    case PageCodec::kLz4:
      return "lz4";
    case PageCodec::kZstd:
      return "zstd";
    case PageCodec::kSameFilled:
      return "same";
  }
  return "?";
}

const char* CompressorName(Compressor c) {
  switch (c) {
    case Compressor::kNone:
      return "none";
    case Compressor::kLz4:
      return "lz4";
    case Compressor::kZstd:
      return "zstd";
  }
  return "?";
}

absl::StatusOr<Compressor> ParseCompressor(absl::string_view name) {
  if (name == "lz4") return Compressor::kLz4;
  if (name == "zstd") return Compressor::kZstd;
  if (name == "none") return Compressor::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("compressor '", name, "': want lz4, zstd or none"));
}

bool SameFilled(absl::string_view page, uint64_t* word) {
  if (page.size() != kPage) return false;
  uint64_t first;
  std::memcpy(&first, page.data(), 8);
  // Compare 8 words at a time against the first (vectorises).
  const char* p = page.data();
  for (size_t off = 8; off < kPage; off += 8) {
    uint64_t w;
    std::memcpy(&w, p + off, 8);
    if (w != first) return false;
  }
  *word = first;
  return true;
}

EncodedPage EncodePage(absl::string_view page, const EncodeOptions& options) {
  EncodedPage e;
  e.crc = Crc32c(page);
  uint64_t word;
  if (SameFilled(page, &word)) {
    e.codec = PageCodec::kSameFilled;
    e.payload.resize(8);
    PutLE64(e.payload.data(), word);
    return e;
  }
  const size_t limit = options.max_compressed_bytes;
  // Compress into a per-thread scratch buffer and copy out exactly the
  // result: a payload string sized to the bound and then shrunk would keep
  // its ~4 KiB capacity, and the pool would hold (and count) far less than
  // it really uses.
  thread_local std::string scratch;
  if (options.compressor == Compressor::kLz4) {
    scratch.resize(static_cast<size_t>(LZ4_compressBound(kPage)));
    const int n = LZ4_compress_default(page.data(), scratch.data(),
                                       static_cast<int>(kPage),
                                       static_cast<int>(scratch.size()));
    if (n > 0 && static_cast<size_t>(n) <= limit) {
      e.payload.assign(scratch.data(), static_cast<size_t>(n));
      e.codec = PageCodec::kLz4;
      return e;
    }
    e.compress_poor = true;
  } else if (options.compressor == Compressor::kZstd) {
    // One compression context per thread (ZSTD_compress makes one per call).
    struct Ctx {
      ZSTD_CCtx* c = ZSTD_createCCtx();
      ~Ctx() { ZSTD_freeCCtx(c); }
    };
    thread_local Ctx ctx;
    scratch.resize(ZSTD_compressBound(kPage));
    const size_t n = ZSTD_compressCCtx(ctx.c, scratch.data(), scratch.size(),
                                       page.data(), kPage, options.zstd_level);
    if (!ZSTD_isError(n) && n <= limit) {
      e.payload.assign(scratch.data(), n);
      e.codec = PageCodec::kZstd;
      return e;
    }
    e.compress_poor = true;
  }
  e.codec = PageCodec::kRaw;
  e.payload.assign(page.data(), page.size());
  return e;
}

absl::Status DecodePage(PageCodec codec, absl::string_view payload,
                        uint32_t crc, char* out) {
  switch (codec) {
    case PageCodec::kRaw:
      if (payload.size() != kPage) {
        return absl::DataLossError(
            absl::StrCat("raw page payload of ", payload.size(), " bytes"));
      }
      std::memcpy(out, payload.data(), kPage);
      break;
    case PageCodec::kSameFilled: {
      if (payload.size() != 8) {
        return absl::DataLossError(absl::StrCat("same-filled page payload of ",
                                                payload.size(), " bytes"));
      }
      const uint64_t word = GetLE64(payload.data());
      for (size_t off = 0; off < kPage; off += 8) {
        std::memcpy(out + off, &word, 8);
      }
      break;
    }
    case PageCodec::kLz4: {
      const int n = LZ4_decompress_safe(payload.data(), out,
                                        static_cast<int>(payload.size()),
                                        static_cast<int>(kPage));
      if (n != static_cast<int>(kPage)) {
        return absl::DataLossError(absl::StrCat("lz4 page payload of ",
                                                payload.size(),
                                                " bytes does not decode "
                                                "to one page (",
                                                n, ")"));
      }
      break;
    }
    case PageCodec::kZstd: {
      struct Ctx {
        ZSTD_DCtx* d = ZSTD_createDCtx();
        ~Ctx() { ZSTD_freeDCtx(d); }
      };
      thread_local Ctx ctx;
      const size_t n = ZSTD_decompressDCtx(ctx.d, out, kPage, payload.data(),
                                           payload.size());
      if (ZSTD_isError(n) || n != kPage) {
        return absl::DataLossError(absl::StrCat(
            "zstd page payload of ", payload.size(),
            " bytes does not decode to one page: ",
            ZSTD_isError(n) ? ZSTD_getErrorName(n) : std::to_string(n)));
      }
      break;
    }
    default:
      return absl::DataLossError(
          absl::StrCat("unknown page codec ", static_cast<int>(codec)));
  }
  if (Crc32c(out, kPage) != crc) {
    return absl::DataLossError("page failed its crc32c check");
  }
  return absl::OkStatus();
}

}  // namespace memmgr
