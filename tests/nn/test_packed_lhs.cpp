// SPDX-License-Identifier: MIT
// The product kernel (PackedLhs, block_product and the dense layers' products) in every variant this build and
// CPU support, against Eigen's product and against the reference path; the choice of variant; and the
// column-chunked LayerNorm and activations against per-column references on inputs large enough to be split
// into several chunks.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <string>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/attention.hpp"
#include "elm/nn/detail/matrix_vector.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/product_kernel.hpp"
#include "gradcheck.hpp"

using elm::Index;
using elm_test::MatD;
using MatF = elm::Matrix<float>;
using elm_test::random_matrix;
namespace nn = elm::nn;
using nn::ProductKernel;

namespace {

// Every kernel this build and CPU can run, one per GENERATE.
ProductKernel each_kernel() {
  const std::vector<ProductKernel> kernels = nn::supported_product_kernels();
  return GENERATE_COPY(from_range(kernels));
}

// out (+)= A B through the named kernel's tile_product (any output, including a transposed one with a bias).
template <bool Accumulate>
void tile_product_with(ProductKernel kernel, Index m, Index n, Index k, const float* a, Index lda, const float* b,
                       Index b_k_stride, Index b_j_stride, const nn::detail::TileOutput<float>& out) {
  switch (kernel) {
#if ELM_X86_KERNELS
    case ProductKernel::avx2:
      nn::detail::avx2::tile_product(m, n, k, a, lda, b, b_k_stride, b_j_stride, out, Accumulate);
      return;
    case ProductKernel::avx512:
      nn::detail::avx512::tile_product(m, n, k, a, lda, b, b_k_stride, b_j_stride, out, Accumulate);
      return;
#endif
    default: nn::detail::generic::tile_product(m, n, k, a, lda, b, b_k_stride, b_j_stride, out, Accumulate);
  }
}

// The exact product of two float matrices (in double), what the float kernels are measured against.
template <typename A, typename B>
MatD exact(const A& a, const B& b) {
  return a.template cast<double>() * b.template cast<double>();
}

template <typename Derived>
double max_abs(const Eigen::MatrixBase<Derived>& difference) {
  return difference.cwiseAbs().maxCoeff();
}

// Float products over a depth of up to 259 terms of O(1) products: within 1e-4 of the exact product's entries
// (seen: 1.5e-5; a wrong index or a missed term gives errors of order 1).
constexpr double product_tolerance = 1e-4;

}  // namespace

TEST_CASE("PackedLhs multiplies like Eigen's product, at every shape edge, in every kernel", "[nn][packed_lhs]") {
  using Packed = nn::detail::PackedLhs<float>;
  const ProductKernel kernel = each_kernel();
  nn::ScopedProductKernel scoped(kernel);
  const nn::detail::KernelLayout layout = nn::detail::kernel_layout<float>(kernel);
  elm::Rng rng(11);
  // rows below, at and past a panel; columns below, at and past a register block; depth 1, odd, and deep
  // enough for a column-major right side to be read in place (its partial last block packed)
  // (the last panel's rows filling one, two or all three of its packets)
  const Index m = GENERATE_COPY(Index(1), layout.panel_rows, layout.panel_rows + layout.panel_rows / 3 + 1,
                                3 * layout.panel_rows + 5);
  const Index n = GENERATE_COPY(Index(1), layout.block_cols, 2 * layout.block_cols + 3);
  const Index k = GENERATE_COPY(Index(1), Index(37), layout.direct_min_depth + 3);
  const MatF a = random_matrix(m, k, rng).cast<float>(), b = random_matrix(k, n, rng).cast<float>();
  const MatD expected = exact(a, b);
  MatF out;
  Packed packed(a);
  CHECK(packed.kernel() == kernel);
  packed.multiply(b, out);
  REQUIRE(out.rows() == m);
  REQUIRE(out.cols() == n);
  CHECK(max_abs(out.cast<double>() - expected) < product_tolerance);
  // transposed (row-major) operands, as the recurrent layers pass them
  const MatF at = a.transpose(), bt = b.transpose();
  Packed(at.transpose()).multiply(bt.transpose(), out);
  CHECK(max_abs(out.cast<double>() - expected) < product_tolerance);
  // packed panel by panel inside each product, as the dense layers' operands used once are
  Packed streamed;
  streamed.multiply_streamed(a, b, out);
  CHECK(max_abs(out.cast<double>() - expected) < product_tolerance);
  streamed.multiply_streamed(at.transpose(), bt.transpose(), out);
  CHECK(max_abs(out.cast<double>() - expected) < product_tolerance);
  MatF out_t = MatF::Zero(n, m);
  streamed.multiply_add_transposed_streamed(a, b, out_t);
  CHECK(max_abs(out_t.cast<double>() - expected.transpose()) < product_tolerance);
}

TEST_CASE("A left side that a PanelSource packs multiplies like Eigen's product, deep ones in slices too",
          "[nn][packed_lhs]") {
  using Packed = nn::detail::PackedLhs<float>;
  const ProductKernel kernel = each_kernel();
  nn::ScopedProductKernel scoped(kernel);
  const nn::detail::KernelLayout layout = nn::detail::kernel_layout<float>(kernel);
  elm::Rng rng(12);
  const Index m = GENERATE_COPY(Index(1), layout.panel_rows + layout.panel_rows / 3 + 1, 3 * layout.panel_rows + 5);
  const Index n = GENERATE_COPY(Index(1), 2 * layout.block_cols + 3);
  // past sliced_depth, a streamed panel is multiplied depth slice by depth slice
  const Index deep = nn::detail::generic::PackedLhsKernel<float>::sliced_depth + 517;
  const Index k = GENERATE_COPY(Index(1), Index(37), layout.direct_min_depth + 3, deep);
  const MatF a = random_matrix(m, k, rng).cast<float>(), b = random_matrix(k, n, rng).cast<float>();
  const MatD expected = exact(a, b);
  // the source copies rows of `a`, as a convolution gathers im2col's rows from an image
  const auto pack = [](const void* context, Index r0, Index count, Index depth, Index panel_rows, float* dst) {
    const MatF& rows = *static_cast<const MatF*>(context);
    for (Index kk = 0; kk < depth; ++kk)
      for (Index i = 0; i < count; ++i) dst[kk * panel_rows + i] = rows(r0 + i, kk);
  };
  const nn::detail::PanelSource<float> source{pack, &a};
  // float sums of k O(1) terms: the error grows like sqrt(k) (seen: 2e-5 at k = 4613)
  const double tolerance = k > 1000 ? 4e-4 : product_tolerance;
  Packed packed;
  MatF out = MatF::Constant(m, n, 1.0f);
  packed.multiply_add_from(source, m, k, b, out);
  CHECK(max_abs(out.cast<double>() - (expected.array() + 1.0).matrix()) < tolerance);
  MatF out_t = MatF::Zero(n, m);
  packed.multiply_add_transposed_from(source, m, k, b, out_t);
  CHECK(max_abs(out_t.cast<double>() - expected.transpose()) < tolerance);
  // and a right side packed (row-major) rather than read in place
  const MatF bt = b.transpose();
  out.setZero();
  packed.multiply_add_from(source, m, k, bt.transpose(), out);
  CHECK(max_abs(out.cast<double>() - expected) < tolerance);
}

TEST_CASE("PackedLhs adds into column blocks and transposed outputs, and survives aliasing", "[nn][packed_lhs]") {
  using Packed = nn::detail::PackedLhs<float>;
  const ProductKernel kernel = each_kernel();
  nn::ScopedProductKernel scoped(kernel);
  const nn::detail::KernelLayout layout = nn::detail::kernel_layout<float>(kernel);
  elm::Rng rng(13);
  const Index k = GENERATE_COPY(Index(29), layout.direct_min_depth + 1);
  const Index m = 2 * layout.panel_rows + 3, n = 3 * layout.block_cols + 1;
  const MatF a = random_matrix(m, k, rng).cast<float>(), b = random_matrix(k, n, rng).cast<float>();
  const MatD expected = exact(a, b);
  Packed packed(a);
  SECTION("multiply_add into whole columns of a wider matrix leaves the other columns alone") {
    const MatF start = random_matrix(m, n + 5, rng).cast<float>();
    MatF out = start;
    packed.multiply_add(b, out.middleCols(2, n));
    CHECK(max_abs(out.middleCols(2, n).cast<double>() - start.middleCols(2, n).cast<double>() - expected) < product_tolerance);
    CHECK(out.leftCols(2) == start.leftCols(2));
    CHECK(out.rightCols(3) == start.rightCols(3));
  }
  SECTION("multiply_add_streamed into a block of rows leaves the other rows alone") {
    const MatF start = random_matrix(m + 4, n, rng).cast<float>();
    MatF out = start;
    Packed streamed;
    streamed.multiply_add_streamed(a, b, out.middleRows(1, m));
    CHECK(max_abs(out.middleRows(1, m).cast<double>() - start.middleRows(1, m).cast<double>() - expected) < product_tolerance);
    CHECK(out.row(0) == start.row(0));
    CHECK(out.bottomRows(3) == start.bottomRows(3));
  }
  SECTION("multiply_add_transposed adds (A b)^T") {
    const MatF start = random_matrix(n, m, rng).cast<float>();
    MatF out_t = start;
    packed.multiply_add_transposed(b, out_t);
    CHECK(max_abs(out_t.cast<double>() - start.cast<double>() - expected.transpose()) < product_tolerance);
  }
  SECTION("multiply_transposed writes (A b)^T") {
    MatF out_t = random_matrix(3, 2, rng).cast<float>();  // resized
    packed.multiply_transposed(b, out_t);
    REQUIRE(out_t.rows() == n);
    REQUIRE(out_t.cols() == m);
    CHECK(max_abs(out_t.cast<double>() - expected.transpose()) < product_tolerance);
  }
  SECTION("the right side may be the output itself") {
    const MatF square_a = random_matrix(k, k, rng).cast<float>();
    MatF x = random_matrix(k, n, rng).cast<float>();
    const MatD want = exact(square_a, x);
    Packed(square_a).multiply(x, x);
    CHECK(max_abs(x.cast<double>() - want) < product_tolerance);
    MatF y = random_matrix(k, n, rng).cast<float>();
    const MatD want_sum = y.cast<double>() + exact(square_a, y);
    Packed(square_a).multiply_add(y, y);
    CHECK(max_abs(y.cast<double>() - want_sum) < product_tolerance);
  }
}

TEST_CASE("Streamed products pack many panels per thread, few whole, and add row sums once", "[nn][packed_lhs]") {
  using Packed = nn::detail::PackedLhs<float>;
  const ProductKernel kernel = each_kernel();
  nn::ScopedProductKernel scoped(kernel);
  const nn::detail::KernelLayout layout = nn::detail::kernel_layout<float>(kernel);
  elm::Rng rng(16);
  const Index many = (4 * elm::detail::max_threads() + 1) * layout.panel_rows + 5;
  const Index m = GENERATE_COPY(Index(3), many);
  const Index k = GENERATE_COPY(Index(17), layout.direct_min_depth + 2);
  const Index n = 2 * layout.block_cols + 1;
  const MatF a = random_matrix(m, k, rng).cast<float>(), b = random_matrix(k, n, rng).cast<float>();
  const MatD expected = exact(a, b);
  Packed packed;
  MatF row_sums = random_matrix(m, 1, rng).cast<float>();
  const MatF start = row_sums;
  MatF out_t = MatF::Zero(n, m);
  packed.multiply_add_transposed_streamed(a, b, out_t, row_sums.data());
  CHECK(max_abs(out_t.cast<double>() - expected.transpose()) < product_tolerance);
  CHECK(max_abs(row_sums.cast<double>() - start.cast<double>() - a.cast<double>().rowwise().sum()) < product_tolerance);
  // the same object for another product: the sums are added only when asked
  MatF out = MatF::Zero(m, n);
  packed.multiply_add_streamed(a, b, out);
  CHECK(max_abs(out.cast<double>() - expected) < product_tolerance);
  CHECK(max_abs(row_sums.cast<double>() - start.cast<double>() - a.cast<double>().rowwise().sum()) < product_tolerance);
  packed.multiply_add_streamed(a, b, out, row_sums.data());
  CHECK(max_abs(out.cast<double>() - 2 * expected) < product_tolerance);
  CHECK(max_abs(row_sums.cast<double>() - start.cast<double>() - 2 * a.cast<double>().rowwise().sum()) < product_tolerance);
  // a bias added to each column of the product as it is written
  const MatF bias = random_matrix(m, 1, rng).cast<float>();
  packed.multiply_streamed(a, b, out, bias.data());
  CHECK(max_abs(out.cast<double>() - (expected.colwise() + bias.col(0).cast<double>())) < product_tolerance);
}

TEST_CASE("tile_product multiplies operands in place like Eigen's product, at every shape edge", "[nn][packed_lhs]") {
  const ProductKernel kernel = each_kernel();
  const nn::detail::KernelLayout layout = nn::detail::kernel_layout<float>(kernel);
  elm::Rng rng(17);
  // rows: a partial packet alone, whole packets, a whole panel plus a partial packet; columns: below, at and
  // past a register block; depth 1 and an attention head's 64
  const Index m = GENERATE_COPY(Index(3), 2 * layout.packet_size, layout.panel_rows + layout.packet_size + 3);
  const Index n = GENERATE_COPY(Index(1), layout.block_cols, 2 * layout.block_cols + 3);
  const Index k = GENERATE(Index(1), Index(64));
  // operands inside larger matrices (leading dimensions past their sizes), B read both ways
  const MatF a_store = random_matrix(m + 5, k, rng).cast<float>();
  const MatF b_store = random_matrix(k + 2, n + 4, rng).cast<float>();
  const MatF bt_store = random_matrix(n + 3, k + 1, rng).cast<float>();
  const auto a = a_store.topRows(m);
  const auto b = b_store.block(1, 2, k, n);
  const auto bt = bt_store.topLeftCorner(n, k);  // B = bt^T, read as a row-major operand
  const MatD expected = exact(a, b), expected_t = exact(a, bt.transpose());
  const MatF start = random_matrix(m + 2, n, rng).cast<float>();
  MatF out = start;
  if (kernel != ProductKernel::reference) {
    nn::detail::TileOutput<float> dest{out.data() + 1, 1, out.outerStride()};  // rows 1 .. m of out
    tile_product_with<false>(kernel, m, n, k, a.data(), a_store.outerStride(), &b_store(1, 2), 1,
                             b_store.outerStride(), dest);
    CHECK(max_abs(out.middleRows(1, m).cast<double>() - expected) < product_tolerance);
    CHECK(out.row(0) == start.row(0));  // the rows around the output are left alone
    CHECK(out.bottomRows(1) == start.bottomRows(1));
    tile_product_with<true>(kernel, m, n, k, a.data(), a_store.outerStride(), bt.data(), bt_store.outerStride(), 1,
                            dest);
    CHECK(max_abs(out.middleRows(1, m).cast<double>() - expected - expected_t) < product_tolerance);
    // a transposed destination, and a per-row bias
    MatF out_t = MatF::Zero(n, m);
    const MatF bias = random_matrix(m, 1, rng).cast<float>();
    tile_product_with<false>(kernel, m, n, k, a.data(), a_store.outerStride(), &b_store(1, 2), 1,
                             b_store.outerStride(),
                             nn::detail::TileOutput<float>{out_t.data(), out_t.outerStride(), 1, bias.data()});
    CHECK(max_abs(out_t.cast<double>() - (expected.colwise() + bias.col(0).cast<double>()).transpose()) < product_tolerance);
  }
  // block_product, the attention layers' entry, in the kernel in force
  nn::ScopedProductKernel scoped(kernel);
  out = start;
  nn::detail::block_product<false>(a, b, out.middleRows(1, m));
  CHECK(max_abs(out.middleRows(1, m).cast<double>() - expected) < product_tolerance);
  nn::detail::block_product<true>(a, bt.transpose(), out.middleRows(1, m));
  CHECK(max_abs(out.middleRows(1, m).cast<double>() - expected - expected_t) < product_tolerance);
  CHECK(out.row(0) == start.row(0));
}

TEST_CASE("PackedLhs in float agrees with a double product", "[nn][packed_lhs]") {
  nn::ScopedProductKernel scoped(each_kernel());
  elm::Rng rng(12);
  const MatD a = random_matrix(200, 64, rng), b = random_matrix(64, 33, rng);
  const elm::Matrix<float> af = a.cast<float>(), bf = b.cast<float>();
  nn::detail::PackedLhs<float> packed(af);
  elm::Matrix<float> out;
  packed.multiply(bf, out);
  CHECK((out.cast<double>() - a * b).cwiseAbs().maxCoeff() < 1e-4);
}

TEST_CASE("matrix_vector_product serves a few columns in both orientations, at every shape edge", "[nn][packed_lhs]") {
  const ProductKernel kernel = each_kernel();
  nn::ScopedProductKernel scoped(kernel);
  const bool served =
      (kernel == ProductKernel::avx2 || kernel == ProductKernel::avx512) && !nn::detail::products_use_blas;
  elm::Rng rng(16);
  // rows below, at and past a packet and a group of four, past a block of y in L1 (4096 floats) and large
  // enough to be split among threads; depth below and past a group of four columns and a packet; 1 to 4
  // columns, and 5 (not served); the matrix a block of a larger one (a fused projection's rows)
  const Index max_columns = 4;
  for (const Index rows : {Index(1), Index(5), Index(16), Index(67), Index(4099), Index(5000)})
    for (const Index depth : {Index(1), Index(3), Index(17), Index(70)})
      for (Index n = 1; n <= max_columns + 1; ++n) {
        CAPTURE(rows, depth, n);
        const elm::Matrix<float> stored = random_matrix(rows + 3, depth + 2, rng).cast<float>();
        const elm::Matrix<float> stored_t = stored.transpose();  // the same values, each row contiguous
        const elm::Matrix<float> x = random_matrix(depth, n, rng).cast<float>();
        const elm::Matrix<float> bias = random_matrix(rows, 1, rng).cast<float>();
        const auto a = stored.block(1, 2, rows, depth);                  // column-major, outer stride rows + 3
        const auto a_t = stored_t.block(2, 1, depth, rows).transpose();  // the same matrix, rows contiguous
        const MatD want = exact(a, x);
        elm::Matrix<float> y;
        for (const bool transposed : {false, true})
          for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
            CAPTURE(transposed, b != nullptr);
            const bool done = transposed ? nn::detail::matrix_vector_product<float>(a_t, x, y, b)
                                         : nn::detail::matrix_vector_product<float>(a, x, y, b);
            REQUIRE(done == (served && n <= max_columns));
            if (!done) continue;
            MatD expected = want;
            if (b) expected.colwise() += bias.col(0).cast<double>();
            REQUIRE(y.rows() == rows);
            REQUIRE(y.cols() == n);
            CHECK(max_abs(y.cast<double>() - expected) < product_tolerance);
          }
      }
}

TEST_CASE("matrix_vector_product gives the same bits on one thread and on several", "[nn][packed_lhs]") {
  const ProductKernel kernel = each_kernel();
  nn::ScopedProductKernel scoped(kernel);
  elm::Rng rng(17);
  const elm::Matrix<float> w = random_matrix(2304 + 5, 768, rng).cast<float>();  // past the threading threshold
  const elm::Matrix<float> x = random_matrix(768, 3, rng).cast<float>();
  const elm::Matrix<float> wt = w.transpose();
  for (const bool transposed : {false, true}) {
    elm::Matrix<float> y1, y2;
    const auto product = [&](elm::Matrix<float>& y) {
      return transposed ? nn::detail::matrix_vector_product<float>(wt.transpose(), x, y, nullptr)
                        : nn::detail::matrix_vector_product<float>(w, x, y, nullptr);
    };
#if defined(_OPENMP)
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const bool done = product(y1);
    omp_set_num_threads(std::max(2, threads));
    product(y2);
    omp_set_num_threads(threads);
#else  // one thread either way: the same bits, trivially
    const bool done = product(y1);
    product(y2);
#endif
    if (!done) continue;  // not served by this kernel
    CHECK(y1 == y2);
  }
}

TEST_CASE("Linear wide enough for the packed products matches Eigen's products", "[nn][packed_lhs][linear]") {
  const ProductKernel kernel = each_kernel();
  nn::ScopedProductKernel scoped(kernel);
  elm::Rng rng(15);
  // features past four panels of the widest kernel (whole and partial), columns past 64 and not a whole
  // register block
  const Index in = 4 * 3 * 8 + 37, out = in + 61, n = 101;
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

namespace {

// Largest |a - b| over every entry, relative to b's largest entry.
double relative_difference(const elm::Matrix<float>& a, const elm::Matrix<float>& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  const double scale = std::max(1e-30, double(b.cwiseAbs().maxCoeff()));
  return double((a - b).cwiseAbs().maxCoeff()) / scale;
}

// A layer's output, input gradient and two parameter gradients after one forward and backward.
struct Results {
  elm::Matrix<float> y, dx, dw, db;
};

void check_agree(const Results& got, const Results& want) {
  constexpr double relative_tolerance = 1e-5;
  CHECK(relative_difference(got.y, want.y) < relative_tolerance);
  CHECK(relative_difference(got.dx, want.dx) < relative_tolerance);
  CHECK(relative_difference(got.dw, want.dw) < relative_tolerance);
  CHECK(relative_difference(got.db, want.db) < relative_tolerance);
}

}  // namespace

// float results of each kernel against the reference path's (Eigen's products) on GPT-sized layers: the sums
// are taken in another order, so they agree to float rounding over the depth, stated here as 1e-5 of the
// largest entry of each tensor (a depth of 768 to 3072 float products of O(1) terms).
TEST_CASE("Every kernel gives the reference path's results on the layers that use it", "[nn][packed_lhs]") {
  const ProductKernel kernel = each_kernel();
  elm::Rng rng(21);
  SECTION("Linear 768 -> 3072 and back, forward and backward") {
    nn::Linear<float> up(768, 1024, rng);
    const elm::Matrix<float> x = random_matrix(768, 130, rng).cast<float>();
    const elm::Matrix<float> dy = random_matrix(1024, 130, rng).cast<float>();
    const auto run = [&](ProductKernel k) {
      nn::ScopedProductKernel scoped(k);
      nn::Linear<float> layer = up;
      layer.zero_grad();
      nn::Linear<float>::Cache cache;
      Results r;
      layer.forward(x, r.y, &cache);
      layer.backward(cache, dy, r.dx);
      r.dw = layer.weight().grad;
      r.db = layer.bias().grad;
      return r;
    };
    check_agree(run(kernel), run(ProductKernel::reference));
  }
  SECTION("LSTM, two layers, forward and backward through time") {
    nn::Lstm<float> lstm(256, 256, 2, rng);
    const Index batch = 4, steps = 20;
    const elm::Matrix<float> x = random_matrix(256, batch * steps, rng).cast<float>();
    const elm::Matrix<float> dy = random_matrix(256, batch * steps, rng).cast<float>();
    const std::vector<Index> lengths{20, 17, 20, 3};
    const auto run = [&](ProductKernel k) {
      nn::ScopedProductKernel scoped(k);
      nn::Lstm<float> layer = lstm;
      layer.zero_grad();
      typename nn::Lstm<float>::Cache cache;
      Results r;
      layer.forward(x, lengths, r.y, &cache);
      layer.backward(cache, dy, r.dx);
      r.dw = layer.cell(0).weight_ih().grad;
      r.db = layer.cell(1).weight_hh().grad;
      return r;
    };
    check_agree(run(kernel), run(ProductKernel::reference));
  }
  SECTION("multi-head attention in both layouts, forward and backward") {
    const nn::QkvLayout layout = GENERATE(nn::QkvLayout::torch, nn::QkvLayout::gpt2);
    nn::MultiHeadAttentionConfig config;
    config.width = 384;
    config.heads = 6;
    config.layout = layout;
    nn::MultiHeadAttention<float> mha(config);
    mha.reset_parameters(rng);
    const Index batch = 2, steps = 80;
    const elm::Matrix<float> x = random_matrix(384, batch * steps, rng).cast<float>();
    const elm::Matrix<float> dy = random_matrix(384, batch * steps, rng).cast<float>();
    nn::AttentionMask<float> mask;
    mask.causal = true;
    const auto run = [&](ProductKernel k) {
      nn::ScopedProductKernel scoped(k);
      nn::MultiHeadAttention<float> layer = mha;
      layer.zero_grad();
      typename nn::MultiHeadAttention<float>::Cache cache;
      Results r;
      layer.forward(x, batch, mask, r.y, &cache);
      layer.backward(cache, dy, r.dx);
      layer.for_each_parameter("", [&](const std::string& name, nn::Parameter<float>& p) {
        if (name.find("weight") != std::string::npos && name.find("out") == std::string::npos &&
            name.find("c_proj") == std::string::npos)
          r.dw = p.grad;
        if (name.find("bias") != std::string::npos) r.db = p.grad;
      });
      return r;
    };
    check_agree(run(kernel), run(ProductKernel::reference));
  }
}

// The element-wise kernels chosen with the product kernel (LayerNorm, the tanh and exact GELUs and a softmax
// column's exponentials in float) against the reference path's Eigen expressions or the function in double, on
// a width that is not a whole number of packets (the scalar tails) and inputs from the saturated ends of tanh and
// erf to their linear middle.
TEST_CASE("Every kernel gives the reference path's LayerNorm, GELUs and softmax exponentials", "[nn][packed_lhs]") {
  const ProductKernel kernel = each_kernel();
  elm::Rng rng(22);
  const Index c = 771, n = 45;
  const elm::Matrix<float> x = random_matrix(c, n, rng, 4.0).cast<float>();
  const elm::Matrix<float> dy = random_matrix(c, n, rng).cast<float>();
  nn::LayerNorm<float> norm(c);
  rng.fill_normal(norm.weight().value, 1.0, 0.5);
  rng.fill_normal(norm.bias().value, 0.0, 0.5);
  const auto run = [&](ProductKernel k) {
    nn::ScopedProductKernel scoped(k);
    nn::LayerNorm<float> layer = norm;
    layer.zero_grad();
    nn::LayerNorm<float>::Cache cache;
    Results r;
    layer.forward(x, r.y, &cache);
    layer.backward(cache, dy, r.dx);
    r.dw = layer.weight().grad;
    r.db = layer.bias().grad;
    return r;
  };
  check_agree(run(kernel), run(ProductKernel::reference));
  for (const nn::ActivationKind kind : {nn::ActivationKind::gelu_tanh, nn::ActivationKind::gelu}) {
    INFO("activation " << static_cast<int>(kind));
    const auto gelu = [&](ProductKernel k) {
      nn::ScopedProductKernel scoped(k);
      Results r;
      nn::activation_forward<float>(kind, x, r.y);
      nn::activation_backward<float>(kind, x, dy, r.dx);
      return r;
    };
    // against the function evaluated in double on the same float inputs: each kernel within 2e-5 (float rounding
    // of a derivative up to about 1.1 times dy; on these inputs the reference path's Eigen float expression is
    // within 1.2e-5 of it)
    MatD y_exact, dx_exact;
    nn::activation_forward<double>(kind, x.cast<double>(), y_exact);
    nn::activation_backward<double>(kind, x.cast<double>(), dy.cast<double>(), dx_exact);
    const Results got = gelu(kernel);
    CHECK((got.y.cast<double>() - y_exact).cwiseAbs().maxCoeff() < 2e-5);
    CHECK((got.dx.cast<double>() - dx_exact).cwiseAbs().maxCoeff() < 2e-5);
  }
  // a softmax column's exponentials, exp(x - max), within 1e-6 relative of exp in double of the same float
  // differences (their own rounding, up to 2e-6 absolute here, moves exp by as much on every path); a hidden
  // (-inf) score gives exactly 0 on every kernel
  elm::Matrix<float> scores = x;
  scores(5, 3) = -std::numeric_limits<float>::infinity();
  for (Index j = 0; j < n; ++j) {
    nn::ScopedProductKernel scoped(kernel);
    const float shift = x.col(j).maxCoeff();
    elm::Matrix<float> e = scores;
    nn::detail::masked_exp_in_place(e.col(j), shift);
    const elm::Matrix<float> difference = (x.col(j).array() - shift).matrix();
    const Eigen::VectorXd exact = difference.cast<double>().array().exp().matrix();
    if (j == 3) {
      CHECK(e(5, 3) == 0.0f);
      e(5, 3) = float(exact(5));
    }
    CHECK(((e.col(j).cast<double>() - exact).array() / exact.array()).abs().maxCoeff() < 1e-6);
  }
}

TEST_CASE("The product kernel is chosen among those this CPU supports and can be set by name", "[nn][packed_lhs]") {
  const std::vector<ProductKernel> kernels = nn::supported_product_kernels();
  REQUIRE(kernels.size() >= 2);
  CHECK(kernels[0] == ProductKernel::reference);
  CHECK(kernels[1] == ProductKernel::generic);
  CHECK(nn::product_kernel_supported(nn::product_kernel()));
  for (ProductKernel k : kernels) CHECK(nn::parse_product_kernel(nn::product_kernel_name(k)) == k);
  REQUIRE_THROWS_MATCHES(nn::parse_product_kernel("avx9"), elm::InvalidArgument,
                         elm_test::MessageContains("expected one of reference, generic, avx2, avx512"));
  for (ProductKernel k : {ProductKernel::avx2, ProductKernel::avx512})
    if (!nn::product_kernel_supported(k))
      REQUIRE_THROWS_MATCHES(nn::set_product_kernel(k), elm::InvalidArgument,
                             elm_test::MessageContains("not supported"));
  const ProductKernel before = nn::product_kernel();
  {
    nn::ScopedProductKernel scoped(ProductKernel::reference);
    CHECK(nn::product_kernel() == ProductKernel::reference);
  }
  CHECK(nn::product_kernel() == before);
}

// The kernel's scratch belongs to its caller (a layer's cache or workspace, or a local): nothing in the neural
// headers keeps a buffer for the life of the process or of a thread.
TEST_CASE("No neural header keeps a thread_local or function-static buffer", "[nn][packed_lhs]") {
  const std::filesystem::path root = std::filesystem::path(ELM_SOURCE_DIR) / "include" / "elm" / "nn";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
    if (entry.is_regular_file()) files.push_back(entry.path());
  REQUIRE(files.size() > 20);
  // thread_local anything, or a function-local static of a type that can hold a buffer
  const std::regex forbidden(
      R"(\bthread_local\b|^\s+static\s+(std::vector|std::unique_ptr|Matrix|Vector|Buffer|PackedLhs|std::string|Eigen::))");
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file);
    REQUIRE(in);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      INFO(file.string() << ":" << number << ": " << line);
      CHECK_FALSE(std::regex_search(line, forbidden));
    }
  }
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
