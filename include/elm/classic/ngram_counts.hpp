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

namespace elm::classic::detail {

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

/// The distinct n-grams of one order, in order of insertion, with exact (word-by-word) lookups. An open-
/// addressing table of 8-byte slots (the key's high half, to skip most word comparisons, and the entry) over
/// the entries' words, kept at most three quarters full (eight slots share a cache line, so probes stay short).
class NgramStore {
 public:
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

  explicit NgramStore(int n = 1) : n_(n) { rehash(16); }

  int order() const noexcept { return n_; }
  std::size_t size() const noexcept { return size_; }
  const std::uint32_t* words(std::size_t i) const noexcept { return words_.data() + i * std::size_t(n_); }
  /// The words of every entry, entry after entry (size() * order() values).
  const std::vector<std::uint32_t>& all_words() const noexcept { return words_; }
  std::uint64_t key(std::size_t i) const noexcept { return ngram_key(words(i), n_); }

  /// Index of the n-gram w[0..n), or npos.
  std::size_t find(const std::uint32_t* w) const noexcept { return find(w, ngram_key(w, n_)); }
  std::size_t find(const std::uint32_t* w, std::uint64_t key) const noexcept {
    const auto check = static_cast<std::uint32_t>(key >> 32);
    for (std::size_t slot = key & mask_;; slot = (slot + 1) & mask_) {
      const Slot& s = slots_[slot];
      if (s.index == 0) return npos;
      if (s.check == check && equal(s.index - 1, w)) return s.index - 1;
    }
  }

  /// Index of w[0..n), inserting it when new; second is true when it was inserted.
  std::pair<std::size_t, bool> insert(const std::uint32_t* w) { return insert(w, ngram_key(w, n_)); }
  /// insert() with the key already computed (it must equal ngram_key(w, n)).
  std::pair<std::size_t, bool> insert(const std::uint32_t* w, std::uint64_t key) {
    const auto check = static_cast<std::uint32_t>(key >> 32);
    std::size_t slot = key & mask_;
    for (;; slot = (slot + 1) & mask_) {
      const Slot& s = slots_[slot];
      if (s.index == 0) break;
      if (s.check == check && equal(s.index - 1, w)) return {s.index - 1, false};
    }
    ELM_EXPECT(size_ < 0xFFFFFFF0u, RangeError, "elm::classic::detail::NgramStore::insert: more than 2^32 n-grams");
    for (int k = 0; k < n_; ++k) words_.push_back(w[k]);
    ++size_;
    slots_[slot] = {check, static_cast<std::uint32_t>(size_)};
    if (4 * size_ > 3 * slots_.size()) rehash(2 * slots_.size());
    return {size_ - 1, true};
  }

  /// Hints the cache to load the slot where the key's probe starts (a later find or insert of it is faster).
  void prefetch(std::uint64_t key) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(slots_.data() + (key & mask_));
#else
    (void)key;
#endif
  }
  /// Bytes held by the entries' words and the slots (capacities, not sizes).
  std::size_t bytes() const noexcept {
    return words_.capacity() * sizeof(std::uint32_t) + slots_.capacity() * sizeof(Slot);
  }
  /// Room for count n-grams without rehashing.
  void reserve(std::size_t count) {
    words_.reserve(count * std::size_t(n_));
    std::size_t cap = slots_.size();
    while (3 * cap < 4 * count + 4) cap *= 2;
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
    for (std::size_t i = 0; i < size_; ++i) {
      const std::uint64_t key = ngram_key(words(i), n_);
      std::size_t slot = key & mask_;
      while (slots_[slot].index != 0) slot = (slot + 1) & mask_;
      slots_[slot] = {static_cast<std::uint32_t>(key >> 32), static_cast<std::uint32_t>(i + 1)};
    }
  }
  struct Slot {
    std::uint32_t check = 0;  // key >> 32
    std::uint32_t index = 0;  // entry + 1; 0 is empty
  };

  int n_;
  std::size_t size_ = 0;
  std::vector<std::uint32_t> words_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace elm::classic::detail

namespace elm::classic {

/// Raw counts of every n-gram of orders 1..N in sentences padded as lmplz pads them: a sentence
/// w1 .. wk is counted as the sequence <s> w1 .. wk </s>, and each order n takes all its length-n windows
/// except the unigram <s>. (lmplz pads with N-1 <s> and folds the windows "<s> <s> .. w" back onto the
/// gram that starts at the last <s>; that gives exactly these windows.) The unigram index equals the word id;
/// count(<s>) is the number of sentences, so c(h) = sum_x c(h x) holds for every context h.
///
/// Counting hashes one window per token, as lmplz does: the N-gram ending there (or, in the first N-2
/// positions of a sentence, the shorter window that starts at <s>). The other n-grams of orders below N are
/// the suffixes of longer ones and are derived from the distinct longer n-grams when first asked for (so
/// the first const call after adding lines may take a moment; it must not run concurrently with another
/// call). Every n-gram of order n >= 2 knows the entries of its prefix and suffix (prefixes(n), suffixes(n)),
/// which is what estimation needs, without a lookup.
class NgramCounts {
 public:
  /// order N in [1, max_ngram_order]; throws InvalidArgument otherwise.
  explicit NgramCounts(int order) : vocab_(NgramVocabulary::with_specials()) {
    ELM_EXPECT(order >= 1 && order <= max_ngram_order, InvalidArgument,
               "elm::classic::NgramCounts: order = ", order, ", expected 1 <= order <= ", max_ngram_order);
    order_ = order;
    const auto orders = std::size_t(order);
    for (int n = 1; n <= order; ++n) stores_.emplace_back(n);
    counts_.resize(orders);
    previous_.resize(orders);
    prefix_.resize(orders);
    suffix_.resize(orders);
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
  /// The lower orders are complete on return.
  void add_lines(const std::vector<std::string>& lines, bool chars = false, const NgramProgress& progress = {}) {
    // One window per token and </s>: an upper bound of the new N-grams, so the tables grow once.
    std::size_t windows = 0;
    for (const std::string& line : lines) windows += 1 + (chars ? count_code_points(line) : count_tokens(line));
    if (order_ >= 2) reserve_order(order_, stores_[std::size_t(order_ - 1)].size() + windows);
    const std::size_t step = std::max<std::size_t>(1, lines.size() / 100);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (chars) {
        add_char_line(lines[i]);
      } else {
        add_line(lines[i]);
      }
      if (progress && (i + 1) % step == 0) progress("counting", double(i + 1) / double(lines.size()));
    }
    complete();
    if (progress) progress("counting", 1.0);
  }

  /// Line numbers in error messages go on after `lines` more lines (a part of a file counted alone names the
  /// lines by their number in the file).
  void skip_line_numbers(std::int64_t lines) noexcept { line_number_ += lines; }

  /// The id of word, added to the vocabulary when new (as counting adds words: the next id). For merging counts
  /// made elsewhere (add_counted).
  WordId add_word(std::string_view word) { return word_id(word); }

  /// Adds count occurrences of an n-gram counted elsewhere, to merge counts made in parts (elm/dist/
  /// sharded_ngram_counts.hpp counts parts of a text in several processes). words holds n ids of vocabulary().
  /// Only the windows that counting hashes itself are accepted: the n-grams of the highest order N and, below it,
  /// those starting with <s> (with N = 1: every unigram but <s>, which add_sentences counts); the other n-grams
  /// are derived from them, as after counting lines. A new n-gram takes the next index of its order, so adding
  /// each n-gram at its first appearance in the text (with its total count) and the vocabulary in the same order
  /// gives the tables, indices included, of counting the text in one object. Throws InvalidArgument otherwise.
  void add_counted(const WordId* words, int n, std::int64_t count) {
    constexpr WordId bos = 1;
    ELM_EXPECT(n >= 1 && n <= order_, InvalidArgument, "elm::classic::NgramCounts::add_counted: n = ", n,
               ", expected 1 <= n <= ", order_);
    ELM_EXPECT(count >= 0, InvalidArgument, "elm::classic::NgramCounts::add_counted: count = ", count,
               ", expected >= 0");
    for (int k = 0; k < n; ++k)
      ELM_EXPECT(words[k] < vocab_.size() && (words[k] != bos || (k == 0 && n > 1)), InvalidArgument,
                 "elm::classic::NgramCounts::add_counted: word ", k, " of the ", n, "-gram has id ", words[k],
                 ", expected an id below ", vocab_.size(), " and <s> (id 1) only first in an n-gram of order >= 2");
    ELM_EXPECT(n == order_ || words[0] == bos, InvalidArgument, "elm::classic::NgramCounts::add_counted: a ", n,
               "-gram below the highest order (", order_, ") that does not start with <s>, expected only the ",
               "windows counting hashes (the lower orders are derived from them)");
    dirty_ = true;
    if (n == 1) {
      counts_[0][words[0]] += count;
      return;
    }
    const auto [idx, inserted] = stores_[std::size_t(n - 1)].insert(words);
    if (inserted) grow(n);
    counts_[std::size_t(n - 1)][idx] += count;
  }

  /// Calls f(words, n, count, index) for every window counting hashes itself (the n-grams add_counted accepts:
  /// the highest order, and below it those starting with <s>; with N = 1 every unigram but <s>), order by order
  /// and in order of first appearance (index is the entry in its order). Does not derive the lower orders, so a
  /// part of a text can be written out (elm/classic/bounded_ngram_counts.hpp) at the cost of its windows alone.
  template <typename F>
  void for_each_counted(F&& f) const {
    constexpr WordId bos = 1;
    for (int n = 1; n <= order_; ++n) {
      const detail::NgramStore& st = stores_[std::size_t(n - 1)];
      const auto& c = counts_[std::size_t(n - 1)];
      for (std::size_t i = 0; i < st.size(); ++i) {
        const WordId* w = st.words(i);
        const bool hashed = n == order_ ? !(n == 1 && w[0] == bos) : n > 1 && w[0] == bos;
        if (hashed) f(w, n, c[i], i);
      }
    }
  }
  /// Entries hashed so far in the tables of order n (without deriving the lower orders).
  std::size_t counted_size(int n) const noexcept { return stores_[std::size_t(n - 1)].size(); }
  /// Room for count n-grams of the highest order without growing its tables.
  void reserve_counted(std::size_t count) { reserve_order(order_, count); }
  /// Bytes held by the counting tables (capacities of the stores, counts and links; the vocabulary left out).
  std::size_t table_bytes() const noexcept {
    std::size_t bytes = 0;
    for (std::size_t k = 0; k < stores_.size(); ++k)
      bytes += stores_[k].bytes() + counts_[k].capacity() * sizeof(std::int64_t) +
               (previous_[k].capacity() + prefix_[k].capacity() + suffix_[k].capacity()) * sizeof(std::uint32_t);
    return bytes;
  }

  /// Adds sentences and tokens counted elsewhere (with add_counted): each sentence is also one <s>.
  void add_sentences(std::int64_t sentences, std::int64_t tokens) {
    ELM_EXPECT(sentences >= 0 && tokens >= 0, InvalidArgument, "elm::classic::NgramCounts::add_sentences: ",
               sentences, " sentences and ", tokens, " tokens, expected counts >= 0");
    sentences_ += sentences;
    tokens_count_ += tokens;
    counts_[0][1] += sentences;
    dirty_ = true;
  }

  /// Number of distinct n-grams of order n (n in [1, order]).
  std::size_t size(int n) const { return store(n).size(); }
  /// The distinct n-grams of order n (index i has words store(n).words(i)) and their counts.
  const detail::NgramStore& store(int n) const {
    ELM_EXPECT(n >= 1 && n <= order_, InvalidArgument, "elm::classic::NgramCounts::store: n = ", n,
               ", expected 1 <= n <= ", order_);
    complete();
    return stores_[std::size_t(n - 1)];
  }
  const std::vector<std::int64_t>& counts(int n) const {
    store(n);
    return counts_[std::size_t(n - 1)];
  }
  /// For the order-n entries (n in [2, order]): the index in store(n - 1) of their first n - 1 words.
  const std::vector<std::uint32_t>& prefixes(int n) const { return links(n, prefix_, "prefixes"); }
  /// For the order-n entries (n in [2, order]): the index in store(n - 1) of their last n - 1 words.
  const std::vector<std::uint32_t>& suffixes(int n) const { return links(n, suffix_, "suffixes"); }

  /// Raw count of the n-gram given as words (0 when absent or when a word is unknown).
  std::int64_t count(const std::vector<std::string_view>& words) const {
    const int n = static_cast<int>(words.size());
    ELM_EXPECT(n >= 1 && n <= order_, InvalidArgument, "elm::classic::NgramCounts::count: ", n,
               " words, expected 1 to ", order_);
    std::vector<WordId> ids(words.size());
    for (std::size_t i = 0; i < words.size(); ++i)
      if (!vocab_.find(words[i], &ids[i])) return 0;
    const std::size_t idx = store(n).find(ids.data());
    return idx == detail::NgramStore::npos ? 0 : counts(n)[idx];
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
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  // How many windows ahead the counting and derivation loops prefetch their hash slot.
  static constexpr std::size_t prefetch_distance = 16;

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
  static std::size_t count_tokens(std::string_view line) noexcept {
    std::size_t tokens = 0;
    bool in_token = false;
    for (char c : line) {
      const bool space = is_token_separator(c);
      tokens += !space && !in_token;
      in_token = !space;
    }
    return tokens;
  }
  static std::size_t count_code_points(std::string_view line) noexcept {
    std::size_t cps = 0;
    for (char c : line) cps += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return cps;
  }
  // Room for count entries of order n in its store and per-entry arrays.
  void reserve_order(int n, std::size_t count) const {
    const auto k = std::size_t(n - 1);
    stores_[k].reserve(count);
    counts_[k].reserve(count);
    if (n >= 3) previous_[k].reserve(count);
  }
  // The per-entry arrays of order n follow the size of its store (one entry was just inserted).
  void grow(int n) const {
    const auto k = std::size_t(n - 1);
    counts_[k].push_back(0);
    if (n >= 3) previous_[k].push_back(none);
  }

  // Hashes the window that ends at each token: the N-gram, or the shorter window starting at <s> near the
  // sentence start. A new window remembers the window before it (its prefix when it starts with <s>, else the
  // N-gram whose suffix is its prefix), from which complete() finds every prefix without a lookup.
  void count_sentence() {
    ++sentences_;
    tokens_count_ += static_cast<std::int64_t>(ids_.size());
    seq_.clear();
    seq_.push_back(1);
    seq_.insert(seq_.end(), ids_.begin(), ids_.end());
    seq_.push_back(2);
    counts_[0][1] += 1;
    dirty_ = true;
    const std::size_t len = seq_.size();
    const auto window = [&](std::size_t end) { return std::min(std::size_t(order_), end + 1); };
    keys_.resize(len);
    for (std::size_t end = 1; end < len; ++end) {
      const std::size_t n = window(end);
      keys_[end] = detail::ngram_key(seq_.data() + end + 1 - n, int(n));
    }
    if (order_ == 1) {
      for (std::size_t end = 1; end < len; ++end) counts_[0][seq_[end]] += 1;
      return;
    }
    std::uint32_t previous = none;
    for (std::size_t end = 1; end < len; ++end) {
      if (end + prefetch_distance < len) {
        const std::size_t ahead = end + prefetch_distance;
        stores_[window(ahead) - 1].prefetch(keys_[ahead]);
      }
      const std::size_t n = window(end);
      auto& st = stores_[n - 1];
      const auto [idx, inserted] = st.insert(seq_.data() + end + 1 - n, keys_[end]);
      if (inserted) {
        grow(int(n));
        if (n >= 3) previous_[n - 1][idx] = previous;
      }
      counts_[n - 1][idx] += 1;
      previous = static_cast<std::uint32_t>(idx);
    }
  }

  const std::vector<std::uint32_t>& links(int n, const std::vector<std::vector<std::uint32_t>>& v,
                                          const char* what) const {
    ELM_EXPECT(n >= 2 && n <= order_, InvalidArgument, "elm::classic::NgramCounts::", what, ": n = ", n,
               ", expected 2 <= n <= ", order_);
    complete();
    return v[std::size_t(n - 1)];
  }

  // Derives the orders below N from the distinct longer n-grams, from the top down (the raw count of an
  // n-gram that does not start with <s> is the sum of the counts of the (n+1)-grams it ends), then links
  // every entry to its prefix: prefix(suffix(g)) = suffix(prefix(g)), so a derived n-gram takes the suffix of
  // the prefix of the longer n-gram it was first derived from.
  void complete() const {
    if (!dirty_) return;
    const int N = order_;
    // Below N only the windows starting with <s> (and the unigram <s>) were hashed directly and keep their
    // counts; the others are sums over longer n-grams, recomputed from zero.
    for (int n = 1; n < N; ++n) {
      const detail::NgramStore& st = stores_[std::size_t(n - 1)];
      auto& c = counts_[std::size_t(n - 1)];
      for (std::size_t i = 0; i < c.size(); ++i)
        if (st.words(i)[0] != 1) c[i] = 0;
    }
    std::vector<std::vector<std::uint32_t>> origin(static_cast<std::size_t>(N));
    for (int n = N; n >= 2; --n) {
      const detail::NgramStore& st = stores_[std::size_t(n - 1)];
      detail::NgramStore& lo = stores_[std::size_t(n - 2)];
      const auto& c = counts_[std::size_t(n - 1)];
      auto& lower = counts_[std::size_t(n - 2)];
      auto& sfx = suffix_[std::size_t(n - 1)];
      auto& from = origin[std::size_t(n - 2)];
      sfx.resize(st.size());
      const std::size_t size = st.size();
      if (n == 2) {
        for (std::size_t i = 0; i < size; ++i) {
          const WordId w = st.words(i)[1];
          sfx[i] = w;
          lower[w] += c[i];
        }
        continue;
      }
      reserve_order(n - 1, lo.size() + size);
      from.reserve(lo.size() + size);
      from.assign(lo.size(), none);
      std::vector<std::uint64_t> keys(std::min(size, prefetch_distance));
      const auto key_of = [&](std::size_t i) { return detail::ngram_key(st.words(i) + 1, n - 1); };
      for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = key_of(i);
      for (std::size_t i = 0; i < size; ++i) {
        const std::uint64_t key = keys[i % prefetch_distance];
        if (i + prefetch_distance < size) {
          const std::uint64_t ahead = key_of(i + prefetch_distance);
          keys[i % prefetch_distance] = ahead;
          lo.prefetch(ahead);
        }
        const auto [s, inserted] = lo.insert(st.words(i) + 1, key);
        if (inserted) {
          grow(n - 1);
          from.push_back(none);
        }
        if (from[s] == none) from[s] = static_cast<std::uint32_t>(i);
        sfx[i] = static_cast<std::uint32_t>(s);
        lower[s] += c[i];
      }
    }
    for (int n = N; n >= 2; --n) {
      const detail::NgramStore& st = stores_[std::size_t(n - 1)];
      auto& pfx = prefix_[std::size_t(n - 1)];
      pfx.resize(st.size());
      if (n == 2) {
        for (std::size_t i = 0; i < st.size(); ++i) pfx[i] = st.words(i)[0];
        continue;
      }
      const auto& prev = previous_[std::size_t(n - 1)];
      const auto& sfx = suffix_[std::size_t(n - 1)];
      const detail::NgramStore& lo = stores_[std::size_t(n - 2)];
      for (std::size_t i = 0; i < st.size(); ++i) {
        if ((st.words(i)[0] == 1 || n == N) && prev[i] == none) {
          const std::size_t found = lo.find(st.words(i));  // added by add_counted: looked up
          ELM_ASSERT(found != detail::NgramStore::npos);
          pfx[i] = static_cast<std::uint32_t>(found);
        } else if (st.words(i)[0] == 1) {
          pfx[i] = prev[i];  // a window starting at <s>: the window before it is its prefix
        } else if (n == N) {
          pfx[i] = sfx[prev[i]];  // the N-gram before it ends with its prefix
        } else {
          pfx[i] = sfx[prefix_[std::size_t(n)][origin[std::size_t(n - 1)][i]]];
        }
      }
    }
    dirty_ = false;
  }

  int order_ = 0;
  NgramVocabulary vocab_;
  // Everything the lazy completion of the lower orders touches (store entries, counts, links) is mutable.
  mutable std::vector<detail::NgramStore> stores_;
  mutable std::vector<std::vector<std::int64_t>> counts_;   // raw counts, all orders
  mutable std::vector<std::vector<std::uint32_t>> previous_;  // orders >= 3: the window before, when hashed
  mutable std::vector<std::vector<std::uint32_t>> prefix_, suffix_;
  mutable bool dirty_ = false;
  std::int64_t sentences_ = 0;
  std::int64_t tokens_count_ = 0;
  std::int64_t line_number_ = 0;
  std::vector<std::string_view> tokens_;
  std::vector<WordId> ids_;
  std::vector<WordId> seq_;
  std::vector<std::uint64_t> keys_;
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
