// SPDX-License-Identifier: MIT
// safetensors: round trips for each dtype, a file written by Python's safetensors package, malformed files.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "elm/io/safetensors.hpp"

namespace {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

std::string safetensors_temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "elm-tests-io";
  fs::create_directories(dir);
  return (dir / name).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file from a header text and a data section: 8-byte little-endian length, header, data.
std::string file_bytes(const std::string& header, const std::string& data, std::uint64_t declared_len) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((declared_len >> (8 * i)) & 0xFF));
  return out + header + data;
}
std::string file_bytes(const std::string& header, const std::string& data) {
  return file_bytes(header, data, header.size());
}

std::string read_error(const std::string& bytes, const std::string& name) {
  const std::string path = safetensors_temp_path(name);
  write_bytes(path, bytes);
  try {
    elm::io::SafetensorsReader reader(path);
  } catch (const elm::FormatError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("safetensors round trip keeps every value of each float dtype", "[io][safetensors]") {
  elm::Matrix<double> m(3, 2);  // logical shape [2, 3]: rows are the last dimension
  m << 0.5, -1.25, 3.0, 1.0 / 3.0, 1e-3, -7.75;
  elm::io::SafetensorsWriter writer;
  writer.add("f64", {2, 3}, m);
  writer.add("f32", {2, 3}, elm::Matrix<float>(m.cast<float>()));
  writer.add("f16", {6}, m, elm::io::Dtype::F16);
  writer.add("bf16", {3, 1, 2}, m, elm::io::Dtype::BF16);
  writer.set_metadata("step", "42");
  const std::string path = safetensors_temp_path("roundtrip.safetensors");
  writer.save(path);

  const elm::io::SafetensorsReader reader(path);
  CHECK(reader.metadata().at("step") == "42");
  CHECK(reader.names() == std::vector<std::string>{"f64", "f32", "f16", "bf16"});
  CHECK(reader.info("bf16").shape == std::vector<elm::Index>{3, 1, 2});
  CHECK(reader.read_matrix<double>("f64") == m);
  CHECK(reader.read_matrix<float>("f32") == m.cast<float>());
  const auto f16 = reader.read_matrix<double>("f16");
  const auto bf16 = reader.read_matrix<double>("bf16");
  CHECK(f16.rows() == 6);
  CHECK(f16.cols() == 1);
  // Values exact in each format come back unchanged; 1/3 rounds to the nearest representable value:
  // F16 keeps 10 mantissa bits: 1/3 = 1.0101010101|01.. x 2^-2 rounds down to (1 + 341/1024)/4 = 0.333251953125.
  // BF16 keeps 7: float(1/3) = 0x3EAAAAAB, the dropped half 0xAAAB > 0x8000 rounds up to 0x3EAB = 0.333984375.
  // Storage order is column-major: 0.5, 3, 1e-3, -1.25, 1/3, -7.75.
  CHECK(f16(0) == 0.5);
  CHECK(f16(1) == 3.0);
  CHECK(f16(3) == -1.25);
  CHECK(f16(4) == 0.333251953125);
  CHECK(f16(5) == -7.75);
  CHECK(bf16(1) == 3.0);
  CHECK(bf16(3) == -1.25);
  CHECK(bf16(4) == 0.333984375);
  CHECK(bf16(5) == -7.75);
}

TEST_CASE("half and bfloat16 conversions handle the edge cases", "[io][safetensors]") {
  using elm::io::detail::float_to_half;
  using elm::io::detail::half_to_float;
  CHECK(half_to_float(0x3C00) == 1.0f);
  CHECK(half_to_float(0x0001) == 5.9604644775390625e-08f);  // smallest subnormal, 2^-24
  CHECK(half_to_float(0x7BFF) == 65504.0f);                 // largest finite
  CHECK(std::isinf(half_to_float(0x7C00)));
  CHECK(std::isnan(half_to_float(0x7E00)));
  CHECK(float_to_half(65504.0f) == 0x7BFF);
  CHECK(float_to_half(65520.0f) == 0x7C00);  // halfway to 2^16 rounds to even: overflow to infinity
  CHECK(float_to_half(5.9604644775390625e-08f) == 0x0001);
  CHECK(float_to_half(2.98023223876953125e-08f) == 0x0000);  // exactly half the smallest subnormal: ties to even (0)
  CHECK(float_to_half(-0.0f) == 0x8000);
  // Every half survives half -> float -> half.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float f = half_to_float(bits);
    if (!std::isnan(f)) REQUIRE(float_to_half(f) == bits);
  }
}

TEST_CASE("a file written by Python's safetensors package is read exactly", "[io][safetensors][reference]") {
  const std::string dir = ELM_TEST_DATA_DIR "/io/";
  const elm::io::SafetensorsReader reader(dir + "python_written.safetensors");
  std::ifstream in(dir + "python_written.json");
  const auto expected = nlohmann::json::parse(in);
  CHECK(reader.metadata().at("format") == "pt");
  CHECK(reader.info("ids").dtype == elm::io::Dtype::I64);
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    INFO("tensor " << it.key());
    const auto& info = reader.info(it.key());
    CHECK(info.shape == it.value()["shape"].get<std::vector<elm::Index>>());
    const auto values = it.value()["values"].get<std::vector<double>>();
    const auto m = reader.read_matrix<double>(it.key());
    REQUIRE(static_cast<std::size_t>(m.size()) == values.size());
    for (std::size_t i = 0; i < values.size(); ++i) CHECK(m.data()[i] == values[i]);
  }
  // PyTorch's (3, 5) weight is an Eigen (5, 3) matrix: column j is row j of the tensor.
  const auto w = reader.read_matrix<float>("encoder.weight");
  CHECK(w.rows() == 5);
  CHECK(w.cols() == 3);
  CHECK(static_cast<double>(w(1, 2)) == expected["encoder.weight"]["values"][2 * 5 + 1].get<double>());
  REQUIRE_THROWS_AS(reader.read_matrix<float>("ids"), elm::FormatError);
  REQUIRE_THROWS_WITH(reader.read_matrix<float>("ids"), Contains("'ids'") && Contains("I64") && Contains("expected a floating-point dtype"));
  REQUIRE_THROWS_WITH(reader.info("missing"), Contains("no tensor named 'missing'"));
  elm::Matrix<float> out;
  REQUIRE_THROWS_AS(reader.read_into("encoder.weight", {5, 3}, out), elm::ShapeError);
  REQUIRE_THROWS_WITH(reader.read_into("encoder.weight", {5, 3}, out), Contains("has shape [3, 5], expected [5, 3]"));
}

TEST_CASE("malformed safetensors files are rejected with a message that says what is wrong", "[io][safetensors][bad-input]") {
  const std::string eight_bytes(8, '\0');
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(read_error(file_bytes(ok, eight_bytes), "ok.safetensors") == "no error");

  struct Case {
    const char* name;
    std::string bytes;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"too-short", std::string("\x01\x02\x03", 3), "expected at least 8"},
      {"length-past-end", file_bytes(ok, eight_bytes, 1000), "runs past the end of the file"},
      {"bad-json", file_bytes(R"({"a":{"dtype":"F32",)", ""), "not valid JSON"},
      {"not-an-object", file_bytes("[1, 2]", ""), "does not start with '{'"},
      {"unknown-dtype", file_bytes(R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", "xx"),
       "unknown dtype 'F8'"},
      {"size-mismatch", file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight_bytes),
       "needs 12 bytes, but data_offsets span 8"},
      {"offset-past-end", file_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight_bytes),
       "past the data section of 8 bytes"},
      {"overlap", file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight_bytes),
       "overlaps tensor"},
      {"hole", file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight_bytes),
       "belong to no tensor"},
      {"trailing-bytes", file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight_bytes),
       "cover 4 bytes of the data section, expected all 8"},
      {"reversed", file_bytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight_bytes),
       "are reversed"},
      {"missing-offsets", file_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", eight_bytes), "'data_offsets' must be"},
      {"negative-shape", file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight_bytes),
       "not a non-negative integer"},
      {"missing-dtype", file_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", eight_bytes), "missing string field 'dtype'"},
      {"metadata-not-string", file_bytes(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight_bytes),
       "is not a string"},
      {"huge-shape", file_bytes(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight_bytes),
       "too large"},
  };
  for (const auto& c : cases) {
    INFO("case " << c.name);
    const std::string message = read_error(c.bytes, std::string(c.name) + ".safetensors");
    CHECK_THAT(message, Contains(c.message) && Contains(std::string(c.name) + ".safetensors"));
  }
  REQUIRE_THROWS_AS(elm::io::SafetensorsReader(safetensors_temp_path("does-not-exist.safetensors")), elm::IoError);
}

TEST_CASE("the writer rejects inconsistent tensors and never leaves a partial file", "[io][safetensors][bad-input]") {
  elm::io::SafetensorsWriter writer;
  elm::Matrix<float> m = elm::Matrix<float>::Ones(2, 3);
  REQUIRE_THROWS_AS(writer.add("w", {4, 2}, m), elm::ShapeError);
  writer.add("w", {3, 2}, m);
  REQUIRE_THROWS_AS(writer.add("w", {6}, m), elm::InvalidArgument);
  REQUIRE_THROWS_AS(writer.add("x", {6}, m, elm::io::Dtype::I32), elm::InvalidArgument);

  const std::string path = safetensors_temp_path("atomic.safetensors");
  writer.save(path);
  const auto before = elm::io::SafetensorsReader(path).read_matrix<float>("w");
  // A failure while writing leaves the previous file intact and no temporary file behind.
  REQUIRE_THROWS_AS(elm::io::write_atomically(path,
                                              [](std::ostream& out) {
                                                out << "partial";
                                                throw elm::IoError("simulated failure mid-write");
                                              }),
                    elm::IoError);
  CHECK(elm::io::SafetensorsReader(path).read_matrix<float>("w") == before);
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    files += entry.path().filename().string().rfind("atomic.safetensors", 0) == 0;
  CHECK(files == 1);
  REQUIRE_THROWS_AS(writer.save(safetensors_temp_path("no-such-dir/x.safetensors")), elm::IoError);
}
