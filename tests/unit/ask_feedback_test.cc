// The ask session folds lawyers' feedback back in: demos for the query
// writer (walled like everything else) and relevance feedback in each hop.
#include <gtest/gtest.h>

#include "foldback/ask.h"
#include "foldback/feedback.h"
#include "foldback/index.h"

namespace foldback {
namespace {

std::unique_ptr<Index> MakeIndex() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto index = Index::Create(o);
  EXPECT_TRUE(index.ok());
  auto add = [&](const std::string& id, const std::string& matter, const std::string& text) {
    Document d;
    d.id = id;
    d.matter = matter;
    d.text = text;
    EXPECT_TRUE((*index)->Add(d).ok());
  };
  add("acme-msa", "acme", "Either party may terminate this Agreement for convenience on notice.");
  add("acme-cap", "acme", "Liability of either party is capped at the fees paid in twelve months.");
  add("globex-msa", "globex", "Globex may end the arrangement at will upon written notice.");
  add("policy", "", "Records are retained for seven years after termination.");
  return std::move(index.value());
}

FeedbackRecord Rewrite(const std::string& id, const std::string& matter, const std::string& question,
                       const std::string& rewrite) {
  FeedbackRecord r;
  r.record_id = id;
  r.trace_id = "t-" + id;
  r.matter = matter;
  r.question = question;
  r.preferred_rewrite = rewrite;
  r.rating = Rating::Up();
  return r;
}

std::string Markers(const std::string& field, const std::string& value) {
  return "[[ ## " + field + " ## ]]\n" + value + "\n\n[[ ## completed ## ]]";
}

// Runs a 1-hop LLM ask; returns the first rewrite need's messages, joined.
std::string FirstPrompt(const Index& index, const FoldBack* fb, std::optional<std::set<std::string>> walls,
                        Trace* trace) {
  AskOptions o;
  o.hops = 1;
  o.depth = 3;
  o.top_k = 3;
  o.rewrite = RewriteMode::kLlm;
  o.search.mode = SearchMode::kBm25;
  o.search.allowed_matters = std::move(walls);
  auto s = AskSession::Start(index, "Can the customer terminate for convenience?", o, 0, nullptr, fb);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  std::string prompt;
  while (!(*s)->done()) {
    auto needs = (*s)->TakeNeeds();
    if (needs.empty()) break;
    for (const Need& n : needs) {
      if (prompt.empty()) {
        for (const ChatMessage& m : n.llm.messages) prompt += m.content + "\n";
      }
      NeedResult r;
      r.text = Markers("query", "terminate convenience notice");
      EXPECT_TRUE((*s)->Provide(n.id, r, 1).ok());
    }
  }
  *trace = (*s)->result().trace;
  return prompt;
}

TEST(AskFeedback, WellRatedRewritesBecomeDemosInsideTheWalls) {
  auto index = MakeIndex();
  std::vector<FeedbackRecord> records = {
      Rewrite("r-acme", "acme", "Can the customer terminate for convenience?",
              "ACMEDEMO termination for convenience notice period"),
      Rewrite("r-globex", "globex", "May the customer terminate for convenience?",
              "GLOBEXDEMO end at will"),
  };
  auto fb = FoldBack::Build(*index, records);
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();

  Trace trace;
  std::string prompt = FirstPrompt(*index, fb->get(), std::set<std::string>{"acme"}, &trace);
  EXPECT_NE(prompt.find("ACMEDEMO"), std::string::npos) << prompt;
  EXPECT_EQ(prompt.find("GLOBEXDEMO"), std::string::npos);  // walled off: never a demo
  EXPECT_EQ(trace.feedback_demos, std::vector<std::string>{"r-acme"});
  auto json = TraceFromJson(TraceToJson(trace));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->feedback_demos, trace.feedback_demos);

  // Revoking acme on the next question removes its demo too.
  prompt = FirstPrompt(*index, fb->get(), std::set<std::string>{}, &trace);
  EXPECT_EQ(prompt.find("ACMEDEMO"), std::string::npos);
  EXPECT_TRUE(trace.feedback_demos.empty());

  // Without fold-back: no demos.
  prompt = FirstPrompt(*index, nullptr, std::nullopt, &trace);
  EXPECT_EQ(prompt.find("ACMEDEMO"), std::string::npos);

  // Demos switched off.
  FoldBackOptions off;
  off.demos = false;
  auto fb_off = FoldBack::Build(*index, records, off);
  ASSERT_TRUE(fb_off.ok());
  prompt = FirstPrompt(*index, fb_off->get(), std::nullopt, &trace);
  EXPECT_EQ(prompt.find("ACMEDEMO"), std::string::npos);
}

TEST(AskFeedback, RelevanceLabelsShiftEachHop) {
  auto index = MakeIndex();
  // A lawyer marked the Globex clause (which never says "terminate") as the
  // answer to a question about termination for convenience.
  FeedbackRecord r;
  r.record_id = "labels";
  r.trace_id = "t-labels";
  r.question = "Can the customer terminate for convenience?";
  r.rating = Rating::Up();
  const Chunk* globex = index->ChunksOf("globex-msa").front();
  LabelledPassage p;
  p.chunk_id = globex->id;
  p.label = PassageLabel::kRelevant;
  r.labels.push_back(p);
  auto fb = FoldBack::Build(*index, {r});
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();

  AskOptions o;
  o.hops = 1;
  o.depth = 5;
  o.top_k = 5;
  o.rewrite = RewriteMode::kNone;
  o.search.mode = SearchMode::kBm25;
  auto run = [&](const FoldBack* f) {
    auto s = AskSession::Start(*index, "Can the customer terminate for convenience?", o, 0, nullptr, f);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE((*s)->done());
    std::vector<std::string> docs;
    for (const auto& h : (*s)->result().passages) docs.push_back(h.doc_id);
    return docs;
  };
  auto without = run(nullptr);
  auto with = run(fb->get());
  EXPECT_EQ(std::find(without.begin(), without.end(), "globex-msa"), without.end());
  EXPECT_NE(std::find(with.begin(), with.end(), "globex-msa"), with.end());
}

}  // namespace
}  // namespace foldback
