// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_model.hpp"
#include "elm/io/arpa.hpp"
#include "elm/io/ngram_binary.hpp"
#include "ngram_test_data.hpp"

namespace {

const char* const good_arpa =
    "\\data\\\n"
    "ngram 1=4\n"
    "ngram 2=2\n"
    "\n"
    "\\1-grams:\n"
    "-1.0\t<unk>\t0\n"
    "0\t<s>\t-0.5\n"
    "-0.5\t</s>\t0\n"
    "-0.7\ta\t-0.2\n"
    "\n"
    "\\2-grams:\n"
    "-0.1\t<s> a\n"
    "-0.3\ta </s>\n"
    "\n"
    "\\end\\\n";

elm::classic::NgramTables parse(const std::string& text) {
  std::istringstream in(text);
  return elm::io::read_arpa(in, "bad.arpa");
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("ARPA: a small file read by hand", "[ngram][arpa]") {
  const auto t = parse(good_arpa);
  REQUIRE(t.order() == 2);
  CHECK(t.orders[0].size() == 4);
  CHECK(t.orders[1].size() == 2);
  const elm::classic::NgramModel m(t);
  // p(a | <s>) listed: -0.1. p(</s> | <s>) unlisted: b(<s>) + p(</s>) = -0.5 + -0.5.
  CHECK_THAT(m.log_prob({"<s>"}, "a"), Catch::Matchers::WithinAbs(-0.1, 1e-6));
  CHECK_THAT(m.log_prob({"<s>"}, "</s>"), Catch::Matchers::WithinAbs(-1.0, 1e-6));
  // p(a | a) = b(a) + p(a) = -0.2 - 0.7.
  CHECK_THAT(m.log_prob({"a"}, "a"), Catch::Matchers::WithinAbs(-0.9, 1e-6));
}

TEST_CASE("ARPA: write then read gives the same tables in float precision", "[ngram][arpa]") {
  const auto& t = ngram_test::estimate(3).tables;
  const auto& back = ngram_test::arpa_round_trip_o3();
  REQUIRE(back.order() == 3);
  for (int n = 1; n <= 3; ++n) {
    const auto& a = t.orders[std::size_t(n - 1)];
    const auto& b = back.orders[std::size_t(n - 1)];
    REQUIRE(a.size() == b.size());
    CHECK(a.words == b.words);  // same vocabulary order, same entry order
    double max_diff = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(a.log10_prob[i] - b.log10_prob[i]));
      if (n < 3) max_diff = std::max(max_diff, std::abs(a.log10_backoff[i] - b.log10_backoff[i]));
    }
    CHECK(max_diff < 1e-6);  // float32 has 24 bits: |log10 p| < 8 gives errors below 5e-7
  }
}

TEST_CASE("ARPA: malformed files are FormatErrors with file and line", "[ngram][arpa][bad_input]") {
  using ngram_test::require_throws;
  using elm::FormatError;
  const std::string g = good_arpa;
  require_throws<FormatError>([&] { parse(replace(g, "\\data\\\n", "")); }, {"bad.arpa:1", "\\data\\"});
  require_throws<FormatError>([&] { parse(replace(g, "ngram 2=2", "ngram 2=3")); },
                              {"bad.arpa:", "entries, expected 3"});
  require_throws<FormatError>([&] { parse(replace(g, "ngram 1=4", "ngram 1=3")); }, {"bad.arpa:9", "expected \\2-grams:"});
  require_throws<FormatError>([&] { parse(replace(g, "-0.7\ta", "-0.x7\ta")); }, {"bad.arpa:9", "not a number"});
  require_throws<FormatError>([&] { parse(replace(g, "a\t-0.2", "a\tb")); }, {"bad.arpa:9", "back-off"});
  require_throws<FormatError>([&] { parse(replace(g, "-0.3\ta </s>", "-0.3\t<s> a")); }, {"bad.arpa:13", "duplicate 2-gram"});
  require_throws<FormatError>([&] { parse(replace(g, "-0.3\ta </s>", "-0.3\ta zz")); }, {"bad.arpa:13", "'zz'", "not among the unigrams"});
  require_throws<FormatError>([&] { parse(replace(g, "-0.3\ta </s>", "-0.3\ta </s> a")); }, {"bad.arpa:13", "fields"});
  require_throws<FormatError>([&] { parse(g.substr(0, g.find("-0.3"))); }, {"bad.arpa:", "truncated"});
  require_throws<FormatError>([&] { parse(replace(g, "\\end\\", "")); }, {"truncated", "\\end\\"});
  require_throws<FormatError>([&] { parse(replace(g, "ngram 2=2", "ngram 3=2")); }, {"bad.arpa:3", "expected order 2"});
  require_throws<FormatError>([&] { parse(replace(g, "ngram 1=4", "ngram one=4")); }, {"bad.arpa:2", "integers"});
  require_throws<FormatError>([&] { parse(replace(g, "0\t<s>\t-0.5", "0\t<q>\t-0.5")); }, {"<s>"});
  require_throws<FormatError>([&] { parse(replace(g, "-0.7\ta", "-0.7\t</s>")); }, {"duplicate unigram"});
  require_throws<FormatError>([&] { parse(""); }, {"truncated"});
  require_throws<elm::IoError>([] { elm::io::read_arpa(std::string("/nonexistent/model.arpa")); },
                               {"/nonexistent/model.arpa", "cannot open"});
  // A missing <unk> is added with log10 p = -100, as KenLM does.
  const auto t = parse(replace(g, "-1.0\t<unk>\t0\n", "").replace(g.find("ngram 1=4"), 9, "ngram 1=3"));
  CHECK(t.vocabulary.contains("<unk>"));
}

TEST_CASE("ARPA: counts beyond what the file can hold are refused before anything is allocated",
          "[ngram][arpa][bad_input]") {
  using ngram_test::require_throws;
  using elm::FormatError;
  // The \data\ section is a claim: 10^12 (or 10^8) unigrams of at least 4 bytes each ("0 a\n") cannot fit in the
  // rest of a 50-byte file. Refused with the file, the line, the claim and the bytes left, not a std::bad_alloc.
  const std::string body = "\n\\1-grams:\n-1 <s>\n-1 </s>\n\n\\end\\\n";
  for (const std::string count : {"1000000000000", "100000000"}) {
    const std::string text = "\\data\\\nngram 1=" + count + "\n" + body;
    const auto left = std::to_string(text.size() - std::string("\\data\\\n").size());
    require_throws<FormatError>([&] { parse(text); }, {"bad.arpa:2", "'ngram 1=" + count + "' announces " + count,
                                                       "at least 4 bytes each", "only " + left + " bytes"});
  }
  // The orders' claims add up: 2 unigrams fit, but not 2 unigrams and 10 bigrams of 6 bytes each.
  require_throws<FormatError>([&] { parse("\\data\\\nngram 1=2\nngram 2=10\n" + body); },
                              {"bad.arpa:3", "announces 10 2-grams", "claimed by lower orders"});
  // 2^64 - 1 and beyond: refused as above, or as no integer at all.
  require_throws<FormatError>([&] { parse("\\data\\\nngram 1=18446744073709551615\n" + body); }, {"announces"});
  require_throws<FormatError>([&] { parse("\\data\\\nngram 1=18446744073709551616\n" + body); }, {"integers"});
  // A stream that cannot seek (a pipe) cannot vouch for the counts: storage grows with what is read, and the
  // end of the entries is the refusal.
  struct PipeBuffer : std::stringbuf {
    using std::stringbuf::stringbuf;
    pos_type seekoff(off_type, std::ios_base::seekdir, std::ios_base::openmode) override { return pos_type(-1); }
    pos_type seekpos(pos_type, std::ios_base::openmode) override { return pos_type(-1); }
  };
  PipeBuffer pipe("\\data\\\nngram 1=100000000\n" + body);
  std::istream in(&pipe);
  require_throws<FormatError>([&] { elm::io::read_arpa(in, "pipe.arpa"); },
                              {"pipe.arpa:7", "has 2 entries, expected 100000000"});
  // The check stays out of the way of real files: every order of the lmplz models reads.
  for (const char* name : {"lmplz_prune_o3.arpa", "lmplz_prune_o5.arpa"})
    CHECK(elm::io::read_arpa(std::string(ELM_TEST_DATA_DIR) + "/ngram/" + name).order() >= 3);
}

TEST_CASE("Binary model: a table size beyond the file's bytes is refused before allocating", "[ngram][binary][bad_input]") {
  const elm::classic::NgramModel m(ngram_test::estimate(2).tables);
  std::stringstream s;
  elm::io::save_ngram_binary(m, s);
  std::string bytes = s.str();
  // The top table's size is the 8 bytes after the unigrams: find it as the first count that the tail can hold.
  bool found = false;
  for (std::size_t at = 8; at + 8 <= bytes.size() && !found; ++at) {
    std::uint64_t v = 0;
    std::memcpy(&v, bytes.data() + at, 8);
    const std::size_t entry = sizeof(elm::classic::detail::NgramLongestEntry);
    if (v == 0 || v * entry + at + 8 + 8 != bytes.size()) continue;  // the table, then the checksum
    const std::uint64_t huge = (std::uint64_t(1) << 40) / entry - 1;  // below the old plausibility bound
    std::memcpy(bytes.data() + at, &huge, 8);
    found = true;
  }
  REQUIRE(found);
  ngram_test::require_throws<elm::FormatError>(
      [&] { std::istringstream i(bytes); elm::io::load_ngram_binary(i, "big.bin"); },
      {"big.bin", "the top table size = ", "bytes of the file are left"});
}

TEST_CASE("Binary model: save, load, same scores; corrupt files rejected", "[ngram][binary]") {
  const elm::classic::NgramModel m(ngram_test::estimate(3).tables);
  std::stringstream s;
  elm::io::save_ngram_binary(m, s);
  const std::string bytes = s.str();
  std::istringstream in(bytes);
  const auto back = elm::io::load_ngram_binary(in, "model.bin");
  CHECK(back.order() == 3);
  CHECK(back.total_ngrams() == m.total_ngrams());
  CHECK(back.memory_bytes() == m.memory_bytes());
  const auto pa = m.perplexity(ngram_test::test_lines());
  const auto pb = back.perplexity(ngram_test::test_lines());
  CHECK(pa.log10_prob == pb.log10_prob);  // the same floats: bit-identical sums
  CHECK(pa.oov == pb.oov);

  using ngram_test::require_throws;
  require_throws<elm::FormatError>([&] { std::istringstream i("not a model at all"); elm::io::load_ngram_binary(i, "x.bin"); },
                                   {"x.bin", "bad magic"});
  require_throws<elm::FormatError>([&] { std::istringstream i(bytes.substr(0, bytes.size() / 2)); elm::io::load_ngram_binary(i, "half.bin"); },
                                   {"half.bin", "truncated"});
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = char(flipped[bytes.size() / 2] ^ 0x40);
  require_throws<elm::FormatError>([&] { std::istringstream i(flipped); elm::io::load_ngram_binary(i, "flip.bin"); },
                                   {"flip.bin", "checksum"});
  std::string version = bytes;
  version[8] = 9;
  require_throws<elm::FormatError>([&] { std::istringstream i(version); elm::io::load_ngram_binary(i, "v.bin"); },
                                   {"v.bin", "version 9"});
  require_throws<elm::IoError>([] { elm::io::load_ngram_binary(std::string("/nonexistent/m.bin")); }, {"cannot open"});

  // Atomic save to a file, then load from it.
  const std::string path = std::string(ELM_BINARY_DIR) + "/ngram_test_model.bin";
  elm::io::save_ngram_binary(m, path);
  const auto from_file = elm::io::load_ngram_binary(path);
  CHECK(from_file.perplexity(ngram_test::test_lines()).log10_prob == pa.log10_prob);
  std::remove(path.c_str());
}
