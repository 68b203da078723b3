// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/io/word_vectors.hpp"

using Catch::Matchers::Contains;
using elm::io::WordVectorFormat;
using elm::io::WordVectors;

namespace {

const std::string vectors_dir = std::string(ELM_TEST_DATA_DIR) + "/word2vec/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.is_open());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The expected content of a fixture, from the files tools/make_word2vec_fixtures.py writes with it:
// one word per line, and raw little-endian float32 in row-major (V, d) order.
WordVectors expected_fixture(const std::string& name, elm::Index dim) {
  WordVectors wv;
  std::istringstream words(slurp(vectors_dir + name + ".words"));
  for (std::string w; std::getline(words, w);) wv.words.push_back(w);
  const std::string raw = slurp(vectors_dir + name + ".f32");
  REQUIRE(raw.size() == wv.words.size() * std::size_t(dim) * 4);
  wv.vectors.resize(dim, elm::Index(wv.words.size()));
  for (std::size_t i = 0; i < raw.size() / 4; ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + 4 * i);
    const std::uint32_t bits = std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
                               (std::uint32_t(p[3]) << 24);
    float v = 0.0f;
    std::memcpy(&v, &bits, 4);
    wv.vectors.data()[i] = v;  // row-major (V, d) is column-major (d, V)
  }
  return wv;
}

// Bitwise equality, so that -0.0 and subnormals count; reports the first difference.
void require_identical(const WordVectors& got, const WordVectors& want) {
  REQUIRE(got.words == want.words);
  REQUIRE(got.dim() == want.dim());
  REQUIRE(got.size() == want.size());
  for (elm::Index i = 0; i < got.vectors.size(); ++i) {
    std::uint32_t a = 0, b = 0;
    std::memcpy(&a, got.vectors.data() + i, 4);
    std::memcpy(&b, want.vectors.data() + i, 4);
    INFO("flat index " << i << ": got " << got.vectors.data()[i] << ", want " << want.vectors.data()[i]);
    REQUIRE(a == b);
  }
}

WordVectors read_text(const std::string& s) {
  std::istringstream in(s);
  return elm::io::read_word2vec_text(in, "t.txt");
}

WordVectors read_binary(const std::string& s) {
  std::istringstream in(s, std::ios::binary);
  return elm::io::read_word2vec_binary(in, "t.bin");
}

std::string f32_bytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    for (int k = 0; k < 4; ++k) out.push_back(static_cast<char>((bits >> (8 * k)) & 0xFF));
  }
  return out;
}

std::string temp_path(const std::string& leaf) {
  return (std::filesystem::temp_directory_path() / ("elm_test_word_vectors_" + leaf)).string();
}

}  // namespace

TEST_CASE("files written by gensim and in the C tool's layouts are read exactly", "[word2vec][io]") {
  struct Case {
    const char* file;
    WordVectorFormat format;
    elm::Index dim;
  };
  const Case c = GENERATE(Case{"gensim.txt", WordVectorFormat::text, 7}, Case{"gensim.bin", WordVectorFormat::binary, 7},
                          Case{"c_style.txt", WordVectorFormat::text, 5},
                          Case{"c_style.bin", WordVectorFormat::binary, 5});
  INFO(c.file);
  const WordVectors got = elm::io::read_word_vectors(vectors_dir + c.file, c.format);
  require_identical(got, expected_fixture(c.file, c.dim));
}

TEST_CASE("the files we write are byte-identical to the committed ones gensim reads exactly", "[word2vec][io]") {
  // elm.txt and elm.bin were written by this writer (elm-word2vec convert) from gensim.bin;
  // tools/word2vec_gensim_roundtrip.py checks that gensim loads them with vectors identical to gensim.bin's.
  const WordVectors wv = elm::io::read_word_vectors(vectors_dir + "gensim.bin", WordVectorFormat::binary);
  for (const auto format : {WordVectorFormat::text, WordVectorFormat::binary}) {
    const bool binary = format == WordVectorFormat::binary;
    std::ostringstream out(binary ? std::ios::binary | std::ios::out : std::ios::out);
    if (binary)
      elm::io::write_word2vec_binary(out, wv);
    else
      elm::io::write_word2vec_text(out, wv);
    CHECK(out.str() == slurp(vectors_dir + (binary ? "elm.bin" : "elm.txt")));
  }
}

TEST_CASE("write then read gives identical words and vectors", "[word2vec][io]") {
  const auto seed = GENERATE(1u, 2u, 3u);
  elm::Rng rng(seed);
  WordVectors wv;
  const elm::Index dim = 1 + elm::Index(rng.below(9));
  const elm::Index count = elm::Index(rng.below(6));
  for (elm::Index j = 0; j < count; ++j) wv.words.push_back("w" + std::to_string(j) + "é");
  wv.vectors.resize(dim, count);
  rng.fill_normal(wv.vectors, 0.0, 10.0);
  if (count > 0) wv.vectors(0, 0) = 1e-45f;  // a subnormal must survive the decimal form too
  for (const auto format : {WordVectorFormat::text, WordVectorFormat::binary}) {
    const std::string path = temp_path("roundtrip");
    elm::io::write_word_vectors(path, wv, format);
    require_identical(elm::io::read_word_vectors(path, format), wv);
    std::filesystem::remove(path);
  }
}

TEST_CASE("the text reader accepts the layouts real files use", "[word2vec][io]") {
  // CRLF line ends, tabs, a trailing space, trailing blank lines, no final newline.
  const WordVectors a = read_text("2 2\r\nx 1 2 \r\ny\t3\t-4.5\r\n\r\n");
  REQUIRE(a.words == std::vector<std::string>{"x", "y"});
  CHECK(a.vectors(0, 0) == 1.0f);
  CHECK(a.vectors(1, 1) == -4.5f);
  const WordVectors b = read_text("1 1\nz 0.25");
  CHECK(b.vectors(0, 0) == 0.25f);
  const WordVectors empty = read_text("0 3\n");
  CHECK(empty.size() == 0);
  CHECK(empty.dim() == 3);
}

TEST_CASE("malformed text files throw FormatError naming the file and line", "[word2vec][io][bad-input]") {
  using elm::FormatError;
  REQUIRE_THROWS_MATCHES(read_text(""), FormatError, Catch::Matchers::Message(
      "t.txt: empty file, expected a header line \"<word count> <dimension>\""));
  REQUIRE_THROWS_WITH(read_text("abc\n"), Contains("t.txt:1: cannot read an integer"));
  REQUIRE_THROWS_WITH(read_text("3\n"), Contains("t.txt:1: cannot read an integer"));
  REQUIRE_THROWS_WITH(read_text("1 2 3\nx 1 2\n"), Contains("t.txt:1: unexpected text after the two counts"));
  REQUIRE_THROWS_WITH(read_text("1 0\nx\n"), Contains("dimension below 1"));
  REQUIRE_THROWS_WITH(read_text("-1 2\n"), Contains("negative word count"));
  // Header count larger than the body.
  REQUIRE_THROWS_WITH(read_text("3 2\nx 1 2\ny 3 4\n"), Contains("t.txt: truncated file: header says 3 words"));
  REQUIRE_THROWS_WITH(read_text("2 1\nx 1\n\n\n\n"), Contains("t.txt:3: expected a word, got an empty one"));
  // Header count smaller than the body.
  REQUIRE_THROWS_WITH(read_text("1 2\nx 1 2\ny 3 4\n"),
                      Contains("t.txt:3: header says 1 words, but the body has more lines"));
  // Wrong dimension, both ways.
  REQUIRE_THROWS_WITH(read_text("2 3\nx 1 2 3\ny 1.25 2.5\n"),
                      Contains("t.txt:3: word 'y' has 2 values, expected the header's dimension 3"));
  REQUIRE_THROWS_WITH(read_text("1 2\nx 1 2 3\n"), Contains("t.txt:2: word 'x' has more than 2 values"));
  REQUIRE_THROWS_WITH(read_text("1 2\nx 1 zz\n"), Contains("t.txt:2: value 2 of word 'x' is not a number: \"zz\""));
  REQUIRE_THROWS_WITH(read_text("1 2\nx 1 2q\n"), Contains("t.txt:2: value 2 of word 'x' is not a number"));
  REQUIRE_THROWS_WITH(read_text("1 2\nx 1 nan\n"), Contains("t.txt:2: value 2 of word 'x' is not a finite float32"));
  REQUIRE_THROWS_WITH(read_text("1 2\nx 1 1e39\n"), Contains("is not a finite float32: \"1e39\""));
  // Invalid UTF-8 word: 0xff can start no sequence.
  REQUIRE_THROWS_MATCHES(read_text("2 1\nok 1\nb\xff 2\n"), FormatError,
                         Catch::Matchers::Message("t.txt:3: word: invalid UTF-8 at byte offset 1 (byte 0xff), expected "
                                                  "a valid UTF-8 sequence"));
  REQUIRE_THROWS_WITH(read_text("2 1\nx 1\nx 2\n"), Contains("t.txt:3: duplicate word 'x', first seen at line 2"));
  REQUIRE_THROWS_WITH(read_text("1 1\n 1\n"), Contains("t.txt:2: expected a word, got an empty one"));
}

TEST_CASE("malformed binary files throw FormatError naming the file and byte offset", "[word2vec][io][bad-input]") {
  const std::string ok = "2 2\nab " + f32_bytes({1.0f, 2.0f}) + "\ncd " + f32_bytes({3.0f, 4.0f}) + "\n";
  const WordVectors wv = read_binary(ok);
  REQUIRE(wv.words == std::vector<std::string>{"ab", "cd"});
  CHECK(wv.vectors(1, 1) == 4.0f);
  // gensim's layout: no newline between entries.
  CHECK(read_binary("2 2\nab " + f32_bytes({1.0f, 2.0f}) + "cd " + f32_bytes({3.0f, 4.0f})).words == wv.words);

  // Truncated inside the last vector (header at bytes 0..3, "ab " 4..6, vector 7..14, "\n" 15, "cd " 16..18).
  REQUIRE_THROWS_WITH(read_binary(ok.substr(0, 22)),
                      Contains("t.bin: truncated file: header says 2 words of dimension 2"));
  REQUIRE_THROWS_WITH(read_binary("2 2\nab " + f32_bytes({1.0f, 2.0f}) + "\ncd " + f32_bytes({3.0f}) + "01"),
                      Contains("t.bin: truncated file: the vector of word 'cd' (entry 2 of 2) needs 8 bytes from byte "
                               "19, only 6 remain"));
  // Header count larger than the body (the size check catches it before reading).
  REQUIRE_THROWS_WITH(read_binary("3 2\n" + ok.substr(4)), Contains("truncated file: header says 3 words"));
  // Header count smaller than the body.
  REQUIRE_THROWS_WITH(read_binary("1 2\n" + ok.substr(4)),
                      Contains("t.bin: byte 16: header says 1 words of dimension 2, but data follows the last one"));
  // Wrong dimension: the header says 1, so the second entry's word starts inside the first vector.
  REQUIRE_THROWS_AS(read_binary("2 1\n" + ok.substr(4)), elm::FormatError);
  // Invalid UTF-8 in the second word: 0xc3 followed by a non-continuation byte.
  REQUIRE_THROWS_WITH(read_binary("2 1\nab " + f32_bytes({1.0f}) + "\n\xc3x " + f32_bytes({2.0f})),
                      Contains("t.bin: byte 12: word: invalid UTF-8 at byte offset 0 (byte 0xc3)"));
  REQUIRE_THROWS_WITH(read_binary("1 1\nab " + f32_bytes({std::numeric_limits<float>::infinity()})),
                      Contains("t.bin: byte 7: value 1 of word 'ab' is not finite"));
  REQUIRE_THROWS_WITH(read_binary("2 1\nab " + f32_bytes({1.0f}) + "ab " + f32_bytes({2.0f})),
                      Contains("t.bin: byte 11: duplicate word 'ab', first seen at byte 4"));
}

TEST_CASE("a header's claims are checked against the bytes left even when the header ends the file",
          "[word2vec][io][bad-input]") {
  // "100000000 1" with no newline leaves the stream at its end, where the size check used to give up and the
  // readers then reserved 10^8 words (3.2 GB) before reading one.
  REQUIRE_THROWS_WITH(read_text("100000000 1"), Contains("t.txt: truncated file: header says 100000000 words") &&
                                                    Contains("only 0 remain"));
  REQUIRE_THROWS_WITH(read_binary("100000000 1"), Contains("t.bin: truncated file: header says 100000000 words"));
  // No words of dimension 2^30: nothing to read, and no 4 GiB buffer for a vector.
  const WordVectors empty = read_binary("0 1073741824\n");
  CHECK(empty.size() == 0);
  CHECK(empty.dim() == 1073741824);
}

TEST_CASE("files that cannot be opened or written throw IoError", "[word2vec][io][bad-input]") {
  REQUIRE_THROWS_AS(elm::io::read_word_vectors(temp_path("does_not_exist"), WordVectorFormat::text), elm::IoError);
  WordVectors wv;
  wv.words = {"a"};
  wv.vectors = elm::Matrix<float>::Ones(2, 1);
  REQUIRE_THROWS_AS(elm::io::write_word_vectors("/nonexistent-dir/x.txt", wv, WordVectorFormat::text), elm::IoError);
}

TEST_CASE("writers reject what the readers would reject, and leave the target untouched",
          "[word2vec][io][bad-input]") {
  const std::string path = temp_path("untouched.txt");
  {
    std::ofstream(path) << "previous";
  }
  WordVectors wv;
  wv.words = {"a", "b c"};
  wv.vectors = elm::Matrix<float>::Ones(2, 2);
  REQUIRE_THROWS_WITH(elm::io::write_word_vectors(path, wv, WordVectorFormat::text),
                      Contains("words[1]: word 'b c' contains whitespace"));
  wv.words = {"a", "a"};
  REQUIRE_THROWS_WITH(elm::io::write_word_vectors(path, wv, WordVectorFormat::binary),
                      Contains("duplicate word 'a', first seen at index 0"));
  wv.words = {"a", ""};
  REQUIRE_THROWS_AS(elm::io::write_word_vectors(path, wv, WordVectorFormat::text), elm::InvalidArgument);
  wv.words = {"a", "b"};
  wv.vectors(1, 1) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(elm::io::write_word_vectors(path, wv, WordVectorFormat::text),
                      Contains("vectors(1, 1) of word 'b' is nan, expected a finite value"));
  wv.words = {"a"};
  REQUIRE_THROWS_AS(elm::io::write_word_vectors(path, wv, WordVectorFormat::text), elm::ShapeError);
  CHECK(slurp(path) == "previous");
  std::filesystem::remove(path);
}
