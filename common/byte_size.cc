#include "common/byte_size.h"

#include <cctype>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace memmgr {

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  if (s.empty()) return absl::InvalidArgumentError("empty size");
  size_t digits = 0;
  while (digits < s.size() && absl::ascii_isdigit(s[digits])) ++digits;
  if (digits == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad size \"", text, "\": want a whole number with an optional ",
        "K/M/G/T suffix, e.g. 64M"));
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(s.substr(0, digits), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("size \"", text, "\" is too large"));
  }
  absl::string_view suffix = s.substr(digits);
  int shift = 0;
  if (!suffix.empty()) {
    switch (absl::ascii_toupper(suffix[0])) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      case 'B':
        shift = 0;
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("bad size \"", text, "\": unknown suffix \"", suffix,
                         "\" (use K, M, G or T, binary units)"));
    }
    absl::string_view rest = suffix.substr(1);
    if (shift != 0) {
      if (!rest.empty() && rest[0] == 'i') rest.remove_prefix(1);
      if (!rest.empty() && absl::ascii_toupper(rest[0]) == 'B') {
        rest.remove_prefix(1);
      }
    }
    if (!rest.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("bad size \"", text,
                                                     "\": unexpected \"", rest,
                                                     "\" after the number"));
    }
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) {
    return absl::InvalidArgumentError(
        absl::StrCat("size \"", text, "\" is too large"));
  }
  return value << shift;
}

std::string FormatByteSize(uint64_t bytes) {
  static constexpr struct {
    int shift;
    char suffix;
  } kUnits[] = {{40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}};
  if (bytes != 0) {
    for (const auto& u : kUnits) {
      uint64_t unit = uint64_t{1} << u.shift;
      if (bytes % unit == 0)
        return absl::StrCat(bytes / unit, std::string(1, u.suffix));
    }
  }
  return absl::StrCat(bytes);
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1024.0 && i < 6) {
    v /= 1024.0;
    ++i;
  }
  char buf[32];
  if (i == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B",
                  static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kNames[i]);
  }
  return buf;
}

bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error) {
  absl::StatusOr<uint64_t> parsed = ParseByteSize(text);
  if (!parsed.ok()) {
    *error = std::string(parsed.status().message());
    return false;
  }
  size->bytes = *parsed;
  return true;
}

std::string AbslUnparseFlag(ByteSize size) {
  return FormatByteSize(size.bytes);
}

}  // namespace memmgr
