#include <gtest/gtest.h>

#include <cmath>

#include "foldback/eval.h"

namespace foldback {
namespace {

TEST(Beir, CorpusFieldsBecomeMetadata) {
  auto docs = ParseBeirCorpus(
      "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"hello\", \"doc_id\": \"nda-1\", \"span\": [3, 9]}\n\n"
      "{\"_id\": 7, \"text\": \"x\"}\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].title, "T");
  EXPECT_EQ((*docs)[0].metadata.at("doc_id"), std::vector<std::string>{"nda-1"});
  EXPECT_EQ((*docs)[0].metadata.at("span"), (std::vector<std::string>{"3", "9"}));
  EXPECT_EQ((*docs)[1].id, "7");
}

TEST(Beir, ErrorsNameTheLine) {
  auto docs = ParseBeirCorpus("{\"_id\": \"a\", \"text\": \"x\"}\n{\"text\": \"no id\"}\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line 2"), std::string::npos);
  docs = ParseBeirCorpus("{\"_id\": \"a\", \"text\": \"x\"}\n{not json\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line 2"), std::string::npos);
}

TEST(Beir, InvalidUtf8InCorpusIsRepaired) {
  auto docs = ParseBeirCorpus(std::string("{\"_id\": \"a\", \"text\": \"bad \xFF byte\"}\n"));
  ASSERT_TRUE(docs.ok());
  EXPECT_NE((*docs)[0].text.find("\xEF\xBF\xBD"), std::string::npos);
}

TEST(Beir, QrelsWithHeader) {
  auto q = ParseQrels("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\n");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->at("q1").at("d2"), 2);
  EXPECT_FALSE(ParseQrels("query-id\tcorpus-id\tscore\nq1 d1 1\n").ok());
}

TEST(Metrics, MatchesHandComputedValues) {
  std::map<std::string, int> rel = {{"a", 1}, {"b", 1}};
  // a at rank 1, b at rank 3.
  Metrics m = ScoreQuery({"a", "x", "b", "y"}, rel);
  double idcg = 1 + 1 / std::log2(3.0);
  double dcg = 1 + 1 / std::log2(4.0);
  EXPECT_NEAR(m.ndcg10, dcg / idcg, 1e-12);
  EXPECT_DOUBLE_EQ(m.recall5, 1.0);
  EXPECT_DOUBLE_EQ(m.mrr10, 1.0);
  m = ScoreQuery({"x", "y", "a"}, rel);
  EXPECT_DOUBLE_EQ(m.mrr10, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.recall10, 0.5);
  // Graded relevance.
  m = ScoreQuery({"b", "a"}, {{"a", 2}, {"b", 1}});
  EXPECT_NEAR(m.ndcg10, (1 + 2 / std::log2(3.0)) / (2 + 1 / std::log2(3.0)), 1e-12);
}

TEST(Metrics, QueriesWithoutRelevantDocsAreSkipped) {
  MetricsAccumulator acc;
  acc.Add(ScoreQuery({"a"}, {{"a", 0}}));
  acc.Add(ScoreQuery({"a"}, {{"a", 1}}));
  EXPECT_EQ(acc.Mean().queries, 1u);
  EXPECT_DOUBLE_EQ(acc.Mean().ndcg10, 1.0);
}

}  // namespace
}  // namespace foldback
