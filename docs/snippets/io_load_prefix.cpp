// docs/snippets/io_load_prefix.cpp
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "elm/io/checkpoint.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/linear.hpp"

// The first block of a GPT-2 style model, under the module's own names, with PyTorch's Linear layout.
struct Block {
  elm::nn::LayerNorm<float> ln_1{4};
  elm::nn::Linear<float> c_attn{4, 6};  // weight (out, in) = (6, 4)

  template <typename Self, typename F>
  static void visit(Self& self, std::string_view prefix, F&& f) {
    self.ln_1.for_each_parameter(elm::nn::join_name(prefix, "h.0.ln_1"), f);
    self.c_attn.for_each_parameter(elm::nn::join_name(prefix, "h.0.attn.c_attn"), f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) { visit(*this, prefix, f); }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const { visit(*this, prefix, f); }
};

int main() {
  // A file laid out as Hugging Face's are: the model under "transformer.", a head and inputs beside it
  // (written by tools/make_safetensors_fixtures.py).
  const elm::io::SafetensorsReader file("tests/data/io/hf_prefixed.safetensors");
  Block block;
  elm::io::LoadOptions options;
  options.prefix = "transformer";
  // GPT-2 keeps c_attn as a Conv1D, weight (in, out): read it transposed.
  options.name_map = [](const std::string& name) {
    return elm::io::TensorSource{name, name == "h.0.attn.c_attn.weight"};
  };
  options.strict = false;  // the file holds more of the model than this block
  const elm::io::LoadReport report = elm::io::load_parameters(file, block, options);
  fmt::print("missing: {}\n", report.missing_keys.size());
  for (const auto& name : report.unexpected_keys) fmt::print("under the prefix, not read: {}\n", name);

  // Integer and boolean tensors: [2, 3] is an Eigen 3 x 2 matrix, one column per sequence.
  const auto ids = file.read_matrix<std::int64_t>("input_ids");
  const auto mask = file.read_matrix<bool>("attention_mask");
  for (elm::Index b = 0; b < ids.cols(); ++b)
    fmt::print("sequence {}: ids {} {} {}, mask {} {} {}\n", b, ids(0, b), ids(1, b), ids(2, b), mask(0, b), mask(1, b),
               mask(2, b));
  try {
    file.read_vector<std::int64_t>("extremes.u64");
  } catch (const elm::RangeError& e) {
    fmt::print("error: {}\n", e.what());
  }
}
