// SPDX-License-Identifier: MIT
// elm-gpt bench: prompt processing (tokens/s) and decoding (ms/token, batch 1) of a GPT-2 directory or of a
// randomly initialised GPT-2 of a standard size, through the generation loop users run.
#pragma once

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "command.hpp"
#include "elm/core/rng.hpp"
#include "elm/models/generation.hpp"
#include "elm/nn/layer.hpp"

namespace elm::examples::gpt {

struct BenchArgs {
  std::string model_dir, config = "small", dtype = "f32";
  Index prompt_tokens = 128, new_tokens = 128, runs = 3;
  int threads = 1;
  std::uint64_t seed = 1;
};

/// GPT-2's published sizes (Hugging Face's gpt2, gpt2-medium): V = 50257, 1024 positions.
inline models::Gpt2Config standard_gpt2(const std::string& name) {
  models::Gpt2Config c;  // small: 12 layers, 12 heads, C = 768
  if (name == "medium") {
    c.n_layer = 24;
    c.n_head = 16;
    c.n_embd = 1024;
  }
  return c;
}

template <typename T>
T median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename Scalar>
int run_bench(const BenchArgs& a) {
  const int threads = set_bench_threads("elm-gpt bench", a.threads);
  Rng rng(a.seed);
  const bool from_dir = !a.model_dir.empty();
  models::Gpt2<Scalar> loaded = from_dir ? io::load_gpt2_hf<Scalar>(a.model_dir)
                                         : models::Gpt2<Scalar>(standard_gpt2(a.config), rng);
  apply_weight_dtype(loaded, a.dtype);
  const models::Gpt2<Scalar>& model = loaded;
  if (a.prompt_tokens < 1 || a.new_tokens < 1 || a.runs < 1)
    throw InvalidArgument("bench: --prompt-tokens, --new-tokens and --runs must be at least 1");
  std::vector<Index> prompt(static_cast<std::size_t>(a.prompt_tokens));
  for (Index& id : prompt) id = static_cast<Index>(rng.below(std::uint64_t(model.vocab_size())));
  // Greedy generation of new_tokens + 1 tokens: the first comes from the prompt's forward, each of the next
  // new_tokens from one decoding step through the KV caches (the processors and the argmax included).
  models::GenerationConfig config;
  config.max_new_tokens = a.new_tokens + 1;
  using clock = std::chrono::steady_clock;
  std::vector<double> prompt_seconds, decode_seconds;
  for (Index run = 0; run <= a.runs; ++run) {  // run 0 warms up (first touches of the caches and buffers)
    clock::time_point start, first, last;
    models::GenerationCallbacks callbacks;
    Index produced = 0;
    callbacks.on_token = [&](Index, Index) {
      (++produced == 1 ? first : last) = clock::now();
      return true;
    };
    start = clock::now();
    const auto out = models::generate(model, prompt, config, callbacks);
    if (produced != a.new_tokens + 1)
      throw Error(fmt::format("bench: {} tokens produced, expected {}", produced, a.new_tokens + 1));
    if (run == 0) continue;
    prompt_seconds.push_back(std::chrono::duration<double>(first - start).count());
    decode_seconds.push_back(std::chrono::duration<double>(last - first).count());
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double p = median(prompt_seconds), d = median(decode_seconds);
  // rates to 6 significant digits, the peak to a whole megabyte
  print_json_line(JsonObject()
                      .add("model", json_string(from_dir ? a.model_dir : "gpt2-" + a.config + " (random weights)"))
                      .add("parameters", json_number(nn::count_parameters(model)))
                      .add("dtype", json_string(a.dtype))
                      .add("threads", json_number(threads))
                      .add("prompt_tokens", json_number(a.prompt_tokens))
                      .add("prompt_tokens_per_second", fmt::format("{:.6g}", double(a.prompt_tokens) / p))
                      .add("new_tokens", json_number(a.new_tokens))
                      .add("decode_ms_per_token", fmt::format("{:.6g}", 1000.0 * d / double(a.new_tokens)))
                      .add("runs", json_number(a.runs))
                      .add("peak_rss_mb", fmt::format("{:.0f}", double(usage.ru_maxrss) / 1024.0))
                      .str());
  return 0;
}

/// Registers `bench` on app.
inline CLI::App* add_bench_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Prompt processing (tokens/s) and decoding (ms/token, batch 1) of greedy generation; prints one "
               "JSON line (medians over --runs, after one warm-up run)");
  auto* model = cmd->add_option("--model", a->model_dir, "Hugging Face GPT-2 directory");
  cmd->add_option("--config", a->config, "Without --model: a GPT-2 of this size with random weights")
      ->check(CLI::IsMember({"small", "medium"}))
      ->capture_default_str()
      ->excludes(model);
  cmd->add_option("--prompt-tokens", a->prompt_tokens, "Prompt length (random ids)")->capture_default_str();
  cmd->add_option("--new-tokens", a->new_tokens, "Decoding steps timed")->capture_default_str();
  add_bench_options(cmd, a->runs, a->threads);
  cmd->add_option("--seed", a->seed, "Seed of the random weights and prompt")->capture_default_str();
  add_dtype_option(cmd, a->dtype);
  commands.add(cmd, [a] { return with_dtype(a->dtype, [&](auto zero) { return run_bench<decltype(zero)>(*a); }); });
  return cmd;
}

}  // namespace elm::examples::gpt
