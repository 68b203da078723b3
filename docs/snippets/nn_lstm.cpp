// docs/snippets/nn_lstm.cpp
#include <cstdio>
#include <string>
#include <vector>

#include "elm/nn/lstm.hpp"

int main() {
  namespace nn = elm::nn;
  elm::Rng rng(1);
  const elm::Index input = 3, hidden = 4, layers = 2, batch = 2, steps = 5;
  nn::Lstm<float> lstm(input, hidden, layers, rng);  // torch.nn.LSTM(3, 4, num_layers=2, batch_first=True)

  // Batch-first: sequence b's step t is column b * T + t. Sequence 1 has 3 real steps and 2 of padding.
  elm::Matrix<float> x(input, batch * steps);
  rng.fill_normal(x, 0.0, 1.0);
  const std::vector<elm::Index> lengths{5, 3};

  elm::Matrix<float> y;                    // every step's top-layer output (return_sequences=True)
  nn::RecurrentState<float> final_state;   // h_n, c_n of every layer (column l * B + b)
  nn::Lstm<float>::Cache cache;
  lstm.forward(x, lengths, nullptr, y, &final_state, &cache);
  std::printf("y: %ld x %ld, h_n: %ld x %ld\n", static_cast<long>(y.rows()), static_cast<long>(y.cols()),
              static_cast<long>(final_state.h.rows()), static_cast<long>(final_state.h.cols()));

  // return_sequences=False: the top layer's h_n, which is the output at each sequence's last real step.
  const elm::Matrix<float> last = final_state.h.rightCols(batch);
  std::printf("h_n equals y at step length - 1: %s, %s\n", last.col(0) == y.col(0 * steps + 4) ? "yes" : "no",
              last.col(1) == y.col(1 * steps + 2) ? "yes" : "no");
  std::printf("padding outputs are zero: %s\n", y.middleCols(1 * steps + 3, 2).isZero() ? "yes" : "no");

  // Backward through time from a gradient of the outputs: writes dx, adds into the parameter gradients.
  elm::Matrix<float> dx;
  lstm.zero_grad();
  lstm.backward(cache, elm::Matrix<float>::Ones(hidden, batch * steps), dx);
  lstm.for_each_parameter("lstm", [](const std::string& name, nn::Parameter<float>& p) {
    std::string shape;
    for (elm::Index d : p.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    std::printf("%-20s (%s)\n", name.c_str(), shape.c_str());
  });
}
