// SPDX-License-Identifier: MIT
// elm-hmm end to end: decode and fit against hmmlearn's answers, bad files, the tagger subcommands.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

using Catch::Matchers::Contains;
using Json = nlohmann::json;

namespace {

struct Run {
  int status = -1;
  std::string out;
};

std::string program() {
  const char* dir = std::getenv("ELM_BIN_DIR");
  return (dir ? std::string(dir) : std::string(ELM_BINARY_DIR) + "/bin") + "/elm-hmm";
}

Run run(const std::string& args) {
  const std::string exe = program();
  if (!std::filesystem::exists(exe)) FAIL("build the elm-hmm target first: " << exe << " does not exist");
  Run r;
  FILE* pipe = popen((exe + " " + args).c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string data(const std::string& name) { return std::string(ELM_TEST_DATA_DIR) + "/hmm/" + name; }

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("elm-hmm-cli-" + std::to_string(static_cast<long>(getpid())));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const auto file = (path / name).string();
    std::ofstream(file) << text;
    return file;
  }
};

Json expected() {
  std::ifstream in(data("cli_expected.json"));
  return Json::parse(in);
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

}  // namespace

TEST_CASE("elm-hmm decode --json matches hmmlearn, one line per sequence", "[hmm][cli]") {
  const auto r = run("decode --model " + data("cli_model.json") + " --obs " + data("cli_obs.txt") + " --json");
  REQUIRE(r.status == 0);
  const auto reference = expected()["decode"];
  std::istringstream lines(r.out);
  std::string line;
  std::size_t count = 0;
  while (std::getline(lines, line)) {
    REQUIRE(count < reference.size());
    const Json got = Json::parse(line);
    const Json& want = reference[count];
    CHECK(rel(got["log_likelihood"].get<double>(), want["log_likelihood"].get<double>()) < 1e-9);
    CHECK(rel(got["viterbi_log_prob"].get<double>(), want["viterbi_log_prob"].get<double>()) < 1e-9);
    CHECK(got["path"] == want["path"]);
    CHECK(got.size() == 3);
    ++count;
  }
  CHECK(count == reference.size());
  CHECK(run("decode --model " + data("cli_model.json") + " --obs " + data("cli_obs.txt")).status == 0);
}

TEST_CASE("elm-hmm fit --json matches hmmlearn's fit with the same tables", "[hmm][cli]") {
  const auto r = run("fit --model " + data("cli_init.json") + " --obs " + data("cli_obs.txt") + " --iterations 10 --json");
  REQUIRE(r.status == 0);
  REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  const Json got = Json::parse(r.out);
  const Json want = expected()["fit"];
  for (const char* table : {"transmat", "emissionprob"})
    for (std::size_t i = 0; i < want[table].size(); ++i)
      for (std::size_t k = 0; k < want[table][i].size(); ++k)
        CHECK(std::abs(got[table][i][k].get<double>() - want[table][i][k].get<double>()) < 1e-6);
  for (std::size_t i = 0; i < want["startprob"].size(); ++i)
    CHECK(std::abs(got["startprob"][i].get<double>() - want["startprob"][i].get<double>()) < 1e-6);
  REQUIRE(got["history"].size() == want["history"].size());
  for (std::size_t k = 0; k < want["history"].size(); ++k)
    CHECK(rel(got["history"][k].get<double>(), want["history"][k].get<double>()) < 1e-9);
  CHECK(got["iterations"].get<std::size_t>() == want["history"].size());
}

TEST_CASE("elm-hmm reports bad files with the file, the line and what was expected", "[hmm][cli][errors]") {
  TempDir tmp;
  const std::string model = data("cli_model.json");
  const std::string obs = data("cli_obs.txt");
  auto decode = [&](const std::string& m, const std::string& o) { return run("decode --model " + m + " --obs " + o + " 2>&1"); };

  auto r = decode(tmp.write("bad.json", "{\"startprob\": [1.0,"), obs);
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("bad.json is not valid JSON"));
  r = decode(tmp.write("missing.json", "{\"startprob\": [1.0], \"emissionprob\": [[1.0]]}"), obs);
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("missing \"transmat\""));
  r = decode(tmp.write("ragged.json", "{\"startprob\": [0.5, 0.5], \"transmat\": [[0.5, 0.5], [1.0]], "
                                      "\"emissionprob\": [[1.0], [1.0]]}"),
             obs);
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("\"transmat\" row 1 has 1 entries, expected 2"));
  r = decode(tmp.write("sum.json", "{\"startprob\": [0.5, 0.6], \"transmat\": [[0.5, 0.5], [1.0, 0.0]], "
                                   "\"emissionprob\": [[1.0], [1.0]]}"),
             tmp.write("zeros.txt", "0 0\n"));
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("startprob sums to 1.1"));
  r = decode(tmp.write("text.json", "{\"startprob\": [\"a\"], \"transmat\": [[1.0]], \"emissionprob\": [[1.0]]}"), obs);
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("\"startprob\" holds \"a\", expected a number"));
  r = decode(model, tmp.write("range.txt", "0 1\n2 9 1\n"));
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("symbol id 9 at position 1 is out of range, expected 0 <= id < V = 4"));
  r = decode(model, tmp.write("word.txt", "0 1\n2 x 1\n"));
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("word.txt line 2: \"x\" is not a symbol id"));
  r = decode(model, tmp.write("blank.txt", "0 1\n\n1\n"));
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("blank.txt line 2 is empty"));
  r = decode(model, (tmp.path / "absent.txt").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("cannot open"));
  r = run("fit --model " + model + " --obs " + obs + " --iterations 0 2>&1");
  CHECK(r.status != 0);
}

TEST_CASE("elm-hmm train-tagger and tag", "[hmm][cli][tagger]") {
  TempDir tmp;
  const std::string corpus = std::string(ELM_SOURCE_DIR) + "/examples/data/brown";
  const std::string model = (tmp.path / "tagger.txt").string();
  auto r = run("train-tagger --corpus " + corpus + " --max-files 20 --out " + model);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("HMM tagger:") && Contains("most frequent tag:"));
  const std::string input = tmp.write("in.txt", "The jury said it was a fine election .\n");
  r = run("tag --model " + model + " --input " + input);
  REQUIRE(r.status == 0);
  CHECK(r.out == "The/at jury/nn said/vbd it/pps was/bedz a/at fine/jj election/nn ./.\n");
  r = run("tag --model " + input + " --input " + input + " 2>&1");
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("expected the header \"elm-pos-tagger 1\""));
  r = run("train-tagger --corpus " + corpus + " --tagset fancy 2>&1");
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Contains("expected full or base"));
}
