// SPDX-License-Identifier: MIT
// Unicode properties the tokenizers need: general category, White_Space, simple lowercase, canonical decomposition.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "elm/text/detail/unicode_tables.hpp"

namespace elm::text {

/// The Unicode general categories, in the order of the generated tables (Cn, unassigned, is 0).
enum class GeneralCategory : std::uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe,
  Pi, Pf, Po, Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co
};

/// Version of the Unicode Character Database the tables were generated from ("15.0.0").
inline std::string unicode_version() {
  return std::to_string(detail::unicode_version_major) + "." + std::to_string(detail::unicode_version_minor) +
         "." + std::to_string(detail::unicode_version_patch);
}

namespace detail {

inline std::uint8_t unicode_props(char32_t cp) noexcept {
  if (cp > 0x10FFFF) return 0;
  const std::uint32_t block = detail::unicode_stage1[cp >> detail::unicode_block_shift];
  const std::uint32_t mask = (1u << detail::unicode_block_shift) - 1;
  return detail::unicode_stage2[(block << detail::unicode_block_shift) | (cp & mask)];
}

inline constexpr std::uint8_t prop_has_lower = 32;
inline constexpr std::uint8_t prop_has_decomposition = 64;
inline constexpr std::uint8_t prop_combining = 128;

template <typename Key, std::size_t N>
std::ptrdiff_t find_sorted(const Key (&keys)[N], std::uint32_t cp) noexcept {
  const Key* it = std::lower_bound(std::begin(keys), std::end(keys), cp);
  if (it == std::end(keys) || *it != cp) return -1;
  return it - std::begin(keys);
}

// Hangul syllable decomposition constants (The Unicode Standard, section 3.12).
inline constexpr char32_t hangul_s_base = 0xAC00, hangul_l_base = 0x1100, hangul_v_base = 0x1161,
                          hangul_t_base = 0x11A7;
inline constexpr char32_t hangul_v_count = 21, hangul_t_count = 28, hangul_s_count = 11172;

}  // namespace detail

/// General category of cp (Cn for unassigned code points and values above U+10FFFF). O(1).
inline GeneralCategory general_category(char32_t cp) noexcept {
  return static_cast<GeneralCategory>(detail::unicode_props(cp) & 31);
}

/// True for the letter categories Lu, Ll, Lt, Lm, Lo (the regex class \p{L}).
inline bool is_letter(char32_t cp) noexcept {
  const auto c = general_category(cp);
  return c >= GeneralCategory::Lu && c <= GeneralCategory::Lo;
}

/// True for the number categories Nd, Nl, No (the regex class \p{N}).
inline bool is_number(char32_t cp) noexcept {
  const auto c = general_category(cp);
  return c >= GeneralCategory::Nd && c <= GeneralCategory::No;
}

/// True for the punctuation categories Pc, Pd, Ps, Pe, Pi, Pf, Po (\p{P}).
inline bool is_punctuation(char32_t cp) noexcept {
  const auto c = general_category(cp);
  return c >= GeneralCategory::Pc && c <= GeneralCategory::Po;
}

/// True for the categories Cc, Cf, Cs, Co (not Cn).
inline bool is_other_assigned(char32_t cp) noexcept {
  const auto c = general_category(cp);
  return c >= GeneralCategory::Cc && c <= GeneralCategory::Co;
}

/// True for nonspacing marks (Mn), the accents BERT strips after decomposition.
inline bool is_nonspacing_mark(char32_t cp) noexcept { return general_category(cp) == GeneralCategory::Mn; }

/// The White_Space property (PropList.txt): the regex class \s of Oniguruma and Rust's char::is_whitespace.
inline bool is_white_space(char32_t cp) noexcept {
  if (cp < 0x80) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  return detail::find_sorted(detail::unicode_white_space, static_cast<std::uint32_t>(cp)) >= 0;
}

/// Canonical combining class (0 for starters).
inline int canonical_combining_class(char32_t cp) noexcept {
  if ((detail::unicode_props(cp) & detail::prop_combining) == 0) return 0;
  const auto i = detail::find_sorted(detail::unicode_ccc_cp, static_cast<std::uint32_t>(cp));
  return i < 0 ? 0 : detail::unicode_ccc_value[i];
}

/// Appends the full lowercase of cp (UnicodeData's simple mapping, plus SpecialCasing's one unconditional
/// multi-character mapping U+0130 -> U+0069 U+0307), as Rust's char::to_lowercase does.
inline void append_lowercase(char32_t cp, std::u32string& out) {
  if (cp < 0x80) {
    out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  if (cp == 0x130) {
    out.push_back(0x69);
    out.push_back(0x307);
    return;
  }
  if ((detail::unicode_props(cp) & detail::prop_has_lower) == 0) {
    out.push_back(cp);
    return;
  }
  const auto i = detail::find_sorted(detail::unicode_lower_cp, static_cast<std::uint32_t>(cp));
  out.push_back(i < 0 ? cp : static_cast<char32_t>(detail::unicode_lower_to[i]));
}

/// Appends the full canonical decomposition of cp (recursive, Hangul syllables algorithmic), without reordering.
inline void append_canonical_decomposition(char32_t cp, std::u32string& out) {
  if ((detail::unicode_props(cp) & detail::prop_has_decomposition) == 0) {
    out.push_back(cp);
    return;
  }
  if (cp >= detail::hangul_s_base && cp < detail::hangul_s_base + detail::hangul_s_count) {
    const char32_t s = cp - detail::hangul_s_base;
    const char32_t n_count = detail::hangul_v_count * detail::hangul_t_count;
    out.push_back(detail::hangul_l_base + s / n_count);
    out.push_back(detail::hangul_v_base + (s % n_count) / detail::hangul_t_count);
    if (s % detail::hangul_t_count != 0) out.push_back(detail::hangul_t_base + s % detail::hangul_t_count);
    return;
  }
  const auto i = detail::find_sorted(detail::unicode_decomp_cp, static_cast<std::uint32_t>(cp));
  if (i < 0) {
    out.push_back(cp);
    return;
  }
  append_canonical_decomposition(detail::unicode_decomp_first[i], out);
  if (detail::unicode_decomp_second[i] != 0) append_canonical_decomposition(detail::unicode_decomp_second[i], out);
}

/// Puts each run of non-starters into canonical order (stable sort by combining class), moving `tags` along
/// with the code points (tags may be empty). Unicode 3.11, the canonical ordering algorithm.
template <typename Tag>
void canonical_order(std::u32string& cps, std::vector<Tag>& tags) {
  const bool tagged = !tags.empty();
  std::size_t i = 0;
  std::vector<std::pair<int, std::size_t>> run;
  while (i < cps.size()) {
    if (canonical_combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    run.clear();
    while (j < cps.size()) {
      const int ccc = canonical_combining_class(cps[j]);
      if (ccc == 0) break;
      run.emplace_back(ccc, j);
      ++j;
    }
    if (run.size() > 1) {
      std::stable_sort(run.begin(), run.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      std::u32string sorted_cps;
      std::vector<Tag> sorted_tags;
      for (const auto& r : run) {
        sorted_cps.push_back(cps[r.second]);
        if (tagged) sorted_tags.push_back(tags[r.second]);
      }
      for (std::size_t k = 0; k < run.size(); ++k) {
        cps[i + k] = sorted_cps[k];
        if (tagged) tags[i + k] = sorted_tags[k];
      }
    }
    i = j;
  }
}

/// Normalization Form D of a code-point string: full canonical decomposition, then canonical ordering.
inline std::u32string to_nfd(std::u32string_view cps) {
  std::u32string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append_canonical_decomposition(cp, out);
  std::vector<int> no_tags;
  canonical_order(out, no_tags);
  return out;
}

}  // namespace elm::text
