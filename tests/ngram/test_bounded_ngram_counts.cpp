// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/files.hpp"
#include "elm/classic/bounded_ngram_counts.hpp"
#include "elm/classic/kneser_ney.hpp"
#include "elm/io/arpa.hpp"
#include "ngram_test_data.hpp"

using elm::classic::BoundedCountOptions;
using elm::classic::NgramCounts;
using elm::classic::count_ngrams_bounded;
namespace detail = elm::classic::detail;
using Catch::Matchers::Contains;

namespace {

std::string arpa_of(const NgramCounts& counts) {
  std::ostringstream out;
  elm::io::write_arpa(elm::classic::estimate_kneser_ney(counts), out);
  return out.str();
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + '\n';
  return text;
}

// The first lines of Persuasion: about 30 000 tokens, many times what one part holds within the smallest budget.
const std::vector<std::string>& austen_slice() {
  static const std::vector<std::string> lines = [] {
    std::vector<std::string> all = ngram_test::read_lines(ELM_SOURCE_DIR "/examples/data/austen/austen-persuasion.txt");
    all.resize(std::min<std::size_t>(all.size(), 3000));
    return all;
  }();
  return lines;
}

}  // namespace

TEST_CASE("count_ngrams_bounded: the ARPA of counting in memory, byte for byte, with many runs", "[ngram][bounded]") {
  const std::filesystem::path dir = elm_test::fresh_directory("bounded-ngram");
  std::filesystem::create_directories(dir);
  for (int order : {1, 3, 5}) {
    CAPTURE(order);
    NgramCounts in_memory(order);
    in_memory.add_lines(austen_slice());
    BoundedCountOptions options;
    options.order = order;
    options.memory = elm::classic::min_ngram_memory;
    options.temp_dir = dir.string();
    std::istringstream text(joined(austen_slice()));
    const NgramCounts bounded = count_ngrams_bounded(text, options);
    if (order > 1) CHECK(in_memory.size(order) > 4 * detail::bounded_part_capacity(order, options.memory));
    CHECK(bounded.sentences() == in_memory.sentences());
    CHECK(bounded.tokens() == in_memory.tokens());
    CHECK(arpa_of(bounded) == arpa_of(in_memory));
    CHECK(elm_test::file_names(dir).empty());  // the runs' folder is gone
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("count_ngrams_bounded: more runs than may be open at once are merged in rounds", "[ngram][bounded]") {
  const std::filesystem::path dir = elm_test::fresh_directory("bounded-ngram-rounds");
  std::filesystem::create_directories(dir);
  NgramCounts in_memory(5);
  in_memory.add_lines(austen_slice());
  BoundedCountOptions options{5, false, elm::classic::min_ngram_memory, dir.string()};
  options.max_open_runs = 3;  // about 20 runs: rounds of 3 down to 3
  std::istringstream text(joined(austen_slice()));
  CHECK(arpa_of(count_ngrams_bounded(text, options)) == arpa_of(in_memory));
  CHECK(elm_test::file_names(dir).empty());
  options.max_open_runs = 1;
  CHECK_THROWS_WITH(count_ngrams_bounded(text, options), Contains("max_open_runs = 1, expected at least 2"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("count_ngrams_bounded: character n-grams, and a bad line's error with no run left", "[ngram][bounded]") {
  const std::filesystem::path dir = elm_test::fresh_directory("bounded-ngram-chars");
  std::filesystem::create_directories(dir);
  {
    const std::vector<std::string> lines(austen_slice().begin(), austen_slice().begin() + 600);
    NgramCounts in_memory(4);
    in_memory.add_lines(lines, true);
    BoundedCountOptions options{4, true, elm::classic::min_ngram_memory, dir.string()};
    std::istringstream text(joined(lines));
    CHECK(arpa_of(count_ngrams_bounded(text, options)) == arpa_of(in_memory));
  }
  {  // the error of counting in memory, with the line's number in the whole text
    std::string text = joined(austen_slice());
    text += "a line with <s> inside\n";
    std::istringstream in(text);
    CHECK_THROWS_WITH(count_ngrams_bounded(in, {5, false, elm::classic::min_ngram_memory, dir.string()}),
                      Contains("line " + std::to_string(austen_slice().size() + 1)) && Contains("special word <s>"));
    CHECK(elm_test::file_names(dir).empty());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("count_ngrams_bounded: a budget below the minimum and bad sizes are refused", "[ngram][bounded]") {
  std::istringstream text("a b c\n");
  CHECK_THROWS_AS(count_ngrams_bounded(text, {3, false, elm::classic::min_ngram_memory - 1, ""}),
                  elm::InvalidArgument);
  CHECK_THROWS_WITH(count_ngrams_bounded(text, {3, false, 1000, ""}),
                    Contains("memory = 1000 bytes") && Contains("expected at least 262144"));
  CHECK(elm::classic::parse_memory_size("64M") == (std::size_t(64) << 20));
  CHECK(elm::classic::parse_memory_size("512k") == (std::size_t(512) << 10));
  CHECK(elm::classic::parse_memory_size("2G") == (std::size_t(2) << 30));
  CHECK(elm::classic::parse_memory_size("300000") == 300000u);
  for (const char* bad : {"", "M", "64X", "-5M", "1.5G", "99999999999999G"})
    CHECK_THROWS_AS(elm::classic::parse_memory_size(bad), elm::InvalidArgument);
}

TEST_CASE("NgramRunReader: a truncated or corrupt run is refused with the file, what, where", "[ngram][bounded]") {
  const std::filesystem::path dir = elm_test::fresh_directory("bounded-ngram-runs");
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "a.run").string();
  {
    detail::NgramRunWriter out(path, 3, detail::NgramRunOrder::words);
    detail::NgramRunRecord r;
    r.n = 2;
    r.count = 4;
    for (elm::classic::WordId w : {3u, 4u, 5u}) {
      r.words[0] = 1;
      r.words[1] = w;
      out.add(r);
    }
    out.finish();
  }
  CHECK(elm_test::file_names(dir) == std::vector<std::string>{"a.run"});  // the ".part" renamed into place
  const auto read_all = [&](std::size_t vocabulary) {
    detail::NgramRunReader in(path, 3, detail::NgramRunOrder::words, vocabulary);
    detail::NgramRunRecord r;
    int records = 0;
    while (in.next(r)) ++records;
    return records;
  };
  CHECK(read_all(6) == 3);
  const std::string good = elm_test::file_bytes(path);
  const std::size_t record = detail::ngram_run_record_bytes(3);
  REQUIRE(good.size() == detail::ngram_run_header_bytes + 3 * record);

  elm_test::write_bytes(path, good.substr(0, good.size() - 5));
  CHECK_THROWS_AS(read_all(6), elm::FormatError);
  CHECK_THROWS_WITH(read_all(6), Contains(path) && Contains("claims 3 records") && Contains("truncated"));
  elm_test::write_bytes(path, good.substr(0, 10));
  CHECK_THROWS_WITH(read_all(6), Contains(path) && Contains("header") && Contains("got a file of 10 bytes"));
  std::string bad = good;
  bad[0] = 'X';
  elm_test::write_bytes(path, bad);
  CHECK_THROWS_WITH(read_all(6), Contains("magic at byte 0"));
  bad = good;
  bad[23] = char(0x40);  // the record count: a claim of 2^62 records, refused before any allocation or read
  elm_test::write_bytes(path, bad);
  CHECK_THROWS_WITH(read_all(6), Contains("record count at byte 16"));
  elm_test::write_bytes(path, good);
  CHECK_THROWS_WITH(read_all(5), Contains("record 2 at byte " + std::to_string(24 + 2 * record)) &&
                                     Contains("expected an id below 5, got 5"));
  bad = good;
  bad[detail::ngram_run_header_bytes + record + 8] = 9;  // record 1's second word: 4 -> 9, after record 2's 5
  elm_test::write_bytes(path, bad);
  CHECK_THROWS_WITH(read_all(10), Contains("record 2") && Contains("out of order"));
  bad = good;
  bad[detail::ngram_run_header_bytes] = 7;  // record 0's order
  elm_test::write_bytes(path, bad);
  CHECK_THROWS_WITH(read_all(6), Contains("record 0 at byte 24: order: expected 1 to 3, got 7"));
  std::filesystem::remove_all(dir);
}
