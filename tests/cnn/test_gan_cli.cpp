// SPDX-License-Identifier: MIT
// Runs build/bin/elm-gan and elm-text-cnn as scripts do, a few steps each: what they print and write, and bad input
// refused with exit code 1 and a message that says what.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "../common/files.hpp"
#include "../common/run_program.hpp"

namespace gan_cli_test {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

std::size_t lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n' ? 1 : 0;
  return n;
}

TEST_CASE("elm-gan ring and digits train a few steps and write their pictures and curves", "[cnn][gan][cli]") {
  elm_test::require_program("elm-gan");
  const fs::path dir = elm_test::fresh_directory("gan-cli");
  const auto [ring, code] = elm_test::run_program(
      "elm-gan", "ring --steps 20 --batch 32 --samples 200 --seed 2 --quiet --out '" + (dir / "ring").string() + "'");
  INFO(ring);
  REQUIRE(code == 0);
  CHECK_THAT(ring, Contains("8 Gaussians of sigma 0.02") && Contains("of 8 modes covered") &&
                       Contains("real data: 8 of 8 modes"));
  CHECK(lines(elm_test::file_bytes(dir / "ring" / "losses.csv")) == 21);  // a header and a line a step
  CHECK_THAT(elm_test::file_bytes(dir / "ring" / "ring.svg"), Contains("<svg") && Contains("seed 2"));

  const std::string data = std::string(ELM_SOURCE_DIR) + "/examples/data/digits/digits.csv";
  const auto [digits, code2] = elm_test::run_program(
      "elm-gan", "digits --data '" + data + "' --steps 4 --snapshots 2 --hidden 16 --quiet --out '" +
                     (dir / "digits").string() + "'");
  INFO(digits);
  REQUIRE(code2 == 0);
  CHECK_THAT(digits, Contains("1438 training digits") && Contains("of 10 classes"));
  CHECK(elm_test::file_names(dir / "digits") ==
        std::vector<std::string>{"losses.csv", "real.png", "samples_step00000.png", "samples_step00002.png",
                                 "samples_step00004.png"});
  CHECK(elm_test::file_bytes(dir / "digits" / "real.png").rfind("\x89PNG", 0) == 0);
}

TEST_CASE("elm-gan refuses bad input with a message", "[cnn][gan][cli]") {
  elm_test::require_program("elm-gan");
  const fs::path dir = elm_test::fresh_directory("gan-cli-bad");
  const auto [pack, code] = elm_test::run_program("elm-gan", "ring --batch 10 --pack 4 --out '" + dir.string() + "'");
  CHECK(code == 1);
  CHECK_THAT(pack, Contains("--batch 10 is not a multiple of --pack 4"));
  const auto [missing, code2] =
      elm_test::run_program("elm-gan", "digits --data '" + (dir / "none.csv").string() + "' --out '" + dir.string() + "'");
  CHECK(code2 == 1);
  CHECK_THAT(missing, Contains("cannot open"));
}

TEST_CASE("elm-text-cnn trains on Brown's genres beside naive Bayes", "[cnn][text_cnn][cli]") {
  elm_test::require_program("elm-text-cnn");
  const fs::path dir = elm_test::fresh_directory("text-cnn-cli");
  const std::string brown = std::string(ELM_SOURCE_DIR) + "/examples/data/brown";
  const auto [log, code] = elm_test::run_program(
      "elm-text-cnn", "train --data '" + brown + "' --max-passages-per-file 1 --steps 3 --batch 8 --eval-every 0 " +
                          "--embedding 8 --filters 4 --quiet --out '" + dir.string() + "'");
  INFO(log);
  REQUIRE(code == 0);
  CHECK_THAT(log, Contains("450 training passages from 450 files, 50 held out from 50 files") &&
                      Contains("baseline: multinomial naive Bayes") && Contains("held-out accuracy: text CNN"));
  CHECK(lines(elm_test::file_bytes(dir / "losses.csv")) == 4);
  const auto [bad, code2] = elm_test::run_program("elm-text-cnn", "train --data '" + (dir / "none").string() + "'");
  CHECK(code2 == 1);
  CHECK_THAT(bad, Contains("no Brown files"));
}

}  // namespace gan_cli_test
