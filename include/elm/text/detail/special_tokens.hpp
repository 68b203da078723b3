// SPDX-License-Identifier: MIT
// Finding special tokens written in a text (the leftmost, then the longest), shared by both tokenizers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/types.hpp"

namespace elm::text::detail {

/// Where the next special token starts at or after pos, and which one (nullptr when none is left).
struct SpecialTokenMatch {
  std::size_t at = std::string_view::npos;
  const std::pair<std::string, Index>* token = nullptr;
};

/// The leftmost special token at or after pos; of several starting there, the longest (as Hugging Face splits).
inline SpecialTokenMatch find_special_token(std::string_view text, std::size_t pos,
                                            const std::vector<std::pair<std::string, Index>>& specials) {
  SpecialTokenMatch match;
  for (const auto& s : specials) {
    const std::size_t at = text.find(s.first, pos);
    if (at == std::string_view::npos) continue;
    if (at < match.at || (at == match.at && s.first.size() > match.token->first.size())) {
      match.at = at;
      match.token = &s;
    }
  }
  return match;
}

}  // namespace elm::text::detail
