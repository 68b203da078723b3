// SPDX-License-Identifier: MIT
// A seeded random number generator whose every draw is the same on any platform and standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm {
namespace detail {

/// Natural logarithm from +, -, *, / and frexp/ldexp only, so that it gives the same bits everywhere
/// (std::log may differ in the last place between C libraries). Accurate to about 1 ulp on (0, inf).
/// log(x) = e ln 2 + log(m), m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(s), s = (m - 1)/(m + 1),
/// |s| <= 0.1716, whose odd series converges below 1e-17 after 12 terms.
inline double portable_log(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // x = m 2^e, m in [0.5, 1): exact
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double series = 1.0 / 25.0;
  for (int k = 11; k >= 0; --k) series = 1.0 / double(2 * k + 1) + s2 * series;
  // ln 2 split so that e * ln2_hi is exact for |e| < 2^11.
  constexpr double ln2_hi = 6.93147180369123816490e-01;
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  const double de = double(e);
  return de * ln2_hi + (2.0 * s * series + de * ln2_lo);
}

}  // namespace detail

/// xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64. Uniform doubles use the top 53
/// bits, uniform floats the top 24; normals use Marsaglia's polar method with detail::portable_log, so a
/// seed gives the same stream on every platform (built without FP contraction, the default of -std=c++17).
/// Also a UniformRandomBitGenerator, for std::shuffle and friends (whose results are not portable: use
/// Rng::shuffle for reproducible shuffles).
class Rng {
 public:
  using result_type = std::uint64_t;

  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  /// Restarts the stream of this seed.
  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& word : state_) word = splitmix64(x);
    has_spare_normal_ = false;
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() { return next_u64(); }

  /// The next 64 random bits.
  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform double in [0, 1): k 2^-53 for a uniform 53-bit k.
  double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }

  /// Uniform float in [0, 1): k 2^-24 for a uniform 24-bit k.
  float uniform_float() { return float(next_u64() >> 40) * 0x1.0p-24f; }

  /// Uniform double in [lo, hi).
  double uniform(double lo, double hi) {
    ELM_EXPECT(lo < hi, InvalidArgument, "elm::Rng::uniform: expected lo < hi, got lo = ", lo, ", hi = ", hi);
    return lo + (hi - lo) * uniform();
  }

  /// Uniform integer in [0, n), without modulo bias: draws below 2^64 mod n are rejected.
  std::uint64_t below(std::uint64_t n) {
    ELM_EXPECT(n > 0, InvalidArgument, "elm::Rng::below: expected n > 0, got 0");
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const std::uint64_t x = next_u64();
      if (x >= threshold) return x % n;
    }
  }

  /// Standard normal draw (Marsaglia's polar method; the second value of each pair is kept for the next call).
  double normal() {
    if (has_spare_normal_) {
      has_spare_normal_ = false;
      return spare_normal_;
    }
    double u = 0.0, v = 0.0, s = 0.0;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double factor = std::sqrt(-2.0 * detail::portable_log(s) / s);  // sqrt is exact in IEEE 754
    spare_normal_ = v * factor;
    has_spare_normal_ = true;
    return u * factor;
  }

  /// Normal draw with the given mean and standard deviation.
  double normal(double mean, double stddev) {
    ELM_EXPECT(stddev >= 0.0, InvalidArgument, "elm::Rng::normal: expected stddev >= 0, got ", stddev);
    return mean + stddev * normal();
  }

  /// True with probability p.
  bool bernoulli(double p) { return uniform() < p; }

  /// Fisher-Yates shuffle of [first, last), reproducible across platforms.
  template <typename RandomIt>
  void shuffle(RandomIt first, RandomIt last) {
    const auto n = static_cast<std::uint64_t>(std::distance(first, last));
    for (std::uint64_t i = n; i > 1; --i) {
      const auto j = below(i);
      using std::swap;
      swap(first[static_cast<std::ptrdiff_t>(i - 1)], first[static_cast<std::ptrdiff_t>(j)]);
    }
  }

  /// Fills m with N(mean, stddev^2) draws, column by column.
  template <typename Scalar>
  void fill_normal(Matrix<Scalar>& m, double mean, double stddev) {
    for (Index j = 0; j < m.cols(); ++j)
      for (Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<Scalar>(normal(mean, stddev));
  }

  /// Fills m with U[lo, hi) draws, column by column.
  template <typename Scalar>
  void fill_uniform(Matrix<Scalar>& m, double lo, double hi) {
    for (Index j = 0; j < m.cols(); ++j)
      for (Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<Scalar>(uniform(lo, hi));
  }

  /// A generator for an independent stream, seeded from this one (for per-thread or per-purpose streams).
  Rng split() { return Rng(next_u64()); }

  /// Everything the next draws depend on: the four xoshiro256** words and the spare normal draw of the polar
  /// method (as its IEEE 754 bits), so that a checkpoint restores the stream exactly.
  struct State {
    std::uint64_t words[4] = {};
    std::uint64_t spare_normal_bits = 0;
    bool has_spare_normal = false;
  };

  State state() const {
    State s;
    for (int i = 0; i < 4; ++i) s.words[i] = state_[i];
    std::memcpy(&s.spare_normal_bits, &spare_normal_, sizeof spare_normal_);
    s.has_spare_normal = has_spare_normal_;
    return s;
  }

  /// Continues the stream that `s` was taken from. Throws InvalidArgument for four zero words (a state
  /// xoshiro256** never reaches: it would draw zeros forever).
  void set_state(const State& s) {
    ELM_EXPECT(s.words[0] != 0 || s.words[1] != 0 || s.words[2] != 0 || s.words[3] != 0, InvalidArgument,
               "elm::Rng::set_state: expected a state with a non-zero word, got four zero words");
    for (int i = 0; i < 4; ++i) state_[i] = s.words[i];
    std::memcpy(&spare_normal_, &s.spare_normal_bits, sizeof spare_normal_);
    has_spare_normal_ = s.has_spare_normal;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t state_[4] = {};
  double spare_normal_ = 0.0;
  bool has_spare_normal_ = false;
};

}  // namespace elm
