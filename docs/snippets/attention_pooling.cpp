// docs/snippets/attention_pooling.cpp
#include <cstdio>

#include "elm/core/rng.hpp"
#include "elm/nn/attention_pooling.hpp"

int main() {
  using elm::Matrix;
  // Two sequences of T = 3 positions, C = 2 features; the second has one padding position.
  Matrix<double> x(2, 2 * 3);
  x << 1, 2, 3, 10, 20, 99,
       0, 0, 6, 1, 1, 99;
  elm::nn::AttentionPooling<double> pool(/*width C=*/2, /*hidden A=*/4);  // zero parameters: equal scores
  Matrix<double> y, a;
  pool.forward(x, {3, 2}, y, a);
  std::printf("equal scores: y = (%.1f, %.1f) and (%.1f, %.1f); a = (%.2f %.2f %.2f), (%.2f %.2f %.2f)\n",
              y(0, 0), y(1, 0), y(0, 1), y(1, 1), a(0, 0), a(1, 0), a(2, 0), a(0, 1), a(1, 1), a(2, 1));
  elm::Rng rng(1);
  pool.reset_parameters(rng);  // learned scores: still a distribution over the valid positions only
  pool.forward(x, {3, 2}, y, a);
  std::printf("after init: weights sum to %.3f and %.3f, padding weight %.1f\n", a.col(0).sum(), a.col(1).sum(),
              a(2, 1));
}
