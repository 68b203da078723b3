// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "elm/classic/ngram_counts.hpp"
#include "ngram_test_data.hpp"

using elm::classic::NgramCounts;

TEST_CASE("NgramCounts: windows of <s> w1 .. wk </s>, counted by hand", "[ngram][counts]") {
  // "a b a" -> <s> a b a </s>; "a" -> <s> a </s>.
  NgramCounts c(3);
  c.add_line("a b a");
  c.add_line("  a\t");
  CHECK(c.sentences() == 2);
  CHECK(c.tokens() == 4);
  CHECK(c.vocabulary().size() == 5);  // <unk> <s> </s> a b
  CHECK(c.count({"a"}) == 3);
  CHECK(c.count({"b"}) == 1);
  CHECK(c.count({"</s>"}) == 2);
  CHECK(c.count({"<s>"}) == 2);  // one per sentence, so that c(<s>) = sum_x c(<s> x)
  CHECK(c.count({"<unk>"}) == 0);
  CHECK(c.count({"<s>", "a"}) == 2);
  CHECK(c.count({"a", "b"}) == 1);
  CHECK(c.count({"a", "</s>"}) == 2);
  CHECK(c.count({"<s>", "a", "b"}) == 1);
  CHECK(c.count({"a", "b", "a"}) == 1);
  CHECK(c.count({"b", "a", "</s>"}) == 1);
  CHECK(c.count({"<s>", "a", "</s>"}) == 1);
  CHECK(c.count({"<s>", "<s>", "a"}) == 0);
  CHECK(c.count({"zzz"}) == 0);
  CHECK(c.size(2) == 4);  // <s> a, a b, b a, a </s>
  CHECK(c.size(3) == 4);  // <s> a b, a b a, b a </s>, <s> a </s>
  // Count-of-counts of bigrams: <s> a: 2, a b: 1, b a: 1, a </s>: 2.
  const auto coc = c.count_of_counts(2);
  CHECK(coc[1] == 2);
  CHECK(coc[2] == 2);
  CHECK(coc[3] == 0);
}

TEST_CASE("NgramCounts: the lower orders derived from the longest windows equal direct window counts",
          "[ngram][counts]") {
  // Reference: every window of every order of <s> w1 .. wk </s> counted in a map (except the unigram <s>,
  // counted once per sentence). Lines are added in two batches with a query in between, so the lazily derived
  // orders are also rebuilt after more text.
  const auto& lines = ngram_test::train_lines();
  const int N = 4;
  NgramCounts c(N);
  std::map<std::vector<std::string>, std::int64_t> expected;
  for (std::size_t i = 0; i < 400; ++i) {
    std::vector<std::string_view> tokens;
    elm::classic::split_tokens(lines[i], tokens);
    std::vector<std::string> seq{"<s>"};
    seq.insert(seq.end(), tokens.begin(), tokens.end());
    seq.emplace_back("</s>");
    ++expected[{"<s>"}];
    for (std::size_t end = 1; end < seq.size(); ++end)
      for (std::size_t n = 1; n <= std::size_t(N) && n <= end + 1; ++n) {
        const auto last = seq.begin() + std::ptrdiff_t(end + 1);
        ++expected[std::vector<std::string>(last - std::ptrdiff_t(n), last)];
      }
    c.add_line(lines[i]);
    if (i == 150) CHECK(c.size(2) > 0);  // completes the lower orders once, halfway
  }
  std::size_t sizes[N] = {};
  for (const auto& kv : expected) ++sizes[kv.first.size() - 1];
  std::size_t wrong = 0;
  for (const auto& [gram, count] : expected) {
    std::vector<std::string_view> words(gram.begin(), gram.end());
    wrong += c.count(words) != count;
  }
  CHECK(wrong == 0);
  for (int n = 2; n <= N; ++n) {
    CHECK(c.size(n) == sizes[n - 1]);
    // Every entry links to its prefix and suffix in the order below.
    const auto& st = c.store(n);
    const auto& lo = c.store(n - 1);
    std::size_t bad_links = 0;
    for (std::size_t i = 0; i < st.size(); ++i) {
      const std::uint32_t* w = st.words(i);
      const std::uint32_t* p = lo.words(c.prefixes(n)[i]);
      const std::uint32_t* s = lo.words(c.suffixes(n)[i]);
      for (int k = 0; k + 1 < n; ++k) bad_links += (p[k] != w[k]) + (s[k] != w[k + 1]);
    }
    CHECK(bad_links == 0);
  }
  CHECK(c.size(1) == c.vocabulary().size());
  CHECK_THROWS_AS(c.prefixes(1), elm::InvalidArgument);
  CHECK_THROWS_AS(c.suffixes(N + 1), elm::InvalidArgument);
}

TEST_CASE("NgramCounts: an empty line is the sentence <s> </s>", "[ngram][counts]") {
  NgramCounts c(2);
  c.add_line("");
  CHECK(c.count({"<s>", "</s>"}) == 1);
  CHECK(c.tokens() == 0);
}

TEST_CASE("Character n-grams match Python's Counter over code-point windows", "[ngram][counts][chars]") {
  std::ifstream in(ngram_test::data_path("char_counts.json"));
  const nlohmann::json j = nlohmann::json::parse(in);
  // The curriculum's example: the trigrams of "这是一个测试文本" are its six three-character windows.
  const std::string example = j["example"];
  const auto tri = elm::classic::count_char_ngrams(example, 3);
  CHECK(tri.size() == 6);
  CHECK(tri.at("这是一") == 1);
  for (const auto& [n, counts] : j["example_counts"].items()) {
    const auto ours = elm::classic::count_char_ngrams(example, std::stoi(n));
    CHECK(ours.size() == counts.size());
    for (const auto& [gram, count] : counts.items()) CHECK(ours.at(gram) == count.get<std::int64_t>());
  }
  // 1,5xx code points of the curriculum page, Chinese, ASCII and newlines.
  const std::string text = j["text"];
  for (const auto& [n, counts] : j["counts"].items()) {
    const auto ours = elm::classic::count_char_ngrams(text, std::stoi(n));
    REQUIRE(ours.size() == counts.size());
    std::size_t same = 0;
    for (const auto& [gram, count] : counts.items()) same += ours.count(gram) && ours.at(gram) == count.get<std::int64_t>();
    CHECK(same == counts.size());
  }
}

TEST_CASE("Character sentences: code points, spaces as U+2581", "[ngram][counts][chars]") {
  NgramCounts c(2);
  c.add_char_line("测试 a");
  CHECK(c.tokens() == 4);
  CHECK(c.count({"测", "试"}) == 1);
  CHECK(c.count({"试", "\xE2\x96\x81"}) == 1);
  CHECK(c.count({"\xE2\x96\x81", "a"}) == 1);
}

TEST_CASE("NgramCounts: bad input", "[ngram][counts][bad_input]") {
  CHECK_THROWS_AS(NgramCounts(0), elm::InvalidArgument);
  CHECK_THROWS_AS(NgramCounts(-2), elm::InvalidArgument);
  ngram_test::require_throws<elm::InvalidArgument>([] { NgramCounts c(1000); }, {"order = 1000", "expected"});
  NgramCounts c(3);
  c.add_line("fine line");
  ngram_test::require_throws<elm::FormatError>([&] { c.add_line("a <s> b"); }, {"line 2", "<s>", "not allowed"});
  ngram_test::require_throws<elm::FormatError>([&] { c.add_line("</s>"); }, {"line 3"});
  ngram_test::require_throws<elm::FormatError>([&] { c.add_char_line("ok\xC3("); },
                                               {"line 4", "byte offset 2", "UTF-8"});
  ngram_test::require_throws<elm::FormatError>(
      [] { elm::classic::count_char_ngrams("first\nsec\xFFond", 2); }, {"line 2", "byte offset 3"});
  CHECK_THROWS_AS(elm::classic::count_char_ngrams("abc", 0), elm::InvalidArgument);
  CHECK_THROWS_AS(c.count({}), elm::InvalidArgument);
  CHECK_THROWS_AS(c.store(4), elm::InvalidArgument);
}
