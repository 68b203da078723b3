// SPDX-License-Identifier: MIT
// BpeTokenizer: GPT-2's byte-level BPE (vocab.json + merges.txt), token for token equal to Hugging Face's.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/text/detail/special_tokens.hpp"
#include "elm/text/detail/vocab_json.hpp"
#include "elm/text/encoding.hpp"
#include "elm/text/unicode.hpp"
#include "elm/text/utf8.hpp"

namespace elm::text {

namespace detail {

/// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
inline std::array<char32_t, 256> byte_to_unicode_table() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

/// Character classes of the GPT-2 pattern: \p{L}, \p{N}, \s, and everything else.
enum class Gpt2Class : std::uint8_t { letter, number, space, other };

inline Gpt2Class gpt2_class(char32_t cp) noexcept {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return Gpt2Class::letter;
    if (cp >= '0' && cp <= '9') return Gpt2Class::number;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return Gpt2Class::space;
    return Gpt2Class::other;
  }
  if (is_letter(cp)) return Gpt2Class::letter;
  if (is_number(cp)) return Gpt2Class::number;
  if (is_white_space(cp)) return Gpt2Class::space;
  return Gpt2Class::other;
}

/// Decodes the code point at pos of valid UTF-8 (the caller has validated the text).
inline DecodedCodePoint next_code_point(std::string_view s, std::size_t pos) noexcept {
  const auto b = static_cast<unsigned char>(s[pos]);
  if (b < 0x80) return {b, 1};
  return decode_code_point(s, pos);
}

}  // namespace detail

/// Splits valid UTF-8 text into GPT-2's pre-tokens and calls f(begin, end) with each byte range, in order. The
/// pattern is 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (OpenAI's encoder.py,
/// Hugging Face's ByteLevel pre-tokenizer), matched by hand: alternatives are tried in that order at each
/// position; \s+(?!\S) gives back the last white-space character of a run followed by a non-space, so that
/// character can start the next word. The ranges cover the text exactly. Complexity O(n).
template <typename F>
void gpt2_pre_tokenize(std::string_view text, F&& f) {
  using detail::Gpt2Class;
  const std::size_t n = text.size();
  std::size_t i = 0;
  // Length and class of the code point at p (p < n).
  const auto at = [&](std::size_t p) {
    const DecodedCodePoint d = detail::next_code_point(text, p);
    return std::pair<std::size_t, Gpt2Class>(d.length, detail::gpt2_class(d.code_point));
  };
  const auto run_end = [&](std::size_t p, Gpt2Class cls) {
    while (p < n) {
      const auto [len, c] = at(p);
      if (c != cls) break;
      p += len;
    }
    return p;
  };
  while (i < n) {
    const char c0 = text[i];
    // 1) contractions, case-sensitive as in GPT-2
    if (c0 == '\'' && i + 1 < n) {
      const char c1 = text[i + 1];
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        f(i, i + 2);
        i += 2;
        continue;
      }
      if (i + 2 < n && ((c1 == 'r' && text[i + 2] == 'e') || (c1 == 'v' && text[i + 2] == 'e') ||
                        (c1 == 'l' && text[i + 2] == 'l'))) {
        f(i, i + 3);
        i += 3;
        continue;
      }
    }
    // 2) an optional space, then a run of letters, of numbers, or of other symbols
    std::size_t start = i;
    if (c0 == ' ' && i + 1 < n) start = i + 1;
    const auto [len0, cls0] = at(start);
    if (cls0 != Gpt2Class::space) {
      const std::size_t end = run_end(start + len0, cls0);
      f(i, end);
      i = end;
      continue;
    }
    // 3) white space: the whole run at the end of the text, else the run less its last character (a run of one
    //    character followed by a non-space falls through to the plain \s+ alternative and is taken whole)
    std::size_t end = i;
    std::size_t last = i;
    while (end < n) {
      const auto [len, c] = at(end);
      if (c != Gpt2Class::space) break;
      last = end;
      end += len;
    }
    if (end < n && last > i) end = last;
    f(i, end);
    i = end;
  }
}

/// GPT-2's byte-level BPE tokenizer, equal to Hugging Face's GPT2TokenizerFast (ByteLevel pre-tokenizer without
/// prefix space, BPE model, `<|endoftext|>` as a special token): same ids for every valid UTF-8 text.
///
/// encode: text -> ids, with (1) special tokens split out, (2) GPT-2 pre-tokenization, (3) bytes of each
/// pre-token merged by rank. decode: ids -> the exact original bytes. Offsets are byte ranges of the input.
/// Encoding and decoding are const and may run from several threads at once (the word cache has a lock).
/// Reference: Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", section 2.2.
class BpeTokenizer {
 public:
  /// Number of distinct pre-tokens the cache keeps (further words are encoded without caching).
  static constexpr std::size_t default_cache_capacity = 65536;

  /// Loads vocab.json and merges.txt. Throws IoError if a file cannot be read, FormatError if one is malformed
  /// (bad JSON, duplicate token or id, ids not 0..V-1, a byte symbol missing, a merge naming tokens not in the
  /// vocabulary, or a merge whose result is not in it).
  static BpeTokenizer from_files(const std::string& vocab_json_path, const std::string& merges_txt_path) {
    const io::MappedFile vocab(vocab_json_path, "elm::text::BpeTokenizer::from_files");
    const io::MappedFile merges(merges_txt_path, "elm::text::BpeTokenizer::from_files");
    return from_strings(vocab.text(), merges.text(), vocab_json_path, merges_txt_path);
  }

  /// Same as from_files, from the files' contents; the names are used in error messages.
  static BpeTokenizer from_strings(std::string_view vocab_json, std::string_view merges_txt,
                                   std::string_view vocab_name = "vocab.json",
                                   std::string_view merges_name = "merges.txt") {
    BpeTokenizer t;
    t.load_vocab(vocab_json, vocab_name);
    t.load_merges(merges_txt, merges_name);
    if (const Index eot = t.token_to_id("<|endoftext|>"); eot >= 0) t.specials_.emplace_back("<|endoftext|>", eot);
    return t;
  }

  BpeTokenizer(BpeTokenizer&&) noexcept = default;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept = default;
  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;
  ~BpeTokenizer() = default;

  /// Vocabulary size V.
  Index vocab_size() const noexcept { return static_cast<Index>(id_to_token_.size()); }

  /// Id of a token in the vocabulary's spelling ("Ġworld"), or -1 if absent.
  Index token_to_id(std::string_view token) const {
    const auto it = token_to_id_.find(std::string(token));
    return it == token_to_id_.end() ? -1 : it->second;
  }

  /// The vocabulary's spelling of id. Throws RangeError unless 0 <= id < V.
  const std::string& id_to_token(Index id) const {
    check_id(id, vocab_size(), "elm::text::BpeTokenizer::id_to_token", "id");
    return id_to_token_[static_cast<std::size_t>(id)];
  }

  /// The special tokens split out before pre-tokenization, with their ids (by default `<|endoftext|>`).
  const std::vector<std::pair<std::string, Index>>& special_tokens() const noexcept { return specials_; }

  /// Makes token (which must be in the vocabulary) a special token: matched verbatim in the text, never merged.
  void add_special_token(const std::string& token) {
    const Index id = token_to_id(token);
    ELM_EXPECT(id >= 0, InvalidArgument, "elm::text::BpeTokenizer::add_special_token: '", token,
               "' is not in the vocabulary, expected a token of vocab.json");
    ELM_EXPECT(!token.empty(), InvalidArgument, "elm::text::BpeTokenizer::add_special_token: empty token");
    for (const auto& s : specials_)
      if (s.first == token) return;
    specials_.emplace_back(token, id);
  }

  /// Token ids of text. Throws FormatError (with the byte offset) if text is not valid UTF-8. O(n) plus merges.
  std::vector<Index> encode(std::string_view text) const {
    std::vector<Index> ids;
    ids.reserve(text.size() / 3 + 1);
    encode_impl(text, ids, nullptr);
    return ids;
  }

  /// Ids, vocabulary spellings and byte offsets of text (type ids 0, attention mask 1).
  Encoding encode_full(std::string_view text) const {
    Encoding e;
    encode_impl(text, e.ids, &e.offsets);
    e.tokens.reserve(e.ids.size());
    for (Index id : e.ids) e.tokens.push_back(id_to_token_[static_cast<std::size_t>(id)]);
    e.type_ids.assign(e.ids.size(), 0);
    e.attention_mask.assign(e.ids.size(), 1);
    e.special_tokens_mask.assign(e.ids.size(), 0);
    for (std::size_t k = 0; k < e.ids.size(); ++k)
      for (const auto& s : specials_)
        if (e.ids[k] == s.second && e.offsets[k].end - e.offsets[k].begin == s.first.size())
          e.special_tokens_mask[k] = 1;
    return e;
  }

  /// Ids of each text; runs through elm::detail::parallel_for (several threads when built with OpenMP).
  std::vector<std::vector<Index>> encode_batch(const std::vector<std::string>& texts) const {
    std::vector<std::vector<Index>> out(texts.size());
    elm::detail::parallel_for(0, static_cast<Index>(texts.size()), [&](Index i) {
      out[static_cast<std::size_t>(i)] = encode(texts[static_cast<std::size_t>(i)]);
    });
    return out;
  }

  /// Full encodings (ids, spellings, byte offsets) of each text, through elm::detail::parallel_for.
  std::vector<Encoding> encode_full_batch(const std::vector<std::string>& texts) const {
    std::vector<Encoding> out(texts.size());
    elm::detail::parallel_for(0, static_cast<Index>(texts.size()), [&](Index i) {
      out[static_cast<std::size_t>(i)] = encode_full(texts[static_cast<std::size_t>(i)]);
    });
    return out;
  }

  /// The exact bytes the ids stand for (possibly not valid UTF-8 if the ids split a character).
  /// Throws RangeError for an id outside [0, V).
  std::string decode(const std::vector<Index>& ids) const {
    std::string out;
    out.reserve(ids.size() * 4);
    for (Index id : ids) {
      check_id(id, vocab_size(), "elm::text::BpeTokenizer::decode", "id");
      out += id_to_bytes_[static_cast<std::size_t>(id)];
    }
    return out;
  }

  /// Byte-level BPE of one pre-token's bytes (no pre-tokenization, no cache): appends ids and byte lengths.
  void bpe_word(std::string_view word, std::vector<Index>& ids, std::vector<std::uint32_t>* lengths) const {
    merge_word(word, ids, lengths);
  }

 private:
  struct MergeRule {
    std::int32_t rank;
    std::int32_t id;
  };
  struct Cache {
    mutable std::shared_mutex mutex;
    std::unordered_map<std::string, std::vector<std::int32_t>> words;  // ids then byte lengths, interleaved
    std::size_t capacity = default_cache_capacity;
  };

  BpeTokenizer() : cache_(std::make_unique<Cache>()) {}

  static std::uint64_t pair_key(Index a, Index b) noexcept {
    return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint64_t>(b);
  }

  void load_vocab(std::string_view json, std::string_view name) {
    const std::string where = elm::detail::concat("elm::text::BpeTokenizer: ", name);
    auto entries = text::detail::read_vocab_json(json, where);
    const auto V = static_cast<std::int64_t>(entries.size());
    ELM_EXPECT(V > 0, FormatError, where, ": empty vocabulary, expected a JSON object of token -> id");
    id_to_token_.assign(entries.size(), std::string());
    token_to_id_.reserve(entries.size());
    std::vector<bool> seen(entries.size(), false);
    for (auto& [token, id] : entries) {
      ELM_EXPECT(id >= 0 && id < V, FormatError, where, ": token '", token, "' has id ", id,
                 ", expected ids 0..", V - 1, " (one per entry)");
      ELM_EXPECT(!seen[static_cast<std::size_t>(id)], FormatError, where, ": duplicate id ", id, " (tokens '",
                 id_to_token_[static_cast<std::size_t>(id)], "' and '", token, "'), expected each id once");
      seen[static_cast<std::size_t>(id)] = true;
      const bool inserted = token_to_id_.emplace(token, id).second;
      ELM_EXPECT(inserted, FormatError, where, ": duplicate token '", token, "', expected each token once");
      id_to_token_[static_cast<std::size_t>(id)] = std::move(token);
    }
    // Byte strings of the tokens: each character of a token stands for one byte (GPT-2's byte-to-unicode map).
    // The byte alphabet is U+0021..U+0143: an array indexed by code point inverts it.
    const auto table = detail::byte_to_unicode_table();
    std::array<int, 0x144> unicode_to_byte{};
    unicode_to_byte.fill(-1);
    for (int b = 0; b < 256; ++b) unicode_to_byte[table[static_cast<std::size_t>(b)]] = b;
    id_to_bytes_.resize(id_to_token_.size());
    bytes_to_id_.reserve(id_to_token_.size());
    for (std::size_t id = 0; id < id_to_token_.size(); ++id) {
      const std::string& token = id_to_token_[id];
      std::string bytes;
      bool byte_level = true;
      for (std::size_t pos = 0; pos < token.size();) {
        const DecodedCodePoint d = decode_code_point(token, pos);
        if (d.length == 0) detail::throw_invalid_utf8(token, pos, where);
        pos += d.length;
        if (d.code_point >= unicode_to_byte.size() || unicode_to_byte[d.code_point] < 0) {
          byte_level = false;
          break;
        }
        bytes.push_back(static_cast<char>(unicode_to_byte[d.code_point]));
      }
      // A token outside the byte alphabet can only be an added token: it decodes to its own spelling.
      id_to_bytes_[id] = byte_level ? bytes : token;
      if (byte_level) bytes_to_id_.emplace(std::move(bytes), static_cast<Index>(id));
    }
    for (int b = 0; b < 256; ++b) {
      const auto it = bytes_to_id_.find(std::string(1, static_cast<char>(b)));
      ELM_EXPECT(it != bytes_to_id_.end(), FormatError, where, ": no token for byte ", b,
                 ", expected all 256 byte-level symbols in the vocabulary");
      byte_id_[static_cast<std::size_t>(b)] = it->second;
    }
  }

  void load_merges(std::string_view text, std::string_view name) {
    const std::string where = elm::detail::concat("elm::text::BpeTokenizer: ", name);
    std::size_t pos = 0;
    std::size_t line_no = 0;
    std::int32_t rank = 0;
    while (pos < text.size()) {
      std::size_t eol = text.find('\n', pos);
      if (eol == std::string_view::npos) eol = text.size();
      std::string_view line = text.substr(pos, eol - pos);
      pos = eol + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || (line_no == 1 && line.substr(0, 8) == "#version")) continue;
      const std::size_t space = line.find(' ');
      ELM_EXPECT(space != std::string_view::npos && space > 0 && space + 1 < line.size() &&
                     line.find(' ', space + 1) == std::string_view::npos,
                 FormatError, where, ": line ", line_no, " is '", line, "', expected two tokens separated by one space");
      const std::string left(line.substr(0, space));
      const std::string right(line.substr(space + 1));
      const Index a = token_to_id(left);
      const Index b = token_to_id(right);
      ELM_EXPECT(a >= 0, FormatError, where, ": line ", line_no, ": token '", left,
                 "' is not in the vocabulary, expected both sides of a merge in vocab.json");
      ELM_EXPECT(b >= 0, FormatError, where, ": line ", line_no, ": token '", right,
                 "' is not in the vocabulary, expected both sides of a merge in vocab.json");
      const Index merged = token_to_id(left + right);
      ELM_EXPECT(merged >= 0, FormatError, where, ": line ", line_no, ": merged token '", left + right,
                 "' is not in the vocabulary, expected the result of every merge in vocab.json");
      // A repeated rule takes the later rank, as Hugging Face's loader does.
      merges_[pair_key(a, b)] = MergeRule{rank, static_cast<std::int32_t>(merged)};
      ++rank;
    }
  }

  // Merges the bytes of one pre-token: repeatedly the adjacent pair of lowest rank, leftmost first (the order of
  // Hugging Face's priority queue; the same result as encoder.py merging all copies of the best pair at once).
  void merge_word(std::string_view word, std::vector<Index>& ids, std::vector<std::uint32_t>* lengths) const {
    struct Symbol {
      std::int32_t id;
      std::int32_t prev;
      std::int32_t next;
      std::uint32_t length;
    };
    struct Candidate {
      std::int32_t rank;
      std::int32_t pos;
      std::int32_t id;
      bool operator>(const Candidate& o) const noexcept { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    const auto n = static_cast<std::int32_t>(word.size());
    std::vector<Symbol> symbols(word.size());
    for (std::int32_t i = 0; i < n; ++i)
      symbols[static_cast<std::size_t>(i)] = {
          static_cast<std::int32_t>(byte_id_[static_cast<unsigned char>(word[static_cast<std::size_t>(i)])]), i - 1,
          i + 1 < n ? i + 1 : -1, 1};
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    const auto push_pair = [&](std::int32_t left) {
      const Symbol& s = symbols[static_cast<std::size_t>(left)];
      if (s.next < 0) return;
      const auto it = merges_.find(pair_key(s.id, symbols[static_cast<std::size_t>(s.next)].id));
      if (it != merges_.end()) queue.push({it->second.rank, left, it->second.id});
    };
    for (std::int32_t i = 0; i + 1 < n; ++i) push_pair(i);
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
      if (left.length == 0 || left.next < 0) continue;
      Symbol& right = symbols[static_cast<std::size_t>(left.next)];
      const auto it = merges_.find(pair_key(left.id, right.id));
      if (it == merges_.end() || it->second.rank != top.rank || it->second.id != top.id) continue;  // stale
      left.id = top.id;
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (left.next >= 0) symbols[static_cast<std::size_t>(left.next)].prev = top.pos;
      if (left.prev >= 0) push_pair(left.prev);
      push_pair(top.pos);
    }
    for (std::int32_t i = 0; i >= 0 && i < n; i = symbols[static_cast<std::size_t>(i)].next) {
      ids.push_back(symbols[static_cast<std::size_t>(i)].id);
      if (lengths != nullptr) lengths->push_back(symbols[static_cast<std::size_t>(i)].length);
    }
  }

  // Encodes one pre-token, through the cache.
  void encode_word(std::string_view word, std::size_t base, std::vector<Index>& ids,
                   std::vector<TokenOffset>* offsets) const {
    if (word.size() == 1) {  // a single byte is its own token: no merge, no cache
      ids.push_back(byte_id_[static_cast<unsigned char>(word[0])]);
      if (offsets != nullptr) offsets->push_back({base, base + 1});
      return;
    }
    constexpr std::size_t max_cached_length = 256;
    std::string key;
    if (word.size() <= max_cached_length) {
      key.assign(word.data(), word.size());
      std::shared_lock<std::shared_mutex> lock(cache_->mutex);
      const auto it = cache_->words.find(key);
      if (it != cache_->words.end()) {
        const std::vector<std::int32_t>& v = it->second;
        std::size_t at = base;
        for (std::size_t k = 0; k < v.size(); k += 2) {
          ids.push_back(v[k]);
          if (offsets != nullptr) {
            offsets->push_back({at, at + static_cast<std::size_t>(v[k + 1])});
            at += static_cast<std::size_t>(v[k + 1]);
          }
        }
        return;
      }
    }
    std::vector<Index> word_ids;
    std::vector<std::uint32_t> lengths;
    merge_word(word, word_ids, &lengths);
    std::size_t at = base;
    for (std::size_t k = 0; k < word_ids.size(); ++k) {
      ids.push_back(word_ids[k]);
      if (offsets != nullptr) offsets->push_back({at, at + lengths[k]});
      at += lengths[k];
    }
    if (!key.empty()) {
      std::vector<std::int32_t> packed;
      packed.reserve(word_ids.size() * 2);
      for (std::size_t k = 0; k < word_ids.size(); ++k) {
        packed.push_back(static_cast<std::int32_t>(word_ids[k]));
        packed.push_back(static_cast<std::int32_t>(lengths[k]));
      }
      std::unique_lock<std::shared_mutex> lock(cache_->mutex);
      if (cache_->words.size() < cache_->capacity) cache_->words.emplace(std::move(key), std::move(packed));
    }
  }

  void encode_plain(std::string_view text, std::size_t base, std::vector<Index>& ids,
                    std::vector<TokenOffset>* offsets) const {
    gpt2_pre_tokenize(text, [&](std::size_t b, std::size_t e) {
      encode_word(text.substr(b, e - b), base + b, ids, offsets);
    });
  }

  void encode_impl(std::string_view text, std::vector<Index>& ids, std::vector<TokenOffset>* offsets) const {
    check_utf8(text, "elm::text::BpeTokenizer::encode");
    std::size_t pos = 0;
    while (pos < text.size()) {
      // 1) the earliest special token (the longest one if several start there)
      const auto match = detail::find_special_token(text, pos, specials_);
      const std::size_t best = match.at;
      const std::pair<std::string, Index>* which = match.token;
      const std::size_t end = best == std::string_view::npos ? text.size() : best;
      // 2) pre-tokens of the plain text before it, each merged
      encode_plain(text.substr(pos, end - pos), pos, ids, offsets);
      if (which == nullptr) break;
      ids.push_back(which->second);
      if (offsets != nullptr) offsets->push_back({best, best + which->first.size()});
      pos = best + which->first.size();
    }
  }

  std::vector<std::string> id_to_token_;
  std::vector<std::string> id_to_bytes_;
  std::unordered_map<std::string, Index> token_to_id_;
  std::unordered_map<std::string, Index> bytes_to_id_;
  std::array<Index, 256> byte_id_{};
  std::unordered_map<std::uint64_t, MergeRule> merges_;
  std::vector<std::pair<std::string, Index>> specials_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace elm::text
