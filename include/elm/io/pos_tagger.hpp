// SPDX-License-Identifier: MIT
// The part-of-speech tagger's file format: its counts and options as text, saved and loaded.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/classic/pos_tagger.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/atomic_file.hpp"

namespace elm::io {

namespace detail {

/// The tagger format's view of classic::PosTagger's counts, which it writes and from which it rebuilds a tagger.
struct PosTaggerAccess {
  static void save(const classic::PosTagger& tagger, std::ostream& out) {
    out << "elm-pos-tagger 1\n";
    out << "order " << tagger.options_.order << "\n";
    const bool add_k = tagger.options_.smoothing == classic::TransitionSmoothing::add_k;
    out << "smoothing " << (add_k ? "add_k" : "interpolation") << "\n";
    std::ostringstream k;
    k.precision(17);
    k << tagger.options_.transition_k;
    out << "transition_k " << k.str() << "\n";
    out << "max_suffix " << tagger.options_.max_suffix << "\n";
    out << "rare_threshold " << tagger.options_.rare_threshold << "\n";
    out << "max_unknown_tags " << tagger.options_.max_unknown_tags << "\n";
    auto plain = [](const std::string& x) {
      const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
      return !x.empty() && std::none_of(x.begin(), x.end(), space);
    };
    out << "tags " << tagger.tags_.size() << "\n";
    for (const auto& t : tagger.tags_) {
      ELM_EXPECT(plain(t), InvalidArgument, "elm::io::save_pos_tagger: tag \"", t,
                 "\" is empty or contains whitespace");
      out << t << "\n";
    }
    std::vector<const std::string*> words;
    words.reserve(tagger.lexicon_.size());
    for (const auto& entry : tagger.lexicon_) words.push_back(&entry.first);
    std::sort(words.begin(), words.end(), [](const std::string* x, const std::string* y) { return *x < *y; });
    out << "words " << words.size() << "\n";
    for (const std::string* w : words) {
      ELM_EXPECT(plain(*w), InvalidArgument, "elm::io::save_pos_tagger: word \"", *w,
                 "\" is empty or contains whitespace");
      const auto& row = tagger.lexicon_.at(*w);
      out << *w << " " << row.size();
      for (const auto& [t, c] : row) out << " " << t << " " << c;
      out << "\n";
    }
    std::vector<std::pair<std::int64_t, std::int64_t>> trigrams(tagger.trigram_counts_.begin(),
                                                                tagger.trigram_counts_.end());
    std::sort(trigrams.begin(), trigrams.end());
    out << "trigrams " << trigrams.size() << "\n";
    const Index s = tagger.n_tags() + 2;
    for (const auto& [key_value, c] : trigrams)
      out << key_value / (s * s) << " " << (key_value / s) % s << " " << key_value % s << " " << c << "\n";
    out << "end\n";
  }

  static classic::PosTagger load(std::istream& in, std::string_view source) {
    classic::PosTagger out;
    std::size_t line_number = 0;
    std::string line;
    auto fail = [&](const std::string& what) {
      return FormatError(elm::detail::concat("elm::io::load_pos_tagger: ", source, " line ", line_number, ": ", what));
    };
    auto next = [&]() -> std::istringstream {
      if (!std::getline(in, line)) throw fail("unexpected end of file");
      ++line_number;
      return std::istringstream(line);
    };
    auto field = [&](const char* name) {
      auto s = next();
      std::string key;
      double value = 0;
      if (!(s >> key >> value) || key != name)
        throw fail(elm::detail::concat("expected \"", name, " <number>\", got \"", line, "\""));
      return value;
    };
    // An integer field: a whole number from 0 to `limit`, checked before the conversion (1e300 or nan would
    // not convert to an integer).
    auto whole = [&](const char* name, double limit) {
      const double value = field(name);
      if (!(value >= 0 && value <= limit && value == std::floor(value)))
        throw fail(elm::detail::concat("\"", name, "\" is ", value, ", expected a whole number from 0 to ", limit));
      return static_cast<Index>(value);
    };
    {
      auto s = next();
      std::string magic;
      int version = 0;
      if (!(s >> magic >> version) || magic != "elm-pos-tagger" || version != 1)
        throw fail(elm::detail::concat("expected the header \"elm-pos-tagger 1\", got \"", line, "\""));
    }
    out.options_.order = static_cast<int>(whole("order", 1000));
    {
      auto s = next();
      std::string key, value;
      if (!(s >> key >> value) || key != "smoothing" || (value != "add_k" && value != "interpolation"))
        throw fail(elm::detail::concat("expected \"smoothing interpolation|add_k\", got \"", line, "\""));
      out.options_.smoothing =
          value == "add_k" ? classic::TransitionSmoothing::add_k : classic::TransitionSmoothing::interpolation;
    }
    out.options_.transition_k = field("transition_k");
    out.options_.max_suffix = whole("max_suffix", 1 << 20);
    out.options_.rare_threshold = whole("rare_threshold", 1e15);
    out.options_.max_unknown_tags = whole("max_unknown_tags", 1e15);
    try {
      classic::PosTagger::check_options(out.options_, "elm::io::load_pos_tagger");
    } catch (const InvalidArgument& e) {
      throw fail(e.what());
    }
    const auto n_tags = whole("tags", 1 << 20);  // (t1 * s + t2) * s + t3, s = tags + 2, fits in 64 bits
    if (n_tags < 1) throw fail("expected at least one tag");
    for (Index t = 0; t < n_tags; ++t) {
      auto s = next();
      std::string tag;
      if (!(s >> tag) || out.add_tag(tag) != t)
        throw fail(elm::detail::concat("expected a new tag name, got \"", line, "\""));
    }
    const Index s_size = n_tags + 2;
    // Each count below 2^40: the sums of counts the tagger forms (a word's, a tag's, a repeated trigram's) stay
    // far from 64-bit overflow for any file of fewer than 2^23 lines.
    constexpr std::int64_t max_count = std::int64_t(1) << 40;
    const auto n_words = whole("words", 1e15);
    for (Index w = 0; w < n_words; ++w) {
      auto s = next();
      std::string word;
      Index count = 0;
      if (!(s >> word >> count) || count < 1)
        throw fail(elm::detail::concat("expected \"word n tag count ...\", got \"", line, "\""));
      auto& row = out.lexicon_[word];
      if (!row.empty()) throw fail(elm::detail::concat("word \"", word, "\" appears twice"));
      for (Index j = 0; j < count; ++j) {
        Index t = 0;
        std::int64_t c = 0;
        if (!(s >> t >> c) || t < 0 || t >= n_tags || c < 1 || c > max_count)
          throw fail(elm::detail::concat("bad tag count in \"", line, "\", expected tag ids below ", n_tags, " and 1 <= count <= 2^40"));
        row.emplace_back(t, c);
      }
    }
    const auto n_trigrams = whole("trigrams", 1e15);
    for (Index j = 0; j < n_trigrams; ++j) {
      auto s = next();
      Index t1 = 0, t2 = 0, t3 = 0;
      std::int64_t c = 0;
      if (!(s >> t1 >> t2 >> t3 >> c) || std::min({t1, t2, t3}) < 0 || std::max({t1, t2, t3}) >= s_size || c < 1 || c > max_count)
        throw fail(elm::detail::concat("expected \"t1 t2 t3 count\" with ids below ", s_size, " and 1 <= count <= 2^40", ", got \"", line, "\""));
      out.trigram_counts_[out.key(t1, t2, t3)] += c;
    }
    {
      auto s = next();
      std::string end;
      if (!(s >> end) || end != "end") throw fail(elm::detail::concat("expected \"end\", got \"", line, "\""));
    }
    out.build();
    return out;
  }
};

}  // namespace detail

/// Writes a tagger's counts and options as text: a header line "elm-pos-tagger 1", the options one per line, the
/// tags, each known word with its tag counts, the tag trigram counts, "end". Only counts are stored; loading
/// derives every probability again, so a loaded tagger tags exactly as the saved one. Throws InvalidArgument
/// when a tag or word is empty or contains whitespace (the format separates fields by spaces).
inline void save_pos_tagger(const classic::PosTagger& tagger, std::ostream& out) {
  detail::PosTaggerAccess::save(tagger, out);
}

/// Writes the tagger to `path` atomically (the file is either left as it was or replaced by the complete one).
inline void save_pos_tagger(const classic::PosTagger& tagger, const std::string& path) {
  std::ostringstream text;
  save_pos_tagger(tagger, text);
  write_text_atomically(path, text.str());
}

/// Reads what save_pos_tagger wrote. Throws FormatError naming `source` and the line on a bad header, a bad
/// number, an id out of range or a missing section.
inline classic::PosTagger load_pos_tagger(std::istream& in, std::string_view source = "<stream>") {
  return detail::PosTaggerAccess::load(in, source);
}

/// Reads the tagger saved at `path`; IoError when it cannot be opened.
inline classic::PosTagger load_pos_tagger(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ELM_EXPECT(in.good(), IoError, "elm::io::load_pos_tagger: cannot open ", path, " for reading");
  return load_pos_tagger(in, path);
}

}  // namespace elm::io
