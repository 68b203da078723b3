// SPDX-License-Identifier: MIT
// Runs build/bin/elm-gpt train and eval as a user would on tiny corpora: a character task and a byte-level BPE
// task trained from scratch, resumed, scored again by eval, fine-tuned from the directory train wrote, and the
// errors for what does not fit.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "../common/run_program.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/gpt2_hf.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace gpt_train_cli_test {

std::pair<std::string, int> run(const std::string& args) { return elm_test::run_program("elm-gpt", args); }

// The number after `label` in `text` (the last match), or -1.
double number_after(const std::string& text, const std::string& label) {
  double value = -1.0;
  const std::regex pattern(label + R"(\s+([0-9.]+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern); it != std::sregex_iterator(); ++it)
    value = std::stod((*it)[1].str());
  return value;
}

// A folder of one text file of `lines` lines drawn from a small grammar (poem-like lines for the character task,
// paragraphs of sentences separated by blank lines for the BPE task).
fs::path corpus(const fs::path& dir, bool paragraphs) {
  const std::vector<std::string> subjects{"The cat", "A dog", "The bird"}, verbs{"sees", "likes", "finds"},
      objects{"the mat", "a log", "the tree", "a house"};
  elm::Rng rng(5);
  fs::create_directories(dir);
  std::ofstream out(dir / "tiny.txt");
  for (int i = 0; i < 200; ++i) {
    out << subjects[rng.below(3)] << " " << verbs[rng.below(3)] << " " << objects[rng.below(4)] << ".";
    out << (paragraphs ? "\n\n" : "\n");
  }
  return dir;
}

}  // namespace gpt_train_cli_test

TEST_CASE("elm-gpt train and eval: a character model from scratch, resumed, scored again", "[models][gpt2][cli]") {
  namespace cli = gpt_train_cli_test;
  {
    std::ifstream probe(elm_test::program_path("elm-gpt"));
    INFO("build the elm-gpt target first: " << elm_test::program_path("elm-gpt"));
    REQUIRE(probe.good());
  }
  const fs::path dir = fs::temp_directory_path() / "elm-gpt-train-cli";
  fs::remove_all(dir);
  const std::string data = cli::corpus(dir / "poems", false).string();
  const std::string out = (dir / "model").string();
  const std::string common = "--task tang --data '" + data + "' --out '" + out +
                             "' --layers 1 --width 16 --heads 2 --context 16 --batch 8 --lr 0.01 --warmup 5 "
                             "--seconds 0 --eval-units 0 --samples 1 --sample-tokens 30 --quiet ";

  const auto help = cli::run("train --help");
  CHECK(help.second == 0);
  CHECK_THAT(help.first, Contains("--init") && Contains("--accumulation") && Contains("--eval-every-seconds"));
  CHECK(cli::run("eval --help").second == 0);

  const auto trained = cli::run("train " + common + "--steps 40 --eval-every 20 --checkpoint-every 20");
  INFO(trained.first);
  REQUIRE(trained.second == 0);
  CHECK_THAT(trained.first, Contains("trained 40 steps") && Contains("held-out after step 20") &&
                                Contains("held-out after step 40") && Contains("samples (temperature 0.8"));
  for (const char* file : {"config.json", "model.safetensors", "vocab.txt", "loss.csv", "loss.svg",
                           "training_state.safetensors"})
    CHECK(fs::exists(fs::path(out) / file));
  const double train_ppl = cli::number_after(trained.first, R"(\d+ through <unk>; [0-9.]+ s\):)");
  CHECK(train_ppl > 1.0);
  CHECK(train_ppl < 6.0);  // about 25 characters, most of them predictable after 40 steps
  {
    std::ifstream csv(fs::path(out) / "loss.csv");
    std::string header;
    std::getline(csv, header);
    CHECK(header == "step,loss,held_out_loss");
  }
  // The directory is a Hugging Face GPT-2 directory.
  const auto model = elm::io::load_gpt2_hf<float>(out);
  CHECK(model.config().n_embd == 16);
  CHECK(model.config().n_positions == 16);

  // eval scores the task's held-out poems as train did.
  const auto eval = cli::run("eval --model '" + out + "' --task tang --data '" + data + "'");
  INFO(eval.first);
  REQUIRE(eval.second == 0);
  CHECK_THAT(eval.first, Contains("20 poems (held out of tang)"));
  CHECK_THAT(cli::number_after(eval.first, "perplexity"), Catch::Matchers::WithinAbs(train_ppl, 0.0006));

  // resume continues from the last checkpoint (step 40) to step 50.
  const auto resumed = cli::run("train " + common + "--steps 50 --resume '" + out + "/training_state.safetensors'");
  INFO(resumed.first);
  REQUIRE(resumed.second == 0);
  CHECK_THAT(resumed.first, Contains("at step 40") && Contains("trained 10 steps"));

  // Errors: a character model without a task or text; a missing model; a corrupt checkpoint to resume.
  const auto no_task = cli::run("eval --model '" + out + "'");
  CHECK(no_task.second == 1);
  CHECK_THAT(no_task.first, Contains("is a character model: say which task"));
  const auto missing = cli::run("eval --model '" + (dir / "nothing").string() + "' --task tang");
  CHECK(missing.second == 1);
  CHECK_THAT(missing.first, Contains("config.json"));
  std::ofstream(dir / "bad.safetensors") << "not a checkpoint";
  const auto bad = cli::run("train " + common + "--steps 5 --resume '" + (dir / "bad.safetensors").string() + "'");
  CHECK(bad.second == 1);
  CHECK_THAT(bad.first, Contains("bad.safetensors"));
  fs::remove_all(dir);
}

TEST_CASE("elm-gpt train with GPT-2's BPE, and fine-tuning the directory it wrote", "[models][gpt2][cli]") {
  namespace cli = gpt_train_cli_test;
  const fs::path dir = fs::temp_directory_path() / "elm-gpt-train-cli-bpe";
  fs::remove_all(dir);
  const std::string data = cli::corpus(dir / "text", true).string();
  const std::string bpe = std::string(ELM_SOURCE_DIR) + "/examples/data/gpt2";
  const std::string out = (dir / "model").string();
  const std::string common = " --task austen --data '" + data + "' --tokenizer '" + bpe +
                             "' --layers 1 --width 8 --heads 2 --context 16 --batch 4 --seconds 0 --eval-units 0 "
                             "--samples 1 --sample-tokens 10 --quiet";
  const auto trained = cli::run("train --steps 4 --out '" + out + "'" + common);
  INFO(trained.first);
  REQUIRE(trained.second == 0);
  CHECK_THAT(trained.first, Contains("V = 50257 (GPT-2's byte-level BPE)") && Contains("per character"));
  for (const char* file : {"config.json", "model.safetensors", "vocab.json", "merges.txt"})
    CHECK(fs::exists(fs::path(out) / file));
  const auto eval = cli::run("eval --model '" + out + "' --data '" + data + "' --units 5");
  INFO(eval.first);
  REQUIRE(eval.second == 0);
  CHECK_THAT(eval.first, Contains("5 paragraphs (held out of austen)") && Contains("per character"));

  // Fine-tuning: the directory train wrote, trained further by the same loop with the tokenizer it holds.
  const std::string tuned = (dir / "tuned").string();
  const auto fine_tuned = cli::run("train --steps 3 --init '" + out + "' --out '" + tuned + "'" + common);
  INFO(fine_tuned.first);
  REQUIRE(fine_tuned.second == 0);
  CHECK_THAT(fine_tuned.first, Contains("fine-tuning " + out) && Contains("trained 3 steps"));
  CHECK(fs::exists(fs::path(tuned) / "model.safetensors"));

  // A checkpoint whose vocabulary is not the tokenizer's: the transformers-made tiny model (V = 40).
  const auto mismatch = cli::run("train --steps 1 --init '" + std::string(ELM_TEST_DATA_DIR) + "/gpt2/tiny' --out '" +
                                (dir / "x").string() + "'" + common);
  CHECK(mismatch.second == 1);
  CHECK_THAT(mismatch.first, Contains("has vocab_size 40, but the tokenizer has 50257 tokens"));
  fs::remove_all(dir);
}
