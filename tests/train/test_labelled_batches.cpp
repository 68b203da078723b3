// SPDX-License-Identifier: MIT
// Classification data for the Trainer: each epoch of ShuffledExamples visits every example once, the order is
// the seed's alone and a seek resumes it; held-out batches keep the examples' order; bad input is refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "../common/error_message.hpp"
#include "elm/train/labelled_batches.hpp"

namespace labelled_batches_test {

using Catch::Matchers::Contains;
using elm::Index;
using elm::train::LabelledBatch;
using elm::train::ShuffledExamples;

// Ten examples: sequence i is {i, i + 1}, its label i % 3.
void examples(std::vector<std::vector<Index>>& sequences, std::vector<Index>& labels) {
  for (Index i = 0; i < 10; ++i) {
    sequences.push_back({i, i + 1});
    labels.push_back(i % 3);
  }
}

TEST_CASE("ShuffledExamples visits every example once an epoch, in the seed's order, resumably",
          "[train][labelled-batches]") {
  std::vector<std::vector<Index>> sequences;
  std::vector<Index> labels;
  examples(sequences, labels);
  ShuffledExamples data(sequences, labels, /*batch_size=*/4, /*seed=*/7);
  REQUIRE(data.batches_per_epoch() == 3);
  std::vector<std::vector<Index>> epochs[2];
  for (int e = 0; e < 2; ++e)
    for (int k = 0; k < 3; ++k) {
      const LabelledBatch b = data.next();
      CHECK(b.sequences.size() == (k < 2 ? 4u : 2u));  // the epoch's last batch holds the rest
      for (std::size_t i = 0; i < b.sequences.size(); ++i) {
        CHECK(b.labels[i] == b.sequences[i][0] % 3);  // each sequence keeps its label
        epochs[e].push_back(b.sequences[i]);
      }
    }
  CHECK(data.position() == 6);
  for (auto& epoch : epochs) {
    CHECK(epoch != sequences);  // shuffled (10! orders: the identity is 1 in 3.6 million)
    std::sort(epoch.begin(), epoch.end());
    CHECK(epoch == sequences);  // a permutation: every example once
  }
  // the same seed draws the same batches; a seek resumes at a position; another seed draws others
  ShuffledExamples again(sequences, labels, 4, 7), other(sequences, labels, 4, 8);
  again.seek(4);
  CHECK(again.next().sequences == data.batch(4).sequences);
  CHECK(other.batch(0).sequences != data.batch(0).sequences);
}

TEST_CASE("ShuffledExamples' batches are Fisher-Yates shuffles of batch_rng(seed, epoch), drawn in order, after seeks "
          "and in copies", "[train][labelled-batches]") {
  std::vector<std::vector<Index>> sequences;
  std::vector<Index> labels;
  examples(sequences, labels);
  // The definition: epoch e's order is a Fisher-Yates shuffle of 0..N-1 with Rng(seed * 0x9E3779B97F4A7C15 + e),
  // cut into batches of B.
  const auto expected = [&](std::uint64_t k) {
    const std::uint64_t epoch = k / 3;
    std::vector<std::size_t> order(sequences.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    elm::Rng rng(7 * 0x9E3779B97F4A7C15ULL + epoch);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[std::size_t(rng.below(i))]);
    std::vector<std::vector<Index>> batch;
    for (std::size_t i = (k % 3) * 4; i < std::min<std::size_t>((k % 3) * 4 + 4, order.size()); ++i)
      batch.push_back(sequences[order[i]]);
    return batch;
  };
  ShuffledExamples data(sequences, labels, /*batch_size=*/4, /*seed=*/7);
  for (std::uint64_t k = 0; k < 9; ++k) {  // three epochs in order
    CHECK(data.batch(k).sequences == expected(k));
    CHECK(data.next().sequences == expected(k));
  }
  data.seek(4);  // back into an earlier epoch, mid-epoch
  CHECK(data.next().sequences == expected(4));
  ShuffledExamples copy = data;  // a copy carries the epoch it has cached
  CHECK(copy.next().sequences == expected(5));
  data.seek(12);  // forward, skipping an epoch
  CHECK(data.next().sequences == expected(12));
  CHECK(copy.next().sequences == expected(6));
  const ShuffledExamples fresh(sequences, labels, 4, 7);
  CHECK(fresh.batch(10).sequences == expected(10));
}

TEST_CASE("labelled_batches cuts held-out examples in order", "[train][labelled-batches]") {
  std::vector<std::vector<Index>> sequences;
  std::vector<Index> labels;
  examples(sequences, labels);
  const auto batches = elm::train::labelled_batches(sequences, labels, 4);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].sequences[0] == sequences[0]);
  CHECK(batches[2].sequences.size() == 2);
  CHECK(batches[2].labels == std::vector<Index>{labels[8], labels[9]});
}

TEST_CASE("Labelled data refuses bad input, naming it", "[train][labelled-batches][bad-input]") {
  std::vector<std::vector<Index>> sequences;
  std::vector<Index> labels;
  examples(sequences, labels);
  labels.pop_back();
  CHECK_THAT(elm_test::error_message<elm::ShapeError>([&] { ShuffledExamples(sequences, labels, 4); }),
             Contains("labels has 9 entries, expected one per sequence (10)"));
  CHECK_THAT(elm_test::error_message<elm::ShapeError>([&] { (void)elm::train::labelled_batches(sequences, labels, 4); }),
             Contains("labels has 9 entries"));
  labels.push_back(0);
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { ShuffledExamples(sequences, labels, 0); }),
             Contains("batch_size > 0"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { ShuffledExamples({}, {}, 4); }),
             Contains("expected examples"));
}

}  // namespace labelled_batches_test
