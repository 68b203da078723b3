// SPDX-License-Identifier: MIT
// Crash-safe saves: a process killed with SIGKILL in the middle of writing a checkpoint, an ARPA file or word
// vectors leaves the previous file as it was, and what it leaves behind does not trip a later save.
//
// The kill points are exact byte counts: the child process that saves runs with RLIMIT_FSIZE set to the point,
// so the kernel stops its write at that byte and raises SIGXFSZ, whose handler sends the process SIGKILL. The
// child dies there, inside the library's write, with no destructor, handler or flush of its own running.
#include <catch2/catch.hpp>

#if defined(__unix__)

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_counts.hpp"
#include "elm/core/rng.hpp"
#include "elm/io/arpa.hpp"
#include "elm/io/checkpoint.hpp"
#include "elm/io/word_vectors.hpp"
#include "elm/nn/linear.hpp"
#include "../common/files.hpp"

namespace crash_safe_saves_test {

namespace fs = std::filesystem;

using elm_test::file_bytes;

extern "C" void kill_self_on_file_size_limit(int) { ::kill(::getpid(), SIGKILL); }

// Runs save() in a child process whose writes stop at `limit` bytes per file, where it is killed with SIGKILL.
// Returns how the child ended: true when SIGKILL ended it.
bool killed_while_saving(const std::function<void()>& save, std::uintmax_t limit) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGXFSZ, kill_self_on_file_size_limit);
    const rlimit size_limit{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
    if (::setrlimit(RLIMIT_FSIZE, &size_limit) != 0) ::_exit(3);
    try {
      save();
    } catch (...) {
      ::_exit(2);  // the library refused: not the crash this test is about
    }
    ::_exit(0);  // the save completed under the limit: the limit was not a kill point
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// The files in dir other than the target and those in `known`: what the last killed save left behind.
std::vector<fs::path> new_leftovers(const fs::path& dir, const fs::path& target, const std::vector<fs::path>& known) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path() != target && std::find(known.begin(), known.end(), entry.path()) == known.end())
      found.push_back(entry.path());
  return found;
}

// The whole specification for one format: `save_old` and `save_new` write two different contents to a path,
// `load` reads a path back (and throws on a damaged file). Kills the new save at several byte counts from the
// first to the last byte and checks, after each, that the path holds the old bytes, that they load, and that a
// temporary file of exactly the bytes written up to the kill point is all that is left beside it; then a save
// in this process goes through with those leftovers present and the new content loads.
void check_crash_safety(const std::string& name, const std::function<void(const std::string&)>& save_old,
                        const std::function<void(const std::string&)>& save_new,
                        const std::function<void(const std::string&)>& load) {
  const fs::path dir = elm_test::fresh_directory("crash-safe-" + name);
  fs::create_directories(dir);
  const fs::path reference = dir / "reference", target = dir / "target";
  save_new(reference.string());
  const std::string new_bytes = file_bytes(reference);
  fs::remove(reference);
  save_old(target.string());
  const std::string old_bytes = file_bytes(target);
  REQUIRE(old_bytes != new_bytes);
  const std::uintmax_t size = new_bytes.size();
  REQUIRE(size > 100000);  // large enough that the writes go in many pieces

  std::vector<fs::path> leftovers;
  for (const std::uintmax_t kill_point : {std::uintmax_t(1), std::uintmax_t(4096), size / 3, size / 2, size - 1}) {
    CAPTURE(name, size, kill_point);
    REQUIRE(killed_while_saving([&] { save_new(target.string()); }, kill_point));
    CHECK(file_bytes(target) == old_bytes);
    CHECK_NOTHROW(load(target.string()));
    // the dead child's temporary file beside the untouched target, cut at the kill point
    const std::vector<fs::path> left = new_leftovers(dir, target, leftovers);
    REQUIRE(left.size() == 1);
    CHECK(left[0].filename().string().rfind("target.tmp.", 0) == 0);
    CHECK(fs::file_size(left[0]) == kill_point);
    leftovers.push_back(left[0]);
  }
  // with the five dead saves' temporary files beside it, a save from this process replaces the file, and it loads
  save_new(target.string());
  CHECK(file_bytes(target) == new_bytes);
  CHECK_NOTHROW(load(target.string()));
  fs::remove_all(dir);
}

elm::nn::Linear<float> random_linear(std::uint64_t seed) {
  elm::Rng rng(seed);
  return elm::nn::Linear<float>(256, 512, rng);  // 131,584 parameters, 0.5 MB
}

// A trigram model of the n-gram tests' training text, its first `lines` lines.
elm::classic::NgramTables trigram_tables(std::size_t lines) {
  std::ifstream in(std::string(ELM_TEST_DATA_DIR) + "/ngram/train.txt");
  std::vector<std::string> text;
  for (std::string line; text.size() < lines && std::getline(in, line);) text.push_back(line);
  REQUIRE(text.size() == lines);
  elm::classic::NgramCounts counts(3);
  counts.add_lines(text);
  return elm::classic::estimate_kneser_ney(counts);
}

elm::io::WordVectors random_word_vectors(std::uint64_t seed) {
  elm::Rng rng(seed);
  elm::io::WordVectors wv;
  for (int i = 0; i < 2000; ++i) wv.words.push_back("word" + std::to_string(i));
  wv.vectors = elm::Matrix<float>(50, 2000);
  rng.fill_normal(wv.vectors, 0.0, 1.0);
  return wv;
}

}  // namespace crash_safe_saves_test

TEST_CASE("A checkpoint save killed mid-write leaves the previous checkpoint, and a later save goes through",
          "[io][crash-safe]") {
  using namespace crash_safe_saves_test;
  const elm::nn::Linear<float> old_model = random_linear(1), new_model = random_linear(2);
  check_crash_safety(
      "checkpoint", [&](const std::string& path) { elm::io::save_parameters(path, old_model); },
      [&](const std::string& path) { elm::io::save_parameters(path, new_model); },
      [](const std::string& path) {
        elm::nn::Linear<float> loaded(256, 512);
        elm::io::load_parameters(path, loaded);
      });
}

TEST_CASE("An ARPA save killed mid-write leaves the previous file, and a later save goes through",
          "[io][crash-safe]") {
  using namespace crash_safe_saves_test;
  const elm::classic::NgramTables old_tables = trigram_tables(1000), new_tables = trigram_tables(2000);
  check_crash_safety(
      "arpa", [&](const std::string& path) { elm::io::write_arpa(old_tables, path); },
      [&](const std::string& path) { elm::io::write_arpa(new_tables, path); },
      [](const std::string& path) { (void)elm::io::read_arpa(path); });
}

TEST_CASE("A word-vector save killed mid-write leaves the previous file, and a later save goes through",
          "[io][crash-safe]") {
  using namespace crash_safe_saves_test;
  const elm::io::WordVectors old_vectors = random_word_vectors(1), new_vectors = random_word_vectors(2);
  for (const auto format : {elm::io::WordVectorFormat::binary, elm::io::WordVectorFormat::text}) {
    check_crash_safety(
        format == elm::io::WordVectorFormat::binary ? "word2vec-binary" : "word2vec-text",
        [&](const std::string& path) { elm::io::write_word_vectors(path, old_vectors, format); },
        [&](const std::string& path) { elm::io::write_word_vectors(path, new_vectors, format); },
        [format](const std::string& path) { (void)elm::io::read_word_vectors(path, format); });
  }
}

#endif  // __unix__
