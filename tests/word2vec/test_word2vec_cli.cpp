// SPDX-License-Identifier: MIT
// Runs build/bin/elm-word2vec as a user would: train, convert, similar, analogy, evaluate, and its errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "../common/run_program.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/word_vectors.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string program() { return elm_test::program_path("elm-word2vec"); }

std::string temp(const std::string& leaf) {
  return (std::filesystem::temp_directory_path() / ("elm_w2v_cli_" + leaf)).string();
}

// Runs `elm-word2vec args` and returns its standard output and error together, and the exit code.
std::pair<std::string, int> run(const std::string& args) { return elm_test::run_program("elm-word2vec", args); }

}  // namespace

TEST_CASE("elm-word2vec trains, converts, queries and evaluates", "[word2vec][cli]") {
  {
    std::ifstream probe(program());
    INFO("build the elm-word2vec target first: " << program());
    REQUIRE(probe.good());
  }
  // The two-family corpus of test_word2vec.cpp: cat/dog share contexts, car/bus share others.
  const std::string corpus = temp("corpus.txt");
  {
    elm::Rng rng(3);
    std::ofstream f(corpus);
    for (int s = 0; s < 1000; ++s) {
      const bool a = rng.below(2) == 0;
      const char* fill = a ? (rng.below(2) ? "cat" : "dog") : (rng.below(2) ? "car" : "bus");
      f << (a ? "a1 a2 " : "b1 b2 ") << fill << (a ? " a3 a4\n" : " b3 b4\n");
    }
  }
  const std::string bin = temp("v.bin"), txt = temp("v.txt");
  const auto trained = run("train --text '" + corpus + "' --output '" + bin +
                           "' --binary --size 16 --window 2 --sample 0 --min-count 1 --iter 10 --threads 1 --seed 5");
  INFO(trained.first);
  REQUIRE(trained.second == 0);
  CHECK_THAT(trained.first, Contains("Vocab size: 12") && Contains("Words in train file: 5000") &&
                                Contains("Words/thread/sec"));
  REQUIRE(run("convert --input '" + bin + "' --input-binary --output '" + txt + "'").second == 0);
  const auto b = elm::io::read_word_vectors(bin, elm::io::WordVectorFormat::binary);
  const auto t = elm::io::read_word_vectors(txt, elm::io::WordVectorFormat::text);
  CHECK(b.words == t.words);
  CHECK(b.vectors == t.vectors);  // the text form keeps every float32 exactly

  CHECK_THAT(run("similar --vectors '" + txt + "' --topn 1 cat").first, StartsWith("dog "));
  CHECK_THAT(run("similar --vectors '" + bin + "' --binary --topn 1 bus").first, StartsWith("car "));
  const auto analogy = run("analogy --vectors '" + txt + "' a1 a2 b1 --topn 2 --method mul");
  CHECK(analogy.second == 0);
  CHECK(std::count(analogy.first.begin(), analogy.first.end(), '\n') == 2);

  const std::string questions = temp("questions.txt"), pairs = temp("pairs.tsv");
  {
    std::ofstream q(questions);
    q << ": animals\ncat dog car bus\nCAT DOG BUS CAR\nzebra dog car bus\n";
    std::ofstream p(pairs);
    p << "# word1\tword2\tscore\ncat\tdog\t9\ncat\tcar\t1\nbus\tcar\t8\nzebra\tcat\t5\n";
  }
  const auto eval = run("evaluate --vectors '" + txt + "' --analogies '" + questions + "' --similarity '" + pairs + "'");
  INFO(eval.first);
  CHECK(eval.second == 0);
  CHECK_THAT(eval.first, Contains("analogy accuracy: 100.00% (2/2 covered questions, 1 skipped)") && Contains("(3 pairs, 25.0% out of vocabulary)"));

  // Errors: a message naming the problem on standard error and exit status 1.
  const auto unknown = run("similar --vectors '" + txt + "' zebra");
  CHECK(unknown.second != 0);
  CHECK_THAT(unknown.first, Contains("word 'zebra' is not in the vocabulary"));
  const auto wrong_format = run("similar --vectors '" + bin + "' cat");
  CHECK(wrong_format.second != 0);
  CHECK_THAT(wrong_format.first, Contains("is this a binary word2vec file?"));
  const std::string empty = temp("empty.txt");
  std::ofstream(empty).close();
  const auto no_text = run("train --text '" + empty + "' --output '" + temp("never.txt") + "' --quiet");
  CHECK(no_text.second != 0);
  CHECK_THAT(no_text.first, Contains("the corpus is empty"));
  CHECK_FALSE(std::filesystem::exists(temp("never.txt")));
  const auto rare = run("train --text '" + corpus + "' --output '" + temp("never.txt") + "' --min-count 100000 --quiet");
  CHECK(rare.second != 0);
  CHECK_THAT(rare.first, Contains("the vocabulary is empty after min_count = 100000"));
  CHECK(run("train --text '" + temp("missing.txt") + "' --output x --quiet").second != 0);

  for (const auto& f : {corpus, bin, txt, questions, pairs, empty}) std::filesystem::remove(f);
}
