// SPDX-License-Identifier: MIT
// Tests of what data-parallel training is made of, without a model: the gradients summed in buckets, last parameter
// first (elm/dist/gradient_allreduce.hpp), and a process's share of each language-model batch
// (TokenWindows::shard). The training runs themselves are in test_data_parallel.cpp.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../common/error_message.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/dist/communicator.hpp"
#include "elm/dist/gradient_allreduce.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/train/token_windows.hpp"

namespace allreduce_test {

namespace nn = elm::nn;

// A communicator of 2 processes whose other process holds the same numbers: a sum doubles each number. Records the
// first number and the size of each allreduce.
class MirrorCommunicator final : public elm::dist::Communicator {
 public:
  int rank() const noexcept override { return 0; }
  int size() const noexcept override { return 2; }
  void barrier() override {}
  std::vector<std::pair<double, std::size_t>> calls;

 protected:
  void do_allreduce_sum(void* data, std::size_t count, Element type) override {
    if (type == Element::f32) double_all(static_cast<float*>(data), count);
    if (type == Element::f64) double_all(static_cast<double*>(data), count);
  }
  void do_broadcast(void*, std::size_t, Element, int) override {}
  std::vector<std::string> exchange(const std::vector<std::string>& send) override { return send; }

 private:
  template <typename T>
  void double_all(T* data, std::size_t count) {
    calls.emplace_back(double(data[0]), count);
    for (std::size_t i = 0; i < count; ++i) data[i] *= 2;
  }
};

// Three parameters of 3, 4 and 2 numbers (the middle one frozen) and a double one: gradient i of parameter p is
// 10 p + i.
struct ThreeParameters {
  nn::Parameter<float> a{{3}}, frozen{{4}}, c{{2}};
  nn::Parameter<double> d{{2}};
  ThreeParameters() { frozen.trainable = false; }
  template <typename F>
  void for_each_parameter(const std::string&, F&& f) {
    f("a", a);
    f("frozen", frozen);
    f("c", c);
    f("d", d);
  }
};

// Random tokens: windows drawn anywhere differ.
std::vector<elm::Index> random_stream() {
  elm::Rng rng(5);
  std::vector<elm::Index> s(400);
  for (elm::Index& t : s) t = static_cast<elm::Index>(rng.below(13));
  return s;
}

}  // namespace allreduce_test

TEST_CASE("GradientAllreduce: buckets of the gradients, last parameter first, frozen ones left out", "[dist]") {
  allreduce_test::ThreeParameters m;
  m.a.gradient() << 0.0f, 1.0f, 2.0f;
  m.frozen.gradient().setConstant(7.0f);
  // c's gradient unallocated: a process whose backward never reached it sends zeros
  m.d.gradient() << 30.0, 31.0;
  allreduce_test::MirrorCommunicator comm;
  elm::dist::GradientAllreduce sum(2 * sizeof(float));  // two floats a bucket
  sum(comm, m);
  // the float stream, last first: c (0, 0), a (0, 1, 2) -> buckets (0, 0), (0, 1), (2); then d's doubles
  CHECK(sum.buckets() == 5);
  REQUIRE(comm.calls.size() == 5);
  CHECK(comm.calls[0] == std::make_pair(0.0, std::size_t(2)));
  CHECK(comm.calls[1] == std::make_pair(0.0, std::size_t(2)));
  CHECK(comm.calls[2] == std::make_pair(2.0, std::size_t(1)));
  CHECK(comm.calls[3] == std::make_pair(30.0, std::size_t(1)));  // the bytes of 2 floats hold 1 double
  CHECK(comm.calls[4] == std::make_pair(31.0, std::size_t(1)));
  CHECK(m.a.grad(0) == 0.0f);
  CHECK(m.a.grad(1) == 2.0f);
  CHECK(m.a.grad(2) == 4.0f);
  CHECK(m.c.grad.size() == 2);
  CHECK(m.c.grad.isZero());
  CHECK(m.frozen.grad.isConstant(7.0f));
  CHECK(m.d.grad(0) == 60.0);
  CHECK(m.d.grad(1) == 62.0);
  CHECK_THROWS_AS(elm::dist::GradientAllreduce(4), elm::InvalidArgument);
}

TEST_CASE("TokenWindows::shard: the processes' batches side by side are one process's batch", "[dist][train]") {
  const auto stream = allreduce_test::random_stream();
  const elm::train::TokenWindows whole(stream, 6, 5, 3);
  for (int ranks : {1, 2, 3, 6}) {
    INFO(ranks << " processes");
    for (std::uint64_t k : {0u, 7u}) {
      std::vector<elm::Index> inputs, targets;
      for (int r = 0; r < ranks; ++r) {
        elm::train::TokenWindows part(stream, 6, 5, 3);
        part.shard(r, ranks);
        CHECK(part.local_batch_size() == 6 / ranks);
        const auto b = part.batch(k);
        CHECK(b.batch_size == 6 / ranks);
        CHECK(b.tokens == 6 / ranks * 5);
        inputs.insert(inputs.end(), b.inputs.begin(), b.inputs.end());
        targets.insert(targets.end(), b.targets.begin(), b.targets.end());
      }
      CHECK(inputs == whole.batch(k).inputs);
      CHECK(targets == whole.batch(k).targets);
    }
  }
  elm::train::TokenWindows w(stream, 6, 5, 3);
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { w.shard(0, 4); }),
             Catch::Matchers::Contains("6 windows does not divide among 4 processes"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { w.shard(2, 2); }),
             Catch::Matchers::Contains("expected 0 <= rank < ranks, got rank 2 of 2"));
}

