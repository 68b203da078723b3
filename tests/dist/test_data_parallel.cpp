// SPDX-License-Identifier: MIT
// Tests of data-parallel training (elm/dist/gradient_allreduce.hpp, Trainer::set_communicator, TokenWindows::shard):
// N processes with local batch B train as one process with batch N B, a checkpoint of N processes resumes on one,
// and a failure on one process reaches the others. On two threads standing in for processes in every build; with
// ELM_MPI the [mpi] cases run the same on MpiCommunicator under mpirun (tests/dist/mpirun.sh 2), and the
// [mpi-exit-training] case kills a process in the middle of a run (tests/dist/expect_job_failure.sh).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "../common/error_message.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/dist/communicator.hpp"
#include "elm/models/gpt2.hpp"
#include "elm/models/lstm_lm.hpp"
#include "elm/nn/optim/sgd.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/train/token_windows.hpp"
#include "elm/train/trainer.hpp"
#include "thread_communicator.hpp"
#ifdef ELM_MPI
#include <chrono>
#include <cstdlib>
#include <thread>

#include "elm/dist/mpi_communicator.hpp"
#include "mpi_world.hpp"
#endif

using Catch::Matchers::Contains;
using elm::Index;

namespace dp_test {

namespace dist = elm::dist;
namespace models = elm::models;
namespace nn = elm::nn;
namespace train = elm::train;

constexpr Index vocab = 13, seq_len = 8, local_batch = 2;
constexpr std::uint64_t default_data_seed = 21;

// Random tokens: windows drawn anywhere differ, so rows that are not the one-process batch's show.
std::vector<Index> random_stream() {
  elm::Rng rng(5);
  std::vector<Index> s(400);
  for (Index& t : s) t = static_cast<Index>(rng.below(vocab));
  return s;
}

// A tiny GPT-2 (2 blocks, C = 8, 2 heads, context 8) and a tiny LSTM LM (E = 8, H = 16), no dropout.
models::Gpt2Config gpt_config() {
  models::Gpt2Config c;
  c.vocab_size = vocab;
  c.n_positions = seq_len;
  c.n_embd = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.resid_pdrop = c.embd_pdrop = c.attn_pdrop = 0.0;
  return c;
}
models::LstmLmConfig lstm_config() { return {vocab, 8, 16, 1}; }
models::Gpt2<float> make_model(const models::Gpt2Config& c, elm::Rng& rng) { return models::Gpt2<float>(c, rng); }
models::LstmLm<float> make_model(const models::LstmLmConfig& c, elm::Rng& rng) {
  return models::LstmLm<float>(c, rng);
}

// What a run ends with: every parameter's numbers in visiting order, each step's mean loss.
struct Run {
  std::vector<float> parameters;
  std::vector<double> losses;
  double communication_seconds = 0.0;
};

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// How a run is set up.
struct Setup {
  dist::Communicator* comm = nullptr;  // null: one process, no communicator
  Index global_batch = 2 * local_batch;
  std::uint64_t data_seed = default_data_seed;  // a process's own seed: a wrong sharding
  std::int64_t steps = 4;
  std::string checkpoint, resume;
  std::function<void(std::int64_t step)> before_step;  // called in the step function of each step's first batch
};

// SGD with momentum, warmup then cosine decay, 2 micro-batches a step, clipping at norm 1 (every step clips): what
// the processes must agree on is the global count, the global norm and the summed gradient. Each process
// initialises its model from its own seed, so the processes' models agree only if rank 0's are broadcast.
template <typename Config>
Run train_run(const Config& config, const Setup& s) {
  const int rank = s.comm ? s.comm->rank() : 0;
  elm::Rng init(100 + std::uint64_t(rank));
  auto model = make_model(config, init);
  nn::Sgd<float> sgd({0.05, 0.9});
  train::TokenWindows windows(random_stream(), s.global_batch, seq_len, s.data_seed);
  if (s.comm) windows.shard(rank, s.comm->size());
  train::TrainerOptions options;
  options.steps = s.steps;
  options.schedule = nn::LrSchedule::warmup_cosine(0.05, 1, 4, 0.005);
  options.accumulation = 2;
  options.clip_norm = 1.0;
  options.checkpoint_path = s.checkpoint;
  options.allreduce_bucket_bytes = 1000;  // several buckets, parameters straddling them
  auto step = train::language_model_step(model);
  std::int64_t calls = 0;
  train::Trainer trainer(model, sgd, windows,
                         [&](const train::TokenBatch& b, const nn::ForwardContext& context) {
                           const std::int64_t call = calls++;
                           if (s.before_step && call % options.accumulation == 0)
                             s.before_step(call / options.accumulation + 1);
                           return step(b, context);
                         },
                         options);
  if (s.comm) trainer.set_communicator(*s.comm);
  if (!s.resume.empty()) trainer.resume(s.resume);
  const train::TrainResult result = trainer.run();
  Run r;
  r.losses = result.losses;
  r.communication_seconds = result.communication_seconds;
  model.for_each_parameter("", [&](const std::string&, const nn::Parameter<float>& p) {
    r.parameters.insert(r.parameters.end(), p.value.data(), p.value.data() + p.value.size());
  });
  return r;
}

// The tolerance of a run of 2 processes against one: the sum of the two processes' partial gradients adds the
// same products in another order than one process's sum over the whole batch (and the kernels block the products
// by the batch's width), so the gradients differ by float rounding, a few 1e-7 of their magnitude; 4 steps of SGD
// at a rate <= 0.05 with momentum 0.9, through a network that carries the differences from step to step, stay
// below 1e-5 on parameters of magnitude up to about 1 (measured: about 1e-7), and the mean losses (about 2.6
// nats) likewise. A wrong sharding changes the gradients themselves and moves the parameters by more than 1e-3.
constexpr double tolerance = 1e-5;
constexpr double wrong_by_more_than = 1e-3;

// Trains on two ranks of `comm`-likes (run_ranks), and compares with one process of the doubled batch.
template <typename Config, typename RunRanks>
void check_data_parallel(const Config& config, RunRanks run_ranks) {
  const Run single = train_run(config, Setup{});
  const std::vector<Run> parallel = run_ranks([&](dist::Communicator& comm) {
    Setup s;
    s.comm = &comm;
    return train_run(config, s);
  });
  for (std::size_t r = 0; r < parallel.size(); ++r) {
    INFO("rank " << r);
    const double dp = max_abs_diff(parallel[r].parameters, single.parameters);
    const double dl = max_abs_diff(parallel[r].losses, single.losses);
    WARN("2 processes against one, after 4 steps: parameters within " << dp << ", losses within " << dl);
    CHECK(dp < tolerance);
    CHECK(dl < tolerance);
    CHECK(parallel[r].parameters == parallel[0].parameters);  // every process steps identically
  }
  // each process drawing its windows from its own seed (a source that is not the one-process batch's share)
  const std::vector<Run> wrong = run_ranks([&](dist::Communicator& comm) {
    Setup s;
    s.comm = &comm;
    s.data_seed = default_data_seed + std::uint64_t(comm.rank());
    return train_run(config, s);
  });
  const double dw = max_abs_diff(wrong[1].parameters, single.parameters);
  WARN("a wrong sharding (a seed per process): parameters " << dw << " away");
  CHECK(dw > wrong_by_more_than);
}

// A run checkpointed after 2 steps on two ranks, resumed on one process with the doubled batch: its steps 3 and 4
// are the uninterrupted one-process run's (the tolerance above).
template <typename Config, typename RunRanks>
void check_resume_on_one(const Config& config, RunRanks run_ranks, const std::string& path) {
  const Run single = train_run(config, Setup{});
  run_ranks([&](dist::Communicator& comm) {
    Setup s;
    s.comm = &comm;
    s.steps = 2;
    s.checkpoint = path;
    return train_run(config, s);
  });
  Setup s;
  s.resume = path;
  const Run resumed = train_run(config, s);
  REQUIRE(resumed.losses.size() == 2);
  const std::vector<double> tail(single.losses.begin() + 2, single.losses.end());
  const double dl = max_abs_diff(resumed.losses, tail);
  WARN("resumed on one process: losses of steps 3 and 4 within " << dl << " of the uninterrupted run's");
  CHECK(dl < tolerance);
  CHECK(max_abs_diff(resumed.parameters, single.parameters) < tolerance);
}

// Runs work on 2 threads, one rank each; every rank must succeed.
std::vector<Run> on_two_threads(const std::function<Run(dist::Communicator&)>& work) {
  std::vector<Run> runs(2);
  const auto errors = dist_test::on_threads(2, [&](dist::Communicator& comm) { runs[std::size_t(comm.rank())] = work(comm); });
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return runs;
}

std::string temp_path(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

}  // namespace dp_test

TEST_CASE("Data-parallel training on two threads: a GPT-2 and an LSTM LM as one process of the doubled batch",
          "[dist][train]") {
  SECTION("GPT-2") { dp_test::check_data_parallel(dp_test::gpt_config(), dp_test::on_two_threads); }
  SECTION("LSTM LM") { dp_test::check_data_parallel(dp_test::lstm_config(), dp_test::on_two_threads); }
}

TEST_CASE("Data-parallel training on two threads: checkpointed on two, resumed on one", "[dist][train]") {
  const std::string path = dp_test::temp_path("elm-dp-resume-threads.safetensors");
  dp_test::check_resume_on_one(dp_test::gpt_config(), dp_test::on_two_threads, path);
  std::filesystem::remove(path);
}

TEST_CASE("Data-parallel training on two threads: a failure on one process reaches the other", "[dist][train]") {
  using dp_test::Setup;
  const auto config = dp_test::lstm_config();
  const auto on_both = [&](const std::function<void(Setup&)>& adjust) {
    return dist_test::on_threads(2, [&](elm::dist::Communicator& comm) {
      Setup s;
      s.comm = &comm;
      adjust(s);
      dp_test::train_run(config, s);
    });
  };
  const auto peer_error = [](const std::exception_ptr& e) {
    return elm_test::error_message<elm::dist::PeerError>([&] { std::rethrow_exception(e); });
  };
  // a forward that throws on rank 1 at step 3
  auto errors = on_both([](Setup& s) {
    const int rank = s.comm->rank();
    s.before_step = [rank](std::int64_t step) {
      if (rank == 1 && step == 3) throw elm::NumericalError("rank 1's batch at step 3");
    };
  });
  CHECK_THROWS_AS(std::rethrow_exception(errors[1]), elm::NumericalError);
  CHECK_THAT(peer_error(errors[0]), Contains("rank 1 of 2 failed") && Contains("rank 1's batch at step 3"));
  // a checkpoint rank 0 cannot write
  errors = on_both([](Setup& s) { s.checkpoint = "/nonexistent-folder/state.safetensors"; });
  CHECK_THROWS_AS(std::rethrow_exception(errors[0]), elm::IoError);
  CHECK_THAT(peer_error(errors[1]), Contains("rank 0 of 2 failed") && Contains("nonexistent-folder"));
  // a checkpoint rank 1 cannot read
  const std::string path = dp_test::temp_path("elm-dp-resume-missing.safetensors");
  errors = on_both([&](Setup& s) {
    s.steps = 1;
    s.checkpoint = path;
  });
  REQUIRE((errors[0] == nullptr && errors[1] == nullptr));
  errors = on_both([&](Setup& s) { s.resume = s.comm->rank() == 1 ? path + ".missing" : path; });
  std::filesystem::remove(path);
  CHECK_THROWS_AS(std::rethrow_exception(errors[1]), elm::IoError);
  CHECK_THAT(peer_error(errors[0]), Contains("rank 1 of 2 failed"));
  // a source that is not this process's share
  errors = on_both([](Setup& s) { s.global_batch = 3; });
  CHECK_THAT(elm_test::error_message<elm::InvalidArgument>([&] { std::rethrow_exception(errors[0]); }),
             Contains("does not divide among 2 processes"));
}

#ifdef ELM_MPI
namespace dp_test {

// Runs work on this process of the MPI job: {rank 0's run (its parameters broadcast), this process's run}.
std::vector<Run> on_world(const std::function<Run(dist::Communicator&)>& work) {
  auto& comm = dist_test::world();
  std::vector<Run> runs(2, work(comm));
  comm.broadcast(runs[0].parameters.data(), runs[0].parameters.size(), 0);
  return runs;
}

}  // namespace dp_test

TEST_CASE("Data-parallel training on MPI: a GPT-2 and an LSTM LM as one process of the doubled batch", "[.][mpi]") {
  REQUIRE(dist_test::world().size() == 2);
  dp_test::check_data_parallel(dp_test::gpt_config(), dp_test::on_world);
  dp_test::check_data_parallel(dp_test::lstm_config(), dp_test::on_world);
}

TEST_CASE("Data-parallel training on MPI: checkpointed on two processes, resumed on one", "[.][mpi]") {
  auto& comm = dist_test::world();
  REQUIRE(comm.size() == 2);
  // each process resumes alone from the file rank 0 wrote; then rank 0 removes it, once both are done
  const std::string path = dp_test::temp_path("elm-dp-resume-mpi.safetensors");
  dp_test::check_resume_on_one(dp_test::lstm_config(), dp_test::on_world, path);
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove(path);
}

// Run by tests/dist/expect_job_failure.sh: the last process ends abruptly at step 3 of a run; the others wait in
// the step's allreduce, and the job must end (with an error) rather than hang.
TEST_CASE("Data-parallel training on MPI: a process killed in the middle of a run", "[.][mpi-exit-training]") {
  auto& comm = dist_test::world();
  dp_test::Setup s;
  s.comm = &comm;
  s.steps = 100;
  s.before_step = [&](std::int64_t step) {
    if (comm.rank() == comm.size() - 1 && step == 3) std::_Exit(3);
  };
  dp_test::train_run(dp_test::lstm_config(), s);
  FAIL("the run completed without the process that exited");
}
#endif
