// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "elm/text/utf8.hpp"

using Catch::Matchers::Contains;

TEST_CASE("UTF-8 decodes to code points and encodes back", "[text][utf8]") {
  const std::string s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";  // a, e-acute, U+4E2D, U+1F600
  const std::u32string cps = elm::text::decode_utf8(s);
  REQUIRE(cps == std::u32string{U'a', U'\u00E9', U'\u4E2D', U'\U0001F600'});
  CHECK(elm::text::encode_utf8(cps) == s);
  CHECK(elm::text::decode_utf8("").empty());
}

TEST_CASE("invalid UTF-8 is rejected with its byte offset", "[text][utf8][bad-input]") {
  struct Case {
    std::string bytes;
    std::size_t offset;
  };
  const std::vector<Case> cases = {
      {"ab\xFF", 2},                 // never valid
      {"\x80", 0},                   // stray continuation
      {"ok\xC3", 2},                 // truncated two-byte sequence
      {"\xC0\xAF", 0},               // overlong '/'
      {"x\xED\xA0\x80", 1},          // surrogate U+D800
      {"\xF4\x90\x80\x80", 0},       // above U+10FFFF
      {"\xE4\xB8", 0},               // truncated three-byte sequence
  };
  for (const auto& c : cases) {
    CHECK(elm::text::find_invalid_utf8(c.bytes) == c.offset);
    REQUIRE_THROWS_AS(elm::text::decode_utf8(c.bytes, "input.txt line 3"), elm::FormatError);
    REQUIRE_THROWS_WITH(elm::text::decode_utf8(c.bytes, "input.txt line 3"),
                        Contains("input.txt line 3") && Contains("byte offset " + std::to_string(c.offset)));
  }
  REQUIRE_THROWS_AS(elm::text::encode_utf8(std::u32string(1, char32_t(0xD800))), elm::InvalidArgument);
}
