// SPDX-License-Identifier: MIT
// elm-gpt logits: the next-token logits a GPT-2 directory gives for token ids, as JSON for scripts that compare
// them with another implementation, or as the most likely tokens.
#pragma once

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "command.hpp"

namespace elm::examples::gpt {

struct LogitsArgs {
  std::string model_dir, ids, dtype = "f32";
  bool all = false, json = false;
  Index top = 5;
};

template <typename Scalar>
int run_logits(const LogitsArgs& a) {
  const ModelDirectory<Scalar> dir = load_model_directory<Scalar>(a.model_dir, a.dtype);
  const std::vector<Index> ids = parse_ids(a.ids, "--ids");
  Matrix<Scalar> logits;
  dir.model.forward(ids, 1, {}, logits);  // (V, T)
  const Index first = a.all ? 0 : logits.cols() - 1;
  if (a.json) {
    // {"logits": [[V floats], ...]}, each float printed to round-trip
    const auto row = [](const auto& column) { return json_numbers(column); };
    const Matrix<Scalar> shown = logits.rightCols(logits.cols() - first);
    print_json_line(JsonObject().add("logits", json_array(shown.colwise(), row)).str());
    return 0;
  }
  for (Index t = first; t < logits.cols(); ++t) {
    std::vector<Index> order(static_cast<std::size_t>(logits.rows()));
    std::iota(order.begin(), order.end(), Index(0));
    const auto k = static_cast<std::ptrdiff_t>(std::min<Index>(a.top, logits.rows()));
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](Index x, Index y) { return logits(x, t) > logits(y, t); });
    fmt::print("after position {} (id {}):", t, ids[static_cast<std::size_t>(t)]);
    for (auto it = order.begin(); it != order.begin() + k; ++it) {
      fmt::print("  {} ({:.4f})", *it, logits(*it, t));
      if (dir.tokenizer && *it < dir.tokenizer->vocab_size())
        fmt::print(" {}", json_string(dir.tokenizer->decode({*it})));
    }
    fmt::print("\n");
  }
  return 0;
}

/// Registers `logits` on app.
inline CLI::App* add_logits_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<LogitsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "logits", "Next-token logits of token ids: of the last position, or of every position with --all");
  cmd->add_option("--model", a->model_dir, "Hugging Face GPT-2 directory (config.json, model.safetensors)")
      ->required();
  cmd->add_option("--ids", a->ids, "Token ids, comma-separated: 464,2068,7586")->required();
  cmd->add_flag("--all", a->all, "Logits of every position, not only the last");
  cmd->add_flag("--json", a->json, "Print one JSON object {\"logits\": [[V floats], ...]}, a row per position");
  cmd->add_option("--top", a->top, "Without --json: the most likely tokens shown per position")->capture_default_str();
  add_dtype_option(cmd, a->dtype);
  commands.add(cmd, [a] { return with_dtype(a->dtype, [&](auto zero) { return run_logits<decltype(zero)>(*a); }); });
  return cmd;
}

}  // namespace elm::examples::gpt
