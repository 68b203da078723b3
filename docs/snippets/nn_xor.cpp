// docs/snippets/nn_xor.cpp
#include <cstdio>
#include <string>
#include <vector>

#include "elm/nn/activations.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/loss.hpp"
#include "elm/nn/optim/adamw.hpp"
#include "elm/nn/sequential.hpp"

int main() {
  namespace nn = elm::nn;
  elm::Rng rng(42);
  // Linear(2, 8) -> tanh -> Linear(8, 2): parameters "0.weight", "0.bias", "2.weight", "2.bias".
  nn::Sequential mlp(nn::Linear<float>(2, 8, rng), nn::Activation<float>(nn::ActivationKind::tanh),
                     nn::Linear<float>(8, 2, rng));
  elm::Matrix<float> x(2, 4);  // one column per example: (0,0) (0,1) (1,0) (1,1)
  x << 0, 0, 1, 1,
       0, 1, 0, 1;
  const std::vector<elm::Index> label{0, 1, 1, 0};  // XOR
  nn::AdamW<float> opt({0.05, 0.9, 0.999, 1e-8, 0.0});
  decltype(mlp)::Cache cache;
  elm::Matrix<float> logits, dlogits, dx;
  float loss = 0;
  for (int step = 0; step < 300; ++step) {
    mlp.forward(x, logits, &cache);
    loss = nn::cross_entropy<float>(logits, label, {}, &dlogits);
    mlp.zero_grad();                     // gradients accumulate: zero them first
    mlp.backward(cache, dlogits, dx);    // adds into every parameter's grad
    opt.step(mlp);
  }
  std::printf("parameters: %ld\n", static_cast<long>(nn::count_parameters(mlp)));
  std::printf("final loss below 0.01: %s\n", loss < 0.01f ? "yes" : "no");
  mlp.forward(x, logits);
  for (elm::Index n = 0; n < 4; ++n) {
    elm::Index predicted = 0;
    logits.col(n).maxCoeff(&predicted);
    std::printf("xor(%g, %g) = %ld\n", double(x(0, n)), double(x(1, n)), static_cast<long>(predicted));
  }
}
