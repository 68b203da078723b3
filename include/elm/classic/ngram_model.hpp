// SPDX-License-Identifier: MIT
// NgramModel: a compact hashed back-off n-gram model for fast queries, with KenLM's scoring conventions.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "elm/classic/ngram_counts.hpp"
#include "elm/classic/ngram_tables.hpp"
#include "elm/classic/ngram_vocabulary.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/text/utf8.hpp"

namespace elm::classic {

/// What a decoder keeps between words (KenLM's lm::ngram::State): the most recent words that can still
/// start a longer match, newest first, with their contexts' log10 back-offs. Two states that compare
/// equal give the same scores for every continuation.
struct NgramState {
  std::array<WordId, max_ngram_order - 1> words{};   // words[0] is the newest
  std::array<float, max_ngram_order - 1> backoff{};  // backoff[j]: log10 b(words[j] .. words[0])
  std::uint8_t length = 0;

  friend bool operator==(const NgramState& a, const NgramState& b) {
    return a.length == b.length && std::equal(a.words.begin(), a.words.begin() + a.length, b.words.begin());
  }
  friend bool operator!=(const NgramState& a, const NgramState& b) { return !(a == b); }
};

/// Result of scoring one word: log10 p(word | state), the length of the n-gram that matched (KenLM's
/// ngram_length), and whether the word is out of the vocabulary (scored as <unk>).
struct NgramScore {
  double log10_prob = 0.0;
  int ngram_length = 0;
  bool oov = false;
};

/// Totals of scoring text with KenLM query's conventions: each line is a sentence scored from <s>, every
/// word and then </s> is a token, OOV words are scored as <unk> and stay in the context of later words.
struct NgramPerplexity {
  double log10_prob = 0.0;      // sum over all tokens, OOVs included
  double log10_prob_oov = 0.0;  // the part of log10_prob that OOV tokens contribute
  std::int64_t tokens = 0;      // words + one </s> per sentence
  std::int64_t oov = 0;
  std::int64_t sentences = 0;

  /// 10^(-log10_prob / tokens).
  double perplexity() const { return std::pow(10.0, -log10_prob / double(tokens)); }
  /// 10^(-(log10_prob - log10_prob_oov) / (tokens - oov)).
  double perplexity_excl_oov() const {
    return std::pow(10.0, -(log10_prob - log10_prob_oov) / double(tokens - oov));
  }
};

/// Splits a line into character tokens: one per code point, whitespace as char_space_symbol (the tokens
/// NgramCounts::add_char_line counts). Throws FormatError with the byte offset on invalid UTF-8.
inline std::vector<std::string> char_tokens(std::string_view line) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const text::DecodedCodePoint d = text::decode_code_point(line, pos);
    ELM_EXPECT(d.length != 0, FormatError, "elm::classic::char_tokens: invalid UTF-8 at byte offset ", pos,
               ", expected a valid UTF-8 sequence");
    const char32_t c = d.code_point;
    if (c == U' ' || c == U'\t' || c == U'\v' || c == U'\f' || c == U'\r' || c == U'\n') {
      out.emplace_back(char_space_symbol);
    } else {
      out.emplace_back(line.substr(pos, d.length));
    }
    pos += d.length;
  }
  return out;
}

}  // namespace elm::classic

namespace elm::classic::detail {

/// An n-gram below the highest order: key, log10 p, log10 back-off. A back-off of -0.0f marks an n-gram that
/// is no context of a longer one and has no back-off (KenLM's kNoExtensionBackoff), so states stay short.
struct NgramMiddleEntry {
  std::uint64_t key;
  float prob;
  float backoff;
};
/// An n-gram of the highest order: key (two halves, so the entry packs into 12 bytes) and log10 p.
struct NgramLongestEntry {
  std::uint32_t key_lo;
  std::uint32_t key_hi;
  float prob;
};

inline std::uint64_t ngram_entry_key(const NgramMiddleEntry& e) noexcept { return e.key; }
inline std::uint64_t ngram_entry_key(const NgramLongestEntry& e) noexcept {
  return (std::uint64_t(e.key_hi) << 32) | e.key_lo;
}
inline void set_ngram_entry_key(NgramMiddleEntry& e, std::uint64_t k) noexcept { e.key = k; }
inline void set_ngram_entry_key(NgramLongestEntry& e, std::uint64_t k) noexcept {
  e.key_lo = static_cast<std::uint32_t>(k);
  e.key_hi = static_cast<std::uint32_t>(k >> 32);
}

/// Linear probing over 1.5 slots per entry (KenLM's probing default), keyed by the 64-bit n-gram key only:
/// like KenLM's probing model it does not store the words, so two n-grams whose keys collide (probability
/// about count^2 / 2^65) would be refused at build time rather than silently merged.
template <typename Entry>
class NgramProbingTable {
 public:
  NgramProbingTable() = default;
  explicit NgramProbingTable(std::size_t count) : slots_(count + count / 2 + 1, Entry{}) {}

  static std::uint64_t stored_key(std::uint64_t key) noexcept { return key == 0 ? 1 : key; }

  const Entry* find(std::uint64_t key) const noexcept {
    if (slots_.empty()) return nullptr;
    key = stored_key(key);
    std::size_t i = bucket(key);
    for (;;) {
      const Entry& e = slots_[i];
      const std::uint64_t k = ngram_entry_key(e);
      if (k == key) return &e;
      if (k == 0) return nullptr;
      if (++i == slots_.size()) i = 0;
    }
  }
  Entry* find_mutable(std::uint64_t key) noexcept { return const_cast<Entry*>(find(key)); }

  /// The new entry for key, or nullptr when the key is already present.
  Entry* insert(std::uint64_t key) noexcept {
    key = stored_key(key);
    std::size_t i = bucket(key);
    for (;;) {
      Entry& e = slots_[i];
      const std::uint64_t k = ngram_entry_key(e);
      if (k == key) return nullptr;
      if (k == 0) {
        set_ngram_entry_key(e, key);
        return &e;
      }
      if (++i == slots_.size()) i = 0;
    }
  }

  std::size_t bytes() const noexcept { return slots_.size() * sizeof(Entry); }
  std::vector<Entry>& slots() noexcept { return slots_; }
  const std::vector<Entry>& slots() const noexcept { return slots_; }

 private:
  std::size_t bucket(std::uint64_t key) const noexcept {
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 wide;
    return static_cast<std::size_t>((wide(key) * wide(slots_.size())) >> 64);
#else
    return static_cast<std::size_t>(key % slots_.size());
#endif
  }
  std::vector<Entry> slots_;
};

inline bool ngram_has_extension(float backoff) noexcept { return !(backoff == 0.0f && std::signbit(backoff)); }

}  // namespace elm::classic::detail

namespace elm::io::detail {
struct NgramModelAccess;  // the binary format (io/ngram_binary.hpp) reads and restores the tables
}  // namespace elm::io::detail

namespace elm::classic {

/// A back-off n-gram model in hash tables (KenLM's "probing" layout): unigrams in an array indexed by word
/// id, each higher order in a linear-probing table of 64-bit keys with float log10 p and back-off.
/// Queries follow KenLM's query exactly: p(w|h) = p(hw) for the longest listed hw, times the back-offs of the
/// longer contexts in the state. Built once, it is immutable: const methods may run on many threads.
class NgramModel {
 public:
  NgramModel() = default;

  /// Builds the hashed model. Throws FormatError when the tables are inconsistent (sizes, missing <s> or
  /// </s>, an n-gram listed twice) and InvalidArgument for an order outside [1, max_ngram_order].
  explicit NgramModel(const NgramTables& tables) {
    const int N = tables.order();
    ELM_EXPECT(N >= 1 && N <= max_ngram_order, InvalidArgument, "elm::classic::NgramModel: order = ", N,
               ", expected 1 <= order <= ", max_ngram_order);
    const NgramOrderTable& uni = tables.orders[0];
    ELM_EXPECT(uni.size() == tables.vocabulary.size() && uni.words.size() == uni.size(), FormatError,
               "elm::classic::NgramModel: ", uni.size(), " unigrams for ", tables.vocabulary.size(),
               " vocabulary words, expected one unigram per word");
    vocab_ = tables.vocabulary;
    ELM_EXPECT(vocab_.find(bos_symbol, &bos_) && vocab_.find(eos_symbol, &eos_), FormatError,
               "elm::classic::NgramModel: the vocabulary lacks <s> or </s>");
    if (!vocab_.find(unk_symbol, &unk_)) unk_ = static_cast<WordId>(-1);
    ELM_EXPECT(unk_ != static_cast<WordId>(-1), FormatError, "elm::classic::NgramModel: the vocabulary lacks <unk>");
    order_ = N;
    for (int n = 1; n <= N; ++n) {
      const NgramOrderTable& o = tables.orders[std::size_t(n - 1)];
      ELM_EXPECT(o.n == n && o.words.size() == o.size() * std::size_t(n) &&
                     (n == N ? o.log10_backoff.empty() || o.log10_backoff.size() == o.size()
                             : o.log10_backoff.size() == o.size()),
                 FormatError, "elm::classic::NgramModel: order ", n, " has inconsistent sizes");
      for (WordId w : o.words)
        ELM_EXPECT(w < vocab_.size(), FormatError, "elm::classic::NgramModel: word id ", w, " in order ", n,
                   " is out of range, expected < ", vocab_.size());
    }
    // 1) Unigrams, by id.
    unigrams_.resize(uni.size());
    for (std::size_t i = 0; i < uni.size(); ++i) {
      ELM_EXPECT(uni.words[i] == WordId(i), FormatError, "elm::classic::NgramModel: unigram ", i,
                 " has word id ", uni.words[i], ", expected unigram i to be word i");
      unigrams_[i] = {static_cast<float>(uni.log10_prob[i]), N > 1 ? static_cast<float>(uni.log10_backoff[i]) : 0.0f};
    }
    // 2) Middle and longest orders.
    if (N > 1) {
      middle_.resize(std::size_t(N - 2));
      for (int n = 2; n < N; ++n) {
        const NgramOrderTable& o = tables.orders[std::size_t(n - 1)];
        auto& table = middle_[std::size_t(n - 2)];
        table = detail::NgramProbingTable<detail::NgramMiddleEntry>(o.size());
        for (std::size_t i = 0; i < o.size(); ++i) {
          detail::NgramMiddleEntry* e = table.insert(detail::ngram_key(o.ngram(i), n));
          ELM_EXPECT(e != nullptr, FormatError, "elm::classic::NgramModel: ", n, "-gram '", text_of(o.ngram(i), n),
                     "' is listed twice (or its 64-bit key collides)");
          e->prob = static_cast<float>(o.log10_prob[i]);
          e->backoff = static_cast<float>(o.log10_backoff[i]);
        }
      }
      const NgramOrderTable& top = tables.orders[std::size_t(N - 1)];
      longest_ = detail::NgramProbingTable<detail::NgramLongestEntry>(top.size());
      for (std::size_t i = 0; i < top.size(); ++i) {
        detail::NgramLongestEntry* e = longest_.insert(detail::ngram_key(top.ngram(i), N));
        ELM_EXPECT(e != nullptr, FormatError, "elm::classic::NgramModel: ", N, "-gram '", text_of(top.ngram(i), N),
                   "' is listed twice (or its 64-bit key collides)");
        e->prob = static_cast<float>(top.log10_prob[i]);
      }
    }
    // 3) Mark the contexts that a longer n-gram extends; the others with back-off 0 get -0.0f.
    std::vector<char> uni_ext(unigrams_.size(), 0);
    std::vector<std::vector<char>> mid_ext(middle_.size());
    for (std::size_t m = 0; m < middle_.size(); ++m) mid_ext[m].assign(middle_[m].slots().size(), 0);
    for (int n = 2; n <= N; ++n) {
      const NgramOrderTable& o = tables.orders[std::size_t(n - 1)];
      for (std::size_t i = 0; i < o.size(); ++i) {
        const WordId* w = o.ngram(i);
        if (n == 2) {
          uni_ext[w[0]] = 1;
          continue;
        }
        auto& table = middle_[std::size_t(n - 3)];
        const detail::NgramMiddleEntry* e = table.find(detail::ngram_key(w, n - 1));
        ELM_EXPECT(e != nullptr, FormatError, "elm::classic::NgramModel: the context of ", n, "-gram '",
                   text_of(w, n), "' is not listed as a ", n - 1, "-gram");
        mid_ext[std::size_t(n - 3)][std::size_t(e - table.slots().data())] = 1;
      }
    }
    for (std::size_t i = 0; i < unigrams_.size(); ++i)
      if (!uni_ext[i] && unigrams_[i].backoff == 0.0f) unigrams_[i].backoff = -0.0f;
    for (std::size_t m = 0; m < middle_.size(); ++m) {
      auto& slots = middle_[m].slots();
      for (std::size_t i = 0; i < slots.size(); ++i)
        if (slots[i].key != 0 && !mid_ext[m][i] && slots[i].backoff == 0.0f) slots[i].backoff = -0.0f;
    }
    total_ngrams_ = tables.total_size();
    build_word_index();
  }

  int order() const noexcept { return order_; }
  const NgramVocabulary& vocabulary() const noexcept { return vocab_; }
  WordId unk_id() const noexcept { return unk_; }
  WordId bos_id() const noexcept { return bos_; }
  WordId eos_id() const noexcept { return eos_; }
  /// Id of word, or unk_id() when it is not in the vocabulary.
  WordId index(std::string_view word) const {
    if (word_slots_.empty()) {
      WordId id = unk_;
      vocab_.find(word, &id);
      return id;
    }
    const std::uint64_t h = detail::ngram_word_hash(word);
    std::size_t i = h & word_mask_;
    for (;;) {
      const WordSlot& slot = word_slots_[i];
      if (slot.id == empty_word_slot) return unk_;
      if (slot.hash == h && vocab_.word(slot.id) == word) return slot.id;
      i = (i + 1) & word_mask_;
    }
  }
  std::size_t total_ngrams() const noexcept { return total_ngrams_; }

  /// Bytes held by the probability structures (unigram array and hash tables; the vocabulary excluded).
  std::size_t memory_bytes() const noexcept {
    std::size_t b = unigrams_.size() * sizeof(UnigramEntry) + longest_.bytes();
    for (const auto& t : middle_) b += t.bytes();
    return b;
  }
  double bytes_per_ngram() const noexcept { return double(memory_bytes()) / double(std::max<std::size_t>(1, total_ngrams_)); }

  /// The state at the start of a sentence: the context "<s>".
  NgramState begin_sentence_state() const {
    check_ready("begin_sentence_state");
    NgramState s;
    s.words[0] = bos_;
    // (The bound check is always true after check_ready; it keeps GCC's -Warray-bounds quiet when this is
    // inlined for a model it can see is empty.)
    s.backoff[0] = bos_ < unigrams_.size() ? unigrams_[bos_].backoff : 0.0f;
    s.length = order_ > 1 ? 1 : 0;
    return s;
  }
  /// The empty context.
  NgramState null_context_state() const { return NgramState{}; }

  /// log10 p(word | in) with back-off; out receives the state after word (it may alias in).
  /// Throws RangeError for a word id outside the vocabulary. O(order) hash lookups.
  NgramScore score(const NgramState& in, WordId word, NgramState& out) const {
    ELM_EXPECT(word < unigrams_.size(), RangeError, "elm::classic::NgramModel::score: word id ", word,
               " is out of range, expected < ", unigrams_.size());
    const int len = std::min<int>(in.length, order_ - 1);
    const UnigramEntry& u = unigrams_[word];
    NgramScore result;
    float prob = u.prob;  // float sums, as KenLM's FullScore, so both give the same bits
    result.ngram_length = 1;
    result.oov = word == unk_;
    NgramState next;
    next.words[0] = word;
    next.backoff[0] = u.backoff;
    next.length = (order_ > 1 && detail::ngram_has_extension(u.backoff)) ? 1 : 0;
    std::uint64_t key = detail::ngram_key_step(0, word);
    int j = 0;
    for (; j < len; ++j) {
      const int n = j + 2;
      key = detail::ngram_key_step(key, in.words[std::size_t(j)]);
      if (n < order_) {
        const detail::NgramMiddleEntry* e = middle_[std::size_t(n - 2)].find(key);
        if (e == nullptr) break;
        prob = e->prob;
        next.words[std::size_t(j + 1)] = in.words[std::size_t(j)];
        next.backoff[std::size_t(j + 1)] = e->backoff;
        if (detail::ngram_has_extension(e->backoff)) next.length = static_cast<std::uint8_t>(j + 2);
      } else {
        const detail::NgramLongestEntry* e = longest_.find(key);
        if (e == nullptr) break;
        prob = e->prob;
      }
      result.ngram_length = n;
    }
    // The contexts longer than the match back off.
    for (int k = result.ngram_length - 1; k < len; ++k) prob += in.backoff[std::size_t(k)];
    result.log10_prob = static_cast<double>(prob);
    out = next;
    return result;
  }

  /// log10 p(word | context), context in text order (oldest first; only the last order-1 words matter).
  double log_prob(const std::vector<std::string_view>& context, std::string_view word) const {
    check_ready("log_prob");
    NgramState s = null_context_state();
    const std::size_t keep = std::min(context.size(), std::size_t(order_ - 1));
    for (std::size_t i = context.size() - keep; i < context.size(); ++i) score(s, index(context[i]), s);
    NgramState out;
    return score(s, index(word), out).log10_prob;
  }

  /// Adds the scores of one sentence (line of tokens; chars: one token per code point) to totals.
  void accumulate(std::string_view line, NgramPerplexity& totals, bool chars = false) const {
    check_ready("accumulate");
    NgramState s = begin_sentence_state();
    const auto add = [&](WordId w) {
      const NgramScore r = score(s, w, s);
      totals.log10_prob += r.log10_prob;
      ++totals.tokens;
      if (r.oov) {
        totals.log10_prob_oov += r.log10_prob;
        ++totals.oov;
      }
    };
    if (chars) {
      for (const std::string& t : char_tokens(line)) add(index(t));
    } else {
      // The separators of split_tokens, scanned in place: no allocation per sentence.
      const auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c == '\0';
      };
      std::size_t i = 0;
      while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) ++i;
        const std::size_t start = i;
        while (i < line.size() && !is_space(line[i])) ++i;
        if (i > start) add(index(line.substr(start, i - start)));
      }
    }
    add(eos_);
    ++totals.sentences;
  }

  /// Totals and perplexities over lines (each a sentence), with KenLM query's conventions.
  NgramPerplexity perplexity(const std::vector<std::string>& lines, bool chars = false) const {
    NgramPerplexity totals;
    for (const std::string& l : lines) accumulate(l, totals, chars);
    return totals;
  }

  /// Draws a sentence from the model, word by word from <s> until </s> or max_words words: each word w is
  /// drawn with probability p(w | state) over the vocabulary without <s> and <unk> (renormalised).
  /// O(max_words * V * order). The same rng state gives the same sentence.
  std::vector<std::string> sample(Rng& rng, std::size_t max_words = 100) const {
    check_ready("sample");
    std::vector<std::string> out;
    NgramState s = begin_sentence_state();
    std::vector<double> cum(unigrams_.size());
    NgramState tmp;
    while (out.size() < max_words) {
      double total = 0.0;
      for (std::size_t w = 0; w < unigrams_.size(); ++w) {
        if (w != bos_ && w != unk_) total += std::pow(10.0, score(s, WordId(w), tmp).log10_prob);
        cum[w] = total;
      }
      const double u = rng.uniform() * total;
      const auto it = std::upper_bound(cum.begin(), cum.end(), u);
      WordId w = static_cast<WordId>(std::min<std::ptrdiff_t>(it - cum.begin(), std::ptrdiff_t(cum.size()) - 1));
      while (w == bos_ || w == unk_) --w;  // only when u lands on the cumulative edge of a skipped word
      if (w == eos_) break;
      out.push_back(vocab_.word(w));
      score(s, w, s);
    }
    return out;
  }

  /// sample() joined into text: words with spaces, or (chars) characters with char_space_symbol as ' '.
  std::string sample_text(Rng& rng, std::size_t max_words = 100, bool chars = false) const {
    std::string text;
    for (const std::string& t : sample(rng, max_words)) {
      if (chars) {
        text += t == char_space_symbol ? std::string(" ") : t;
      } else {
        if (!text.empty()) text += ' ';
        text += t;
      }
    }
    return text;
  }

 private:
  friend struct elm::io::detail::NgramModelAccess;
  struct UnigramEntry {
    float prob;
    float backoff;
  };

  std::string text_of(const WordId* w, int n) const {
    std::string s;
    for (int k = 0; k < n; ++k) {
      if (k) s += ' ';
      s += vocab_.word(w[k]);
    }
    return s;
  }
  void check_ready(const char* where) const {
    ELM_EXPECT(order_ >= 1, InvalidArgument, "elm::classic::NgramModel::", where,
               ": the model is empty, expected one built from tables or loaded");
  }
  int order_ = 0;
  NgramVocabulary vocab_;
  WordId unk_ = 0, bos_ = 1, eos_ = 2;
  std::vector<UnigramEntry> unigrams_;
  std::vector<detail::NgramProbingTable<detail::NgramMiddleEntry>> middle_;  // orders 2 .. N-1
  detail::NgramProbingTable<detail::NgramLongestEntry> longest_;             // order N (N >= 2)
  std::size_t total_ngrams_ = 0;
  // Word -> id as a probing table of 64-bit string hashes (the words are compared on a hash match).
  struct WordSlot {
    std::uint64_t hash = 0;
    WordId id = empty_word_slot;
  };
  static constexpr WordId empty_word_slot = static_cast<WordId>(-1);
  std::vector<WordSlot> word_slots_;
  std::size_t word_mask_ = 0;

  void build_word_index() {
    std::size_t cap = 16;
    while (cap < 2 * vocab_.size()) cap *= 2;
    word_slots_.assign(cap, WordSlot{});
    word_mask_ = cap - 1;
    for (std::size_t id = 0; id < vocab_.size(); ++id) {
      const std::uint64_t h = detail::ngram_word_hash(vocab_.word(WordId(id)));
      std::size_t i = h & word_mask_;
      while (word_slots_[i].id != empty_word_slot) i = (i + 1) & word_mask_;
      word_slots_[i] = {h, WordId(id)};
    }
  }
};

}  // namespace elm::classic
