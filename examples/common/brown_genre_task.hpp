// SPDX-License-Identifier: MIT
// Brown's genre task as the example programs read it (elm-bert finetune, elm-text-cnn): the passages of a folder of
// the corpus, and the bag-of-words multinomial naive Bayes baseline every classifier of the task is compared with.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "elm/classic/brown_genres.hpp"
#include "elm/classic/naive_bayes.hpp"
#include "elm/core/check.hpp"
#include "elm/core/error.hpp"

namespace elm::examples {

/// Brown's genre task from a folder of the corpus (ca01 ... cr09 and cats.txt). Throws IoError naming `where` (the
/// caller) and the folder.
inline classic::GenrePassages load_genre_task(const std::string& dir, const classic::GenrePassageOptions& options,
                                              const std::string& where) {
  std::vector<std::pair<std::string, std::string>> files;
  const std::regex name("c[a-r][0-9][0-9]");
  std::error_code ec;
  const auto read = [&](const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    ELM_EXPECT(in.good(), IoError, where, ": cannot read ", path.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file() && std::regex_match(entry.path().filename().string(), name))
      files.emplace_back(entry.path().filename().string(), read(entry.path()));
  ELM_EXPECT(!ec && !files.empty(), IoError, where, ": no Brown files (ca01 ... cr09) in \"", dir, "\"",
             ec ? ": " + ec.message() : std::string());
  return classic::brown_genre_passages(std::move(files), read(std::filesystem::path(dir) / "cats.txt"), options);
}

/// A corpus token lower-cased (ASCII), as the baseline and the text CNN read the passages.
inline std::string lower_case(std::string word) {
  std::transform(word.begin(), word.end(), word.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return word;
}

/// The bag-of-words baseline: multinomial naive Bayes (alpha = 1) over the lower-cased corpus tokens of the
/// training passages (a token never seen in training is left out). Returns the held-out accuracy.
inline double naive_bayes_accuracy(const classic::GenrePassages& task) {
  std::unordered_map<std::string, Index> vocabulary;
  const auto bag = [&](const classic::LabelledPassage& p, bool grow) {
    std::unordered_map<Index, double> counts;
    for (const std::string& word : p.words) {
      const std::string w = lower_case(word);
      auto it = vocabulary.find(w);
      if (it == vocabulary.end() && grow) it = vocabulary.emplace(w, to_index(vocabulary.size())).first;
      if (it != vocabulary.end()) counts[it->second] += 1.0;
    }
    return classic::FeatureCounts(counts.begin(), counts.end());
  };
  std::vector<classic::FeatureCounts> documents;
  std::vector<Index> labels;
  for (const auto& p : task.train) {
    documents.push_back(bag(p, true));
    labels.push_back(p.label);
  }
  const auto nb = classic::MultinomialNaiveBayes::fit(documents, labels, to_index(task.genres.size()),
                                                      to_index(vocabulary.size()));
  Index correct = 0;
  for (const auto& p : task.held_out) correct += nb.predict(bag(p, false)) == p.label ? 1 : 0;
  return double(correct) / double(std::max<std::size_t>(task.held_out.size(), 1));
}

}  // namespace elm::examples
