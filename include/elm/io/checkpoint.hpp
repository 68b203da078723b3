// SPDX-License-Identifier: MIT
// Saving and loading every parameter of a module (anything with for_each_parameter) as safetensors, from a
// whole file or from part of one: a name prefix, a name map, transposed tensors, a report of what was missing.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "elm/core/error.hpp"
#include "elm/io/safetensors.hpp"
#include "elm/nn/layer.hpp"

namespace elm::io {

/// Writes each parameter's value under its dotted name, with `metadata` in __metadata__, atomically.
/// Parameters of a float module are stored as F32, of a double module as F64. Reads the parameters only,
/// through the module's const for_each_parameter.
template <typename Module>
void save_parameters(const std::string& path, const Module& module,
                     const std::map<std::string, std::string>& metadata = {}) {
  static_assert(nn::has_parameters_v<Module>,
                "elm::io::save_parameters: Module needs for_each_parameter(prefix, f), mutable and const");
  SafetensorsWriter writer;
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  module.for_each_parameter("", [&](const std::string& name, const auto& p) { writer.add(name, p.shape, p.value); });
  writer.save(path);
}

/// Where a file keeps one parameter: the tensor's name (below the load's prefix) and whether the file stores
/// it transposed against the module. GPT-2's checkpoints keep their Conv1D weights as (in, out), where a Linear
/// holds (out, in): such a tensor is read with transposed = true.
struct TensorSource {
  std::string name;
  bool transposed = false;
};

/// Maps a module's parameter name ("h.0.ln_1.weight") to where the file keeps it.
using NameMap = std::function<TensorSource(const std::string& parameter_name)>;

/// A NameMap from a table: a parameter named in `table` is read from its entry, every other from its own name.
inline NameMap name_map_from(std::map<std::string, TensorSource> table) {
  return [table = std::move(table)](const std::string& name) {
    const auto it = table.find(name);
    return it == table.end() ? TensorSource{name, false} : it->second;
  };
}

/// A NameMap that renames: a parameter named in `renames` is read from the tensor it maps to (not transposed),
/// every other from its own name. For checkpoints whose names differ (LayerNorm's old gamma and beta).
inline NameMap name_map_from(const std::map<std::string, std::string>& renames) {
  std::map<std::string, TensorSource> table;
  for (const auto& [from, to] : renames) table.emplace(from, TensorSource{to, false});
  return name_map_from(std::move(table));
}

/// How load_parameters reads a module from an open file.
struct LoadOptions {
  /// The module's place in the file: parameter p is read from "<prefix>.<p>" ("transformer", "bert.encoder"),
  /// from "<p>" when empty. Given without a trailing dot.
  std::string prefix;
  /// The file's name for each parameter, below the prefix, and whether it is stored transposed; empty: the
  /// module's own names, none transposed.
  NameMap name_map;
  /// Strict: every parameter must be in the file and every tensor under the prefix must be read by some
  /// parameter, or load_parameters throws. Not strict: parameters the file lacks keep their values, and both
  /// lists are returned. Tensors outside the prefix are ignored either way; a wrong shape or dtype always throws.
  bool strict = true;
  /// Reads each tensor straight into its parameter, without the temporaries that give the strong guarantee
  /// (with them, a load holds the model twice at its peak). On an exception the module is then partly loaded:
  /// for a module that the caller discards on failure, such as a loader's freshly built model.
  bool in_place = false;
};

/// What a load did not match, as PyTorch's load_state_dict reports it.
struct LoadReport {
  /// The module's names of the parameters the file lacks, in visiting order.
  std::vector<std::string> missing_keys;
  /// The file's names of the tensors under the prefix that no parameter reads, in file order.
  std::vector<std::string> unexpected_keys;
};

namespace detail {

/// Whether a file tensor belongs to the module loaded from `prefix` (all of them for an empty prefix).
inline bool under_prefix(std::string_view name, std::string_view prefix) {
  return prefix.empty() || (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
                            name[prefix.size()] == '.');
}

/// "'a', 'b', 'c' and 2 more": the first names of a list, for messages.
inline std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  const std::size_t shown = std::min<std::size_t>(names.size(), 3);
  for (std::size_t i = 0; i < shown; ++i) out += elm::detail::concat(i ? ", '" : "'", names[i], "'");
  if (names.size() > shown) out += elm::detail::concat(" and ", names.size() - shown, " more");
  return out;
}

}  // namespace detail

/// Loads the parameters of `module` from an open safetensors file, which may hold more than this module (a
/// Hugging Face file keeps a model under "transformer." and its head beside it): parameter p is read from
/// "<prefix>.<name_map(p).name>" and transposed when the map says so. Each tensor's dtype must be a
/// floating-point one (F64, F32, F16, BF16, converted to the module's scalar) and its shape the parameter's
/// (reversed, for a transposed 2-D tensor): otherwise FormatError or ShapeError naming the file's tensor, the
/// parameter, what was expected and what was found. Strict (the default): a missing parameter or an unread
/// tensor under the prefix throws FormatError. Strong guarantee (unless options.in_place): every tensor is read
/// and checked before any parameter is assigned, so on an exception the module is unchanged. Two parameters may
/// read one tensor (tied weights). Returns the missing and unexpected names (both empty after a strict load).
template <typename Module>
LoadReport load_parameters(const SafetensorsReader& reader, Module& module, const LoadOptions& options = {}) {
  static_assert(nn::has_parameters_v<Module>,
                "elm::io::load_parameters: Module needs for_each_parameter(prefix, f), mutable and const");
  constexpr const char* where = "elm::io::load_parameters";
  const std::string& prefix = options.prefix;
  ELM_EXPECT(prefix.empty() || (prefix.front() != '.' && prefix.back() != '.'), InvalidArgument, where, ": prefix '",
             prefix, "' starts or ends with '.', expected a dotted path such as 'transformer.h.0'");
  const std::string& path = reader.path();
  LoadReport report;
  std::set<std::string> read_names;
  std::string first_missing;  // the file's name of the first missing parameter, for the strict error
  // 1) match names, 2) read and check every tensor into temporaries, 3) assign: the strong guarantee.
  std::vector<std::function<void()>> reads;
  std::vector<std::function<void()>> assignments;
  module.for_each_parameter("", [&](const std::string& name, auto& p) {
    TensorSource source = options.name_map ? options.name_map(name) : TensorSource{name, false};
    ELM_EXPECT(!source.name.empty(), InvalidArgument, where, ": the name map gives an empty name for parameter '", name,
               "'");
    std::string file_name = prefix.empty() ? source.name : prefix + "." + source.name;
    if (!reader.contains(file_name)) {
      if (report.missing_keys.empty()) first_missing = file_name;
      report.missing_keys.push_back(name);
      return;
    }
    read_names.insert(file_name);
    reads.push_back([&, &p = p, name, file_name = std::move(file_name), transposed = source.transposed] {
      const TensorInfo& info = reader.info(file_name);
      const auto about = [&] {
        return elm::detail::concat("tensor '", file_name, "' in ", path, " (parameter '", name, "'",
                                   transposed ? ", stored transposed)" : ")");
      };
      using Matrix = std::decay_t<decltype(p.value)>;
      using Scalar = typename Matrix::Scalar;
      ELM_EXPECT(detail::is_float_dtype(info.dtype), FormatError, where, ": ", about(), " is ", dtype_name(info.dtype),
                 ", expected a floating-point dtype (F64, F32, F16, BF16) to read as ",
                 detail::element_type_name<Scalar>());
      std::vector<Index> expected = p.shape;
      if (transposed) {
        ELM_EXPECT(p.shape.size() == 2, ShapeError, where, ": ", about(), ": the parameter has shape ",
                   detail::shape_text(p.shape), ", expected two dimensions to read a transposed tensor");
        std::swap(expected[0], expected[1]);
      }
      ELM_EXPECT(info.shape == expected, ShapeError, where, ": ", about(), " has shape ",
                 detail::shape_text(info.shape), ", expected ", detail::shape_text(expected));
      if (options.in_place && !transposed) {
        reader.read_into<Scalar>(file_name, info.shape, p.value);
        return;
      }
      auto loaded = std::make_shared<Matrix>(reader.read_matrix<Scalar>(file_name));
      if (transposed) *loaded = loaded->transpose().eval();
      assignments.push_back([&p, loaded] { p.value = std::move(*loaded); });
    });
  });
  for (const auto& name : reader.names())
    if (detail::under_prefix(name, prefix) && read_names.count(name) == 0) report.unexpected_keys.push_back(name);
  if (options.strict) {
    ELM_EXPECT(report.missing_keys.empty(), FormatError, where, ": ", path, " is missing tensor '", first_missing,
               "' for parameter '", report.missing_keys.front(), "' (", report.missing_keys.size(),
               " missing in all: ", detail::name_list(report.missing_keys), ")");
    ELM_EXPECT(report.unexpected_keys.empty(), FormatError, where, ": ", path, " has tensor '",
               report.unexpected_keys.front(), "' that the model does not have (", report.unexpected_keys.size(),
               " unexpected tensor(s) in all", (prefix.empty() ? "" : " under '" + prefix + ".'"), ": ",
               detail::name_list(report.unexpected_keys), ")");
  }
  for (auto& read : reads) read();
  for (auto& assign : assignments) assign();
  return report;
}

/// Loads every parameter of `module` from a safetensors file that holds exactly the module: strict, no prefix,
/// the module's own names (load_parameters(reader, module) above). Returns the file's metadata.
template <typename Module>
std::map<std::string, std::string> load_parameters(const std::string& path, Module& module) {
  static_assert(nn::has_parameters_v<Module>,
                "elm::io::load_parameters: Module needs for_each_parameter(prefix, f), mutable and const");
  const SafetensorsReader reader(path);
  load_parameters(reader, module);
  return reader.metadata();
}

}  // namespace elm::io
