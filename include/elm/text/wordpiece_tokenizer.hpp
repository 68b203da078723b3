// SPDX-License-Identifier: MIT
// WordPieceTokenizer: BERT's normaliser, pre-tokenizer, WordPiece and [CLS]/[SEP] template, equal to Hugging Face's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/types.hpp"
#include "elm/text/detail/special_tokens.hpp"
#include "elm/text/encoding.hpp"
#include "elm/text/unicode.hpp"
#include "elm/text/utf8.hpp"
#include "elm/text/vocabulary.hpp"

namespace elm::text {

/// Options of BERT's text normaliser and WordPiece model (Hugging Face's BertNormalizer and WordPiece defaults).
struct WordPieceConfig {
  bool lowercase = true;                    ///< lower-case (an uncased model)
  std::optional<bool> strip_accents;        ///< NFD then drop nonspacing marks; unset: same as lowercase
  bool clean_text = true;                   ///< drop NUL, U+FFFD and control characters; white space to ' '
  bool handle_chinese_chars = true;         ///< put spaces around every CJK ideograph
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
  std::string continuing_prefix = "##";
  std::size_t max_input_chars_per_word = 100;  ///< longer words become [UNK]
  /// Classify punctuation, nonspacing marks and control characters by Unicode 8.0, as Hugging Face's BERT
  /// normaliser does (its category tables are that old); false: by the library's Unicode 15.0 tables.
  bool hf_unicode8_categories = true;
};

/// How to shape an encoding: special tokens, truncation and padding.
struct EncodeOptions {
  enum class Padding { none, to_max_length, to_longest };
  bool add_special_tokens = true;  ///< [CLS] a [SEP] or [CLS] a [SEP] b [SEP]
  std::size_t max_length = 0;      ///< truncate to this many tokens, specials included (0: no limit)
  Padding padding = Padding::none; ///< to_longest applies to batches
};

namespace detail {

/// BERT's CJK ranges as Hugging Face's BertNormalizer spells them (note 0x2B920, not 0x2B820, as its lower bound
/// of Extension E: U+2B820..U+2B91F are not padded with spaces there, so not here either).
inline bool is_bert_chinese_char(char32_t cp) noexcept {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/// BERT's punctuation: ASCII symbols (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~) and the Unicode categories P*.
inline bool is_bert_punctuation(char32_t cp) noexcept {
  if (cp < 0x80)
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return is_punctuation(cp);
}

/// BERT's class of a character: 0 plain, 1 punctuation, 2 control (dropped by clean text), 3 nonspacing mark.
enum class BertClass : std::uint8_t { plain, punctuation, control, mark };

inline BertClass bert_class(char32_t cp, bool hf_unicode8) noexcept {
  if (cp < 0x80) {
    if (cp < 0x20 || cp == 0x7F) return (cp == '\t' || cp == '\n' || cp == '\r') ? BertClass::plain : BertClass::control;
    return is_bert_punctuation(cp) ? BertClass::punctuation : BertClass::plain;
  }
  const GeneralCategory c = general_category(cp);
  if (c == GeneralCategory::Lo || c == GeneralCategory::Ll || c == GeneralCategory::Lu) return BertClass::plain;
  if (hf_unicode8) {
    const auto i = find_sorted(detail::unicode_hf_bert_cp, static_cast<std::uint32_t>(cp));
    if (i >= 0) {
      const auto k = detail::unicode_hf_bert_class[i];
      return k == 1 ? BertClass::punctuation : k == 2 ? BertClass::mark : BertClass::plain;
    }
  }
  if (c >= GeneralCategory::Pc && c <= GeneralCategory::Po) return BertClass::punctuation;
  if (c == GeneralCategory::Mn) return BertClass::mark;
  if (c >= GeneralCategory::Cc && c <= GeneralCategory::Co) return BertClass::control;
  return BertClass::plain;
}

/// Whether Hugging Face's normaliser decomposes cp (no for the one decomposable character newer than 8.0).
inline bool bert_decomposes(char32_t cp, bool hf_unicode8) noexcept {
  if (!hf_unicode8) return true;
  return find_sorted(detail::unicode_hf_bert_cp, static_cast<std::uint32_t>(cp)) < 0;
}

}  // namespace detail

/// BERT's WordPiece tokenizer, equal to Hugging Face's BertTokenizerFast / BertWordPieceTokenizer on the same
/// vocab.txt: same ids and the same offsets (as byte offsets here; code points in Hugging Face's Python API).
///
/// 1) the special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) written in the text are matched first;
/// 2) normalise (WordPieceConfig), remembering for each normalised character the original character it came from;
/// 3) split on white space (dropped) and punctuation (kept, one token each);
/// 4) WordPiece: longest vocabulary prefix first, then "##" continuations; a word with no split, or longer than
///    max_input_chars_per_word characters, becomes [UNK];
/// 5) truncation (longest first for pairs), [CLS]/[SEP] with token types, padding with attention masks.
/// All methods are const and may run from several threads at once. Reference: Devlin et al. 2019 (BERT),
/// section 3; Wu et al. 2016 (WordPiece), section 4.1.
class WordPieceTokenizer {
 public:
  /// Builds from a vocabulary. Throws FormatError if one of the special tokens of config is missing.
  explicit WordPieceTokenizer(Vocabulary vocab, WordPieceConfig config = {})
      : vocab_(std::move(vocab)), config_(std::move(config)) {
    const auto need = [&](const std::string& token, const char* what) {
      const Index id = vocab_.find(token);
      ELM_EXPECT(id >= 0, FormatError, "elm::text::WordPieceTokenizer: the vocabulary has no ", what, " token '",
                 token, "', expected it among its ", vocab_.size(), " tokens");
      return id;
    };
    unk_id_ = need(config_.unk_token, "unknown");
    cls_id_ = need(config_.cls_token, "classification");
    sep_id_ = need(config_.sep_token, "separator");
    pad_id_ = need(config_.pad_token, "padding");
    mask_id_ = vocab_.find(config_.mask_token);
    for (const auto& [token, id] : std::vector<std::pair<std::string, Index>>{
             {config_.pad_token, pad_id_}, {config_.unk_token, unk_id_}, {config_.cls_token, cls_id_},
             {config_.sep_token, sep_id_}, {config_.mask_token, mask_id_}})
      if (id >= 0 && !token.empty()) specials_.emplace_back(token, id);
    const std::string& prefix = config_.continuing_prefix;
    for (Index id = 0; id < vocab_.size(); ++id) {
      const std::string& t = vocab_.tokens()[static_cast<std::size_t>(id)];
      const bool continuation = !prefix.empty() && t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0;
      if (continuation) {
        std::string rest = t.substr(prefix.size());
        max_piece_bytes_ = std::max(max_piece_bytes_, rest.size());
        continuation_.emplace(std::move(rest), id);
      } else {
        max_piece_bytes_ = std::max(max_piece_bytes_, t.size());
        start_.emplace(t, id);
      }
    }
  }

  /// Loads vocab.txt. Throws IoError or FormatError (see Vocabulary::from_text and the constructor).
  static WordPieceTokenizer from_file(const std::string& vocab_txt_path, WordPieceConfig config = {}) {
    return WordPieceTokenizer(Vocabulary::from_file(vocab_txt_path), std::move(config));
  }

  const Vocabulary& vocabulary() const noexcept { return vocab_; }
  const WordPieceConfig& config() const noexcept { return config_; }
  Index vocab_size() const noexcept { return vocab_.size(); }
  Index unk_id() const noexcept { return unk_id_; }
  Index cls_id() const noexcept { return cls_id_; }
  Index sep_id() const noexcept { return sep_id_; }
  Index pad_id() const noexcept { return pad_id_; }
  /// The mask token's id ([MASK], BERT's masked-LM input), -1 when the vocabulary has none.
  Index mask_id() const noexcept { return mask_id_; }
  /// Whether id is one of the special tokens ([UNK], [CLS], [SEP], [PAD], [MASK]: transformers' all_special_ids).
  bool is_special_id(Index id) const noexcept { return is_special(id); }

  /// The normalised text (UTF-8) BERT's normaliser makes of text. Throws FormatError on invalid UTF-8.
  std::string normalize(std::string_view text) const {
    check_utf8(text, "elm::text::WordPieceTokenizer::normalize");
    Normalized n;
    normalize_into(text, 0, n);
    return encode_utf8(n.cps);
  }

  /// Encodes one text. Throws FormatError on invalid UTF-8, InvalidArgument if max_length cannot hold the
  /// special tokens.
  Encoding encode(std::string_view text, const EncodeOptions& options = {}) const {
    Encoding a = encode_sequence(text, "elm::text::WordPieceTokenizer::encode");
    return post_process(std::move(a), nullptr, options);
  }

  /// Encodes a pair (a, b): [CLS] a [SEP] b [SEP], token types 0 then 1; offsets of b's tokens index into b.
  Encoding encode_pair(std::string_view a, std::string_view b, const EncodeOptions& options = {}) const {
    Encoding ea = encode_sequence(a, "elm::text::WordPieceTokenizer::encode_pair");
    Encoding eb = encode_sequence(b, "elm::text::WordPieceTokenizer::encode_pair");
    return post_process(std::move(ea), &eb, options);
  }

  /// Encodes each text (through elm::detail::parallel_for); Padding::to_longest pads all to the longest.
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, const EncodeOptions& options = {}) const {
    std::vector<Encoding> out(texts.size());
    EncodeOptions each = options;
    if (options.padding == EncodeOptions::Padding::to_longest) each.padding = EncodeOptions::Padding::none;
    elm::detail::parallel_for(0, static_cast<Index>(texts.size()), [&](Index i) {
      out[static_cast<std::size_t>(i)] = encode(texts[static_cast<std::size_t>(i)], each);
    });
    if (options.padding == EncodeOptions::Padding::to_longest) {
      std::size_t longest = 0;
      for (const Encoding& e : out) longest = std::max(longest, e.size());
      for (Encoding& e : out) pad(e, longest);
    }
    return out;
  }

  /// Token ids only (no special tokens, no truncation): the fast path.
  std::vector<Index> encode_ids(std::string_view text) const {
    return encode_sequence(text, "elm::text::WordPieceTokenizer::encode_ids").ids;
  }

  /// Text of ids: tokens joined by spaces, "##" continuations glued to the previous token; special tokens are
  /// left out when skip_special. Throws RangeError for an id outside [0, V).
  std::string decode(const std::vector<Index>& ids, bool skip_special = true) const {
    std::string out;
    const std::string& prefix = config_.continuing_prefix;
    for (Index id : ids) {
      check_id(id, vocab_size(), "elm::text::WordPieceTokenizer::decode", "id");
      if (skip_special && is_special(id)) continue;
      const std::string& t = vocab_.tokens()[static_cast<std::size_t>(id)];
      if (!prefix.empty() && t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0) {
        out += t.substr(prefix.size());
      } else {
        if (!out.empty()) out.push_back(' ');
        out += t;
      }
    }
    return out;
  }

 private:
  // Normalised code points, each with the byte range of the original character it came from.
  struct Normalized {
    std::u32string cps;
    std::vector<TokenOffset> origin;
  };

  bool is_special(Index id) const noexcept {
    for (const auto& s : specials_)
      if (s.second == id) return true;
    return false;
  }

  // 2) clean text, pad CJK ideographs, strip accents (NFD, drop Mn), lower-case: the order of BertNormalizer.
  void normalize_into(std::string_view text, std::size_t base, Normalized& n) const {
    const bool strip = config_.strip_accents.value_or(config_.lowercase);
    const bool hf = config_.hf_unicode8_categories;
    std::size_t pos = 0;
    std::u32string scratch;
    bool any_combining = false;
    while (pos < text.size()) {
      const DecodedCodePoint d = decode_code_point(text, pos);
      const TokenOffset at{base + pos, base + pos + d.length};
      pos += d.length;
      char32_t cp = d.code_point;
      if (config_.clean_text) {
        if (cp == 0 || cp == 0xFFFD || detail::bert_class(cp, hf) == detail::BertClass::control) continue;
        if (cp == '\t' || cp == '\n' || cp == '\r' || is_white_space(cp)) cp = ' ';
      }
      // Spaces go around an ideograph before decomposition, so a compatibility ideograph (U+F900..U+FAFF) is
      // padded and then decomposed to its unified form, as in Hugging Face's order of steps.
      const bool chinese = config_.handle_chinese_chars && detail::is_bert_chinese_char(cp);
      if (chinese) {
        n.cps.push_back(' ');
        n.origin.push_back(at);
      }
      if (strip && cp >= 0x80 && detail::bert_decomposes(cp, hf)) {
        scratch.clear();
        append_canonical_decomposition(cp, scratch);
        for (char32_t c : scratch) {
          any_combining = any_combining || canonical_combining_class(c) != 0;
          n.cps.push_back(c);
          n.origin.push_back(at);
        }
      } else {
        n.cps.push_back(cp);
        n.origin.push_back(at);
      }
      if (chinese) {
        n.cps.push_back(' ');
        n.origin.push_back(at);
      }
    }
    if (strip) {
      if (any_combining) canonical_order(n.cps, n.origin);
      std::size_t w = 0;
      for (std::size_t r = 0; r < n.cps.size(); ++r) {
        if (n.cps[r] >= 0x80 && detail::bert_class(n.cps[r], hf) == detail::BertClass::mark) continue;
        n.cps[w] = n.cps[r];
        n.origin[w] = n.origin[r];
        ++w;
      }
      n.cps.resize(w);
      n.origin.resize(w);
    }
    if (config_.lowercase) {
      bool simple = true;
      for (char32_t& c : n.cps) {
        if (c < 0x80) {
          if (c >= 'A' && c <= 'Z') c += 32;
        } else if (c == 0x130) {
          simple = false;
        } else {
          scratch.clear();
          append_lowercase(c, scratch);
          c = scratch[0];
        }
      }
      if (!simple) {  // U+0130 lower-cases to two code points
        Normalized m;
        for (std::size_t i = 0; i < n.cps.size(); ++i) {
          scratch.clear();
          append_lowercase(n.cps[i], scratch);
          for (char32_t c : scratch) {
            m.cps.push_back(c);
            m.origin.push_back(n.origin[i]);
          }
        }
        n = std::move(m);
      }
    }
  }

  // 4) WordPiece of the normalised characters [begin, end) of one word.
  void word_piece(const Normalized& n, std::size_t begin, std::size_t end, Encoding& e) const {
    const auto span = [&](std::size_t b, std::size_t en) {
      return TokenOffset{n.origin[b].begin, n.origin[en - 1].end};
    };
    if (end - begin > config_.max_input_chars_per_word) {
      e.ids.push_back(unk_id_);
      e.offsets.push_back(span(begin, end));
      return;
    }
    std::string word;
    std::vector<std::size_t> char_start;  // byte start of each character, plus the end
    for (std::size_t i = begin; i < end; ++i) {
      char_start.push_back(word.size());
      append_utf8(n.cps[i], word);
    }
    char_start.push_back(word.size());
    const std::size_t count = end - begin;
    const std::size_t first = e.ids.size();
    std::string key;
    std::size_t s = 0;
    while (s < count) {
      Index found = -1;
      std::size_t stop = count;
      // No vocabulary entry is longer than max_piece_bytes_, so longer candidates are skipped.
      while (stop > s && char_start[stop] - char_start[s] > max_piece_bytes_) --stop;
      const auto& table = s == 0 ? start_ : continuation_;
      for (; stop > s; --stop) {
        key.assign(word, char_start[s], char_start[stop] - char_start[s]);
        const auto it = table.find(key);
        if (it != table.end()) {
          found = it->second;
          break;
        }
      }
      if (found < 0) {
        e.ids.resize(first);
        e.offsets.resize(first);
        e.ids.push_back(unk_id_);
        e.offsets.push_back(span(begin, end));
        return;
      }
      e.ids.push_back(found);
      e.offsets.push_back(span(begin + s, begin + stop));
      s = stop;
    }
  }

  // 2)-4) on one special-token-free segment starting at byte base of the original text.
  void encode_segment(std::string_view segment, std::size_t base, Encoding& e) const {
    Normalized n;
    normalize_into(segment, base, n);
    std::size_t word_begin = 0;
    const auto flush = [&](std::size_t i) {
      if (i > word_begin) word_piece(n, word_begin, i, e);
    };
    for (std::size_t i = 0; i < n.cps.size(); ++i) {
      const char32_t c = n.cps[i];
      if (c == ' ' || is_white_space(c)) {
        flush(i);
        word_begin = i + 1;
      } else if (detail::bert_class(c, config_.hf_unicode8_categories) == detail::BertClass::punctuation) {
        flush(i);
        word_piece(n, i, i + 1, e);
        word_begin = i + 1;
      }
    }
    flush(n.cps.size());
  }

  Encoding encode_sequence(std::string_view text, const char* where) const {
    check_utf8(text, where);
    Encoding e;
    // 1) special tokens written in the text (leftmost, then longest)
    std::size_t pos = 0;
    while (pos < text.size()) {
      const auto match = detail::find_special_token(text, pos, specials_);
      const std::size_t best = match.at;
      const std::pair<std::string, Index>* which = match.token;
      const std::size_t end = best == std::string_view::npos ? text.size() : best;
      encode_segment(text.substr(pos, end - pos), pos, e);
      if (which == nullptr) break;
      e.ids.push_back(which->second);
      e.offsets.push_back({best, best + which->first.size()});
      pos = best + which->first.size();
    }
    // Special tokens written in the text count as text in the mask, as in Hugging Face.
    e.special_tokens_mask.assign(e.ids.size(), 0);
    return e;
  }

  static void truncate(Encoding& e, std::size_t n) {
    if (e.ids.size() <= n) return;
    e.ids.resize(n);
    e.offsets.resize(n);
    e.special_tokens_mask.resize(n);
  }

  void pad(Encoding& e, std::size_t length) const {
    while (e.ids.size() < length) {
      e.ids.push_back(pad_id_);
      e.tokens.push_back(config_.pad_token);
      e.offsets.push_back({0, 0});
      e.type_ids.push_back(0);
      e.attention_mask.push_back(0);
      e.special_tokens_mask.push_back(1);
    }
  }

  // 5) truncation, template, padding (Hugging Face's TruncationStrategy::LongestFirst, BertProcessing).
  Encoding post_process(Encoding a, Encoding* b, const EncodeOptions& options) const {
    const std::size_t added = options.add_special_tokens ? (b != nullptr ? 3 : 2) : 0;
    if (options.max_length > 0) {
      ELM_EXPECT(options.max_length >= added, InvalidArgument, "elm::text::WordPieceTokenizer::encode: max_length = ",
                 options.max_length, " cannot hold the ", added, " special tokens, expected max_length >= ", added);
      const std::size_t budget = options.max_length - added;
      if (b == nullptr) {
        truncate(a, budget);
      } else if (a.size() + b->size() > budget) {
        std::size_t n1 = a.size();
        std::size_t n2 = b->size();
        const bool swap = n1 > n2;
        if (swap) std::swap(n1, n2);
        n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
        if (n1 + n2 > budget) {
          n1 = budget / 2;
          n2 = n1 + budget % 2;
        }
        if (swap) std::swap(n1, n2);
        truncate(a, n1);
        truncate(*b, n2);
      }
    }
    Encoding out;
    const auto append = [&](const Encoding& part, Index type) {
      for (std::size_t k = 0; k < part.size(); ++k) {
        out.ids.push_back(part.ids[k]);
        out.offsets.push_back(part.offsets[k]);
        out.type_ids.push_back(type);
        out.special_tokens_mask.push_back(part.special_tokens_mask[k]);
      }
    };
    const auto special = [&](Index id, Index type) {
      out.ids.push_back(id);
      out.offsets.push_back({0, 0});
      out.type_ids.push_back(type);
      out.special_tokens_mask.push_back(1);
    };
    if (options.add_special_tokens) special(cls_id_, 0);
    append(a, 0);
    if (options.add_special_tokens) special(sep_id_, 0);
    if (b != nullptr) {
      append(*b, 1);
      if (options.add_special_tokens) special(sep_id_, 1);
    }
    out.attention_mask.assign(out.ids.size(), 1);
    out.tokens.reserve(out.ids.size());
    for (Index id : out.ids) out.tokens.push_back(vocab_.tokens()[static_cast<std::size_t>(id)]);
    if (options.padding == EncodeOptions::Padding::to_max_length && options.max_length > 0) pad(out, options.max_length);
    return out;
  }

  Vocabulary vocab_;
  WordPieceConfig config_;
  Index unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, mask_id_ = -1;
  std::vector<std::pair<std::string, Index>> specials_;
  std::unordered_map<std::string, Index> start_;
  std::unordered_map<std::string, Index> continuation_;
  std::size_t max_piece_bytes_ = 0;
};

}  // namespace elm::text
