// SPDX-License-Identifier: MIT
// ConvClassifier: a small image CNN (convolution blocks, then a linear head) that classifies a batch of images.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/rng.hpp"
#include "elm/core/types.hpp"
#include "elm/nn/activations.hpp"
#include "elm/nn/batch_norm.hpp"
#include "elm/nn/conv2d.hpp"
#include "elm/nn/dropout.hpp"
#include "elm/nn/flatten.hpp"
#include "elm/nn/image_shape.hpp"
#include "elm/nn/layer.hpp"
#include "elm/nn/linear.hpp"
#include "elm/nn/parameter.hpp"
#include "elm/nn/pooling.hpp"

namespace elm::models {

/// Sizes of a ConvClassifier: input images of `channels` x `height` x `width`, one block per entry of `widths`
/// (that many output channels), `classes` outputs, dropout before the head.
struct ConvClassifierConfig {
  Index channels = 1;
  Index height = 8;
  Index width = 8;
  Index classes = 10;
  std::vector<Index> widths{32, 64};
  Index kernel = 3;        ///< odd: the convolution pads kernel / 2, so it keeps the image's size
  double dropout = 0.0;    ///< before the head, in training
};

/// The classic small CNN (LeCun et al. 1998, with Ioffe and Szegedy's 2015 batch normalisation): each block is
///   Conv2d(k x k, stride 1, padding k/2) -> BatchNorm2d -> ReLU -> MaxPool2d(2)
/// halving the image's height and width, then Flatten -> Dropout -> Linear(classes) gives the logits.
/// PyTorch's equivalent is nn.Sequential of those modules; parameter names are blocks.<i>.conv.weight,
/// blocks.<i>.bn.{weight, bias, running_mean, running_var} and head.{weight, bias}.
/// x: (channels, B*height*width) in the image layout of nn::ImageShape -> logits: (classes, B).
template <typename Scalar = float>
class ConvClassifier : public nn::Composite<ConvClassifier<Scalar>> {
 public:
  using scalar_type = Scalar;

  /// One block's caches and the activations its backward needs.
  struct BlockCache {
    typename nn::Conv2d<Scalar>::Cache conv;
    typename nn::BatchNorm<Scalar>::Cache bn;
    typename nn::Activation<Scalar>::Cache relu;
    typename nn::Pool2d<Scalar>::Cache pool;
  };
  struct Cache {
    std::vector<BlockCache> blocks;
    typename nn::Flatten<Scalar>::Cache flatten;
    typename nn::Dropout<Scalar>::Cache dropout;
    typename nn::Linear<Scalar>::Cache head;
  };

  /// Zero-initialised convolutions and head (call reset_parameters). Throws InvalidArgument for a size < 1, no
  /// blocks, an even kernel, or an image too small to halve once per block.
  explicit ConvClassifier(const ConvClassifierConfig& config)
      : config_(checked(config)), flatten_(), dropout_(config.dropout),
        head_(config.widths.back() * (config.height >> config.widths.size()) * (config.width >> config.widths.size()),
              config.classes) {
    Index in = config.channels;
    for (const Index out : config.widths) {
      nn::Conv2dConfig conv;
      conv.in_channels = in;
      conv.out_channels = out;
      conv.kernel = {config.kernel, config.kernel};
      conv.padding = {config.kernel / 2, config.kernel / 2};
      nn::BatchNormConfig bn;
      bn.channels = out;
      nn::Pool2dConfig pool;
      pool.mode = nn::Pooling::max;
      pool.kernel = {2, 2};
      blocks_.push_back(Block{nn::Conv2d<Scalar>(conv), nn::BatchNorm<Scalar>(bn),
                              nn::Activation<Scalar>(nn::ActivationKind::relu), nn::Pool2d<Scalar>(pool)});
      in = out;
    }
  }
  ConvClassifier(const ConvClassifierConfig& config, Rng& rng) : ConvClassifier(config) { reset_parameters(rng); }

  /// PyTorch's default initialisation of every layer.
  void reset_parameters(Rng& rng) {
    for (Block& b : blocks_) {
      b.conv.reset_parameters(rng);
      b.bn.reset_parameters(rng);
    }
    head_.reset_parameters(rng);
  }

  const ConvClassifierConfig& config() const { return config_; }

  /// Logits of a batch of images. A training context normalises with the batch's statistics and drops out;
  /// inference uses the running statistics. ShapeError when x is not (channels, batch*height*width).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch, Matrix<Scalar>& logits,
               Cache* cache = nullptr, const nn::ForwardContext& context = {}) const {
    constexpr std::string_view where = "elm::models::ConvClassifier::forward";
    check_shape(x, config_.channels, -1, where, "x");
    ELM_EXPECT(batch > 0 && x.cols() == batch * config_.height * config_.width, ShapeError, where, ": x has ",
               x.cols(), " columns, expected batch * height * width = ", batch, " * ", config_.height, " * ",
               config_.width);
    if (cache) cache->blocks.resize(blocks_.size());
    nn::ImageShape shape{batch, config_.height, config_.width};
    Matrix<Scalar> h = x, a, b;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      const Block& block = blocks_[i];
      BlockCache* c = cache ? &cache->blocks[i] : nullptr;
      block.conv.forward(h, shape, a, c ? &c->conv : nullptr, context);
      block.bn.forward(a, b, c ? &c->bn : nullptr, context);
      block.relu.forward(b, a, c ? &c->relu : nullptr, context);
      block.pool.forward(a, shape, h, c ? &c->pool : nullptr, context);
      shape = block.pool.output_shape(shape);
    }
    flatten_.forward(h, batch, a, cache ? &cache->flatten : nullptr, context);
    dropout_.forward(a, b, cache ? &cache->dropout : nullptr, context);
    head_.forward(b, logits, cache ? &cache->head : nullptr, context);
  }

  /// Adds every parameter's gradient for dlogits (classes, B) (and moves BatchNorm's running statistics after a
  /// training forward). The images' own gradient is not needed and not returned.
  void backward(Cache& cache, const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    Matrix<Scalar> d, e;
    head_.backward(cache.head, dlogits, d);
    dropout_.backward(cache.dropout, d, e);
    flatten_.backward(cache.flatten, e, d);
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      Block& block = blocks_[i];
      BlockCache& c = cache.blocks[i];
      block.pool.backward(c.pool, d, e);
      block.relu.backward(c.relu, e, d);
      block.bn.backward(c.bn, d, e);
      block.conv.backward(c.conv, e, d);
    }
  }

  /// The most likely class of each image (the inference forward's arg max).
  std::vector<Index> predict(const Eigen::Ref<const Matrix<Scalar>>& x, Index batch) const {
    Matrix<Scalar> logits;
    forward(x, batch, logits);
    std::vector<Index> out(static_cast<std::size_t>(batch));
    for (Index j = 0; j < batch; ++j) logits.col(j).maxCoeff(&out[static_cast<std::size_t>(j)]);
    return out;
  }

 private:
  struct Block {
    nn::Conv2d<Scalar> conv;
    nn::BatchNorm<Scalar> bn;
    nn::Activation<Scalar> relu;
    nn::Pool2d<Scalar> pool;
  };

  friend class nn::Composite<ConvClassifier>;
  template <typename Self, typename F>
  static void visit_parameters(Self& self, std::string_view prefix, F& f) {
    for (std::size_t i = 0; i < self.blocks_.size(); ++i) {
      const std::string block = nn::join_name(prefix, "blocks." + std::to_string(i));
      self.blocks_[i].conv.for_each_parameter(nn::join_name(block, "conv"), f);
      self.blocks_[i].bn.for_each_parameter(nn::join_name(block, "bn"), f);
    }
    self.head_.for_each_parameter(nn::join_name(prefix, "head"), f);
  }

  static const ConvClassifierConfig& checked(const ConvClassifierConfig& c) {
    constexpr std::string_view where = "elm::models::ConvClassifier";
    ELM_EXPECT(c.channels > 0 && c.height > 0 && c.width > 0 && c.classes > 0 && c.kernel > 0, InvalidArgument,
               where, ": expected every size > 0, got channels = ", c.channels, ", height = ", c.height,
               ", width = ", c.width, ", classes = ", c.classes, ", kernel = ", c.kernel);
    ELM_EXPECT(c.kernel % 2 == 1, InvalidArgument, where, ": expected an odd kernel (padded to keep the size), got ",
               c.kernel);
    ELM_EXPECT(!c.widths.empty(), InvalidArgument, where, ": expected at least one convolution block, got none");
    for (const Index w : c.widths)
      ELM_EXPECT(w > 0, InvalidArgument, where, ": expected block widths > 0, got ", w);
    const Index shrink = c.widths.size() < 31 ? Index(1) << c.widths.size() : Index(1) << 31;
    ELM_EXPECT(c.height >= shrink && c.width >= shrink, InvalidArgument, where, ": ",
               c.widths.size(), " blocks halve the image ", c.widths.size(), " times, expected images of at least ",
               shrink, "x", shrink, ", got ", c.height, "x", c.width);
    return c;
  }

  ConvClassifierConfig config_;
  std::vector<Block> blocks_;
  nn::Flatten<Scalar> flatten_;
  nn::Dropout<Scalar> dropout_;
  nn::Linear<Scalar> head_;
};

}  // namespace elm::models
