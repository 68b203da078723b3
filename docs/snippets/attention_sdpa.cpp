// docs/snippets/attention_sdpa.cpp
#include <cmath>
#include <cstdio>

#include "elm/nn/attention.hpp"

int main() {
  using elm::Matrix;
  // One head of width D = 1, one sequence of two positions; scale 1 to keep the arithmetic visible.
  Matrix<double> q(1, 2), k(1, 2), v(1, 2);
  q << 1, 1;
  k << 0, std::log(3.0);  // scores of each query: (0, ln 3) -> softmax (1/4, 3/4)
  v << 4, 8;              // output: 4/4 + 8 * 3/4 = 7
  elm::nn::AttentionOptions<double> options;
  options.scale = 1.0;
  elm::nn::AttentionCache<double> cache;  // holds the weights, (T_k, B * H * T_q)
  Matrix<double> out;

  elm::nn::AttentionMask<double> none;
  elm::nn::scaled_dot_product_attention<double>(q, k, v, {1, 1, 2, 2}, none, out, &cache, {}, options);
  std::printf("no mask: out = (%.3f, %.3f), weights of query 0 = (%.3f, %.3f)\n", out(0, 0), out(0, 1),
              cache.weights(0, 0), cache.weights(1, 0));

  elm::nn::AttentionMask<double> causal;
  causal.causal = true;  // query i sees keys j <= i
  elm::nn::scaled_dot_product_attention<double>(q, k, v, {1, 1, 2, 2}, causal, out, &cache, {}, options);
  std::printf("causal:  out = (%.3f, %.3f), weights of query 0 = (%.3f, %.3f)\n", out(0, 0), out(0, 1),
              cache.weights(0, 0), cache.weights(1, 0));
}
