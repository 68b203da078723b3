// docs/snippets/gpt2_autoregressive.cpp
#include <cmath>
#include <cstdio>
#include <vector>

#include "elm/core/math.hpp"
#include "elm/core/rng.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/transformer_block.hpp"

using elm::Index;
using elm::Matrix;

int main() {
  // A small GPT-2 with random weights: V = 12 tokens, context 16, C = 16, 2 blocks of 2 heads.
  elm::models::Gpt2Config config;
  config.vocab_size = 12;
  config.n_positions = 16;
  config.n_embd = 16;
  config.n_layer = 2;
  config.n_head = 2;
  elm::Rng rng(1);
  const elm::models::Gpt2<double> gpt(config, rng);
  const std::vector<Index> x{3, 1, 4, 1, 5, 9, 2, 6};

  // 1) One forward gives every conditional p(x[t+1] | x[0..t]) at once (the causal mask hides the future), so
  //    the log-probability of the sequence is a sum over one pass: log p(x[1..]) = sum_t log p(x[t+1] | x[..t]).
  Matrix<double> logits;
  gpt.forward(x, 1, {}, logits);
  double one_pass = 0.0;
  for (Index t = 0; t + 1 < Index(x.size()); ++t)
    one_pass += logits(x[std::size_t(t + 1)], t) - elm::log_sum_exp(logits.col(t));

  // 2) Generation goes the other way: one token at a time, each fed back in (here through the KV cache).
  auto kv = gpt.make_kv_caches(1, Index(x.size()));
  double token_by_token = 0.0;
  for (std::size_t t = 0; t + 1 < x.size(); ++t) {
    Matrix<double> step;
    gpt.forward_incremental({x[t]}, kv, step);
    token_by_token += step(x[t + 1], 0) - elm::log_sum_exp(step.col(0));
  }
  std::printf("log p(x) from one forward: %.6f\n", one_pass);
  std::printf("the same from token-by-token decoding: %s\n", std::abs(one_pass - token_by_token) < 1e-9 ? "yes" : "no");

  // 3) Causality: changing token 4 leaves the predictions at positions 0..3 as they were.
  std::vector<Index> changed = x;
  changed[4] = 7;
  Matrix<double> logits_changed;
  gpt.forward(changed, 1, {}, logits_changed);
  const double before = (logits_changed.leftCols(4) - logits.leftCols(4)).cwiseAbs().maxCoeff();
  const double after = (logits_changed.rightCols(4) - logits.rightCols(4)).cwiseAbs().maxCoeff();
  std::printf("GPT: positions 0..3 unchanged: %s; positions 4..7 changed: %s\n", before == 0.0 ? "yes" : "no",
              after > 0.0 ? "yes" : "no");

  // 4) A BERT encoder (TransformerConfig::bert: no causal mask) lets every position see the whole sequence:
  //    changing position 4's input changes the outputs at positions 0..3 too. Its masked-language-model head
  //    predicts a hidden token from both sides, which gives no next-token factorisation of p(x): BERT is not an
  //    autoregressive language model.
  elm::nn::TransformerEncoder<double> bert(elm::nn::TransformerConfig::bert(16, 2, 2, 64, 16));
  bert.reset_parameters(rng);
  Matrix<double> h(16, 8), y, y_changed;
  rng.fill_normal(h, 0.0, 1.0);
  bert.forward(h, 1, {}, y);
  h.col(4).setConstant(0.5);
  bert.forward(h, 1, {}, y_changed);
  std::printf("BERT: positions 0..3 changed too: %s\n",
              (y_changed.leftCols(4) - y.leftCols(4)).cwiseAbs().maxCoeff() > 0.0 ? "yes" : "no");
}
