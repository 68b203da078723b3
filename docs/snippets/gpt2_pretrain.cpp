// docs/snippets/gpt2_pretrain.cpp
#include <cstdio>
#include <string>
#include <vector>

#include "examples/common/austen.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/text/split_tokenizer.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"

namespace models = elm::models;
namespace train = elm::train;
using elm::Index;

// Trains `model` for `steps` steps on windows of `stream` with AdamW (warmup, cosine decay) and clipping: the
// same loop pre-training and fine-tuning use.
void fit(models::Gpt2<float>& model, const std::vector<Index>& stream, std::int64_t steps, double lr) {
  elm::nn::AdamW<float> adamw({lr, 0.9, 0.99, 1e-8, 0.01});
  train::TokenWindows windows(stream, /*batch_size=*/16, /*seq_len=*/32, /*seed=*/1);
  train::TrainerOptions options;
  options.steps = steps;
  options.schedule = elm::nn::LrSchedule::warmup_cosine(lr, 10, steps, 0.1 * lr);
  options.clip_norm = 1.0;
  train::Trainer trainer(model, adamw, windows, train::language_model_step(model), options);
  trainer.run();
}

int main() {
  // Sentences of Austen's novels (lower-cased, examples/common/austen.hpp): the first 6,000 (Emma) are the large,
  // general pre-training text; 60 sentences from the end of Sense and Sensibility are the small task text, and
  // the 200 that follow them are held out.
  const auto split = elm::examples::load_austen("examples/data/austen");
  std::vector<std::string> general, task, held_out;
  for (const auto& s : split.train) (general.size() < 6000 ? general : task).push_back(s);
  task.erase(task.begin(), task.end() - 260);
  held_out.assign(task.end() - 200, task.end());
  task.resize(60);
  const auto chars = elm::text::SplitTokenizer::fit(general, elm::text::SplitUnit::characters, 1, {"<unk>", "</s>"});
  const Index boundary = 1;
  const auto encode = [&](const std::vector<std::string>& lines) {
    std::vector<std::vector<Index>> ids;
    for (const auto& line : lines) ids.push_back(chars.encode(line));
    return ids;
  };
  const auto general_stream = train::sentence_stream(encode(general), boundary);
  const auto task_stream = train::sentence_stream(encode(task), boundary);
  const auto test = encode(held_out);

  models::Gpt2Config config;
  config.vocab_size = chars.size();
  config.n_positions = 32;
  config.n_embd = 32;
  config.n_layer = 2;
  config.n_head = 2;
  config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = 0.0;
  const auto perplexity = [&](const models::Gpt2<float>& m) {
    return models::gpt2_perplexity(m, test, boundary, chars.unk_id(), 1).perplexity();
  };

  // 1) Pre-training: next-token prediction on the general text, no labels but the text itself.
  elm::Rng rng(1);
  models::Gpt2<float> pretrained(config, rng);
  const double untrained = perplexity(pretrained);
  fit(pretrained, general_stream, 300, 0.01);
  const double after_pretraining = perplexity(pretrained);

  // 2) Fine-tuning: the same loss and loop, from the pre-trained weights, on the small task text only; and the
  //    same 60 steps from a random start for comparison.
  models::Gpt2<float> fine_tuned = pretrained;
  fit(fine_tuned, task_stream, 60, 0.003);
  elm::Rng rng2(1);
  models::Gpt2<float> scratch(config, rng2);
  fit(scratch, task_stream, 60, 0.003);

  std::printf("V = %ld characters; %ld general sentences, %zu task sentences, %zu held out\n", long(chars.size()),
              long(general.size()), task.size(), held_out.size());
  std::printf("pre-training at least halves the held-out perplexity of the untrained model: %s\n",
              after_pretraining < 0.5 * untrained ? "yes" : "no");
  std::printf("fine-tuned from the pre-trained model beats the same fine-tuning from scratch: %s\n",
              perplexity(fine_tuned) < perplexity(scratch) ? "yes" : "no");
}
