// SPDX-License-Identifier: MIT
// Text placed inside the SVG pictures the example programs draw (elm-attention's heat maps, elm-seq2seq's
// alignments): the characters XML reserves, escaped.
#pragma once

#include <string>

namespace elm::examples {

/// `text` with &, <, > and " written as XML entities, safe inside an SVG element or attribute.
inline std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace elm::examples
