// SPDX-License-Identifier: MIT
// Encoding: the ids, tokens, offsets and masks a tokenizer returns for one text (or one pair of texts).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/types.hpp"
#include "elm/text/utf8.hpp"

namespace elm::text {

/// Half-open byte range [begin, end) of a token in the original text. Special and padding tokens get {0, 0}.
struct TokenOffset {
  std::size_t begin = 0;
  std::size_t end = 0;
  friend bool operator==(const TokenOffset& a, const TokenOffset& b) { return a.begin == b.begin && a.end == b.end; }
  friend bool operator!=(const TokenOffset& a, const TokenOffset& b) { return !(a == b); }
};

/// One encoded sequence. All vectors have the same length, one entry per token.
struct Encoding {
  std::vector<Index> ids;                  ///< token ids, 0 <= id < V
  std::vector<std::string> tokens;         ///< the vocabulary's spelling of each token
  std::vector<TokenOffset> offsets;        ///< byte offsets into the original text
  std::vector<Index> type_ids;             ///< segment of each token: 0 first text, 1 second (pairs)
  std::vector<Index> attention_mask;       ///< 1 for real tokens, 0 for padding
  std::vector<Index> special_tokens_mask;  ///< 1 for added special tokens ([CLS], [SEP], [PAD])

  std::size_t size() const noexcept { return ids.size(); }
};

/// Converts byte offsets into code-point offsets of the same text (the offsets Hugging Face's Python API reports).
/// Throws FormatError if text is not valid UTF-8.
inline std::vector<TokenOffset> to_code_point_offsets(std::string_view text, const std::vector<TokenOffset>& offsets) {
  check_utf8(text, "elm::text::to_code_point_offsets");
  // Code-point index of every byte position (continuation bytes map to their code point's successor).
  std::vector<std::size_t> index(text.size() + 1, 0);
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      index[i] = count;
      ++count;
    } else {
      index[i] = count;
    }
  }
  index[text.size()] = count;
  std::vector<TokenOffset> out;
  out.reserve(offsets.size());
  for (const TokenOffset& o : offsets) {
    ELM_EXPECT(o.begin <= o.end && o.end <= text.size(), RangeError, "elm::text::to_code_point_offsets: offset [",
               o.begin, ", ", o.end, ") is outside the text of ", text.size(), " bytes");
    out.push_back({index[o.begin], index[o.end]});
  }
  return out;
}

}  // namespace elm::text
