// SPDX-License-Identifier: MIT
// Tests of text/detail/vocab_json.hpp: a vocab.json's (token, id) entries in file order, and its errors.
#include <catch2/catch.hpp>

#include <string>

#include "elm/text/detail/vocab_json.hpp"

using Catch::Matchers::Contains;

namespace {

auto read(const std::string& json) { return elm::text::detail::read_vocab_json(json, "t.json"); }

}  // namespace

TEST_CASE("vocab.json reader: escapes, surrogate pairs, negative ids and file order", "[text][json]") {
  const auto entries = read(R"({"a\"b": 1, "\u00e9\ud83d\ude00": 2, "\n\t\/\\": -3, "a\"b": 1})");
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].first == "a\"b");
  CHECK(entries[1].first == "\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(entries[2].first == "\n\t/\\");
  CHECK(entries[2].second == -3);
  CHECK(entries[3].first == "a\"b");  // a duplicate token is kept, for the tokenizer to report
  CHECK(read("{}").empty());
}

TEST_CASE("vocab.json reader: malformed JSON and ids that are not integers", "[text][json]") {
  REQUIRE_THROWS_AS(read(R"({"a": 1} x)"), elm::FormatError);
  REQUIRE_THROWS_WITH(read(R"({"a": 1} x)"), Contains("t.json: malformed JSON at byte offset 9"));
  REQUIRE_THROWS_WITH(read("{\"a\": 0,"), Contains("malformed JSON at byte offset 8"));  // the end of the text
  REQUIRE_THROWS_WITH(read(R"({"\ud83d": 1})"), Contains("surrogate"));
  REQUIRE_THROWS_WITH(read(R"({"\ude00": 1})"), Contains("surrogate"));
  REQUIRE_THROWS_WITH(read(R"({"\q": 1})"), Contains("malformed JSON at byte offset 3"));
  REQUIRE_THROWS_WITH(read("{\"a\x01\": 1}"), Contains("control character"));
  REQUIRE_THROWS_WITH(read("{\"ab\xFF\": 1}"), Contains("malformed JSON at byte offset 4") && Contains("UTF-8"));
  REQUIRE_THROWS_WITH(read(R"({"a": "1"})"), Contains("token 'a' has a string as its id, expected an integer"));
  REQUIRE_THROWS_WITH(read(R"({"a": 1.5})"), Contains("token 'a' has id 1.5, expected an integer, not a fraction"));
  REQUIRE_THROWS_WITH(read(R"({"a": 99999999999999999999})"), Contains("fits in 64 bits"));
  REQUIRE_THROWS_WITH(read(R"({"a": 9223372036854775808})"), Contains("fits in 64 bits"));
  REQUIRE_THROWS_WITH(read(R"({"a": {"b": 1}})"), Contains("token 'a' has an object as its id"));
  REQUIRE_THROWS_WITH(read(R"(["a"])"), Contains("the JSON holds an array, expected an object of token -> id"));
  REQUIRE_THROWS_WITH(read("7"), Contains("the JSON holds a number, expected an object"));
  REQUIRE_THROWS_AS(read(""), elm::FormatError);
}
