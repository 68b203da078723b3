// SPDX-License-Identifier: MIT
// UTF-8 decoding and encoding with errors that give the byte offset of the first invalid sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/error.hpp"

namespace elm::text {

/// Result of decoding one code point: its value and its length in bytes (1 to 4); length 0 means invalid.
struct DecodedCodePoint {
  char32_t code_point = 0;
  std::size_t length = 0;
};

/// Decodes the code point starting at s[pos] without throwing. Rejects what RFC 3629 rejects: overlong
/// forms, surrogates (U+D800..U+DFFF), values above U+10FFFF, stray continuation bytes, truncation.
inline DecodedCodePoint decode_code_point(std::string_view s, std::size_t pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const std::size_t n = s.size();
  if (pos >= n) return {};
  const unsigned char b0 = byte(pos);
  if (b0 < 0x80) return {b0, 1};
  std::size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {};
  }
  if (pos + len > n) return {};
  for (std::size_t i = 1; i < len; ++i) {
    const unsigned char b = byte(pos + i);
    if ((b & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
  return {cp, len};
}

/// Byte offset of the first invalid UTF-8 sequence in s, or npos when s is valid.
inline std::size_t find_invalid_utf8(std::string_view s) noexcept {
  std::size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const DecodedCodePoint d = decode_code_point(s, pos);
    if (d.length == 0) return pos;
    pos += d.length;
  }
  return std::string_view::npos;
}

namespace detail {
[[noreturn]] inline void throw_invalid_utf8(std::string_view s, std::size_t offset, std::string_view where) {
  constexpr const char* hex = "0123456789abcdef";
  const auto b = static_cast<unsigned char>(s[offset]);
  throw FormatError(elm::detail::concat(where, ": invalid UTF-8 at byte offset ", offset, " (byte 0x", hex[b >> 4],
                                        hex[b & 15], "), expected a valid UTF-8 sequence"));
}
}  // namespace detail

/// Throws FormatError naming `where` and the byte offset unless s is valid UTF-8.
inline void check_utf8(std::string_view s, std::string_view where) {
  const std::size_t bad = find_invalid_utf8(s);
  if (bad != std::string_view::npos) detail::throw_invalid_utf8(s, bad, where);
}

/// Decodes all of s into code points; throws FormatError (where, byte offset) on invalid input.
inline std::u32string decode_utf8(std::string_view s, std::string_view where = "elm::text::decode_utf8") {
  std::u32string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  while (pos < s.size()) {
    const DecodedCodePoint d = decode_code_point(s, pos);
    if (d.length == 0) detail::throw_invalid_utf8(s, pos, where);
    out.push_back(d.code_point);
    pos += d.length;
  }
  return out;
}

/// Appends the UTF-8 encoding of cp to out. Throws InvalidArgument for surrogates and values above U+10FFFF.
inline void append_utf8(char32_t cp, std::string& out) {
  ELM_EXPECT(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), InvalidArgument,
             "elm::text::append_utf8: U+", static_cast<std::uint32_t>(cp), " is not a Unicode scalar value");
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// UTF-8 encoding of a code-point string.
inline std::string encode_utf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append_utf8(cp, out);
  return out;
}

}  // namespace elm::text
