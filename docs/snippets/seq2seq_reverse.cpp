// docs/snippets/seq2seq_reverse.cpp
#include <cstdio>
#include <string>
#include <vector>

#include "elm/models/beam_search.hpp"
#include "elm/models/transformer_seq2seq.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/optim/clip.hpp"
#include "elm/nn/optim/schedule.hpp"

int main() {
  namespace models = elm::models;
  using elm::Index;
  // The task: a string of 3 to 7 digits, to the same digits reversed. Tokens: <pad> 0, <bos> 1, <eos> 2, digits 3-12.
  elm::Rng rng(7);
  const auto random_digits = [&] {
    std::vector<Index> s(3 + rng.below(5));
    for (Index& id : s) id = 3 + Index(rng.below(10));
    return s;
  };
  const auto reversed = [](std::vector<Index> s) { return std::vector<Index>(s.rbegin(), s.rend()); };

  // 1) the encoder-decoder: one shared vocabulary of 13 tokens, width 32, 2 heads, 2 + 2 layers, sinusoidal positions
  models::TransformerSeq2SeqConfig config;
  config.source_vocab_size = config.target_vocab_size = 13;
  config.shared_vocabulary = true;
  config.width = 32;
  config.heads = 2;
  config.encoder_layers = config.decoder_layers = 2;
  config.intermediate = 64;
  config.dropout = 0.0;
  config.max_positions = 16;
  models::TransformerSeq2Seq<float> model(config, rng);

  // 2) teacher forcing: the decoder reads <bos> y1 .. yn and is scored on y1 .. yn <eos>; AdamW with a warmup and
  //    a cosine decay of its rate, gradients clipped (a post-norm Transformer's early steps are unstable without)
  const int steps = 1000;
  elm::nn::AdamW<float> optimizer({3e-3, 0.9, 0.98, 1e-8, 0.0});
  const auto rate = elm::nn::LrSchedule::warmup_cosine(3e-3, /*warmup=*/100, steps, /*min_lr=*/1e-4);
  const auto options = model.loss_options(/*label_smoothing=*/0.0);
  float first_loss = 0, last_loss = 0;
  for (int step = 0; step < steps; ++step) {
    std::vector<std::vector<Index>> sources, targets;
    for (int i = 0; i < 32; ++i) {
      sources.push_back(random_digits());
      targets.push_back(reversed(sources.back()));
    }
    std::vector<Index> labels;
    const models::Seq2SeqBatch batch = model.make_batch(sources, targets, labels);
    model.zero_grad();
    last_loss = model.loss_and_backward(batch, labels, options);
    if (step == 0) first_loss = last_loss;
    elm::nn::clip_grad_norm(model, 1.0);
    optimizer.set_lr(rate(step));
    optimizer.step(model);
  }

  // 3) decoding new strings: greedy, and beam search of width 4 with its 4-best lists (Hugging Face's rules)
  std::vector<std::vector<int>> tests;
  std::vector<std::vector<Index>> expected;
  for (int i = 0; i < 100; ++i) {
    const auto s = random_digits();
    tests.emplace_back(s.begin(), s.end());
    expected.push_back(reversed(s));
    expected.back().push_back(2);  // <eos>
  }
  models::BeamSearchConfig search;
  search.max_length = 10;
  const auto greedy = models::greedy(model, tests, search);
  search.num_beams = search.num_return_sequences = 4;
  const auto beams = models::beam_search(model, tests, search);
  int greedy_right = 0, beam_right = 0, sorted = 0;
  for (std::size_t i = 0; i < tests.size(); ++i) {
    greedy_right += std::vector<Index>(greedy[i].tokens.begin(), greedy[i].tokens.end()) == expected[i];
    beam_right += std::vector<Index>(beams[i][0].tokens.begin(), beams[i][0].tokens.end()) == expected[i];
    sorted += beams[i][0].score >= beams[i][1].score && beams[i][1].score >= beams[i][3].score;
  }
  std::printf("loss fell below a tenth of its start: %s\n", last_loss < 0.1f * first_loss ? "yes" : "no");
  std::printf("new strings reversed exactly, greedy: at least 95 of 100: %s\n", greedy_right >= 95 ? "yes" : "no");
  std::printf("new strings reversed exactly, beam 4: at least 95 of 100: %s\n", beam_right >= 95 ? "yes" : "no");
  std::printf("4-best lists sorted by score: %d of 100\n", sorted);
  const auto digits = [](const std::vector<int>& ids) {
    std::string text;
    for (int id : ids)
      if (id >= 3) text += char('0' + id - 3);
    return text;
  };
  std::printf("%s -> %s\n", digits(tests[0]).c_str(), digits(greedy[0].tokens).c_str());
}
