// SPDX-License-Identifier: MIT
// Runs build/bin/elm-tokenize as a user would, through a shell pipe.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "../common/run_program.hpp"
#include "text_fixtures.hpp"

namespace {

std::string tokenize_binary() { return elm_test::program_path("elm-tokenize"); }

// Runs `elm-tokenize args < file` with the file holding input_file_contents; returns stdout and the exit code.
std::pair<std::string, int> run(const std::string& input_file_contents, const std::string& args) {
  const std::string in_path = std::string(ELM_BINARY_DIR) + "/elm_tokenize_cli_input.txt";
  {
    std::ofstream f(in_path, std::ios::binary);
    f << input_file_contents;
  }
  auto result = elm_test::run_program("elm-tokenize", args + " < '" + in_path + "'", /*stderr_too=*/false);
  std::remove(in_path.c_str());
  return result;
}

}  // namespace

namespace {

std::string gpt2_args() {
  return "bpe --vocab '" + elm_test::source_path("examples/data/gpt2/vocab.json") + "' --merges '" +
         elm_test::source_path("examples/data/gpt2/merges.txt") + "'";
}

std::string bert_args() {
  return "wordpiece --vocab '" + elm_test::source_path("examples/data/bert-base-uncased/vocab.txt") + "'";
}

void require_binary() {
  std::ifstream probe(tokenize_binary());
  INFO("build the elm-tokenize target first: " << tokenize_binary());
  REQUIRE(probe.good());
}

}  // namespace

// Each run loads a vocabulary (slow under the sanitizers), so the default case keeps to five runs.
TEST_CASE("elm-tokenize encodes and decodes with both tokenizers", "[text][cli]") {
  require_binary();
  // Expected ids: Hugging Face tokenizers 0.23.3 on the same files ("Hello" 15496, " world" 995, "," 11, "!" 0;
  // BERT: [CLS] 101, "hello" 7592, "," 1010, "world" 2088, [SEP] 102).
  CHECK(run("Hello world<|endoftext|>", gpt2_args()) == std::make_pair(std::string("15496 995 50256\n"), 0));
  CHECK(run("\"Hello, world!\"\n\"Hello\"\n", gpt2_args() + " --jsonl").first == "[15496,11,995,0]\n[15496]\n");
  CHECK(run("[15496,11,995,0]\n", gpt2_args() + " --jsonl --decode").first == "\"Hello, world!\"\n");
  CHECK(run("\"Hello, World\"\n", bert_args() + " --uncased --jsonl --special").first == "[101,7592,1010,2088,102]\n");
  CHECK(run("ab\xFF", gpt2_args()).second != 0);
}

TEST_CASE("elm-tokenize: plain decoding and more failures", "[text][cli][.slow]") {
  require_binary();
  CHECK(run("15496 995", gpt2_args() + " --decode").first == "Hello world");
  CHECK(run("Hello, World", bert_args() + " --uncased").first == "7592 1010 2088\n");
  CHECK(run("[50257]\n", gpt2_args() + " --jsonl --decode").second != 0);
  CHECK(run("not json\n", bert_args() + " --jsonl").second != 0);
  CHECK(run("15496 x", gpt2_args() + " --decode").second != 0);
}
