// SPDX-License-Identifier: MIT
// Embedding initialised from word2vec files (text and binary) read by elm::io, and the bad files they reject.
#include <catch2/catch.hpp>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "elm/io/word_vectors.hpp"
#include "elm/nn/embedding.hpp"
#include "gradcheck.hpp"

namespace nn = elm::nn;

TEST_CASE("Embedding from a word2vec text file", "[nn][embedding][word2vec]") {
  std::istringstream in("3 2\nthe 0.5 -1\ncat 2 0.25\nsat -3 4\n");
  const auto wv = elm::io::read_word2vec_text(in, "vectors.txt");
  elm::Rng rng(1);
  elm::Index found = 0;
  auto table = nn::Embedding<float>::from_pretrained(wv.vectors, wv.words, {"<unk>", "cat", "the", "dog"}, rng,
                                                     true, 0.1, &found);
  CHECK(found == 2);
  CHECK(table.trainable());
  elm::Matrix<float> y;
  table.forward({1, 2}, y);
  CHECK(y(0, 0) == 2.0f);
  CHECK(y(1, 0) == 0.25f);
  CHECK(y(0, 1) == 0.5f);
  CHECK(y(1, 1) == -1.0f);
}

TEST_CASE("Embedding from a word2vec binary file", "[nn][embedding][word2vec]") {
  std::string bytes = "2 2\n";
  auto add = [&](const std::string& word, float a, float b) {
    bytes += word + " ";
    char raw[8];
    std::memcpy(raw, &a, 4);  // little-endian float32, as the format stores it on this (x86) machine
    std::memcpy(raw + 4, &b, 4);
    bytes.append(raw, 8);
    bytes += "\n";
  };
  add("emma", 1.5f, -2.0f);
  add("harriet", 0.0f, 3.0f);
  std::istringstream in(bytes);
  const auto wv = elm::io::read_word2vec_binary(in, "vectors.bin");
  elm::Rng rng(2);
  auto table = nn::Embedding<float>::from_pretrained(wv.vectors, wv.words, {"harriet", "emma"}, rng);
  CHECK_FALSE(table.trainable());
  CHECK(table.weight().value(0, 1) == 1.5f);
  CHECK(table.weight().value(1, 0) == 3.0f);
}

TEST_CASE("Truncated word2vec files and files that disagree with their header are rejected",
          "[nn][embedding][word2vec][bad-input]") {
  std::istringstream short_text("3 2\nthe 0.5 -1\ncat 2 0.25\n");  // header says 3 words, 2 follow
  REQUIRE_THROWS_AS(elm::io::read_word2vec_text(short_text, "short.txt"), elm::FormatError);
  std::istringstream wide_text("2 2\nthe 0.5 -1 7\ncat 2 0.25\n");  // 3 values where the header says 2
  REQUIRE_THROWS_AS(elm::io::read_word2vec_text(wide_text, "wide.txt"), elm::FormatError);
  std::istringstream short_binary(std::string("2 2\nemma \x00\x00\xc0\x3f", 13));  // 1 of 2 floats
  REQUIRE_THROWS_AS(elm::io::read_word2vec_binary(short_binary, "short.bin"), elm::FormatError);
}
