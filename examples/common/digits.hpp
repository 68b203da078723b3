// SPDX-License-Identifier: MIT
// The 8x8 handwritten digits of examples/data/digits (see its SOURCE.md): loaded, scaled to [0, 1] and split.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "elm/core/check.hpp"
#include "elm/core/error.hpp"
#include "elm/core/types.hpp"

namespace elm::examples {

/// Images as columns of `pixels` (64 x N, values in [0, 1], row by row within an image) and their labels 0-9.
struct DigitImages {
  Matrix<float> pixels;
  std::vector<Index> labels;
  Index size() const { return Index(labels.size()); }
};

struct DigitsSplit {
  DigitImages train, held_out;
};

inline constexpr int kDigitSide = 8;
inline constexpr int kDigitPixels = kDigitSide * kDigitSide;

/// Reads digits.csv (65 integers per line: 64 pixels 0-16, then the label 0-9). Image i is held out when i mod 5 = 4.
inline DigitsSplit load_digits(const std::string& path) {
  std::ifstream in(path);
  ELM_EXPECT(in.good(), IoError, "load_digits: cannot open ", path);
  std::vector<std::vector<float>> images[2];
  std::vector<Index> labels[2];
  std::string line;
  std::int64_t line_number = 0, count = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    std::vector<float> pixels;
    pixels.reserve(kDigitPixels);
    std::istringstream fields(line);
    std::string field;
    long value = 0;
    int column = 0;
    while (std::getline(fields, field, ',')) {
      ++column;
      std::size_t used = 0;
      try {
        value = std::stol(field, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      const long limit = column <= kDigitPixels ? 16 : 9;
      ELM_EXPECT(used == field.size() && !field.empty() && value >= 0 && value <= limit && column <= kDigitPixels + 1,
                 FormatError, "load_digits: ", path, " line ", line_number, " field ", column, ": expected ",
                 column <= kDigitPixels + 1 ? (column <= kDigitPixels ? "a pixel value 0-16" : "a label 0-9")
                                            : "no more than 65 fields",
                 ", got '", field, "'");
      if (column <= kDigitPixels) pixels.push_back(float(value) / 16.0f);
    }
    ELM_EXPECT(column == kDigitPixels + 1, FormatError, "load_digits: ", path, " line ", line_number, ": expected ",
               kDigitPixels + 1, " comma-separated fields (64 pixels and a label), got ", column);
    const int part = count % 5 == 4 ? 1 : 0;
    images[part].push_back(std::move(pixels));
    labels[part].push_back(Index(value));
    ++count;
  }
  ELM_EXPECT(!images[0].empty() && !images[1].empty(), FormatError, "load_digits: ", path,
             " holds ", count, " images, expected at least 5 (one held out)");
  DigitsSplit split;
  DigitImages* parts[2] = {&split.train, &split.held_out};
  for (int p = 0; p < 2; ++p) {
    parts[p]->pixels.resize(kDigitPixels, Index(images[p].size()));
    for (std::size_t i = 0; i < images[p].size(); ++i)
      for (int k = 0; k < kDigitPixels; ++k) parts[p]->pixels(k, Index(i)) = images[p][i][std::size_t(k)];
    parts[p]->labels = std::move(labels[p]);
  }
  return split;
}

}  // namespace elm::examples
