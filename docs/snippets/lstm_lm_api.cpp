// docs/snippets/lstm_lm_api.cpp
#include <cstdio>
#include <string>
#include <vector>

#include "elm/models/lstm_lm.hpp"

int main() {
  namespace models = elm::models;
  // Lines of space-separated tokens (examples/common/austen.hpp's load_austen gives the bundled corpus this way).
  const std::vector<std::string> train{"the cat sat on the mat", "the dog sat on the log", "a cat saw a dog"};
  const std::vector<std::string> test{"the cat sat on the log"};
  const auto corpus = models::make_lstm_lm_corpus(train, test, /*chars=*/false, /*min_count=*/1);

  elm::Rng rng(1);
  models::LstmLm<float> model({corpus.vocab_size(), /*embedding_dim=*/16, /*hidden_size=*/32, /*num_layers=*/1}, rng);
  models::LstmLmTrainOptions options;
  options.batch_size = 4;
  options.seq_len = 8;
  options.steps = 200;
  options.warmup = 10;
  options.lr = 0.01;
  elm::nn::AdamW<float> optimizer({options.lr, 0.9, 0.999, 1e-8, 0.0});
  std::int64_t reports = 0;
  const auto result = models::train_lstm_lm(model, corpus.train_stream, options, optimizer,
                                            [&](const models::LstmLmProgress&) { ++reports; });
  const auto ppl = models::lstm_lm_perplexity(model, corpus);
  std::printf("vocabulary: %ld tokens, training stream: %zu ids\n", static_cast<long>(corpus.vocab_size()),
              corpus.train_stream.size());
  std::printf("steps: %lld, progress reports: %lld\n", static_cast<long long>(result.steps_done),
              static_cast<long long>(reports));
  std::printf("loss fell below half its start: %s\n", result.losses.back() < 0.5 * result.losses.front() ? "yes" : "no");
  std::printf("held-out tokens scored: %ld (6 words and </s>)\n", static_cast<long>(ppl.tokens));
  std::printf("held-out perplexity below V: %s\n", ppl.perplexity() < double(corpus.vocab_size()) ? "yes" : "no");
}
