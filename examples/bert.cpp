// SPDX-License-Identifier: MIT
// elm-bert: BERT from Hugging Face or sentence-transformers model directories. `embed` prints sentence
// embeddings, `similarity` compares texts, `search` finds a query's nearest sentences in a corpus, `fill-mask`
// predicts [MASK] tokens, `train-mlm` pretrains a small BERT with masked language modelling, `finetune` fine-tunes
// a classifier on the genre of Brown passages, `classify` runs one, `bench` times sentence embeddings and a
// fine-tuning step. Each command lives in
// examples/bert/<name>_command.hpp and registers itself here.
#include <CLI/CLI.hpp>

#include "bert/bench_command.hpp"
#include "bert/classify_command.hpp"
#include "bert/command.hpp"
#include "bert/embed_command.hpp"
#include "bert/fill_mask_command.hpp"
#include "bert/finetune_command.hpp"
#include "bert/search_command.hpp"
#include "bert/similarity_command.hpp"
#include "bert/train_mlm_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"BERT (model directories: config.json, model.safetensors, vocab.txt; sentence-transformers' "
               "modules.json): sentence embeddings, similarity, semantic search, fill-mask, masked-LM pretraining, "
               "fine-tuning a classifier, classifying texts, benchmarks"};
  app.require_subcommand(1);
  elm::examples::bert::Commands commands;
  elm::examples::bert::add_embed_command(app, commands);
  elm::examples::bert::add_similarity_command(app, commands);
  elm::examples::bert::add_search_command(app, commands, argv[0]);
  elm::examples::bert::add_fill_mask_command(app, commands);
  elm::examples::bert::add_train_mlm_command(app, commands, argv[0]);
  elm::examples::bert::add_finetune_command(app, commands, argv[0]);
  elm::examples::bert::add_classify_command(app, commands);
  elm::examples::bert::add_bench_command(app, commands);
  return commands.run(app, argc, argv, "elm-bert");
}
