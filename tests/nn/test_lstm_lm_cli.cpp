// SPDX-License-Identifier: MIT
// Runs build/bin/elm-lstm-lm as a user would on a tiny corpus: train, then eval and generate on the saved model,
// and its errors for a missing, corrupt or mismatched model.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "../common/run_program.hpp"
#include "elm/core/rng.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string lstm_lm_program() { return elm_test::program_path("elm-lstm-lm"); }

// Runs `elm-lstm-lm args`; returns standard output and error together, and the exit code.
std::pair<std::string, int> run_lstm_lm(const std::string& args) { return elm_test::run_program("elm-lstm-lm", args); }

// The number after `label` in `text` (the first match), or -1.
double number_after(const std::string& text, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(label + R"(\s+([0-9.]+))"))) return -1.0;
  return std::stod(m[1].str());
}

}  // namespace

TEST_CASE("elm-lstm-lm trains, then scores and samples the saved model", "[nn][lstm_lm][cli]") {
  {
    std::ifstream probe(lstm_lm_program());
    INFO("build the elm-lstm-lm target first: " << lstm_lm_program());
    REQUIRE(probe.good());
  }
  const fs::path dir = fs::temp_directory_path() / "elm-lstm-lm-cli";
  fs::remove_all(dir);
  fs::create_directories(dir / "corpus");
  // 300 sentences of a small grammar; the program holds out sentences i % 10 == 9, written to held_out.txt too.
  {
    const std::vector<std::string> subjects{"the cat", "a dog", "the bird"}, verbs{"sees", "likes", "finds"},
        objects{"the mat", "a log", "the tree", "a house"};
    elm::Rng rng(5);
    std::ofstream corpus(dir / "corpus" / "tiny.txt"), held_out(dir / "held_out.txt");
    for (int i = 0; i < 300; ++i) {
      const std::string sentence = subjects[rng.below(3)] + " " + verbs[rng.below(3)] + " " + objects[rng.below(4)] + ".";
      corpus << sentence << "\n";
      if (i % 10 == 9) held_out << sentence << "\n";
    }
  }
  const std::string out = (dir / "model").string();
  const auto trained = run_lstm_lm("train --data '" + (dir / "corpus").string() + "' --out '" + out +
                                   "' --level char --embedding 8 --hidden 24 --steps 60 --seconds 0 --batch 8 "
                                   "--seq-len 24 --lr 0.02 --warmup 5 --eval-every 30 --checkpoint-every 30 "
                                   "--no-ngram --samples 1 --quiet");
  INFO(trained.first);
  REQUIRE(trained.second == 0);
  CHECK_THAT(trained.first, Contains("trained 60 steps") && Contains("held-out windows after step 30") &&
                                Contains("held-out windows after step 60"));
  for (const char* file : {"model.safetensors", "vocab.txt", "loss.csv", "loss.svg", "training_state.safetensors"})
    CHECK(fs::exists(fs::path(out) / file));
  const double train_ppl = number_after(trained.first, "LSTM LM");
  CHECK(train_ppl > 1.0);
  CHECK(train_ppl < 8.0);  // 20-odd characters, most of them predictable after 60 steps

  // eval on the held-out sentences gives the perplexity that train reported on them.
  const auto eval = run_lstm_lm("eval --model '" + out + "' --text '" + (dir / "held_out.txt").string() + "'");
  INFO(eval.first);
  REQUIRE(eval.second == 0);
  CHECK_THAT(eval.first, Contains("30 sentences"));
  CHECK_THAT(number_after(eval.first, "perplexity"), Catch::Matchers::WithinAbs(train_ppl, 0.006));

  // generate: seeded, so the same seed gives the same text; the prompt starts every sample.
  const std::string gen = "generate --model '" + out + "' --samples 2 --max-tokens 40 --temperature 0.8 --top-k 5 ";
  const auto a = run_lstm_lm(gen + "--seed 3 --prompt 'The cat'");
  const auto b = run_lstm_lm(gen + "--seed 3 --prompt 'The cat'");
  INFO(a.first);
  REQUIRE(a.second == 0);
  CHECK(a.first == b.first);
  CHECK(std::regex_search(a.first, std::regex("^the cat.*\nthe cat.*\n$")));
  CHECK(run_lstm_lm(gen + "--seed 4").second == 0);

  // Errors: a message that names the problem, exit code 1, no crash.
  const auto missing = run_lstm_lm("eval --model '" + (dir / "nowhere").string() + "' --text '" +
                                    (dir / "held_out.txt").string() + "'");
  CHECK(missing.second == 1);
  CHECK_THAT(missing.first, Contains("cannot open") && Contains("model.safetensors"));
  fs::create_directories(dir / "corrupt");
  fs::copy_file(fs::path(out) / "vocab.txt", dir / "corrupt" / "vocab.txt");
  std::ofstream(dir / "corrupt" / "model.safetensors") << "not a safetensors file";
  const auto corrupt = run_lstm_lm("generate --model '" + (dir / "corrupt").string() + "'");
  CHECK(corrupt.second == 1);
  CHECK_THAT(corrupt.first, Contains("corrupt/model.safetensors"));
  std::ofstream(dir / "words.txt") << "<unk>\n</s>\nthe\ncat\n";
  const auto wrong_vocab = run_lstm_lm("eval --model '" + out + "' --vocab '" + (dir / "words.txt").string() +
                                       "' --text '" + (dir / "held_out.txt").string() + "'");
  CHECK(wrong_vocab.second == 1);
  CHECK_THAT(wrong_vocab.first, Contains("has 4 tokens, but the model") && Contains("the vocabulary of another model?"));
  const auto no_text = run_lstm_lm("eval --model '" + out + "' --text '" + (dir / "absent.txt").string() + "'");
  CHECK(no_text.second == 1);
  CHECK_THAT(no_text.first, Contains("absent.txt"));
  const auto bad_k = run_lstm_lm("generate --model '" + out + "' --top-k -1");
  CHECK(bad_k.second == 1);
  CHECK_THAT(bad_k.first, Contains("expected top_k >= 0"));
  CHECK(run_lstm_lm("").second != 0);  // a subcommand is required
  fs::remove_all(dir);
}
