// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "elm/text/encoding.hpp"
#include "elm/text/vocabulary.hpp"

using Catch::Matchers::Contains;
using elm::text::TokenOffset;
using elm::text::Vocabulary;

TEST_CASE("Vocabulary maps tokens to line numbers and back", "[text][vocabulary]") {
  // Trailing white space and a final newline are dropped, as BERT's loader does.
  const Vocabulary v = Vocabulary::from_text("[PAD]\r\nhello \n##s\n世\n");
  CHECK(v.size() == 4);
  CHECK(v.find("hello") == 1);
  CHECK(v.find("##s") == 2);
  CHECK(v.find("世") == 3);
  CHECK(v.find("absent") == -1);
  CHECK(v.token(0) == "[PAD]");
  REQUIRE_THROWS_AS(v.token(4), elm::RangeError);
  REQUIRE_THROWS_WITH(v.id("absent"), Contains("'absent' is not in the vocabulary"));
  REQUIRE_THROWS_WITH(Vocabulary(std::vector<std::string>{"a", "b", "a"}), Contains("duplicate token 'a'"));
}

TEST_CASE("Vocabulary::to_text writes the vocab.txt that from_text reads back", "[text][vocabulary]") {
  const Vocabulary v(std::vector<std::string>{"<unk>", "a b", "世", "\xE2\x96\x81"});
  const std::string text = v.to_text();
  CHECK(text == "<unk>\na b\n世\n\xE2\x96\x81\n");
  CHECK(Vocabulary::from_text(text).tokens() == v.tokens());
  REQUIRE_THROWS_WITH(Vocabulary(std::vector<std::string>{"x", "y "}).to_text(),
                      Contains("token 1 ('y ') is empty or has a line break or trailing white space"));
  REQUIRE_THROWS_AS(Vocabulary(std::vector<std::string>{"a\nb"}).to_text(), elm::FormatError);
}

TEST_CASE("code-point offsets of byte offsets", "[text][encoding]") {
  // "aé中😀": a at byte 0, é bytes 1-2, 中 bytes 3-5, 😀 bytes 6-9 -> code points 0, 1, 2, 3.
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
  const std::vector<TokenOffset> bytes = {{0, 1}, {1, 3}, {3, 6}, {6, 10}, {0, 0}, {0, 10}};
  const std::vector<TokenOffset> cps = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {0, 0}, {0, 4}};
  CHECK(elm::text::to_code_point_offsets(text, bytes) == cps);
  REQUIRE_THROWS_AS(elm::text::to_code_point_offsets(text, {{0, 11}}), elm::RangeError);
}
