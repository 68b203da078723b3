// SPDX-License-Identifier: MIT
// Vocabulary: a bijection between token strings and ids 0..V-1, loaded from a one-token-per-line file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/text/utf8.hpp"

namespace elm::text {

/// Token <-> id map with ids 0..V-1 in insertion order. Lookups are const and thread-safe.
class Vocabulary {
 public:
  Vocabulary() = default;

  /// Builds from tokens in id order. Throws FormatError for a duplicate or empty token or invalid UTF-8.
  explicit Vocabulary(std::vector<std::string> tokens, std::string_view name = "vocabulary") {
    for (std::string& t : tokens) add(std::move(t), name);
  }

  /// Reads a vocab.txt: token i on line i (0-based), trailing white space of each line dropped, as BERT's and
  /// Hugging Face's loaders do. Throws FormatError for an empty line, a duplicate token or invalid UTF-8.
  static Vocabulary from_text(std::string_view text, std::string_view name = "vocab.txt") {
    Vocabulary v;
    std::size_t pos = 0;
    std::size_t line_no = 0;
    while (pos < text.size()) {
      std::size_t eol = text.find('\n', pos);
      if (eol == std::string_view::npos) eol = text.size();
      std::string_view line = text.substr(pos, eol - pos);
      pos = eol + 1;
      ++line_no;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
      ELM_EXPECT(!line.empty(), FormatError, "elm::text::Vocabulary: ", name, ": line ", line_no,
                 " is empty, expected one token per line");
      v.add(std::string(line), name, line_no);
    }
    return v;
  }

  /// Reads a vocab.txt file (see from_text). Throws IoError if it cannot be read.
  static Vocabulary from_file(const std::string& path) {
    const io::MappedFile file(path, "elm::text::Vocabulary::from_file");
    return from_text(file.text(), path);
  }

  /// Number of tokens V.
  Index size() const noexcept { return static_cast<Index>(tokens_.size()); }

  /// Id of token, or -1 if absent.
  Index find(std::string_view token) const {
    const auto it = ids_.find(std::string(token));
    return it == ids_.end() ? -1 : it->second;
  }

  /// Id of token; throws InvalidArgument if absent.
  Index id(std::string_view token) const {
    const Index i = find(token);
    ELM_EXPECT(i >= 0, InvalidArgument, "elm::text::Vocabulary::id: token '", token, "' is not in the vocabulary");
    return i;
  }

  /// Token of id; throws RangeError unless 0 <= id < V.
  const std::string& token(Index id) const {
    check_id(id, size(), "elm::text::Vocabulary::token", "id");
    return tokens_[static_cast<std::size_t>(id)];
  }

  const std::vector<std::string>& tokens() const noexcept { return tokens_; }

  /// The vocab.txt text that from_text reads back as this vocabulary: token i on line i, each line ended by
  /// '\n'. Throws FormatError for a token that from_text would read differently (one with a line break or
  /// trailing white space, or an empty one).
  std::string to_text() const {
    std::string out;
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      const std::string& t = tokens_[i];
      const char last = t.empty() ? '\n' : t.back();
      ELM_EXPECT(t.find('\n') == std::string::npos && last != '\n' && last != ' ' && last != '\t' && last != '\r',
                 FormatError, "elm::text::Vocabulary::to_text: token ", i, " ('", t,
                 "') is empty or has a line break or trailing white space, which a vocab.txt cannot hold");
      out += t;
      out += '\n';
    }
    return out;
  }

 private:
  void add(std::string token, std::string_view name, std::size_t line_no = 0) {
    check_utf8(token, elm::detail::concat("elm::text::Vocabulary: ", name));
    const auto id = static_cast<Index>(tokens_.size());
    const auto [it, inserted] = ids_.emplace(token, id);
    ELM_EXPECT(inserted, FormatError, "elm::text::Vocabulary: ", name, line_no > 0 ? ": line " : "",
               line_no > 0 ? std::to_string(line_no) : std::string(), ": duplicate token '", token, "' (first id ",
               it->second, "), expected each token once");
    tokens_.push_back(std::move(token));
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, Index> ids_;
};

}  // namespace elm::text
