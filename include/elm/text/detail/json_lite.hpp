// SPDX-License-Identifier: MIT
// A minimal reader for flat JSON objects of string keys and integer values (a tokenizer's vocab.json).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/text/utf8.hpp"

namespace elm::text::detail {

class JsonLite {
 public:
  JsonLite(std::string_view text, std::string_view name) : s_(text), name_(name) {}

  /// Parses {"key": integer, ...} into (key, value) pairs in file order. Throws FormatError with the offset.
  std::vector<std::pair<std::string, std::int64_t>> parse_string_to_int_object() {
    std::vector<std::pair<std::string, std::int64_t>> out;
    skip_ws();
    expect('{');
    skip_ws();
    if (peek() == '}') {
      ++pos_;
    } else {
      while (true) {
        skip_ws();
        std::string key = parse_string();
        skip_ws();
        expect(':');
        skip_ws();
        const std::int64_t value = parse_integer();
        out.emplace_back(std::move(key), value);
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect('}');
        break;
      }
    }
    skip_ws();
    if (pos_ != s_.size()) fail("end of input after the closing '}'");
    return out;
  }

  /// Parses one JSON string starting at the current position (which must be '"').
  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("a closing '\"'");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("no raw control character inside a string");
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) fail("an escape character after '\\'");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          char32_t cp = parse_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 1 >= s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') fail("a low surrogate escape");
            pos_ += 2;
            const char32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("a low surrogate (\\uDC00..\\uDFFF)");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("no lone low surrogate");
          }
          append_utf8(cp, out);
          break;
        }
        default: fail("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
      }
    }
    return out;
  }

  std::size_t position() const noexcept { return pos_; }

 private:
  [[noreturn]] void fail(std::string_view expected) const {
    throw FormatError(elm::detail::concat(name_, ": malformed JSON at byte offset ", pos_, ", expected ", expected));
  }
  char peek() const noexcept { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("'") + c + "'");
    ++pos_;
  }
  void skip_ws() noexcept {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  char32_t parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("four hex digits after \\u");
    char32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<char32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<char32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<char32_t>(h - 'A' + 10);
      else fail("a hex digit after \\u");
    }
    return v;
  }
  std::int64_t parse_integer() {
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++pos_;
    }
    if (peek() < '0' || peek() > '9') fail("an integer value");
    std::int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (v > (INT64_MAX - 9) / 10) fail("an integer that fits in 64 bits");
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E') fail("an integer value, not a fraction");
    return negative ? -v : v;
  }

  std::string_view s_;
  std::string name_;
  std::size_t pos_ = 0;
};

}  // namespace elm::text::detail
