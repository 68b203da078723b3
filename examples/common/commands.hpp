// SPDX-License-Identifier: MIT
// How the example programs with subcommands (elm-gpt, elm-bert) register a command and run the chosen one.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <utility>
#include <vector>

namespace elm::examples {

/// The subcommands of a program: each add_<name>_command(app, commands) registers its options on app and what
/// runs once they are parsed; run() parses the command line and runs the chosen one.
class Commands {
 public:
  void add(CLI::App* subcommand, std::function<int()> body) { entries_.emplace_back(subcommand, std::move(body)); }

  /// Parses argv and runs the chosen subcommand. Returns its exit code; an elm::Error or another exception is
  /// printed as "<program>: <what>" on standard error with exit code 1, a command-line error as CLI11 prints it.
  int run(CLI::App& app, int argc, char** argv, const char* program) const {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    try {
      for (const auto& [subcommand, body] : entries_)
        if (subcommand->parsed()) return body();
      std::fprintf(stderr, "%s: no command given (see --help)\n", program);
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", program, e.what());
      return 1;
    }
  }

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> entries_;
};

}  // namespace elm::examples
