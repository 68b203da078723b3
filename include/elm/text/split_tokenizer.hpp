// SPDX-License-Identifier: MIT
// SplitTokenizer: text cut into words at white space or into characters, each unit looked up in a closed
// Vocabulary, unknown units mapped to <unk>; fitted from lines of text by frequency.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/text/utf8.hpp"
#include "elm/text/vocabulary.hpp"

namespace elm::text {

/// The unit SplitTokenizer cuts text into.
enum class SplitUnit {
  words,      ///< maximal runs of characters other than ASCII white space (Python's str.split())
  characters  ///< UTF-8 code points; ASCII white space is the unit "▁" (U+2581, SentencePiece's space)
};

/// The token that stands for white space in character mode, so that a vocab.txt (whose lines lose their
/// trailing white space) can hold it.
inline constexpr std::string_view split_space_token = "\xE2\x96\x81";

namespace detail {

inline bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace detail

/// The units of `line` as SplitTokenizer cuts it (see SplitUnit). Throws FormatError for invalid UTF-8 in
/// character mode (words are split at ASCII bytes, which never occur inside a multi-byte character).
inline std::vector<std::string_view> split_units(std::string_view line, SplitUnit unit) {
  std::vector<std::string_view> out;
  if (unit == SplitUnit::characters) {
    check_utf8(line, "elm::text::split_units");
    std::size_t i = 0;
    while (i < line.size()) {
      const std::size_t n = decode_code_point(line, i).length;
      out.push_back(detail::is_ascii_space(line[i]) ? split_space_token : line.substr(i, n));
      i += n;
    }
    return out;
  }
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && detail::is_ascii_space(line[i])) ++i;
    std::size_t j = i;
    while (j < line.size() && !detail::is_ascii_space(line[j])) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

/// Words or characters looked up in a closed vocabulary: a unit outside it becomes the unknown token. The
/// tokenizer of a word- or character-level language model (the LSTM LM's), the counterpart of the byte-level
/// BPE and WordPiece tokenizers for models whose vocabulary is every unit seen often enough in training.
/// encode/decode are const and thread-safe.
class SplitTokenizer {
 public:
  /// Over a given vocabulary (e.g. read back from the vocab.txt of a trained model). Throws InvalidArgument when
  /// `unk_token` is not in it.
  SplitTokenizer(Vocabulary vocabulary, SplitUnit unit, std::string_view unk_token = "<unk>")
      : vocabulary_(std::move(vocabulary)), unit_(unit) {
    unk_id_ = vocabulary_.find(unk_token);
    ELM_EXPECT(unk_id_ >= 0, InvalidArgument, "elm::text::SplitTokenizer: the unknown token '", unk_token,
               "' is not in the vocabulary of ", vocabulary_.size(), " tokens");
  }

  /// Fits a vocabulary to lines of text: `specials` first, in their order (the first is the unknown token),
  /// then every unit seen at least min_count times, most frequent first (ties in byte order). Units seen less
  /// often map to the unknown token; rare_types() counts them. Throws InvalidArgument for min_count < 1 or no
  /// specials, FormatError for invalid UTF-8.
  static SplitTokenizer fit(const std::vector<std::string>& lines, SplitUnit unit, Index min_count = 1,
                            std::vector<std::string> specials = {"<unk>"}) {
    constexpr const char* where = "elm::text::SplitTokenizer::fit";
    check_argument(min_count >= 1, where, "expected min_count >= 1, got ", min_count);
    check_argument(!specials.empty(), where, "expected at least the unknown token among the specials, got none");
    std::unordered_map<std::string_view, std::int64_t> counts;
    for (const auto& line : lines)
      for (std::string_view u : split_units(line, unit)) ++counts[u];
    std::vector<std::pair<std::string_view, std::int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    const std::string unk = specials.front();
    std::vector<std::string> tokens = std::move(specials);
    Index rare = 0;
    for (const auto& [u, count] : sorted) {
      if (std::find(tokens.begin(), tokens.end(), u) != tokens.end()) continue;  // a special seen in the text
      if (count >= min_count)
        tokens.emplace_back(u);
      else
        ++rare;
    }
    SplitTokenizer out(Vocabulary(std::move(tokens), "SplitTokenizer::fit"), unit, unk);
    out.rare_types_ = rare;
    return out;
  }

  const Vocabulary& vocabulary() const noexcept { return vocabulary_; }
  SplitUnit unit() const noexcept { return unit_; }
  /// Number of tokens V.
  Index size() const noexcept { return vocabulary_.size(); }
  Index unk_id() const noexcept { return unk_id_; }
  /// Distinct units of the fitted lines seen fewer than min_count times (0 for a tokenizer built from a vocabulary).
  Index rare_types() const noexcept { return rare_types_; }

  /// Ids of the units of `line`, unknown units as unk_id(). Throws FormatError for invalid UTF-8.
  std::vector<Index> encode(std::string_view line) const {
    std::vector<Index> out;
    for (std::string_view u : split_units(line, unit_)) {
      const Index id = vocabulary_.find(u);
      out.push_back(id >= 0 ? id : unk_id_);
    }
    return out;
  }

  /// Text of ids: words joined by single spaces, characters concatenated ("▁" as a space). Throws RangeError
  /// for an id outside [0, V).
  std::string decode(const std::vector<Index>& ids) const {
    std::string out;
    for (Index id : ids) {
      const std::string& token = vocabulary_.token(id);
      if (unit_ == SplitUnit::words) {
        if (!out.empty()) out += ' ';
        out += token;
      } else {
        out += token == split_space_token ? std::string_view(" ") : std::string_view(token);
      }
    }
    return out;
  }

 private:
  Vocabulary vocabulary_;
  SplitUnit unit_;
  Index unk_id_ = 0;
  Index rare_types_ = 0;
};

}  // namespace elm::text
