// SPDX-License-Identifier: MIT
// NgramCounts: raw n-gram counts of orders 1..n over word or character sentences, padded as lmplz pads them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/classic/ngram_vocabulary.hpp"
#include "elm/core/error.hpp"
#include "elm/text/utf8.hpp"

namespace elm::classic {

/// Optional progress report of long jobs: stage name and fraction done in [0, 1].
using NgramProgress = std::function<void(std::string_view stage, double fraction)>;

/// The token that stands for a whitespace code point in character models (ARPA words cannot hold spaces).
inline constexpr std::string_view char_space_symbol = "\xE2\x96\x81";  // U+2581, as SentencePiece writes spaces

}  // namespace elm::classic

namespace elm::detail {

/// One step of the n-gram key: a bijective 64-bit mix of the key so far and the next word. An n-gram's key
/// folds its words from the last to the first, so the key of (w_{i-k} .. w_i) extends the key of
/// (w_{i-k+1} .. w_i) by one step, and a query walks to longer histories one word at a time (as KenLM does).
inline std::uint64_t ngram_key_step(std::uint64_t key, std::uint32_t word) noexcept {
  std::uint64_t x = key ^ ((std::uint64_t(word) + 1) * 0x9E3779B97F4A7C15ULL);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

/// Key of the n-gram words[0..n): words[n-1] first, then the history from nearest to farthest.
inline std::uint64_t ngram_key(const std::uint32_t* words, int n) noexcept {
  std::uint64_t key = 0;
  for (int i = n - 1; i >= 0; --i) key = ngram_key_step(key, words[i]);
  return key;
}

/// The distinct n-grams of one order, in order of insertion, with exact (word-by-word) lookups.
class NgramStore {
 public:
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

  explicit NgramStore(int n = 1) : n_(n) { rehash(16); }

  int order() const noexcept { return n_; }
  std::size_t size() const noexcept { return keys_.size(); }
  const std::uint32_t* words(std::size_t i) const noexcept { return words_.data() + i * std::size_t(n_); }
  std::uint64_t key(std::size_t i) const noexcept { return keys_[i]; }

  /// Index of the n-gram w[0..n), or npos.
  std::size_t find(const std::uint32_t* w) const noexcept { return find(w, ngram_key(w, n_)); }
  std::size_t find(const std::uint32_t* w, std::uint64_t key) const noexcept {
    std::size_t slot = key & mask_;
    for (;;) {
      const Slot& s = slots_[slot];
      if (s.index == 0) return npos;
      if (s.key == key && equal(s.index - 1, w)) return s.index - 1;
      slot = (slot + 1) & mask_;
    }
  }

  /// Index of w[0..n), inserting it when new; second is true when it was inserted.
  std::pair<std::size_t, bool> insert(const std::uint32_t* w) { return insert(w, ngram_key(w, n_)); }
  /// insert() with the key already computed (it must equal ngram_key(w, n)).
  std::pair<std::size_t, bool> insert(const std::uint32_t* w, std::uint64_t key) {
    std::size_t slot = key & mask_;
    for (;;) {
      const Slot& s = slots_[slot];
      if (s.index == 0) break;
      if (s.key == key && equal(s.index - 1, w)) return {s.index - 1, false};
      slot = (slot + 1) & mask_;
    }
    ELM_EXPECT(keys_.size() < 0xFFFFFFF0u, RangeError, "elm::detail::NgramStore::insert: more than 2^32 n-grams");
    keys_.push_back(key);
    words_.insert(words_.end(), w, w + n_);
    slots_[slot] = {key, static_cast<std::uint32_t>(keys_.size())};
    if (2 * keys_.size() > slots_.size()) rehash(2 * slots_.size());
    return {keys_.size() - 1, true};
  }

  void reserve(std::size_t count) {
    keys_.reserve(count);
    words_.reserve(count * std::size_t(n_));
    std::size_t cap = slots_.size();
    while (cap < 2 * count + 2) cap *= 2;
    if (cap != slots_.size()) rehash(cap);
  }

 private:
  bool equal(std::size_t i, const std::uint32_t* w) const noexcept {
    const std::uint32_t* v = words(i);
    for (int k = 0; k < n_; ++k)
      if (v[k] != w[k]) return false;
    return true;
  }
  void rehash(std::size_t capacity) {
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      std::size_t slot = keys_[i] & mask_;
      while (slots_[slot].index != 0) slot = (slot + 1) & mask_;
      slots_[slot] = {keys_[i], static_cast<std::uint32_t>(i + 1)};
    }
  }
  // The key sits in the slot so that a probe touches one cache line until the words are compared.
  struct Slot {
    std::uint64_t key = 0;
    std::uint32_t index = 0;  // entry + 1; 0 is empty
  };

  int n_;
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> words_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace elm::detail

namespace elm::classic {

/// Raw counts of every n-gram of orders 1..N in sentences padded as lmplz pads them: a sentence
/// w1 .. wk is counted as the sequence <s> w1 .. wk </s>, and each order n takes all its length-n windows
/// except the unigram <s>. (lmplz pads with N-1 <s> and folds the windows "<s> <s> .. w" back onto the
/// gram that starts at the last <s>; that gives exactly these windows.) The unigram index equals the word id;
/// count(<s>) is the number of sentences, so c(h) = sum_x c(h x) holds for every context h.
class NgramCounts {
 public:
  /// order N in [1, max_ngram_order]; throws InvalidArgument otherwise.
  explicit NgramCounts(int order) : vocab_(NgramVocabulary::with_specials()) {
    ELM_EXPECT(order >= 1 && order <= max_ngram_order, InvalidArgument,
               "elm::classic::NgramCounts: order = ", order, ", expected 1 <= order <= ", max_ngram_order);
    order_ = order;
    for (int n = 1; n <= order; ++n) stores_.emplace_back(n);
    counts_.resize(std::size_t(order));
    for (WordId id = 0; id < 3; ++id) add_unigram(id);
  }

  int order() const noexcept { return order_; }
  const NgramVocabulary& vocabulary() const noexcept { return vocab_; }

  /// Counts one line of whitespace-separated words. Throws FormatError when it holds <s>, </s> or <unk>
  /// (lmplz refuses them too).
  void add_line(std::string_view line) {
    ++line_number_;
    split_tokens(line, tokens_);
    ids_.clear();
    for (std::string_view t : tokens_) {
      ELM_EXPECT(t != bos_symbol && t != eos_symbol && t != unk_symbol, FormatError,
                 "elm::classic::NgramCounts::add_line: line ", line_number_, ": special word ", t,
                 " is not allowed in the text, expected ordinary words");
      ids_.push_back(word_id(t));
    }
    count_sentence();
  }

  /// Counts one line of UTF-8 text as a sentence of code points; whitespace code points become
  /// char_space_symbol. Throws FormatError with the line and byte offset on invalid UTF-8.
  void add_char_line(std::string_view line) {
    ++line_number_;
    ids_.clear();
    std::size_t pos = 0;
    std::string one;
    while (pos < line.size()) {
      const text::DecodedCodePoint d = text::decode_code_point(line, pos);
      ELM_EXPECT(d.length != 0, FormatError, "elm::classic::NgramCounts::add_char_line: line ", line_number_,
                 ": invalid UTF-8 at byte offset ", pos, ", expected a valid UTF-8 sequence");
      const char32_t c = d.code_point;
      if (c == U' ' || c == U'\t' || c == U'\v' || c == U'\f' || c == U'\r' || c == U'\n') {
        ids_.push_back(word_id(char_space_symbol));
      } else {
        ids_.push_back(word_id(line.substr(pos, d.length)));
      }
      pos += d.length;
    }
    count_sentence();
  }

  /// Counts every line; chars selects add_char_line. progress (optional) sees ("counting", fraction).
  void add_lines(const std::vector<std::string>& lines, bool chars = false, const NgramProgress& progress = {}) {
    const std::size_t step = std::max<std::size_t>(1, lines.size() / 100);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (chars) {
        add_char_line(lines[i]);
      } else {
        add_line(lines[i]);
      }
      if (progress && (i + 1) % step == 0) progress("counting", double(i + 1) / double(lines.size()));
    }
    if (progress) progress("counting", 1.0);
  }

  /// Number of distinct n-grams of order n (n in [1, order]).
  std::size_t size(int n) const { return store(n).size(); }
  /// The distinct n-grams of order n (index i has words store(n).words(i)) and their counts.
  const elm::detail::NgramStore& store(int n) const {
    ELM_EXPECT(n >= 1 && n <= order_, InvalidArgument, "elm::classic::NgramCounts::store: n = ", n,
               ", expected 1 <= n <= ", order_);
    return stores_[std::size_t(n - 1)];
  }
  const std::vector<std::int64_t>& counts(int n) const {
    store(n);
    return counts_[std::size_t(n - 1)];
  }

  /// Raw count of the n-gram given as words (0 when absent or when a word is unknown).
  std::int64_t count(const std::vector<std::string_view>& words) const {
    const int n = static_cast<int>(words.size());
    ELM_EXPECT(n >= 1 && n <= order_, InvalidArgument, "elm::classic::NgramCounts::count: ", n,
               " words, expected 1 to ", order_);
    std::vector<WordId> ids(words.size());
    for (std::size_t i = 0; i < words.size(); ++i)
      if (!vocab_.find(words[i], &ids[i])) return 0;
    const std::size_t idx = store(n).find(ids.data());
    return idx == elm::detail::NgramStore::npos ? 0 : counts(n)[idx];
  }

  /// Count-of-counts of order n: result[k] = number of distinct n-grams seen exactly k times, k = 1..max_k
  /// (result[0] is unused and 0). The unigram <s> is left out.
  std::vector<std::int64_t> count_of_counts(int n, int max_k = 4) const {
    ELM_EXPECT(max_k >= 1, InvalidArgument, "elm::classic::NgramCounts::count_of_counts: max_k = ", max_k,
               ", expected >= 1");
    std::vector<std::int64_t> result(std::size_t(max_k) + 1, 0);
    const auto& c = counts(n);
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (n == 1 && i == 1) continue;
      if (c[i] >= 1 && c[i] <= max_k) ++result[std::size_t(c[i])];
    }
    return result;
  }

  std::int64_t sentences() const noexcept { return sentences_; }
  /// Words counted, without <s> and </s> (lmplz's "Unigram tokens").
  std::int64_t tokens() const noexcept { return tokens_count_; }

 private:
  WordId word_id(std::string_view w) {
    const std::size_t before = vocab_.size();
    const WordId id = vocab_.add(w);
    if (vocab_.size() != before) add_unigram(id);
    return id;
  }
  void add_unigram(WordId id) {
    stores_[0].insert(&id);
    counts_[0].push_back(0);
  }
  void count_sentence() {
    ++sentences_;
    tokens_count_ += static_cast<std::int64_t>(ids_.size());
    seq_.clear();
    seq_.push_back(1);
    seq_.insert(seq_.end(), ids_.begin(), ids_.end());
    seq_.push_back(2);
    counts_[0][1] += 1;
    for (std::size_t end = 1; end < seq_.size(); ++end) {
      // The key of a window extends the key of the window one shorter with its first word.
      counts_[0][seq_[end]] += 1;  // the unigram index is the word id
      std::uint64_t key = elm::detail::ngram_key_step(0, seq_[end]);
      for (int n = 2; n <= order_ && std::size_t(n) <= end + 1; ++n) {
        const std::uint32_t* w = seq_.data() + (end + 1 - std::size_t(n));
        key = elm::detail::ngram_key_step(key, w[0]);
        auto& st = stores_[std::size_t(n - 1)];
        const auto [idx, inserted] = st.insert(w, key);
        auto& c = counts_[std::size_t(n - 1)];
        if (inserted) c.push_back(0);
        c[idx] += 1;
      }
    }
  }

  int order_ = 0;
  NgramVocabulary vocab_;
  std::vector<elm::detail::NgramStore> stores_;
  std::vector<std::vector<std::int64_t>> counts_;
  std::int64_t sentences_ = 0;
  std::int64_t tokens_count_ = 0;
  std::int64_t line_number_ = 0;
  std::vector<std::string_view> tokens_;
  std::vector<WordId> ids_;
  std::vector<WordId> seq_;
};

/// Counts of the code-point windows of length n in UTF-8 text (no padding), keyed by their UTF-8 bytes:
/// the trigrams of "这是一个测试文本" are its six three-character windows. Lines are not split: a '\n' is a
/// code point like any other. Throws FormatError with the line and byte offset on invalid UTF-8.
inline std::unordered_map<std::string, std::int64_t> count_char_ngrams(std::string_view text, int n) {
  ELM_EXPECT(n >= 1 && n <= max_ngram_order, InvalidArgument, "elm::classic::count_char_ngrams: n = ", n,
             ", expected 1 <= n <= ", max_ngram_order);
  const std::size_t bad = text::find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    const std::size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
    const std::size_t col = line_start == std::string_view::npos || bad == 0 ? bad : bad - line_start - 1;
    ELM_EXPECT(false, FormatError, "elm::classic::count_char_ngrams: invalid UTF-8 at line ", line,
               ", byte offset ", col, " of the line (", bad, " of the text), expected a valid UTF-8 sequence");
  }
  std::vector<std::size_t> starts;  // byte offset of each code point, plus the end
  for (std::size_t pos = 0; pos < text.size();) {
    starts.push_back(pos);
    pos += text::decode_code_point(text, pos).length;
  }
  starts.push_back(text.size());
  std::unordered_map<std::string, std::int64_t> result;
  const std::size_t cps = starts.size() - 1;
  for (std::size_t i = 0; i + std::size_t(n) <= cps; ++i)
    ++result[std::string(text.substr(starts[i], starts[i + std::size_t(n)] - starts[i]))];
  return result;
}

}  // namespace elm::classic
