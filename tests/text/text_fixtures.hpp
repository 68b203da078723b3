// SPDX-License-Identifier: MIT
// Shared loaders for the text tests: the bundled vocabularies (loaded once) and the JSON fixtures.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "elm/text/bpe_tokenizer.hpp"
#include "elm/text/wordpiece_tokenizer.hpp"

namespace elm_test {

inline std::string source_path(const std::string& rel) { return std::string(ELM_SOURCE_DIR) + "/" + rel; }
inline std::string data_path(const std::string& rel) { return std::string(ELM_TEST_DATA_DIR) + "/text/" + rel; }

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline nlohmann::json load_json(const std::string& path) { return nlohmann::json::parse(slurp(path)); }

inline const elm::text::BpeTokenizer& gpt2() {
  static const elm::text::BpeTokenizer t = elm::text::BpeTokenizer::from_files(
      source_path("examples/data/gpt2/vocab.json"), source_path("examples/data/gpt2/merges.txt"));
  return t;
}

inline const elm::text::WordPieceTokenizer& bert_uncased() {
  static const elm::text::WordPieceTokenizer t =
      elm::text::WordPieceTokenizer::from_file(source_path("examples/data/bert-base-uncased/vocab.txt"));
  return t;
}

inline const elm::text::WordPieceTokenizer& bert_cased() {
  static const elm::text::WordPieceTokenizer t = [] {
    elm::text::WordPieceConfig c;
    c.lowercase = false;
    return elm::text::WordPieceTokenizer::from_file(source_path("examples/data/bert-base-uncased/vocab.txt"), c);
  }();
  return t;
}

}  // namespace elm_test
