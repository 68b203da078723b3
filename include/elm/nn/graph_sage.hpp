// SPDX-License-Identifier: MIT
// GraphSage: GraphSAGE's layer with the mean aggregator (PyTorch Geometric's SAGEConv), with its backward pass.
#pragma once

#include <cmath>
#include <string_view>
#include <type_traits>

#include "elm/core/check.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/graph.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/parameter.hpp"

namespace elm::nn {

/// GraphSage's options, PyTorch Geometric's SAGEConv(in_channels, out_channels, aggr="mean", normalize=False,
/// root_weight, project=False, bias).
struct GraphSageConfig {
  Index in_channels = 0;
  Index out_channels = 0;
  bool root_weight = true;  ///< add W_r x, the node's own features through their own weight
  bool bias = true;
};

/// The layer of Hamilton, Ying and Leskovec, "Inductive Representation Learning on Large Graphs" (NeurIPS 2017),
/// with the mean aggregator, as PyTorch Geometric's SAGEConv computes it:
///   y_t = W_l mean_{s -> t} x_s + b + W_r x_t
/// A node's own features go through their own weight W_r, apart from its neighbours' mean: the layer can learn
/// what the neighbourhood says without blurring the node's own evidence, which is what a graph whose neighbours
/// tend to differ (words next to each other are mostly of different parts of speech) needs, and where the graph
/// convolution's one weight for both loses (docs/nn/graph.md). On a graph without edges it is a linear layer.
/// Parameters `lin_l.weight` (out, in), `lin_l.bias` (out), `lin_r.weight` (out, in): SAGEConv's state_dict names.
/// x: (C_in, N) -> y: (C_out, N), N = graph.num_nodes(). Cost O(C_in C_out N + C_out nnz(M)).
template <typename Scalar = float>
class GraphSage {
  static_assert(std::is_floating_point_v<Scalar>, "GraphSage needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the linear maps' caches (the input) and the graph, which must outlive the backward.
  struct Cache {
    typename Linear<Scalar>::Cache neighbours, root;
    const Graph<Scalar>* graph = nullptr;
  };

  /// Zero-initialised layer (load the parameters or call reset_parameters). InvalidArgument on sizes < 1.
  explicit GraphSage(const GraphSageConfig& config)
      : config_(config),
        lin_l_(check_config(config).in_channels, config.out_channels, /*bias=*/false),
        lin_r_(config.root_weight ? config.in_channels : 1, config.root_weight ? config.out_channels : 1, false) {
    if (config.bias) bias_ = Parameter<Scalar>({config.out_channels});
  }
  /// The zero-initialised layer followed by reset_parameters(rng).
  GraphSage(const GraphSageConfig& config, Rng& rng) : GraphSage(config) { reset_parameters(rng); }

  /// SAGEConv's initialisation (torch.nn.Linear's, through PyTorch Geometric's Linear with kaiming_uniform):
  /// weights and bias uniform in +-1/sqrt(in_channels).
  void reset_parameters(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(config_.in_channels));
    rng.fill_uniform(lin_l_.weight().value, -bound, bound);
    if (config_.root_weight) rng.fill_uniform(lin_r_.weight().value, -bound, bound);
    if (config_.bias) rng.fill_uniform(bias_.value, -bound, bound);
  }

  const GraphSageConfig& config() const { return config_; }
  /// W_l, the neighbours' weight (out, in).
  Parameter<Scalar>& neighbour_weight() { return lin_l_.weight(); }
  const Parameter<Scalar>& neighbour_weight() const { return lin_l_.weight(); }
  /// W_r, the node's own weight (out, in); unused (1x1) without root_weight.
  Parameter<Scalar>& root_weight() { return lin_r_.weight(); }
  const Parameter<Scalar>& root_weight() const { return lin_r_.weight(); }
  /// The bias; empty (0x0) when the layer has none.
  Parameter<Scalar>& bias() { return bias_; }
  const Parameter<Scalar>& bias() const { return bias_; }

  /// y = (W_l x) M^T + b + W_r x. x: (C_in, N) -> y: (C_out, N). W_l is applied before the mean (the same numbers
  /// as the mean first: the mean is linear, and a node with no messages gets W_l 0 = 0 either way); that order
  /// averages C_out rows instead of C_in. ShapeError when x's rows are not in_channels or its columns not the
  /// graph's N nodes.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const Graph<Scalar>& graph, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& = {}) const {
    constexpr std::string_view where = "elm::nn::GraphSage::forward";
    detail::check_node_features(x, config_.in_channels, graph, where);
    Matrix<Scalar> h;
    lin_l_.forward(x, h, cache ? &cache->neighbours : nullptr);
    detail::graph_gather<Scalar>(h, graph.mean(), config_.bias ? bias_.value.data() : nullptr, y);
    if (config_.root_weight) {
      lin_r_.forward(x, h, cache ? &cache->root : nullptr);
      y += h;
    }
    if (cache) cache->graph = &graph;
  }

  /// dx overwritten (C_in, N); every parameter's gradient added. dy: (C_out, N).
  ///   db += sum_t dy[:, t];  dh = dy M (the gather over M^T's transpose);  dW_l += dh x^T;  dW_r += dy x^T;
  ///   dx = W_l^T dh + W_r^T dy.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    constexpr std::string_view where = "elm::nn::GraphSage::backward";
    ELM_EXPECT(cache.graph != nullptr, InvalidArgument, where, ": the cache holds no forward (pass a cache to forward)");
    check_shape(dy, config_.out_channels, cache.graph->num_nodes(), where, "dy");
    if (config_.bias && bias_.trainable) bias_.gradient().col(0) += dy.rowwise().sum();
    Matrix<Scalar> dh;
    detail::graph_gather<Scalar>(dy, cache.graph->mean_transposed(), nullptr, dh);
    lin_l_.backward(cache.neighbours, dh, dx);
    if (config_.root_weight) {
      Matrix<Scalar> dx_root;
      lin_r_.backward(cache.root, dy, dx_root);
      dx += dx_root;
    }
  }

  /// Visits `lin_l.weight`, `lin_l.bias` and `lin_r.weight` (those the layer has) as f(name, parameter); the const
  /// overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    visit(*this, prefix, f);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    visit(*this, prefix, f);
  }
  void zero_grad() {
    lin_l_.zero_grad();
    if (config_.root_weight) lin_r_.zero_grad();
    if (config_.bias) bias_.zero_grad();
  }

 private:
  template <typename Self, typename F>
  static void visit(Self& self, std::string_view prefix, F& f) {
    self.lin_l_.for_each_parameter(join_name(prefix, "lin_l"), f);
    if (self.config_.bias) f(join_name(prefix, "lin_l.bias"), self.bias_);
    if (self.config_.root_weight) self.lin_r_.for_each_parameter(join_name(prefix, "lin_r"), f);
  }

  static const GraphSageConfig& check_config(const GraphSageConfig& c) {
    ELM_EXPECT(c.in_channels > 0 && c.out_channels > 0, InvalidArgument,
               "elm::nn::GraphSage: expected in_channels > 0 and out_channels > 0, got ", c.in_channels, " and ",
               c.out_channels);
    return c;
  }

  GraphSageConfig config_;
  Linear<Scalar> lin_l_, lin_r_;
  Parameter<Scalar> bias_;
};

}  // namespace elm::nn
