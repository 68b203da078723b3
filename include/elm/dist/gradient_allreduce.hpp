// SPDX-License-Identifier: MIT
// What data-parallel training exchanges: the sum of a model's parameter gradients over the processes, in buckets
// of a fixed size taken from the last parameters first, and rank 0's parameter values copied to every process.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/dist/communicator.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::dist {

/// PyTorch DistributedDataParallel's default bucket (bucket_cap_mb = 25): large enough that a bucket's transfer
/// time dwarfs a collective's latency, small enough that the first buckets could go while later ones are made.
inline constexpr std::size_t default_bucket_bytes = std::size_t(25) << 20;

/// Sums the gradients of a model's trainable parameters over the processes of a communicator, in place, in
/// buckets: the gradients are taken in the reverse of the order for_each_parameter visits them (the last layers,
/// whose gradients a backward pass finishes first, go first), packed one after another into a staging buffer of
/// bucket_bytes (a parameter may straddle two buckets), and each full bucket is summed with one allreduce.
///
/// The allreduces are blocking and start once the whole backward pass has returned: the order is the one an
/// overlapped implementation would use, but nothing overlaps with the backward (the step function is one call).
///
/// Every process must call it with a model of the same parameters (names, shapes, scalar types, trainable flags).
/// An unallocated gradient (nn::Parameter::has_grad false: no backward reached it) is allocated as zeros first,
/// so that every process sends the same counts. The staging buffers are kept between calls: after the first
/// call, a call allocates nothing. Throws InvalidArgument for bucket_bytes smaller than one double, what the
/// communicator throws on a failed transfer.
class GradientAllreduce {
 public:
  explicit GradientAllreduce(std::size_t bucket_bytes = default_bucket_bytes) : bucket_bytes_(bucket_bytes) {
    check_argument(bucket_bytes >= sizeof(double), "elm::dist::GradientAllreduce", "expected bucket_bytes >= ",
                   sizeof(double), ", got ", bucket_bytes);
  }

  std::size_t bucket_bytes() const { return bucket_bytes_; }
  /// Allreduces made by the last call (one per bucket).
  std::size_t buckets() const { return buckets_; }

  template <typename Model>
  void operator()(Communicator& comm, Model& model) {
    f32_.params.clear();
    f64_.params.clear();
    model.for_each_parameter("", [&](const std::string&, auto& p) {
      if (!p.trainable) return;
      p.gradient();  // allocated (zeros) if no backward reached it
      push(p);
    });
    buckets_ = 0;
    reduce(comm, f32_);
    reduce(comm, f64_);
  }

 private:
  template <typename Scalar>
  struct Stream {
    std::vector<nn::Parameter<Scalar>*> params;  // in visiting order; reduced from the back
    std::vector<Scalar> staging;
  };

  void push(nn::Parameter<float>& p) { f32_.params.push_back(&p); }
  void push(nn::Parameter<double>& p) { f64_.params.push_back(&p); }

  template <typename Scalar>
  void reduce(Communicator& comm, Stream<Scalar>& s) {
    if (s.params.empty()) return;
    const std::size_t capacity = std::max<std::size_t>(1, bucket_bytes_ / sizeof(Scalar));
    std::size_t total = 0;
    for (const auto* p : s.params) total += static_cast<std::size_t>(p->grad.size());
    s.staging.reserve(std::min(capacity, total));
    // The gradients, last parameter first, are one stream of `total` numbers cut into buckets of `capacity`:
    // 1) copy the next bucket's numbers in, 2) sum over the processes, 3) copy the sums back where they came from.
    const auto copy = [&](std::size_t first, std::size_t count, bool into_staging) {
      std::size_t at = 0, done = 0;  // at: the stream position of the current parameter's first number
      for (auto it = s.params.rbegin(); it != s.params.rend() && done < count; ++it) {
        const auto n = static_cast<std::size_t>((*it)->grad.size());
        if (at + n > first + done) {
          const std::size_t from = first + done - at, take = std::min(n - from, count - done);
          Scalar* g = (*it)->grad.data() + from;
          Scalar* b = s.staging.data() + done;
          if (into_staging)
            std::copy(g, g + take, b);
          else
            std::copy(b, b + take, g);
          done += take;
        }
        at += n;
      }
    };
    for (std::size_t first = 0; first < total; first += capacity) {
      const std::size_t count = std::min(capacity, total - first);
      s.staging.resize(count);
      copy(first, count, true);
      comm.allreduce_sum(s.staging.data(), count);
      copy(first, count, false);
      ++buckets_;
    }
  }

  std::size_t bucket_bytes_;
  std::size_t buckets_ = 0;
  Stream<float> f32_;
  Stream<double> f64_;
};

/// Copies root's parameter values (trainable or not) into every process's model, one broadcast per parameter:
/// the processes of a data-parallel run start from the same model whatever each initialised. Every process must
/// call it with a model of the same parameters. Throws what the communicator throws.
template <typename Model>
void broadcast_parameters(Communicator& comm, Model& model, int root = 0) {
  model.for_each_parameter("", [&](const std::string&, auto& p) {
    comm.broadcast(p.value.data(), static_cast<std::size_t>(p.value.size()), root);
  });
}

}  // namespace elm::dist
