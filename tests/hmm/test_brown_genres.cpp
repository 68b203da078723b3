// SPDX-License-Identifier: MIT
// The Brown genre task: cats.txt, detokenisation, passages cut from files split as the tagger's, on hand-made
// files and on the bundled corpus.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../common/error_message.hpp"
#include "../common/files.hpp"
#include "elm/classic/brown_genres.hpp"

namespace brown_genres_test {

using Catch::Matchers::Contains;
using Catch::Matchers::Message;
using elm::Index;
using namespace elm::classic;

using elm_test::file_bytes;

TEST_CASE("detokenize_brown joins punctuation and quotes to their words", "[classic][brown-genres]") {
  CHECK(detokenize_brown({"``", "No", "''", ",", "he", "said", "."}) == "\"No\", he said.");
  CHECK(detokenize_brown({"It", "(", "the", "jury", ")", "met", ";", "why", "?"}) == "It (the jury) met; why?");
  CHECK(detokenize_brown({"Atlanta's", "$3.15", "--", "cheap", "!"}) == "Atlanta's $3.15 -- cheap!");
  CHECK(detokenize_brown({}).empty());
}

TEST_CASE("brown_genre_passages cuts labelled passages from files split as the tagger's",
          "[classic][brown-genres]") {
  // ten files of seven one-word sentences: ca01 .. ca05 news, cb01 .. cb05 editorial; file 9 (cb05) held out
  std::vector<std::pair<std::string, std::string>> files;
  std::string cats;
  for (int g = 0; g < 2; ++g)
    for (int i = 1; i <= 5; ++i) {
      const std::string name = std::string(g == 0 ? "ca0" : "cb0") + std::to_string(i);
      std::string text;
      for (int s = 0; s < 7; ++s) text += "\n\tw" + std::to_string(s) + "/nn ./.\n";
      files.emplace_back(name, text);
      cats += name + (g == 0 ? " news\n" : " editorial\n");
    }
  std::reverse(files.begin(), files.end());  // any order: sorted by name
  GenrePassageOptions options;
  options.sentences = 3;  // two passages per file, the seventh sentence left out
  const GenrePassages task = brown_genre_passages(files, cats, options);
  CHECK(task.genres == std::vector<std::string>{"news", "editorial"});
  CHECK(task.train_files == 9);
  CHECK(task.held_out_files == 1);
  REQUIRE(task.train.size() == 18);
  REQUIRE(task.held_out.size() == 2);
  CHECK(task.train[0].file == "ca01");
  CHECK(task.train[0].label == 0);
  CHECK(task.train[0].text == "w0. w1. w2.");
  CHECK(task.train[1].text == "w3. w4. w5.");
  CHECK(task.train[0].words == std::vector<std::string>{"w0", ".", "w1", ".", "w2", "."});
  CHECK(task.train[17].file == "cb04");
  CHECK(task.train[17].label == 1);
  CHECK(task.held_out[0].file == "cb05");
  CHECK(task.held_out[1].label == 1);
  options.max_passages_per_file = 1;
  CHECK(brown_genre_passages(files, cats, options).train.size() == 9);

  CHECK_THAT(elm_test::error_message<elm::FormatError>([&] { (void)brown_genre_passages({{"cz01", "a/nn\n"}}, cats); }),
           Contains("file cz01 has no genre in cats.txt"));
  CHECK_THAT(elm_test::error_message<elm::FormatError>([&] { (void)brown_genre_passages(files, "ca01\n"); }),
           Contains("cats.txt line 1: \"ca01\", expected \"<file> <genre>\""));
  options.sentences = 0;
  CHECK_THROWS_AS(brown_genre_passages(files, cats, options), elm::InvalidArgument);
}

TEST_CASE("The bundled Brown corpus gives 15 genres, 450 training and 50 held-out files",
          "[classic][brown-genres]") {
  const std::string dir = std::string(ELM_SOURCE_DIR) + "/examples/data/brown";
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (std::regex_match(e.path().filename().string(), std::regex("c[a-r][0-9][0-9]")))
      files.emplace_back(e.path().filename().string(), file_bytes(e.path().string()));
  GenrePassageOptions options;
  options.sentences = 5;
  options.max_passages_per_file = 4;
  const GenrePassages task = brown_genre_passages(files, file_bytes(dir + "/cats.txt"), options);
  CHECK(task.genres.size() == 15);
  CHECK(task.genres.front() == "news");
  CHECK(task.train_files == 450);
  CHECK(task.held_out_files == 50);
  CHECK(task.train.size() == 450 * 4);
  CHECK(task.held_out.size() == 50 * 4);
  std::set<std::string> train_files, held_out_files;
  for (const auto& p : task.train) train_files.insert(p.file);
  for (const auto& p : task.held_out) {
    held_out_files.insert(p.file);
    CHECK(train_files.count(p.file) == 0);  // split by file
    if (p.file.compare(0, 2, "ca") == 0) CHECK(p.label == 0);  // ca: news, cats.txt's first genre
  }
  CHECK(held_out_files.count("ca10") == 1);
  CHECK(task.train[0].text.substr(0, 37) == "The Fulton County Grand Jury said Fri");
}

}  // namespace brown_genres_test
