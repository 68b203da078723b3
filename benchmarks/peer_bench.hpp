// SPDX-License-Identifier: MIT
// What the model benchmarks against peers share (bench_gpt2.cpp, bench_bert.cpp): settings from the environment,
// every number of a run keyed "<engine>/<threads>/<what>", a peer's Python process run and read into those
// numbers, the peers' numbers kept in a file for a second build's run, peak memory from /proc, and the pieces of
// the Markdown summary (tables of each engine's numbers with elm's ratios, targets met or missed).
#pragma once

#include <benchmark/benchmark.h>
#include <fmt/core.h>

#include "python_peer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "elm/nn/product_kernel.hpp"

namespace elm_bench {

#if defined(_OPENMP)
constexpr bool have_openmp = true;
#else
constexpr bool have_openmp = false;
#endif

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

/// The positive integers of a comma-separated list in the environment variable `name` (default `fallback`).
inline std::vector<int> int_list(const char* name, const std::string& fallback) {
  std::vector<int> out;
  std::stringstream list(env_or(name, fallback));
  for (std::string item; std::getline(list, item, ',');)
    if (std::atoi(item.c_str()) > 0) out.push_back(std::atoi(item.c_str()));
  return out;
}

/// Whether `name` is in the comma-separated list of the environment variable `variable` (default `fallback`).
inline bool listed(const char* variable, const std::string& fallback, const std::string& name) {
  const std::string list = "," + env_or(variable, fallback) + ",";
  return list.find("," + name + ",") != std::string::npos;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Runs `step` once to warm up, then once per iteration of `state`, each timed as the iteration's manual time;
/// returns the median of those times in seconds.
template <typename F>
double median_iteration_seconds(benchmark::State& state, F&& step) {
  step();
  std::vector<double> times;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(seconds_since(t0));
    state.SetIterationTime(times.back());
  }
  return median(times);
}

/// A field of /proc/self/status in bytes (VmRSS, VmHWM), 0 if absent.
inline double status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return std::atof(line.c_str() + prefix.size()) * 1024.0;
  return 0.0;
}

inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

inline void set_threads(int threads) {
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

/// Every number of the run, "<engine>/<threads>/<what>".
inline std::map<std::string, double>& results() {
  static std::map<std::string, double> values;
  return values;
}
/// Text about an engine: "<engine>/<threads>/version" or ".../absent".
inline std::map<std::string, std::string>& notes() {
  static std::map<std::string, std::string> text;
  return text;
}
inline std::string key(const std::string& engine, int threads, const std::string& what) {
  return engine + "/" + std::to_string(threads) + "/" + what;
}
inline std::optional<double> result(const std::string& engine, int threads, const std::string& what) {
  const auto it = results().find(key(engine, threads, what));
  if (it == results().end()) return std::nullopt;
  return it->second;
}

/// Google Benchmark's context lines of a model benchmark: the product kernel chosen at run time, and OpenMP.
inline void add_build_context() {
  benchmark::AddCustomContext("product kernel", std::string(elm::nn::product_kernel_name(elm::nn::product_kernel())));
  benchmark::AddCustomContext("OpenMP", have_openmp ? "yes" : "no (every thread count runs on one thread)");
}

/// Runs the benchmarks registered for one thread count, clears them, and notes the load average after them
/// (elm/<threads>/load_after).
inline void run_registered(int threads) {
  // a reporter per run: Google Benchmark 1.7's default one fails on a second run
  benchmark::ConsoleReporter reporter(benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::ClearRegisteredBenchmarks();
  notes()[key("elm", threads, "load_after")] = load_average();
}

/// Reads "key value" lines (a child process's output) into results() under engine/threads.
inline void read_key_values(FILE* in, const std::string& engine, int threads) {
  char buffer[256];
  while (std::fgets(buffer, int(sizeof buffer), in) != nullptr) {
    std::istringstream line(buffer);
    std::string name;
    double value = 0;
    if (line >> name >> value) results()[key(engine, threads, name)] = value;
  }
}

/// Runs a peer's script (python_peer.hpp's run_python_script) and files what it printed, one "field value" a
/// line, under engine/threads/<prefix><field>: "absent" and "version" (without the prefix) as notes, the rest as numbers. A peer that
/// printed nothing is noted absent ("failed"), one without `last_field` "stopped early", both pointing at its log.
inline void run_peer_script(const std::string& engine, int threads, const std::string& script,
                            const std::string& file, const std::string& arguments, const std::string& last_field,
                            const std::string& prefix = "") {
  bool any = false;
  for (const std::string& text : run_python_script(script.c_str(), file, arguments)) {
    std::istringstream line(text);
    std::string field, value;
    if (!(line >> field >> value)) continue;
    any = true;
    if (field == "absent" || field == "version")
      notes()[key(engine, threads, field == "version" ? field : prefix + field)] = value;
    else
      results()[key(engine, threads, prefix + field)] = std::atof(value.c_str());
  }
  const std::string log = (std::filesystem::temp_directory_path() / (file + ".log")).string();
  const std::string absent = key(engine, threads, prefix + "absent");
  if (!any)
    notes()[absent] = "failed (see " + log + ")";
  else if (!result(engine, threads, prefix + last_field) && !notes().count(absent))
    notes()[absent] = "stopped early (see " + log + ")";
}

/// Helpers every peer script starts with: status(field) in bytes from /proc/self/status, median(f, n) of n calls
/// after a warm-up, timed(f) in seconds, out(name, value) prints a result line, absent(why) prints why the peer
/// cannot run and exits, need(modules, model) imports the peer's modules once root/model exists (the script
/// defines root and maker, the script that makes the models, before calling it).
constexpr const char* peer_python_helpers = R"PY(
import importlib, json, os, statistics, sys, time
def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0
def median(f, n):
    f()  # warm-up
    return statistics.median([f() for _ in range(n)])
def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0
def out(name, value):
    print(name, value, flush=True)
def absent(why):
    out("absent", why.replace(" ", "_").replace("\n", "_")[:200])
    sys.exit(0)
def need(modules, model):
    """The peer's modules, imported, once its model file (under the global root) is known to exist; then the RSS
    before loading it. The global maker names the script that makes the models."""
    try:
        loaded = [importlib.import_module(m) for m in modules]
    except Exception as e:
        absent("import: %r" % e)
    if not os.path.exists(os.path.join(root, model)):
        absent("no %s: run %s" % (model, maker))
    out("base_rss", status("VmRSS"))
    return loaded
)PY";

// ---- the peers' numbers kept between runs ----

/// The file named by the environment variable `variable`: the peers' numbers, read instead of measuring the
/// peers when it exists, written after measuring them otherwise. Two builds of elm (plain and -march=native) then
/// compare with the same peer numbers, measured once.
class PeerResultsFile {
 public:
  PeerResultsFile(const char* variable, std::vector<std::string> peers)
      : path_(env_or(variable, "")), peers_(std::move(peers)) {}
  const std::string& path() const { return path_; }

  /// Reads the peers' numbers from the file, if there is one; true when read.
  bool read() const {
    std::ifstream in(path_);
    if (path_.empty() || !in) return false;
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string kind, k, value;
      if (!(fields >> kind >> k) || !std::getline(fields >> std::ws, value)) continue;
      if (kind == "result")
        results()[k] = std::atof(value.c_str());
      else
        notes()[k] = value;
    }
    return true;
  }

  void write() const {
    if (path_.empty()) return;
    std::ofstream out(path_);
    for (const auto& [k, v] : results())
      if (is_peer_key(k)) out << "result " << k << " " << fmt::format("{:.9g}", v) << "\n";
    for (const auto& [k, v] : notes())
      if (is_peer_key(k)) out << "note " << k << " " << v << "\n";
  }

 private:
  bool is_peer_key(const std::string& k) const {
    for (const auto& peer : peers_)
      if (k.rfind(peer + "/", 0) == 0) return true;
    return false;
  }
  std::string path_;
  std::vector<std::string> peers_;
};

// ---- the summary ----

inline const char* compiled_for() {
#if defined(__AVX512F__)
  return "-march=native (AVX-512)";
#elif defined(__AVX2__)
  return "-march=native (AVX2)";
#else
  return "no -march flag (x86-64 baseline)";
#endif
}

/// The summary's heading for this build: its flags and the product kernel chosen at run time.
inline void print_build_heading() {
  fmt::print("\n### elm compiled with {}: product kernel {}\n\n", compiled_for(),
             elm::nn::product_kernel_name(elm::nn::product_kernel()));
}

struct PeerLabel {
  const char* key;
  const char* label;
};

inline std::string number(double v) { return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v); }

inline std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0) return std::nullopt;
  return *a / *b;
}

/// The fastest (smallest) of the peers' `what` at `threads`.
inline std::optional<double> best_peer(const std::vector<PeerLabel>& peers, int threads, const std::string& what) {
  std::optional<double> best;
  for (const auto& p : peers)
    if (const auto v = result(p.key, threads, what)) best = best ? std::min(*best, *v) : *v;
  return best;
}

/// "met" or "missed by N %" for a ratio whose target is <= limit.
inline std::string verdict(std::optional<double> ratio, double limit) {
  if (!ratio) return "not measured";
  if (*ratio <= limit) return fmt::format("met ({:.2f}, target <= {:.1f})", *ratio, limit);
  return fmt::format("missed by {:.0f} % ({:.2f}, target <= {:.1f})", (*ratio / limit - 1) * 100, *ratio, limit);
}

/// A table of each engine's numbers and elm's ratios to each peer: the header, then one row per call of row().
class ComparisonTable {
 public:
  explicit ComparisonTable(std::vector<PeerLabel> peers) : peers_(std::move(peers)) {
    fmt::print("| measure | threads | elm |");
    for (const auto& p : peers_) fmt::print(" {} |", p.label);
    for (const auto& p : peers_) fmt::print(" elm / {} |", p.label);
    fmt::print("\n|---|---:|---:|");
    for (std::size_t i = 0; i < 2 * peers_.size(); ++i) fmt::print("---:|");
    fmt::print("\n");
  }

  /// A row: each engine's `what` at `threads` as shown (scale / value when per_second, else value x scale),
  /// then elm's over each peer's.
  void row(const std::string& label, const std::string& what, bool per_second, double scale, int threads) const {
    const auto shown = [&](const std::string& engine) {
      const auto v = result(engine, threads, what);
      return v ? number(per_second ? scale / *v : *v * scale) : std::string("-");
    };
    fmt::print("| {} | {} | {} |", label, threads, shown("elm"));
    for (const auto& p : peers_) fmt::print(" {} |", shown(p.key));
    for (const auto& p : peers_) {
      const auto r = ratio(result("elm", threads, what), result(p.key, threads, what));
      fmt::print(" {} |", r ? fmt::format("{:.2f}", *r) : std::string("-"));
    }
    fmt::print("\n");
  }

 private:
  std::vector<PeerLabel> peers_;
};

/// The peers noted absent at `threads` (under run_peer_script's `prefix`), one indented line each.
inline void print_absent_peers(const std::vector<PeerLabel>& peers, int threads, const std::string& prefix = "") {
  for (const auto& p : peers) {
    const auto absent = notes().find(key(p.key, threads, prefix + "absent"));
    if (absent != notes().end()) fmt::print("  {} absent{}: {}\n", p.label, prefix.empty() ? "" : " (" + prefix.substr(0, prefix.size() - 1) + ")", absent->second);
  }
}

/// " v1 v2 ...": the versions the peers reported at `threads`.
inline std::string peer_versions(int threads) {
  std::string text;
  for (const auto& [k, v] : notes())
    if (k.size() > 8 && k.compare(k.size() - 8, 8, "/version") == 0 &&
        k.find("/" + std::to_string(threads) + "/") != std::string::npos)
      text += " " + v;
  return text;
}

}  // namespace elm_bench
