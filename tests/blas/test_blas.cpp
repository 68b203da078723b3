// SPDX-License-Identifier: MIT
// Built as a program using elm with ELM_USE_BLAS=ON is built (EIGEN_USE_BLAS, a BLAS linked): the dense,
// recurrent and attention products must then reach the BLAS's gemm, not elm's packed kernel. The BLAS's
// sgemm_ and dgemm_ are wrapped here: each call is counted and handed to the real one (the next definition of
// the symbol, in the BLAS library).
#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <atomic>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/nn/detail/packed_lhs.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/lstm.hpp"
#include "elm/nn/multi_head_attention.hpp"

#if !defined(EIGEN_USE_BLAS)
#error "this test is built as with ELM_USE_BLAS=ON"
#endif

namespace {

std::atomic<long> gemm_calls{0};

using SgemmFn = int (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                        const int*, const float*, const int*, const float*, float*, const int*);
using DgemmFn = int (*)(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
                        const int*, const double*, const int*, const double*, double*, const int*);

template <typename Fn>
Fn next_definition(const char* name) {
  void* symbol = dlsym(RTLD_NEXT, name);
  REQUIRE(symbol != nullptr);
  return reinterpret_cast<Fn>(symbol);
}

}  // namespace

extern "C" int sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
                      const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
                      const int* ldc) {
  static const SgemmFn blas = next_definition<SgemmFn>("sgemm_");
  ++gemm_calls;
  return blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

extern "C" int dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
                      const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
                      const int* ldc) {
  static const DgemmFn blas = next_definition<DgemmFn>("dgemm_");
  ++gemm_calls;
  return blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

namespace nn = elm::nn;
using elm::Index;
using elm::Matrix;

TEST_CASE("With ELM_USE_BLAS, a GPT-sized Linear's three products are the BLAS's", "[blas]") {
  elm::Rng rng(3);
  nn::Linear<float> layer(768, 1024, rng);
  Matrix<float> x(768, 128), dy(1024, 128);
  rng.fill_normal(x, 0.0, 1.0);
  rng.fill_normal(dy, 0.0, 1.0);
  nn::Linear<float>::Cache cache;
  Matrix<float> y, dx;
  const long before = gemm_calls.load();
  layer.forward(x, y, &cache);
  CHECK(gemm_calls.load() == before + 1);
  layer.backward(cache, dy, dx);
  CHECK(gemm_calls.load() == before + 3);
  // the BLAS computed what the layer promises (spot checks against a plain sum in double)
  const auto& w = layer.weight().value;
  for (Index j : {Index(0), Index(77), Index(127)}) {
    for (Index o : {Index(0), Index(500), Index(1023)}) {
      double sum = layer.bias().value(o, 0);
      for (Index i = 0; i < 768; ++i) sum += double(w(i, o)) * double(x(i, j));
      CHECK(y(o, j) == Approx(sum).margin(1e-4));
    }
  }
}

TEST_CASE("With ELM_USE_BLAS, the packed kernel stands aside everywhere", "[blas]") {
  elm::Rng rng(4);
  Matrix<double> a(300, 300), b(300, 64);
  rng.fill_normal(a, 0.0, 1.0);
  rng.fill_normal(b, 0.0, 1.0);
  nn::detail::PackedLhs<double> packed(a);
  CHECK(packed.kernel() == nn::ProductKernel::reference);
  Matrix<double> out;
  long before = gemm_calls.load();
  packed.multiply(b, out);
  CHECK(gemm_calls.load() > before);
  CHECK((out - a * b).cwiseAbs().maxCoeff() < 1e-9);
  // a recurrent layer's steps and an attention layer's tiles reach the BLAS too
  nn::Lstm<float> lstm(256, 256, 1, rng);
  Matrix<float> x(256, 4 * 16), y;
  rng.fill_normal(x, 0.0, 1.0);
  before = gemm_calls.load();
  lstm.forward(x, std::vector<Index>(4, 16), y);
  CHECK(gemm_calls.load() >= before + 16);  // the input projections and one product per step
  nn::MultiHeadAttentionConfig config;
  config.width = 256;
  config.heads = 4;
  nn::MultiHeadAttention<float> mha(config);
  mha.reset_parameters(rng);
  Matrix<float> h(256, 2 * 200), z;
  rng.fill_normal(h, 0.0, 1.0);
  before = gemm_calls.load();
  mha.forward(h, 2, nn::AttentionMask<float>{}, z);
  CHECK(gemm_calls.load() >= before + 2 + 2 * 2 * 4);  // projections, and two products per head and sequence
}
