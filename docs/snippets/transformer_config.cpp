// docs/snippets/transformer_config.cpp
#include <cstdio>

#include "elm/core/rng.hpp"
#include "elm/nn/transformer_block.hpp"

int main() {
  // The curriculum's question 8 sizes, as a config that builds and checks a stack.
  elm::nn::TransformerConfig config;
  config.width = 512;         // hidden_size
  config.layers = 2;          // num_hidden_layers
  config.heads = 4;           // num_attention_heads
  config.intermediate = 1024; // intermediate_size
  config.dropout = 0.1;
  config.norm_first = true;   // pre-norm, as GPT-2
  config.final_norm = true;
  config.activation = elm::nn::ActivationKind::gelu;
  config.max_positions = 128;

  elm::nn::TransformerEncoder<float> encoder(config);
  elm::Rng rng(0);
  encoder.reset_parameters(rng);
  std::printf("%ld parameters, first: ", long(elm::nn::count_parameters(encoder)));
  bool first = true;
  encoder.for_each_parameter("encoder", [&](const std::string& name, elm::nn::Parameter<float>&) {
    if (first) std::printf("%s\n", name.c_str());
    first = false;
  });

  elm::Matrix<float> x(512, 3 * 10), y;  // B = 3 sequences of T = 10 positions
  rng.fill_normal(x, 0.0, 1.0);
  elm::nn::AttentionMask<float> mask;
  mask.key_lengths = {10, 7, 4};
  encoder.forward(x, 3, mask, y);  // no context: inference, dropout off
  std::printf("y is %ldx%ld\n", long(y.rows()), long(y.cols()));
  try {
    encoder.forward(elm::Matrix<float>::Zero(512, 129), 1, {}, y);
  } catch (const elm::RangeError& e) {
    std::printf("%s\n", e.what());
  }
}
