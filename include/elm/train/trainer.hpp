// SPDX-License-Identifier: MIT
// Trainer: the training loop every model's training uses: optimizer and learning-rate schedule, gradient
// clipping and accumulation, periodic evaluation, checkpoints that resume exactly, and a progress callback.
#pragma once

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/dist/communicator.hpp"
#include "elm/dist/gradient_allreduce.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/io/training_state.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/optim/clip.hpp"
#include "elm/nn/optim/schedule.hpp"

namespace elm::train {

/// What a forward over one batch reports: the loss summed over its items (tokens, or examples) and how many
/// items count. Summed, not averaged: the trainer divides by the count of a whole step, whatever the sizes of
/// its micro-batches.
struct Loss {
  double sum = 0.0;
  std::int64_t count = 0;
  /// The mean loss per item (0 for no items).
  double mean() const { return count > 0 ? sum / static_cast<double>(count) : 0.0; }
  Loss& operator+=(const Loss& other) {
    sum += other.sum;
    count += other.count;
    return *this;
  }
};

/// The clock a Trainer's seconds (max_seconds, eval_every_seconds, Progress, TrainResult) are read from.
enum class TrainingClock {
  wall,  ///< elapsed real time (std::chrono::steady_clock)
  /// the process's CPU time (std::clock): on one thread, the time the run would take on an idle core, whatever
  /// else the machine runs, so runs on a shared machine compare; with several threads, their sum
  cpu,
};

/// Settings of a Trainer.
struct TrainerOptions {
  std::int64_t steps = 1000;  ///< optimizer steps of the whole run: a run, resumed or not, ends at this step
  /// The learning rate of each step (warmup and cosine or linear decay, or constant), set on the optimizer
  /// before the step.
  nn::LrSchedule schedule = nn::LrSchedule::constant(1e-3);
  Index accumulation = 1;       ///< micro-batches whose gradients one optimizer step sums
  double clip_norm = 0.0;       ///< clip the global gradient norm to this before each step (0: no clipping)
  std::int64_t eval_every = 0;  ///< evaluate on the held-out data every this many steps (0: at the end only)
  /// > 0: also evaluate whenever this many seconds of training (evaluations excluded) have passed since the last
  /// evaluation, e.g. to see when a model reaches a baseline in minutes of training.
  double eval_every_seconds = 0.0;
  std::string checkpoint_path;  ///< where checkpoints are written ("": none)
  std::int64_t checkpoint_every = 0;  ///< write a checkpoint every this many steps (0: at the end of a run only)
  /// Added to every checkpoint's metadata, e.g. the model's configuration so a program can rebuild it.
  std::map<std::string, std::string> checkpoint_metadata;
  /// > 0: stop after this many seconds of training (the time spent evaluating is not counted), the schedule's
  /// decay following the elapsed fraction of them rather than the steps (a run of a fixed duration; unlike a run
  /// of fixed steps, not reproducible across machines).
  double max_seconds = 0.0;
  TrainingClock clock = TrainingClock::wall;  ///< what every second above and in the results is measured on
  std::uint64_t seed = 1;  ///< of the generator training forwards draw from (dropout, sampling in the loss)
  /// Data-parallel runs (Trainer::set_communicator): the gradients are summed over the processes in allreduces
  /// of this many bytes each (dist::GradientAllreduce).
  std::size_t allreduce_bucket_bytes = dist::default_bucket_bytes;
};

/// What the progress callback sees after each step.
struct Progress {
  std::int64_t step = 0;    ///< steps done (1 after the first step of a fresh run)
  std::int64_t steps = 0;   ///< steps planned
  double loss = 0.0;        ///< this step's mean loss over its micro-batches' items
  double lr = 0.0;          ///< the learning rate of this step
  double grad_norm = 0.0;   ///< the global gradient norm before clipping
  std::int64_t tokens = 0;  ///< items trained on so far in this run() call
  double seconds = 0.0;     ///< time so far in this run() call (options.clock)
  double training_seconds = 0.0;   ///< seconds: the time spent evaluating
  double tokens_per_second = 0.0;  ///< tokens / training_seconds
  double fraction = 0.0;            ///< of the run done, in [0, 1] (by steps, or by time under max_seconds)
  std::optional<double> eval_loss;  ///< the held-out mean loss, when this step evaluated
  /// Of training_seconds, the time spent summing losses and gradients over the processes (0 in one process).
  double communication_seconds = 0.0;
};

/// A held-out evaluation: the mean loss over every item of the held-out data after `step` steps.
struct Evaluation {
  std::int64_t step = 0;
  double loss = 0.0;
  std::int64_t tokens = 0;
  /// The seconds of training of the run() call that took it (its evaluations excluded); 0 from evaluate().
  double seconds = 0.0;
  /// exp(loss): the perplexity, when the loss is a cross-entropy in nats.
  double perplexity() const { return std::exp(loss); }
};

/// What run() did.
struct TrainResult {
  std::vector<double> losses;            ///< the mean loss of each step run
  std::vector<Evaluation> evaluations;   ///< periodic, and one at the end when held-out data was given
  std::int64_t first_step = 0;           ///< the step the call started at (> 0 after resume)
  std::int64_t steps_done = 0;           ///< the step it ended at
  std::int64_t tokens = 0;
  double seconds = 0.0;       ///< time of the call (options.clock)
  double eval_seconds = 0.0;  ///< of which evaluating
  /// of which summing losses and gradients over the processes of a data-parallel run (0 in one process)
  double communication_seconds = 0.0;
  bool out_of_time = false;   ///< stopped by max_seconds before options.steps
};

/// Metadata keys a trainer's checkpoint adds to io::save_training_state's.
inline constexpr const char* checkpoint_rng_key = "trainer.rng_state";
inline constexpr const char* checkpoint_position_key = "trainer.data_position";
inline constexpr const char* checkpoint_accumulation_key = "trainer.accumulation";

namespace detail {

/// The generator's state as six hexadecimal numbers: four words, the spare normal draw's bits, its flag.
inline std::string rng_state_text(const Rng::State& s) {
  char buffer[6 * 17 + 1];
  std::snprintf(buffer, sizeof buffer, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %d",
                s.words[0], s.words[1], s.words[2], s.words[3], s.spare_normal_bits, s.has_spare_normal ? 1 : 0);
  return buffer;
}

/// Parses what rng_state_text wrote. Throws FormatError naming `path` for anything else.
inline Rng::State parse_rng_state(const std::string& text, const std::string& path) {
  Rng::State s;
  std::uint64_t values[6] = {};
  const char* p = text.c_str();
  for (int i = 0; i < 6; ++i) {
    char* end = nullptr;
    values[i] = std::strtoull(p, &end, 16);
    ELM_EXPECT(end != p, FormatError, "elm::train::Trainer::resume: ", path, " has ", checkpoint_rng_key, " = '",
               text, "', expected six hexadecimal numbers");
    p = end;
  }
  ELM_EXPECT(*p == '\0' && values[5] <= 1, FormatError, "elm::train::Trainer::resume: ", path, " has ",
             checkpoint_rng_key, " = '", text, "', expected six hexadecimal numbers, the last 0 or 1");
  for (int i = 0; i < 4; ++i) s.words[i] = values[i];
  s.spare_normal_bits = values[4];
  s.has_spare_normal = values[5] == 1;
  return s;
}

/// A non-negative integer of a checkpoint's metadata. Throws FormatError naming `path` and `key`.
inline std::uint64_t parse_count(const std::map<std::string, std::string>& meta, const char* key,
                                 const std::string& path) {
  const auto it = meta.find(key);
  ELM_EXPECT(it != meta.end(), FormatError, "elm::train::Trainer::resume: ", path, " lacks the '", key,
             "' metadata (is it a trainer's checkpoint?)");
  const std::string& text = it->second;
  char* end = nullptr;
  const std::uint64_t value = std::strtoull(text.c_str(), &end, 10);
  ELM_EXPECT(!text.empty() && text[0] != '-' && *end == '\0', FormatError, "elm::train::Trainer::resume: ", path,
             " has ", key, " = '", text, "', expected a non-negative integer");
  return value;
}

/// Whether a Source can be sharded among processes (shard_rank() and shard_count(), as TokenWindows::shard sets).
template <typename Source, typename = void>
struct is_sharded_source : std::false_type {};
template <typename Source>
struct is_sharded_source<Source, std::void_t<decltype(std::declval<const Source&>().shard_rank()),
                                             decltype(std::declval<const Source&>().shard_count())>>
    : std::true_type {};

}  // namespace detail

/// The training loop, written once for every model. Each step: the gradients are zeroed; `accumulation`
/// micro-batches are drawn from the data source and handed to the step function, which runs forward and
/// backward and returns the summed loss and its item count; the summed gradients are divided by the step's
/// item count (so they are those of the step's mean loss), clipped to clip_norm, and the optimizer steps at
/// the schedule's rate. Every eval_every steps, every eval_every_seconds of training, and at the end, the
/// evaluation function scores the held-out data; every checkpoint_every steps (and at the end) a checkpoint is
/// written. Time spent evaluating counts neither toward max_seconds nor in tokens per second.
///
/// What plugs in:
/// - Model: anything with for_each_parameter (mutable and const; nn::has_parameters_v), the parameters the
///   optimizer updates and the checkpoint holds.
/// - Optimizer: nn::Sgd, nn::Adam, nn::AdamW (set_lr, step(model), steps, for_each_state, init_state).
/// - Source: the training data, `batch_type next()` (the next micro-batch), `std::uint64_t position() const`
///   (micro-batches drawn so far) and `void seek(std::uint64_t)` (continue from a position), so that a
///   checkpoint can record where the data was and a resumed run draws the same batches.
/// - The step function Loss(const batch_type&, const nn::ForwardContext&): forward in the training context it
///   is given (whose generator is the trainer's, checkpointed), and backward of the summed loss into the
///   parameters' gradients. The evaluation function Loss(const batch_type&), forward only, over held-out
///   batches; or Loss() over held-out data of its own (a model's sentence-by-sentence perplexity).
///
/// A checkpoint is one safetensors file (io::save_training_state, written atomically): the parameters, the
/// optimizer's state, the step, the trainer's generator, the data position and options.checkpoint_metadata.
/// resume() restores all of it, so a run stopped and resumed gives bit-identical parameters to one that never
/// stopped (for a run of fixed steps; single-threaded, or with thread-count-independent kernels).
/// Data-parallel training (set_communicator, a communicator of several processes): every process runs the same
/// program with its own share of each micro-batch (a source sharded to the communicator's rank and size, such as
/// TokenWindows::shard). After the micro-batches of a step, the processes sum their loss sums, item counts and
/// gradients (dist::GradientAllreduce, buckets of options.allreduce_bucket_bytes), so each divides by the global
/// count and clips and steps identically: the parameters stay equal, and N processes with local batch B train as
/// one with batch N B (within float rounding: the gradient is summed in another order). run() first copies rank
/// 0's parameters to every process and checks that all are at the same step and data position; checkpoints are
/// written by rank 0 alone and every process waits for the write; a failure of one process in a step's forward
/// and backward, or in a checkpoint's write or read, reaches every process as an exception (dist::PeerError on
/// the others) instead of leaving them waiting. Time-based decisions (max_seconds, eval_every_seconds) follow rank
/// 0's clock. Each process evaluates the held-out data whole. With dropout, each process draws its masks from a
/// generator of its own, forked each step from the trainer's (so such a run is not the one-process run).
///
/// Throws InvalidArgument for bad options, NumericalError when a loss or gradient norm is not finite.
template <typename Model, typename Optimizer, typename Source>
class Trainer {
  static_assert(nn::has_parameters_v<Model>,
                "elm::train::Trainer: the model needs for_each_parameter(prefix, f), mutable and const");

 public:
  using batch_type = typename Source::batch_type;
  using StepFunction = std::function<Loss(const batch_type&, const nn::ForwardContext&)>;
  using EvalFunction = std::function<Loss(const batch_type&)>;
  using ProgressFunction = std::function<void(const Progress&)>;

  /// The model, optimizer and data are the caller's and must outlive the trainer.
  Trainer(Model& model, Optimizer& optimizer, Source& data, StepFunction step_function, TrainerOptions options = {})
      : model_(model), optimizer_(optimizer), data_(data), step_function_(std::move(step_function)),
        options_(std::move(options)), rng_(options_.seed) {
    constexpr const char* where = "elm::train::Trainer";
    check_argument(static_cast<bool>(step_function_), where, "expected a step function, got an empty one");
    check_argument(options_.steps > 0, where, "expected steps > 0, got ", options_.steps);
    check_argument(options_.accumulation >= 1, where, "expected accumulation >= 1, got ", options_.accumulation);
    check_argument(options_.clip_norm >= 0.0, where, "expected clip_norm >= 0 (0: no clipping), got ",
                   options_.clip_norm);
    check_argument(options_.eval_every >= 0 && options_.checkpoint_every >= 0, where,
                   "expected eval_every >= 0 and checkpoint_every >= 0, got ", options_.eval_every, " and ",
                   options_.checkpoint_every);
    check_argument(options_.checkpoint_every == 0 || !options_.checkpoint_path.empty(), where,
                   "checkpoint_every = ", options_.checkpoint_every, " needs a checkpoint_path");
    check_argument(options_.max_seconds >= 0.0 && options_.eval_every_seconds >= 0.0, where,
                   "expected max_seconds >= 0 and eval_every_seconds >= 0, got ", options_.max_seconds, " and ",
                   options_.eval_every_seconds);
  }

  /// Held-out data and how to score it: evaluate() and run()'s periodic evaluations use them.
  void set_evaluation(std::vector<batch_type> batches, EvalFunction evaluate) {
    check_argument(static_cast<bool>(evaluate) && !batches.empty(), "elm::train::Trainer::set_evaluation",
                   "expected held-out batches and an evaluation function");
    auto held_out = std::make_shared<const std::vector<batch_type>>(std::move(batches));
    set_evaluation([held_out, evaluate = std::move(evaluate)] {
      Loss total;
      for (const auto& batch : *held_out) total += evaluate(batch);
      return total;
    });
  }

  /// A held-out scorer that holds its own data: it returns the summed loss over every held-out item and their
  /// count (e.g. a model's perplexity over sentences scored one by one, as its negative log-likelihood).
  void set_evaluation(std::function<Loss()> evaluate) {
    check_argument(static_cast<bool>(evaluate), "elm::train::Trainer::set_evaluation",
                   "expected an evaluation function, got an empty one");
    evaluate_ = std::move(evaluate);
  }

  /// Called after every step of run().
  void set_progress(ProgressFunction progress) { progress_ = std::move(progress); }

  /// Trains data-parallel over comm's processes (see the class comment); every process must make the same calls
  /// (set_communicator, resume, run, save_checkpoint) in the same order. comm is the caller's and must outlive the
  /// trainer. A communicator of one process changes nothing. Throws InvalidArgument when comm has several
  /// processes and the source is not sharded to this one (shard_rank() == comm.rank(), shard_count() ==
  /// comm.size(); a source without them cannot be shared).
  void set_communicator(dist::Communicator& comm) {
    const auto check = [&] {
      constexpr const char* where = "elm::train::Trainer::set_communicator";
      if constexpr (detail::is_sharded_source<Source>::value) {
        check_argument(data_.shard_rank() == comm.rank() && data_.shard_count() == comm.size(), where,
                       "the source is shard ", data_.shard_rank(), " of ", data_.shard_count(), ", expected shard ",
                       comm.rank(), " of ", comm.size(), " (the communicator's rank and size)");
      } else {
        check_argument(comm.size() == 1, where, "the source cannot be sharded (no shard_rank() and shard_count()), ",
                       "expected one process, got ", comm.size());
      }
    };
    if (comm.size() == 1) {
      check();
    } else {
      dist::run_collectively(comm, check);  // a process whose source is wrong must not leave the others waiting
    }
    comm_ = &comm;
    if (distributed()) gradients_.emplace(options_.allreduce_bucket_bytes);
  }

  const TrainerOptions& options() const { return options_; }
  /// Steps done (restored by resume).
  std::int64_t step() const { return step_; }
  /// The generator training forwards draw from (seeded with options.seed; restored by resume).
  Rng& rng() { return rng_; }

  /// Trains from step() up to options.steps (or until max_seconds), evaluating and checkpointing on the way.
  TrainResult run() {
    const double t0 = now();
    const auto elapsed = [&] { return now() - t0; };
    TrainResult result;
    result.first_step = step_;
    communication_seconds_ = 0.0;
    if (distributed()) start_together();
    std::int64_t last_checkpoint = -1;
    // evaluations excluded; in a data-parallel run, rank 0's clock, so that every process decides alike
    const auto training = [&] { return agreed(elapsed() - result.eval_seconds); };
    double last_evaluation = 0.0;                                             // training seconds at the last one
    const auto evaluate_now = [&] {
      const double t = now();
      Evaluation e = evaluate();
      result.eval_seconds += now() - t;
      e.seconds = last_evaluation = training();
      result.evaluations.push_back(e);
    };
    while (step_ < options_.steps) {
      const double seconds = options_.max_seconds > 0.0 ? training() : 0.0;
      const double by_time = options_.max_seconds > 0.0 ? seconds / options_.max_seconds : 0.0;
      if (by_time >= 1.0) {
        result.out_of_time = true;
        break;
      }
      const double lr = options_.schedule(schedule_step(by_time));
      Progress p;
      p.lr = lr;
      const Loss loss = one_step(lr, p.grad_norm);
      p.loss = loss.mean();
      result.losses.push_back(p.loss);
      result.tokens += loss.count;
      if (should_evaluate(options_.eval_every_seconds > 0.0 ? training() - last_evaluation : 0.0)) {
        evaluate_now();
        p.eval_loss = result.evaluations.back().loss;
      }
      if (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0) {
        save_checkpoint(options_.checkpoint_path);
        last_checkpoint = step_;
      }
      if (progress_) {
        p.step = step_;
        p.steps = options_.steps;
        p.tokens = result.tokens;
        p.seconds = elapsed();
        p.training_seconds = p.seconds - result.eval_seconds;
        p.tokens_per_second = p.training_seconds > 0.0 ? static_cast<double>(p.tokens) / p.training_seconds : 0.0;
        p.communication_seconds = communication_seconds_;
        const double by_steps = static_cast<double>(step_) / static_cast<double>(options_.steps);
        const double by_budget = options_.max_seconds > 0.0 ? p.training_seconds / options_.max_seconds : 0.0;
        p.fraction = std::min(1.0, std::max(by_steps, by_budget));
        progress_(p);
      }
    }
    if (evaluate_ && (result.evaluations.empty() || result.evaluations.back().step != step_)) evaluate_now();
    if (!options_.checkpoint_path.empty() && last_checkpoint != step_) save_checkpoint(options_.checkpoint_path);
    result.steps_done = step_;
    result.seconds = elapsed();
    result.communication_seconds = communication_seconds_;
    return result;
  }

  /// The mean loss over every item of the held-out data (an inference forward each). Throws InvalidArgument
  /// when set_evaluation was not called.
  Evaluation evaluate() const {
    check_argument(static_cast<bool>(evaluate_), "elm::train::Trainer::evaluate",
                   "no held-out data: call set_evaluation first");
    const Loss total = evaluate_();
    Evaluation e;
    e.step = step_;
    e.loss = total.mean();
    e.tokens = total.count;
    return e;
  }

  /// Writes the checkpoint (see the class comment) to `path`, atomically: a crash leaves the previous one. In a
  /// data-parallel run, rank 0 writes and no process returns before the write is done (run_collectively's
  /// agreement waits for rank 0), so none reads a half-written file; a failed write throws on every process.
  void save_checkpoint(const std::string& path) {
    const auto write = [&] {
      auto meta = options_.checkpoint_metadata;
      meta[checkpoint_rng_key] = detail::rng_state_text(rng_.state());
      meta[checkpoint_position_key] = std::to_string(data_.position());
      meta[checkpoint_accumulation_key] = std::to_string(options_.accumulation);
      io::save_training_state(path, model_, optimizer_, step_, meta);
    };
    if (!distributed()) return write();
    dist::run_collectively(*comm_, [&] {
      if (comm_->rank() == 0) write();
    });
  }

  /// Restores a checkpoint of save_checkpoint: parameters, optimizer state, step, generator and data position.
  /// Returns the checkpoint's metadata. Throws what io::load_training_state throws (FormatError, ShapeError,
  /// IoError: then nothing has changed), FormatError for missing or malformed trainer metadata, and
  /// InvalidArgument when the checkpoint's accumulation differs from options.accumulation (its batches would
  /// not be the same). The data position counts whole batches, whatever the number of processes that shared them,
  /// so a data-parallel run may resume on another number of processes. In a data-parallel run every process reads
  /// the file (the same path), and a failure on one throws on all (dist::PeerError on the others).
  std::map<std::string, std::string> resume(const std::string& path) {
    if (!distributed()) return restore(path);
    std::map<std::string, std::string> meta;
    dist::run_collectively(*comm_, [&] { meta = restore(path); });
    return meta;
  }

 private:
  std::map<std::string, std::string> restore(const std::string& path) {
    // 1) the trainer's own metadata, checked before anything changes
    std::map<std::string, std::string> meta;
    {
      const io::SafetensorsReader reader(path);
      meta = reader.metadata();
    }
    const auto rng_it = meta.find(checkpoint_rng_key);
    ELM_EXPECT(rng_it != meta.end(), FormatError, "elm::train::Trainer::resume: ", path, " lacks the '",
               checkpoint_rng_key, "' metadata (is it a trainer's checkpoint?)");
    const Rng::State rng_state = detail::parse_rng_state(rng_it->second, path);
    const std::uint64_t position = detail::parse_count(meta, checkpoint_position_key, path);
    const std::uint64_t accumulation = detail::parse_count(meta, checkpoint_accumulation_key, path);
    check_argument(accumulation == static_cast<std::uint64_t>(options_.accumulation), "elm::train::Trainer::resume",
                   path, " was written with accumulation = ", accumulation, ", expected this trainer's ",
                   options_.accumulation);
    Rng restored;
    restored.set_state(rng_state);
    // 2) parameters, optimizer state and step, all or nothing
    auto full = io::load_training_state(path, model_, optimizer_);
    step_ = std::stoll(full.at("step"));
    rng_ = restored;
    data_.seek(position);
    return full;
  }

  double now() const {
    if (options_.clock == TrainingClock::cpu) return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  bool distributed() const { return comm_ != nullptr && comm_->size() > 1; }

  // Rank 0's value of x on every process of a data-parallel run (x itself otherwise).
  double agreed(double x) {
    if (distributed()) comm_->broadcast(&x, 1, 0);
    return x;
  }

  // The start of a data-parallel run: every process at rank 0's step and data position with the same options'
  // shape (else all throw), then rank 0's parameters everywhere.
  void start_together() {
    const std::int64_t mine[4] = {step_, static_cast<std::int64_t>(data_.position()), options_.steps,
                                  static_cast<std::int64_t>(options_.accumulation)};
    std::int64_t root[4] = {mine[0], mine[1], mine[2], mine[3]};
    comm_->broadcast(reinterpret_cast<std::byte*>(root), sizeof root, 0);
    dist::run_collectively(*comm_, [&] {
      ELM_EXPECT(std::equal(mine, mine + 4, root), InvalidArgument, "elm::train::Trainer::run: rank ", comm_->rank(),
                 " is at step ", mine[0], ", data position ", mine[1], " of a run of ", mine[2],
                 " steps with accumulation ", mine[3], ", expected rank 0's ", root[0], ", ", root[1], ", ", root[2],
                 " and ", root[3], " (every process must resume from the same checkpoint with the same options)");
    });
    dist::broadcast_parameters(*comm_, model_, 0);
  }

  // The step the schedule is read at: the step itself, or under a time budget, once the warmup is over, the
  // point of the decay that the elapsed fraction of the budget has reached, if that is further.
  std::int64_t schedule_step(double by_time) const {
    const std::int64_t warmup = options_.schedule.warmup_steps();
    const std::int64_t total = options_.schedule.total_steps();
    if (options_.max_seconds <= 0.0 || step_ < warmup || total <= warmup) return step_;
    const auto decayed = warmup + static_cast<std::int64_t>(by_time * static_cast<double>(total - warmup));
    return std::max(step_, decayed);
  }

  bool should_evaluate(double seconds_since_evaluation) const {
    if (!evaluate_) return false;
    return step_ == options_.steps || (options_.eval_every > 0 && step_ % options_.eval_every == 0) ||
           (options_.eval_every_seconds > 0.0 && seconds_since_evaluation >= options_.eval_every_seconds);
  }

  // 1) zero, 2) forward and backward of each micro-batch, 3) mean, 4) clip, 5) update.
  // Data-parallel: 2) on this process's shares, then the sums over the processes of the loss, its count and
  // the gradients, so that 3) to 5) are the same everywhere.
  Loss one_step(double lr, double& norm) {
    model_.for_each_parameter("", [](const std::string&, auto& p) { p.zero_grad(); });
    Loss loss;
    if (distributed()) {
      loss = distributed_micro_batches();
    } else {
      for (Index k = 0; k < options_.accumulation; ++k)
        loss += step_function_(data_.next(), nn::ForwardContext::train(rng_));
    }
    ELM_EXPECT(loss.count > 0, InvalidArgument, "elm::train::Trainer: step ", step_,
               ": the step function reported 0 items, expected a positive count to average over");
    const double scale = 1.0 / static_cast<double>(loss.count);
    model_.for_each_parameter("", [&](const std::string&, auto& p) {
      using Scalar = typename std::decay_t<decltype(p.value)>::Scalar;
      if (p.trainable) p.grad *= static_cast<Scalar>(scale);  // an unallocated gradient stays empty
    });
    norm = options_.clip_norm > 0.0 ? nn::clip_grad_norm(model_, options_.clip_norm) : nn::grad_norm(model_);
    ELM_EXPECT(std::isfinite(loss.sum) && std::isfinite(norm), NumericalError, "elm::train::Trainer: step ", step_,
               " gave mean loss ", loss.mean(), " and gradient norm ", norm,
               ", expected finite values (lower the learning rate?)");
    optimizer_.set_lr(lr);
    optimizer_.step(model_);
    ++step_;
    return loss;
  }

  Loss distributed_micro_batches() {
    // this process's generator for the step: forked from the trainer's (one draw on every process, so the
    // trainer's stays the same everywhere and in the checkpoint) and the rank, so dropout masks differ by process
    Rng local(rng_.next_u64() ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(comm_->rank() + 1)));
    Loss loss;
    dist::run_collectively(*comm_, [&] {
      for (Index k = 0; k < options_.accumulation; ++k)
        loss += step_function_(data_.next(), nn::ForwardContext::train(local));
    });
    const double t = now();
    double sums[2] = {loss.sum, static_cast<double>(loss.count)};  // counts below 2^53 are exact
    comm_->allreduce_sum(sums, 2);
    (*gradients_)(*comm_, model_);
    communication_seconds_ += now() - t;
    return Loss{sums[0], static_cast<std::int64_t>(sums[1])};
  }

  Model& model_;
  Optimizer& optimizer_;
  Source& data_;
  StepFunction step_function_;
  TrainerOptions options_;
  Rng rng_;
  std::int64_t step_ = 0;
  std::function<Loss()> evaluate_;
  ProgressFunction progress_;
  dist::Communicator* comm_ = nullptr;
  std::optional<dist::GradientAllreduce> gradients_;
  double communication_seconds_ = 0.0;
};

}  // namespace elm::train
