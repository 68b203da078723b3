// SPDX-License-Identifier: MIT
// Uses the umbrella header as a user would, and a few pieces of the library.
#include <elm/elm.hpp>

#include <cstdio>

int main() {
  elm::Rng rng(42);
  elm::Matrix<float> logits(3, 1);
  logits << 1.0f, 2.0f, 3.0f;
  elm::Matrix<float> probs;
  elm::softmax_columns<float>(logits, probs);
  std::printf("elm %s: softmax(1, 2, 3) = %.4f %.4f %.4f; first normal draw %.6f\n", elm::version_string,
              static_cast<double>(probs(0)), static_cast<double>(probs(1)), static_cast<double>(probs(2)), rng.normal());
  return 0;
}
