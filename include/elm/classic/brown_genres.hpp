// SPDX-License-Identifier: MIT
// A labelled text-classification task from the Brown corpus: passages of a few consecutive sentences, each
// labelled with its file's genre (cats.txt), detokenised from the tagged format, split by file as the tagger is.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/classic/pos_tagger.hpp"

namespace elm::classic {

/// The genre of each Brown file, from cats.txt: one "<file> <genre>" per non-blank line ("ca01 news"), in file
/// order. Throws FormatError naming `source` and the line for a line of another shape.
inline std::vector<std::pair<std::string, std::string>> parse_brown_categories(std::string_view text,
                                                                               std::string_view source = "cats.txt") {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0, line_number = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_number;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (line.empty()) continue;
    const std::size_t space = line.find(' ');
    ELM_EXPECT(space != std::string::npos && space > 0 && space + 1 < line.size() &&
                   line.find(' ', space + 1) == std::string::npos,
               FormatError, "elm::classic::parse_brown_categories: ", source, " line ", line_number, ": \"", line,
               "\", expected \"<file> <genre>\" such as \"ca01 news\"");
    out.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return out;
}

/// Brown's tokens as running text: words joined by spaces, except that closing punctuation (. , ; : ? ! ) ]
/// and the closing quote '') joins the word before it and opening brackets and the opening quote (`` ( [)
/// join the word after it; `` and '' become the double quote ". {"``", "No", "''", ",", "he", "said", "."} ->
/// "\"No\", he said."
inline std::string detokenize_brown(const std::vector<std::string>& words) {
  const auto closing = [](const std::string& w) {
    return w == "." || w == "," || w == ";" || w == ":" || w == "?" || w == "!" || w == ")" || w == "]" || w == "''";
  };
  const auto opening = [](const std::string& w) { return w == "``" || w == "(" || w == "["; };
  std::string out;
  bool glue_next = true;  // no space before the first word
  for (const std::string& w : words) {
    if (!glue_next && !closing(w)) out += ' ';
    out += (w == "``" || w == "''") ? std::string("\"") : w;
    glue_next = opening(w);
  }
  return out;
}

/// A passage of text and its class.
struct LabelledPassage {
  std::string text;                ///< detokenised (detokenize_brown)
  std::vector<std::string> words;  ///< the corpus's tokens, for a bag of words
  Index label = 0;                 ///< the genre's index in GenrePassages::genres
  std::string file;                ///< the Brown file it comes from ("ca01")
};

/// Brown's genre-classification task: the genres (the labels' names) and the passages of the training and
/// held-out files.
struct GenrePassages {
  std::vector<std::string> genres;  ///< in the order cats.txt first names them (news, editorial, reviews, ...)
  std::vector<LabelledPassage> train, held_out;
  Index train_files = 0, held_out_files = 0;
};

/// Options of brown_genre_passages.
struct GenrePassageOptions {
  Index sentences = 5;  ///< consecutive sentences per passage; a file's last sentences that do not fill one are left out
  Index max_passages_per_file = 0;  ///< > 0: at most this many, spread evenly over the file; 0: all
};

/// The genre task from Brown files (name and tagged text, in the NLTK layout parse_brown reads) and cats.txt's
/// text: each file cut into passages of options.sentences consecutive sentences, each labelled with the file's
/// genre; the files sorted by name, file i held out when brown_held_out(i) (ca10, ca20, ...: the POS tagger's
/// split, by file, so no passage's neighbours are in the other part). Throws FormatError for a file cats.txt
/// does not name (or a bad line in either), InvalidArgument for no files or options out of range.
inline GenrePassages brown_genre_passages(std::vector<std::pair<std::string, std::string>> files,
                                          std::string_view categories_text,
                                          const GenrePassageOptions& options = {}) {
  constexpr std::string_view where = "elm::classic::brown_genre_passages";
  ELM_EXPECT(!files.empty(), InvalidArgument, where, ": no files, expected Brown's ca01 ... cr09");
  ELM_EXPECT(options.sentences >= 1 && options.max_passages_per_file >= 0, InvalidArgument, where,
             ": sentences = ", options.sentences, " and max_passages_per_file = ", options.max_passages_per_file,
             ", expected >= 1 and >= 0");
  const auto categories = parse_brown_categories(categories_text);
  GenrePassages out;
  for (const auto& [file, genre] : categories)
    if (std::find(out.genres.begin(), out.genres.end(), genre) == out.genres.end()) out.genres.push_back(genre);
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& [name, text] = files[i];
    const auto category = std::find_if(categories.begin(), categories.end(),
                                       [&](const auto& c) { return c.first == name; });
    ELM_EXPECT(category != categories.end(), FormatError, where, ": file ", name,
               " has no genre in cats.txt, expected a line \"", name, " <genre>\"");
    const Index label = to_index(
        std::find(out.genres.begin(), out.genres.end(), category->second) - out.genres.begin());
    const bool held_out = brown_held_out(to_index(i));
    (held_out ? out.held_out_files : out.train_files) += 1;
    const std::vector<TaggedSentence> sentences = parse_brown(text, TagSet::full, name);
    const Index passages = to_index(sentences.size()) / options.sentences;
    const Index keep = options.max_passages_per_file > 0 ? std::min(passages, options.max_passages_per_file)
                                                         : passages;
    for (Index k = 0; k < keep; ++k) {
      const Index p = k * passages / keep;  // spread over the file
      LabelledPassage passage;
      passage.label = label;
      passage.file = name;
      for (Index s = p * options.sentences; s < (p + 1) * options.sentences; ++s) {
        const auto& words = sentences[to_size(s)].words;
        passage.words.insert(passage.words.end(), words.begin(), words.end());
      }
      passage.text = detokenize_brown(passage.words);
      (held_out ? out.held_out : out.train).push_back(std::move(passage));
    }
  }
  return out;
}

}  // namespace elm::classic
