// SPDX-License-Identifier: MIT
// Tests of core/parallel.hpp: every index visited once, chunks that depend on the size only, and an exception
// thrown by a body reaching the caller (the exception of the lowest index, as a serial loop throws it).
#include <catch2/catch.hpp>

#include <elm/core/error.hpp>
#include <elm/core/parallel.hpp>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using elm::Index;
using Catch::Matchers::Contains;

TEST_CASE("parallel_for visits each index once", "[core][parallel]") {
  const Index n = GENERATE(Index(0), Index(1), Index(7), Index(1000));
  std::vector<int> visits(static_cast<std::size_t>(n), 0);
  elm::detail::parallel_for(0, n, [&](Index i) { ++visits[static_cast<std::size_t>(i)]; });
  for (int v : visits) CHECK(v == 1);
}

TEST_CASE("parallel_chunks covers [0, n) with chunks that depend on n and the chunk size only", "[core][parallel]") {
  const Index n = GENERATE(Index(0), Index(1), Index(10), Index(33));
  const Index chunk = GENERATE(Index(1), Index(4), Index(64));
  std::vector<Index> first(static_cast<std::size_t>(elm::detail::chunk_count(n, chunk)), -1);
  std::vector<Index> last(first.size(), -1);
  elm::detail::parallel_chunks(n, chunk, [&](Index c, Index begin, Index end) {
    first[static_cast<std::size_t>(c)] = begin;
    last[static_cast<std::size_t>(c)] = end;
  });
  Index expected_begin = 0;
  for (std::size_t c = 0; c < first.size(); ++c) {
    CHECK(first[c] == expected_begin);
    CHECK(last[c] == std::min(n, expected_begin + chunk));
    expected_begin = last[c];
  }
  CHECK(expected_begin == n);
}

TEST_CASE("an exception thrown in a parallel_for body reaches the caller with its type and message",
          "[core][parallel]") {
  const auto throw_at = [](Index bad) {
    return [bad](Index i) {
      if (i >= bad) throw elm::InvalidArgument("item " + std::to_string(i) + " is bad");
    };
  };
  REQUIRE_THROWS_MATCHES(elm::detail::parallel_for(0, 100, throw_at(37)), elm::InvalidArgument,
                         Catch::Matchers::Message("item 37 is bad"));
  REQUIRE_THROWS_MATCHES(elm::detail::parallel_for(0, 100, throw_at(0)), elm::InvalidArgument,
                         Catch::Matchers::Message("item 0 is bad"));
  REQUIRE_NOTHROW(elm::detail::parallel_for(0, 100, throw_at(100)));
}

TEST_CASE("an exception thrown in a parallel_chunks body reaches the caller", "[core][parallel]") {
  const auto body = [](Index c, Index, Index) {
    if (c >= 2) throw std::runtime_error("chunk " + std::to_string(c));
  };
  REQUIRE_THROWS_WITH(elm::detail::parallel_chunks(100, 10, body), "chunk 2");
  // One chunk runs without a fork under OpenMP, and still hands its exception on.
  REQUIRE_THROWS_WITH(elm::detail::parallel_chunks(5, 10, [](Index, Index, Index) { throw std::runtime_error("one"); }),
                      Contains("one"));
}

TEST_CASE("FirstException keeps the exception of the lowest index, whichever thread records it first",
          "[core][parallel]") {
  elm::detail::FirstException error(10);
  CHECK(error.worth_running(9));
  REQUIRE_NOTHROW(error.rethrow_if_any());

  // Indices recorded out of order, as threads finishing in any order would record them.
  error.record(7, std::make_exception_ptr(std::runtime_error("seven")));
  CHECK(error.worth_running(6));
  CHECK_FALSE(error.worth_running(7));
  error.record(3, std::make_exception_ptr(std::runtime_error("three")));
  error.record(5, std::make_exception_ptr(std::runtime_error("five")));
  CHECK_FALSE(error.worth_running(4));
  REQUIRE_THROWS_WITH(error.rethrow_if_any(), "three");
}

TEST_CASE("FirstException::run catches a body's exception on any thread; the lowest index is rethrown",
          "[core][parallel]") {
  // The same bookkeeping parallel_for does inside an OpenMP team, here with threads of the test's own.
  const Index count = 8;
  elm::detail::FirstException error(count);
  std::vector<int> ran(static_cast<std::size_t>(count), 0);
  auto body = [&](Index i) {
    ran[static_cast<std::size_t>(i)] = 1;
    if (i % 3 == 2) throw std::runtime_error("index " + std::to_string(i));
  };
  std::vector<std::thread> threads;
  for (Index t = count - 1; t >= 0; --t) threads.emplace_back([&, t] { error.run(t, body); });
  for (auto& thread : threads) thread.join();
  REQUIRE_THROWS_WITH(error.rethrow_if_any(), "index 2");
  CHECK(ran[0] == 1);  // iterations before the lowest failure always run
  CHECK(ran[1] == 1);
  CHECK(ran[2] == 1);
}
