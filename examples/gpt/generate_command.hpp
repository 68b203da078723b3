// SPDX-License-Identifier: MIT
// elm-gpt generate: text (or token ids) continued by a GPT-2 directory, greedy or sampled, streamed as it is
// produced or printed as one JSON object per sequence.
#pragma once

#include <fmt/core.h>
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "elm/models/generation.hpp"

namespace elm::examples::gpt {

struct GenerateArgs {
  std::string model_dir, prompt, prompt_ids, dtype = "f32";
  std::vector<std::string> stop;
  std::vector<Index> eos_ids;
  models::GenerationConfig config;
  bool greedy = false, json = false, no_eos = false, truncate = false;
};

inline const char* finish_name(models::FinishReason r) {
  switch (r) {
    case models::FinishReason::eos: return "eos";
    case models::FinishReason::stop_string: return "stop_string";
    case models::FinishReason::callback: return "callback";
    case models::FinishReason::length: break;
  }
  return "length";
}

template <typename Scalar>
int run_generate(const GenerateArgs& a) {
  const ModelDirectory<Scalar> dir = load_model_directory<Scalar>(a.model_dir, a.dtype);
  const text::BpeTokenizer* tokenizer = dir.tokenizer ? &*dir.tokenizer : nullptr;
  // 1) the prompt's ids: encoded text (which needs the tokenizer) or given ids
  std::vector<Index> prompt;
  if (!a.prompt_ids.empty()) {
    prompt = parse_ids(a.prompt_ids, "--prompt-ids");
  } else {
    tokenizer = &dir.require_tokenizer(a.model_dir);
    prompt = tokenizer->encode(a.prompt);
    if (prompt.empty()) throw InvalidArgument("--prompt: the text is empty, expected at least one token");
  }
  // 2) the options: sampling unless --greedy; the directory's end-of-text ids unless given or --no-eos
  models::GenerationConfig config = a.config;
  config.do_sample = !a.greedy;
  config.eos_token_ids = a.no_eos ? std::vector<Index>{} : (a.eos_ids.empty() ? dir.eos_token_ids : a.eos_ids);
  config.stop_strings = a.stop;
  config.prompt_overflow = a.truncate ? models::PromptOverflow::truncate_left : models::PromptOverflow::refuse;
  models::GenerationCallbacks callbacks;
  if (tokenizer != nullptr) callbacks.decode = [tokenizer](const std::vector<Index>& ids) { return tokenizer->decode(ids); };
  if (!config.stop_strings.empty() && tokenizer == nullptr)
    throw InvalidArgument(fmt::format("--stop: matching stop strings needs the tokenizer, but {} has no vocab.json "
                                      "and merges.txt",
                                      a.model_dir));
  // 3) without --json, one sequence streams as it is produced (its bytes as they come, or its ids)
  const bool stream = !a.json && config.num_return_sequences == 1;
  if (stream)
    callbacks.on_token = [tokenizer](Index, Index token) {
      const std::string piece = tokenizer != nullptr ? tokenizer->decode({token}) : fmt::format("{} ", token);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    };
  const std::vector<models::GeneratedSequence> result = models::generate(dir.model, prompt, config, callbacks);
  if (stream) {
    std::fputs("\n", stdout);
    return 0;
  }
  for (std::size_t s = 0; s < result.size(); ++s) {
    const models::GeneratedSequence& seq = result[s];
    const std::string text = tokenizer != nullptr ? tokenizer->decode(seq.ids) : std::string();
    if (a.json) {
      print_json_line(JsonObject()
                          .add("ids", json_numbers(seq.ids))
                          .add("text", tokenizer != nullptr ? json_string(text) : std::string("null"))
                          .add("finish_reason", json_string(finish_name(seq.finish)))
                          .str());
    } else {
      if (s > 0) fmt::print("\n");
      fmt::print("--- sequence {} ---\n", s);
      if (tokenizer != nullptr) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        fmt::print("\n");
      } else {
        fmt::print("{}\n", fmt::join(seq.ids, " "));
      }
    }
  }
  return 0;
}

/// Registers `generate` on app.
inline CLI::App* add_generate_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<GenerateArgs>();
  a->config.max_new_tokens = 32;
  CLI::App* cmd = app.add_subcommand(
      "generate", "Continue a prompt (text, or token ids) with a GPT-2 directory: sampled by default, greedy with "
                  "--greedy; one JSON object per sequence with --json, else the text as it is produced");
  cmd->add_option("--model", a->model_dir,
                  "Hugging Face GPT-2 directory (config.json, model.safetensors; vocab.json and merges.txt for text)")
      ->required();
  auto* prompt = cmd->add_option("--prompt", a->prompt, "Prompt text (encoded with the directory's tokenizer)");
  auto* prompt_ids = cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt token ids, comma-separated: 464,2068");
  prompt->excludes(prompt_ids);
  prompt_ids->excludes(prompt);
  cmd->add_option("--max-new-tokens", a->config.max_new_tokens, "New tokens at most")->capture_default_str();
  auto* greedy = cmd->add_flag("--greedy", a->greedy, "The most likely token at each step (no sampling)");
  for (CLI::Option* o :
       {cmd->add_option("--temperature", a->config.temperature, "Sampling: logits divided by T (> 0)")
            ->capture_default_str(),
        cmd->add_option("--top-k", a->config.top_k, "Sampling: only the k most likely tokens (0: all)")
            ->capture_default_str(),
        cmd->add_option("--top-p", a->config.top_p, "Sampling: only the most likely tokens of mass P (1: all)")
            ->capture_default_str(),
        cmd->add_option("--num-return-sequences", a->config.num_return_sequences, "Sequences to sample")
            ->capture_default_str(),
        cmd->add_option("--seed", a->config.seed, "Seed of the draws: the same seed gives the same sequences")
            ->capture_default_str()})
    o->excludes(greedy);
  cmd->add_option("--repetition-penalty", a->config.repetition_penalty,
                  "Logits of tokens already in the sequence divided by R (multiplied when negative); 1: off")
      ->capture_default_str();
  cmd->add_option("--stop", a->stop, "End a sequence once its text contains this string (repeatable)");
  cmd->add_option("--eos-id", a->eos_ids, "End-of-sequence token ids (default: config.json's eos_token_id)");
  cmd->add_flag("--no-eos", a->no_eos, "Do not stop at end-of-sequence tokens");
  cmd->add_flag("--truncate-left", a->truncate,
                "Keep the prompt's last tokens when it leaves no room for --max-new-tokens (default: refuse)");
  add_dtype_option(cmd, a->dtype);
  cmd->add_flag("--json", a->json,
                "One JSON object per sequence, one per line: {\"ids\": [new ids], \"text\": new text or null "
                "without a tokenizer, \"finish_reason\": length, eos, stop_string}");
  commands.add(cmd, [a, prompt, prompt_ids] {
    if (prompt->count() == 0 && prompt_ids->count() == 0)
      throw InvalidArgument("generate: expected --prompt TEXT or --prompt-ids IDS");
    return with_dtype(a->dtype, [&](auto zero) { return run_generate<decltype(zero)>(*a); });
  });
  return cmd;
}

}  // namespace elm::examples::gpt
