// SPDX-License-Identifier: MIT
// NgramVocabulary: the word <-> id map of n-gram models, with KenLM's special symbols <unk>, <s>, </s>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "elm/core/error.hpp"

namespace elm::classic {

/// Id of a word in an NgramVocabulary.
using WordId = std::uint32_t;

inline constexpr std::string_view unk_symbol = "<unk>";
inline constexpr std::string_view bos_symbol = "<s>";
inline constexpr std::string_view eos_symbol = "</s>";

/// Highest n-gram order that the counters, estimators and models accept.
inline constexpr int max_ngram_order = 16;

/// Words in order of first appearance. A vocabulary made with with_specials() starts with
/// <unk> = 0, <s> = 1, </s> = 2, as lmplz numbers them. Lookups by string_view do not allocate.
class NgramVocabulary {
 public:
  NgramVocabulary() = default;
  NgramVocabulary(const NgramVocabulary& other) { *this = other; }
  NgramVocabulary& operator=(const NgramVocabulary& other) {
    if (this != &other) {
      clear();
      for (const std::string& w : other.words_) add(w);
    }
    return *this;
  }
  NgramVocabulary(NgramVocabulary&&) noexcept = default;
  NgramVocabulary& operator=(NgramVocabulary&&) noexcept = default;
  ~NgramVocabulary() = default;

  /// A vocabulary holding <unk>, <s>, </s> with ids 0, 1, 2.
  static NgramVocabulary with_specials() {
    NgramVocabulary v;
    v.add(unk_symbol);
    v.add(bos_symbol);
    v.add(eos_symbol);
    return v;
  }

  /// Id of word, adding it at the end when it is new.
  WordId add(std::string_view word) {
    const auto it = ids_.find(word);
    if (it != ids_.end()) return it->second;
    ELM_EXPECT(words_.size() < std::size_t(0xFFFFFFFEu), RangeError,
               "elm::classic::NgramVocabulary::add: more than 2^32 - 2 words");
    const auto id = static_cast<WordId>(words_.size());
    words_.emplace_back(word);
    ids_.emplace(std::string_view(words_.back()), id);
    return id;
  }

  /// True and the id in *id when word is known.
  bool find(std::string_view word, WordId* id) const {
    const auto it = ids_.find(word);
    if (it == ids_.end()) return false;
    *id = it->second;
    return true;
  }

  bool contains(std::string_view word) const { return ids_.count(word) != 0; }

  /// The word of id; throws RangeError for an unknown id.
  const std::string& word(WordId id) const {
    ELM_EXPECT(id < words_.size(), RangeError, "elm::classic::NgramVocabulary::word: id ", id,
               " is out of range, expected < ", words_.size());
    return words_[id];
  }

  std::size_t size() const noexcept { return words_.size(); }
  void clear() {
    ids_.clear();
    words_.clear();
  }

 private:
  // A deque never moves its elements, so the string_view keys stay valid as words are added.
  std::deque<std::string> words_;
  std::unordered_map<std::string_view, WordId> ids_;
};

/// Splits a line into tokens at ' ', '\t', '\r', '\n', '\v', '\f' and '\0' (KenLM's separators).
inline void split_tokens(std::string_view line, std::vector<std::string_view>& tokens) {
  tokens.clear();
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c == '\0';
  };
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
}

}  // namespace elm::classic
