// SPDX-License-Identifier: MIT
// safetensors: round trips for each dtype, a file written by Python's safetensors package, malformed files.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
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
  // Truncated headers, lengths and offsets past the end, overlaps, byte counts that disagree with dtype and shape,
  // names that are not UTF-8 or given twice: each a FormatError naming the file and what was expected.
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
      // A name that is not UTF-8 (a lone 0xFF byte), at byte 8 + 2 of the file.
      {"non-utf8-name", file_bytes("{\"\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight_bytes),
       "invalid UTF-8 sequence at byte 10 of the file (byte value 255), expected UTF-8 JSON"},
      // An overlong encoding of '/' and a lone surrogate written as raw bytes are not UTF-8 either.
      {"overlong-name", file_bytes("{\"\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight_bytes),
       "invalid UTF-8 sequence at byte 10"},
      {"surrogate-name", file_bytes("{\"\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight_bytes),
       "invalid UTF-8 sequence at byte 10"},
      // A lone surrogate written as a JSON escape decodes to no character: invalid JSON.
      {"surrogate-escape", file_bytes(R"({"\udc80":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight_bytes),
       "not valid JSON"},
      {"repeated-name", file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight_bytes),
       "header names 'a' twice, expected each name once"},
      // Size claims are checked against the bytes present, before anything is allocated.
      {"huge-header-length", file_bytes(R"({})", "", std::numeric_limits<std::uint64_t>::max()),
       "header length 18446744073709551615 runs past the end of the file (2 bytes follow the length)"},
      {"begin-past-end", file_bytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}})", eight_bytes),
       "data_offsets end 16 is past the data section of 8 bytes"},
      {"huge-offsets", file_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})", eight_bytes),
       "past the data section of 8 bytes"},
      {"shape-larger-than-file", file_bytes(R"({"a":{"dtype":"F64","shape":[1000000,1000000],"data_offsets":[0,8]}})", eight_bytes),
       "shape [1000000, 1000000] of F64 needs 8000000000000 bytes, but data_offsets span 8"},
      {"bool-size", file_bytes(R"({"a":{"dtype":"BOOL","shape":[4],"data_offsets":[0,8]}})", eight_bytes),
       "shape [4] of BOOL needs 4 bytes, but data_offsets span 8"},
      {"i64-size", file_bytes(R"({"a":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}})", eight_bytes),
       "shape [2] of I64 needs 16 bytes, but data_offsets span 8"},
  };
  for (const auto& c : cases) {
    INFO("case " << c.name);
    const std::string message = read_error(c.bytes, std::string(c.name) + ".safetensors");
    CHECK_THAT(message, Contains(c.message) && Contains(std::string(c.name) + ".safetensors"));
  }
  REQUIRE_THROWS_AS(elm::io::SafetensorsReader(safetensors_temp_path("does-not-exist.safetensors")), elm::IoError);
}

TEST_CASE("the header-length limit is named in the refusal and can be raised", "[io][safetensors][bad-input]") {
  // The default limit is the reference's 100 MB; a small limit shows the check on a small file.
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string path = safetensors_temp_path("header-limit.safetensors");
  write_bytes(path, file_bytes(header, std::string(8, '\0')));
  const auto limit = static_cast<std::uint64_t>(header.size()) - 1;
  CHECK_THROWS_WITH(elm::io::SafetensorsReader(path, limit),
                    Contains("header length " + std::to_string(header.size()) + " exceeds the limit of " +
                             std::to_string(limit) + " bytes (SafetensorsReader(path, header_limit) raises it)"));
  CHECK(elm::io::SafetensorsReader(path, limit + 1).names() == std::vector<std::string>{"a"});
  CHECK(elm::io::SafetensorsReader(path).names() == std::vector<std::string>{"a"});
  fs::remove(path);
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

TEST_CASE("integer and boolean tensors round-trip through the writer and reader, in every integer dtype",
          "[io][safetensors]") {
  using elm::io::Dtype;
  // Logical shape [2, 3]: rows are the last dimension, so storage order is the tensor's row-major order.
  const std::int64_t id_values[] = {0, 1, 2, 100, 101, 127};
  const elm::Matrix<std::int64_t> ids = Eigen::Map<const elm::Matrix<std::int64_t>>(id_values, 3, 2);
  const bool mask_values[] = {true, false, true, true, true, false};
  const elm::Matrix<bool> mask = Eigen::Map<const elm::Matrix<bool>>(mask_values, 3, 2);
  const std::vector<std::int64_t> big{std::numeric_limits<std::int64_t>::min(), -1, 0,
                                      std::numeric_limits<std::int64_t>::max()};
  elm::io::SafetensorsWriter writer;
  writer.add("ids", {2, 3}, ids);  // I64 by default
  for (Dtype d : {Dtype::I8, Dtype::I16, Dtype::I32, Dtype::U8, Dtype::U16, Dtype::U32, Dtype::U64})
    writer.add(std::string("ids.") + elm::io::dtype_name(d), {2, 3}, ids, d);
  writer.add("mask", {2, 3}, mask);  // BOOL by default
  writer.add("big", {4}, big);
  writer.add("u64", {2}, std::vector<std::uint64_t>{0, std::numeric_limits<std::uint64_t>::max()});
  writer.add("small", {3}, std::vector<std::int16_t>{-3, 0, 3});
  const std::string path = safetensors_temp_path("integers.safetensors");
  writer.save(path);

  const elm::io::SafetensorsReader reader(path);
  CHECK(reader.info("ids").dtype == Dtype::I64);
  CHECK(reader.info("mask").dtype == Dtype::BOOL);
  CHECK(reader.info("small").dtype == Dtype::I16);
  CHECK(reader.info("u64").dtype == Dtype::U64);
  CHECK(reader.read_matrix<std::int64_t>("ids") == ids);
  for (Dtype d : {Dtype::I8, Dtype::I16, Dtype::I32, Dtype::U8, Dtype::U16, Dtype::U32, Dtype::U64}) {
    const std::string name = std::string("ids.") + elm::io::dtype_name(d);
    INFO("tensor " << name);
    CHECK(reader.info(name).dtype == d);
    CHECK(reader.info(name).shape == std::vector<elm::Index>{2, 3});
    CHECK(reader.read_matrix<std::int64_t>(name) == ids);
    CHECK(reader.read_matrix<std::uint8_t>(name) == ids.cast<std::uint8_t>());
  }
  // Storage order is the file's row-major order: ids' columns are the rows of the [2, 3] tensor.
  CHECK(reader.read_vector<std::int32_t>("ids") == std::vector<std::int32_t>{0, 1, 2, 100, 101, 127});
  CHECK(reader.read_matrix<bool>("mask") == mask);
  CHECK(reader.read_vector<bool>("mask") == std::vector<bool>{true, false, true, true, true, false});
  CHECK(reader.read_vector<std::int64_t>("mask") == std::vector<std::int64_t>{1, 0, 1, 1, 1, 0});
  CHECK(reader.read_vector<std::int64_t>("big") == big);
  CHECK(reader.read_vector<std::uint64_t>("u64") ==
        std::vector<std::uint64_t>{0, std::numeric_limits<std::uint64_t>::max()});
  CHECK(reader.read_vector<std::int8_t>("small") == std::vector<std::int8_t>{-3, 0, 3});
  elm::Matrix<std::int64_t> into;
  reader.read_into("small", {3}, into);
  CHECK(into.rows() == 3);
  CHECK(into(2) == 3);
}

TEST_CASE("integer values that do not fit the type read or written throw RangeError naming the element",
          "[io][safetensors][bad-input]") {
  using elm::io::Dtype;
  elm::io::SafetensorsWriter writer;
  writer.add("u64", {2}, std::vector<std::uint64_t>{7, std::uint64_t(1) << 63});
  writer.add("negative", {3}, std::vector<std::int32_t>{0, 1, -1});
  writer.add("wide", {2}, std::vector<std::int64_t>{128, 70000});
  const std::string path = safetensors_temp_path("ranges.safetensors");
  writer.save(path);
  const elm::io::SafetensorsReader reader(path);
  REQUIRE_THROWS_AS(reader.read_vector<std::int64_t>("u64"), elm::RangeError);
  REQUIRE_THROWS_WITH(reader.read_vector<std::int64_t>("u64"),
                      Contains("'u64'") && Contains("element 1 (U64) is 9223372036854775808") &&
                          Contains("expected a value in [-9223372036854775808, 9223372036854775807]") &&
                          Contains("int64"));
  CHECK(reader.read_vector<std::uint64_t>("u64")[1] == std::uint64_t(1) << 63);
  REQUIRE_THROWS_WITH(reader.read_matrix<std::uint32_t>("negative"),
                      Contains("element 2 (I32) is -1") && Contains("[0, 4294967295]") && Contains("uint32"));
  REQUIRE_THROWS_WITH(reader.read_vector<std::int8_t>("wide"), Contains("element 0 (I64) is 128") && Contains("[-128, 127]"));
  REQUIRE_THROWS_WITH(reader.read_vector<std::int16_t>("wide"), Contains("element 1 (I64) is 70000"));

  elm::io::SafetensorsWriter narrow;
  REQUIRE_THROWS_AS(narrow.add("x", {2}, std::vector<std::int64_t>{1, 300}, Dtype::U8), elm::RangeError);
  REQUIRE_THROWS_WITH(narrow.add("x", {2}, std::vector<std::int64_t>{1, 300}, Dtype::U8),
                      Contains("element 1 is 300, which does not fit U8, expected a value in [0, 255]"));
  REQUIRE_THROWS_WITH(narrow.add("x", {1}, std::vector<std::int64_t>{-1}, Dtype::U64), Contains("does not fit U64"));
  // Each element type is written only as the dtypes that hold it.
  REQUIRE_THROWS_WITH(narrow.add("x", {1}, std::vector<std::int64_t>{1}, Dtype::F32),
                      Contains("dtype F32 cannot be written from int64 elements, expected an integer dtype"));
  REQUIRE_THROWS_WITH(narrow.add("x", {1}, std::vector<bool>{true}, Dtype::U8),
                      Contains("dtype U8 cannot be written from bool elements, expected BOOL"));
  REQUIRE_THROWS_WITH(narrow.add("x", {1}, std::vector<float>{1.0f}, Dtype::BOOL),
                      Contains("expected a floating-point dtype"));
  REQUIRE_THROWS_AS(narrow.add("x", {3}, std::vector<std::int64_t>{1, 2}), elm::ShapeError);
  REQUIRE_THROWS_WITH(narrow.add(std::string("bad\xff"), {1}, std::vector<std::int64_t>{1}), Contains("not valid UTF-8"));
}

TEST_CASE("reading a tensor as a type its dtype does not hold throws FormatError saying what it holds",
          "[io][safetensors][bad-input]") {
  elm::io::SafetensorsWriter writer;
  writer.add("f", {2}, elm::Matrix<float>(elm::Matrix<float>::Zero(2, 1)));
  writer.add("i", {2}, std::vector<std::int64_t>{0, 1});
  writer.add("b", {2}, std::vector<bool>{false, true});
  const std::string path = safetensors_temp_path("kinds.safetensors");
  writer.save(path);
  const elm::io::SafetensorsReader reader(path);
  REQUIRE_THROWS_AS(reader.read_matrix<std::int64_t>("f"), elm::FormatError);
  REQUIRE_THROWS_WITH(reader.read_matrix<std::int64_t>("f"),
                      Contains("tensor 'f'") && Contains("is F32, expected an integer dtype") && Contains("int64"));
  REQUIRE_THROWS_WITH(reader.read_vector<double>("i"), Contains("is I64, expected a floating-point dtype"));
  REQUIRE_THROWS_WITH(reader.read_vector<double>("b"), Contains("is BOOL, expected a floating-point dtype"));
  REQUIRE_THROWS_WITH(reader.read_matrix<bool>("i"), Contains("is I64, expected BOOL to read as bool"));

  // A BOOL tensor holds bytes 0 and 1 only.
  const std::string header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  const std::string bad_bool_path = safetensors_temp_path("bad-bool.safetensors");
  write_bytes(bad_bool_path, file_bytes(header, std::string("\x01\x00\x02", 3)));
  const elm::io::SafetensorsReader bad(bad_bool_path);
  REQUIRE_THROWS_AS(bad.read_vector<bool>("m"), elm::FormatError);
  REQUIRE_THROWS_WITH(bad.read_vector<bool>("m"), Contains("element 2 of a BOOL tensor is the byte 2, expected 0 or 1"));
  REQUIRE_THROWS_WITH(bad.read_vector<std::int64_t>("m"), Contains("the byte 2, expected 0 or 1"));
}

TEST_CASE("integer and boolean tensors written by Python's safetensors are read exactly", "[io][safetensors][reference]") {
  const std::string dir = ELM_TEST_DATA_DIR "/io/";
  const elm::io::SafetensorsReader reader(dir + "hf_prefixed.safetensors");
  std::ifstream in(dir + "hf_prefixed.json");
  const auto expected = nlohmann::json::parse(in);
  REQUIRE(expected.size() == reader.names().size());
  std::size_t integer_tensors = 0;
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    const std::string name = it.key();
    INFO("tensor " << name);
    const auto& info = reader.info(name);
    CHECK(elm::io::dtype_name(info.dtype) == it.value()["dtype"].get<std::string>());
    CHECK(info.shape == it.value()["shape"].get<std::vector<elm::Index>>());
    const auto& values = it.value()["values"];
    if (info.dtype == elm::io::Dtype::BOOL) {
      CHECK(reader.read_vector<bool>(name) == values.get<std::vector<bool>>());
    } else if (info.dtype == elm::io::Dtype::U64) {
      ++integer_tensors;
      CHECK(reader.read_vector<std::uint64_t>(name) == values.get<std::vector<std::uint64_t>>());
    } else if (elm::io::detail::is_integer_dtype(info.dtype)) {
      ++integer_tensors;
      CHECK(reader.read_vector<std::int64_t>(name) == values.get<std::vector<std::int64_t>>());
    } else {
      CHECK(reader.read_vector<double>(name) == values.get<std::vector<double>>());
    }
  }
  CHECK(integer_tensors == 11);
  // The layout convention of float tensors: input_ids [2, 3] is an Eigen (3, 2) matrix, column b is sequence b.
  const auto ids = reader.read_matrix<std::int64_t>("input_ids");
  REQUIRE(ids.rows() == 3);
  REQUIRE(ids.cols() == 2);
  CHECK(ids(1, 1) == expected["input_ids"]["values"][1 * 3 + 1].get<std::int64_t>());
  const auto mask = reader.read_matrix<bool>("transformer.h.0.attn.bias");
  CHECK(mask.rows() == 3);
  CHECK(mask.cols() == 3);
  CHECK(reader.read_matrix<std::int64_t>("position").size() == 1);
  // 2^64 - 1 does not fit an int64; the other U64 values do.
  REQUIRE_THROWS_WITH(reader.read_vector<std::int64_t>("extremes.u64"),
                      Contains("'extremes.u64'") && Contains("element 2 (U64) is 18446744073709551615"));
  REQUIRE_THROWS_AS(reader.read_vector<std::int8_t>("extremes.i16"), elm::RangeError);
  CHECK(reader.read_vector<std::int16_t>("extremes.i16").front() == std::numeric_limits<std::int16_t>::min());

  // Written back by SafetensorsWriter in each tensor's own dtype, every tensor has the same bytes. (Python reads
  // the rewritten file back: python3 tools/make_safetensors_fixtures.py --check <temp>/hf_rewritten.safetensors.)
  elm::io::SafetensorsWriter writer;
  for (const auto& name : reader.names()) {
    const auto& info = reader.info(name);
    if (info.dtype == elm::io::Dtype::BOOL) writer.add(name, info.shape, reader.read_vector<bool>(name));
    else if (info.dtype == elm::io::Dtype::U64) writer.add(name, info.shape, reader.read_vector<std::uint64_t>(name));
    else if (elm::io::detail::is_integer_dtype(info.dtype))
      writer.add(name, info.shape, reader.read_vector<std::int64_t>(name), info.dtype);
    else writer.add(name, info.shape, reader.read_vector<double>(name), info.dtype);
  }
  writer.set_metadata("format", "pt");
  const std::string path = safetensors_temp_path("hf_rewritten.safetensors");
  writer.save(path);
  const elm::io::SafetensorsReader rewritten(path);
  CHECK(rewritten.names() == reader.names());
  for (const auto& name : reader.names()) {
    INFO("tensor " << name);
    const auto& a = reader.info(name);
    const auto& b = rewritten.info(name);
    CHECK(b.dtype == a.dtype);
    CHECK(b.shape == a.shape);
    REQUIRE(b.end - b.begin == a.end - a.begin);
    CHECK(std::memcmp(rewritten.data(name), reader.data(name), a.end - a.begin) == 0);
  }
}

TEST_CASE("a safetensors file cut at any byte is rejected with FormatError, never read out of bounds",
          "[io][safetensors][bad-input]") {
  elm::io::SafetensorsWriter writer;
  writer.add("w", {2, 3}, elm::Matrix<float>(elm::Matrix<float>::Ones(3, 2)));
  writer.add("ids", {2}, std::vector<std::int64_t>{4, 5});
  writer.set_metadata("format", "pt");
  const std::string whole = writer.serialize();
  for (std::size_t size = 0; size < whole.size(); ++size) {
    INFO("first " << size << " bytes of " << whole.size());
    const std::string message = read_error(whole.substr(0, size), "cut.safetensors");
    CHECK(message != "no error");
    CHECK_THAT(message, Contains("cut.safetensors"));
  }
  CHECK(read_error(whole, "cut.safetensors") == "no error");
}
