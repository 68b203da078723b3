// SPDX-License-Identifier: MIT
// QuantizedWeights: Q8_0 and bf16 against llama.cpp's and PyTorch's conversions (tests/data/nn/
// quantized_weights.txt, from tools/make_quantized_fixtures.py), their round-trip error bounds, and every kernel
// variant this build and CPU support against the scalar reference, for decoding's few columns and a prompt's many.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/nn/product_kernel.hpp"
#include "elm/nn/quantized_weights.hpp"
#include "fixtures.hpp"

namespace quantized_test {

using elm::Index;
using elm::Matrix;
using elm::nn::ProductKernel;
using elm::nn::QuantizedWeights;
using elm::nn::WeightDType;

// The fixture's (rows, cols) weights as a (out, in) matrix: row-major values, so the fixture's Eigen (cols, rows)
// matrix transposed.
inline Matrix<float> fixture_weights(const elm_test::Fixture& f) { return f.matrix<float>("weights").transpose(); }

// Each element's bound on |kernel - reference|: both sum the same float products a(r, k) x(k, j) over depth
// terms in different orders, each sum within depth 2^-24 sum |a x| of the exact one (Higham's gamma_n bound).
inline Matrix<double> summation_bound(const Matrix<float>& a, const Matrix<float>& x) {
  const double gamma = 2.0 * double(a.cols() + 1) * std::ldexp(1.0, -24);
  return gamma * (a.cast<double>().cwiseAbs() * x.cast<double>().cwiseAbs()).array() + 1e-30;
}

// Whether a product rounds its activations (the test cases below): under the AVX-512 kernel, int8 weights on a
// CPU with VNNI (int8 activations, prompts and decoding alike), or a prompt's columns on AMX tiles (bf16 or int8).
inline bool rounded_activations(WeightDType dtype, ProductKernel kernel, Index n) {
  if (kernel != ProductKernel::avx512) return false;
  if (dtype == WeightDType::int8 && elm::nn::detail::q8_integer_product_supported()) return true;
  return n > elm::nn::detail::max_quantized_columns && elm::nn::amx_products_enabled();
}

}  // namespace quantized_test

using namespace quantized_test;

TEST_CASE("QuantizedWeights int8 gives llama.cpp's Q8_0 blocks (the gguf package's quantize)", "[quantized]") {
  const elm_test::Fixture f("quantized_weights.txt");
  const Matrix<float> w = fixture_weights(f);
  const Matrix<float> d16 = f.matrix<float>("q8_0_scales_f16").transpose();  // (rows, blocks)
  const Matrix<float> q_ref = f.matrix<float>("q8_0_values").transpose();    // (rows, 96)
  const QuantizedWeights q(w, WeightDType::int8);
  REQUIRE(q.rows() == w.rows());
  REQUIRE(q.cols() == w.cols());
  // 6 rows padded to a tile of 16, 70 columns to 3 blocks: 96 bytes and 3 float scales a row
  REQUIRE(q.bytes() == std::size_t(16 * (96 + 3 * 4)));
  const Matrix<float> back = q.dequantize();
  Index mismatches = 0;
  for (Index r = 0; r < w.rows(); ++r)
    for (Index b = 0; b < 3; ++b) {
      const float d = q.scale(r, b);
      // ggml keeps d in float16: ours, in float32, rounds to it (11 significant bits)
      CHECK(std::abs(double(d) - double(d16(r, b))) <= std::ldexp(double(d), -11));
      for (Index k = 32 * b; k < std::min<Index>(w.cols(), 32 * b + 32); ++k) {
        const long ours = d == 0.0f ? 0 : std::lround(double(back(r, k)) / double(d));
        if (ours != long(q_ref(r, k))) {
          ++mismatches;
          UNSCOPED_INFO("q(" << r << ", " << k << ") = " << ours << ", gguf " << q_ref(r, k) << ", w = " << w(r, k));
        }
      }
    }
  CHECK(mismatches == 0);
  // the hand-made row: scale exactly 1, halves rounded away from zero as C's roundf (not to even)
  CHECK(q.scale(0, 0) == 1.0f);
  CHECK(back(0, 1) == 3.0f);
  CHECK(back(0, 2) == -3.0f);
  CHECK(back(0, 3) == 1.0f);
  CHECK(back(0, 4) == -1.0f);
  CHECK(back(0, 5) == 2.0f);
  CHECK(back(0, 6) == -127.0f);
  CHECK(back(0, 7) == 64.0f);
  // a block of zeros: scale 0, every weight 0
  CHECK(q.scale(1, 0) == 0.0f);
  CHECK(back.row(1).head(32).isZero(0.0f));
}

TEST_CASE("QuantizedWeights bf16 rounds as PyTorch's float32 -> bfloat16", "[quantized]") {
  const elm_test::Fixture f("quantized_weights.txt");
  const Matrix<float> w = fixture_weights(f);
  const Matrix<float> bits = f.matrix<float>("bf16_bits").transpose();
  const QuantizedWeights q(w, WeightDType::bf16);
  REQUIRE(q.bytes() == std::size_t(16 * 96 * 2));  // padded as int8's: a tile of 16 rows, 3 blocks of 32 columns
  const Matrix<float> back = q.dequantize();
  for (Index r = 0; r < w.rows(); ++r)
    for (Index k = 0; k < w.cols(); ++k) {
      INFO("w(" << r << ", " << k << ") = " << w(r, k));
      CHECK(elm::nn::detail::float_to_bf16(w(r, k)) == std::uint16_t(bits(r, k)));
      CHECK(back(r, k) == elm::nn::detail::bf16_to_float(std::uint16_t(bits(r, k))));
    }
  // ties to even: 1 + 2^-8 -> 1, 1 + 3 2^-8 -> 1 + 2^-6
  CHECK(back(2, 0) == 1.0f);
  CHECK(back(2, 1) == 1.0f + std::ldexp(1.0f, -6));
  // a NaN stays a NaN, infinities stay
  CHECK(std::isnan(elm::nn::detail::bf16_to_float(elm::nn::detail::float_to_bf16(std::nanf("")))));
  CHECK(std::isinf(elm::nn::detail::bf16_to_float(elm::nn::detail::float_to_bf16(-HUGE_VALF))));
}

TEST_CASE("QuantizedWeights round trip: int8 within half a scale, bf16 within 2^-8 relative", "[quantized]") {
  const Index rows = GENERATE(1, 7, 33);
  const Index cols = GENERATE(1, 31, 32, 70, 100);
  elm::Rng rng(std::uint64_t(rows * 1000 + cols));
  Matrix<float> w(rows, cols);
  rng.fill_normal(w, 0.0, 0.5);
  w(0, 0) = 0.0f;
  INFO(rows << " x " << cols);
  const QuantizedWeights q8(w, WeightDType::int8);
  const Matrix<float> back8 = q8.dequantize();
  // |w - q d| <= d / 2: q = round(w (1/d)) is within 1/2 of w (1/d); the float rounding of 1/d, of the product
  // and of q d add a few ulps of w (at most 2^-20 d for |w| <= 127 d)
  for (Index r = 0; r < rows; ++r)
    for (Index k = 0; k < cols; ++k) {
      const double d = q8.scale(r, k / 32);
      CHECK(std::abs(double(w(r, k)) - double(back8(r, k))) <= d / 2 + std::ldexp(d, -20));
    }
  const QuantizedWeights b16(w, WeightDType::bf16);
  const Matrix<float> back16 = b16.dequantize();
  // rounding to 8 significant bits: within half an ulp, at most 2^-8 of |w| (the unit roundoff)
  for (Index r = 0; r < rows; ++r)
    for (Index k = 0; k < cols; ++k)
      CHECK(std::abs(double(w(r, k)) - double(back16(r, k))) <= std::ldexp(std::abs(double(w(r, k))), -8));
}

TEST_CASE("QuantizedWeights kernels equal the scalar reference", "[quantized]") {
  const WeightDType dtype = GENERATE(WeightDType::bf16, WeightDType::int8);
  // depth: less than a packet, not whole packets, whole int8 blocks; n: decoding's 1-4 columns (the
  // matrix-vector kernel) and a prompt's 9 (the packed kernel on dequantized panels)
  const Index depth = GENERATE(5, 70, 96);
  const Index n = GENERATE(1, 2, 3, 4, 9);
  const Index rows = 45, r0 = 6, count = 37;
  elm::Rng rng(std::uint64_t(depth * 10 + n));
  Matrix<float> w(rows, depth), x(depth, n), bias(count, 1);
  rng.fill_normal(w, 0.0, 1.0);
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(bias, 0.0, 1.0);
  const QuantizedWeights q(w, dtype);
  const Matrix<float> a = q.dequantize().middleRows(r0, count);
  Matrix<float> reference;
  q.multiply_with(ProductKernel::reference, x, r0, count, reference, bias.data());
  // the reference against a double-precision product with the dequantized weights
  const Matrix<double> exact = (a.cast<double>() * x.cast<double>()).colwise() + bias.col(0).cast<double>();
  const Matrix<double> bound = summation_bound(a, x).array() + std::ldexp(1.0, -23) * exact.cwiseAbs().array();
  REQUIRE(reference.rows() == count);
  REQUIRE(reference.cols() == n);
  CHECK(((reference.cast<double>() - exact).cwiseAbs().array() <= bound.array()).all());
  for (ProductKernel kernel : elm::nn::supported_product_kernels()) {
    INFO(elm::nn::weight_dtype_name(dtype) << ", kernel " << elm::nn::product_kernel_name(kernel) << ", depth "
                                           << depth << ", " << n << " columns");
    Matrix<float> y;
    q.multiply_with(kernel, x, r0, count, y, bias.data());
    REQUIRE(y.rows() == count);
    REQUIRE(y.cols() == n);
    if (rounded_activations(dtype, kernel, n)) continue;  // the test cases below
    const Matrix<double> diff = (y - reference).cast<double>().cwiseAbs();
    INFO("max |kernel - reference| = " << diff.maxCoeff());
    CHECK((diff.array() <= 2.0 * bound.array()).all());
    // without a bias, and through multiply (the kernel in force)
    elm::nn::ScopedProductKernel scoped(kernel);
    Matrix<float> y0, r0_ref;
    q.multiply(x, r0, count, y0, nullptr);
    q.multiply_with(ProductKernel::reference, x, r0, count, r0_ref, nullptr);
    CHECK(((y0 - r0_ref).cast<double>().cwiseAbs().array() <= 2.0 * bound.array()).all());
  }
}

TEST_CASE("QuantizedWeights int8 prompts through the integer product (AVX-512 VNNI)", "[quantized]") {
  if (!elm::nn::detail::q8_integer_product_supported() ||
      !elm::nn::product_kernel_supported(ProductKernel::avx512)) {
    WARN("this CPU has no AVX-512 VNNI: the integer product is not tested here");
    return;
  }
  const elm::nn::ScopedAmxProducts vnni_path(false);  // where AMX tiles would serve the prompt instead
  // depth: a partial block, whole blocks; n: one tile of columns and a partial one; rows: a panel and a half
  const Index depth = GENERATE(40, 96, 384);
  const Index n = GENERATE(5, 13);
  const Index rows = 70, r0 = 3, count = 49;
  elm::Rng rng(std::uint64_t(depth + n));
  Matrix<float> w(rows, depth), x(depth, n), bias(count, 1);
  rng.fill_normal(w, 0.0, 1.0);
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(bias, 0.0, 1.0);
  x(0, 0) = 0.0f;  // a zero, and a block of zeros (scale 0)
  x.block(0, 1, std::min<Index>(depth, 32), 1).setZero();
  const QuantizedWeights q(w, WeightDType::int8);
  INFO("depth " << depth << ", " << n << " columns");
  // 1) the activations: the vectorised quantization gives the scalar reference's bytes and scales
  elm::nn::detail::Q8Activations a, expected;
  elm::nn::detail::vnni::quantize_activations(x.data(), x.outerStride(), depth, n, a);
  elm::nn::detail::reference_quantize_activations(x.data(), x.outerStride(), depth, n, expected);
  CHECK(std::vector<std::uint8_t>(a.q.begin(), a.q.end()) ==
        std::vector<std::uint8_t>(expected.q.begin(), expected.q.end()));
  CHECK(a.d == expected.d);
  // each value within half its block's scale
  for (Index j = 0; j < n; ++j)
    for (Index k = 0; k < depth; ++k)
      REQUIRE(std::fabs(a.value(j, k) - x(k, j)) <= 0.5f * a.scales(j)[k / 32] * (1.0f + 1e-6f) + 1e-30f);
  // 2) the product against the integer arithmetic in double: float rounding of the blocks' terms only
  Matrix<float> y;
  q.multiply_with(ProductKernel::avx512, x, r0, count, y, bias.data());
  REQUIRE(y.rows() == count);
  REQUIRE(y.cols() == n);
  Matrix<double> exact, magnitude;
  elm::nn::detail::reference_q8_integer_rows(q.q8_rows(), a, r0, r0 + count, r0, bias.data(), exact, magnitude);
  const double blocks = double((depth + 31) / 32);
  const Matrix<double> bound = (3.0 * (blocks + 2.0) * std::ldexp(1.0, -24)) * magnitude.array() + 1e-30;
  const Matrix<double> diff = (y.cast<double>() - exact).cwiseAbs();
  INFO("max |kernel - integer reference| = " << diff.maxCoeff());
  CHECK((diff.array() <= bound.array()).all());
  // 3) against the float activations' product: within what the activations' rounding moves it, sum over k of
  // |a(r, k)| |x(k) - its int8 value| (plus the float products' rounding)
  Matrix<float> reference;
  q.multiply_with(ProductKernel::reference, x, r0, count, reference, bias.data());
  Matrix<double> moved(count, n);
  const Matrix<float> deq = q.dequantize().middleRows(r0, count);
  for (Index i = 0; i < count; ++i)
    for (Index j = 0; j < n; ++j) {
      double s = 0.0;
      for (Index k = 0; k < depth; ++k) s += std::fabs(double(deq(i, k))) * std::fabs(double(a.value(j, k)) - double(x(k, j)));
      moved(i, j) = s;
    }
  const Matrix<double> float_bound = moved.array() + 2.0 * bound.array() + summation_bound(deq, x).array();
  CHECK(((y - reference).cast<double>().cwiseAbs().array() <= float_bound.array()).all());
  // and in practice: the mean change is under 1 % of the mean magnitude (random signs mostly cancel)
  CHECK((y - reference).cast<double>().cwiseAbs().mean() < 0.01 * reference.cast<double>().cwiseAbs().mean());
  // 4) multiply (the kernel in force) takes the same path
  elm::nn::ScopedProductKernel scoped(ProductKernel::avx512);
  Matrix<float> again;
  q.multiply(x, r0, count, again, bias.data());
  CHECK(again == y);
}

TEST_CASE("QuantizedWeights matrix-vector product shared among threads equals the reference", "[quantized]") {
  // 600 x 768 = 460 K multiply-adds: over matrix_vector_parallel_work, split into row chunks
  const WeightDType dtype = GENERATE(WeightDType::bf16, WeightDType::int8);
  elm::Rng rng(7);
  Matrix<float> w(600, 768), x(768, 2);
  rng.fill_normal(w, 0.0, 0.02);
  rng.fill_normal(x, 0.0, 1.0);
  const QuantizedWeights q(w, dtype);
  Matrix<float> reference;
  q.multiply_with(ProductKernel::reference, x, 0, 600, reference, nullptr);
  const Matrix<double> bound = summation_bound(q.dequantize(), x);
  for (ProductKernel kernel : elm::nn::supported_product_kernels()) {
    INFO(elm::nn::weight_dtype_name(dtype) << ", kernel " << elm::nn::product_kernel_name(kernel));
    Matrix<float> y;
    q.multiply_with(kernel, x, 0, 600, y, nullptr);
    if (rounded_activations(dtype, kernel, x.cols())) {
      // int8 decoding in integers: against the integer arithmetic in double (the test case above)
      elm::nn::detail::Q8Activations a;
      elm::nn::detail::reference_quantize_activations(x.data(), x.outerStride(), 768, 2, a);
      Matrix<double> exact, magnitude;
      elm::nn::detail::reference_q8_integer_rows(q.q8_rows(), a, 0, 600, 0, nullptr, exact, magnitude);
      const Matrix<double> integer_bound = (4.0 * (24.0 + 10.0) * std::ldexp(1.0, -24)) * magnitude.array();
      CHECK(((y.cast<double>() - exact).cwiseAbs().array() <= integer_bound.array()).all());
      continue;
    }
    CHECK(((y - reference).cast<double>().cwiseAbs().array() <= 2.0 * bound.array()).all());
  }
}

TEST_CASE("QuantizedWeights refuses bad input", "[quantized]") {
  using Catch::Matchers::Contains;
  CHECK(elm::nn::parse_weight_dtype("int8") == WeightDType::int8);
  CHECK(elm::nn::parse_weight_dtype("bf16") == WeightDType::bf16);
  CHECK(elm::nn::parse_weight_dtype("f32") == WeightDType::f32);
  CHECK_THROWS_MATCHES(elm::nn::parse_weight_dtype("int4"), elm::InvalidArgument,
                       Catch::Matchers::Predicate<std::exception>(
                           [](const std::exception& e) {
                             return std::string(e.what()).find("\"int4\", expected one of f32, bf16, int8") !=
                                    std::string::npos;
                           },
                           "names the dtype and the choices"));
  CHECK_THROWS_AS(elm::nn::parse_weight_dtype(""), elm::InvalidArgument);
  Matrix<float> w = Matrix<float>::Ones(3, 40);
  CHECK_THROWS_AS(QuantizedWeights(w, WeightDType::f32), elm::InvalidArgument);
  CHECK_THROWS_AS(QuantizedWeights(Matrix<float>(0, 4), WeightDType::int8), elm::ShapeError);
  const QuantizedWeights q(w, WeightDType::int8);
  Matrix<float> y;
  CHECK_THROWS_AS(q.multiply(Matrix<float>::Ones(39, 1), 0, 3, y, nullptr), elm::ShapeError);
  CHECK_THROWS_AS(q.multiply(Matrix<float>::Ones(40, 1), 2, 2, y, nullptr), elm::ShapeError);
  CHECK_THROWS_AS(q.scale(0, 2), elm::RangeError);
  w(1, 7) = std::nanf("");
  CHECK_THROWS_AS(QuantizedWeights(w, WeightDType::bf16), elm::NumericalError);
  w(1, 7) = HUGE_VALF;
  CHECK_THROWS_AS(QuantizedWeights(w, WeightDType::int8), elm::NumericalError);
}

TEST_CASE("QuantizedWeights int8 decoding through the integer matrix-vector product (AVX-512 VNNI)",
          "[quantized]") {
  if (!elm::nn::detail::q8_integer_product_supported() ||
      !elm::nn::product_kernel_supported(ProductKernel::avx512)) {
    WARN("this CPU has no AVX-512 VNNI: the integer matrix-vector product is not tested here");
    return;
  }
  // depth: a partial block, whole blocks, many; n: decoding's 1 to 4 columns (pairs, then one); rows: windows
  // starting and ending inside a storage tile of 16 rows
  const Index depth = GENERATE(40, 96, 800);
  const Index n = GENERATE(1, 2, 3, 4);
  const auto [r0, count] = GENERATE(table<Index, Index>({{3, 49}, {0, 70}, {32, 16}, {61, 9}}));
  const Index rows = 70;
  elm::Rng rng(std::uint64_t(depth * 10 + n + r0));
  Matrix<float> w(rows, depth), x(depth, n), bias(count, 1);
  rng.fill_normal(w, 0.0, 1.0);
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(bias, 0.0, 1.0);
  x(1, 0) = 0.0f;
  x.block(0, n - 1, std::min<Index>(depth, 32), 1).setZero();  // a block of zeros (scale 0)
  const QuantizedWeights q(w, WeightDType::int8);
  REQUIRE(q.integer_decoding(ProductKernel::avx512));
  CHECK_FALSE(q.integer_decoding(ProductKernel::reference));
  INFO("depth " << depth << ", " << n << " columns, rows [" << r0 << ", " << r0 + count << ")");
  Matrix<float> y;
  q.multiply_with(ProductKernel::avx512, x, r0, count, y, bias.data());
  REQUIRE(y.rows() == count);
  REQUIRE(y.cols() == n);
  // against the integer arithmetic in double, with the activations quantized as the prompts' are
  elm::nn::detail::Q8Activations a;
  elm::nn::detail::reference_quantize_activations(x.data(), x.outerStride(), depth, n, a);
  Matrix<double> exact, magnitude;
  elm::nn::detail::reference_q8_integer_rows(q.q8_rows(), a, r0, r0 + count, r0, bias.data(), exact, magnitude);
  const double blocks = double((depth + 31) / 32);
  // each block's term rounded a few times, then up to 8 blocks x 8 lanes summed per lane and the lanes summed
  const Matrix<double> bound = (4.0 * (blocks + 10.0) * std::ldexp(1.0, -24)) * magnitude.array() + 1e-30;
  const Matrix<double> diff = (y.cast<double>() - exact).cwiseAbs();
  INFO("max |kernel - integer reference| = " << diff.maxCoeff());
  CHECK((diff.array() <= bound.array()).all());
  // without a bias; and the same integer sums as a prompt of these columns takes (float rounding apart)
  Matrix<float> unbiased;
  q.multiply_with(ProductKernel::avx512, x, r0, count, unbiased, nullptr);
  CHECK(((unbiased.cast<double>() - (exact.colwise() - bias.col(0).cast<double>())).cwiseAbs().array() <=
         bound.array() + 2.0 * std::ldexp(1.0, -24) * bias.cast<double>().cwiseAbs().replicate(1, n).array())
            .all());
}

TEST_CASE("QuantizedWeights prompts on AMX tiles: bf16 activations, and int8 as the VNNI path bit for bit",
          "[quantized][amx]") {
  if (!elm::nn::amx_products_supported()) {
    WARN("this CPU (or OS) has no AMX tiles: the tile products are not tested here");
    return;
  }
  // depth: a partial block, an odd number of blocks, many; n: within one group of 16 tokens, past one, past an
  // odd number; rows: windows starting and ending inside a storage tile of 16 rows, and an odd count of tiles
  const Index depth = GENERATE(40, 96, 800);
  const Index n = GENERATE(5, 17, 50);
  const Index rows = 90;
  const auto [r0, count] = GENERATE(table<Index, Index>({{3, 49}, {0, 90}, {16, 8}, {85, 5}, {40, 30}}));
  elm::Rng rng(std::uint64_t(depth * 100 + n + r0));
  Matrix<float> w(rows, depth), x(depth, n), bias(count, 1);
  rng.fill_normal(w, 0.0, 1.0);
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(bias, 0.0, 1.0);
  x(0, 0) = 0.0f;
  x(1, 0) = std::ldexp(1.0f, -130);  // a subnormal: the tile unit and the conversion flush it to zero
  INFO("depth " << depth << ", " << n << " columns, rows [" << r0 << ", " << r0 + count << ")");
  const elm::nn::ScopedAmxProducts tiles(true);
  {
    // bf16: the activations rounded to nearest bf16, ties to even, as float_to_bf16 (zero for the subnormal)
    const QuantizedWeights q(w, WeightDType::bf16);
    elm::nn::detail::Bf16TileActivations a;
    elm::nn::detail::amx::pack_bf16_activations(x.data(), x.outerStride(), depth, n, a);
    Matrix<double> xb(depth, n);
    Index wrong = 0;
    for (Index j = 0; j < n; ++j)
      for (Index k = 0; k < depth; ++k) {
        const float expected = std::fpclassify(x(k, j)) == FP_SUBNORMAL
                                   ? 0.0f
                                   : elm::nn::detail::bf16_to_float(elm::nn::detail::float_to_bf16(x(k, j)));
        wrong += a.value(j, k) != expected;
        xb(k, j) = double(a.value(j, k));
      }
    CHECK(wrong == 0);
    // the product: float32 accumulation of exact bf16 products, within the float summation bound of the
    // double-precision product with those activations
    Matrix<float> y;
    q.multiply_with(ProductKernel::avx512, x, r0, count, y, bias.data());
    REQUIRE(y.rows() == count);
    REQUIRE(y.cols() == n);
    const Matrix<double> deq = q.dequantize().middleRows(r0, count).cast<double>();
    const Matrix<double> exact = (deq * xb).colwise() + bias.col(0).cast<double>();
    const Matrix<double> bound =
        2.0 * double(depth + 2) * std::ldexp(1.0, -24) * ((deq.cwiseAbs() * xb.cwiseAbs()).array() +
                                                           bias.cast<double>().cwiseAbs().replicate(1, n).array()) +
        1e-30;
    const Matrix<double> diff = (y.cast<double>() - exact).cwiseAbs();
    INFO("bf16: max |tiles - exact| = " << diff.maxCoeff());
    CHECK((diff.array() <= bound.array()).all());
    // and against the float activations' reference: within the activations' rounding, 2^-8 relative
    Matrix<float> reference;
    q.multiply_with(ProductKernel::reference, x, r0, count, reference, bias.data());
    const Matrix<double> moved = std::ldexp(1.0, -8) * (deq.cwiseAbs() * x.cast<double>().cwiseAbs()).array() +
                                 2.0 * bound.array() + summation_bound(deq.cast<float>(), x).array();
    CHECK(((y - reference).cast<double>().cwiseAbs().array() <= moved.array()).all());
    // without a bias
    Matrix<float> unbiased;
    q.multiply_with(ProductKernel::avx512, x, r0, count, unbiased, nullptr);
    CHECK(((unbiased.cast<double>() - deq * xb).cwiseAbs().array() <= bound.array()).all());
  }
  {
    // int8: the same integer sums and the same float steps as the VNNI product, so the same bits
    const QuantizedWeights q(w, WeightDType::int8);
    Matrix<float> y, vnni;
    q.multiply_with(ProductKernel::avx512, x, r0, count, y, bias.data());
    {
      const elm::nn::ScopedAmxProducts off(false);
      q.multiply_with(ProductKernel::avx512, x, r0, count, vnni, bias.data());
    }
    REQUIRE(y.rows() == count);
    REQUIRE(y.cols() == n);
    CHECK(y == vnni);
    // and within float rounding of the integer arithmetic in double
    elm::nn::detail::Q8Activations a;
    elm::nn::detail::reference_quantize_activations(x.data(), x.outerStride(), depth, n, a);
    Matrix<double> exact, magnitude;
    elm::nn::detail::reference_q8_integer_rows(q.q8_rows(), a, r0, r0 + count, r0, bias.data(), exact, magnitude);
    const double blocks = double((depth + 31) / 32);
    const Matrix<double> bound = (3.0 * (blocks + 2.0) * std::ldexp(1.0, -24)) * magnitude.array() + 1e-30;
    const Matrix<double> diff = (y.cast<double>() - exact).cwiseAbs();
    INFO("int8: max |tiles - integer reference| = " << diff.maxCoeff());
    CHECK((diff.array() <= bound.array()).all());
  }
}

TEST_CASE("AMX tile products can be turned off and on", "[quantized][amx]") {
  const bool before = elm::nn::amx_products_enabled();
  {
    const elm::nn::ScopedAmxProducts off(false);
    CHECK_FALSE(elm::nn::amx_products_enabled());
  }
  CHECK(elm::nn::amx_products_enabled() == before);
  if (!elm::nn::amx_products_supported()) {
    CHECK_FALSE(before);
    CHECK_THROWS_AS(elm::nn::set_amx_products(true), elm::InvalidArgument);
  }
}
