// SPDX-License-Identifier: MIT
// elm-gpt: GPT-2 from a Hugging Face model directory. `generate` continues a prompt, `logits` prints the
// next-token logits of token ids, `bench` measures prompt processing and decoding, `train` trains a model from
// scratch or fine-tunes one, `eval` scores held-out text. Each command lives in examples/gpt/<name>_command.hpp
// and registers itself here.
#include <CLI/CLI.hpp>

#include "gpt/bench_command.hpp"
#include "gpt/command.hpp"
#include "gpt/eval_command.hpp"
#include "gpt/generate_command.hpp"
#include "gpt/logits_command.hpp"
#include "gpt/train_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"GPT-2 (Hugging Face model directories: config.json, model.safetensors, vocab.json, merges.txt): "
               "generate text, print logits, measure speed, train, score held-out text"};
  app.require_subcommand(1);
  elm::examples::gpt::Commands commands;
  elm::examples::gpt::add_generate_command(app, commands);
  elm::examples::gpt::add_logits_command(app, commands);
  elm::examples::gpt::add_bench_command(app, commands);
  elm::examples::gpt::add_train_command(app, commands, argv[0]);
  elm::examples::gpt::add_eval_command(app, commands, argv[0]);
  return commands.run(app, argc, argv, "elm-gpt");
}
