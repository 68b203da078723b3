// SPDX-License-Identifier: MIT
// GPT-2 with its dense layers' weights and head kept in bf16 or int8 (Gpt2::set_weight_dtype): logits close to
// float32's, KV-cached decoding equal to the full forward on every product kernel, and what is refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/nn/product_kernel.hpp"
#include "elm/nn/quantized_weights.hpp"
#include "gpt2_random.hpp"

namespace gpt2_quantized_test {

using elm::Index;
using elm::Matrix;
using elm::nn::WeightDType;

// C = 48 (one and a half int8 blocks: the padded block is exercised), F = 192, V = 97, two blocks.
inline elm::models::Gpt2<float> small_model() {
  return gpt2_test::random_model<float>(gpt2_test::config_of(97, 32, 48, 2, 4), 22);
}

inline std::vector<Index> some_ids(Index n) {
  std::vector<Index> ids;
  for (Index t = 0; t < n; ++t) ids.push_back((t * 37 + 11) % 97);
  return ids;
}

}  // namespace gpt2_quantized_test

using namespace gpt2_quantized_test;

TEST_CASE("GPT-2 with bf16 or int8 weights gives logits close to float32's", "[models][gpt2][quantized]") {
  elm::models::Gpt2<float> model = small_model();
  const std::vector<Index> ids = some_ids(12);
  Matrix<float> f32, logits;
  model.forward(ids, 1, {}, f32);
  const double spread = double(f32.cwiseAbs().maxCoeff());
  // Bounds from the weights' rounding, measured on this model and allowed about 3x: bf16 keeps 8 significant bits
  // (relative error <= 2^-8 a weight), int8 half a block's scale (max |w| / 254 of the block); through two
  // blocks and the head the logits move, relative to their largest magnitude, by 0.36 % (bf16) and 1.3 % (int8)
  // measured here, on weights of N(0, 0.1^2) noise, which give logits of order 10.
  const WeightDType dtype = GENERATE(WeightDType::bf16, WeightDType::int8);
  const double tolerance = dtype == WeightDType::bf16 ? 0.01 : 0.04;
  model.set_weight_dtype(dtype);
  CHECK(model.weight_dtype() == dtype);
  model.forward(ids, 1, {}, logits);
  const double error = double((logits - f32).cwiseAbs().maxCoeff()) / spread;
  INFO(elm::nn::weight_dtype_name(dtype) << ": max |logits - float32 logits| / max |float32 logits| = " << error);
  CHECK(error < tolerance);
  CHECK(error > 0.0);  // the weights did change: the stored copies were used
  // the same greedy choice at most positions (a near tie may flip)
  Index same = 0;
  for (Index t = 0; t < logits.cols(); ++t) {
    Index a = 0, b = 0;
    logits.col(t).maxCoeff(&a);
    f32.col(t).maxCoeff(&b);
    same += a == b;
  }
  CHECK(same >= logits.cols() - 1);
  // back to f32: exactly the float32 logits
  model.set_weight_dtype(WeightDType::f32);
  model.forward(ids, 1, {}, logits);
  CHECK(logits == f32);
}

TEST_CASE("GPT-2 with int8 or bf16 weights decodes as its full forward, on every product kernel",
          "[models][gpt2][quantized][kv-cache]") {
  const elm::nn::ProductKernel kernel = GENERATE(from_range(elm::nn::supported_product_kernels()));
  const WeightDType dtype = GENERATE(WeightDType::bf16, WeightDType::int8);
  const elm::nn::ScopedProductKernel scoped(kernel);
  INFO(elm::nn::product_kernel_name(kernel) << ", " << elm::nn::weight_dtype_name(dtype));
  elm::models::Gpt2<float> model = small_model();
  model.set_weight_dtype(dtype);
  std::vector<Index> tokens = some_ids(7);
  auto kv = model.make_kv_caches(1, 16);
  Matrix<float> logits, full;
  // the prompt (7 columns), then one token at a time (the matrix-vector kernel): both multiply by the same
  // weights with the same activations, so only float rounding differs (int8 on a CPU with AVX-512 VNNI: both
  // quantize the activations to int8 blocks alike, as they did not before decoding went through integers, when
  // they sat 1.1-1.4 % of the largest logit apart); but bf16 prompts on AMX tiles round their activations to bf16
  // where decoding does not: there the full forward's logits sit within that rounding of the decoded ones
  // (0.35-0.41 % of their largest magnitude on this model, measured), against 100 % for a wrong token or position
  const bool rounded_prompts = dtype == WeightDType::bf16 && kernel == elm::nn::ProductKernel::avx512 &&
                               elm::nn::amx_products_enabled();
  const double tolerance = rounded_prompts ? 3e-2 : 1e-5;
  model.forward_incremental(tokens, kv, logits);
  model.forward(tokens, 1, {}, full);
  const double scale = double(full.cwiseAbs().maxCoeff());
  CHECK(double((logits - full).cwiseAbs().maxCoeff()) <= 1e-5 * scale);  // both prompts: the same product
  for (int step = 0; step < 5; ++step) {
    Index next = 0;
    logits.col(logits.cols() - 1).maxCoeff(&next);
    tokens.push_back(next);
    model.forward_incremental({next}, kv, logits);
    model.forward(tokens, 1, {}, full);
    const double moved = double((logits.col(0) - full.col(full.cols() - 1)).cwiseAbs().maxCoeff());
    UNSCOPED_INFO("step " << step << ": max |decoded - full| = " << moved / scale << " of the largest logit");
    CHECK(moved <= tolerance * scale);
  }
}

TEST_CASE("GPT-2's weight dtype: what is refused", "[models][gpt2][quantized]") {
  elm::models::Gpt2<float> model = small_model();
  const std::vector<Index> ids = some_ids(6);
  std::vector<Index> targets(ids.begin() + 1, ids.end());
  targets.push_back(-100);
  model.set_weight_dtype(WeightDType::int8);
  // training needs the float32 weights
  CHECK_THROWS_MATCHES(model.loss_and_backward(ids, {6}, targets), elm::InvalidArgument,
                       Catch::Matchers::Predicate<std::exception>(
                           [](const std::exception& e) {
                             return std::string(e.what()).find("kept in int8 for inference, expected f32") !=
                                    std::string::npos;
                           },
                           "says why"));
  model.set_weight_dtype(WeightDType::f32);
  CHECK(std::isfinite(model.loss_and_backward(ids, {6}, targets)));
  // a double model keeps float64 weights
  elm::models::Gpt2<double> wide(gpt2_test::config_of(97, 32, 48, 2, 4));
  CHECK_THROWS_AS(wide.set_weight_dtype(WeightDType::bf16), elm::InvalidArgument);
  wide.set_weight_dtype(WeightDType::f32);
  // a weight that is not finite: refused, the model unchanged
  Matrix<float> before, after;
  model.forward(ids, 1, {}, before);
  model.blocks().layer(1).feed_forward().fc2().weight().value(3, 5) = std::nanf("");
  CHECK_THROWS_AS(model.set_weight_dtype(WeightDType::int8), elm::NumericalError);
  CHECK(model.weight_dtype() == WeightDType::f32);
  model.blocks().layer(1).feed_forward().fc2().weight().value(3, 5) = 0.0f;
  model.forward(ids, 1, {}, after);
  CHECK(after.allFinite());
  // an unknown dtype name
  CHECK_THROWS_AS(elm::nn::parse_weight_dtype("q4_0"), elm::InvalidArgument);
}
