// SPDX-License-Identifier: MIT
// Runs build/bin/elm-bert as scripts do: `finetune` trains a tiny classifier on the Brown genre task and writes a
// model directory, `classify` reads it and gives the probabilities the library computes from the same files, by
// --text and by --jsonl; bad input gets an error that says what.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/files.hpp"
#include "../common/run_program.hpp"
#include "elm/core/math.hpp"
#include "elm/io/bert_hf.hpp"
#include "elm/models/bert.hpp"

namespace bert_finetune_cli_test {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST_CASE("elm-bert finetune writes a classifier that elm-bert classify runs as the library does",
          "[models][bert][finetune][cli]") {
  {
    std::ifstream probe(elm_test::program_path("elm-bert"));
    INFO("build the elm-bert target first: " << elm_test::program_path("elm-bert"));
    REQUIRE(probe.good());
  }
  const fs::path dir = elm_test::fresh_directory("bert-finetune-cli");
  const std::string data = std::string(ELM_SOURCE_DIR) + "/examples/data/";
  // a tiny model from scratch, a few steps on one passage of two sentences per file
  const auto [log, code] = elm_test::run_program(
      "elm-bert", "finetune --data '" + data + "brown' --vocab '" + data + "bert-base-uncased' --out '" +
                      dir.string() + "' --layers 1 --width 16 --heads 2 --intermediate 32 --max-length 32 " +
                      "--sentences 2 --max-passages-per-file 1 --batch 8 --steps 3 --quiet --seed 3");
  INFO(log);
  REQUIRE(code == 0);
  CHECK_THAT(log, Contains("baseline: multinomial naive Bayes") && Contains("held-out accuracy") &&
                      Contains("450 training passages from 450 files, 50 held out from 50 files"));
  const auto model = elm::io::load_bert_hf<elm::models::BertForSequenceClassification<float>>(dir.string());
  REQUIRE(model.config().num_labels == 15);
  CHECK(model.config().label_name(0) == "news");

  // classify: the label and probabilities of each text, as the library computes them from the directory
  const std::vector<std::string> texts = {"The jury said the election was fair.",
                                          "She looked at him and laughed, and the rain kept falling."};
  const auto [out, code2] = elm_test::run_program(
      "elm-bert", "classify --model '" + dir.string() + "' --json --text '" + texts[0] + "' --text '" + texts[1] + "'",
      false);
  REQUIRE(code2 == 0);
  const std::vector<nlohmann::json> lines = json_lines(out);
  REQUIRE(lines.size() == 2);
  const auto tokenizer = elm::io::load_bert_tokenizer(dir.string());
  std::vector<std::vector<elm::Index>> ids;
  for (const auto& t : texts) ids.push_back(tokenizer.encode(t).ids);
  elm::Matrix<float> logits, p;
  model.forward(elm::models::BertBatch::pad(ids, {}, tokenizer.pad_id()), logits);
  elm::softmax_columns<float>(logits, p);
  for (elm::Index n = 0; n < 2; ++n) {
    const nlohmann::json& j = lines[std::size_t(n)];
    elm::Index best = 0;
    p.col(n).maxCoeff(&best);
    CHECK(j.at("id").get<elm::Index>() == best);
    CHECK(j.at("label").get<std::string>() == model.config().label_name(best));
    REQUIRE(j.at("probabilities").size() == 15);
    for (elm::Index k = 0; k < 15; ++k)  // padding to the longer text changes nothing beyond float rounding
      CHECK(std::abs(j.at("probabilities").at(model.config().label_name(k)).get<double>() - double(p(k, n))) < 1e-6);
  }
  // the same texts from a JSON-lines file
  {
    std::ofstream jsonl(dir / "texts.jsonl");
    for (const auto& t : texts) jsonl << nlohmann::json({{"text", t}}).dump() << "\n";
  }
  const auto [from_file, code3] =
      elm_test::run_program("elm-bert", "classify --model '" + dir.string() + "' --json --jsonl '" +
                                            (dir / "texts.jsonl").string() + "'", false);
  CHECK(code3 == 0);
  CHECK(from_file == out);

  // bad input
  {
    std::ofstream bad(dir / "bad.jsonl");
    bad << "{\"text\": \"fine\"}\n{\"txt\": 1}\n";
  }
  const auto [e1, c1] = elm_test::run_program("elm-bert", "classify --model '" + dir.string() + "' --jsonl '" +
                                                               (dir / "bad.jsonl").string() + "'");
  CHECK(c1 == 1);
  CHECK_THAT(e1, Contains("bad.jsonl line 2") && Contains("expected an object {\"text\": ...}"));
  const auto [e2, c2] = elm_test::run_program("elm-bert", "classify --model '" + dir.string() + "'");
  CHECK(c2 == 1);
  CHECK_THAT(e2, Contains("expected texts given by --text or by --jsonl"));
  const auto [e3, c3] = elm_test::run_program("elm-bert", "classify --model '" + (dir / "none").string() +
                                                               "' --text hello");
  CHECK(c3 == 1);
  CHECK_THAT(e3, Contains("is not a directory"));
  fs::remove_all(dir);
}

}  // namespace bert_finetune_cli_test
