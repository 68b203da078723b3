// SPDX-License-Identifier: MIT
// Central-difference gradient checks for the nn tests (double precision, h = 1e-6).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"

namespace elm_test {

/// Matches an exception whose what() contains a substring (Catch2 v2 has only an exact Message matcher).
class MessageContains : public Catch::MatcherBase<std::exception> {
 public:
  explicit MessageContains(std::string part) : part_(std::move(part)) {}
  bool match(const std::exception& e) const override { return std::string(e.what()).find(part_) != std::string::npos; }
  std::string describe() const override { return "message contains \"" + part_ + "\""; }

 private:
  std::string part_;
};

using MatD = elm::Matrix<double>;

/// Largest |a - n| / max(|a|, |n|, 1e-8) over every entry of `variable`, where n is the central difference of
/// loss() with step h and a is `analytic`. `variable` is perturbed in place and restored. The difference is
/// taken in the loss's own type (double, or long double for a loss evaluated in extended precision).
template <typename Loss>
double max_rel_error(MatD& variable, const MatD& analytic, const Loss& loss, double h = 1e-6) {
  using Real = decltype(loss());
  REQUIRE(analytic.rows() == variable.rows());
  REQUIRE(analytic.cols() == variable.cols());
  double worst = 0.0;
  for (elm::Index j = 0; j < variable.cols(); ++j)
    for (elm::Index i = 0; i < variable.rows(); ++i) {
      const double saved = variable(i, j);
      variable(i, j) = saved + h;
      const double step_up = (saved + h) - saved;  // the steps actually taken, after rounding
      const Real up = loss();
      variable(i, j) = saved - h;
      const double step_down = saved - (saved - h);
      const Real down = loss();
      variable(i, j) = saved;
      const double numeric = static_cast<double>((up - down) / static_cast<Real>(step_up + step_down));
      const double a = analytic(i, j);
      const double err = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), 1e-8});
      worst = std::max(worst, err);
    }
  return worst;
}

inline MatD random_matrix(elm::Index rows, elm::Index cols, elm::Rng& rng, double stddev = 1.0) {
  MatD m(rows, cols);
  rng.fill_normal(m, 0.0, stddev);
  return m;
}

/// Copies every parameter value of `from` into `to` (same architecture, any scalar types), so that a loss can
/// be evaluated in long double for the central differences of a double model's analytic gradients.
template <typename From, typename To>
void copy_parameters(From& from, To& to) {
  std::vector<elm::Matrix<double>> values;
  from.for_each_parameter("", [&](const std::string&, auto& p) { values.push_back(p.value.template cast<double>()); });
  std::size_t k = 0;
  to.for_each_parameter("", [&](const std::string&, auto& p) {
    using S = typename std::decay_t<decltype(p.value)>::Scalar;
    p.value = values.at(k++).template cast<S>();
  });
  REQUIRE(k == values.size());
}

/// sum(R .* y): a scalar whose gradient with respect to y is R.
inline double project(const MatD& y, const MatD& r) { return y.cwiseProduct(r).sum(); }

}  // namespace elm_test
