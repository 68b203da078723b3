// docs/snippets/lstm_lm_api.cpp
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "elm/io/checkpoint.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/text/split_tokenizer.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"

int main() {
  namespace models = elm::models;
  namespace train = elm::train;
  // Lines of space-separated tokens (examples/common/austen.hpp's load_austen gives the bundled corpus this way).
  const std::vector<std::string> lines{"the cat sat on the mat", "the dog sat on the log", "a cat saw a dog"};
  const std::vector<std::string> held_out{"the cat sat on the log"};
  // 1) the tokenizer: <unk> and </s> first, then every word of the training lines
  const auto tokenizer = elm::text::SplitTokenizer::fit(lines, elm::text::SplitUnit::words, 1, {"<unk>", "</s>"});
  const elm::Index boundary = tokenizer.vocabulary().id("</s>");
  std::vector<std::vector<elm::Index>> sentences, test;
  for (const auto& line : lines) sentences.push_back(tokenizer.encode(line));
  for (const auto& line : held_out) test.push_back(tokenizer.encode(line));

  // 2) the model, 3) the trainer: random windows of the stream "</s> s1 </s> s2 ...", AdamW, warmup + cosine
  elm::Rng rng(1);
  models::LstmLm<float> model({tokenizer.size(), /*embedding_dim=*/16, /*hidden_size=*/32, /*num_layers=*/1}, rng);
  elm::nn::AdamW<float> optimizer({0.01, 0.9, 0.999, 1e-8, 0.0});
  train::TokenWindows windows(train::sentence_stream(sentences, boundary), /*batch_size=*/4, /*seq_len=*/8);
  train::TrainerOptions options;
  options.steps = 200;
  options.schedule = elm::nn::LrSchedule::warmup_cosine(0.01, 10, 200, 0.001);
  options.clip_norm = 1.0;
  train::Trainer trainer(model, optimizer, windows, train::language_model_step(model), options);
  std::int64_t reports = 0;
  trainer.set_progress([&](const train::Progress&) { ++reports; });
  const auto result = trainer.run();

  // 4) held-out perplexity; saved with its configuration, and built again from the file; sampling
  const auto ppl = models::lstm_lm_perplexity(model, test, boundary, tokenizer.unk_id(), 1);
  const std::string path = (std::filesystem::temp_directory_path() / "elm-lstm-lm-api.safetensors").string();
  elm::io::save_parameters(path, model, model.metadata());
  const elm::io::SafetensorsReader reader(path);
  models::LstmLm<float> loaded(models::LstmLm<float>::config_from(reader));
  elm::io::load_parameters(reader, loaded);
  elm::Rng sample_rng(3);
  const auto ids = models::lstm_lm_sample(loaded, {boundary, tokenizer.vocabulary().id("the")}, 10, boundary, 0.5,
                                          sample_rng, /*top_k=*/3);
  std::filesystem::remove(path);
  std::printf("vocabulary: %ld tokens\n", static_cast<long>(tokenizer.size()));
  std::printf("steps: %lld, progress reports: %lld\n", static_cast<long long>(result.steps_done),
              static_cast<long long>(reports));
  std::printf("loss fell below half its start: %s\n", result.losses.back() < 0.5 * result.losses.front() ? "yes" : "no");
  std::printf("held-out tokens scored: %ld (6 words and </s>)\n", static_cast<long>(ppl.tokens));
  std::printf("held-out perplexity below V: %s\n", ppl.perplexity() < double(tokenizer.size()) ? "yes" : "no");
  std::printf("a sample ends with </s> or after 10 tokens: %s\n", ids.back() == boundary || ids.size() == 10 ? "yes" : "no");
}
