// SPDX-License-Identifier: MIT
// safetensors files (the format of Hugging Face checkpoints): a memory-mapped, fully validated reader and an
// atomic writer, with floating-point (F64, F32, F16, BF16), integer and boolean tensors converted to and from
// Eigen matrices and std::vector.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "elm/core/error.hpp"
#include "elm/core/types.hpp"
#include "elm/io/atomic_file.hpp"
#include "elm/io/mapped_file.hpp"
#include "elm/text/utf8.hpp"

namespace elm::io {

/// Element types of the safetensors format.
enum class Dtype { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

/// Name of a dtype as the format spells it ("F32").
inline const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::BOOL: return "BOOL";
    case Dtype::U8: return "U8";
    case Dtype::I8: return "I8";
    case Dtype::I16: return "I16";
    case Dtype::U16: return "U16";
    case Dtype::F16: return "F16";
    case Dtype::BF16: return "BF16";
    case Dtype::I32: return "I32";
    case Dtype::U32: return "U32";
    case Dtype::F32: return "F32";
    case Dtype::F64: return "F64";
    case Dtype::I64: return "I64";
    case Dtype::U64: return "U64";
  }
  return "?";
}

/// Size in bytes of one element.
inline std::size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::BOOL: case Dtype::U8: case Dtype::I8: return 1;
    case Dtype::I16: case Dtype::U16: case Dtype::F16: case Dtype::BF16: return 2;
    case Dtype::I32: case Dtype::U32: case Dtype::F32: return 4;
    case Dtype::F64: case Dtype::I64: case Dtype::U64: return 8;
  }
  return 0;
}

namespace detail {

inline bool parse_dtype(std::string_view s, Dtype& out) {
  for (Dtype d : {Dtype::BOOL, Dtype::U8, Dtype::I8, Dtype::I16, Dtype::U16, Dtype::F16, Dtype::BF16, Dtype::I32,
                  Dtype::U32, Dtype::F32, Dtype::F64, Dtype::I64, Dtype::U64}) {
    if (s == dtype_name(d)) {
      out = d;
      return true;
    }
  }
  return false;
}

inline bool is_float_dtype(Dtype d) {
  return d == Dtype::F64 || d == Dtype::F32 || d == Dtype::F16 || d == Dtype::BF16;
}

inline bool is_integer_dtype(Dtype d) {
  switch (d) {
    case Dtype::I8: case Dtype::I16: case Dtype::I32: case Dtype::I64:
    case Dtype::U8: case Dtype::U16: case Dtype::U32: case Dtype::U64: return true;
    default: return false;
  }
}

/// The element types a tensor is read into and written from: floating-point, integer, and bool.
template <typename T>
inline constexpr bool is_tensor_element_v =
    std::is_floating_point_v<T> || std::is_integral_v<T>;

/// 0, 1, 2, 3 for an integer type of 1, 2, 4, 8 bytes.
template <typename T>
inline constexpr int integer_size_index = sizeof(T) == 1 ? 0 : sizeof(T) == 2 ? 1 : sizeof(T) == 4 ? 2 : 3;

/// Name of an element type in messages ("int64").
template <typename T>
const char* element_type_name() {
  constexpr const char* integers[2][4] = {{"uint8", "uint16", "uint32", "uint64"}, {"int8", "int16", "int32", "int64"}};
  if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_same_v<T, float>) return "float";
  else if constexpr (std::is_same_v<T, double>) return "double";
  else if constexpr (std::is_floating_point_v<T>) return "long double";
  else return integers[std::is_signed_v<T> ? 1 : 0][integer_size_index<T>];
}

/// What the reader accepts for an element type, for messages.
template <typename T>
const char* accepted_dtypes() {
  if constexpr (std::is_same_v<T, bool>) return "BOOL";
  else if constexpr (std::is_floating_point_v<T>) return "a floating-point dtype (F64, F32, F16, BF16)";
  else return "an integer dtype (I64, I32, I16, I8, U64, U32, U16, U8) or BOOL";
}

/// Whether a tensor of dtype d can be read into elements of type T (values are range-checked as they are read).
template <typename T>
bool dtype_readable_as(Dtype d) {
  if constexpr (std::is_same_v<T, bool>) return d == Dtype::BOOL;
  else if constexpr (std::is_floating_point_v<T>) return is_float_dtype(d);
  else return is_integer_dtype(d) || d == Dtype::BOOL;
}

/// Whether elements of type T can be written as dtype d.
template <typename T>
bool dtype_writable_from(Dtype d) {
  if constexpr (std::is_same_v<T, bool>) return d == Dtype::BOOL;
  else if constexpr (std::is_floating_point_v<T>) return is_float_dtype(d);
  else return is_integer_dtype(d);
}

/// The dtype an element type is written as by default: F32, F64, I64, ..., BOOL.
template <typename T>
constexpr Dtype default_dtype() {
  static_assert(is_tensor_element_v<T> && !std::is_same_v<T, long double>, "no safetensors dtype for this type");
  constexpr Dtype integers[2][4] = {{Dtype::U8, Dtype::U16, Dtype::U32, Dtype::U64},
                                    {Dtype::I8, Dtype::I16, Dtype::I32, Dtype::I64}};
  if constexpr (std::is_same_v<T, bool>) return Dtype::BOOL;
  else if constexpr (std::is_floating_point_v<T>) return sizeof(T) == 8 ? Dtype::F64 : Dtype::F32;
  else return integers[std::is_signed_v<T> ? 1 : 0][integer_size_index<T>];
}

/// Whether the integer v is representable as T (no wrap-around, no sign change).
template <typename T, typename S>
constexpr bool integer_fits(S v) {
  static_assert(std::is_integral_v<T> && std::is_integral_v<S>, "integer_fits compares integers");
  if constexpr (std::is_signed_v<S>) {
    if (v < 0) {
      if constexpr (std::is_signed_v<T>)
        return static_cast<std::int64_t>(v) >= static_cast<std::int64_t>(std::numeric_limits<T>::min());
      else
        return false;
    }
  }
  return static_cast<std::uint64_t>(v) <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
}

/// An integer as text, 8-bit types as numbers rather than characters.
template <typename S>
std::string integer_text(S v) {
  if constexpr (std::is_signed_v<S>) return std::to_string(static_cast<long long>(v));
  else return std::to_string(static_cast<unsigned long long>(v));
}

/// IEEE 754 binary16 to binary32, exact (every half is a float), subnormals and NaN payloads included.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  std::uint32_t mantissa = h & 0x3FFu;
  std::uint32_t bits = 0;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa != 0) {  // subnormal half: normalise
    std::uint32_t e = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mantissa & 0x3FFu) << 13);
  } else {
    bits = sign;
  }
  float f = 0.0f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// binary32 to binary16 with round-to-nearest-even, overflow to infinity, NaN kept NaN.
inline std::uint16_t float_to_half(float f) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t exponent = (bits >> 23) & 0xFFu;
  std::uint32_t mantissa = bits & 0x7FFFFFu;
  if (exponent == 0xFF) return static_cast<std::uint16_t>(sign | 0x7C00u | (mantissa ? 0x200u : 0u));
  const int e = static_cast<int>(exponent) - 127 + 15;
  if (e >= 0x1F) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    std::uint32_t half = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1u);
    const std::uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: correct
  return static_cast<std::uint16_t>(sign | half);
}

inline float bfloat16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f = 0.0f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// binary32 to bfloat16 with round-to-nearest-even; NaN stays NaN.
inline std::uint16_t float_to_bfloat16(float f) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  const std::uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

inline std::string shape_text(const std::vector<Index>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Rows and columns of the Eigen matrix that holds a row-major tensor: rows = last dimension, columns =
/// product of the others (a scalar tensor is 1x1).
inline std::pair<Index, Index> matrix_dims(const std::vector<Index>& shape) {
  if (shape.empty()) return {1, 1};
  Index cols = 1;
  for (std::size_t d = 0; d + 1 < shape.size(); ++d) cols *= shape[d];
  return {shape.back(), cols};
}

}  // namespace detail

/// One tensor's entry in a file's header.
struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<Index> shape;   ///< row-major, as PyTorch gives it
  std::size_t begin = 0;      ///< byte offset in the data section
  std::size_t end = 0;        ///< one past the last byte

  /// Number of elements (1 for a scalar).
  Index numel() const {
    Index n = 1;
    for (Index d : shape) n *= d;
    return n;
  }
};

/// Reads a safetensors file. The file is memory-mapped (read into memory once where mapping is not
/// available); tensors are converted from that mapping, so the file is never copied twice. The header is
/// validated completely on construction: header length within the file, a UTF-8 JSON object with no repeated
/// name, known dtypes, non-negative shapes whose byte size matches the offsets, offsets in range, no overlap
/// and no hole. Any violation throws FormatError naming the file and the tensor; every size the header claims
/// is checked against the bytes present before anything is allocated or read.
///
/// Element types: float and double read F64, F32, F16 and BF16; the integer types read every integer dtype
/// and BOOL (0 or 1), each value checked to fit (RangeError otherwise: a U64 above 2^63 - 1 into int64); bool
/// reads BOOL, whose bytes must be 0 or 1. Other combinations throw FormatError naming the tensor, its dtype and
/// what the type accepts.
class SafetensorsReader {
 public:
  /// Largest header accepted by default, as in the reference implementation (100 MB).
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

  explicit SafetensorsReader(const std::string& path) : SafetensorsReader(path, max_header_bytes) {}

  /// The same with another limit on the header's length: the JSON header is parsed whole into memory (several
  /// times its size as a JSON tree), so a file of millions of tensors needs the limit raised knowingly.
  SafetensorsReader(const std::string& path, std::uint64_t header_limit)
      : path_(path), file_(std::make_unique<MappedFile>(path)), header_limit_(header_limit) {
    parse_header();
  }

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// Tensor names in the order of their offsets.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(by_offset_.size());
    for (std::size_t i : by_offset_) out.push_back(tensors_[i].name);
    return out;
  }

  bool contains(std::string_view name) const { return index_.count(std::string(name)) != 0; }

  /// The header entry of a tensor; throws FormatError when the file has no tensor of that name.
  const TensorInfo& info(std::string_view name) const {
    const auto it = index_.find(std::string(name));
    ELM_EXPECT(it != index_.end(), FormatError, "elm::io::SafetensorsReader: ", path_, " has no tensor named '", name,
               "'");
    return tensors_[it->second];
  }

  /// The raw little-endian bytes of a tensor (valid while the reader lives).
  const unsigned char* data(std::string_view name) const { return data_ + info(name).begin; }

  /// A tensor converted to T (see the class comment for the dtypes each T reads), as an Eigen matrix whose rows
  /// are the last dimension and whose columns are the product of the others: the file's element order. A
  /// scalar tensor is 1x1. Throws FormatError (dtype), RangeError (a value that does not fit T).
  template <typename T>
  Matrix<T> read_matrix(std::string_view name) const {
    const TensorInfo& t = checked_info<T>(name);
    const auto [rows, cols] = detail::matrix_dims(t.shape);
    Matrix<T> out(rows, cols);
    T* dst = out.data();
    convert<T>(t, [dst](std::size_t i, T v) { dst[i] = v; });
    return out;
  }

  /// Reads a tensor into `out`, first checking that its shape is `expected_shape` (ShapeError otherwise).
  template <typename T>
  void read_into(std::string_view name, const std::vector<Index>& expected_shape, Matrix<T>& out) const {
    const TensorInfo& t = checked_info<T>(name);
    ELM_EXPECT(t.shape == expected_shape, ShapeError, "elm::io::SafetensorsReader: tensor '", name, "' in ", path_,
               " has shape ", detail::shape_text(t.shape), ", expected ", detail::shape_text(expected_shape));
    const auto [rows, cols] = detail::matrix_dims(t.shape);
    out.resize(rows, cols);
    T* dst = out.data();
    convert<T>(t, [dst](std::size_t i, T v) { dst[i] = v; });
  }

  /// A tensor's elements converted to T in the file's (row-major) order, whatever its shape.
  template <typename T>
  std::vector<T> read_vector(std::string_view name) const {
    const TensorInfo& t = checked_info<T>(name);
    std::vector<T> out(static_cast<std::size_t>(t.numel()));
    convert<T>(t, [&out](std::size_t i, T v) { out[i] = v; });
    return out;
  }

 private:
  /// The tensor's entry, after checking that its dtype can be read as T.
  template <typename T>
  const TensorInfo& checked_info(std::string_view name) const {
    static_assert(detail::is_tensor_element_v<T>, "SafetensorsReader reads floating-point, integer or bool elements");
    const TensorInfo& t = info(name);
    ELM_EXPECT(detail::dtype_readable_as<T>(t.dtype), FormatError, "elm::io::SafetensorsReader: tensor '", t.name,
               "' in ", path_, " is ", dtype_name(t.dtype), ", expected ", detail::accepted_dtypes<T>(), " to read as ",
               detail::element_type_name<T>());
    return t;
  }

  /// Calls store(i, value) for each element i in file order; the dtype was checked by checked_info<T>.
  template <typename T, typename Store>
  void convert(const TensorInfo& t, Store&& store) const {
    const unsigned char* src = data_ + t.begin;
    const auto n = static_cast<std::size_t>(t.numel());
    if constexpr (std::is_floating_point_v<T>) {
      switch (t.dtype) {
        case Dtype::F32: return convert_floats<T, float>(src, n, store, [](float v) { return v; });
        case Dtype::F64: return convert_floats<T, double>(src, n, store, [](double v) { return v; });
        case Dtype::F16: return convert_floats<T, std::uint16_t>(src, n, store, detail::half_to_float);
        case Dtype::BF16: return convert_floats<T, std::uint16_t>(src, n, store, detail::bfloat16_to_float);
        default: break;
      }
    } else if constexpr (std::is_same_v<T, bool>) {
      for (std::size_t i = 0; i < n; ++i) store(i, bool_byte(t, src, i) != 0);
      return;
    } else {
      switch (t.dtype) {
        case Dtype::I8: return convert_integers<T, std::int8_t>(t, src, n, store);
        case Dtype::I16: return convert_integers<T, std::int16_t>(t, src, n, store);
        case Dtype::I32: return convert_integers<T, std::int32_t>(t, src, n, store);
        case Dtype::I64: return convert_integers<T, std::int64_t>(t, src, n, store);
        case Dtype::U8: return convert_integers<T, std::uint8_t>(t, src, n, store);
        case Dtype::U16: return convert_integers<T, std::uint16_t>(t, src, n, store);
        case Dtype::U32: return convert_integers<T, std::uint32_t>(t, src, n, store);
        case Dtype::U64: return convert_integers<T, std::uint64_t>(t, src, n, store);
        case Dtype::BOOL:
          for (std::size_t i = 0; i < n; ++i) store(i, static_cast<T>(bool_byte(t, src, i)));
          return;
        default: break;
      }
    }
    ELM_ASSERT(false);  // checked_info<T> admitted only the dtypes handled above
  }

  /// Floats converted in chunks of 4 MB of the file, each released from resident memory once converted
  /// (MappedFile::release): loading a model of N bytes then holds N bytes and a chunk, not 2 N.
  template <typename T, typename Stored, typename Store, typename ToFloat>
  void convert_floats(const unsigned char* src, std::size_t n, Store& store, ToFloat to_float) const {
    constexpr std::size_t chunk = (std::size_t(4) << 20) / sizeof(Stored);
    for (std::size_t i0 = 0; i0 < n; i0 += chunk) {
      const std::size_t i1 = std::min(n, i0 + chunk);
      for (std::size_t i = i0; i < i1; ++i) {
        Stored v;
        std::memcpy(&v, src + sizeof(Stored) * i, sizeof(Stored));
        store(i, static_cast<T>(to_float(v)));
      }
      const auto offset = static_cast<std::size_t>(src - file_->data());
      file_->release(offset + sizeof(Stored) * i0, offset + sizeof(Stored) * i1);
    }
  }

  template <typename T, typename Stored, typename Store>
  void convert_integers(const TensorInfo& t, const unsigned char* src, std::size_t n, Store& store) const {
    for (std::size_t i = 0; i < n; ++i) {
      Stored v;
      std::memcpy(&v, src + sizeof(Stored) * i, sizeof(Stored));
      ELM_EXPECT(detail::integer_fits<T>(v), RangeError, "elm::io::SafetensorsReader: tensor '", t.name, "' in ",
                 path_, ": element ", i, " (", dtype_name(t.dtype), ") is ", detail::integer_text(v),
                 ", expected a value in [", detail::integer_text(std::numeric_limits<T>::min()), ", ",
                 detail::integer_text(std::numeric_limits<T>::max()), "] to read as ", detail::element_type_name<T>());
      store(i, static_cast<T>(v));
    }
  }

  /// Byte i of a BOOL tensor, which must be 0 or 1 (what PyTorch and NumPy write).
  unsigned char bool_byte(const TensorInfo& t, const unsigned char* src, std::size_t i) const {
    ELM_EXPECT(src[i] <= 1, FormatError, "elm::io::SafetensorsReader: tensor '", t.name, "' in ", path_,
               ": element ", i, " of a BOOL tensor is the byte ", static_cast<int>(src[i]), ", expected 0 or 1");
    return src[i];
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(elm::detail::concat("elm::io::SafetensorsReader: ", path_, ": ", what));
  }

  void parse_header() {
    const std::size_t size = file_->size();
    const unsigned char* bytes = file_->data();
    if (size < 8) fail(elm::detail::concat("file is ", size, " bytes, expected at least 8 (the header length)"));
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
    if (header_len > size - 8)
      fail(elm::detail::concat("header length ", header_len, " runs past the end of the file (", size - 8,
                               " bytes follow the length)"));
    if (header_len > header_limit_)
      fail(elm::detail::concat("header length ", header_len, " exceeds the limit of ", header_limit_,
                               " bytes (SafetensorsReader(path, header_limit) raises it)"));
    if (header_len < 2 || bytes[8] != '{') fail("header does not start with '{', expected a JSON object");
    const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<std::size_t>(header_len));
    const std::size_t bad = text::find_invalid_utf8(text);
    if (bad != std::string_view::npos)
      fail(elm::detail::concat("header has an invalid UTF-8 sequence at byte ", 8 + bad, " of the file (byte value ",
                               static_cast<int>(static_cast<unsigned char>(text[bad])),
                               "), expected UTF-8 JSON: tensor names and metadata are UTF-8 strings"));
    // The reference implementation reads the header into a map; a name given twice would silently lose a tensor.
    std::set<std::string> names;
    std::string repeated;
    const auto watch_names = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
          !names.insert(parsed.get<std::string>()).second && repeated.empty())
        repeated = parsed.get<std::string>();
      return true;
    };
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, watch_names);
    } catch (const nlohmann::json::exception& e) {
      fail(elm::detail::concat("header is not valid JSON (", e.what(), ")"));
    }
    if (!header.is_object()) fail("header is not a JSON object");
    if (!repeated.empty()) fail(elm::detail::concat("header names '", repeated, "' twice, expected each name once"));
    data_ = bytes + 8 + header_len;
    const std::size_t data_size = size - 8 - static_cast<std::size_t>(header_len);

    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it.value().is_object()) fail("__metadata__ is not an object of strings");
        for (auto m = it.value().begin(); m != it.value().end(); ++m) {
          if (!m.value().is_string()) fail(elm::detail::concat("__metadata__ value of '", m.key(), "' is not a string"));
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      tensors_.push_back(parse_tensor(it.key(), it.value(), data_size));
      index_[it.key()] = tensors_.size() - 1;
    }

    // Offsets must tile the data section exactly: sorted by begin, each starts where the previous ended.
    by_offset_.resize(tensors_.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) by_offset_[i] = i;
    std::sort(by_offset_.begin(), by_offset_.end(), [&](std::size_t a, std::size_t b) {
      return tensors_[a].begin != tensors_[b].begin ? tensors_[a].begin < tensors_[b].begin
                                                    : tensors_[a].end < tensors_[b].end;
    });
    std::size_t expected_begin = 0;
    const TensorInfo* previous = nullptr;
    for (std::size_t i : by_offset_) {
      const TensorInfo& t = tensors_[i];
      if (t.begin < expected_begin)
        fail(elm::detail::concat("tensor '", t.name, "' at bytes [", t.begin, ", ", t.end, ") overlaps tensor '",
                                 previous->name, "' at [", previous->begin, ", ", previous->end, ")"));
      if (t.begin > expected_begin)
        fail(elm::detail::concat("bytes [", expected_begin, ", ", t.begin, ") of the data section belong to no tensor",
                                 " (a hole before tensor '", t.name, "')"));
      expected_begin = t.end;
      previous = &t;
    }
    if (expected_begin != data_size)
      fail(elm::detail::concat("tensors cover ", expected_begin, " bytes of the data section, expected all ",
                               data_size));
  }

  TensorInfo parse_tensor(const std::string& name, const nlohmann::json& entry, std::size_t data_size) const {
    const auto where = [&](const std::string& what) { return elm::detail::concat("tensor '", name, "': ", what); };
    if (!entry.is_object()) fail(where("entry is not an object"));
    TensorInfo t;
    t.name = name;
    const auto dtype = entry.find("dtype");
    if (dtype == entry.end() || !dtype->is_string()) fail(where("missing string field 'dtype'"));
    if (!detail::parse_dtype(dtype->get<std::string>(), t.dtype))
      fail(where(elm::detail::concat("unknown dtype '", dtype->get<std::string>(), "'")));
    const auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) fail(where("missing array field 'shape'"));
    std::uint64_t numel = 1;
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned()) fail(where("shape has an entry that is not a non-negative integer"));
      const auto dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<Index>::max()) ||
          (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / dim))
        fail(where("shape is too large"));
      numel *= dim;
      t.shape.push_back(static_cast<Index>(dim));
    }
    const auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      fail(where("'data_offsets' must be an array of two non-negative integers"));
    const auto begin = (*offsets)[0].get<std::uint64_t>();
    const auto end = (*offsets)[1].get<std::uint64_t>();
    if (begin > end) fail(where(elm::detail::concat("data_offsets [", begin, ", ", end, "] are reversed")));
    if (end > data_size)
      fail(where(elm::detail::concat("data_offsets end ", end, " is past the data section of ", data_size, " bytes")));
    const std::uint64_t elem = dtype_size(t.dtype);
    if (numel > std::numeric_limits<std::uint64_t>::max() / elem || numel * elem != end - begin)
      fail(where(elm::detail::concat("shape ", detail::shape_text(t.shape), " of ", dtype_name(t.dtype), " needs ",
                                     numel * elem, " bytes, but data_offsets span ", end - begin)));
    t.begin = static_cast<std::size_t>(begin);
    t.end = static_cast<std::size_t>(end);
    return t;
  }

  std::string path_;
  std::unique_ptr<MappedFile> file_;
  std::uint64_t header_limit_ = max_header_bytes;
  const unsigned char* data_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::size_t> by_offset_;
  std::map<std::string, std::string> metadata_;
};

/// Collects tensors and metadata, then writes a safetensors file atomically (temporary file + rename).
/// Tensors are laid out in the order added; the header is padded with spaces to a multiple of 8 bytes.
class SafetensorsWriter {
 public:
  void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

  /// Adds a tensor of row-major shape `shape` whose elements are m's in storage order (rows = last
  /// dimension). dtype: for float and double elements F32, F64, F16 or BF16 (rounded to nearest even), F32 and
  /// F64 by default; for integer elements any integer dtype (I64, I32, I16, I8, U64, U32, U16, U8), by default
  /// the type's own, each value checked to fit; for bool elements BOOL. Throws ShapeError when m's size
  /// disagrees with the shape, InvalidArgument for a duplicate name or a dtype the elements cannot be written
  /// as, RangeError for an integer that does not fit the dtype.
  template <typename T>
  void add(std::string name, std::vector<Index> shape, const Matrix<T>& m, Dtype dtype = detail::default_dtype<T>()) {
    const T* src = m.data();
    add_elements<T>(std::move(name), std::move(shape), m.size(), [src](std::size_t i) { return src[i]; }, dtype);
  }

  /// Adds a tensor whose elements are `values` in row-major order; dtypes as for a matrix.
  template <typename T>
  void add(std::string name, std::vector<Index> shape, const std::vector<T>& values,
           Dtype dtype = detail::default_dtype<T>()) {
    add_elements<T>(std::move(name), std::move(shape), to_index(values.size()),
                    [&values](std::size_t i) -> T { return values[i]; }, dtype);
  }

  /// The complete file content.
  std::string serialize() const {
    const std::string head = header();
    std::size_t size = head.size();
    for (const auto& e : entries_) size += e.bytes.size();
    std::string out;
    out.reserve(size);
    out += head;
    for (const auto& e : entries_) out += e.bytes;
    return out;
  }

  /// Writes the complete file content to `out` (the tensors' bytes straight from where add() keeps them).
  void write(std::ostream& out) const {
    const std::string head = header();
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    for (const auto& e : entries_) out.write(e.bytes.data(), static_cast<std::streamsize>(e.bytes.size()));
  }

  /// Writes the file atomically: `path` is either left as it was or replaced by the complete new file.
  void save(const std::string& path) const {
    write_atomically(path, [&](std::ostream& out) { write(out); });
  }

 private:
  /// The 8-byte header length and the JSON header, padded with spaces to a multiple of 8 bytes.
  std::string header() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    std::size_t offset = 0;
    for (const auto& e : entries_) {
      header[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes.size()}}};
      offset += e.bytes.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::string out;
    out.reserve(8 + text.size());
    const std::uint64_t len = text.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xFFu));
    return out + text;
  }

  struct Entry {
    std::string name;
    Dtype dtype;
    std::vector<Index> shape;
    std::string bytes;
  };

  template <typename T, typename Get>
  void add_elements(std::string name, std::vector<Index> shape, Index size, Get get, Dtype dtype) {
    static_assert(detail::is_tensor_element_v<T>, "SafetensorsWriter writes floating-point, integer or bool elements");
    constexpr const char* where = "elm::io::SafetensorsWriter::add";
    ELM_EXPECT(!name.empty() && name != "__metadata__", InvalidArgument, where, ": invalid tensor name '", name, "'");
    ELM_EXPECT(text::find_invalid_utf8(name) == std::string_view::npos, InvalidArgument, where, ": tensor name '", name,
               "' is not valid UTF-8, expected a UTF-8 name");
    for (const auto& e : entries_)
      ELM_EXPECT(e.name != name, InvalidArgument, where, ": tensor '", name, "' was already added");
    Index numel = 1;
    for (Index d : shape) {
      ELM_EXPECT(d >= 0, ShapeError, where, ": tensor '", name, "' has negative dimension ", d);
      numel *= d;
    }
    ELM_EXPECT(numel == size, ShapeError, where, ": tensor '", name, "' has shape ", detail::shape_text(shape), " (",
               numel, " elements) but ", size, " elements were given");
    ELM_EXPECT(detail::dtype_writable_from<T>(dtype), InvalidArgument, where, ": tensor '", name, "': dtype ",
               dtype_name(dtype), " cannot be written from ", detail::element_type_name<T>(), " elements, expected ",
               detail::accepted_dtypes<T>());
    Entry e{std::move(name), dtype, std::move(shape), {}};
    const auto n = static_cast<std::size_t>(size);
    if constexpr (std::is_same_v<T, bool>) {
      append_values<std::uint8_t>(e.bytes, n, [&](std::size_t i) { return static_cast<std::uint8_t>(get(i) ? 1 : 0); });
    } else if constexpr (std::is_floating_point_v<T>) {
      const auto as_float = [&](std::size_t i) { return static_cast<float>(get(i)); };
      switch (dtype) {
        case Dtype::F32: append_values<float>(e.bytes, n, as_float); break;
        case Dtype::F64:
          append_values<double>(e.bytes, n, [&](std::size_t i) { return static_cast<double>(get(i)); });
          break;
        case Dtype::F16:
          append_values<std::uint16_t>(e.bytes, n, [&](std::size_t i) { return detail::float_to_half(as_float(i)); });
          break;
        default:  // BF16
          append_values<std::uint16_t>(e.bytes, n,
                                       [&](std::size_t i) { return detail::float_to_bfloat16(as_float(i)); });
          break;
      }
    } else {
      switch (dtype) {
        case Dtype::I8: append_integers<std::int8_t>(e, n, get); break;
        case Dtype::I16: append_integers<std::int16_t>(e, n, get); break;
        case Dtype::I32: append_integers<std::int32_t>(e, n, get); break;
        case Dtype::I64: append_integers<std::int64_t>(e, n, get); break;
        case Dtype::U8: append_integers<std::uint8_t>(e, n, get); break;
        case Dtype::U16: append_integers<std::uint16_t>(e, n, get); break;
        case Dtype::U32: append_integers<std::uint32_t>(e, n, get); break;
        default: append_integers<std::uint64_t>(e, n, get); break;  // U64
      }
    }
    entries_.push_back(std::move(e));
  }

  template <typename Stored, typename Get>
  static void append_integers(Entry& e, std::size_t n, Get& get) {
    append_values<Stored>(e.bytes, n, [&](std::size_t i) {
      const auto v = get(i);
      ELM_EXPECT(detail::integer_fits<Stored>(v), RangeError, "elm::io::SafetensorsWriter::add: tensor '", e.name,
                 "': element ", i, " is ", detail::integer_text(v), ", which does not fit ", dtype_name(e.dtype),
                 ", expected a value in [", detail::integer_text(std::numeric_limits<Stored>::min()), ", ",
                 detail::integer_text(std::numeric_limits<Stored>::max()), "]");
      return static_cast<Stored>(v);
    });
  }

  /// Appends value(i) for i < n as little-endian bytes of type Stored.
  template <typename Stored, typename Value>
  static void append_values(std::string& bytes, std::size_t n, Value value) {
    bytes.resize(n * sizeof(Stored));
    for (std::size_t i = 0; i < n; ++i) {
      const Stored v = value(i);
      std::memcpy(&bytes[i * sizeof(Stored)], &v, sizeof(Stored));
    }
  }

  std::map<std::string, std::string> metadata_;
  std::vector<Entry> entries_;
};

}  // namespace elm::io
