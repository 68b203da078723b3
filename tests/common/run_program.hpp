// SPDX-License-Identifier: MIT
// The command-line tests' way to run an example program: where it is, one run through the shell, its JSON lines.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include <utility>

#include <sys/wait.h>

namespace elm_test {

/// The program `name` of the build: $ELM_BIN_DIR/name when set (the sanitizer build runs the optimised build's
/// programs), else build/bin/name.
inline std::string program_path(const std::string& name) {
  const char* env = std::getenv("ELM_BIN_DIR");
  return (env != nullptr ? std::string(env) : std::string(ELM_BINARY_DIR) + "/bin") + "/" + name;
}

/// Runs `program args` through the shell (args may redirect standard input). Returns what it wrote to standard
/// output, and to standard error too unless stderr_too is false (then that is discarded), and its exit code
/// (-1 when it did not exit normally).
inline std::pair<std::string, int> run_program(const std::string& name, const std::string& args,
                                               bool stderr_too = true) {
  const std::string cmd = "'" + program_path(name) + "' " + args + (stderr_too ? " 2>&1" : " 2>/dev/null");
  std::FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

/// Fails the test case, naming the path, when the program `name` has not been built.
inline void require_program(const std::string& name) {
  std::ifstream probe(program_path(name));
  INFO("build the " << name << " target first: " << program_path(name));
  REQUIRE(probe.good());
}

/// Each non-empty line of text parsed as one JSON object.
inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace elm_test
