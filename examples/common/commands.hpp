// SPDX-License-Identifier: MIT
// How the example programs with subcommands (elm-gpt, elm-bert) register a command and run the chosen one, and
// the options and threads of their bench commands.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "elm/core/types.hpp"

namespace elm::examples {

/// Registers the bench commands' --runs and --threads on cmd.
inline void add_bench_options(CLI::App* cmd, Index& runs, int& threads) {
  cmd->add_option("--runs", runs, "Timed runs (the medians are printed)")->capture_default_str();
  cmd->add_option("--threads", threads, "OpenMP threads (a build with ELM_OPENMP=ON)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

/// Sets OpenMP's thread count to `threads` and returns the count in force: 1 in a build without OpenMP, which
/// says so on standard error (naming `command`) when more were asked.
inline int set_bench_threads(const char* command, int threads) {
#ifdef _OPENMP
  (void)command;
  omp_set_num_threads(threads);
  return threads;
#else
  if (threads != 1)
    std::fprintf(stderr, "%s: built without OpenMP (ELM_OPENMP=OFF): running on one thread, not %d\n", command,
                 threads);
  return 1;
#endif
}

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
