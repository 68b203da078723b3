// SPDX-License-Identifier: MIT
// Casing and punctuation restoration on the bundled Austen novels, a sequence-to-sequence task on natural text:
// the source is a sentence lower-cased with its punctuation removed (what a speech recogniser or a careless
// typist produces), the target is the sentence as Austen's printer set it. Scored by exact match and character
// error rate (elm/text/edit_distance.hpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "elm/core/error.hpp"
#include "austen.hpp"
#include "date_task.hpp"

namespace elm::examples {

/// The source side of a target sentence: lower case, every character but letters, digits and spaces removed,
/// runs of spaces collapsed to one.
inline std::string strip_casing_and_punctuation(std::string_view sentence) {
  std::string out;
  for (const char raw : sentence) {
    char c = raw;
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    const bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (keep) {
      out += c;
    } else if ((c == ' ' || c == '-') && !out.empty() && out.back() != ' ') {
      out += ' ';  // a dash joins words ("to-morrow", "--"): it becomes the space between them
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

/// Sentences of a text as printed: line breaks and runs of white space become one space; a sentence ends after '.',
/// '?' or '!' (and any closing quotes) followed by white space and a capital letter or a quote, except after the
/// titles Mr, Mrs, Dr and St.
inline std::vector<std::string> printed_sentences(std::string_view text) {
  std::string flat;
  flat.reserve(text.size());
  for (const char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
    if (space) {
      if (!flat.empty() && flat.back() != ' ') flat += ' ';
    } else {
      flat += c;
    }
  }
  const auto after_title = [&](std::size_t dot) {
    for (const std::string_view title : {"Mr", "Mrs", "Dr", "St"}) {
      if (dot < title.size()) continue;
      const std::size_t start = dot - title.size();
      if (std::string_view(flat).substr(start, title.size()) == title && (start == 0 || flat[start - 1] == ' '))
        return true;
    }
    return false;
  };
  std::vector<std::string> sentences;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const char c = flat[i];
    if (c != '.' && c != '?' && c != '!') continue;
    if (c == '.' && after_title(i)) continue;
    std::size_t end = i + 1;
    while (end < flat.size() && (flat[end] == '"' || flat[end] == '\'' || flat[end] == '.' || flat[end] == '!' ||
                                 flat[end] == '?'))
      ++end;
    if (end < flat.size() && flat[end] != ' ') continue;  // "e.g", "&c." inside a sentence
    // '"Was it?" she said' goes on: a sentence ends where the next one starts with a capital or a quote
    if (end + 1 < flat.size()) {
      const char next = flat[end + 1];
      if (!((next >= 'A' && next <= 'Z') || next == '"' || next == '\'')) continue;
    }
    sentences.push_back(flat.substr(begin, end - begin));
    begin = end + 1;
    i = end;
  }
  return sentences;
}

/// The sentence without its double quotes (spaces they leave at either end removed): a sentence of dialogue often
/// opens or closes a quotation that started or ends in another sentence, which no model could restore from this
/// sentence alone.
inline std::string without_double_quotes(std::string_view sentence) {
  std::string out;
  for (const char c : sentence)
    if (c != '"') out += c;
  const auto first = out.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

/// The restoration examples of the Austen novels, split as load_austen splits its sentences (sentence i of the
/// corpus held out when i % 10 == 9), targets without double quotes, keeping sentences whose target has min_length to max_length bytes (the text is ASCII but for one line) and
/// at least one letter.
struct RestorationTaskSplit {
  std::vector<Seq2SeqExample> train, held_out;
};

inline RestorationTaskSplit make_restoration_task(const std::string& austen_dir, std::size_t min_length,
                                                  std::size_t max_length) {
  ELM_EXPECT(min_length <= max_length, InvalidArgument, "elm::examples::make_restoration_task: min_length ",
             min_length, " > max_length ", max_length);
  RestorationTaskSplit split;
  std::size_t index = 0;
  for (const auto& path : text_files(austen_dir, "make_restoration_task")) {
    for (auto& printed : printed_sentences(read_text_file(path, "make_restoration_task"))) {
      std::string sentence = without_double_quotes(printed);
      std::string source = strip_casing_and_punctuation(sentence);
      const bool kept = sentence.size() >= min_length && sentence.size() <= max_length &&
                        source.find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos;
      if (kept) (index % 10 == 9 ? split.held_out : split.train).push_back({std::move(source), std::move(sentence)});
      ++index;
    }
  }
  return split;
}

}  // namespace elm::examples
