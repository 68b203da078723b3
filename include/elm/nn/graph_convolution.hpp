// SPDX-License-Identifier: MIT
// GraphConvolution: Kipf and Welling's graph convolution (PyTorch Geometric's GCNConv), with its backward pass.
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

/// GraphConvolution's options, PyTorch Geometric's GCNConv(in_channels, out_channels, bias) with its defaults
/// (normalize=True, add_self_loops=True, improved=False; the Graph holds the normalised adjacency).
struct GraphConvolutionConfig {
  Index in_channels = 0;
  Index out_channels = 0;
  bool bias = true;
};

/// The graph convolution of Kipf and Welling, "Semi-Supervised Classification with Graph Convolutional Networks"
/// (ICLR 2017), eq. 2, as PyTorch Geometric's GCNConv computes it: a linear map of every node's features, then
/// each node takes the A_hat-weighted sum of its neighbours' (and its own) mapped features, then the bias:
///   Y = A_hat X W^T + b   (PyTorch's (N, C) rows), here  y = (W x) A_hat^T + b  on the columns of x: (C_in, N).
/// Parameters `lin.weight` (out, in) and `bias` (out), GCNConv's state_dict names and bytes.
/// x: (C_in, N) -> y: (C_out, N), N = graph.num_nodes(). Cost O(C_in C_out N + C_out nnz(A_hat)).
template <typename Scalar = float>
class GraphConvolution {
  static_assert(std::is_floating_point_v<Scalar>, "GraphConvolution needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  /// What backward needs: the linear map's cache (the input) and the graph, which must outlive the backward.
  struct Cache {
    typename Linear<Scalar>::Cache lin;
    const Graph<Scalar>* graph = nullptr;
  };

  /// Zero-initialised layer (load the parameters or call reset_parameters). InvalidArgument on sizes < 1.
  explicit GraphConvolution(const GraphConvolutionConfig& config)
      : config_(config), lin_(check_config(config).in_channels, config.out_channels, /*bias=*/false) {
    if (config.bias) bias_ = Parameter<Scalar>({config.out_channels});
  }
  /// The zero-initialised layer followed by reset_parameters(rng).
  GraphConvolution(const GraphConvolutionConfig& config, Rng& rng) : GraphConvolution(config) { reset_parameters(rng); }

  /// GCNConv's initialisation: Glorot uniform weight (+-sqrt(6 / (in + out))), zero bias.
  void reset_parameters(Rng& rng) {
    const double bound = std::sqrt(6.0 / static_cast<double>(config_.in_channels + config_.out_channels));
    rng.fill_uniform(lin_.weight().value, -bound, bound);
    if (config_.bias) bias_.value.setZero();
  }

  const GraphConvolutionConfig& config() const { return config_; }
  Parameter<Scalar>& weight() { return lin_.weight(); }
  const Parameter<Scalar>& weight() const { return lin_.weight(); }
  /// The bias; empty (0x0) when the layer has none.
  Parameter<Scalar>& bias() { return bias_; }
  const Parameter<Scalar>& bias() const { return bias_; }

  /// y = (W x) A_hat^T + b.  x: (C_in, N) -> y: (C_out, N). ShapeError when x's rows are not in_channels or its
  /// columns not the graph's N nodes.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, const Graph<Scalar>& graph, Matrix<Scalar>& y,
               Cache* cache = nullptr, const ForwardContext& = {}) const {
    constexpr std::string_view where = "elm::nn::GraphConvolution::forward";
    detail::check_node_features(x, config_.in_channels, graph, where);
    // 1) h = W x, every node on its own (GCNConv's lin)
    Matrix<Scalar> h;
    lin_.forward(x, h, cache ? &cache->lin : nullptr);
    // 2) y[:, t] = b + sum_s A_hat[t, s] h[:, s]: the gather over column t of S = A_hat^T
    detail::graph_gather<Scalar>(h, graph.propagation(), config_.bias ? bias_.value.data() : nullptr, y);
    if (cache) cache->graph = &graph;
  }

  /// dx overwritten (C_in, N); weight and bias gradients added.  dy: (C_out, N).
  ///   db += sum_t dy[:, t];  dh = dy A_hat (the gather over S^T);  dW += dh x^T;  dx = W^T dh.
  void backward(const Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    constexpr std::string_view where = "elm::nn::GraphConvolution::backward";
    ELM_EXPECT(cache.graph != nullptr, InvalidArgument, where,
               ": the cache holds no forward (pass a cache to forward)");
    check_shape(dy, config_.out_channels, cache.graph->num_nodes(), where, "dy");
    if (config_.bias && bias_.trainable) bias_.gradient().col(0) += dy.rowwise().sum();
    Matrix<Scalar> dh;
    detail::graph_gather<Scalar>(dy, cache.graph->propagation_transposed(), nullptr, dh);
    lin_.backward(cache.lin, dh, dx);
  }

  /// Visits `lin.weight` and `bias` as f(name, parameter); the const overload passes const parameters.
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) {
    lin_.for_each_parameter(join_name(prefix, "lin"), f);
    if (config_.bias) f(join_name(prefix, "bias"), bias_);
  }
  template <typename F>
  void for_each_parameter(std::string_view prefix, F&& f) const {
    lin_.for_each_parameter(join_name(prefix, "lin"), f);
    if (config_.bias) f(join_name(prefix, "bias"), bias_);
  }
  void zero_grad() {
    lin_.zero_grad();
    if (config_.bias) bias_.zero_grad();
  }

 private:
  static const GraphConvolutionConfig& check_config(const GraphConvolutionConfig& c) {
    ELM_EXPECT(c.in_channels > 0 && c.out_channels > 0, InvalidArgument,
               "elm::nn::GraphConvolution: expected in_channels > 0 and out_channels > 0, got ", c.in_channels, " and ",
               c.out_channels);
    return c;
  }

  GraphConvolutionConfig config_;
  Linear<Scalar> lin_;
  Parameter<Scalar> bias_;
};

}  // namespace elm::nn
