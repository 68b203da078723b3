// SPDX-License-Identifier: MIT
// The bundled Austen corpus as sentences of lower-case word tokens, with the train/held-out split that the
// demo, elm-ngram and elm-lstm-lm share, so that their perplexities are comparable.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "elm/core/error.hpp"

namespace elm::examples {

/// The folder examples/data/<name>: relative to the working directory when run from the source tree, else found
/// from the program's own path (build/bin/elm-x -> <source>/examples/data/<name>).
inline std::string find_data_dir(const char* argv0, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path relative = fs::path("examples") / "data" / name;
  if (fs::is_directory(relative)) return relative.string();
  std::error_code ec;
  const fs::path exe = fs::canonical(argv0, ec);
  if (!ec) {
    const fs::path candidate = exe.parent_path().parent_path().parent_path() / relative;
    if (fs::is_directory(candidate)) return candidate.string();
  }
  return relative.string();
}

/// Sentences as lines of space-separated tokens.
struct AustenSplit {
  std::vector<std::string> train;
  std::vector<std::string> test;
};

/// Splits text into sentences of tokens, the way the KenLM reference corpus was made: lower-cased; a sentence
/// ends at a run of '.', '?' or '!'; tokens are maximal runs of [a-z0-9'] with leading and trailing apostrophes
/// removed; every other character separates tokens. Empty sentences are dropped.
inline std::vector<std::string> split_sentences(const std::string& text) {
  std::vector<std::string> sentences;
  std::string sentence, token;
  const auto end_token = [&] {
    const auto first = token.find_first_not_of('\'');
    if (first != std::string::npos) {
      const auto last = token.find_last_not_of('\'');
      if (!sentence.empty()) sentence += ' ';
      sentence += token.substr(first, last - first + 1);
    }
    token.clear();
  };
  for (const char raw : text) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(raw)));
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'') {
      token += c;
      continue;
    }
    end_token();
    if ((c == '.' || c == '?' || c == '!') && !sentence.empty()) {
      sentences.push_back(sentence);
      sentence.clear();
    }
  }
  end_token();
  if (!sentence.empty()) sentences.push_back(sentence);
  return sentences;
}

/// The *.txt files of a folder, sorted by name. Throws IoError (the message starting with `where`) when it is not
/// a folder or holds none.
inline std::vector<std::filesystem::path> text_files(const std::string& dir, const char* where) {
  namespace fs = std::filesystem;
  ELM_EXPECT(fs::is_directory(dir), IoError, where, ": ", dir, " is not a directory");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".txt") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ELM_EXPECT(!files.empty(), IoError, where, ": ", dir, " holds no .txt file");
  return files;
}

/// The whole of a file. Throws IoError (the message starting with `where`) when it cannot be opened.
inline std::string read_text_file(const std::filesystem::path& path, const char* where) {
  std::ifstream in(path, std::ios::binary);
  ELM_EXPECT(in.good(), IoError, where, ": cannot open ", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Reads every *.txt in dir (sorted by name) and splits its sentences 90/10: sentence i (counted over the
/// whole corpus) is held out when i % 10 == 9. Throws IoError when the folder has no readable text.
inline AustenSplit load_austen(const std::string& dir) {
  AustenSplit split;
  std::size_t index = 0;
  for (const auto& path : text_files(dir, "load_austen")) {
    for (auto& sentence : split_sentences(read_text_file(path, "load_austen"))) {
      (index % 10 == 9 ? split.test : split.train).push_back(std::move(sentence));
      ++index;
    }
  }
  return split;
}

}  // namespace elm::examples
