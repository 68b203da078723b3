// SPDX-License-Identifier: MIT
// elm-bert: BERT from Hugging Face model directories. `finetune` fine-tunes a classifier on the genre of Brown
// passages, `classify` runs one. Each command lives in examples/bert/<name>_command.hpp and registers itself here.
#include <CLI/CLI.hpp>

#include "bert/classify_command.hpp"
#include "bert/finetune_command.hpp"
#include "common/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"BERT (Hugging Face model directories: config.json, model.safetensors, vocab.txt): fine-tune a "
               "classifier, classify texts"};
  app.require_subcommand(1);
  elm::examples::Commands commands;
  elm::examples::bert::add_finetune_command(app, commands, argv[0]);
  elm::examples::bert::add_classify_command(app, commands);
  return commands.run(app, argc, argv, "elm-bert");
}
