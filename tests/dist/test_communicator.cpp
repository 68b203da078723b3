// SPDX-License-Identifier: MIT
// Tests of elm/dist: the one-process communicator, run_collectively, and sharded n-gram counting, which must give
// the counts (ids and order included) and the ARPA text of one process. Sharding is tested on a communicator of
// threads in every build; with ELM_MPI the [mpi] cases run the same on MpiCommunicator under mpirun
// (tests/dist/mpirun.sh 2 elm-tests-dist [mpi]).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../common/error_message.hpp"
#include "thread_communicator.hpp"
#include "../ngram/ngram_test_data.hpp"
#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/core/error.hpp"
#include "elm/dist/communicator.hpp"
#include "elm/dist/sharded_ngram_counts.hpp"
#include "elm/io/arpa.hpp"
#ifdef ELM_MPI
#include <chrono>
#include <cstdlib>

#include "elm/dist/mpi_communicator.hpp"
#include "mpi_world.hpp"
#endif

using Catch::Matchers::Contains;
using elm::dist::Communicator;
using elm::dist::LocalCommunicator;
using dist_test::on_threads;

namespace {

// The first lines of the KJV training text of the n-gram tests.
std::vector<std::string> kjv_lines(std::size_t count) {
  std::vector<std::string> lines = ngram_test::read_lines(ngram_test::data_path("train.txt"));
  lines.resize(std::min(count, lines.size()));
  return lines;
}

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// Everything of two counts that estimation reads, in their order: words by id, and per order the n-grams, raw
// counts, prefix and suffix links.
void require_same_counts(const elm::classic::NgramCounts& a, const elm::classic::NgramCounts& b) {
  REQUIRE(a.order() == b.order());
  REQUIRE(a.sentences() == b.sentences());
  REQUIRE(a.tokens() == b.tokens());
  REQUIRE(a.vocabulary().size() == b.vocabulary().size());
  for (elm::classic::WordId id = 0; id < a.vocabulary().size(); ++id)
    REQUIRE(a.vocabulary().word(id) == b.vocabulary().word(id));
  for (int n = 1; n <= a.order(); ++n) {
    INFO("order " << n);
    REQUIRE(a.store(n).all_words() == b.store(n).all_words());
    REQUIRE(a.counts(n) == b.counts(n));
    if (n >= 2) {
      REQUIRE(a.prefixes(n) == b.prefixes(n));
      REQUIRE(a.suffixes(n) == b.suffixes(n));
    }
  }
}

std::string arpa_text(const elm::classic::NgramCounts& counts) {
  elm::classic::KneserNeyOptions options;
  options.discount_fallback = true;  // small texts may lack the counts-of-counts of the closed-form discounts
  std::ostringstream out;
  elm::io::write_arpa(elm::classic::estimate_kneser_ney(counts, options), out);
  return out.str();
}

// Counts lines sharded over `ranks` threads (contiguous shares) and checks root's result against one process's.
void check_sharded_counts(const std::vector<std::string>& lines, int ranks, int order, bool chars, int root = 0) {
  elm::classic::NgramCounts single(order);
  single.add_lines(lines, chars);
  std::vector<std::optional<elm::classic::NgramCounts>> results(static_cast<std::size_t>(ranks));
  const auto errors = on_threads(ranks, [&](Communicator& comm) {
    const auto share = elm::dist::shard_lines(lines.size(), comm.rank(), comm.size());
    const std::vector<std::string> mine(lines.begin() + std::ptrdiff_t(share.begin),
                                        lines.begin() + std::ptrdiff_t(share.end));
    results[std::size_t(comm.rank())] =
        elm::dist::count_ngrams_sharded(comm, mine, std::int64_t(share.begin), order, chars, root);
  });
  for (int r = 0; r < ranks; ++r) {
    INFO("rank " << r);
    REQUIRE(errors[std::size_t(r)] == nullptr);
    REQUIRE(results[std::size_t(r)].has_value() == (r == root));
  }
  const elm::classic::NgramCounts& merged = *results[std::size_t(root)];
  require_same_counts(single, merged);
  REQUIRE(arpa_text(single) == arpa_text(merged));
}

}  // namespace

TEST_CASE("LocalCommunicator: one process, every collective leaves the data as it is", "[dist]") {
  LocalCommunicator comm;
  CHECK(comm.rank() == 0);
  CHECK(comm.size() == 1);
  std::vector<float> f{1.5f, -2.0f, 0.25f};
  comm.allreduce_sum(f.data(), f.size());
  CHECK(f == std::vector<float>{1.5f, -2.0f, 0.25f});
  comm.allreduce_average(f.data(), f.size());
  CHECK(f == std::vector<float>{1.5f, -2.0f, 0.25f});
  std::vector<double> d{3.0, 1e-300};
  comm.allreduce_average(d.data(), d.size());
  CHECK(d == std::vector<double>{3.0, 1e-300});
  std::int64_t i[2] = {7, -9};
  comm.allreduce_sum(i, 2);
  CHECK((i[0] == 7 && i[1] == -9));
  comm.allreduce_sum(static_cast<float*>(nullptr), 0);  // an empty buffer is allowed
  std::string bytes = "abc";
  comm.broadcast(reinterpret_cast<std::byte*>(bytes.data()), bytes.size(), 0);
  CHECK(bytes == "abc");
  comm.barrier();
  const std::vector<std::string> out = comm.all_to_all({"to myself"});
  CHECK(out == std::vector<std::string>{"to myself"});

  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { comm.broadcast(f.data(), f.size(), 1); }),
             Contains("expected 0 <= root < 1"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] {
               comm.all_to_all({"a", "b"});
             }),
             Contains("expected one per process (1)"));
  CHECK_THAT(
      elm_test::error_message<elm::InvalidArgument>([&] { comm.allreduce_sum(static_cast<double*>(nullptr), 3); }),
      Contains("null buffer of 3"));
}

TEST_CASE("run_collectively: one process rethrows its own failure", "[dist]") {
  LocalCommunicator comm;
  int calls = 0;
  elm::dist::run_collectively(comm, [&] { ++calls; });
  CHECK(calls == 1);
  CHECK_THAT(elm_test::error_message<elm::FormatError>(
                 [&] { elm::dist::run_collectively(comm, [] { throw elm::FormatError("line 3: bad"); }); }),
             Contains("line 3: bad"));
}

TEST_CASE("shard_lines: contiguous shares in rank order, lengths within one", "[dist]") {
  using elm::dist::shard_lines;
  CHECK(shard_lines(10, 0, 3).begin == 0);
  CHECK(shard_lines(10, 0, 3).end == 4);
  CHECK(shard_lines(10, 1, 3).begin == 4);
  CHECK(shard_lines(10, 1, 3).end == 7);
  CHECK(shard_lines(10, 2, 3).begin == 7);
  CHECK(shard_lines(10, 2, 3).end == 10);
  CHECK(shard_lines(2, 2, 3).begin == 2);  // more ranks than lines: the last shares are empty
  CHECK(shard_lines(2, 2, 3).end == 2);
  CHECK(shard_lines(0, 0, 1).end == 0);
  CHECK_THROWS_AS(shard_lines(5, 3, 3), elm::InvalidArgument);
}

TEST_CASE("Thread communicator: the collectives the sharded counting relies on", "[dist]") {
  // Uneven and empty buffers: rank r sends (r + 2 p) % 3 copies of the letter 'a' + r to rank p.
  const int ranks = 3;
  std::vector<std::vector<std::string>> got(ranks);
  std::vector<std::vector<double>> sums(ranks);
  std::vector<std::string> texts(ranks);
  const auto errors = on_threads(ranks, [&](Communicator& comm) {
    const int r = comm.rank();
    std::vector<std::string> send(std::size_t(comm.size()));
    for (int p = 0; p < comm.size(); ++p)
      send[std::size_t(p)] = std::string(std::size_t((r + 2 * p) % 3), char('a' + r));
    got[std::size_t(r)] = comm.all_to_all(send);
    std::vector<double> v{double(r), 1.0};
    comm.allreduce_average(v.data(), v.size());
    sums[std::size_t(r)] = v;
    std::string text = r == 1 ? "from one" : "        ";
    comm.broadcast(reinterpret_cast<std::byte*>(text.data()), text.size(), 1);
    texts[std::size_t(r)] = text;
  });
  for (int r = 0; r < ranks; ++r) {
    REQUIRE(errors[std::size_t(r)] == nullptr);
    for (int p = 0; p < ranks; ++p)
      CHECK(got[std::size_t(r)][std::size_t(p)] == std::string(std::size_t((p + 2 * r) % 3), char('a' + p)));
    CHECK(sums[std::size_t(r)] == std::vector<double>{1.0, 1.0});
    CHECK(texts[std::size_t(r)] == "from one");
  }
}

TEST_CASE("run_collectively: a failure on one rank reaches every rank", "[dist]") {
  const auto errors = on_threads(3, [](Communicator& comm) {
    elm::dist::run_collectively(comm, [&] {
      if (comm.rank() == 1) throw elm::FormatError("line 12: special word <s>");
    });
  });
  REQUIRE(errors[1] != nullptr);
  CHECK_THROWS_AS(std::rethrow_exception(errors[1]), elm::FormatError);
  for (int r : {0, 2}) {
    REQUIRE(errors[std::size_t(r)] != nullptr);
    CHECK_THROWS_AS(std::rethrow_exception(errors[std::size_t(r)]), elm::dist::PeerError);
    CHECK_THAT(message_of(errors[std::size_t(r)]), Contains("rank 1 of 3 failed") && Contains("line 12"));
  }
}

TEST_CASE("count_ngrams_sharded: the counts and ARPA text of one process, over 1 to 4 ranks", "[dist][ngram]") {
  const std::vector<std::string> lines = kjv_lines(400);
  const int ranks = GENERATE(1, 2, 3, 4);
  const int order = GENERATE(1, 2, 3, 5);
  INFO(ranks << " ranks, order " << order);
  check_sharded_counts(lines, ranks, order, false);
  if (order == 3) check_sharded_counts(lines, ranks, order, false, ranks - 1);  // another root
}

TEST_CASE("count_ngrams_sharded: characters, empty lines, more ranks than lines", "[dist][ngram]") {
  const std::vector<std::string> lines{"the cat", "", "thé chat", "  ", "the cat sat"};
  check_sharded_counts(lines, 3, 4, true);
  check_sharded_counts(lines, 4, 3, false);
  check_sharded_counts({"one line only"}, 3, 3, false);
}

TEST_CASE("count_ngrams_sharded: a bad line fails on every rank, with its line number in the file", "[dist][ngram]") {
  const std::vector<std::string> lines{"a b", "c d", "e <s> f", "g h"};
  const auto errors = on_threads(2, [&](Communicator& comm) {
    const auto share = elm::dist::shard_lines(lines.size(), comm.rank(), comm.size());
    const std::vector<std::string> mine(lines.begin() + std::ptrdiff_t(share.begin),
                                        lines.begin() + std::ptrdiff_t(share.end));
    (void)elm::dist::count_ngrams_sharded(comm, mine, std::int64_t(share.begin), 3);
  });
  REQUIRE(errors[1] != nullptr);
  CHECK_THAT(elm_test::error_message<elm::FormatError>([&] { std::rethrow_exception(errors[1]); }),
             Contains("line 3: special word <s>"));
  REQUIRE(errors[0] != nullptr);
  CHECK_THAT(elm_test::error_message<elm::dist::PeerError>([&] { std::rethrow_exception(errors[0]); }),
             Contains("line 3: special word"));
}

TEST_CASE("NgramCounts::add_counted: only the windows counting hashes", "[dist][ngram]") {
  elm::classic::NgramCounts c(3);
  const elm::classic::WordId a = c.add_word("a"), b = c.add_word("b");
  CHECK(a == 3);
  CHECK(c.add_word("a") == 3);
  const elm::classic::WordId tri[3] = {1, a, b}, bi[2] = {a, b}, bad[3] = {a, 1, b}, unknown[3] = {a, b, 9};
  c.add_counted(tri, 3, 2);
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { c.add_counted(bi, 2, 1); }),
             Contains("does not start with <s>"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { c.add_counted(bad, 3, 1); }),
             Contains("<s> (id 1) only first"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { c.add_counted(unknown, 3, 1); }), Contains("id 9"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { c.add_counted(tri, 3, -1); }), Contains("count = -1"));
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { c.add_counted(tri, 4, 1); }),
             Contains("expected 1 <= n <= 3"));
}

#ifdef ELM_MPI
using dist_test::world;

TEST_CASE("MpiCommunicator: sums, averages, broadcasts and uneven exchanges", "[.][mpi]") {
  Communicator& comm = world();
  const int r = comm.rank(), size = comm.size();
  INFO("rank " << r << " of " << size);
  std::vector<float> f{float(r), 0.5f};
  comm.allreduce_sum(f.data(), f.size());
  CHECK(f[0] == float(size * (size - 1) / 2));
  CHECK(f[1] == 0.5f * float(size));
  std::vector<double> d{double(r + 1), -1.0};
  comm.allreduce_average(d.data(), d.size());
  CHECK(d[0] == double(size + 1) / 2.0);
  CHECK(d[1] == -1.0);
  std::int64_t big = (std::int64_t(1) << 40) + r;
  comm.allreduce_sum(&big, 1);
  CHECK(big == size * (std::int64_t(1) << 40) + std::int64_t(size) * (size - 1) / 2);
  comm.allreduce_sum(static_cast<double*>(nullptr), 0);

  const int root = size - 1;
  std::vector<float> weights(1000, r == root ? 3.25f : 0.0f);
  comm.broadcast(weights.data(), weights.size(), root);
  CHECK(weights == std::vector<float>(1000, 3.25f));
  std::string bytes = r == 0 ? std::string("from rank 0") : std::string(11, ' ');
  comm.broadcast(reinterpret_cast<std::byte*>(bytes.data()), bytes.size(), 0);
  CHECK(bytes == "from rank 0");

  // rank r sends (r + 2 p) % 3 * 1000 bytes of 'a' + r to rank p: uneven sizes, some empty, itself included
  std::vector<std::string> send(static_cast<std::size_t>(size));
  for (int p = 0; p < size; ++p) send[std::size_t(p)] = std::string(std::size_t((r + 2 * p) % 3) * 1000, char('a' + r));
  const std::vector<std::string> got = comm.all_to_all(send);
  REQUIRE(got.size() == std::size_t(size));
  for (int p = 0; p < size; ++p)
    CHECK(got[std::size_t(p)] == std::string(std::size_t((p + 2 * r) % 3) * 1000, char('a' + p)));
  comm.barrier();

  const auto failing = [&] {
    elm::dist::run_collectively(comm, [&] {
      if (comm.rank() == size - 1) throw elm::IoError("cannot open shard");
    });
  };
  if (size > 1 && r != size - 1) {
    CHECK_THAT(elm_test::error_message<elm::dist::PeerError>([&] { failing(); }), Contains("cannot open shard"));
  } else {
    CHECK_THROWS_AS(failing(), elm::IoError);
  }
}

TEST_CASE("MpiCommunicator: sharded n-gram counts equal one process's", "[.][mpi]") {
  Communicator& comm = world();
  const std::vector<std::string> lines = kjv_lines(1000);
  for (int order : {1, 3, 5}) {
    INFO("order " << order);
    const auto share = elm::dist::shard_lines(lines.size(), comm.rank(), comm.size());
    const std::vector<std::string> mine(lines.begin() + std::ptrdiff_t(share.begin),
                                        lines.begin() + std::ptrdiff_t(share.end));
    const auto merged = elm::dist::count_ngrams_sharded(comm, mine, std::int64_t(share.begin), order);
    REQUIRE(merged.has_value() == (comm.rank() == 0));
    if (!merged) continue;
    elm::classic::NgramCounts single(order);
    single.add_lines(lines);
    require_same_counts(single, *merged);
    CHECK(arpa_text(single) == arpa_text(*merged));
  }
}

// Run by tests/dist/expect_job_failure.sh: the last rank ends abruptly while rank 0 waits in an exchange; the job
// must end (with an error) rather than hang.
TEST_CASE("MpiCommunicator: a rank that exits in the middle of an exchange", "[.][mpi-exit]") {
  Communicator& comm = world();
  comm.barrier();
  if (comm.rank() == comm.size() - 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::_Exit(3);
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)comm.all_to_all(std::vector<std::string>(std::size_t(comm.size()), std::string(1 << 20, 'x')));
    FAIL("the exchange completed without the rank that exited");
  } catch (const elm::dist::CommunicationError& e) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    WARN("rank " << comm.rank() << " saw, after " << s << " s: " << e.what());
    throw;
  }
}
#endif
