// The books the single-predictor LLM sessions share (rewrite/llm_session.h):
// need ids and timeouts, claims of known, abandoned and unknown ids, the
// unusable-reply budget per item, the deadline, redaction lines, and the
// request and reply helpers.
#include <gtest/gtest.h>

#include <optional>

#include "foldback/redact.h"
#include "foldback/wire.h"
#include "rewrite/llm_session.h"

namespace foldback::rewrite {
namespace {

LlmRequest Ask(std::string text) {
  LlmRequest r;
  r.messages.push_back({"user", std::move(text)});
  return r;
}

TEST(LlmNeeds, NeedsCarryTheirPurposeAndTheTimeLeft) {
  LlmNeeds needs("questions", "question", /*start_ms=*/1000, /*deadline_ms=*/500, 1);
  needs.Send(7, Ask("a"), {}, "chunk c1", 1200);
  needs.Send(8, Ask("b"), {{"pattern-1", 2}, {"pattern-2", 1}}, "chunk c2", 1499.5);
  EXPECT_EQ(needs.outstanding(), 2u);
  EXPECT_FALSE(needs.idle());
  std::vector<Need> out = needs.TakeNeeds();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(needs.TakeNeeds().empty());
  EXPECT_EQ(out[0].id, 1u);
  EXPECT_EQ(out[1].id, 2u);
  EXPECT_EQ(out[0].kind, Need::Kind::kLlm);
  EXPECT_EQ(out[0].purpose, "questions");
  EXPECT_EQ(out[0].llm.messages[0].content, "a");
  EXPECT_DOUBLE_EQ(out[0].timeout_ms, 300);
  EXPECT_DOUBLE_EQ(out[1].timeout_ms, 1);  // never 0 (no limit) while a deadline runs
  EXPECT_EQ(needs.redactions(), (std::vector<std::string>{"chunk c2: pattern-1 x2, pattern-2 x1"}));

  LlmNeeds open("rerank", "rerank", 0, /*deadline_ms=*/0, 1);
  open.Send(0, Ask("c"), {}, "window 1", 1e9);
  EXPECT_DOUBLE_EQ(open.TakeNeeds()[0].timeout_ms, 0);
  EXPECT_FALSE(open.PastDeadline(1e12));
}

TEST(LlmNeeds, ClaimsKnowTheItemRefuseUnknownIdsAndIgnoreAbandonedOnes) {
  LlmNeeds needs("rerank", "rerank", 0, 100, 1);
  needs.Send(3, Ask("a"), {}, "window 4", 0);
  needs.Send(5, Ask("b"), {}, "window 6", 0);
  std::optional<uint32_t> item;
  ASSERT_TRUE(needs.Claim(2, &item).ok());
  EXPECT_EQ(item, std::optional<uint32_t>(5));
  Status again = needs.Claim(2, &item);  // answered already
  EXPECT_EQ(again.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(again.message().find("no outstanding rerank need 2"), std::string::npos);
  EXPECT_FALSE(needs.Claim(99, &item).ok());
  EXPECT_EQ(needs.outstanding(), 1u);  // a refusal changes nothing

  EXPECT_FALSE(needs.PastDeadline(99.9));
  EXPECT_TRUE(needs.PastDeadline(100));
  EXPECT_EQ(needs.AbandonAll(), (std::vector<uint32_t>{3}));
  EXPECT_TRUE(needs.idle());
  ASSERT_TRUE(needs.Claim(1, &item).ok());  // late: accepted, ignored
  EXPECT_FALSE(item.has_value());
  EXPECT_FALSE(needs.Claim(1, &item).ok());  // once
}

TEST(LlmNeeds, UnusableRepliesAreRetriedUpToTheBudgetPerItem) {
  LlmNeeds none("q", "q", 0, 0, 0);
  EXPECT_FALSE(none.RetryUnusable(0));
  LlmNeeds two("q", "q", 0, 0, 2);
  EXPECT_TRUE(two.RetryUnusable(0));
  EXPECT_TRUE(two.RetryUnusable(1));
  EXPECT_TRUE(two.RetryUnusable(0));
  EXPECT_FALSE(two.RetryUnusable(0));
  EXPECT_TRUE(two.RetryUnusable(1));
  EXPECT_FALSE(two.RetryUnusable(1));
}

TEST(LlmSessionText, RedactionThinkingFencesAndObjects) {
  auto red = wire::CompileRedactionPatterns({"\\d{3}-\\d{2}-\\d{4}"});
  ASSERT_TRUE(red.ok()) << red.status().ToString();
  std::vector<ChatMessage> messages = {{"system", "SSN 123-45-6789"},
                                       {"user", "123-45-6789 and 987-65-4321"}};
  std::vector<RedactionCount> counts = {{"stale", 9}};
  RedactMessages(red->get(), &messages, &counts);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].count, 3u);
  EXPECT_EQ(messages[1].content.find("987-65-4321"), std::string::npos);
  RedactMessages(nullptr, &messages, &counts);
  EXPECT_TRUE(counts.empty());

  EXPECT_EQ(WithoutThinking("<think>a</think>b<think>c"), "b");
  EXPECT_EQ(WithoutFence("  ```json\n[1, 2]\n```  "), "[1, 2]");
  EXPECT_EQ(WithoutFence("```json [1]"), "```json [1]");  // not a fence: no line break
  nlohmann::json j;
  EXPECT_TRUE(ExtractObject("Sure: {\"a\": 1} done", &j));
  EXPECT_EQ(j["a"], 1);
  EXPECT_FALSE(ExtractObject("[1, 2]", &j));
  EXPECT_FALSE(ExtractObject("{not json}", &j));
}

}  // namespace
}  // namespace foldback::rewrite
