// SPDX-License-Identifier: MIT
// elm-gpt eval: the held-out perplexity of a model directory (elm-gpt train's or Hugging Face's) on a task's
// held-out units or on a text file, each unit scored on its own, in sliding windows past the context.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/austen.hpp"
#include "elm/io/gpt2_hf.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/models/gpt2.hpp"
#include "command.hpp"
#include "task.hpp"

namespace elm::examples::gpt {

/// What `eval` is told.
struct EvalArgs {
  std::string program;  ///< argv[0], where the bundled data is found from
  std::string model_dir, task, data_dir, text_path, bpe_dir, dtype = "f32";
  std::size_t units = 0;
  Index stride = 0, batch = 0;
};

/// A text file's units as a task's held-out units: paragraphs for a BPE model, non-empty lines for a character
/// model.
inline Task text_task(const std::string& path, const Tokenizer& tokenizer, const std::string& model_dir) {
  const io::MappedFile file(path, "elm-gpt eval");
  const std::string text(file.text());
  Task t;
  t.name = "text";
  t.tokenizer = tokenizer;
  std::vector<std::string> units;
  if (tokenizer.is_bpe()) {
    t.unit = "paragraph";
    units = detail::paragraphs(text);
    t.boundary_id = tokenizer.encode("\n\n").at(0);
  } else {
    t.unit = "line";
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) units.push_back(line);
    t.boundary_id = tokenizer.chars->vocabulary().find("</s>");
    t.unk_id = tokenizer.chars->unk_id();
    ELM_EXPECT(t.boundary_id >= 0, FormatError, "elm-gpt eval: the vocabulary of ", model_dir, " lacks </s>");
  }
  ELM_EXPECT(!units.empty(), FormatError, "elm-gpt eval: ", path, " holds no text to score");
  for (const auto& u : units) {
    t.held_out.push_back(tokenizer.encode(u));
    t.held_out_chars.push_back(detail::code_points(u) + (tokenizer.is_bpe() ? 2 : 1));
  }
  return t;
}

/// Scores as told: the model directory on a task's held-out units or on a text file.
inline int run_eval(const EvalArgs& a) {
  auto model = io::load_gpt2_hf<float>(a.model_dir);
  apply_weight_dtype(model, a.dtype);
  const Tokenizer tokenizer = Tokenizer::from_directory(a.model_dir);
  ELM_EXPECT(tokenizer.size() <= model.config().vocab_size, FormatError, "elm-gpt eval: the tokenizer of ",
             a.model_dir, " has ", tokenizer.size(), " tokens, but the model only ", model.config().vocab_size);
  Task task;
  if (!a.text_path.empty()) {
    task = text_task(a.text_path, tokenizer, a.model_dir);
  } else {
    const std::string name = !a.task.empty() ? a.task : tokenizer.is_bpe() ? "austen" : "";
    ELM_EXPECT(!name.empty(), InvalidArgument, "elm-gpt eval: ", a.model_dir,
               " is a character model: say which task's held-out units to score (--task) or give --text");
    const std::string data = a.data_dir.empty() ? find_data_dir(a.program.c_str(), task_data_name(name)) : a.data_dir;
    task = load_task(name, data, a.bpe_dir, std::optional<Tokenizer>(tokenizer));
  }
  task.keep_held_out(a.units);
  const auto& c = model.config();
  const Index batch = a.batch > 0 ? a.batch : std::clamp<Index>((Index(1) << 24) / (c.n_positions * c.vocab_size), 1, 32);
  const auto t0 = std::chrono::steady_clock::now();
  const auto ppl = models::gpt2_perplexity(model, task.held_out, task.boundary_id, task.unk_id, task.unk_types, batch,
                                           a.stride);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("{} {}s ({}), {} tokens with their ends, {} through <unk>; {:.1f} s, {:.0f} tokens/s\n",
             task.held_out.size(), task.unit, a.text_path.empty() ? "held out of " + task.name : a.text_path,
             ppl.tokens, ppl.unk_tokens, seconds, double(ppl.tokens) / seconds);
  fmt::print("perplexity {:.4f} per token\n", ppl.perplexity());
  if (tokenizer.is_bpe())
    fmt::print("perplexity {:.4f} per character ({} characters)\n", std::exp(-ppl.log_prob / task.characters()),
               task.characters());
  return 0;
}

/// Registers `eval` on app; `program` (argv[0]) is where the bundled data is found from.
inline CLI::App* add_eval_command(CLI::App& app, Commands& commands, const char* program) {
  auto a = std::make_shared<EvalArgs>();
  a->program = program;
  a->bpe_dir = find_data_dir(program, "gpt2");
  auto* c = app.add_subcommand("eval", "Held-out perplexity of a model directory: a task's held-out units (as "
                                       "train scored them), or the paragraphs (BPE) or lines (characters) of a "
                                       "text file, each scored on its own from the boundary token");
  c->add_option("--model", a->model_dir, "Model directory: config.json, model.safetensors, and vocab.json with "
                                         "merges.txt, or vocab.txt")->required();
  c->add_option("--task", a->task, "austen, austen-chars or tang: its held-out units (default: austen for a BPE "
                                   "model)")->check(CLI::IsMember(task_names));
  c->add_option("--data", a->data_dir, "Folder of the task's *.txt (default: the bundled one)");
  c->add_option("--text", a->text_path, "Score this text file instead of a task");
  c->add_option("--units", a->units, "Score only the first N units (0: all)")->capture_default_str();
  c->add_option("--stride", a->stride, "Sliding-window stride for units longer than the context (0: half the "
                                       "context)")->capture_default_str();
  c->add_option("--batch", a->batch, "Windows per forward (0: about 16 M logits)")->capture_default_str();
  c->add_option("--dtype", a->dtype,
                "Weights of the dense layers and the head: f32, or kept in bfloat16 or int8 (Q8_0 blocks of 32)")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  commands.add(c, [a] { return run_eval(*a); });
  return c;
}

}  // namespace elm::examples::gpt
