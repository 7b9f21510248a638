// Programs: DSPy ChatAdapter rendering, reply parsing, DSPy saved programs.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "foldback/program.h"

namespace foldback {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(FOLDBACK_TEST_DATA) + "/dspy/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The signature of DSPy's multi-hop tutorial (SimplifiedBaleen), wrapped in
// a ChainOfThought: context (desc "may contain relevant facts"), question ->
// reasoning, query.
Predictor Baleen() {
  Predictor p;
  p.name = "generate_query[0].predict";
  p.instructions = "Write a simple search query that will help answer a complex question.";
  p.fields = {{"context", "Context:", "may contain relevant facts", true},
              {"question", "Question:", "", true},
              {"reasoning", "Reasoning: Let's think step by step in order to", "", false},
              {"query", "Query:", "", false}};
  return p;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(Render, SystemMessageMatchesDspyChatAdapter) {
  // What DSPy 2.6's ChatAdapter.format() puts in the system message for
  // this signature, written out by hand.
  const std::string expected =
      "Your input fields are:\n"
      "1. `context` (str): may contain relevant facts\n"
      "2. `question` (str):\n"  // each list is strip()ped: no trailing space

      "Your output fields are:\n"
      "1. `reasoning` (str): \n"
      "2. `query` (str):\n"
      "All interactions will be structured in the following way, with the appropriate values "
      "filled in.\n"
      "\n"
      "[[ ## context ## ]]\n{context}\n\n"
      "[[ ## question ## ]]\n{question}\n\n"
      "[[ ## reasoning ## ]]\n{reasoning}\n\n"
      "[[ ## query ## ]]\n{query}\n\n"
      "[[ ## completed ## ]]\n"
      "In adhering to this structure, your objective is: \n"
      "        Write a simple search query that will help answer a complex question.";
  auto messages = RenderChat(Baleen(), {{"context", "N/A"}, {"question", "Who signs?"}});
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].role, "system");
  EXPECT_EQ(messages[0].content, expected);
  EXPECT_EQ(messages[1].role, "user");
  EXPECT_EQ(messages[1].content,
            "[[ ## context ## ]]\nN/A\n\n[[ ## question ## ]]\nWho signs?\n\n"
            "Respond with the corresponding output fields, starting with the field "
            "`[[ ## reasoning ## ]]`, then `[[ ## query ## ]]`, and then ending with the marker "
            "for `[[ ## completed ## ]]`.");
}

TEST(Render, DemosAreUserAssistantPairsIncompleteFirst) {
  Predictor p = Baleen();
  p.demos.push_back({{"context", "c1"}, {"question", "q1"}, {"reasoning", "r1"}, {"query", "k1"}});
  p.demos.push_back({{"question", "q2"}, {"query", "k2"}});   // incomplete: kept
  p.demos.push_back({{"question", "q3"}});                    // no output: skipped
  auto m = RenderChat(p, {{"question", "now"}});
  ASSERT_EQ(m.size(), 6u);  // system, 2 pairs, final user
  EXPECT_EQ(m[1].role, "user");
  EXPECT_EQ(m[1].content,
            "This is an example of the task, though some input or output fields are not "
            "supplied.\n\n[[ ## question ## ]]\nq2");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].content,
            "[[ ## reasoning ## ]]\nNot supplied for this particular example. \n\n"
            "[[ ## query ## ]]\nk2\n\n[[ ## completed ## ]]\n");
  EXPECT_EQ(m[3].content, "[[ ## context ## ]]\nc1\n\n[[ ## question ## ]]\nq1");
  EXPECT_EQ(m[4].content,
            "[[ ## reasoning ## ]]\nr1\n\n[[ ## query ## ]]\nk1\n\n[[ ## completed ## ]]\n");
  EXPECT_EQ(m[5].role, "user");
  EXPECT_EQ(Count(m[5].content, "q3"), 0u);
}

TEST(Render, MultiLineInstructionsAreIndentedAsDspyDoes) {
  Predictor p = Baleen();
  p.instructions = "    First line.\n    Second line.";  // dedented first
  auto m = RenderChat(p, {});
  EXPECT_NE(m[0].content.find("your objective is: \n        First line.\n        Second line."),
            std::string::npos)
      << m[0].content;
}

TEST(Render, JsonRetryAsksForJson) {
  auto m = RenderChat(Baleen(), {{"question", "q"}}, /*json_reply=*/true);
  EXPECT_NE(m.back().content.find(
                "Respond with a JSON object in the following order of fields: `reasoning`, then "
                "`query`."),
            std::string::npos);
  std::string schema = OutputJsonSchema(Baleen());
  EXPECT_NE(schema.find("\"required\":[\"reasoning\",\"query\"]"), std::string::npos) << schema;
}

TEST(Program, DefaultIsValidAndVersionIsStable) {
  Program a = Program::Default();
  Program b = Program::Default();
  EXPECT_EQ(a.version(), b.version());
  EXPECT_EQ(a.version().size(), 16u);
  EXPECT_EQ(a.QueryWriter(1).MainOutput(), "query");
  EXPECT_EQ(&a.QueryWriter(5), &a.QueryWriter(1));  // shared across hops
  EXPECT_EQ(a.AnswerWriter().MainOutput(), "answer");
  auto m = RenderChat(a.QueryWriter(1), {{"context", "x"}, {"question", "y"}});
  EXPECT_NE(m[0].content.find("Write a search query that will find the contract clauses"),
            std::string::npos);
  EXPECT_NE(m[0].content.find("NONE"), std::string::npos);

  Predictor q = a.QueryWriter(1);
  q.instructions += " Be brief.";
  auto changed = Program::Create({q}, a.AnswerWriter());
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->version(), a.version());
}

TEST(Program, CreateRejectsPredictorsItCannotFeed) {
  Predictor q = Baleen();
  q.fields.insert(q.fields.begin(), {"history", "History:", "", true});
  auto p = Program::Create({q}, Program::Default().AnswerWriter());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("input 'history'"), std::string::npos);
  auto none = Program::Create({}, Program::Default().AnswerWriter());
  EXPECT_FALSE(none.ok());
  auto swapped = Program::Create({Program::Default().AnswerWriter()},
                                 Program::Default().AnswerWriter());
  EXPECT_FALSE(swapped.ok());
}

// ---------------------------------------------------------------- parsing

std::string Query(std::string_view reply, const Predictor& p = Program::Default().QueryWriter(1)) {
  auto r = ParseReply(p, reply);
  return r.ok() ? r->fields.at(p.MainOutput()) : "<" + r.status().message() + ">";
}

TEST(Parse, Markers) {
  EXPECT_EQ(Query("[[ ## query ## ]]\ntermination for convenience\n\n[[ ## completed ## ]]"),
            "termination for convenience");
  // Prose around the markers, header and value on one line, sloppy spacing.
  EXPECT_EQ(Query("Sure! Here you go.\n[[ ## query ## ]] indemnify hold harmless\n"
                  "[[ ## completed ## ]]\nHope this helps."),
            "indemnify hold harmless");
  EXPECT_EQ(Query("[[## query ##]]\n  governing   law\n  new york \n"), "governing law new york");
  // First occurrence wins.
  EXPECT_EQ(Query("[[ ## query ## ]]\nfirst\n[[ ## query ## ]]\nsecond"), "first");
  // search_query stands for query.
  EXPECT_EQ(Query("[[ ## search_query ## ]]\nnon-compete"), "non-compete");
}

TEST(Parse, ChainOfThoughtReply) {
  auto r = ParseReply(Baleen(),
                      "[[ ## reasoning ## ]]\nThe cap sits in the liability clause.\n\n"
                      "[[ ## query ## ]]\nlimitation of liability cap\n\n[[ ## completed ## ]]\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format, ParsedReply::Format::kMarkers);
  EXPECT_EQ(r->fields.at("query"), "limitation of liability cap");
  EXPECT_EQ(r->fields.at("reasoning"), "The cap sits in the liability clause.");
}

TEST(Parse, PlainText) {
  EXPECT_EQ(Query("termination for convenience"), "termination for convenience");
  EXPECT_EQ(Query("\n\n  \"termination notice period\"  \nsecond line"), "termination notice period");
  EXPECT_EQ(Query("Query: assignment consent"), "assignment consent");
  EXPECT_EQ(Query("**Search query:** \"exclusivity territory\""), "exclusivity territory");
  EXPECT_EQ(Query("Here is a search query:\n- most favored nation pricing"),
            "most favored nation pricing");
  EXPECT_EQ(Query("```\nliquidated damages\n```"), "liquidated damages");
  EXPECT_EQ(Query("<think>The user wants audit rights.</think>\naudit rights records"),
            "audit rights records");
}

TEST(Parse, Json) {
  EXPECT_EQ(Query("{\"query\": \"change of control\"}"), "change of control");
  EXPECT_EQ(Query("Sure:\n```json\n{\"reasoning\": \"x\", \"search_query\": \"warranty period\"}\n```"),
            "warranty period");
  EXPECT_EQ(Query("{\"queries\": [\"a\"], \"query\": [\"insurance coverage\", \"other\"]}"),
            "insurance coverage");
  auto r = ParseReply(Program::Default().QueryWriter(1), "{\"query\": \"x y\"}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->format, ParsedReply::Format::kJson);
}

TEST(Parse, UnusableReplies) {
  const Program program = Program::Default();
  const Predictor& q = program.QueryWriter(1);
  for (const char* bad : {"", "   \n\t ", "!!! ??? ...", "\"\"", "{\"query\": \"\"}",
                          "[[ ## reasoning ## ]]\nthinking but never wrote the query",
                          "<think>endless thinking without an end"}) {
    auto r = ParseReply(q, bad);
    EXPECT_FALSE(r.ok()) << "accepted: " << bad;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidArgument());
      EXPECT_NE(r.status().message().find("unusable reply"), std::string::npos);
    }
  }
}

TEST(Parse, HugeRepliesAreCapped) {
  std::string huge = "[[ ## query ## ]]\n";
  for (int i = 0; i < 200000; ++i) huge += "lease ";
  ASSERT_GT(huge.size(), 1000000u);
  std::string q = Query(huge);
  EXPECT_LE(q.size(), kMaxQueryBytes);
  EXPECT_GT(q.size(), kMaxQueryBytes / 2);
  EXPECT_EQ(q.substr(0, 11), "lease lease");
  EXPECT_NE(q.back(), ' ');

  std::string answer(3 << 20, 'a');
  auto r = ParseReply(Program::Default().AnswerWriter(), answer);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->fields.at("answer").size(), kMaxAnswerBytes);
  // A multi-byte character is never split.
  std::string accents = "[[ ## query ## ]]\n";
  for (int i = 0; i < 1000; ++i) accents += "\xC3\xA9";
  std::string capped = Query(accents);
  EXPECT_EQ(capped.size() % 2, 0u);
}

TEST(Parse, AnswerPlainAndMarkers) {
  const Program program = Program::Default();
  const Predictor& a = program.AnswerWriter();
  auto r = ParseReply(a, "Answer: Either party may terminate on 30 days' notice [1].");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields.at("answer"), "Either party may terminate on 30 days' notice [1].");
  r = ParseReply(a, "[[ ## answer ## ]]\nLine one [1].\nLine two [2].\n\n[[ ## completed ## ]]");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fields.at("answer"), "Line one [1].\nLine two [2].");
}

TEST(Parse, NoneMeansNoFurtherSearch) {
  EXPECT_TRUE(IsNoneQuery("NONE"));
  EXPECT_TRUE(IsNoneQuery("none."));
  EXPECT_TRUE(IsNoneQuery("\"None\""));
  EXPECT_FALSE(IsNoneQuery("none of the above clauses"));
  EXPECT_EQ(Query("[[ ## query ## ]]\nNONE\n[[ ## completed ## ]]"), "NONE");
}

// ---------------------------------------------------------------- DSPy

TEST(Dspy, LoadsDspy26MultiHopProgram) {
  auto loaded = LoadDspyProgram(ReadFixture("dspy26_multihop.json"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->dspy_version, "2.6.27");
  ASSERT_EQ(loaded->used.size(), 3u);
  EXPECT_EQ(loaded->used[0], "generate_query[0].predict -> query writer, hop 1");
  EXPECT_EQ(loaded->used[1], "generate_query[1].predict -> query writer, hop 2 and later");
  EXPECT_EQ(loaded->used[2], "generate_answer.predict -> answer writer");
  EXPECT_TRUE(loaded->ignored.empty());
  const Program& p = loaded->program;
  const Predictor& hop1 = p.QueryWriter(1);
  ASSERT_EQ(hop1.fields.size(), 4u);
  EXPECT_EQ(hop1.fields[0].name, "context");
  EXPECT_EQ(hop1.fields[0].description, "may contain relevant clauses");
  EXPECT_EQ(hop1.fields[2].name, "reasoning");
  EXPECT_FALSE(hop1.fields[2].input);
  EXPECT_EQ(&p.QueryWriter(3), &p.QueryWriter(2));

  // Instructions and demos reach the rendered prompts.
  auto m1 = RenderChat(hop1, {{"context", "x"}, {"question", "q"}});
  EXPECT_NE(m1[0].content.find("your objective is: \n        Write a search query that finds the "
                               "contract clause answering the question.\n        Prefer the "
                               "drafter's own words."),
            std::string::npos)
      << m1[0].content;
  // The augmented demo is a pair; the labeled demo without a query is not.
  ASSERT_EQ(m1.size(), 4u);
  EXPECT_NE(m1[1].content.find("Can the distributor assign the agreement to an affiliate?"),
            std::string::npos);
  EXPECT_EQ(m1[1].content.find("[[ ## context ## ]]\nN/A"), 0u) << m1[1].content;
  EXPECT_NE(m1[2].content.find("[[ ## query ## ]]\nassignment consent affiliate successor change "
                               "of control\n\n[[ ## completed ## ]]"),
            std::string::npos);
  EXPECT_EQ(m1[1].content.find("recalls"), std::string::npos);
  // A list-valued context renders as DSPy's numbered «» list.
  auto m2 = RenderChat(p.QueryWriter(2), {});
  EXPECT_NE(m2[1].content.find("[1] \xC2\xABSection 14.2 Assignment."), std::string::npos)
      << m2[1].content;
  EXPECT_NE(m2[1].content.find("\n[2] \xC2\xABSection 14.3"), std::string::npos);
  auto ma = RenderChat(p.AnswerWriter(), {});
  EXPECT_NE(ma[0].content.find("citing passages as [n]"), std::string::npos);
  EXPECT_NE(ma[2].content.find("Ninety days' written notice [1]."), std::string::npos);
}

TEST(Dspy, ApiKeyInSavedLmNeverSurfaces) {
  std::string json = ReadFixture("dspy26_multihop.json");
  ASSERT_NE(json.find("sk-fixture-SECRET"), std::string::npos);
  auto loaded = LoadDspyProgram(json);
  ASSERT_TRUE(loaded.ok());
  std::string everything = loaded->program.version();
  for (const auto& v : {loaded->used, loaded->ignored, loaded->notes}) {
    for (const auto& s : v) everything += s;
  }
  for (const Predictor& q : loaded->program.query_writers()) {
    for (const auto& m : RenderChat(q, {})) everything += m.content;
  }
  for (const auto& m : RenderChat(loaded->program.AnswerWriter(), {})) everything += m.content;
  EXPECT_EQ(everything.find("sk-fixture"), std::string::npos);
  EXPECT_EQ(everything.find("gpt-4o-mini"), std::string::npos);
  bool noted = false;
  for (const auto& n : loaded->notes) noted |= n.find("'lm' settings ignored") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Dspy, LoadsDspy25PredictProgramWithSearchQueryInHopOrder) {
  auto loaded = LoadDspyProgram(ReadFixture("dspy25_predict.json"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->dspy_version, "");
  ASSERT_EQ(loaded->program.query_writers().size(), 2u);
  // generate_query[1] comes first in the file but serves hop 2.
  EXPECT_EQ(loaded->program.QueryWriter(1).name, "generate_query[0]");
  EXPECT_EQ(loaded->program.QueryWriter(2).name, "generate_query[1]");
  EXPECT_EQ(loaded->program.QueryWriter(1).MainOutput(), "search_query");
  EXPECT_EQ(loaded->program.QueryWriter(1).Find("search_query")->prefix, "Search Query:");
  auto m = RenderChat(loaded->program.QueryWriter(1), {{"question", "q"}});
  EXPECT_NE(m[0].content.find("First hop: write a keyword search query."), std::string::npos);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[2].content,
            "[[ ## search_query ## ]]\ngoverning law jurisdiction venue\n\n[[ ## completed ## ]]\n");
  EXPECT_NE(m.back().content.find("`[[ ## search_query ## ]]`"), std::string::npos);
  auto parsed = ParseReply(loaded->program.QueryWriter(1),
                           "[[ ## search_query ## ]]\nforum selection\n[[ ## completed ## ]]");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->fields.at("search_query"), "forum selection");
}

TEST(Dspy, LoadsDspy24LegacyProgram) {
  auto loaded = LoadDspyProgram(ReadFixture("dspy24_legacy.json"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->used.size(), 2u);
  const Predictor& q = loaded->program.QueryWriter(1);
  ASSERT_EQ(q.fields.size(), 4u);
  EXPECT_EQ(q.fields[2].name, "rationale");
  EXPECT_EQ(q.MainOutput(), "query");
  auto m = RenderChat(q, {});
  EXPECT_NE(m[0].content.find("Write a simple search query that will help answer a complex "
                              "question."),
            std::string::npos);
  EXPECT_NE(m[2].content.find("limitation of liability aggregate cap fees paid"),
            std::string::npos);
  EXPECT_EQ(loaded->program.AnswerWriter().MainOutput(), "answer");
  bool noted = false;
  for (const auto& n : loaded->notes) noted |= n.find("DSPy 2.4 format") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Dspy, ReportsIgnoredPredictorsAndFillsInDefaults) {
  auto loaded = LoadDspyProgram(ReadFixture("dspy_mixed.json"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->used.size(), 1u);
  EXPECT_EQ(loaded->used[0], "generate_query.predict -> query writer, every hop");
  ASSERT_EQ(loaded->ignored.size(), 2u);
  EXPECT_EQ(loaded->ignored[0],
            "summarize.predict: its output 'summary' is neither a query nor an answer");
  EXPECT_EQ(loaded->ignored[1],
            "rewrite_with_history.predict: its input 'past_queries' is not one foldback supplies "
            "(context, question)");
  // The custom prefix "Keywords:" is named `query` through the demos.
  const Predictor& q = loaded->program.QueryWriter(1);
  EXPECT_EQ(q.MainOutput(), "query");
  EXPECT_EQ(q.Find("query")->prefix, "Keywords:");
  EXPECT_EQ(q.Find("query")->description, "Keywords to search for");
  EXPECT_EQ(q.Find("context"), nullptr);
  EXPECT_EQ(loaded->program.AnswerWriter().instructions,
            Program::Default().AnswerWriter().instructions);
  bool noted = false;
  for (const auto& n : loaded->notes) noted |= n.find("no answer writer") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Dspy, BadFilesGetClearErrors) {
  auto r = LoadDspyProgram("{not json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos);
  r = LoadDspyProgram("[1, 2]");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a JSON object"), std::string::npos);
  r = LoadDspyProgram("{\"metadata\": {}, \"x\": 3, \"y\": {\"demos\": []}}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no predictor maps"), std::string::npos);
  EXPECT_NE(r.status().message().find("y: not a predictor (no signature)"), std::string::npos)
      << r.status().message();
  r = LoadDspyProgram(
      "{\"p\": {\"signature\": {\"instructions\": \"i\", \"fields\": []}, \"demos\": []}}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("p: signature has no fields"), std::string::npos);
  // Wrong types inside are not fatal to the rest.
  r = LoadDspyProgram(
      "{\"a\": {\"signature\": {\"instructions\": 5, \"fields\": [{\"prefix\": \"Question:\"}, "
      "{\"prefix\": \"Query:\"}]}, \"demos\": [3, {\"question\": null, \"query\": [1, 2]}]}}");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->program.QueryWriter(1).instructions, "");
  EXPECT_EQ(r->program.QueryWriter(1).demos.size(), 1u);
}

}  // namespace
}  // namespace foldback
