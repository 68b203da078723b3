// docs/snippets/nn_lstm_cell.cpp
#include <cstdio>
#include <string>
#include <vector>

#include "elm/nn/lstm.hpp"
#include "elm/nn/lstm_cell.hpp"

int main() {
  namespace nn = elm::nn;
  elm::Rng rng(3);
  const elm::Index hidden = 4, batch = 2, steps = 3;
  nn::LstmCell<float> cell(hidden, hidden, rng);  // torch.nn.LSTMCell(4, 4): each input is the last output

  // A decoder's loop: step t's output h is step t + 1's input. One cache per step, for backward.
  elm::Matrix<float> x(hidden, batch);
  rng.fill_normal(x, 0.0, 1.0);
  std::vector<nn::LstmCell<float>::Cache> caches(steps);
  nn::RecurrentState<float> state = cell.zero_state(batch), next;
  for (elm::Index t = 0; t < steps; ++t) {
    cell.forward(t == 0 ? x : state.h, &state, next, &caches[std::size_t(t)]);
    state = next;
  }
  std::printf("h: %ld x %ld, c: %ld x %ld\n", static_cast<long>(state.h.rows()), static_cast<long>(state.h.cols()),
              static_cast<long>(state.c.rows()), static_cast<long>(state.c.cols()));

  // Backward, last step first, from a loss sum(h) on the last output. Step t's input was step t - 1's output,
  // so the gradient of that input adds to the gradient of that h.
  cell.zero_grad();
  nn::RecurrentState<float> dstate;
  dstate.h = elm::Matrix<float>::Ones(hidden, batch);  // dstate.c left empty: zero
  elm::Matrix<float> dx;
  for (elm::Index t = steps - 1; t >= 0; --t) {
    const nn::RecurrentState<float> dnext = dstate;
    cell.backward(caches[std::size_t(t)], dnext, dx, &dstate);
    if (t > 0) dstate.h += dx;
  }
  std::printf("dx: %ld x %ld\n", static_cast<long>(dx.rows()), static_cast<long>(dx.cols()));
  cell.for_each_parameter("cell", [](const std::string& name, nn::Parameter<float>& p) {
    std::string shape;
    for (elm::Index d : p.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    std::printf("%-16s (%s), gradient non-zero: %s\n", name.c_str(), shape.c_str(), p.grad.isZero() ? "no" : "yes");
  });

  // Each layer of an Lstm is such a cell: layer k's weight_ih_l{k} is lstm.cell(k).weight_ih().
  nn::Lstm<float> lstm(hidden, hidden, 2, rng);
  std::printf("lstm.cell(1) is an LstmCell(%ld, %ld)\n", static_cast<long>(lstm.cell(1).input_size()),
              static_cast<long>(lstm.cell(1).hidden_size()));
}
