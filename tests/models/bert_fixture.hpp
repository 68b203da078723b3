// SPDX-License-Identifier: MIT
// The BERT fixtures of tools/make_bert_fixtures.py: their token-id tensors and padded batches.
#pragma once

#include <string>
#include <vector>

#include "../attention/fixture.hpp"
#include "elm/core/types.hpp"
#include "elm/models/bert.hpp"

namespace bert_test {

/// A fixture tensor of ids (stored as float64) as a list of ids, in its row-major order.
inline std::vector<elm::Index> ids_of(const elm::Matrix<double>& m) {
  std::vector<elm::Index> ids(static_cast<std::size_t>(m.size()));
  for (elm::Index i = 0; i < m.size(); ++i)
    ids[static_cast<std::size_t>(i)] = static_cast<elm::Index>(m.data()[i]);
  return ids;
}

/// The fixture's padded batch: ids, token types and attention mask, each (B, T).
inline elm::models::BertBatch batch_of(const attention_test::Fixture& f, const std::string& suffix = "") {
  elm::models::BertBatch in;
  in.batch = f.dim("B");
  in.input_ids = ids_of(f.matrix<double>("ids" + suffix));
  in.token_type_ids = ids_of(f.matrix<double>("token_type_ids" + suffix));
  in.attention_mask = ids_of(f.matrix<double>("attention_mask" + suffix));
  return in;
}

}  // namespace bert_test
