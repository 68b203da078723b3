// SPDX-License-Identifier: MIT
// NgramVocabulary: the word <-> id map of n-gram models, with KenLM's special symbols <unk>, <s>, </s>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/error.hpp"

namespace elm::classic::detail {

/// 64-bit hash of a word, eight bytes at a time (words are short: one or two steps). The tail is read with
/// fixed-size loads (two overlapping 4-byte ones, or three single bytes) rather than a variable-length copy.
inline std::uint64_t ngram_word_hash(std::string_view s) noexcept {
  const char* p = s.data();
  const std::size_t n = s.size();
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
  }
  const std::size_t rest = n - i;
  std::uint64_t tail = 0;
  if (rest >= 4) {
    std::uint32_t lo = 0, hi = 0;
    std::memcpy(&lo, p + i, 4);
    std::memcpy(&hi, p + n - 4, 4);
    tail = lo | (std::uint64_t(hi) << 32);
  } else if (rest > 0) {
    const auto byte = [&](std::size_t k) { return std::uint64_t(static_cast<unsigned char>(p[i + k])); };
    tail = byte(0) | (byte(rest / 2) << 8) | (byte(rest - 1) << 16);
  }
  h = (h ^ tail) * 0x94D049BB133111EBULL;
  return h ^ (h >> 32);
}

/// a == b for words: a byte loop for short ones (most words), which beats a call to memcmp.
inline bool ngram_same_word(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.size() > 16) return a == b;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k] != b[k]) return false;
  return true;
}

}  // namespace elm::classic::detail

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
  NgramVocabulary(const NgramVocabulary& other) : words_(other.words_), slots_(other.slots_) { make_views(); }
  NgramVocabulary& operator=(const NgramVocabulary& other) {
    if (this != &other) {
      words_ = other.words_;
      slots_ = other.slots_;
      make_views();
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
    const std::uint64_t h = detail::ngram_word_hash(word);
    std::size_t slot = probe(word, h);
    if (slots_[slot].id != 0) return slots_[slot].id - 1;
    ELM_EXPECT(words_.size() < std::size_t(0xFFFFFFFEu), RangeError,
               "elm::classic::NgramVocabulary::add: more than 2^32 - 2 words");
    const auto id = static_cast<WordId>(words_.size());
    words_.emplace_back(word);
    views_.emplace_back(words_.back());
    slots_[slot] = {static_cast<std::uint32_t>(h >> 32), id + 1};
    if (2 * words_.size() > slots_.size()) rehash(2 * slots_.size());
    return id;
  }

  /// True and the id in *id when word is known.
  bool find(std::string_view word, WordId* id) const {
    const Slot& s = slots_[probe(word, detail::ngram_word_hash(word))];
    if (s.id == 0) return false;
    *id = s.id - 1;
    return true;
  }

  bool contains(std::string_view word) const {
    return slots_[probe(word, detail::ngram_word_hash(word))].id != 0;
  }

  /// The word of id; throws RangeError for an unknown id.
  const std::string& word(WordId id) const {
    ELM_EXPECT(id < words_.size(), RangeError, "elm::classic::NgramVocabulary::word: id ", id,
               " is out of range, expected < ", words_.size());
    return words_[id];
  }

  std::size_t size() const noexcept { return words_.size(); }
  void clear() {
    words_.clear();
    views_.clear();
    slots_.assign(16, Slot{});
  }

 private:
  void make_views() {
    views_.assign(words_.begin(), words_.end());
  }
  // An open-addressing table, at most half full, of (high half of the word's hash, id + 1; 0 is empty).
  struct Slot {
    std::uint32_t check = 0;
    WordId id = 0;
  };
  // The slot holding word, or the empty slot where it would go.
  std::size_t probe(std::string_view word, std::uint64_t h) const {
    const auto check = static_cast<std::uint32_t>(h >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = h & mask;; slot = (slot + 1) & mask) {
      const Slot& s = slots_[slot];
      if (s.id == 0 || (s.check == check && detail::ngram_same_word(views_[s.id - 1], word))) return slot;
    }
  }
  void rehash(std::size_t capacity) {
    slots_.assign(capacity, Slot{});
    const std::size_t mask = capacity - 1;
    for (std::size_t id = 0; id < words_.size(); ++id) {
      const std::uint64_t h = detail::ngram_word_hash(views_[id]);
      std::size_t slot = h & mask;
      while (slots_[slot].id != 0) slot = (slot + 1) & mask;
      slots_[slot] = {static_cast<std::uint32_t>(h >> 32), static_cast<WordId>(id + 1)};
    }
  }

  // A deque never moves its elements, so references to words (and views_) stay valid as words are added.
  std::deque<std::string> words_;
  std::vector<std::string_view> views_;  // views_[id] = words_[id], one indirection less for lookups
  std::vector<Slot> slots_ = std::vector<Slot>(16);
};

/// True for the bytes that separate tokens: ' ', '\t', '\r', '\n', '\v', '\f' and '\0' (KenLM's separators).
inline bool is_token_separator(char c) noexcept {
  // One test for the common case: every separator is at most ' ' (0x20); bit k of the mask is byte k.
  const auto u = static_cast<unsigned char>(c);
  constexpr std::uint64_t separators = (1ULL << ' ') | (1ULL << '\t') | (1ULL << '\r') | (1ULL << '\n') |
                                       (1ULL << '\v') | (1ULL << '\f') | 1ULL;
  return u <= 0x20 && ((separators >> u) & 1) != 0;
}

/// Splits a line into tokens at the bytes of is_token_separator (KenLM's separators).
inline void split_tokens(std::string_view line, std::vector<std::string_view>& tokens) {
  tokens.clear();
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_token_separator(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_token_separator(line[i])) ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
}

}  // namespace elm::classic
