// docs/snippets/transformer_blocks.cpp
#include <cstdio>
#include <string>

#include "elm/core/rng.hpp"
#include "elm/nn/feed_forward.hpp"
#include "elm/nn/layer_norm.hpp"
#include "elm/nn/multi_head_attention.hpp"
#include "elm/nn/transformer_block.hpp"

namespace nn = elm::nn;
using Mat = elm::Matrix<float>;

// A GPT-2 block written out from the public blocks: y = x1 + mlp(ln_2(x1)), x1 = x + attn(ln_1(x)), causal.
struct MyGpt2Block : nn::Composite<MyGpt2Block> {
  nn::LayerNorm<float> ln_1, ln_2;
  nn::MultiHeadAttention<float> attn;
  nn::FeedForward<float> mlp;

  MyGpt2Block(elm::Index C, elm::Index H)
      : ln_1(C), ln_2(C), attn(attention(C, H)), mlp(feed_forward(C)) {}

  static nn::MultiHeadAttentionConfig attention(elm::Index C, elm::Index H) {
    nn::MultiHeadAttentionConfig a;
    a.width = C;
    a.heads = H;
    a.layout = nn::QkvLayout::gpt2;  // c_attn (C, 3C) and c_proj (C, C), stored as Conv1D
    return a;
  }
  static nn::FeedForwardConfig feed_forward(elm::Index C) {
    nn::FeedForwardConfig f;
    f.width = C;
    f.intermediate = 4 * C;
    f.activation = nn::ActivationKind::gelu_tanh;  // GPT-2's gelu_new
    f.layout = nn::WeightLayout::in_out;           // Conv1D
    f.fc1_name = "c_fc";
    f.fc2_name = "c_proj";
    return f;
  }

  void forward(const Mat& x, elm::Index batch, Mat& y) const {
    nn::AttentionMask<float> causal;
    causal.causal = true;
    Mat h, a;
    ln_1.forward(x, h);
    attn.forward(h, batch, causal, a);
    const Mat x1 = x + a;
    ln_2.forward(x1, h);
    mlp.forward(h, a);
    y = x1 + a;
  }

  // Hugging Face's names: ln_1.weight, attn.c_attn.weight, mlp.c_fc.weight, ... written once; Composite makes
  // for_each_parameter (mutable and const) and zero_grad of it.
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    self.ln_1.for_each_parameter(nn::join_name(prefix, "ln_1"), f);
    self.attn.for_each_parameter(nn::join_name(prefix, "attn"), f);
    self.ln_2.for_each_parameter(nn::join_name(prefix, "ln_2"), f);
    self.mlp.for_each_parameter(nn::join_name(prefix, "mlp"), f);
  }
};

int main() {
  const elm::Index C = 16, H = 4, B = 2, T = 5;
  elm::Rng rng(7);
  Mat x(C, B * T);
  rng.fill_normal(x, 0.0, 1.0);

  // 1) PyTorch's encoder block (post-norm, ReLU, in_proj): a TransformerBlock with the default config.
  nn::TransformerConfig encoder_config;
  encoder_config.width = C;
  encoder_config.heads = H;
  encoder_config.intermediate = 4 * C;
  encoder_config.dropout = 0.1;
  nn::TransformerBlock<float> encoder_block(encoder_config);
  encoder_block.reset_parameters(rng);
  Mat y;
  encoder_block.forward(x, B, nn::AttentionMask<float>{}, y);  // inference: no dropout
  std::printf("encoder block: %ld parameters, output %ldx%ld\n", long(nn::count_parameters(encoder_block)),
              long(y.rows()), long(y.cols()));

  // 2) GPT-2's block, twice: written out above, and configured. Same names, so one loads the other's weights.
  nn::TransformerConfig gpt2_config = nn::TransformerConfig::gpt2(C, /*layers=*/1, H, /*max_positions=*/64);
  nn::TransformerBlock<float> gpt2_block(gpt2_config);
  MyGpt2Block mine(C, H);
  gpt2_block.for_each_parameter("h.0", [&](const std::string& name, nn::Parameter<float>& p) {
    rng.fill_normal(p.value, 0.0, 0.2);
    if (name.find("ln_") != std::string::npos && name.find("weight") != std::string::npos) p.value.array() += 1.0f;
  });
  int shared = 0;
  mine.for_each_parameter("h.0", [&](const std::string& name, nn::Parameter<float>& p) {
    gpt2_block.for_each_parameter("h.0", [&](const std::string& other, nn::Parameter<float>& q) {
      if (other == name) {
        p.value = q.value;
        ++shared;
      }
    });
  });
  Mat y_mine, y_configured;
  mine.forward(x, B, y_mine);
  gpt2_block.forward(x, B, nn::AttentionMask<float>{}, y_configured);  // causal by its config
  std::printf("GPT-2 block: %d parameter tensors shared by name, outputs agree: %s\n", shared,
              (y_mine - y_configured).cwiseAbs().maxCoeff() < 1e-5f ? "yes" : "no");
}
