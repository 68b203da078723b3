// SPDX-License-Identifier: MIT
// Runs build/bin/elm-gpt as scripts do: `logits --json` and `generate --greedy --json` on the tiny fixture models
// against transformers' numbers, text in and out through a directory's tokenizer, `bench`'s JSON line, and the
// errors of bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../attention/fixture.hpp"
#include "../common/run_program.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/generation.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace gpt_cli_test {

std::string tiny_dir(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/gpt2/" + name; }

// Runs `elm-gpt args`: standard output only (scripts parse it), or with standard error; and the exit code.
std::pair<std::string, int> run_gpt(const std::string& args, bool stderr_too = false) {
  return elm_test::run_program("elm-gpt", args, stderr_too);
}

void require_program() { elm_test::require_program("elm-gpt"); }

std::string join_ids(const std::vector<elm::Index>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

std::vector<elm::Index> fixture_ids(const attention_test::Fixture& f, const std::string& name) {
  const elm::Matrix<double> m = f.matrix<double>(name);
  std::vector<elm::Index> ids;
  for (elm::Index i = 0; i < m.size(); ++i) ids.push_back(static_cast<elm::Index>(m.data()[i]));
  return ids;
}

// text as one shell word.
std::string quoted(const std::string& text) {
  std::string q = "'";
  for (char ch : text) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

using elm_test::json_lines;

}  // namespace gpt_cli_test

TEST_CASE("elm-gpt logits --json prints transformers' logits of the fixture models", "[models][gpt][cli]") {
  gpt_cli_test::require_program();
  const std::string name = GENERATE(as<std::string>{}, "tiny", "tiny_gelu");
  const attention_test::Fixture f = attention_test::load_fixture(name, "gpt2");
  const elm::Index T = f.dim("T"), V = f.dim("vocab");
  const std::vector<elm::Index> all_ids = gpt_cli_test::fixture_ids(f, "ids");
  const std::vector<elm::Index> ids(all_ids.begin(), all_ids.begin() + T);  // the first sequence
  const elm::Matrix<double> expected = f.matrix<double>("logits");            // (V, B T)
  for (const bool all : {false, true}) {
    const auto [out, code] = gpt_cli_test::run_gpt("logits --model '" + gpt_cli_test::tiny_dir(name) + "' --ids " +
                                                   gpt_cli_test::join_ids(ids) + (all ? " --all" : "") + " --json");
    REQUIRE(code == 0);
    const nlohmann::json doc = nlohmann::json::parse(out);  // exactly one JSON object, nothing else
    REQUIRE(doc.size() == 1);
    const auto& rows = doc.at("logits");
    REQUIRE(rows.size() == std::size_t(all ? T : 1));
    double worst = 0.0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      REQUIRE(rows[r].size() == std::size_t(V));
      const elm::Index t = all ? elm::Index(r) : T - 1;
      for (elm::Index v = 0; v < V; ++v)
        worst = std::max(worst, std::abs(rows[r][std::size_t(v)].get<double>() - expected(v, t)));
    }
    INFO("largest difference from transformers' logits: " << worst);
    CHECK(worst < 1e-4);  // the issue's tolerance
  }
}

TEST_CASE("elm-gpt logits and generate --dtype bf16 | int8 keep the weights so, close to transformers' logits",
          "[models][gpt][cli][quantized]") {
  gpt_cli_test::require_program();
  const attention_test::Fixture f = attention_test::load_fixture("tiny", "gpt2");
  const elm::Index T = f.dim("T"), V = f.dim("vocab");
  const std::vector<elm::Index> all_ids = gpt_cli_test::fixture_ids(f, "ids");
  const std::vector<elm::Index> ids(all_ids.begin(), all_ids.begin() + T);
  const elm::Matrix<double> expected = f.matrix<double>("logits");
  const std::string dtype = GENERATE(as<std::string>{}, "bf16", "int8");
  const std::string model = " --model '" + gpt_cli_test::tiny_dir("tiny") + "'";
  const auto [out, code] =
      gpt_cli_test::run_gpt("logits" + model + " --ids " + gpt_cli_test::join_ids(ids) + " --json --dtype " + dtype);
  REQUIRE(code == 0);
  const nlohmann::json doc = nlohmann::json::parse(out);
  const auto& row = doc.at("logits").at(0);
  REQUIRE(row.size() == std::size_t(V));
  double worst = 0.0, largest = 0.0;
  for (elm::Index v = 0; v < V; ++v) {
    worst = std::max(worst, std::abs(row[std::size_t(v)].get<double>() - expected(v, T - 1)));
    largest = std::max(largest, std::abs(expected(v, T - 1)));
  }
  INFO(dtype << ": largest difference from transformers' float32 logits " << worst << ", largest logit " << largest);
  CHECK(worst > 1e-6);  // the weights were rounded
  // the bounds of tests/models/test_gpt2_quantized.cpp's model (relative to the largest logit)
  CHECK(worst < (dtype == "bf16" ? 0.01 : 0.04) * largest);
  const auto generated = gpt_cli_test::run_gpt("generate" + model + " --prompt-ids 1,2,3 --greedy --max-new-tokens 4 "
                                               "--json --dtype " + dtype);
  REQUIRE(generated.second == 0);
  CHECK(gpt_cli_test::json_lines(generated.first).size() == 1);
}

TEST_CASE("elm-gpt generate --greedy --json continues a prompt as transformers' generate does",
          "[models][gpt][cli]") {
  gpt_cli_test::require_program();
  const std::string name = GENERATE(as<std::string>{}, "tiny", "tiny_gelu");
  const attention_test::Fixture f = attention_test::load_fixture(name, "gpt2");
  const std::vector<elm::Index> prompt = gpt_cli_test::fixture_ids(f, "prompt");
  const std::vector<elm::Index> greedy = gpt_cli_test::fixture_ids(f, "greedy");
  const std::string model = " --model '" + gpt_cli_test::tiny_dir(name) + "'";
  const auto [out, code] = gpt_cli_test::run_gpt("generate" + model + " --prompt-ids " +
                                                 gpt_cli_test::join_ids(prompt) + " --greedy --max-new-tokens " +
                                                 std::to_string(greedy.size()) + " --json");
  REQUIRE(code == 0);
  const auto lines = gpt_cli_test::json_lines(out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("ids").get<std::vector<elm::Index>>() == greedy);
  CHECK(lines[0].at("text").is_null());  // no tokenizer in the fixture directories
  CHECK(lines[0].at("finish_reason") == "length");
  // sampled: one line per sequence, the same with the same seed
  const std::string sampled = "generate" + model + " --prompt-ids 1,2,3 --max-new-tokens 6 --top-k 10 --top-p 0.9 "
                                                   "--temperature 0.8 --num-return-sequences 3 --json --seed ";
  const auto a = gpt_cli_test::run_gpt(sampled + "5");
  const auto b = gpt_cli_test::run_gpt(sampled + "5");
  const auto c = gpt_cli_test::run_gpt(sampled + "6");
  REQUIRE(a.second == 0);
  const auto seqs = gpt_cli_test::json_lines(a.first);
  REQUIRE(seqs.size() == 3);
  for (const auto& s : seqs) CHECK(s.at("ids").size() == 6);
  CHECK(a.first == b.first);
  CHECK(a.first != c.first);
  // without --json the ids stream to standard output
  const auto streamed = gpt_cli_test::run_gpt("generate" + model + " --prompt-ids " + gpt_cli_test::join_ids(prompt) +
                                              " --greedy --max-new-tokens " + std::to_string(greedy.size()));
  std::string expected;
  for (elm::Index id : greedy) expected += std::to_string(id) + " ";
  CHECK(streamed.first == expected + "\n");
}

TEST_CASE("elm-gpt generate continues text with the directory's tokenizer", "[models][gpt][cli]") {
  gpt_cli_test::require_program();
  // A small random GPT-2 with GPT-2's vocabulary, beside GPT-2's vocab.json and merges.txt.
  const fs::path dir = fs::temp_directory_path() / "elm_gpt_cli_text";
  fs::remove_all(dir);
  fs::create_directories(dir);
  elm::models::Gpt2Config config;
  config.n_positions = 64;
  config.n_embd = 16;
  config.n_layer = 1;
  config.n_head = 2;
  elm::Rng rng(4);
  elm::models::Gpt2<float> model(config, rng);
  std::ofstream(dir / "config.json") << R"({"model_type": "gpt2", "vocab_size": 50257, "n_positions": 64, )"
                                     << R"("n_embd": 16, "n_layer": 1, "n_head": 2, "eos_token_id": 50256})";
  elm::io::SafetensorsWriter writer;
  model.for_each_parameter("", [&](const std::string& n, const elm::nn::Parameter<float>& p) {
    writer.add(n, p.shape, p.value);
  });
  writer.save((dir / "model.safetensors").string());
  const std::string data = std::string(ELM_SOURCE_DIR) + "/examples/data/gpt2";
  fs::copy_file(data + "/vocab.json", dir / "vocab.json");
  fs::copy_file(data + "/merges.txt", dir / "merges.txt");
  const elm::text::BpeTokenizer tokenizer = elm::io::load_gpt2_tokenizer(dir.string());

  const std::string prompt = "It is a truth universally acknowledged";
  elm::models::GenerationConfig greedy;
  greedy.max_new_tokens = 12;
  greedy.eos_token_ids = {50256};
  const auto expected = elm::models::generate(model, tokenizer.encode(prompt), greedy).front();
  const std::string args = "generate --model '" + dir.string() + "' --prompt '" + prompt + "' --greedy --max-new-tokens 12";
  const auto [out, code] = gpt_cli_test::run_gpt(args + " --json");
  REQUIRE(code == 0);
  const auto lines = gpt_cli_test::json_lines(out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("ids").get<std::vector<elm::Index>>() == expected.ids);
  const std::string text = tokenizer.decode(expected.ids);
  CHECK(lines[0].at("text").dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) ==
        nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  // streamed: the new text's bytes as they come
  const auto streamed = gpt_cli_test::run_gpt(args);
  CHECK(streamed.first == text + "\n");
  // a stop string: the sequence ends at the token that completes it
  if (expected.ids.size() >= 4) {
    const std::string stop = tokenizer.decode({expected.ids[2], expected.ids[3]});
    const auto stopped = gpt_cli_test::run_gpt(args + " --json --stop " + gpt_cli_test::quoted(stop));
    const auto got = gpt_cli_test::json_lines(stopped.first);
    REQUIRE(got.size() == 1);
    CHECK(got[0].at("finish_reason") == "stop_string");
    CHECK(got[0].at("ids").size() <= 4);
  }
  // logits without --json name the most likely tokens
  const auto top = gpt_cli_test::run_gpt("logits --model '" + dir.string() + "' --ids 464,2068 --top 3");
  CHECK(top.second == 0);
  CHECK_THAT(top.first, Contains("after position 1 (id 2068):"));
  fs::remove_all(dir);
}

TEST_CASE("elm-gpt bench prints one JSON line of its measurements", "[models][gpt][cli]") {
  gpt_cli_test::require_program();
  const auto [out, code] = gpt_cli_test::run_gpt("bench --model '" + gpt_cli_test::tiny_dir("tiny") +
                                                 "' --prompt-tokens 8 --new-tokens 4 --runs 1");
  REQUIRE(code == 0);
  const auto lines = gpt_cli_test::json_lines(out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("prompt_tokens") == 8);
  CHECK(lines[0].at("new_tokens") == 4);
  CHECK(lines[0].at("prompt_tokens_per_second").get<double>() > 0);
  CHECK(lines[0].at("decode_ms_per_token").get<double>() > 0);
  CHECK(lines[0].at("parameters").get<double>() > 0);
}

TEST_CASE("elm-gpt refuses bad input with what is wrong and exit code 1", "[models][gpt][cli][bad-input]") {
  gpt_cli_test::require_program();
  const std::string model = " --model '" + gpt_cli_test::tiny_dir("tiny") + "'";
  const auto fails = [](const std::string& args, const std::string& message) {
    const auto [out, code] = gpt_cli_test::run_gpt(args, true);
    INFO(args << "\n" << out);
    CHECK(code != 0);
    CHECK_THAT(out, Contains(message));
  };
  fails("generate" + model + " --prompt 'hello' --greedy --max-new-tokens 4", "has no vocab.json");
  fails("generate" + model + " --prompt-ids 1,40 --greedy --max-new-tokens 4",
        "token id 40 at position 1, expected 0 <= id < V = 40");
  fails("generate" + model + " --prompt-ids 1,,2 --max-new-tokens 4", "--prompt-ids: '' is not a token id");
  fails("generate" + model + " --prompt-ids 1,2 --max-new-tokens 23", "but the context holds 24");
  fails("generate" + model + " --greedy --max-new-tokens 4", "expected --prompt TEXT or --prompt-ids IDS");
  fails("generate" + model + " --prompt-ids 1 --greedy --temperature 0.5", "--greedy excludes --temperature");
  fails("generate" + model + " --prompt-ids 1 --top-p 1.5 --max-new-tokens 4", "top_p = 1.5");
  fails("generate" + model + " --prompt-ids 1 --temperature 0 --max-new-tokens 4", "temperature = 0");
  fails("generate" + model + " --prompt-ids 1 --max-new-tokens 4 --stop x", "--stop: matching stop strings needs");
  fails("logits" + model + " --ids 1,2,99 --json", "token id = 99 is out of range");
  fails("logits --model /nonexistent/gpt2 --ids 1 --json", "/nonexistent/gpt2 is not a directory");
  fails("logits" + model + " --ids 1 --dtype f16", "--dtype");
  fails("generate" + model + " --prompt-ids 1 --dtype int4 --max-new-tokens 4", "--dtype: int4 not in");
  for (const char* command : {"generate", "logits", "bench"}) {
    const auto help = gpt_cli_test::run_gpt(std::string(command) + " --help");
    CHECK(help.second == 0);
    CHECK_THAT(help.first, Contains("--model"));
  }
}
