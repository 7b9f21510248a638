// An index whose dense side the test controls: host-supplied 4-d vectors
// (EmbedderKind::kExternal), one per single-chunk document.
#ifndef FOLDBACK_TESTS_SUPPORT_EXTERNAL_VECTORS_H_
#define FOLDBACK_TESTS_SUPPORT_EXTERNAL_VECTORS_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "foldback/index.h"

namespace foldback::testing {

inline std::unique_ptr<Index> External() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kExternal;
  o.dense.dimension = 4;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  return std::move(idx.value());
}

inline void SetVector(Index* idx, const std::string& doc, std::vector<float> v) {
  auto chunks = idx->ChunksOf(doc);
  ASSERT_EQ(chunks.size(), 1u) << doc;
  ASSERT_TRUE(idx->SetChunkVector(chunks[0]->id, v).ok());
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_EXTERNAL_VECTORS_H_
