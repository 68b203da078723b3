// SPDX-License-Identifier: MIT
// Pictures the example programs write: grayscale images (digits, reconstructions, samples) tiled into one PNG grid.
// PNG encoding is stb_image_write's (Debian's libstb-dev); the file is written atomically like every other save.
#pragma once

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/io/atomic_file.hpp"

namespace elm::examples {

/// An 8-bit image held in memory: `channels` is 1 (gray) or 3 (RGB), pixels row by row.
struct Image {
  int width = 0, height = 0, channels = 1;
  std::vector<std::uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c, std::uint8_t background) : width(w), height(h), channels(c),
      pixels(std::size_t(w) * std::size_t(h) * std::size_t(c), background) {}

  std::uint8_t* at(int x, int y) { return pixels.data() + (std::size_t(y) * std::size_t(width) + std::size_t(x)) * std::size_t(channels); }
};

/// Encodes `image` as PNG and writes it to `path` atomically (a failure leaves any previous file as it was).
inline void write_png(const std::string& path, const Image& image) {
  ELM_EXPECT(image.width > 0 && image.height > 0 && (image.channels == 1 || image.channels == 3), InvalidArgument,
            "write_png(", path, "): expected a non-empty gray or RGB image, got ", image.width, "x", image.height,
            " with ", image.channels, " channels");
  std::string encoded;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), std::size_t(size));
  };
  const int ok = stbi_write_png_to_func(append, &encoded, image.width, image.height, image.channels,
                                        image.pixels.data(), image.width * image.channels);
  ELM_EXPECT(ok != 0, IoError, "write_png(", path, "): the PNG encoder failed");
  io::write_text_atomically(path, encoded);
}

/// Tiles grayscale images of `rows_per_image` x `cols_per_image` values in [0, 1] (each image a vector, row by row,
/// values outside [0, 1] clipped) into a grid of `columns` images per row, each pixel drawn as a `scale` x `scale`
/// block, images separated by a `gap` of mid-gray. White ink on black, as the digits are usually shown.
inline Image image_grid(const std::vector<std::vector<float>>& images, int rows_per_image, int cols_per_image,
                        int columns, int scale = 4, int gap = 2) {
  ELM_EXPECT(!images.empty() && rows_per_image > 0 && cols_per_image > 0 && columns > 0 && scale > 0 && gap >= 0,
            InvalidArgument, "image_grid: expected at least one image and positive sizes, got ", images.size(), " images of ",
            rows_per_image, "x", cols_per_image, ", ", columns, " columns, scale ", scale, ", gap ", gap);
  const int n = int(images.size());
  const int grid_rows = (n + columns - 1) / columns;
  const int tile_w = cols_per_image * scale, tile_h = rows_per_image * scale;
  Image grid(gap + columns * (tile_w + gap), gap + grid_rows * (tile_h + gap), 1, 128);
  for (int i = 0; i < n; ++i) {
    const std::vector<float>& img = images[std::size_t(i)];
    ELM_EXPECT(img.size() == std::size_t(rows_per_image) * std::size_t(cols_per_image), InvalidArgument, "image_grid: image ", i,
              " has ", img.size(), " values, expected ", rows_per_image, "x", cols_per_image);
    const int x0 = gap + (i % columns) * (tile_w + gap), y0 = gap + (i / columns) * (tile_h + gap);
    for (int r = 0; r < rows_per_image; ++r)
      for (int c = 0; c < cols_per_image; ++c) {
        const float v = img[std::size_t(r) * std::size_t(cols_per_image) + std::size_t(c)];
        const auto byte = std::uint8_t(std::lround(std::clamp(std::isfinite(v) ? v : 0.0f, 0.0f, 1.0f) * 255.0f));
        for (int dy = 0; dy < scale; ++dy)
          for (int dx = 0; dx < scale; ++dx) *grid.at(x0 + c * scale + dx, y0 + r * scale + dy) = byte;
      }
  }
  return grid;
}

}  // namespace elm::examples
