// SPDX-License-Identifier: MIT
// Hmm tables, forward/backward, posteriors, Viterbi, sampling: hand-sized cases, brute force, properties.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "elm/classic/baum_welch.hpp"
#include "elm/classic/forward_backward.hpp"
#include "elm/classic/hmm.hpp"
#include "elm/classic/viterbi.hpp"
#include "elm/core/rng.hpp"

using namespace elm::classic;
using elm::Index;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

// The curriculum's two-state table with a start row: symbols are numbered in order of first appearance,
// hello = 0, world = 1, goodbye = 2.
template <typename Scalar>
Hmm<Scalar> curriculum_model() {
  return Hmm<Scalar>::from_named({{"A", 0.6}, {"B", 0.4}},
                                 {{"A", {{"A", 0.5}, {"B", 0.5}}}, {"B", {{"A", 0.3}, {"B", 0.7}}}},
                                 {{"A", {{"hello", 0.7}, {"world", 0.3}}}, {"B", {{"world", 0.5}, {"goodbye", 0.5}}}});
}

// A random model: Dirichlet-like rows from uniform draws, with a few exact zeros when sparse is set.
Hmm<double> random_model(Index n, Index v, elm::Rng& rng, bool sparse = false, bool sparse_emission = true) {
  auto row = [&](Index size, Index i, bool zeros = true) {
    elm::Vector<double> r(size);
    for (Index j = 0; j < size; ++j) r(j) = 0.05 + rng.uniform();
    if (sparse && zeros && size > 1 && i >= 0) r((i + 1) % size) = 0.0;
    return elm::Vector<double>(r / r.sum());
  };
  elm::Vector<double> start = row(n, -2);
  elm::Matrix<double> a(n, n), b(n, v);
  for (Index i = 0; i < n; ++i) a.row(i) = row(n, i).transpose();
  for (Index i = 0; i < n; ++i) b.row(i) = row(v, i, sparse_emission).transpose();
  return Hmm<double>(start, a, b);
}

}  // namespace

TEMPLATE_TEST_CASE("curriculum model: forward, posteriors and Viterbi by hand", "[hmm]", float, double) {
  const auto hmm = curriculum_model<TestType>();
  REQUIRE(hmm.n_states() == 2);
  REQUIRE(hmm.n_symbols() == 3);
  CHECK(hmm.symbol_id("goodbye") == 2);
  CHECK(hmm.state_id("B") == 1);
  const Sequence obs = hmm.encode({"hello", "world", "goodbye"});
  // alpha_0 = (0.6*0.7, 0.4*0) = (0.42, 0)
  // alpha_1 = ((0.42*0.5 + 0)*0.3, (0.42*0.5 + 0)*0.5) = (0.063, 0.105)          P(hello world) = 0.168
  // alpha_2 = ((0.063*0.5 + 0.105*0.3)*0, (0.063*0.5 + 0.105*0.7)*0.5) = (0, 0.0525)
  const TestType tol = std::is_same_v<TestType, float> ? TestType(1e-5) : TestType(1e-12);
  CHECK_THAT(log_likelihood(hmm, Sequence{0, 1}), WithinAbs(std::log(0.168), tol));
  CHECK_THAT(log_likelihood(hmm, obs), WithinAbs(std::log(0.0525), tol));
  const auto fwd = forward(hmm, obs);
  CHECK_THAT(fwd.alpha(0, 1), WithinAbs(0.063 / 0.168, tol));  // normalized: P(z_1 = A | x_0..1)
  CHECK_THAT(fwd.log_norm(0), WithinAbs(std::log(0.42), tol));
  // beta_1 = (A_AB * 0.5, A_BB * 0.5) = (0.25, 0.35); gamma_1 = (0.063*0.25, 0.105*0.35) / 0.0525 = (0.3, 0.7)
  const auto gamma = posteriors(hmm, obs);
  CHECK_THAT(gamma(0, 0), WithinAbs(1.0, tol));
  CHECK_THAT(gamma(0, 1), WithinAbs(0.3, tol));
  CHECK_THAT(gamma(1, 1), WithinAbs(0.7, tol));
  CHECK_THAT(gamma(1, 2), WithinAbs(1.0, tol));
  // delta_1 = (0.42*0.5*0.3, 0.42*0.5*0.5) = (0.063, 0.105); delta_2(B) = max(0.063*0.5, 0.105*0.7)*0.5 = 0.03675
  const auto best = viterbi(hmm, obs);
  CHECK(hmm.state_names_of(best.path) == std::vector<std::string>{"A", "B", "B"});
  CHECK_THAT(best.log_prob, WithinAbs(std::log(0.03675), tol));
  // xi_1(B, B) = alpha_1(B) A_BB B(B, goodbye) / P = 0.105*0.7*0.5 / 0.0525 = 0.7
  const auto xi = pair_posteriors(hmm, obs);
  REQUIRE(xi.size() == 2);
  CHECK_THAT(xi[1](1, 1), WithinAbs(0.7, tol));
  CHECK_THAT(xi[1](0, 1), WithinAbs(0.3, tol));
}

TEST_CASE("an impossible sequence has log-likelihood -inf and no posteriors", "[hmm]") {
  // Starting in A for sure, the first symbol cannot be "goodbye" (only B says it).
  const auto hmm = Hmm<double>::from_named(
      {{"A", 1.0}}, {{"A", {{"A", 0.5}, {"B", 0.5}}}, {"B", {{"A", 0.3}, {"B", 0.7}}}},
      {{"A", {{"hello", 0.7}, {"world", 0.3}}}, {"B", {{"world", 0.5}, {"goodbye", 0.5}}}});
  const Sequence obs = hmm.encode({"goodbye", "world", "hello"});
  CHECK(log_likelihood(hmm, obs) == -std::numeric_limits<double>::infinity());
  CHECK(forward(hmm, obs).log_likelihood == -std::numeric_limits<double>::infinity());
  CHECK(backward(hmm, obs).log_likelihood == -std::numeric_limits<double>::infinity());
  CHECK(viterbi(hmm, obs).log_prob == -std::numeric_limits<double>::infinity());
  REQUIRE_THROWS_AS(posteriors(hmm, obs), elm::NumericalError);
  REQUIRE_THROWS_WITH(posteriors(hmm, obs), Catch::Matchers::Contains("probability zero"));
}

TEST_CASE("brute force over all paths agrees with forward, posteriors and Viterbi", "[hmm]") {
  const auto seed = GENERATE(1u, 2u, 3u, 4u);
  elm::Rng rng(seed);
  const Index n = 2 + Index(seed % 3);
  const auto hmm = random_model(n, 3, rng, seed % 2 == 0);
  const Sequence obs = hmm.sample(5, rng).symbols;
  const Index length = 5;
  double total = 0, best = -1;
  Sequence best_path;
  elm::Matrix<double> gamma = elm::Matrix<double>::Zero(n, length);
  Index paths = 1;
  for (Index t = 0; t < length; ++t) paths *= n;
  for (Index code = 0; code < paths; ++code) {
    Sequence z(static_cast<std::size_t>(length));
    Index c = code;
    for (Index t = length - 1; t >= 0; --t) z[static_cast<std::size_t>(t)] = c % n, c /= n;
    double p = hmm.startprob()(z[0]) * hmm.emissionprob()(z[0], obs[0]);
    for (std::size_t t = 1; t < z.size(); ++t)
      p *= hmm.transmat()(z[t - 1], z[t]) * hmm.emissionprob()(z[t], obs[t]);
    total += p;
    if (p > best) best = p, best_path = z;
    for (Index t = 0; t < length; ++t) gamma(z[static_cast<std::size_t>(t)], t) += p;
  }
  gamma /= total;
  CHECK_THAT(log_likelihood(hmm, obs), WithinRel(std::log(total), 1e-12));
  CHECK((posteriors(hmm, obs) - gamma).cwiseAbs().maxCoeff() < 1e-12);
  const auto decoded = viterbi(hmm, obs);
  CHECK(decoded.path == best_path);
  CHECK_THAT(decoded.log_prob, WithinRel(std::log(best), 1e-12));
}

TEST_CASE("properties: posteriors sum to one, forward and backward agree at every step, Viterbi <= log P",
          "[hmm][property]") {
  const auto seed = GENERATE(range(1u, 9u));
  elm::Rng rng(seed * 7919u);
  const Index n = 1 + Index(rng.below(7));
  const Index v = 1 + Index(rng.below(9));
  const auto hmm = random_model(n, v, rng, seed % 3 == 0 && n > 1);
  const Index length = 1 + Index(rng.below(300));
  const Sequence obs = hmm.sample(length, rng).symbols;
  INFO("N = " << n << ", V = " << v << ", T = " << length);

  const auto fwd = forward(hmm, obs);
  const auto bwd = backward(hmm, obs);
  REQUIRE(std::isfinite(fwd.log_likelihood));
  CHECK_THAT(bwd.log_likelihood, WithinRel(fwd.log_likelihood, 1e-11));
  // P(x) = sum_i alpha_t(i) beta_t(i) at every t; in normalized form
  // log P = log(alpha_t . beta_t) + sum_{u <= t} log_norm(u) + sum_{u >= t} log norm(u).
  double prefix = 0;
  double suffix = 0;
  for (Index t = 0; t < length; ++t) suffix += std::log(bwd.norm(t));
  for (Index t = 0; t < length; ++t) {
    prefix += fwd.log_norm(t);
    const double at_t = std::log(fwd.alpha.col(t).dot(bwd.beta.col(t))) + prefix + suffix;
    REQUIRE_THAT(at_t, WithinRel(fwd.log_likelihood, 1e-11) || WithinAbs(fwd.log_likelihood, 1e-11));
    suffix -= std::log(bwd.norm(t));
  }
  const auto gamma = posteriors(fwd, bwd);
  CHECK((gamma.colwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
  CHECK(gamma.minCoeff() >= 0.0);
  // Pairwise posteriors sum to one and marginalize to the state posteriors.
  for_each_pair_posterior(hmm, obs, fwd, bwd, [&](Index t, const elm::Matrix<double>& xi) {
    REQUIRE_THAT(xi.sum(), WithinAbs(1.0, 1e-12));
    REQUIRE((xi.rowwise().sum() - gamma.col(t)).cwiseAbs().maxCoeff() < 1e-12);
    REQUIRE((xi.colwise().sum().transpose() - gamma.col(t + 1)).cwiseAbs().maxCoeff() < 1e-12);
  });
  const auto decoded = viterbi(hmm, obs);
  CHECK(decoded.log_prob <= fwd.log_likelihood + 1e-12 * std::abs(fwd.log_likelihood));
  // The decoded path's own joint log-probability is the reported one.
  double joint = std::log(hmm.startprob()(decoded.path[0])) + std::log(hmm.emissionprob()(decoded.path[0], obs[0]));
  for (std::size_t t = 1; t < obs.size(); ++t)
    joint += std::log(hmm.transmat()(decoded.path[t - 1], decoded.path[t])) +
             std::log(hmm.emissionprob()(decoded.path[t], obs[t]));
  CHECK_THAT(decoded.log_prob, WithinRel(joint, 1e-12));
}

TEST_CASE("a 1,000,000-step sequence does not underflow", "[hmm][property]") {
  // Unnormalized, the forward probabilities of this sequence would be near exp(-10^6). Two states and
  // no lattice keep the test quick in sanitizer builds; the [.slow] case below runs the lattices too.
  elm::Rng rng(2024);
  const auto hmm = random_model(2, 3, rng);  // no zeros: every sequence is possible
  Sequence obs(1000000);
  for (auto& x : obs) x = Index(rng.below(3));
  const double ll = log_likelihood(hmm, obs);
  REQUIRE(std::isfinite(ll));
  // Every step has probability below 1 and above the smallest emission (> 0.05 / (3 * 1.05)).
  CHECK(ll < 0.0);
  CHECK(ll > 1e6 * std::log(0.05 / 3.15));
  CHECK(ll < -1e5);
  const auto decoded = viterbi(hmm, obs);
  REQUIRE(std::isfinite(decoded.log_prob));
  CHECK(decoded.log_prob <= ll);
}

TEST_CASE("a 1,000,000-step sequence: forward, backward and posteriors with four states", "[hmm][property][.slow]") {
  elm::Rng rng(2024);
  const auto hmm = random_model(4, 6, rng, true);
  const Sequence obs = hmm.sample(1000000, rng).symbols;
  const double ll = log_likelihood(hmm, obs);
  REQUIRE(std::isfinite(ll));
  const auto fwd = forward(hmm, obs);
  const auto bwd = backward(hmm, obs);
  CHECK_THAT(fwd.log_likelihood, WithinRel(ll, 1e-12));
  CHECK_THAT(bwd.log_likelihood, WithinRel(ll, 1e-10));
  const auto gamma = posteriors(fwd, bwd);
  CHECK((gamma.colwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
  const auto decoded = viterbi(hmm, obs);
  REQUIRE(std::isfinite(decoded.log_prob));
  CHECK(decoded.log_prob <= ll);
}

TEST_CASE("Baum-Welch never decreases the log-likelihood beyond rounding", "[hmm][baum_welch][property]") {
  const auto seed = GENERATE(range(1u, 7u));
  elm::Rng rng(seed * 104729u);
  const Index n = 1 + Index(rng.below(5));
  const Index v = 2 + Index(rng.below(6));
  const auto truth = random_model(n, v, rng);
  std::vector<Sequence> data;
  for (int s = 0; s < 5; ++s) data.push_back(truth.sample(1 + Index(rng.below(60)), rng).symbols);
  Hmm<double> hmm = random_model(n, v, rng, seed % 2 == 0 && n > 1, false);
  BaumWelchOptions options;
  options.n_iter = 40;
  options.tol = -std::numeric_limits<double>::infinity();
  Index calls = 0;
  const auto monitor = BaumWelch<double>(options).fit(hmm, data, [&](Index, double) { ++calls; });
  CHECK(calls == 40);
  REQUIRE(monitor.history.size() == 40);
  CHECK_FALSE(monitor.converged);
  for (std::size_t k = 1; k < monitor.history.size(); ++k)
    REQUIRE(monitor.history[k] >= monitor.history[k - 1] - 1e-9 * std::abs(monitor.history[k - 1]));
  // Exact zeros of the transition table survive EM.
  // (random_model puts a zero at (i, i + 1) when sparse.)
  if (seed % 2 == 0 && n > 1)
    for (Index i = 0; i < n; ++i) CHECK(hmm.transmat()(i, (i + 1) % n) == 0.0);
}

TEST_CASE("sampling follows the tables", "[hmm]") {
  const auto hmm = curriculum_model<double>();
  elm::Rng rng(7);
  const auto draw = hmm.sample(200000, rng);
  double ab = 0, from_a = 0, hello = 0, in_a = 0;
  for (std::size_t t = 0; t < draw.states.size(); ++t) {
    if (draw.states[t] == 0) {
      in_a += 1;
      hello += draw.symbols[t] == 0;
      if (t + 1 < draw.states.size()) from_a += 1, ab += draw.states[t + 1] == 1;
    }
    REQUIRE(hmm.emissionprob()(draw.states[t], draw.symbols[t]) > 0.0);
  }
  // Standard errors are below 0.0015 for these counts; 0.01 is over six of them.
  CHECK_THAT(ab / from_a, WithinAbs(0.5, 0.01));
  CHECK_THAT(hello / in_a, WithinAbs(0.7, 0.01));
  // Same seed, same draw.
  elm::Rng again(7);
  CHECK(hmm.sample(1000, again).symbols == Sequence(draw.symbols.begin(), draw.symbols.begin() + 1000));
}

TEST_CASE("Viterbi breaks ties as hmmlearn does", "[hmm]") {
  // Two identical states: every path has the same probability. The last state is the first maximum (0),
  // earlier ones the last maximum while tracing back (1).
  elm::Vector<double> start(2);
  start << 0.5, 0.5;
  elm::Matrix<double> a(2, 2), b(2, 2);
  a << 0.5, 0.5, 0.5, 0.5;
  b << 0.5, 0.5, 0.5, 0.5;
  const Hmm<double> hmm(start, a, b);
  CHECK(viterbi(hmm, Sequence{0, 1, 1}).path == Sequence{1, 1, 0});
}

TEST_CASE("Baum-Welch expected counts equal the sums of posteriors and pairwise posteriors", "[hmm][baum_welch]") {
  // N = 5 runs the fixed-width kernel of baum_welch.hpp, N = 18 the lattice code; both must equal the
  // sums of posteriors() and xi_sum(), which normalize forward and backward independently.
  const Index n = GENERATE(as<Index>{}, 5, 18);
  elm::Rng rng(static_cast<std::uint64_t>(n));
  const auto hmm = random_model(n, 7, rng, true);
  std::vector<Sequence> data;
  for (Index len : {40, 1, 17}) data.push_back(hmm.sample(len, rng).symbols);
  const auto stats = BaumWelch<double>().expected_counts(hmm, data);
  elm::Vector<double> start = elm::Vector<double>::Zero(n);
  elm::Matrix<double> trans = elm::Matrix<double>::Zero(n, n), emit = elm::Matrix<double>::Zero(n, 7);
  double ll = 0;
  for (const auto& obs : data) {
    const auto fwd = forward(hmm, obs);
    const auto bwd = backward(hmm, obs);
    const auto gamma = posteriors(fwd, bwd);
    start += gamma.col(0);
    for (std::size_t t = 0; t < obs.size(); ++t) emit.col(obs[t]) += gamma.col(Index(t));
    trans += xi_sum(hmm, obs, fwd, bwd);
    ll += fwd.log_likelihood;
  }
  CHECK((stats.start - start).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((stats.trans - trans).cwiseAbs().maxCoeff() < 1e-11);
  CHECK((stats.emission - emit).cwiseAbs().maxCoeff() < 1e-11);
  CHECK_THAT(stats.log_likelihood, WithinRel(ll, 1e-13));
}

namespace {

// Viterbi as hmmlearn's _hmmc.viterbi writes it: scalar loops, max over (score, index) pairs while tracing
// back (so the highest index wins a tie) and numpy's argmax (the lowest) for the last state.
ViterbiResult<double> textbook_viterbi(const Hmm<double>& hmm, const Sequence& obs) {
  const Index n = hmm.n_states(), length = Index(obs.size());
  const auto& log_a = hmm.log_transmat();
  const auto& log_b = hmm.log_emissionprob();
  elm::Matrix<double> lattice(length, n);
  for (Index i = 0; i < n; ++i) lattice(0, i) = hmm.log_startprob()(i) + log_b(i, obs[0]);
  for (Index t = 1; t < length; ++t)
    for (Index i = 0; i < n; ++i) {
      double best = -std::numeric_limits<double>::infinity();
      for (Index j = 0; j < n; ++j) best = std::max(best, lattice(t - 1, j) + log_a(j, i));
      lattice(t, i) = best + log_b(i, obs[std::size_t(t)]);
    }
  ViterbiResult<double> out;
  out.path.resize(obs.size());
  Index state = 0;
  for (Index i = 1; i < n; ++i)
    if (lattice(length - 1, i) > lattice(length - 1, state)) state = i;
  out.log_prob = lattice(length - 1, state);
  out.path.back() = state;
  for (Index t = length - 2; t >= 0; --t) {
    std::pair<double, Index> best(-std::numeric_limits<double>::infinity(), 0);
    for (Index i = 0; i < n; ++i) best = std::max(best, std::make_pair(lattice(t, i) + log_a(i, state), i));
    state = best.second;
    out.path[std::size_t(t)] = state;
  }
  return out;
}

}  // namespace

TEST_CASE("Viterbi equals hmmlearn's scalar recursion at every padded width, one sequence or many",
          "[hmm][viterbi]") {
  // N = 1, 3, 10, 17 and 40 cover widths padded to a SIMD multiple, unpadded, 32 and the run-time width;
  // uniform tables make every step a tie, sparse ones put -inf into the lattice.
  const Index n = GENERATE(as<Index>{}, 1, 3, 10, 17, 40);
  const int kind = GENERATE(0, 1, 2);
  INFO("N = " << n << ", tables " << (kind == 0 ? "random" : kind == 1 ? "sparse" : "uniform"));
#if defined(ELM_HMM_RUNTIME_AVX2)
  // Both kernels of a generic x86-64 build: AVX2 chosen at run time (where the processor has it) and SSE2.
  const bool avx2 = GENERATE(true, false);
  INFO("AVX2 kernel allowed: " << avx2);
  const bool had_avx2 = __builtin_cpu_supports("avx2");
  elm::classic::detail::viterbi_runtime_avx2_allowed() = avx2 && had_avx2;
  struct Restore {
    bool value;
    ~Restore() { elm::classic::detail::viterbi_runtime_avx2_allowed() = value; }
  } restore{had_avx2};
#endif
  elm::Rng rng(static_cast<std::uint64_t>(n * 3 + kind));
  Hmm<double> hmm = random_model(n, 6, rng, kind == 1, false);
  if (kind == 2)
    hmm = Hmm<double>(elm::Vector<double>::Constant(n, 1.0 / double(n)), elm::Matrix<double>::Constant(n, n, 1.0 / double(n)),
                      elm::Matrix<double>::Constant(n, 6, 1.0 / 6.0));
  std::vector<Sequence> data;  // an odd count of unequal lengths: pairs decoded in lockstep, one alone
  for (Index len : {1, 30, 7, 30, 12}) data.push_back(hmm.sample(len, rng).symbols);
  const auto all = viterbi(hmm, data);
  REQUIRE(all.size() == data.size());
  double total = 0;
  for (std::size_t s = 0; s < data.size(); ++s) {
    INFO("sequence " << s);
    const auto expected = textbook_viterbi(hmm, data[s]);
    const auto one = viterbi(hmm, data[s]);
    CHECK(one.path == expected.path);
    CHECK(one.log_prob == expected.log_prob);
    CHECK(all[s].path == expected.path);
    CHECK(all[s].log_prob == expected.log_prob);
    total += double(log_likelihood(hmm, data[s]));
  }
  CHECK(log_likelihood(hmm, data) == total);
}

TEST_CASE("Baum-Welch expected counts over more observations than one batch, with any thread count",
          "[hmm][baum_welch]") {
  // 2^18 observations make a batch: these sequences take two, and the sums must still be those of posteriors().
  elm::Rng rng(11);
  const auto hmm = random_model(5, 7, rng, true);
  std::vector<Sequence> data;
  for (Index len : {150000, 1, 140000, 30}) data.push_back(hmm.sample(len, rng).symbols);
  const auto stats = BaumWelch<double>().expected_counts(hmm, data);
  elm::Matrix<double> emit = elm::Matrix<double>::Zero(5, 7);
  elm::Vector<double> start = elm::Vector<double>::Zero(5);
  for (const auto& obs : data) {
    const auto gamma = posteriors(hmm, obs);
    start += gamma.col(0);
    for (std::size_t t = 0; t < obs.size(); ++t) emit.col(obs[t]) += gamma.col(Index(t));
  }
  CHECK((stats.start - start).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(((stats.emission - emit).array() / emit.array().max(1.0)).abs().maxCoeff() < 1e-12);
#if defined(_OPENMP)
  // Sequences are shared among threads, their statistics added in sequence order: the same bits.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto serial = BaumWelch<double>().expected_counts(hmm, data);
  const double serial_ll = log_likelihood(hmm, data);
  const auto serial_paths = viterbi(hmm, data);
  omp_set_num_threads(2);
  const auto parallel = BaumWelch<double>().expected_counts(hmm, data);
  CHECK(log_likelihood(hmm, data) == serial_ll);
  const auto parallel_paths = viterbi(hmm, data);
  omp_set_num_threads(threads);
  CHECK(parallel.start == serial.start);
  CHECK(parallel.trans == serial.trans);
  CHECK(parallel.emission == serial.emission);
  CHECK(parallel.log_likelihood == serial.log_likelihood);
  for (std::size_t s = 0; s < data.size(); ++s) CHECK(parallel_paths[s].path == serial_paths[s].path);
#endif
}
