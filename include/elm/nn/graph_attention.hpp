// SPDX-License-Identifier: MIT
// GraphAttention: the graph attention layer of Velickovic et al. (PyTorch Geometric's GATConv), with backward.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/parallel.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/graph.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// GraphAttention's options, PyTorch Geometric's GATConv(in_channels, out_channels, heads, concat, negative_slope,
/// bias) with add_self_loops=True and no attention dropout.
struct GraphAttentionConfig {
  Index in_channels = 0;
  Index out_channels = 0;  ///< C, per head
  Index heads = 1;         ///< H
  bool concat = true;      ///< the heads' outputs side by side (H C rows), or their mean (C rows)
  double negative_slope = 0.2;
  bool bias = true;
};

/// Graph attention, Velickovic et al., "Graph Attention Networks" (ICLR 2018), eqs. 1-4, as PyTorch Geometric's
/// GATConv computes it. Per head h, with h_j = W_h x_j the node's mapped features (C values):
///   e_ij = LeakyReLU(a_src,h . h_j + a_dst,h . h_i),  alpha_ij = softmax over the sources j of the edges into i
///   (its self-loop included, a duplicate edge counted twice; Graph::multiplicity),  y_i,h = sum_j alpha_ij h_j,
/// then the heads are concatenated (or averaged) and the bias added. Edge weights play no part.
/// Parameters `lin.weight` (H C, in), `att_src` (1, H, C), `att_dst` (1, H, C), `bias` (H C, or C when averaging):
/// GATConv's state_dict names and bytes. x: (C_in, N) -> y: (H C, N) or (C, N).
/// Cost O(C_in H C N + H C nnz), nnz the edges with their self-loops.
template <typename Scalar = float>
class GraphAttention : public Composite<GraphAttention<Scalar>> {
  static_assert(std::is_floating_point_v<Scalar>, "GraphAttention needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the linear map's cache, the mapped features, every edge's pre-activation score and
  /// attention weight per head ((H, nnz), in the order of Graph::multiplicity's entries), and the graph.
  struct Cache {
    typename Linear<Scalar>::Cache lin;
    Matrix<Scalar> h, score, alpha;
    const Graph<Scalar>* graph = nullptr;
  };

  /// Zero-initialised layer (load the parameters or call reset_parameters). InvalidArgument on sizes < 1 or a
  /// negative slope that is negative or not finite.
  explicit GraphAttention(const GraphAttentionConfig& config)
      : config_(check_config(config)), lin_(config.in_channels, config.heads * config.out_channels, /*bias=*/false) {
    att_src_ = Parameter<Scalar>({1, config.heads, config.out_channels});
    att_dst_ = Parameter<Scalar>({1, config.heads, config.out_channels});
    if (config.bias)
      bias_ = Parameter<Scalar>({config.concat ? config.heads * config.out_channels : config.out_channels});
  }
  /// The zero-initialised layer followed by reset_parameters(rng).
  GraphAttention(const GraphAttentionConfig& config, Rng& rng) : GraphAttention(config) { reset_parameters(rng); }

  /// GATConv's initialisation: Glorot uniform lin.weight, att_src and att_dst (fans as PyTorch Geometric's glorot
  /// computes them: the last two dimensions), zero bias.
  void reset_parameters(Rng& rng) {
    const auto glorot = [&](Matrix<Scalar>& m, Index fan_in, Index fan_out) {
      rng.fill_uniform(m, -std::sqrt(6.0 / double(fan_in + fan_out)), std::sqrt(6.0 / double(fan_in + fan_out)));
    };
    glorot(lin_.weight().value, config_.in_channels, config_.heads * config_.out_channels);
    glorot(att_src_.value, config_.heads, config_.out_channels);
    glorot(att_dst_.value, config_.heads, config_.out_channels);
    if (config_.bias) bias_.value.setZero();
  }

  const GraphAttentionConfig& config() const { return config_; }
  /// Rows of the output: H C (concat) or C.
  Index output_channels() const { return config_.concat ? config_.heads * config_.out_channels : config_.out_channels; }

  /// x: (C_in, N) -> y: (H C, N) or (C, N). ShapeError when x's rows are not in_channels or its columns not the
  /// graph's N nodes.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const Graph<Scalar>& graph, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& = {}) const {
    constexpr std::string_view where = "elm::nn::GraphAttention::forward";
    detail::check_node_features(x, config_.in_channels, graph, where);
    Cache local;
    Cache& c = cache ? *cache : local;
    const Index heads = config_.heads, width = config_.out_channels, n = graph.num_nodes();
    const auto& edges = graph.multiplicity();
    // 1) h = W x; each node's source and target scores per head, (H, N)
    lin_.forward(x, c.h, &c.lin);
    Matrix<Scalar> source(heads, n), target(heads, n);
    for (Index hd = 0; hd < heads; ++hd) {
      source.row(hd).noalias() = att_src_.value.col(hd).transpose() * c.h.middleRows(hd * width, width);
      target.row(hd).noalias() = att_dst_.value.col(hd).transpose() * c.h.middleRows(hd * width, width);
    }
    // 2) per target i (a column of the multiplicity matrix): scores, softmax over its sources, weighted sum
    c.score.resize(heads, edges.nonZeros());
    c.alpha.resize(heads, edges.nonZeros());
    y.setZero(output_channels(), n);
    const Scalar slope = static_cast<Scalar>(config_.negative_slope);
    const Scalar* count = edges.valuePtr();
    const Index* source_of = edges.innerIndexPtr();
    const Index* begin = edges.outerIndexPtr();
    elm::detail::parallel_for(0, n, [&](Index i) {
      for (Index hd = 0; hd < heads; ++hd) {
        Scalar top = -std::numeric_limits<Scalar>::infinity();
        for (Index k = begin[i]; k < begin[i + 1]; ++k) {
          const Scalar s = source(hd, source_of[k]) + target(hd, i);
          c.score(hd, k) = s;
          top = std::max(top, s > 0 ? s : slope * s);
        }
        Scalar total = 0;
        for (Index k = begin[i]; k < begin[i + 1]; ++k) {
          const Scalar s = c.score(hd, k);
          const Scalar a = count[k] * std::exp((s > 0 ? s : slope * s) - top);
          c.alpha(hd, k) = a;
          total += a;
        }
        const Index row = config_.concat ? hd * width : 0;
        const Scalar share = config_.concat ? Scalar(1) : Scalar(1) / Scalar(heads);
        for (Index k = begin[i]; k < begin[i + 1]; ++k) {
          c.alpha(hd, k) /= total;
          y.col(i).segment(row, width) += (share * c.alpha(hd, k)) * c.h.col(source_of[k]).segment(hd * width, width);
        }
      }
      if (config_.bias) y.col(i) += bias_.value.col(0);
    });
    c.graph = &graph;
  }

  /// dx overwritten (C_in, N); every parameter gradient added.  dy: (H C, N) or (C, N).
  void backward(const Cache& c, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    constexpr std::string_view where = "elm::nn::GraphAttention::backward";
    ELM_EXPECT(c.graph != nullptr, InvalidArgument, where, ": the cache holds no forward (pass a cache to forward)");
    const Index heads = config_.heads, width = config_.out_channels, n = c.graph->num_nodes();
    check_shape(dy, output_channels(), n, where, "dy");
    const auto& edges = c.graph->multiplicity();
    const Index* source_of = edges.innerIndexPtr();
    const Index* begin = edges.outerIndexPtr();
    const Scalar slope = static_cast<Scalar>(config_.negative_slope);
    if (config_.bias && bias_.trainable) bias_.gradient().col(0) += dy.rowwise().sum();
    // 1) through the weighted sums and the softmax, node by node (a scatter into the sources: serial):
    //    dh_j += alpha_ij dy_i;  d alpha_ij = dy_i . h_j;  d e_ij = alpha_ij (d alpha_ij - sum_k alpha_ik d alpha_ik);
    //    d s_ij = d e_ij LeakyReLU'(s_ij), which reaches the source score of j and the target score of i
    Matrix<Scalar> dh = Matrix<Scalar>::Zero(heads * width, n);
    Matrix<Scalar> dsource = Matrix<Scalar>::Zero(heads, n), dtarget = Matrix<Scalar>::Zero(heads, n);
    std::vector<Scalar> dalpha;
    for (Index i = 0; i < n; ++i) {
      for (Index hd = 0; hd < heads; ++hd) {
        const Index row = config_.concat ? hd * width : 0;
        const Scalar share = config_.concat ? Scalar(1) : Scalar(1) / Scalar(heads);
        const auto g = dy.col(i).segment(row, width);
        dalpha.assign(static_cast<std::size_t>(begin[i + 1] - begin[i]), Scalar(0));
        Scalar mean = 0;
        for (Index k = begin[i]; k < begin[i + 1]; ++k) {
          const Index j = source_of[k];
          const Scalar d = share * g.dot(c.h.col(j).segment(hd * width, width));
          dalpha[static_cast<std::size_t>(k - begin[i])] = d;
          mean += c.alpha(hd, k) * d;
          dh.col(j).segment(hd * width, width) += (share * c.alpha(hd, k)) * g;
        }
        for (Index k = begin[i]; k < begin[i + 1]; ++k) {
          const Scalar de = c.alpha(hd, k) * (dalpha[static_cast<std::size_t>(k - begin[i])] - mean);
          const Scalar ds = c.score(hd, k) > 0 ? de : slope * de;
          dsource(hd, source_of[k]) += ds;
          dtarget(hd, i) += ds;
        }
      }
    }
    // 2) the scores were a . h per head: into dh and the attention vectors
    for (Index hd = 0; hd < heads; ++hd) {
      const auto h = c.h.middleRows(hd * width, width);
      dh.middleRows(hd * width, width).noalias() += att_src_.value.col(hd) * dsource.row(hd);
      dh.middleRows(hd * width, width).noalias() += att_dst_.value.col(hd) * dtarget.row(hd);
      if (att_src_.trainable) att_src_.gradient().col(hd).noalias() += h * dsource.row(hd).transpose();
      if (att_dst_.trainable) att_dst_.gradient().col(hd).noalias() += h * dtarget.row(hd).transpose();
    }
    // 3) h = W x
    lin_.backward(c.lin, dh, dx);
  }

  // for_each_parameter (mutable and const) and zero_grad come from Composite, which visits `att_src`, `att_dst`,
  // `bias` and `lin.weight` through visit_parameters.

 private:
  friend class Composite<GraphAttention<Scalar>>;
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    f(join_name(prefix, "att_src"), self.att_src_);
    f(join_name(prefix, "att_dst"), self.att_dst_);
    if (self.config_.bias) f(join_name(prefix, "bias"), self.bias_);
    self.lin_.for_each_parameter(join_name(prefix, "lin"), f);
  }

  static const GraphAttentionConfig& check_config(const GraphAttentionConfig& c) {
    ELM_EXPECT(c.in_channels > 0 && c.out_channels > 0 && c.heads > 0, InvalidArgument,
               "elm::nn::GraphAttention: expected in_channels, out_channels and heads > 0, got ", c.in_channels, ", ",
               c.out_channels, " and ", c.heads);
    ELM_EXPECT(std::isfinite(c.negative_slope) && c.negative_slope >= 0.0, InvalidArgument,
               "elm::nn::GraphAttention: expected a finite negative_slope >= 0, got ", c.negative_slope);
    return c;
  }

  GraphAttentionConfig config_;
  Linear<Scalar> lin_;
  Parameter<Scalar> att_src_, att_dst_, bias_;
};

}  // namespace elm::nn
