// SPDX-License-Identifier: MIT
// Rnn, Lstm and Gru and their cells: PyTorch parity (2 layers with unequal lengths; one cell step), gradient
// checks of every cell type, masking, a cell stepped by hand against its network, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "elm/nn/gru.hpp"
#include "elm/nn/gru_cell.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/lstm_cell.hpp"
#include "elm/nn/rnn.hpp"
#include "elm/nn/rnn_cell.hpp"
#include "fixtures.hpp"
#include "gradcheck.hpp"

namespace nn = elm::nn;
using elm::Index;
using elm_test::Fixture;
using elm_test::MatD;
using elm_test::max_rel_error;
using elm_test::parity_error;
using elm_test::random_matrix;
using MatF = elm::Matrix<float>;

// Every recurrent type keeps the layer contract (a Cache, both for_each_parameter overloads, zero_grad).
static_assert(nn::is_layer_v<nn::Lstm<float>> && nn::is_layer_v<nn::Gru<double>> && nn::is_layer_v<nn::Rnn<float>>);
static_assert(nn::is_layer_v<nn::LstmCell<float>> && nn::is_layer_v<nn::GruCell<double>> &&
              nn::is_layer_v<nn::RnnCell<float>>);
static_assert(nn::has_reset_parameters_v<nn::Lstm<float>> && nn::has_reset_parameters_v<nn::GruCell<float>>);

namespace {

// Float32 on both sides over 7 steps of 2 layers: the same 1e-5 normwise bound as the layers.
constexpr double recurrent_tolerance = 1e-5;

// Loads a fixture's tensors (PyTorch's names, after `prefix`) into a network's or a cell's parameters.
template <typename Module>
void load_parameters(Module& module, const Fixture& f, const std::string& prefix = "") {
  module.for_each_parameter("", [&](const std::string& name, nn::Parameter<float>& p) {
    INFO(name);
    const MatF v = f.matrix(prefix + name);
    REQUIRE(v.rows() == p.value.rows());
    REQUIRE(v.cols() == p.value.cols());
    p.value = v;
  });
}

template <typename Net>
void check_recurrent_parity(Net& net, const Fixture& f) {
  constexpr bool lstm = Net::cell_type::has_cell_state;
  load_parameters(net, f);
  const auto lengths = f["lengths"].ids();
  nn::RecurrentState<float> initial, final_state, dfinal, dinitial;
  initial.h = f.matrix("h0");
  dfinal.h = f.matrix("dhn");
  if (lstm) {
    initial.c = f.matrix("c0");
    dfinal.c = f.matrix("dcn");
  }
  typename Net::Cache cache;
  MatF y, dx;
  net.forward(f.matrix("x"), lengths, &initial, y, &final_state, &cache);
  net.zero_grad();
  net.backward(cache, f.matrix("dy"), &dfinal, dx, &dinitial);
  CHECK(parity_error("y", y, f.matrix("y")) < recurrent_tolerance);
  CHECK(parity_error("hn", final_state.h, f.matrix("hn")) < recurrent_tolerance);
  CHECK(parity_error("dx", dx, f.matrix("dx")) < recurrent_tolerance);
  CHECK(parity_error("dh0", dinitial.h, f.matrix("dh0")) < recurrent_tolerance);
  if (lstm) {
    CHECK(parity_error("cn", final_state.c, f.matrix("cn")) < recurrent_tolerance);
    CHECK(parity_error("dc0", dinitial.c, f.matrix("dc0")) < recurrent_tolerance);
  }
  net.for_each_parameter("", [&](const std::string& name, nn::Parameter<float>& p) {
    CHECK(parity_error("d" + name, p.grad, f.matrix("d" + name)) < recurrent_tolerance);
  });
}

// One step of a cell against PyTorch's nn.LSTMCell / GRUCell / RNNCell: tensors tagged `tag.` in the fixture.
template <typename Cell>
void check_cell_parity(Cell& cell, const Fixture& f, const std::string& tag) {
  constexpr bool lstm = Cell::has_cell_state;
  const std::string p = tag + ".";
  load_parameters(cell, f, p);
  nn::RecurrentState<float> state, next, dnext, dstate;
  state.h = f.matrix(p + "h0");
  dnext.h = f.matrix(p + "dh1");
  if (lstm) {
    state.c = f.matrix(p + "c0");
    dnext.c = f.matrix(p + "dc1");
  }
  typename Cell::Cache cache;
  MatF dx;
  cell.forward(f.matrix(p + "x"), &state, next, &cache);
  cell.zero_grad();
  cell.backward(cache, dnext, dx, &dstate);
  CHECK(parity_error("h1", next.h, f.matrix(p + "h1")) < recurrent_tolerance);
  CHECK(parity_error("dx", dx, f.matrix(p + "dx")) < recurrent_tolerance);
  CHECK(parity_error("dh0", dstate.h, f.matrix(p + "dh0")) < recurrent_tolerance);
  if (lstm) {
    CHECK(parity_error("c1", next.c, f.matrix(p + "c1")) < recurrent_tolerance);
    CHECK(parity_error("dc0", dstate.c, f.matrix(p + "dc0")) < recurrent_tolerance);
  }
  cell.for_each_parameter("", [&](const std::string& name, nn::Parameter<float>& param) {
    CHECK(parity_error("d" + name, param.grad, f.matrix(p + "d" + name)) < recurrent_tolerance);
  });
}

// A random initial state and a random gradient of the final state (the c parts for a cell type with one).
void random_states(nn::RecurrentState<double>& state, nn::RecurrentState<double>& dstate, bool lstm, elm::Rng& rng) {
  rng.fill_normal(state.h, 0.0, 0.5);
  rng.fill_normal(dstate.h, 0.0, 1.0);
  if (lstm) {
    rng.fill_normal(state.c, 0.0, 0.5);
    rng.fill_normal(dstate.c, 0.0, 1.0);
  }
}

// The analytic gradients of x, the initial state and every parameter against central differences of loss.
template <typename Module, typename Loss>
void check_gradients(Module& module, MatD& x, const MatD& dx, nn::RecurrentState<double>& state,
                     const nn::RecurrentState<double>& dstate, bool lstm, const Loss& loss) {
  CHECK(max_rel_error(x, dx, loss) < 1e-6);
  CHECK(max_rel_error(state.h, dstate.h, loss) < 1e-6);
  if (lstm) CHECK(max_rel_error(state.c, dstate.c, loss) < 1e-6);
  module.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
    INFO(name);
    CHECK(max_rel_error(p.value, p.grad, loss) < 1e-6);
  });
}

// The analytic gradients come from the double network. The loss behind the central differences is evaluated
// by the same code instantiated on long double: in double, its rounding (~1e-16 |L| / h ~ 1e-9) exceeds 1e-6 of
// the smallest gradient entries (down to ~1e-5 here) and the check would measure noise.
// loss = sum(r .* y) + sum(dfin .* final state); padded outputs are constant zero.
template <template <typename> class Net, typename... Options>
void check_network_gradients(unsigned seed, const Options&... options) {
  constexpr bool lstm = Net<double>::cell_type::has_cell_state;
  elm::Rng rng(seed);
  const Index in = 3, hidden = 4, layers = 2, batch = 3, steps = 4;
  Net<double> net(in, hidden, layers, options...);
  net.reset_parameters(rng);
  const std::vector<Index> lengths{4, 2, 3};
  MatD x = random_matrix(in, batch * steps, rng), r = random_matrix(hidden, batch * steps, rng);
  nn::RecurrentState<double> init = net.zero_state(batch), dfin = net.zero_state(batch);
  random_states(init, dfin, lstm, rng);
  using LD = long double;
  Net<LD> net_ld(in, hidden, layers, options...);
  auto loss = [&] {
    elm_test::copy_parameters(net, net_ld);
    nn::RecurrentState<LD> init_ld{init.h.cast<LD>(), init.c.cast<LD>()}, fin;
    elm::Matrix<LD> y;
    net_ld.forward(x.cast<LD>(), lengths, &init_ld, y, &fin);
    LD total = (y.array() * r.cast<LD>().array()).sum() + (fin.h.array() * dfin.h.cast<LD>().array()).sum();
    if (lstm) total += (fin.c.array() * dfin.c.cast<LD>().array()).sum();
    return total;
  };
  typename Net<double>::Cache cache;
  MatD y, dx;
  nn::RecurrentState<double> fin, dinit;
  net.forward(x, lengths, &init, y, &fin, &cache);
  net.zero_grad();
  net.backward(cache, r, &dfin, dx, &dinit);
  check_gradients(net, x, dx, init, dinit, lstm, loss);
}

// One step of a cell: loss = sum(dnext.h .* h') + sum(dnext.c .* c'), differences in long double as above.
template <template <typename> class Cell, typename... Options>
void check_cell_gradients(unsigned seed, const Options&... options) {
  constexpr bool lstm = Cell<double>::has_cell_state;
  elm::Rng rng(seed);
  const Index in = 3, hidden = 4, batch = 3;
  Cell<double> cell(in, hidden, options...);
  cell.reset_parameters(rng);
  MatD x = random_matrix(in, batch, rng);
  nn::RecurrentState<double> state = cell.zero_state(batch), dnext = cell.zero_state(batch);
  random_states(state, dnext, lstm, rng);
  using LD = long double;
  Cell<LD> cell_ld(in, hidden, options...);
  auto loss = [&] {
    elm_test::copy_parameters(cell, cell_ld);
    nn::RecurrentState<LD> state_ld{state.h.cast<LD>(), state.c.cast<LD>()}, next;
    cell_ld.forward(x.cast<LD>(), &state_ld, next);
    LD total = (next.h.array() * dnext.h.cast<LD>().array()).sum();
    if (lstm) total += (next.c.array() * dnext.c.cast<LD>().array()).sum();
    return total;
  };
  typename Cell<double>::Cache cache;
  nn::RecurrentState<double> next, dstate;
  MatD dx;
  cell.forward(x, &state, next, &cache);
  cell.zero_grad();
  cell.backward(cache, dnext, dx, &dstate);
  check_gradients(cell, x, dx, state, dstate, lstm, loss);
}

}  // namespace

TEST_CASE("LSTM matches torch.nn.LSTM: 2 layers, batch-first, unequal lengths", "[nn][lstm][parity]") {
  Fixture f("lstm.txt");
  nn::Lstm<float> net(10, 12, 2);
  check_recurrent_parity(net, f);
}

TEST_CASE("GRU matches torch.nn.GRU: 2 layers, batch-first, unequal lengths", "[nn][gru][parity]") {
  Fixture f("gru.txt");
  nn::Gru<float> net(10, 12, 2);
  check_recurrent_parity(net, f);
}

TEST_CASE("RNN matches torch.nn.RNN: 2 layers, batch-first, unequal lengths", "[nn][rnn][parity]") {
  Fixture f("rnn.txt");
  nn::Rnn<float> net(10, 12, 2);
  check_recurrent_parity(net, f);
}

TEST_CASE("ReLU RNN matches torch.nn.RNN(nonlinearity='relu'): 2 layers, unequal lengths", "[nn][rnn][parity]") {
  Fixture f("rnn_relu.txt");
  nn::Rnn<float> net(10, 12, 2, nn::RnnNonlinearity::relu);
  check_recurrent_parity(net, f);
}

TEST_CASE("One cell step matches torch.nn.LSTMCell, GRUCell and RNNCell", "[nn][recurrent][cell][parity]") {
  Fixture f("recurrent_cells.txt");
  SECTION("LSTMCell") {
    nn::LstmCell<float> cell(6, 7);
    check_cell_parity(cell, f, "lstm_cell");
  }
  SECTION("GRUCell") {
    nn::GruCell<float> cell(6, 7);
    check_cell_parity(cell, f, "gru_cell");
  }
  SECTION("RNNCell, tanh") {
    nn::RnnCell<float> cell(6, 7);
    check_cell_parity(cell, f, "rnn_cell");
  }
  SECTION("RNNCell, relu") {
    nn::RnnCell<float> cell(6, 7, nn::RnnNonlinearity::relu);
    check_cell_parity(cell, f, "rnn_relu_cell");
  }
}

TEST_CASE("Recurrent networks' gradients match central differences", "[nn][recurrent][gradcheck]") {
  const unsigned seed = GENERATE(100u, 101u, 102u);
  SECTION("LSTM") { check_network_gradients<nn::Lstm>(seed); }
  SECTION("GRU") { check_network_gradients<nn::Gru>(seed); }
  SECTION("RNN, tanh") { check_network_gradients<nn::Rnn>(seed, nn::RnnNonlinearity::tanh); }
  SECTION("RNN, relu") { check_network_gradients<nn::Rnn>(seed, nn::RnnNonlinearity::relu); }
}

TEST_CASE("Recurrent cells' gradients match central differences", "[nn][recurrent][cell][gradcheck]") {
  const unsigned seed = GENERATE(200u, 201u);
  SECTION("LstmCell") { check_cell_gradients<nn::LstmCell>(seed); }
  SECTION("GruCell") { check_cell_gradients<nn::GruCell>(seed); }
  SECTION("RnnCell, tanh") { check_cell_gradients<nn::RnnCell>(seed, nn::RnnNonlinearity::tanh); }
  SECTION("RnnCell, relu") { check_cell_gradients<nn::RnnCell>(seed, nn::RnnNonlinearity::relu); }
}

TEST_CASE("A cell stepped by hand gives its one-layer network's outputs, states and gradients", "[nn][lstm][cell]") {
  elm::Rng rng(9);
  const Index in = 3, hidden = 5, batch = 2, steps = 4;
  nn::Lstm<double> net(in, hidden, 1, rng);
  nn::LstmCell<double> cell = net.cell(0);  // the same tensors
  const MatD x = random_matrix(in, batch * steps, rng), dy = random_matrix(hidden, batch * steps, rng);
  nn::Lstm<double>::Cache net_cache;
  MatD y, dx;
  nn::RecurrentState<double> fin;
  net.forward(x, {steps, steps}, nullptr, y, &fin, &net_cache);
  net.zero_grad();
  net.backward(net_cache, dy, dx);
  // by hand: step t reads column b T + t of every sequence b
  std::vector<nn::LstmCell<double>::Cache> caches(steps);
  std::vector<nn::RecurrentState<double>> states(steps + 1);
  states[0] = cell.zero_state(batch);
  for (Index t = 0; t < steps; ++t) {
    MatD x_t(in, batch);
    for (Index b = 0; b < batch; ++b) x_t.col(b) = x.col(b * steps + t);
    cell.forward(x_t, &states[std::size_t(t)], states[std::size_t(t + 1)], &caches[std::size_t(t)]);
    for (Index b = 0; b < batch; ++b)
      CHECK((states[std::size_t(t + 1)].h.col(b) - y.col(b * steps + t)).cwiseAbs().maxCoeff() < 1e-14);
  }
  CHECK((states[std::size_t(steps)].c - fin.c).cwiseAbs().maxCoeff() < 1e-14);
  cell.zero_grad();
  nn::RecurrentState<double> dstate = cell.zero_state(batch);
  for (Index t = steps - 1; t >= 0; --t) {
    for (Index b = 0; b < batch; ++b) dstate.h.col(b) += dy.col(b * steps + t);
    MatD dx_t;
    cell.backward(caches[std::size_t(t)], nn::RecurrentState<double>(dstate), dx_t, &dstate);
    for (Index b = 0; b < batch; ++b) CHECK((dx_t.col(b) - dx.col(b * steps + t)).cwiseAbs().maxCoeff() < 1e-13);
  }
  CHECK((cell.weight_ih().grad - net.cell(0).weight_ih().grad).cwiseAbs().maxCoeff() < 1e-13);
  CHECK((cell.weight_hh().grad - net.cell(0).weight_hh().grad).cwiseAbs().maxCoeff() < 1e-13);
  CHECK((cell.bias_hh().grad - net.cell(0).bias_hh().grad).cwiseAbs().maxCoeff() < 1e-13);
}

TEST_CASE("One initialisation: the Rng constructors are reset_parameters, PyTorch's U(-1/sqrt(H), 1/sqrt(H))",
          "[nn][recurrent][contract]") {
  elm::Rng a(4), b(4), c(4);
  const nn::Gru<double> constructed(3, 5, 2, a);
  nn::Gru<double> reset(3, 5, 2);
  reset.reset_parameters(b);
  // a stack draws layer by layer, each cell its four tensors in order: the first cell draws as a GruCell would
  const nn::GruCell<double> cell(3, 5, c);
  std::vector<MatD> values;
  reset.for_each_parameter("", [&](const std::string&, const nn::Parameter<double>& p) { values.push_back(p.value); });
  std::size_t k = 0;
  constructed.for_each_parameter("", [&](const std::string& name, const nn::Parameter<double>& p) {
    INFO(name);
    CHECK(p.value == values.at(k++));
    CHECK(p.value.cwiseAbs().maxCoeff() < 1.0 / std::sqrt(5.0));
    CHECK(p.value.cwiseAbs().maxCoeff() > 0.0);
  });
  CHECK(cell.weight_ih().value == constructed.cell(0).weight_ih().value);
  CHECK(cell.bias_hh().value == constructed.cell(0).bias_hh().value);
}

TEST_CASE("Padding neither changes the state nor leaks into other sequences", "[nn][lstm]") {
  elm::Rng rng(5);
  nn::Lstm<double> net(3, 5, 2, rng);
  const Index steps = 6;
  MatD x = random_matrix(3, 2 * steps, rng);
  MatD y;
  nn::RecurrentState<double> fin;
  net.forward(x, {6, 3}, nullptr, y, &fin);
  // Sequence 1 alone, with length 3 and no padding, gives the same outputs and final state.
  MatD y1;
  nn::RecurrentState<double> fin1;
  net.forward(x.middleCols(steps, 3), {3}, nullptr, y1, &fin1);
  CHECK((y.middleCols(steps, 3) - y1).cwiseAbs().maxCoeff() < 1e-14);
  CHECK(y.middleCols(steps + 3, 3).isZero());
  CHECK((fin.h.col(3) - fin1.h.col(1)).cwiseAbs().maxCoeff() < 1e-14);  // top layer: column L B + b = 1 * 2 + 1
  // Changing padded inputs changes nothing.
  MatD x2 = x;
  x2.middleCols(steps + 3, 3).setConstant(100.0);
  MatD y2;
  net.forward(x2, {6, 3}, y2);
  CHECK(y2 == y);
}

TEST_CASE("Recurrent layers reject bad shapes and lengths", "[nn][recurrent][bad-input]") {
  nn::Lstm<float> net(4, 3, 2);
  MatF y;
  REQUIRE_THROWS_MATCHES(net.forward(MatF::Zero(4, 10), {5, 6}, y), elm::RangeError,
                         elm_test::MessageContains("sequence length 6 is out of range, expected 0 <= length <= T = 5"));
  REQUIRE_THROWS_MATCHES(net.forward(MatF::Zero(5, 10), {5, 5}, y), elm::ShapeError,
                         elm_test::MessageContains("elm::nn::Lstm::forward: x is 5x10, expected 4xany"));
  REQUIRE_THROWS_MATCHES(net.forward(MatF::Zero(4, 10), {5, 5, 5}, y), elm::ShapeError,
                         elm_test::MessageContains("expected B T with B = 3"));
  nn::RecurrentState<float> bad;
  bad.h = MatF::Zero(3, 2);  // one layer's worth instead of two
  bad.c = MatF::Zero(3, 4);
  REQUIRE_THROWS_MATCHES(net.forward(MatF::Zero(4, 10), {5, 5}, &bad, y, nullptr), elm::ShapeError,
                         elm_test::MessageContains("initial h is 3x2, expected 3x4"));
  REQUIRE_THROWS_AS(nn::Gru<float>(0, 3), elm::InvalidArgument);
  nn::Lstm<float>::Cache empty;
  MatF dx;
  REQUIRE_THROWS_MATCHES(net.backward(empty, MatF(), dx), elm::InvalidArgument,
                         elm_test::MessageContains("elm::nn::Lstm::backward: the cache holds 0 layers, expected 2"));
}

TEST_CASE("Recurrent cells reject bad shapes", "[nn][recurrent][cell][bad-input]") {
  nn::GruCell<float> cell(4, 3);
  nn::RecurrentState<float> next;
  REQUIRE_THROWS_MATCHES(cell.forward(MatF::Zero(5, 2), nullptr, next), elm::ShapeError,
                         elm_test::MessageContains("elm::nn::GruCell::forward: x is 5x2, expected 4xany"));
  nn::RecurrentState<float> state;
  state.h = MatF::Zero(3, 3);
  REQUIRE_THROWS_MATCHES(cell.forward(MatF::Zero(4, 2), &state, next), elm::ShapeError,
                         elm_test::MessageContains("state h is 3x3, expected 3x2"));
  nn::LstmCell<float> lstm(4, 3);
  state.h = MatF::Zero(3, 2);
  state.c = MatF::Zero(2, 2);
  REQUIRE_THROWS_MATCHES(lstm.forward(MatF::Zero(4, 2), &state, next), elm::ShapeError,
                         elm_test::MessageContains("elm::nn::LstmCell::forward: state c is 2x2, expected 3x2"));
  nn::LstmCell<float>::Cache cache;
  lstm.forward(MatF::Zero(4, 2), nullptr, next, &cache);
  nn::RecurrentState<float> dnext;
  dnext.h = MatF::Zero(3, 5);
  MatF dx;
  REQUIRE_THROWS_MATCHES(lstm.backward(cache, dnext, dx), elm::ShapeError,
                         elm_test::MessageContains("elm::nn::LstmCell::backward: dnext h is 3x5, expected 3x2"));
  REQUIRE_THROWS_MATCHES(lstm.backward(nn::LstmCell<float>::Cache{}, dnext, dx), elm::InvalidArgument,
                         elm_test::MessageContains("expected the cache filled by forward"));
  REQUIRE_THROWS_AS(nn::RnnCell<float>(3, 0), elm::InvalidArgument);
}
