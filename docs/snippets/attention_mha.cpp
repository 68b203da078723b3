// docs/snippets/attention_mha.cpp
#include <cmath>
#include <cstdio>

#include "elm/core/rng.hpp"
#include "elm/nn/kv_cache.hpp"
#include "elm/nn/multi_head_attention.hpp"

int main() {
  using elm::Matrix;
  const elm::Index C = 8, H = 2, B = 2, T = 4;
  elm::Rng rng(42);
  elm::nn::MultiHeadAttention<float> mha({C, H});  // PyTorch's parameter names and initialisation
  mha.reset_parameters(rng);

  // Two sequences side by side, one column per token: (C, B * T). The second has 3 real tokens.
  Matrix<float> x(C, B * T);
  rng.fill_normal(x, 0.0, 1.0);
  elm::nn::AttentionMask<float> mask;
  mask.causal = true;
  mask.key_lengths = {4, 3};

  Matrix<float> y, weights;
  elm::nn::MultiHeadAttention<float>::ForwardOptions options;
  options.weights = &weights;  // averaged over heads: (T_k, B * T_q), PyTorch's (B, L, S)
  mha.forward(x, B, mask, y, nullptr, {}, options);
  std::printf("y is %ldx%ld; weights of sequence 1, query 3:", long(y.rows()), long(y.cols()));
  for (elm::Index j = 0; j < T; ++j) std::printf(" %s", weights(j, T + 3) > 0 ? "+" : "0");
  std::printf("\n");

  // Decoding one position at a time with a KV cache gives the same outputs as the causal forward.
  elm::nn::AttentionMask<float> causal;
  causal.causal = true;
  mha.forward(x.leftCols(T), 1, causal, y);
  elm::nn::KvCache<float> cache(C, 1, 16);
  float worst = 0;
  for (elm::Index t = 0; t < T; ++t) {
    Matrix<float> step;
    mha.forward_incremental(x.col(t), cache, step);
    worst = std::max(worst, (step.col(0) - y.col(t)).cwiseAbs().maxCoeff());
  }
  std::printf("cached decode of %ld steps matches: %s\n", long(cache.length()), worst < 1e-5f ? "yes" : "no");
}
