// docs/snippets/attention_masks.cpp
#include <cstdio>

#include "elm/core/rng.hpp"
#include "elm/nn/kv_cache.hpp"
#include "elm/nn/multi_head_attention.hpp"

int main() {
  using elm::Matrix;
  const elm::Index C = 8, H = 2, B = 2, T = 4;
  elm::Rng rng(7);
  elm::nn::MultiHeadAttention<float> mha({C, H}, rng);

  // Two prompts left-padded to T = 4: sequence 1's two real tokens are at positions 2 and 3.
  Matrix<float> x(C, B * T);
  rng.fill_normal(x, 0.0, 1.0);
  elm::nn::AttentionMask<float> mask;
  mask.key_padding_hidden = Matrix<bool>::Zero(T, B);  // (T_k, B), PyTorch's key_padding_mask (B, S): true = padding
  mask.key_padding_hidden(0, 1) = mask.key_padding_hidden(1, 1) = true;
  // A boolean mask per sequence and head, (T_k, B * H * T_q), PyTorch's (B * H, L, S): true = not attended.
  // Here head 1 of sequence 0 hides key 3 from query 0 (column (b * H + h) * T_q + i).
  mask.hidden = Matrix<bool>::Zero(T, B * H * T);
  mask.hidden(3, (0 * H + 1) * T + 0) = true;

  Matrix<float> y, weights;
  elm::nn::MultiHeadAttention<float>::ForwardOptions options;
  options.weights = &weights;
  options.average_weights = false;  // per head: (T_k, B * H * T_q), PyTorch's (B, H, L, S)
  mha.forward(x, B, mask, y, nullptr, {}, options);
  auto print_keys = [&](const char* what, elm::Index column) {
    std::printf("%s:", what);
    for (elm::Index j = 0; j < T; ++j) std::printf(" %s", weights(j, column) > 0 ? "+" : "0");
    std::printf("\n");
  };
  print_keys("sequence 0, head 1, query 0 sees keys", (0 * H + 1) * T + 0);
  print_keys("sequence 1, head 0, query 3 sees keys", (1 * H + 0) * T + 3);

  // The padded sequence gives what its real tokens give alone.
  Matrix<float> alone;
  mha.forward(x.middleCols(T + 2, 2), 1, elm::nn::AttentionMask<float>{}, alone);
  const float worst = (alone - y.middleCols(T + 2, 2)).cwiseAbs().maxCoeff();
  std::printf("left-padded sequence 1 equals it run alone: %s\n", worst < 1e-5f ? "yes" : "no");

  // Batched generation from the padded prompts: the mask covers every cached position, T_k = length after append.
  elm::nn::KvCache<float> cache(C, B, 8);
  elm::nn::AttentionMask<float> padding;
  padding.key_padding_hidden = mask.key_padding_hidden;
  Matrix<float> out;
  mha.forward_incremental(x, cache, padding, out);  // the prompts, causally
  Matrix<float> token(C, B);
  rng.fill_normal(token, 0.0, 1.0);
  padding.key_padding_hidden.conservativeResize(T + 1, B);
  padding.key_padding_hidden.row(T).setConstant(false);  // the new token is no padding
  mha.forward_incremental(token, cache, padding, out);
  std::printf("after one step the cache holds %ld positions per sequence\n", long(cache.length()));
}
