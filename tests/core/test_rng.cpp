// SPDX-License-Identifier: MIT
// elm::Rng: the same streams as an independent implementation of xoshiro256** / splitmix64 (tools/make_rng_fixture.py),
// reproducible for a seed, and draws with the right distributions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "elm/core/rng.hpp"

namespace {
nlohmann::json load_streams() {
  std::ifstream in(ELM_TEST_DATA_DIR "/core/rng_streams.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}
}  // namespace

TEST_CASE("Rng reproduces the reference streams of xoshiro256** seeded by splitmix64", "[core][rng][reference]") {
  const auto streams = load_streams();
  for (auto it = streams.begin(); it != streams.end(); ++it) {
    const auto& e = it.value();
    INFO("seed " << e["seed"].get<std::string>());
    elm::Rng rng(std::stoull(e["seed"].get<std::string>()));
    for (const auto& v : e["u64"]) CHECK(rng.next_u64() == std::stoull(v.get<std::string>()));
    for (const auto& v : e["uniform"]) CHECK(rng.uniform() == v.get<double>());  // exact: k * 2^-53
    for (const auto& v : e["uniform_float"]) CHECK(static_cast<double>(rng.uniform_float()) == v.get<double>());
    for (const auto& v : e["below_1000003"]) CHECK(rng.below(1000003) == v.get<std::uint64_t>());
    // The reference uses Python's math.log; ours is a portable series: they may differ in the last bits.
    for (const auto& v : e["normal"]) CHECK_THAT(rng.normal(), Catch::Matchers::WithinRel(v.get<double>(), 1e-14));
  }
}

TEST_CASE("Rng gives the same stream for the same seed and different streams for different seeds", "[core][rng]") {
  elm::Rng a(123), b(123), c(124);
  std::vector<double> xa, xb, xc;
  for (int i = 0; i < 100; ++i) {
    xa.push_back(a.normal());
    xb.push_back(b.normal());
    xc.push_back(c.normal());
  }
  CHECK(xa == xb);
  CHECK(xa != xc);
  a.reseed(123);
  CHECK(a.normal() == xa[0]);
  std::vector<int> p(50), q(50);
  std::iota(p.begin(), p.end(), 0);
  q = p;
  elm::Rng s1(9), s2(9);
  s1.shuffle(p.begin(), p.end());
  s2.shuffle(q.begin(), q.end());
  CHECK(p == q);
  CHECK(std::is_permutation(p.begin(), p.end(), q.begin()));
}

TEST_CASE("Rng::state and set_state continue a stream exactly, the spare normal draw included", "[core][rng]") {
  elm::Rng a(31);
  (void)a.normal();  // leaves the second draw of the pair as the spare
  const auto saved = a.state();
  CHECK(saved.has_spare_normal);
  std::vector<double> expected;
  for (int i = 0; i < 7; ++i) expected.push_back(a.normal());
  const auto after = a.next_u64();
  elm::Rng b(999);
  b.set_state(saved);
  std::vector<double> got;
  for (int i = 0; i < 7; ++i) got.push_back(b.normal());
  CHECK(got == expected);
  CHECK(b.next_u64() == after);
  REQUIRE_THROWS_AS(b.set_state(elm::Rng::State{}), elm::InvalidArgument);
}

TEST_CASE("portable_log agrees with std::log to about one ulp", "[core][rng]") {
  for (double x : {1e-300, 1e-10, 0.1, 0.5, 0.70710678118654752, 0.9999999, 1.0, 1.5, 2.0, 10.0, 1e10, 1e300}) {
    INFO("x = " << x);
    CHECK_THAT(elm::detail::portable_log(x), Catch::Matchers::WithinAbs(std::log(x), 4e-16 * std::max(1.0, std::abs(std::log(x)))));
  }
}

TEST_CASE("Rng draws have the expected moments", "[core][rng]") {
  elm::Rng rng(2024);
  const int n = 200000;
  double sum = 0, sum2 = 0, usum = 0;
  std::vector<int> buckets(10, 0);
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    sum += z;
    sum2 += z * z;
    const double u = rng.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    usum += u;
    ++buckets[rng.below(10)];
  }
  // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032, uniform mean 0.00065: 5 sigma bounds.
  CHECK(std::abs(sum / n) < 0.012);
  CHECK(std::abs(sum2 / n - 1.0) < 0.016);
  CHECK(std::abs(usum / n - 0.5) < 0.0033);
  for (int b : buckets) CHECK(std::abs(b - n / 10) < 5 * 134);  // sd = sqrt(n * 0.1 * 0.9) = 134
  REQUIRE_THROWS_AS(rng.below(0), elm::InvalidArgument);
  REQUIRE_THROWS_AS(rng.uniform(1.0, 1.0), elm::InvalidArgument);
}
