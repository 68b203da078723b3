// SPDX-License-Identifier: MIT
// Runs build/bin/elm-seq2seq as a user would: a few seconds of training on the date task, translate with beam
// search and n-best lists, evaluate, resume from a checkpoint, and its errors for bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <regex>
#include <string>
#include <utility>

#include "../common/files.hpp"
#include "../common/run_program.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/lstm_seq2seq.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace seq2seq_cli_test {

std::pair<std::string, int> run(const std::string& args) { return elm_test::run_program("elm-seq2seq", args); }

// A tiny model on the date task: --decay linear with --min-lr-fraction 1 keeps the rate constant after the warmup,
// so a run's first k steps do not depend on its length and a run resumed at step k can match one that never stopped.
std::string tiny_train(const fs::path& out, int steps, int decoder_hidden = 64) {
  return "train --model lstm --task dates --train-examples 2000 --held-out-examples 150 --eval-examples 30 "
         "--embedding 16 "
         "--encoder-hidden 32 --decoder-hidden " +
         std::to_string(decoder_hidden) +
         " --batch 16 --lr 0.01 --warmup 10 --decay linear --min-lr-fraction 1 --seconds 0 --quiet --steps " +
         std::to_string(steps) + " --out '" + out.string() + "'";
}

// A tiny Transformer on the date task, as tiny_train's LSTM (dropout on: a resumed run must replay its draws).
std::string tiny_transformer(const fs::path& out, int steps) {
  return "train --model transformer --task dates --train-examples 2000 --held-out-examples 150 --eval-examples 30 "
         "--width 32 --heads 2 --layers 1 --feed-forward 64 --dropout 0.1 --batch 16 --lr 0.003 --warmup 10 "
         "--decay linear --min-lr-fraction 1 --seconds 0 --quiet --steps " +
         std::to_string(steps) + " --out '" + out.string() + "'";
}

// The text after `label` up to the end of its line, or "" (e.g. the greedy row of a report).
std::string line_after(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return "";
  return text.substr(at + label.size(), text.find('\n', at) - at - label.size());
}

}  // namespace seq2seq_cli_test

TEST_CASE("elm-seq2seq trains on dates, translates with beam search, evaluates, and resumes", "[seq2seq][cli]") {
  using seq2seq_cli_test::run;
  elm_test::require_program("elm-seq2seq");
  const fs::path dir = elm_test::fresh_directory("seq2seq-cli");
  fs::create_directories(dir);
  const fs::path model = dir / "model";
  const auto trained = run(seq2seq_cli_test::tiny_train(model, 300));
  INFO(trained.first);
  REQUIRE(trained.second == 0);
  CHECK_THAT(trained.first, Contains("task dates: 2000 training and 150 held-out examples") &&
                                Contains("trained 300 steps") && Contains("yyyy/mm/dd (held-out format)"));
  for (const char* file : {"model.safetensors", "source_vocab.txt", "target_vocab.txt", "loss.csv", "loss.svg",
                           "training_state.safetensors"})
    CHECK(fs::exists(model / file));
  // After 300 steps the held-out cross-entropy is well below the uniform ln 15 = 2.7 over the target characters.
  std::smatch m;
  REQUIRE(std::regex_search(trained.first, m, std::regex(R"(teacher-forced loss after step 300: ([0-9.]+))")));
  CHECK(std::stod(m[1].str()) < 1.0);
  const std::string greedy_row = seq2seq_cli_test::line_after(trained.first, "greedy: held-out exact match");
  CHECK_THAT(greedy_row, Contains("/30)"));

  // translate: two lines, beam 3, two hypotheses each, best first, as JSON lines; each score is the log-probability
  // over the length (its characters and <eos>) to the power 1 (Hugging Face's length penalty); a character never
  // seen in training (the snowman) reads as <unk> and the line is translated all the same.
  const fs::path input = dir / "dates.txt";
  elm_test::write_bytes(input, "29 Nov 2026\nSunday, 1 March 1931 \xE2\x98\x83\n");
  const std::string translate = "translate --model '" + model.string() + "' --quiet ";
  const auto nbest = run(translate + "--json --beam 3 --n-best 2 < '" + input.string() + "'");
  INFO(nbest.first);
  REQUIRE(nbest.second == 0);
  const auto lines = elm_test::json_lines(nbest.first);
  REQUIRE(lines.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(lines[i].at("line").get<int>() == int(i / 2 + 1));
    CHECK(lines[i].at("rank").get<int>() == int(i % 2 + 1));
    const std::string text = lines[i].at("text").get<std::string>();
    const double log_prob = lines[i].at("log_prob").get<double>();
    CHECK_THAT(lines[i].at("score").get<double>(),
               Catch::Matchers::WithinRel(log_prob / double(text.size() + 1), 1e-9));
  }
  CHECK(lines[0].at("source").get<std::string>() == "29 Nov 2026");
  CHECK(lines[0].at("score").get<double>() >= lines[1].at("score").get<double>());
  CHECK(lines[2].at("score").get<double>() >= lines[3].at("score").get<double>());
  CHECK(lines[0].at("text") != lines[1].at("text"));
  // Plain output: "text<TAB>score" per line; beam 1 is greedy decoding. --alignment draws the first line's
  // cross-attention: a cell per source character (11) and output token (the text and <eos>).
  const fs::path picture = dir / "alignment.svg";
  const auto plain = run(translate + "--alignment '" + picture.string() + "' < '" + input.string() + "'");
  REQUIRE(plain.second == 0);
  CHECK(std::regex_match(plain.first, std::regex("[^\t\n]*\t-?[0-9.]+\n[^\t\n]*\t-?[0-9.]+\n")));
  const std::string svg = elm_test::file_bytes(picture);
  const std::string first_output = plain.first.substr(0, plain.first.find('\t'));
  std::size_t cells = 0;
  for (std::size_t at = svg.find("fill-opacity"); at != std::string::npos; at = svg.find("fill-opacity", at + 1))
    ++cells;
  CHECK(cells == 11 * (first_output.size() + 1));
  CHECK_THAT(svg, Contains("cross-attention: &quot;29 Nov 2026&quot; -&gt; &quot;" + first_output + "&quot;"));

  // evaluate: greedy then beam rows with per-format rows; on the examples train scored, greedy's numbers are train's.
  const auto evaluated = run("evaluate --model '" + model.string() + "' --examples 30 --beam 2 --quiet");
  INFO(evaluated.first);
  REQUIRE(evaluated.second == 0);
  CHECK_THAT(evaluated.first, Contains("beam 2: held-out exact match") && Contains("d-Mon-yyyy (held-out format)"));
  const std::string evaluated_greedy = seq2seq_cli_test::line_after(evaluated.first, "greedy: held-out exact match");
  CHECK(evaluated_greedy.substr(0, evaluated_greedy.rfind(" (")) ==
        greedy_row.substr(0, greedy_row.rfind(" (")));  // the same counts and error rate, the timing aside
  CHECK_THAT(evaluated_greedy, Contains("character error rate"));

  // Resume: 200 steps, then 100 more from its checkpoint, give the parameters of 300 steps in one run, bit for bit.
  const fs::path part = dir / "part";
  REQUIRE(run(seq2seq_cli_test::tiny_train(part, 200)).second == 0);
  const auto resumed = run(seq2seq_cli_test::tiny_train(part, 300) + " --resume '" +
                           (part / "training_state.safetensors").string() + "'");
  INFO(resumed.first);
  REQUIRE(resumed.second == 0);
  CHECK_THAT(resumed.first, Contains("at step 200") && Contains("trained 100 steps"));
  CHECK(elm_test::file_bytes(part / "model.safetensors") == elm_test::file_bytes(model / "model.safetensors"));

  // Bad input: exit code 1 and a message that says what is wrong.
  const auto fails_with = [&](const std::string& args, const std::string& message) {
    const auto r = run(args);
    INFO(args << "\n" << r.first);
    CHECK(r.second == 1);
    CHECK_THAT(r.first, Contains(message));
  };
  const fs::path empty_line = dir / "empty.txt", long_line = dir / "long.txt";
  elm_test::write_bytes(empty_line, "29 Nov 2026\n\n1 May 2001\n");
  elm_test::write_bytes(long_line, std::string(300, '7') + "\n");
  fails_with(translate + "< '" + empty_line.string() + "'", "line 2 of the input is empty");
  fails_with(translate + "< '" + long_line.string() + "'", "line 1 of the input has 300 characters, expected at most");
  fails_with(translate + "--beam 0 < '" + input.string() + "'", "--beam 0, expected a beam width >= 1");
  fails_with(translate + "--beam 2 --n-best 3 < '" + input.string() + "'",
             "--n-best 3, expected 1 <= n-best <= --beam");
  fails_with(seq2seq_cli_test::tiny_train(dir / "other", 300, 48) + " --resume '" +
                 (model / "training_state.safetensors").string() + "'",
             "was written with decoder_hidden = 64, this run has decoder_hidden = 48");
  // A model directory whose vocabularies belong to another model.
  const fs::path swapped = dir / "swapped";
  fs::create_directories(swapped);
  fs::copy_file(model / "model.safetensors", swapped / "model.safetensors");
  fs::copy_file(model / "source_vocab.txt", swapped / "target_vocab.txt");
  fs::copy_file(model / "target_vocab.txt", swapped / "source_vocab.txt");
  fails_with("translate --model '" + swapped.string() + "' < '" + input.string() + "'",
             "the vocabulary of another model?");
  // A model directory whose model.safetensors says it holds another architecture.
  const fs::path other = dir / "other-architecture";
  fs::create_directories(other);
  for (const char* file : {"source_vocab.txt", "target_vocab.txt"}) fs::copy_file(model / file, other / file);
  {
    const elm::io::SafetensorsReader reader((model / "model.safetensors").string());
    elm::models::LstmSeq2Seq<float> loaded(elm::models::LstmSeq2Seq<float>::config_from(reader));
    elm::io::load_parameters(reader, loaded);
    auto meta = reader.metadata();
    meta["architecture"] = "elm-lstm-lm";
    elm::io::save_parameters((other / "model.safetensors").string(), loaded, meta);
  }
  fails_with("translate --model '" + other.string() + "' < '" + input.string() + "'",
             "holds architecture 'elm-lstm-lm', expected 'elm-lstm-seq2seq' or 'elm-transformer-seq2seq'");
  fails_with("translate --model '" + (dir / "nowhere").string() + "' < '" + input.string() + "'", "model.safetensors");
  for (const char* command : {"train", "translate", "evaluate"}) {
    const auto help = run(std::string(command) + " --help");
    CHECK(help.second == 0);
    CHECK_THAT(help.first, Contains("--"));
  }
  fs::remove_all(dir);
}

TEST_CASE("elm-seq2seq trains the Transformer, translates with its cross-attention drawn, evaluates, and resumes",
          "[seq2seq][cli][transformer]") {
  using seq2seq_cli_test::run;
  elm_test::require_program("elm-seq2seq");
  const fs::path dir = elm_test::fresh_directory("seq2seq-cli-transformer");
  fs::create_directories(dir);
  const fs::path model = dir / "model";
  const auto trained = run(seq2seq_cli_test::tiny_transformer(model, 240));
  INFO(trained.first);
  REQUIRE(trained.second == 0);
  CHECK_THAT(trained.first, Contains("model: Transformer encoder-decoder, width 32, 2 heads, 1 + 1 layers, "
                                     "feed-forward 64, sinusoidal positions, post-norm, dropout 0.1") &&
                                Contains("trained 240 steps"));
  std::smatch m;
  REQUIRE(std::regex_search(trained.first, m, std::regex(R"(teacher-forced loss after step 240: ([0-9.]+))")));
  CHECK(std::stod(m[1].str()) < 1.6);  // the uniform guess over the 15 target characters: ln 15 = 2.7
  {
    const elm::io::SafetensorsReader reader((model / "model.safetensors").string());
    CHECK(reader.metadata().at("architecture") == "elm-transformer-seq2seq");
    CHECK(reader.metadata().at("width") == "32");
  }

  // translate with beam search and an n-best list; the picture has a cell per source character and output token
  const fs::path input = dir / "dates.txt", picture = dir / "alignment.svg";
  elm_test::write_bytes(input, "1 May 2001\n2026.11.29\n");
  const std::string translate = "translate --model '" + model.string() + "' --quiet ";
  const auto nbest = run(translate + "--json --beam 3 --n-best 3 --alignment '" + picture.string() + "' < '" +
                         input.string() + "'");
  INFO(nbest.first);
  REQUIRE(nbest.second == 0);
  const auto lines = elm_test::json_lines(nbest.first);
  REQUIRE(lines.size() == 6);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i)
    if (lines[i].at("line") == lines[i + 1].at("line"))
      CHECK(lines[i].at("score").get<double>() >= lines[i + 1].at("score").get<double>());
  const std::string first_output = lines[0].at("text").get<std::string>();
  const std::string svg = elm_test::file_bytes(picture);
  std::size_t cells = 0;
  for (std::size_t at = svg.find("fill-opacity"); at != std::string::npos; at = svg.find("fill-opacity", at + 1))
    ++cells;
  CHECK(cells == 10 * (first_output.size() + 1));

  // --errors lists what was decoded wrong: after 240 steps most of the 19 dates are, so 3 are shown per search
  const auto evaluated = run("evaluate --model '" + model.string() + "' --examples 19 --beam 2 --errors 3 --quiet");
  INFO(evaluated.first);
  REQUIRE(evaluated.second == 0);
  CHECK_THAT(evaluated.first, Contains("(scoring the first 19)") && Contains("beam 2: held-out exact match") &&
                                  Contains("greedy: the first 3 decoded wrong") &&
                                  Contains("beam 2: the first 3 decoded wrong"));
  CHECK(std::regex_search(evaluated.first, std::regex(R"(\n  [^\n]+  ->  [^\n]*  \(expected \d{4}-\d{2}-\d{2}\)\n)")));

  // resume, with dropout drawing: 160 steps then 80 more equal 240 in one run, bit for bit
  const fs::path part = dir / "part";
  REQUIRE(run(seq2seq_cli_test::tiny_transformer(part, 160)).second == 0);
  const auto resumed = run(seq2seq_cli_test::tiny_transformer(part, 240) + " --resume '" +
                           (part / "training_state.safetensors").string() + "'");
  INFO(resumed.first);
  REQUIRE(resumed.second == 0);
  CHECK(elm_test::file_bytes(part / "model.safetensors") == elm_test::file_bytes(model / "model.safetensors"));

  // an option of the other architecture is refused, not ignored; a resume across architectures names what differs
  const auto mixed = run(seq2seq_cli_test::tiny_transformer(dir / "mixed", 10) + " --encoder-hidden 64");
  CHECK(mixed.second == 1);
  CHECK_THAT(mixed.first, Contains("--encoder-hidden is an option of --model lstm, this run trains --model "
                                   "transformer"));
  const auto across = run(seq2seq_cli_test::tiny_train(dir / "across", 300) + " --resume '" +
                          (model / "training_state.safetensors").string() + "'");
  CHECK(across.second == 1);
  CHECK_THAT(across.first, Contains("was written with architecture = elm-transformer-seq2seq, this run has "
                                    "architecture = elm-lstm-seq2seq"));
  fs::remove_all(dir);
}
