// SPDX-License-Identifier: MIT
// Runs a benchmark's Python peer (a PyTorch script) in the same run and hands back what it printed.
#pragma once

#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace elm_bench {

/// Writes `script` to a temporary file named `file_name`, runs `python3 <file> <arguments>` and returns its
/// output lines. Its standard error goes to `<file>.log` beside it (read it when a peer printed nothing).
/// Returns nothing when python3 cannot be started.
inline std::vector<std::string> run_python_script(const char* script, const std::string& file_name,
                                                  const std::string& arguments) {
  std::vector<std::string> lines;
  const std::string path = (std::filesystem::temp_directory_path() / file_name).string();
  {
    std::ofstream out(path);
    out << script;
  }
  const std::string command = "python3 " + path + " " + arguments + " 2>" + path + ".log";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return lines;
  std::array<char, 512> buffer{};
  while (std::fgets(buffer.data(), int(buffer.size()), pipe.get()) != nullptr) lines.emplace_back(buffer.data());
  return lines;
}

/// Runs `script` as run_python_script does, with the thread count of ELM_BENCH_TORCH_THREADS (default 1) as its
/// argument. Returns nothing when ELM_BENCH_TORCH=0 or python3 cannot be started, so the elm side still runs
/// without the peer.
inline std::vector<std::string> run_python_peer(const char* script, const std::string& file_name) {
  const char* enabled = std::getenv("ELM_BENCH_TORCH");
  if (enabled != nullptr && std::string(enabled) == "0") return {};
  const char* threads = std::getenv("ELM_BENCH_TORCH_THREADS");
  return run_python_script(script, file_name, threads ? threads : "1");
}

/// The main of a benchmark program with a PyTorch peer: Google Benchmark's flags, then run_peer() (first, so the
/// peer's process never runs beside elm's timings), the peer's thread count in the report's context, the benchmarks.
template <typename RunPeer>
int main_with_peer(int argc, char** argv, RunPeer&& run_peer) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  run_peer();
  const char* threads = std::getenv("ELM_BENCH_TORCH_THREADS");
  benchmark::AddCustomContext("torch threads", threads ? threads : "1");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace elm_bench
