// SPDX-License-Identifier: MIT
// Language-model data for the trainer: random windows reproducible from their position, held-out windows that
// predict every token once, the sentence stream, bad input.
#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "elm/train/token_windows.hpp"

namespace train = elm::train;
using elm::Index;
using Catch::Matchers::Contains;

TEST_CASE("TokenWindows draws windows of the stream with next-token targets, batch k from (seed, k)",
          "[train][token_windows]") {
  std::vector<Index> stream;
  for (Index i = 0; i < 50; ++i) stream.push_back(i);  // id = position: a window shows where it starts
  train::TokenWindows windows(stream, /*batch_size=*/3, /*seq_len=*/5, /*seed=*/9);
  const auto b = windows.batch(4);
  CHECK(b.batch_size == 3);
  CHECK(b.seq_len == 5);
  CHECK(b.lengths == std::vector<Index>{5, 5, 5});
  CHECK(b.tokens == 15);
  std::set<Index> starts;
  for (Index w = 0; w < 3; ++w) {
    const Index start = b.inputs[std::size_t(w * 5)];
    starts.insert(start);
    CHECK(start + 5 < 50);  // the last target is in the stream
    for (Index t = 0; t < 5; ++t) {
      CHECK(b.inputs[std::size_t(w * 5 + t)] == start + t);
      CHECK(b.targets[std::size_t(w * 5 + t)] == start + t + 1);
    }
  }
  // next() walks the positions; seek() goes back; the same k gives the same batch, another seed another.
  CHECK(windows.position() == 0);
  const auto first = windows.next();
  const auto second = windows.next();
  CHECK(windows.position() == 2);
  CHECK(first.inputs != second.inputs);
  windows.seek(1);
  CHECK(windows.next().inputs == second.inputs);
  CHECK(windows.batch(4).inputs == b.inputs);
  CHECK(train::TokenWindows(stream, 3, 5, 10).batch(4).inputs != b.inputs);
  // Every start position is reachable, the last one included (the stream is 50 tokens, windows need 6).
  std::set<Index> seen;
  for (std::uint64_t k = 0; k < 400; ++k)
    for (Index w = 0; w < 3; ++w) seen.insert(windows.batch(k).inputs[std::size_t(w * 5)]);
  CHECK(seen.size() == 45);
  CHECK(*seen.rbegin() == 44);
}

TEST_CASE("Batch k's starts are drawn from batch_rng(seed, k) = Rng(seed * 0x9E3779B97F4A7C15 + k), which resumed "
          "checkpoints rely on", "[train][token_windows]") {
  std::vector<Index> stream;
  for (Index i = 0; i < 50; ++i) stream.push_back(i);
  const train::TokenWindows windows(stream, /*batch_size=*/3, /*seq_len=*/5, /*seed=*/9);
  for (std::uint64_t k : {0u, 1u, 7u, 1000u}) {
    elm::Rng expected(9 * 0x9E3779B97F4A7C15ULL + k), helper = train::batch_rng(9, k);
    const auto b = windows.batch(k);
    for (Index w = 0; w < 3; ++w) {
      const auto start = Index(expected.below(45));
      CHECK(helper.below(45) == std::uint64_t(start));
      CHECK(b.inputs[std::size_t(w * 5)] == start);
    }
  }
}

TEST_CASE("consecutive_windows predicts every token of a held-out stream once", "[train][token_windows]") {
  const std::vector<Index> stream{7, 1, 2, 3, 4, 5, 6, 7, 8, 9};  // 9 targets: windows of 4, 4 and 1
  const auto batches = train::consecutive_windows(stream, /*batch_size=*/2, /*seq_len=*/4);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].batch_size == 2);
  CHECK(batches[0].lengths == std::vector<Index>{4, 4});
  CHECK(batches[0].inputs == std::vector<Index>{7, 1, 2, 3, 4, 5, 6, 7});
  CHECK(batches[0].targets == std::vector<Index>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(batches[1].batch_size == 1);
  CHECK(batches[1].lengths == std::vector<Index>{1});
  CHECK(batches[1].inputs == std::vector<Index>{8, 0, 0, 0});  // padding inputs are id 0, masked by the length
  CHECK(batches[1].targets == std::vector<Index>{9, train::ignore_target, train::ignore_target, train::ignore_target});
  CHECK(batches[0].tokens + batches[1].tokens == 9);
}

TEST_CASE("sentence_stream puts the boundary before, between and after sentences", "[train][token_windows]") {
  CHECK(train::sentence_stream({{2, 3, 2}, {2, 0, 3}}, 1) == std::vector<Index>{1, 2, 3, 2, 1, 2, 0, 3, 1});
  CHECK(train::sentence_stream({}, 1) == std::vector<Index>{1});
}

TEST_CASE("TokenWindows and consecutive_windows reject bad sizes and short streams",
          "[train][token_windows][bad-input]") {
  REQUIRE_THROWS_WITH(train::TokenWindows({1, 2, 3}, 2, 3), Contains("the stream has 3 tokens, expected at least seq_len + 1 = 4"));
  REQUIRE_THROWS_AS(train::TokenWindows({1, 2, 3}, 0, 1), elm::InvalidArgument);
  REQUIRE_THROWS_AS(train::TokenWindows({1, 2, 3}, 1, 0), elm::InvalidArgument);
  REQUIRE_THROWS_WITH(train::consecutive_windows({1}, 2, 3), Contains("expected at least 2"));
  REQUIRE_THROWS_AS(train::consecutive_windows({1, 2}, 0, 3), elm::InvalidArgument);
}
