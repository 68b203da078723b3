// SPDX-License-Identifier: MIT
// The vector operations the product kernel is written in, once for the instruction set the user's flags allow
// (Eigen's packets) and, on x86-64 with GCC or Clang, once each for AVX2 + FMA and AVX-512 in regions compiled
// for those instruction sets, whatever the user's flags: a plain Release build then runs the wide kernels on a
// CPU that has them (chosen at run time, see elm/nn/product_kernel.hpp).
#pragma once

#include <cstdint>

#include <Eigen/Core>

#include "elm/core/types.hpp"

// Asks the compiler to unroll the next loop completely (its trip count is a compile-time constant), or 4 times.
#if defined(__clang__)
#define ELM_UNROLL _Pragma("unroll")
#define ELM_UNROLL_4 _Pragma("unroll 4")
#elif defined(__GNUC__)
#define ELM_UNROLL _Pragma("GCC unroll 16")
#define ELM_UNROLL_4 _Pragma("GCC unroll 4")
#else
#define ELM_UNROLL
#define ELM_UNROLL_4
#endif

// The AVX2 and AVX-512 kernels exist where the compiler can compile a region for an instruction set that the
// rest of the program is not compiled for, and the CPU can be asked at run time what it has.
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(ELM_NO_RUNTIME_DISPATCH)
#define ELM_X86_KERNELS 1
#include <immintrin.h>
#else
#define ELM_X86_KERNELS 0
#endif

namespace elm::nn::detail {

/// Where a product goes: element (r, c) at data[r * row_stride + c * col_stride], plus row_bias[r] if set.
/// Either row_stride or col_stride is 1 (a column-major output or a transposed one).
template <typename Scalar>
struct TileOutput {
  Scalar* data;
  Index row_stride, col_stride;
  const Scalar* row_bias = nullptr;
};

/// A read-only operand as the kernel sees it: element (r, c) at data[r * row_stride + c * col_stride]
/// (column-major: row_stride 1; a transpose or a row-major matrix: col_stride 1).
template <typename Scalar>
struct StridedView {
  const Scalar* data;
  Index row_stride, col_stride;
};

/// A left operand that the kernel does not read in memory but asks for, panel by panel: pack(context, r0, count,
/// depth, panel_rows, dst) writes rows [r0, r0 + count) of it into dst k-major (element (r0 + i, k) at
/// dst[k * panel_rows + i]); the kernel zero-pads the rows past count. A convolution's im2col matrix is such an
/// operand: gathered from the image where the product needs it, never formed whole (it is taps times the image).
template <typename Scalar>
struct PanelSource {
  void (*pack)(const void* context, Index r0, Index count, Index depth, Index panel_rows, Scalar* dst);
  const void* context;
};

/// Eigen's packets for the instruction set the program is compiled for (SSE2 in a plain x86-64 build, AVX-512
/// with -march=native on a CPU that has it, NEON on ARM): the kernel every build has.
template <typename Scalar>
struct SimdGeneric {
  using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
  static constexpr Index size = Eigen::internal::packet_traits<Scalar>::size;
  static constexpr int registers = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS;
  static EIGEN_ALWAYS_INLINE Packet set1(Scalar s) { return Eigen::internal::pset1<Packet>(s); }
  static EIGEN_ALWAYS_INLINE Packet load(const Scalar* p) { return Eigen::internal::pload<Packet>(p); }
  static EIGEN_ALWAYS_INLINE Packet loadu(const Scalar* p) { return Eigen::internal::ploadu<Packet>(p); }
  static EIGEN_ALWAYS_INLINE void store(Scalar* p, const Packet& v) { Eigen::internal::pstore(p, v); }
  static EIGEN_ALWAYS_INLINE void storeu(Scalar* p, const Packet& v) { Eigen::internal::pstoreu(p, v); }
  static EIGEN_ALWAYS_INLINE Packet add(const Packet& a, const Packet& b) { return Eigen::internal::padd(a, b); }
  /// a b + c
  static EIGEN_ALWAYS_INLINE Packet madd(const Packet& a, const Packet& b, const Packet& c) {
    return Eigen::internal::pmadd(a, b, c);
  }
};

}  // namespace elm::nn::detail

#if ELM_X86_KERNELS
// Each region below is compiled for its instruction set (GCC: every function defined in it, lambdas included;
// Clang: likewise through the attribute pragma). Nothing in a region runs unless the CPU has the instructions.
#if defined(__clang__)
#define ELM_BEGIN_TARGET_AVX2 \
  _Pragma("clang attribute push(__attribute__((target(\"avx,avx2,fma\"))), apply_to = function)")
#define ELM_BEGIN_TARGET_AVX512 \
  _Pragma("clang attribute push(__attribute__((target(\"avx,avx2,fma,avx512f\"))), apply_to = function)")
// (one string: _Pragma does not join adjacent literals)
#define ELM_BEGIN_TARGET_AVX512_VNNI \
  _Pragma("clang attribute push(__attribute__((target(\"avx,avx2,fma,avx512f,avx512bw,avx512vnni\"))), apply_to = function)")
#define ELM_BEGIN_TARGET_AMX \
  _Pragma("clang attribute push(__attribute__((target(\"avx,avx2,fma,avx512f,avx512bw,avx512vnni,avx512bf16,amx-tile,amx-int8,amx-bf16\"))), apply_to = function)")
#define ELM_END_TARGET _Pragma("clang attribute pop")
#else
#define ELM_BEGIN_TARGET_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx,avx2,fma\")")
#define ELM_BEGIN_TARGET_AVX512 _Pragma("GCC push_options") _Pragma("GCC target(\"avx,avx2,fma,avx512f\")")
#define ELM_BEGIN_TARGET_AVX512_VNNI \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx,avx2,fma,avx512f,avx512bw,avx512vnni\")")
#define ELM_BEGIN_TARGET_AMX \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx,avx2,fma,avx512f,avx512bw,avx512vnni,avx512bf16,amx-tile,amx-int8,amx-bf16\")")
#define ELM_END_TARGET _Pragma("GCC pop_options")
#endif

ELM_BEGIN_TARGET_AVX2
namespace elm::nn::detail {

/// AVX2 with FMA: 8 floats or 4 doubles a register, 16 registers.
template <typename Scalar>
struct SimdAvx2;

template <>
struct SimdAvx2<float> {
  using Packet = __m256;
  static constexpr Index size = 8;
  static constexpr int registers = 16;
  static inline __attribute__((always_inline)) Packet set1(float s) { return _mm256_set1_ps(s); }
  static inline __attribute__((always_inline)) Packet load(const float* p) { return _mm256_load_ps(p); }
  static inline __attribute__((always_inline)) Packet loadu(const float* p) { return _mm256_loadu_ps(p); }
  static inline __attribute__((always_inline)) void store(float* p, Packet v) { _mm256_store_ps(p, v); }
  static inline __attribute__((always_inline)) void storeu(float* p, Packet v) { _mm256_storeu_ps(p, v); }
  static inline __attribute__((always_inline)) Packet add(Packet a, Packet b) { return _mm256_add_ps(a, b); }
  static inline __attribute__((always_inline)) Packet madd(Packet a, Packet b, Packet c) {
    return _mm256_fmadd_ps(a, b, c);
  }
  // for the element-wise kernels (vector_kernel.inl)
  static inline __attribute__((always_inline)) Packet sub(Packet a, Packet b) { return _mm256_sub_ps(a, b); }
  static inline __attribute__((always_inline)) Packet mul(Packet a, Packet b) { return _mm256_mul_ps(a, b); }
  static inline __attribute__((always_inline)) Packet div(Packet a, Packet b) { return _mm256_div_ps(a, b); }
  static inline __attribute__((always_inline)) Packet min(Packet a, Packet b) { return _mm256_min_ps(a, b); }
  static inline __attribute__((always_inline)) Packet max(Packet a, Packet b) { return _mm256_max_ps(a, b); }
  /// to the nearest integer (ties to even)
  static inline __attribute__((always_inline)) Packet round(Packet a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  /// a 2^n for integral n in [-126, 127]: n added to the exponent field
  static inline __attribute__((always_inline)) Packet scale2(Packet a, Packet n) {
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(a, _mm256_castsi256_ps(bits));
  }
  /// the sum of the lanes
  static inline __attribute__((always_inline)) float sum(Packet a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // for the bf16 and int8 weights' kernels (quantized_kernel.inl)
  /// 8 signed bytes at p, as floats
  static inline __attribute__((always_inline)) Packet load_int8(const std::int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  /// 8 bf16 at p (each the upper half of a float's bits), as floats
  static inline __attribute__((always_inline)) Packet load_bf16(const std::uint16_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  /// the sums of the lanes of a, b, c and d into out[0..4) (a matrix-vector product's four dot products)
  static inline __attribute__((always_inline)) void sum4(Packet a, Packet b, Packet c, Packet d, float* out) {
    // per 128-bit half: (a01 a23 b01 b23), (c01 c23 d01 d23), then (a0123 b0123 c0123 d0123)
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
  }
};

template <>
struct SimdAvx2<double> {
  using Packet = __m256d;
  static constexpr Index size = 4;
  static constexpr int registers = 16;
  static inline __attribute__((always_inline)) Packet set1(double s) { return _mm256_set1_pd(s); }
  static inline __attribute__((always_inline)) Packet load(const double* p) { return _mm256_load_pd(p); }
  static inline __attribute__((always_inline)) Packet loadu(const double* p) { return _mm256_loadu_pd(p); }
  static inline __attribute__((always_inline)) void store(double* p, Packet v) { _mm256_store_pd(p, v); }
  static inline __attribute__((always_inline)) void storeu(double* p, Packet v) { _mm256_storeu_pd(p, v); }
  static inline __attribute__((always_inline)) Packet add(Packet a, Packet b) { return _mm256_add_pd(a, b); }
  static inline __attribute__((always_inline)) Packet madd(Packet a, Packet b, Packet c) {
    return _mm256_fmadd_pd(a, b, c);
  }
};

}  // namespace elm::nn::detail
ELM_END_TARGET

ELM_BEGIN_TARGET_AVX512
namespace elm::nn::detail {

/// AVX-512 (foundation): 16 floats or 8 doubles a register, 32 registers.
template <typename Scalar>
struct SimdAvx512;

template <>
struct SimdAvx512<float> {
  using Packet = __m512;
  static constexpr Index size = 16;
  static constexpr int registers = 32;
  static inline __attribute__((always_inline)) Packet set1(float s) { return _mm512_set1_ps(s); }
  static inline __attribute__((always_inline)) Packet load(const float* p) { return _mm512_load_ps(p); }
  static inline __attribute__((always_inline)) Packet loadu(const float* p) { return _mm512_loadu_ps(p); }
  static inline __attribute__((always_inline)) void store(float* p, Packet v) { _mm512_store_ps(p, v); }
  static inline __attribute__((always_inline)) void storeu(float* p, Packet v) { _mm512_storeu_ps(p, v); }
  static inline __attribute__((always_inline)) Packet add(Packet a, Packet b) { return _mm512_add_ps(a, b); }
  static inline __attribute__((always_inline)) Packet madd(Packet a, Packet b, Packet c) {
    return _mm512_fmadd_ps(a, b, c);
  }
  // for the element-wise kernels (vector_kernel.inl)
  static inline __attribute__((always_inline)) Packet sub(Packet a, Packet b) { return _mm512_sub_ps(a, b); }
  static inline __attribute__((always_inline)) Packet mul(Packet a, Packet b) { return _mm512_mul_ps(a, b); }
  static inline __attribute__((always_inline)) Packet div(Packet a, Packet b) { return _mm512_div_ps(a, b); }
  // (min, max, round and scale2 through the masked forms with every lane set: the plain ones fill an
  // "undefined" source that GCC 12 warns of as uninitialised once inlined)
  static inline __attribute__((always_inline)) Packet min(Packet a, Packet b) {
    return _mm512_mask_min_ps(a, 0xFFFF, a, b);
  }
  static inline __attribute__((always_inline)) Packet max(Packet a, Packet b) {
    return _mm512_mask_max_ps(a, 0xFFFF, a, b);
  }
  /// to the nearest integer (ties to even)
  static inline __attribute__((always_inline)) Packet round(Packet a) {
    return _mm512_mask_roundscale_ps(a, 0xFFFF, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  /// a 2^n for integral n in [-126, 127]
  static inline __attribute__((always_inline)) Packet scale2(Packet a, Packet n) {
    return _mm512_mask_scalef_ps(a, 0xFFFF, a, n);
  }
  // for the bf16 and int8 weights' kernels (quantized_kernel.inl), through the zero-masked forms for the reason
  // given at min and max
  /// 16 signed bytes at p, as floats
  static inline __attribute__((always_inline)) Packet load_int8(const std::int8_t* p) {
    const __m512i wide = _mm512_maskz_cvtepi8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm512_maskz_cvtepi32_ps(0xFFFF, wide);
  }
  /// 16 bf16 at p (each the upper half of a float's bits), as floats
  static inline __attribute__((always_inline)) Packet load_bf16(const std::uint16_t* p) {
    const __m512i wide = _mm512_maskz_cvtepu16_epi32(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, wide, 16));
  }
  /// the sum of the lanes (through memory: GCC 12's _mm512_reduce_add_ps warns of an uninitialised variable
  /// inside its own header; this runs once per column)
  static inline __attribute__((always_inline)) float sum(Packet a) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, a);
    float total = 0.0f;
    for (float lane : lanes) total += lane;
    return total;
  }
  /// the sums of the lanes of a, b, c and d into out[0..4): each folded to 256 bits, then as SimdAvx2's
  static inline __attribute__((always_inline)) void sum4(Packet a, Packet b, Packet c, Packet d, float* out) {
    SimdAvx2<float>::sum4(fold(a), fold(b), fold(c), fold(d), out);
  }
  /// the low 256 bits plus the high 256 bits (through the masked extraction with every lane set: the plain one,
  /// and the cast to 256 bits built on it, fill an "undefined" source that GCC 12 warns of as uninitialised)
  static inline __attribute__((always_inline)) __m256 fold(Packet v) {
    const __m512d d = _mm512_castps_pd(v);
    const __m256d zero = _mm256_setzero_pd();
    return _mm256_add_ps(_mm256_castpd_ps(_mm512_mask_extractf64x4_pd(zero, 0xF, d, 0)),
                         _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(zero, 0xF, d, 1)));
  }
};

template <>
struct SimdAvx512<double> {
  using Packet = __m512d;
  static constexpr Index size = 8;
  static constexpr int registers = 32;
  static inline __attribute__((always_inline)) Packet set1(double s) { return _mm512_set1_pd(s); }
  static inline __attribute__((always_inline)) Packet load(const double* p) { return _mm512_load_pd(p); }
  static inline __attribute__((always_inline)) Packet loadu(const double* p) { return _mm512_loadu_pd(p); }
  static inline __attribute__((always_inline)) void store(double* p, Packet v) { _mm512_store_pd(p, v); }
  static inline __attribute__((always_inline)) void storeu(double* p, Packet v) { _mm512_storeu_pd(p, v); }
  static inline __attribute__((always_inline)) Packet add(Packet a, Packet b) { return _mm512_add_pd(a, b); }
  static inline __attribute__((always_inline)) Packet madd(Packet a, Packet b, Packet c) {
    return _mm512_fmadd_pd(a, b, c);
  }
};

}  // namespace elm::nn::detail
ELM_END_TARGET
#endif  // ELM_X86_KERNELS
