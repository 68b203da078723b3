// SPDX-License-Identifier: MIT
// SplitTokenizer: words and characters, a vocabulary fitted by frequency with rare units as <unk>, decoding,
// the round trip through vocab.txt, bad input.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "elm/text/split_tokenizer.hpp"

using Catch::Matchers::Contains;
using elm::Index;
using elm::text::SplitTokenizer;
using elm::text::SplitUnit;
using elm::text::Vocabulary;

TEST_CASE("SplitTokenizer fits words by frequency; rare and unseen words are <unk>", "[text][split_tokenizer]") {
  // Counts: a 3, b 2, c 1 (rare at min_count 2). Vocabulary: the specials, then a, b.
  const auto tok = SplitTokenizer::fit({"a b a", "a  c\tb"}, SplitUnit::words, 2, {"<unk>", "</s>"});
  CHECK(tok.vocabulary().tokens() == std::vector<std::string>{"<unk>", "</s>", "a", "b"});
  CHECK(tok.unk_id() == 0);
  CHECK(tok.rare_types() == 1);  // c
  CHECK(tok.encode(" a c d b ") == std::vector<Index>{2, 0, 0, 3});
  CHECK(tok.encode("") == std::vector<Index>{});
  CHECK(tok.decode({2, 3, 1, 2}) == "a b </s> a");
  // A special seen in the text is the special, not a unit of its own.
  const auto with_special = SplitTokenizer::fit({"x </s> x"}, SplitUnit::words, 1, {"<unk>", "</s>"});
  CHECK(with_special.vocabulary().tokens() == std::vector<std::string>{"<unk>", "</s>", "x"});
  CHECK(with_special.encode("x </s>") == std::vector<Index>{2, 1});
  // Ties in frequency are in byte order.
  CHECK(SplitTokenizer::fit({"b a c"}, SplitUnit::words).vocabulary().tokens() ==
        std::vector<std::string>{"<unk>", "a", "b", "c"});
}

TEST_CASE("SplitTokenizer cuts characters at code points, white space as the unit ▁", "[text][split_tokenizer]") {
  const std::string space = "\xE2\x96\x81";
  const auto tok = SplitTokenizer::fit({"ab a", "\xC3\xA9t\xC3\xA9"}, SplitUnit::characters, 1);  // "été"
  // a 2, é 2, then b 1, t 1, ▁ 1: by count, ties in byte order (0x61 < 0xC3; 0x62 < 0x74 < 0xE2)
  CHECK(tok.vocabulary().tokens() ==
        std::vector<std::string>{"<unk>", "a", "\xC3\xA9", "b", "t", space});
  CHECK(tok.encode("a\tb") == std::vector<Index>{1, 5, 3});
  CHECK(tok.encode("z") == std::vector<Index>{0});
  CHECK(tok.decode({3, 5, 1, 2}) == "b a\xC3\xA9");
  CHECK(elm::text::split_units("a \xE4\xB8\xAD", SplitUnit::characters) ==
        std::vector<std::string_view>{"a", space, "\xE4\xB8\xAD"});
  // The vocabulary goes through vocab.txt and back: the same ids.
  const SplitTokenizer reread(Vocabulary::from_text(tok.vocabulary().to_text()), SplitUnit::characters);
  CHECK(reread.encode("ba \xC3\xA9t") == tok.encode("ba \xC3\xA9t"));
  CHECK(reread.rare_types() == 0);
}

TEST_CASE("SplitTokenizer rejects bad input", "[text][split_tokenizer][bad-input]") {
  REQUIRE_THROWS_WITH(SplitTokenizer(Vocabulary(std::vector<std::string>{"a"}), SplitUnit::words),
                      Contains("the unknown token '<unk>' is not in the vocabulary of 1 tokens"));
  REQUIRE_THROWS_AS(SplitTokenizer::fit({"a"}, SplitUnit::words, 0), elm::InvalidArgument);
  REQUIRE_THROWS_AS(SplitTokenizer::fit({"a"}, SplitUnit::words, 1, {}), elm::InvalidArgument);
  const auto tok = SplitTokenizer::fit({"a"}, SplitUnit::characters);
  REQUIRE_THROWS_AS(tok.encode("\xFF"), elm::FormatError);
  REQUIRE_THROWS_AS(tok.decode({7}), elm::RangeError);
}
