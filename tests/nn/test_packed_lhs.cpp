// SPDX-License-Identifier: MIT
// PackedLhs (the recurrent and Linear layers' product kernel) against Eigen's product, and the column-chunked
// LayerNorm and activations against per-column references on inputs large enough to be split into several chunks.
#include <catch2/catch.hpp>

#include <cmath>

#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/detail/register_tile.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "gradcheck.hpp"

using elm::Index;
using elm_test::MatD;
using elm_test::random_matrix;

namespace nn = elm::nn;

TEST_CASE("PackedLhs multiplies like Eigen's product, at every shape edge", "[nn][packed_lhs]") {
  using Packed = nn::detail::PackedLhs<double>;
  elm::Rng rng(11);
  // rows below, at and past a panel; columns below, at and past a register block; depth 1, odd, and deep
  // enough for a column-major right side to be read in place (its partial last block packed)
  // (the last panel's rows filling one, two or all three of its packets)
  const Index m = GENERATE(Index(1), Packed::panel_rows, Packed::panel_rows + Packed::panel_rows / 3 + 1,
                           3 * Packed::panel_rows + 5);
  const Index n = GENERATE(Index(1), Index(Packed::block_cols), 2 * Index(Packed::block_cols) + 3);
  const Index k = GENERATE(Index(1), Index(37), Packed::direct_min_depth + 3);
  const MatD a = random_matrix(m, k, rng), b = random_matrix(k, n, rng);
  const MatD expected = a * b;
  MatD out;
  Packed(a).multiply(b, out);
  REQUIRE(out.rows() == m);
  REQUIRE(out.cols() == n);
  CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-12);
  // transposed (row-major) operands, as the recurrent layers pass them
  const MatD at = a.transpose(), bt = b.transpose();
  Packed(at.transpose()).multiply(bt.transpose(), out);
  CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-12);
  // packed panel by panel inside each product, as the dense layers' operands used once are; a temporary
  // expression (the transpose) is held by value, the matrix under it by reference
  Packed per_product;
  per_product.pack_per_product(a);
  per_product.multiply(b, out);
  CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-12);
  per_product.pack_per_product(at.transpose());
  per_product.multiply(bt.transpose(), out);
  CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-12);
  MatD out_t = MatD::Zero(n, m);
  per_product.multiply_add_transposed(b, out_t);
  CHECK((out_t - expected.transpose()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("PackedLhs adds into column blocks and transposed outputs, and survives aliasing", "[nn][packed_lhs]") {
  using Packed = nn::detail::PackedLhs<double>;
  elm::Rng rng(13);
  const Index k = GENERATE(Index(29), Packed::direct_min_depth + 1);
  const Index m = 2 * Packed::panel_rows + 3, n = 3 * Index(Packed::block_cols) + 1;
  const MatD a = random_matrix(m, k, rng), b = random_matrix(k, n, rng);
  const MatD expected = a * b;
  Packed packed(a);
  SECTION("multiply_add into whole columns of a wider matrix leaves the other columns alone") {
    const MatD start = random_matrix(m, n + 5, rng);
    MatD out = start;
    packed.multiply_add(b, out.middleCols(2, n));
    CHECK((out.middleCols(2, n) - start.middleCols(2, n) - expected).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(out.leftCols(2) == start.leftCols(2));
    CHECK(out.rightCols(3) == start.rightCols(3));
  }
  SECTION("multiply_add_transposed adds (A b)^T") {
    const MatD start = random_matrix(n, m, rng);
    MatD out_t = start;
    packed.multiply_add_transposed(b, out_t);
    CHECK((out_t - start - expected.transpose()).cwiseAbs().maxCoeff() < 1e-12);
  }
  SECTION("multiply_transposed writes (A b)^T") {
    MatD out_t = random_matrix(3, 2, rng);  // resized
    packed.multiply_transposed(b, out_t);
    REQUIRE(out_t.rows() == n);
    REQUIRE(out_t.cols() == m);
    CHECK((out_t - expected.transpose()).cwiseAbs().maxCoeff() < 1e-12);
  }
  SECTION("the right side may be the output itself") {
    const MatD square_a = random_matrix(k, k, rng);
    MatD x = random_matrix(k, n, rng);
    const MatD want = square_a * x;
    Packed(square_a).multiply(x, x);
    CHECK((x - want).cwiseAbs().maxCoeff() < 1e-12);
    MatD y = random_matrix(k, n, rng);
    const MatD want_sum = y + square_a * y;
    Packed(square_a).multiply_add(y, y);
    CHECK((y - want_sum).cwiseAbs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("PackedLhs packed per product streams many panels, packs few whole, and adds row sums once",
          "[nn][packed_lhs]") {
  using Packed = nn::detail::PackedLhs<double>;
  elm::Rng rng(16);
  const Index many = (4 * elm::detail::max_threads() + 1) * Packed::panel_rows + 5;
  const Index m = GENERATE_COPY(Index(3), many);
  const Index k = GENERATE(Index(17), Packed::direct_min_depth + 2);
  const Index n = 2 * Index(Packed::block_cols) + 1;
  const MatD a = random_matrix(m, k, rng), b = random_matrix(k, n, rng);
  const MatD expected = a * b;
  Packed packed;
  MatD row_sums = random_matrix(m, 1, rng);
  const MatD start = row_sums;
  packed.pack_per_product(a, row_sums.data());
  CHECK(packed.streams_panels() == (m == many || elm::detail::max_threads() == 1));
  MatD out;
  packed.multiply(b, out);
  CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((row_sums - start - a.rowwise().sum()).cwiseAbs().maxCoeff() < 1e-12);
  // a second product with the same operand gives the same result and does not add the sums again
  MatD out_t = MatD::Zero(n, m);
  packed.multiply_add_transposed(b, out_t);
  CHECK((out_t - expected.transpose()).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((row_sums - start - a.rowwise().sum()).cwiseAbs().maxCoeff() < 1e-12);
  // a bias added to each column of the product as it is written
  const MatD bias = random_matrix(m, 1, rng);
  packed.multiply(b, out, bias.data());
  CHECK((out - (expected.colwise() + bias.col(0))).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("tile_product multiplies operands in place like Eigen's product, at every shape edge", "[nn][packed_lhs]") {
  using Tile = nn::detail::RegisterTile<double>;
  elm::Rng rng(17);
  // rows: a partial packet alone, whole packets, a whole panel plus a partial packet; columns: below, at and
  // past a register block; depth 1 and an attention head's 64
  const Index m = GENERATE(Index(3), 2 * Tile::packet_size, Tile::panel_rows + Tile::packet_size + 3);
  const Index n = GENERATE(Index(1), Index(Tile::block_cols), 2 * Index(Tile::block_cols) + 3);
  const Index k = GENERATE(Index(1), Index(64));
  // operands inside larger matrices (leading dimensions past their sizes), B read both ways
  const MatD a_store = random_matrix(m + 5, k, rng), b_store = random_matrix(k + 2, n + 4, rng);
  const MatD bt_store = random_matrix(n + 3, k + 1, rng);
  const auto a = a_store.topRows(m);
  const auto b = b_store.block(1, 2, k, n);
  const auto bt = bt_store.topLeftCorner(n, k);  // B = bt^T, read as a row-major operand
  const MatD expected = a * b, expected_t = a * bt.transpose();
  const MatD start = random_matrix(m + 2, n, rng);
  MatD out = start;
  nn::detail::TileOutput<double> dest{out.data() + 1, 1, out.outerStride()};  // rows 1 .. m of out
  nn::detail::tile_product<false>(m, n, k, a.data(), a_store.outerStride(), &b_store(1, 2), 1, b_store.outerStride(),
                                  dest);
  CHECK((out.middleRows(1, m) - expected).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(out.row(0) == start.row(0));  // the rows around the output are left alone
  CHECK(out.bottomRows(1) == start.bottomRows(1));
  nn::detail::tile_product<true>(m, n, k, a.data(), a_store.outerStride(), bt.data(), bt_store.outerStride(), 1, dest);
  CHECK((out.middleRows(1, m) - expected - expected_t).cwiseAbs().maxCoeff() < 1e-12);
  // a transposed destination, and a per-row bias
  MatD out_t = MatD::Zero(n, m);
  const MatD bias = random_matrix(m, 1, rng);
  nn::detail::tile_product<false>(m, n, k, a.data(), a_store.outerStride(), &b_store(1, 2), 1, b_store.outerStride(),
                                  nn::detail::TileOutput<double>{out_t.data(), out_t.outerStride(), 1, bias.data()});
  CHECK((out_t - (expected.colwise() + bias.col(0)).transpose()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("PackedLhs in float agrees with a double product", "[nn][packed_lhs]") {
  elm::Rng rng(12);
  const MatD a = random_matrix(200, 64, rng), b = random_matrix(64, 33, rng);
  nn::detail::PackedLhs<float> packed(a.cast<float>());
  elm::Matrix<float> out;
  packed.multiply(b.cast<float>(), out);
  CHECK((out.cast<double>() - a * b).cwiseAbs().maxCoeff() < 1e-4);
}

TEST_CASE("Linear wide enough for the packed products matches Eigen's products", "[nn][packed_lhs][linear]") {
  elm::Rng rng(15);
  // features past four panels (whole and partial), columns past 64 and not a whole register block
  const Index in = 4 * nn::detail::PackedLhs<double>::panel_rows + 37, out = in + 61, n = 101;
  nn::Linear<double> layer(in, out, rng);
  const MatD x = random_matrix(in, n, rng), dy = random_matrix(out, n, rng);
  const MatD grad0 = random_matrix(in, out, rng);  // gradients are added to what is there
  const MatD bias_grad0 = random_matrix(out, 1, rng);
  layer.weight().grad = grad0;
  layer.bias().grad = bias_grad0;
  nn::Linear<double>::Cache cache;
  MatD y, dx;
  layer.forward(x, y, &cache);
  layer.backward(cache, dy, dx);
  const MatD& w = layer.weight().value;
  MatD y_ref = w.transpose() * x;
  y_ref.colwise() += layer.bias().value.col(0);
  const MatD dw_ref = grad0 + x * dy.transpose();
  const MatD dx_ref = w * dy;
  CHECK((y - y_ref).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((dx - dx_ref).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((layer.weight().grad - dw_ref).cwiseAbs().maxCoeff() < 1e-12);
  const MatD db_ref = bias_grad0 + dy.rowwise().sum();
  CHECK((layer.bias().grad - db_ref).cwiseAbs().maxCoeff() < 1e-12);
  // a frozen weight still gives its bias a gradient
  layer.weight().trainable = false;
  layer.backward(cache, dy, dx);
  CHECK((layer.weight().grad - dw_ref).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((layer.bias().grad - bias_grad0 - 2 * dy.rowwise().sum()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("LayerNorm over many column chunks matches a per-column reference", "[nn][layer_norm]") {
  elm::Rng rng(13);
  const Index c = 64, n = 3 * elm::detail::column_chunk(c) + 7;  // four chunks, the last one short
  nn::LayerNorm<double> norm(c);
  rng.fill_normal(norm.weight().value, 1.0, 0.5);
  rng.fill_normal(norm.bias().value, 0.0, 0.5);
  const MatD x = random_matrix(c, n, rng, 3.0), dy = random_matrix(c, n, rng);
  nn::LayerNorm<double>::Cache cache;
  MatD y, dx;
  norm.forward(x, y, &cache);
  norm.zero_grad();
  norm.backward(cache, dy, dx);
  const auto gamma = norm.weight().value.col(0).array();
  elm::Vector<double> dgamma = elm::Vector<double>::Zero(c), dbeta = elm::Vector<double>::Zero(c);
  double y_err = 0, dx_err = 0;
  for (Index j = 0; j < n; ++j) {
    const double mean = x.col(j).mean();
    const double rstd = 1.0 / std::sqrt((x.col(j).array() - mean).square().mean() + 1e-5);
    const elm::Vector<double> hat = (x.col(j).array() - mean) * rstd;
    const elm::Vector<double> y_ref = hat.array() * gamma + norm.bias().value.col(0).array();
    const elm::Vector<double> g = dy.col(j).array() * gamma;
    const elm::Vector<double> dx_ref = rstd * (g.array() - g.mean() - hat.array() * g.cwiseProduct(hat).mean());
    y_err = std::max(y_err, (y.col(j) - y_ref).cwiseAbs().maxCoeff());
    dx_err = std::max(dx_err, (dx.col(j) - dx_ref).cwiseAbs().maxCoeff());
    dgamma += dy.col(j).cwiseProduct(hat);
    dbeta += dy.col(j);
  }
  CHECK(y_err < 1e-12);
  CHECK(dx_err < 1e-12);
  CHECK((norm.weight().grad - dgamma).cwiseAbs().maxCoeff() < 1e-10);
  CHECK((norm.bias().grad - dbeta).cwiseAbs().maxCoeff() < 1e-10);
}

TEST_CASE("Activations over many column chunks match the element-wise definition", "[nn][activations]") {
  const nn::ActivationKind kind =
      GENERATE(nn::ActivationKind::gelu_tanh, nn::ActivationKind::gelu, nn::ActivationKind::sigmoid);
  elm::Rng rng(14);
  const Index c = 96, n = 2 * elm::detail::column_chunk(c) + 1;
  const MatD x = random_matrix(c, n, rng, 3.0), dy = random_matrix(c, n, rng);
  MatD y, dx;
  nn::activation_forward<double>(kind, x, y);
  nn::activation_backward<double>(kind, x, dy, dx);
  double y_err = 0, dx_err = 0;
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < c; ++i) {
      y_err = std::max(y_err, std::abs(y(i, j) - nn::detail::activate(kind, x(i, j))));
      dx_err = std::max(dx_err, std::abs(dx(i, j) - nn::detail::activate_derivative(kind, x(i, j)) * dy(i, j)));
    }
  CHECK(y_err < 1e-12);
  CHECK(dx_err < 1e-12);
}
