// SPDX-License-Identifier: MIT
// Rnn, Lstm and Gru: PyTorch parity with 2 layers and unequal lengths, gradient checks, masking, bad input.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "elm/nn/gru.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/rnn.hpp"
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

namespace {

// Float32 on both sides over 7 steps of 2 layers: the same 1e-5 normwise bound as the layers.
constexpr double recurrent_tolerance = 1e-5;

template <typename Net>
void check_recurrent_parity(Net& net, const Fixture& f, bool lstm) {
  net.for_each_parameter("", [&](const std::string& name, nn::Parameter<float>& p) {
    INFO(name);
    const MatF v = f.matrix(name);
    REQUIRE(v.rows() == p.value.rows());
    REQUIRE(v.cols() == p.value.cols());
    p.value = v;
  });
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
  net.forward(f.matrix("x"), lengths, y, &initial, &final_state, &cache);
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

}  // namespace

TEST_CASE("LSTM matches torch.nn.LSTM: 2 layers, batch-first, unequal lengths", "[nn][lstm][parity]") {
  Fixture f("lstm.txt");
  nn::Lstm<float> net(10, 12, 2);
  check_recurrent_parity(net, f, true);
}

TEST_CASE("GRU matches torch.nn.GRU: 2 layers, batch-first, unequal lengths", "[nn][gru][parity]") {
  Fixture f("gru.txt");
  nn::Gru<float> net(10, 12, 2);
  check_recurrent_parity(net, f, false);
}

TEST_CASE("RNN matches torch.nn.RNN: 2 layers, batch-first, unequal lengths", "[nn][rnn][parity]") {
  Fixture f("rnn.txt");
  nn::Rnn<float> net(10, 12, 2);
  check_recurrent_parity(net, f, false);
}

TEST_CASE("Recurrent gradients match central differences", "[nn][recurrent][gradcheck]") {
  const auto kind = GENERATE(nn::RecurrentKind::lstm, nn::RecurrentKind::gru, nn::RecurrentKind::rnn_tanh);
  elm::Rng rng(GENERATE(100u, 101u, 102u));
  const Index in = 3, hidden = 4, layers = 2, batch = 3, steps = 4;
  nn::detail::RecurrentNetwork<double> net(kind, in, hidden, layers, rng);
  const std::vector<Index> lengths{4, 2, 3};
  MatD x = random_matrix(in, batch * steps, rng), r = random_matrix(hidden, batch * steps, rng);
  nn::RecurrentState<double> init = net.zero_state(batch), dfin = net.zero_state(batch);
  rng.fill_normal(init.h, 0.0, 0.5);
  rng.fill_normal(dfin.h, 0.0, 1.0);
  if (kind == nn::RecurrentKind::lstm) {
    rng.fill_normal(init.c, 0.0, 0.5);
    rng.fill_normal(dfin.c, 0.0, 1.0);
  }
  // The analytic gradients come from the double network. The loss behind the central differences is evaluated
  // by the same code instantiated on long double: in double, its rounding (~1e-16 |L| / h ~ 1e-9) exceeds
  // 1e-6 of the smallest gradient entries (down to ~1e-5 here) and the check would measure noise.
  // loss = sum(r .* y) + sum(dfin .* final state); padded outputs are constant zero.
  using LD = long double;
  nn::detail::RecurrentNetwork<LD> net_ld(kind, in, hidden, layers);
  auto loss = [&] {
    std::vector<elm::Matrix<LD>*> dst;
    net_ld.for_each_parameter("", [&](const std::string&, nn::Parameter<LD>& p) { dst.push_back(&p.value); });
    std::size_t k = 0;
    net.for_each_parameter("", [&](const std::string&, nn::Parameter<double>& p) {
      *dst[k++] = p.value.cast<LD>();
    });
    nn::RecurrentState<LD> init_ld{init.h.cast<LD>(), init.c.cast<LD>()}, fin;
    elm::Matrix<LD> y;
    net_ld.forward(x.cast<LD>(), lengths, y, &init_ld, &fin);
    LD total = (y.array() * r.cast<LD>().array()).sum() + (fin.h.array() * dfin.h.cast<LD>().array()).sum();
    if (kind == nn::RecurrentKind::lstm) total += (fin.c.array() * dfin.c.cast<LD>().array()).sum();
    return total;
  };
  nn::detail::RecurrentNetwork<double>::Cache cache;
  MatD y, dx;
  nn::RecurrentState<double> fin, dinit;
  net.forward(x, lengths, y, &init, &fin, &cache);
  net.zero_grad();
  net.backward(cache, r, &dfin, dx, &dinit);
  CHECK(max_rel_error(x, dx, loss) < 1e-6);
  CHECK(max_rel_error(init.h, dinit.h, loss) < 1e-6);
  if (kind == nn::RecurrentKind::lstm) CHECK(max_rel_error(init.c, dinit.c, loss) < 1e-6);
  net.for_each_parameter("", [&](const std::string& name, nn::Parameter<double>& p) {
    INFO(name);
    CHECK(max_rel_error(p.value, p.grad, loss) < 1e-6);
  });
}

TEST_CASE("Padding neither changes the state nor leaks into other sequences", "[nn][lstm]") {
  elm::Rng rng(5);
  nn::Lstm<double> net(3, 5, 2, rng);
  const Index steps = 6;
  MatD x = random_matrix(3, 2 * steps, rng);
  MatD y;
  nn::RecurrentState<double> fin;
  net.forward(x, {6, 3}, y, nullptr, &fin);
  // Sequence 1 alone, with length 3 and no padding, gives the same outputs and final state.
  MatD y1;
  nn::RecurrentState<double> fin1;
  net.forward(x.middleCols(steps, 3), {3}, y1, nullptr, &fin1);
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
  REQUIRE_THROWS_MATCHES(net.forward(MatF::Zero(4, 10), {5, 5}, y, &bad), elm::ShapeError,
                         elm_test::MessageContains("initial h is 3x2, expected 3x4"));
  REQUIRE_THROWS_AS(nn::Gru<float>(0, 3), elm::InvalidArgument);
}
