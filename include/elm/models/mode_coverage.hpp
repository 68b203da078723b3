// SPDX-License-Identifier: MIT
// Mode coverage: how a generative model's samples spread over the known modes of a mixture (a GAN's ring of
// Gaussians), the test of mode collapse that a model without a likelihood allows.
#pragma once

#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/types.hpp"

namespace elm::models {

/// Where samples fell: per mode, the samples within `radius` of it (each sample counted at its nearest mode).
struct ModeCoverage {
  std::vector<Index> counts;  ///< samples within radius of mode k (and nearer to it than to any other)
  Index samples = 0;          ///< samples scored
  Index within = 0;           ///< samples within radius of some mode: the sum of counts
  Index covered = 0;          ///< modes whose count reaches min_samples
  /// The fraction of samples within radius of some mode (0 for no samples).
  double fraction_within() const { return samples > 0 ? double(within) / double(samples) : 0.0; }
};

/// Scores samples against the modes of a mixture: each sample goes to its nearest centre (Euclidean, the first on
/// ties), and counts for it when its distance is at most `radius` (3 sigma for Gaussian modes); a mode is covered
/// when at least `min_samples` samples count for it. points: (D, N), centres: (D, K). Throws ShapeError when the
/// dimensions differ, InvalidArgument for no centres, radius <= 0 (or not finite) or min_samples < 1. O(N K D).
template <typename Scalar>
ModeCoverage mode_coverage(const Eigen::Ref<const Matrix<Scalar>>& points,
                           const Eigen::Ref<const Matrix<double>>& centres, double radius, Index min_samples = 1) {
  constexpr std::string_view where = "elm::models::mode_coverage";
  ELM_EXPECT(centres.cols() > 0, InvalidArgument, where, ": expected at least one mode centre, got none");
  ELM_EXPECT(std::isfinite(radius) && radius > 0.0 && min_samples >= 1, InvalidArgument, where,
             ": expected radius > 0 and min_samples >= 1, got radius ", radius, " and min_samples ", min_samples);
  check_shape(points, centres.rows(), -1, where, "points");
  ModeCoverage out;
  out.counts.assign(to_size(centres.cols()), 0);
  out.samples = points.cols();
  for (Index n = 0; n < points.cols(); ++n) {
    Index nearest = 0;
    double best = std::numeric_limits<double>::infinity();
    for (Index k = 0; k < centres.cols(); ++k) {
      const double d = (points.col(n).template cast<double>() - centres.col(k)).squaredNorm();
      if (d < best) {
        best = d;
        nearest = k;
      }
    }
    if (best <= radius * radius) {  // a NaN sample is never within
      ++out.counts[to_size(nearest)];
      ++out.within;
    }
  }
  for (Index c : out.counts) out.covered += c >= min_samples ? 1 : 0;
  return out;
}

/// The centres of `modes` points evenly spaced on a circle of `radius` around the origin, mode k at angle
/// 2 pi k / modes: (2, modes), the ring of Gaussians GANs are tested on (Metz et al. 2017). Throws InvalidArgument
/// for modes < 1 or radius <= 0.
inline Matrix<double> ring_centres(Index modes, double radius) {
  ELM_EXPECT(modes >= 1 && radius > 0.0, InvalidArgument, "elm::models::ring_centres: expected modes >= 1 and radius > 0, got ",
             modes, " and ", radius);
  Matrix<double> centres(2, modes);
  const double pi = 3.14159265358979323846;
  for (Index k = 0; k < modes; ++k) {
    const double angle = 2.0 * pi * double(k) / double(modes);
    centres(0, k) = radius * std::cos(angle);
    centres(1, k) = radius * std::sin(angle);
  }
  return centres;
}

}  // namespace elm::models
