// SPDX-License-Identifier: MIT
// Runs build/bin/elm-bert as scripts do: `fill-mask --json` on the fixture model against transformers' fill-mask
// pipeline, `embed --json` and `similarity --json` on all-MiniLM-L6-v2's real weights against
// sentence-transformers (when the CTest minilm-sentence-embeddings provides them), and the errors of bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../common/run_program.hpp"

using Catch::Matchers::Contains;

namespace bert_cli_test {

std::pair<std::string, int> run_bert(const std::string& args, bool stderr_too = false) {
  return elm_test::run_program("elm-bert", args, stderr_too);
}

void require_program() { elm_test::require_program("elm-bert"); }

std::string bert_data(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/bert/" + name; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

using elm_test::json_lines;

// A JSON-lines file of {"text": ...} objects in the temporary folder; returns its path.
std::string write_jsonl(const std::string& name, const std::vector<std::string>& texts) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream out(path, std::ios::binary);
  for (const auto& t : texts) out << nlohmann::json{{"text", t}}.dump() << "\n";
  return path;
}


TEST_CASE("elm-bert fill-mask --json prints transformers' fill-mask pipeline's tokens and scores",
          "[models][bert][cli]") {
  require_program();
  const nlohmann::json fixture = read_json(bert_data("fill_tiny.json"));
  std::vector<std::string> texts;
  for (const auto& c : fixture.at("cases")) texts.push_back(c.at("text").get<std::string>());
  const std::string jsonl = write_jsonl("elm-bert-fill-mask.jsonl", texts);
  const auto [out, code] = run_bert("fill-mask --model '" + bert_data("fill_tiny") + "' --jsonl '" + jsonl +
                                    "' --top-k " + fixture.at("meta").at("top_k").dump() + " --json");
  REQUIRE(code == 0);
  const auto lines = json_lines(out);
  REQUIRE(lines.size() == texts.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    INFO("text " << i << ": " << texts[i]);
    CHECK(lines[i].at("text") == texts[i]);
    const auto& want = fixture.at("cases")[i].at("masks");
    const auto& got = lines[i].at("masks");
    REQUIRE(got.size() == want.size());
    for (std::size_t m = 0; m < want.size(); ++m) {
      CHECK(got[m].at("position") == want[m].at("position"));
      const auto& predictions = got[m].at("predictions");
      REQUIRE(predictions.size() == want[m].at("ids").size());
      for (std::size_t j = 0; j < predictions.size(); ++j) {
        CHECK(predictions[j].at("id") == want[m].at("ids")[j]);
        CHECK(predictions[j].at("token") == want[m].at("tokens")[j]);
        worst = std::max(worst, std::abs(predictions[j].at("score").get<double>() -
                                         want[m].at("scores")[j].get<double>()));
      }
    }
  }
  INFO("largest difference from the pipeline's scores: " << worst);
  CHECK(worst < 1e-5);
  std::filesystem::remove(jsonl);
}

TEST_CASE("elm-bert refuses bad input with what is wrong", "[models][bert][cli]") {
  require_program();
  const std::string model = " --model '" + bert_data("fill_tiny") + "'";
  auto [out, code] = run_bert("fill-mask" + model + " --text 'the cat sat on the mat'", true);
  CHECK(code == 1);
  CHECK_THAT(out, Contains("has no [MASK]"));
  std::tie(out, code) = run_bert("fill-mask" + model, true);
  CHECK(code == 1);
  CHECK_THAT(out, Contains("no text given"));
  const std::string bad = (std::filesystem::temp_directory_path() / "elm-bert-bad.jsonl").string();
  std::ofstream(bad) << "{\"text\": \"the [MASK] sat\"}\n\n[1, 2]\n";
  std::tie(out, code) = run_bert("fill-mask" + model + " --jsonl '" + bad + "'", true);
  CHECK(code == 1);
  CHECK_THAT(out, Contains("line 3: expected a JSON object {\"text\": \"...\"}"));
  std::filesystem::remove(bad);
  std::tie(out, code) = run_bert("fill-mask --model '" + bert_data("cls_tiny") + "' --text '[MASK]'", true);
  CHECK(code == 1);
  CHECK_THAT(out, Contains("cls_tiny"));
  std::tie(out, code) = run_bert("fill-mask" + model + " --text 'the cat [MASK] on the mat" +
                                 std::string(60, '.') + "'", true);  // 70 tokens, 20 positions
  CHECK(code == 1);
  CHECK_THAT(out, Contains("exceeds max_position_embeddings = 20"));
  std::tie(out, code) = run_bert("similarity" + model + " --text 'one text'", true);
  CHECK(code == 1);
  CHECK_THAT(out, Contains("expected at least two"));
}

TEST_CASE("elm-bert embed --json prints all-MiniLM-L6-v2's sentence-transformers embeddings",
          "[.minilm][models][bert][cli]") {
  const char* dir = std::getenv("ELM_MINILM_DIR");
  if (dir == nullptr) {
    WARN("SKIPPED: ELM_MINILM_DIR is not set (the CTest minilm-sentence-embeddings sets it)");
    return;
  }
  require_program();
  const nlohmann::json fixture = read_json(bert_data("minilm_embeddings.json"));
  const auto sentences = fixture.at("sentences").get<std::vector<std::string>>();
  const auto expected = fixture.at("embeddings").get<std::vector<std::vector<double>>>();
  const std::string jsonl = write_jsonl("elm-bert-embed.jsonl", sentences);
  const std::string model = std::string(" --model '") + dir + "'";
  const auto [out, code] = run_bert("embed" + model + " --jsonl '" + jsonl + "' --json --batch 4 --quiet");
  REQUIRE(code == 0);
  const auto lines = json_lines(out);
  REQUIRE(lines.size() == sentences.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO("sentence " << i << ": " << sentences[i]);
    REQUIRE(lines[i].size() == 1);
    const auto got = lines[i].at("embedding").get<std::vector<double>>();
    REQUIRE(got.size() == expected[i].size());
    for (std::size_t c = 0; c < got.size(); ++c) worst = std::max(worst, std::abs(got[c] - expected[i][c]));
  }
  INFO("largest difference from sentence-transformers: " << worst);
  CHECK(worst < 1e-5);
  // similarity: the cosines of the reference embeddings (unit vectors)
  const auto [sim, sim_code] =
      run_bert("similarity" + model + " --text '" + sentences[0] + "' --text '" + sentences[1] + "' --json");
  REQUIRE(sim_code == 0);
  double dot = 0.0;
  for (std::size_t c = 0; c < expected[0].size(); ++c) dot += expected[0][c] * expected[1][c];
  const auto matrix = nlohmann::json::parse(sim).at("similarity");
  CHECK(std::abs(matrix[0][1].get<double>() - dot) < 1e-5);
  CHECK(std::abs(matrix[0][0].get<double>() - 1.0) < 1e-6);
  // --dtype int8: the dense weights in Q8_0 blocks, each embedding within cosine 0.99 of sentence-transformers'
  const auto [q8, q8_code] = run_bert("embed" + model + " --jsonl '" + jsonl + "' --json --dtype int8 --quiet");
  REQUIRE(q8_code == 0);
  const auto q8_lines = json_lines(q8);
  REQUIRE(q8_lines.size() == sentences.size());
  for (std::size_t i = 0; i < q8_lines.size(); ++i) {
    const auto got = q8_lines[i].at("embedding").get<std::vector<double>>();
    double cosine = 0.0;  // both unit length
    for (std::size_t c = 0; c < got.size(); ++c) cosine += got[c] * expected[i][c];
    INFO("sentence " << i << ", int8 weights: cosine " << cosine);
    CHECK(cosine >= 0.99);
    CHECK(cosine < 1.0 - 1e-9);
  }
  CHECK(run_bert("embed" + model + " --text x --dtype q4").second != 0);
  std::filesystem::remove(jsonl);
}

}  // namespace bert_cli_test
