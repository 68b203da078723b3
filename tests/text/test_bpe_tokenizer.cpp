// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/text/bpe_tokenizer.hpp"
#include "text_fixtures.hpp"

using elm::Index;
using elm::text::BpeTokenizer;

namespace {

std::vector<Index> to_ids(const nlohmann::json& j) {
  std::vector<Index> out;
  for (const auto& v : j) out.push_back(v.get<Index>());
  return out;
}

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  elm::text::gpt2_pre_tokenize(text, [&](std::size_t b, std::size_t e) { out.emplace_back(text.substr(b, e - b)); });
  return out;
}

}  // namespace

TEST_CASE("GPT-2 pre-tokenization follows the pattern's alternatives", "[text][bpe]") {
  using V = std::vector<std::string>;
  // Worked by hand from 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ :
  // the run of three spaces before "b" gives back its last space, which then starts " b".
  CHECK(pieces("a   b") == V{"a", "  ", " b"});
  CHECK(pieces("it's") == V{"it", "'s"});
  CHECK(pieces("they'll 've") == V{"they", "'ll", " '", "ve"});
  CHECK(pieces("''s") == V{"''", "s"});
  CHECK(pieces("x2024 !?") == V{"x", "2024", " !?"});
  CHECK(pieces(" \nb") == V{" ", "\n", "b"});
  CHECK(pieces("end  ") == V{"end", "  "});
  CHECK(pieces("") == V{});
  CHECK(pieces("中文，句子") == V{"中文", "，", "句子"});
}

TEST_CASE("BPE merges by rank on hand-made files", "[text][bpe]") {
  // Vocabulary: the 256 byte symbols (byte b has id b) plus merges a+b, ab+c, b+c.
  // "abc": pairs (a,b) rank 0 and (b,c) rank 2 -> merge ab first, then (ab,c) rank 1 -> "abc".
  // "bcab": (b,c) rank 2, (c,a) none, (a,b) rank 0 -> "bc" after "ab": tokens bc, ab.
  std::string vocab = "{";
  const auto table = elm::text::detail::byte_to_unicode_table();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    elm::text::append_utf8(table[static_cast<std::size_t>(b)], s);
    if (s == "\"" || s == "\\") s = "\\" + s;
    vocab += "\"" + s + "\": " + std::to_string(b) + ", ";
  }
  vocab += "\"ab\": 256, \"abc\": 257, \"bc\": 258}";
  const BpeTokenizer t = BpeTokenizer::from_strings(vocab, "#version: 0.2\na b\nab c\nb c\n");
  CHECK(t.encode("abc") == std::vector<Index>{257});
  CHECK(t.encode("bcab") == std::vector<Index>{258, 256});
  // Byte b has id b in this vocabulary, so the lone 'a' of "aab" is id 97.
  CHECK(t.encode("aab") == std::vector<Index>{97, 256});
  CHECK(t.decode({257, 258}) == "abcbc");
}

TEST_CASE("GPT-2 BPE equals the OpenAI encoder port on its cases", "[text][bpe][parity]") {
  const auto cases = elm_test::load_json(elm_test::data_path("gpt2_openai_cases.json"));
  const BpeTokenizer& t = elm_test::gpt2();
  for (const auto& c : cases) {
    const std::string text = c["text"];
    INFO(text);
    CHECK(t.encode(text) == to_ids(c["ids"]));
    CHECK(t.decode(t.encode(text)) == text);
  }
}

TEST_CASE("GPT-2 BPE equals Hugging Face tokenizers on the varied text set", "[text][bpe][parity]") {
  const auto fixture = elm_test::load_json(elm_test::data_path("gpt2_hf_cases.json"));
  const BpeTokenizer& t = elm_test::gpt2();
  std::size_t mismatches = 0;
  std::size_t total = 0;
  for (const auto& c : fixture["cases"]) {
    const std::string text = c["text"];
    const std::vector<Index> ids = t.encode(text);
    const std::vector<Index> expected = to_ids(c["ids"]);
    ++total;
    if (ids != expected) {
      ++mismatches;
      UNSCOPED_INFO("mismatch on " << nlohmann::json(text).dump());
    }
    CHECK(t.decode(ids) == text);
  }
  INFO(mismatches << " of " << total << " cases differ");
  CHECK(mismatches == 0);
}
