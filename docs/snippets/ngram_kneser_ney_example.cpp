// docs/snippets/ngram_kneser_ney_example.cpp
#include <cmath>
#include <cstdio>
#include <vector>

#include "elm/classic/kneser_ney.hpp"
#include "elm/classic/ngram_model.hpp"

int main() {
  elm::classic::NgramCounts counts(2);
  for (const char* line : {"a b", "b", "a b"}) counts.add_line(line);
  elm::classic::KneserNeyOptions options;
  options.discount_fallback = true;  // no unigram has adjusted count 3: lmplz needs --discount_fallback too
  std::vector<elm::classic::KneserNeyDiscount> discounts;
  const elm::classic::NgramTables tables = elm::classic::estimate_kneser_ney(counts, options, &discounts);
  for (const auto& d : discounts)
    std::printf("order %d: t1..t4 = %lld %lld %lld %lld, D1 %.2f D2 %.2f D3+ %.2f%s\n", d.n,
                static_cast<long long>(d.t[1]), static_cast<long long>(d.t[2]), static_cast<long long>(d.t[3]),
                static_cast<long long>(d.t[4]), d.d[1], d.d[2], d.d[3], d.fallback ? " (fallback)" : "");
  const elm::classic::NgramModel model(tables);
  const auto p = [&](std::vector<std::string_view> h, const char* w) { return std::pow(10.0, model.log_prob(h, w)); };
  std::printf("p(a) = %.6f  p(b) = %.6f  p(</s>) = %.6f  p(<unk>) = %.6f\n", p({}, "a"), p({}, "b"), p({}, "</s>"),
              p({}, "<unk>"));
  std::printf("p(a | <s>) = %.6f  p(b | <s>) = %.6f\n", p({"<s>"}, "a"), p({"<s>"}, "b"));
  std::printf("p(b | a) = %.6f  p(</s> | b) = %.6f\n", p({"a"}, "b"), p({"b"}, "</s>"));
  std::printf("p(a | b) = %.6f (unseen: gamma(b) p(a))\n", p({"b"}, "a"));
}
