// Hybrid search keeps a clear lexical winner first (SearchOptions::lexical_lead):
// the known item a lawyer types as it stands must not be buried by a block
// of passages the dense side likes better.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "external_vectors.h"
#include "foldback/index.h"

namespace foldback {
namespace {

Document Doc(std::string id, std::string text, std::string title = "") {
  Document d;
  d.id = std::move(id);
  d.text = std::move(text);
  d.title = std::move(title);
  return d;
}

using testing::External;  // tests/support/external_vectors.h
using testing::SetVector;

// The known item: a message whose subject the lawyer types, every query word
// in it, its vector far from the query's. Six other passages hold one
// common query word each and sit right on the query's vector (a tie block on
// the dense side, all different so collapse cannot fold them).
std::unique_ptr<Index> Buried() {
  auto idx = External();
  EXPECT_TRUE(idx->Add(Doc("known",
                           "Attached is the signed escrow amendment for the Harborview lease; "
                           "please countersign and return.",
                           "Harborview escrow amendment"))
                  .ok());
  const char* others[] = {
      "The amendment to the bylaws was adopted at the annual meeting of the members.",
      "Counsel circulated an amendment to the services schedule before the call.",
      "Any amendment must be in writing and signed by both parties to be effective.",
      "The board approved the amendment of the pension plan in its March session.",
      "No amendment of this clause binds the lender without its written consent.",
      "A further amendment may follow once the auditors have finished their review."};
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(idx->Add(Doc("other" + std::to_string(i), others[i])).ok());
  SetVector(idx.get(), "known", {0, 0, 0, 1});
  for (int i = 0; i < 6; ++i) SetVector(idx.get(), "other" + std::to_string(i), {1, 0, 0, 0});
  return idx;
}

SearchOptions Hybrid(double lead) {
  SearchOptions o;
  o.top_k = 5;
  o.query_vector = {1, 0, 0, 0};
  o.lexical_lead = lead;
  return o;
}

TEST(LexicalLead, AClearLexicalWinnerIsRankedFirst) {
  auto idx = Buried();
  // BM25 alone: the known item first, far ahead.
  SearchOptions bm25 = Hybrid(0);
  bm25.mode = SearchMode::kBm25;
  auto lex = idx->Search("Harborview escrow amendment", bm25);
  ASSERT_TRUE(lex.ok());
  ASSERT_GE(lex->size(), 2u);
  EXPECT_EQ((*lex)[0].doc_id, "known");

  // Plain min-max fusion (the rule off) buries it under the dense tie block.
  auto off = idx->Search("Harborview escrow amendment", Hybrid(0));
  ASSERT_TRUE(off.ok());
  ASSERT_FALSE(off->empty());
  EXPECT_NE((*off)[0].doc_id, "known");

  // The default: the clear winner first, the others after it in fused order.
  auto on = idx->Search("Harborview escrow amendment", Hybrid(SearchOptions().lexical_lead));
  ASSERT_TRUE(on.ok());
  ASSERT_EQ(on->size(), 5u);
  EXPECT_EQ((*on)[0].doc_id, "known");
  for (size_t i = 1; i < on->size(); ++i) EXPECT_EQ((*on)[i].doc_id, (*off)[i - 1].doc_id);
}

TEST(LexicalLead, LongQueriesAreLeftToFusion) {
  auto idx = Buried();
  // Seven terms: a description, not a name typed to find one item. The same
  // clear lexical winner, but the fused order stands, rule on or off.
  const char* q = "Harborview escrow amendment signed lease countersign return";
  auto off = idx->Search(q, Hybrid(0));
  auto on = idx->Search(q, Hybrid(SearchOptions().lexical_lead));
  ASSERT_TRUE(off.ok() && on.ok());
  ASSERT_EQ(off->size(), on->size());
  for (size_t i = 0; i < on->size(); ++i) EXPECT_EQ((*on)[i].doc_id, (*off)[i].doc_id);
  ASSERT_FALSE(on->empty());
  EXPECT_NE((*on)[0].doc_id, "known");
}

TEST(LexicalLead, DenseModeAndBadValues) {
  auto idx = Buried();
  SearchOptions dense = Hybrid(SearchOptions().lexical_lead);
  dense.mode = SearchMode::kDense;
  auto hits = idx->Search("Harborview escrow amendment", dense);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_NE((*hits)[0].doc_id, "known");  // dense mode is dense only
  for (double bad : {-0.1, 1.5, std::nan("")}) {
    auto r = idx->Search("Harborview escrow amendment", Hybrid(bad));
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << bad;
  }
}

}  // namespace
}  // namespace foldback
