// The Redactor (core/include/foldback/redact.h): its pattern language
// checked against std::regex (ECMAScript) where the two agree, hostile text
// that would make a backtracking matcher explode or recurse, bad patterns,
// and the ask session applying it to every need with the trace saying what
// fired — the redacted values never reaching the host.
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <set>

#include "foldback/ask.h"
#include "foldback/index.h"
#include "foldback/redact.h"
#include "test_budget.h"

namespace foldback {
namespace {

std::unique_ptr<Redactor> Make(std::vector<RedactionRule> rules) {
  auto r = Redactor::Create(rules);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

std::string RedactOne(const std::string& pattern, const std::string& text,
                      const std::string& replacement = "#") {
  auto r = Make({{"p", pattern, replacement}});
  return r ? r->Redact(text) : "<bad pattern>";
}

TEST(Redactor, TypicalRules) {
  auto r = Make({{"ssn", R"(\b\d{3}-\d{2}-\d{4}\b)", ""},
                 {"email", R"([\w.+-]+@[\w-]+(\.[\w-]+)+)", ""},
                 {"iban", R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b)", ""},
                 {"account", R"((?i)\baccount (?:no\.?|number) ?\d{6,12}\b)", "[ACCOUNT]"}});
  ASSERT_TRUE(r);
  std::vector<RedactionCount> counts;
  std::string out = r->Redact(
      "Client SSN 078-05-1120 (not 078-05-11200), mail jane.doe+nda@firm-example.co.uk, "
      "IBAN GB82 WEST 1234 5698 7654 32, Account No. 12345678 and ACCOUNT NUMBER 987654321.",
      &counts);
  EXPECT_EQ(out,
            "Client SSN [REDACTED:ssn] (not 078-05-11200), mail [REDACTED:email], "
            "IBAN [REDACTED:iban], [ACCOUNT] and [ACCOUNT].");
  ASSERT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts[0].rule, "ssn");
  EXPECT_EQ(counts[0].count, 1u);
  EXPECT_EQ(counts[3].rule, "account");
  EXPECT_EQ(counts[3].count, 2u);
  EXPECT_EQ(r->Redact("nothing to see"), "nothing to see");
}

TEST(Redactor, Semantics) {
  // Leftmost-longest, non-overlapping; the first rule wins a tie.
  EXPECT_EQ(RedactOne("a|ab", "xabx"), "x#x");
  EXPECT_EQ(RedactOne("ab|a", "xabx"), "x#x");
  EXPECT_EQ(RedactOne("aa", "aaaaa"), "##a");
  auto two = Make({{"one", "abc", "1"}, {"two", "abc|abcd", "2"}});
  EXPECT_EQ(two->Redact("abc abcd"), "1 2");
  // Classes, ranges, negation, escapes inside classes, '-' at the end.
  EXPECT_EQ(RedactOne("[a-c]+", "xxabcabdx"), "xx#dx");
  EXPECT_EQ(RedactOne("[^a-z ]+", "ab 12!? cd"), "ab # cd");
  EXPECT_EQ(RedactOne(R"([\d.-]+)", "v 1.2-3 x"), "v # x");
  EXPECT_EQ(RedactOne(R"([\]\\]+)", R"(a]\]b)"), "a#b");
  // Counted repetition.
  EXPECT_EQ(RedactOne(R"(\d{2,3})", "1 12 123 1234 12345"), "1 # # #4 ##");
  EXPECT_EQ(RedactOne(R"(x{2,})", "x xx xxxxx"), "x # #");
  EXPECT_EQ(RedactOne(R"(x{3})", "xxxxxxx"), "##x");
  // Word boundaries.
  EXPECT_EQ(RedactOne(R"(\bcat\b)", "cat concat cats cat."), "# concat cats #.");
  EXPECT_EQ(RedactOne(R"(\Bcat)", "cat concat"), "cat con#");
  // Case-insensitive (ASCII).
  EXPECT_EQ(RedactOne("(?i)falcon", "Project FALCON and falcon, Falcón"), "Project # and #, Falcón");
  EXPECT_EQ(RedactOne("(?i)[a-c]x", "AX Bx cX"), "# # #");
  // '.' is any character but a newline, UTF-8 aware.
  EXPECT_EQ(RedactOne("é.é", "aé€éb é\né"), "a#b é\né");
  EXPECT_EQ(RedactOne(R"(\u20ac\d+)", "price €100"), "price #");
  EXPECT_EQ(RedactOne(R"(\x41+)", "BAAAB"), "B#B");
  // Whitespace classes include Unicode spaces.
  EXPECT_EQ(RedactOne(R"(a\sb)", "a b a\xC2\xA0" "b a\tb ab"), "# # # ab");
  // Escaped metacharacters.
  EXPECT_EQ(RedactOne(R"(\(\d+\)\.\*\?\+\{\}\|\$\^)", "x(12).*?+{}|$^y"), "x#y");
  // Invalid UTF-8 in the text is repaired, never passed through.
  EXPECT_EQ(RedactOne("secret", "a\xFFsecret\xC3"), "a\xEF\xBF\xBD#\xEF\xBF\xBD");
}

TEST(Redactor, MatchesAreBounded) {
  std::string run(Redactor::kMaxMatchChars + 10, 'x');
  // A match never exceeds kMaxMatchChars: a long run is cut into pieces.
  std::string out = RedactOne("x+", run);
  EXPECT_EQ(out, "##");
}

TEST(Redactor, BadPatternsAndRulesAreRefusedClearly) {
  struct Case {
    RedactionRule rule;
    const char* says;
  };
  const Case cases[] = {
      {{"", "abc", ""}, "name"},
      {{"bad name", "abc", ""}, "name"},
      {{"r", "", ""}, "empty pattern"},
      {{"r", "a*", ""}, "empty string"},
      {{"r", "(a|)", ""}, "empty string"},
      {{"r", R"(\b)", ""}, "empty string"},
      {{"r", "^abc", ""}, "anchors"},
      {{"r", "abc$", ""}, "anchors"},
      {{"r", "a+?", ""}, "quantifier"},
      {{"r", "a++", ""}, "quantifier"},
      {{"r", "*a", ""}, "nothing to repeat"},
      {{"r", "(a", ""}, "missing ')'"},
      {{"r", "a)", ""}, "unmatched ')'"},
      {{"r", "[abc", ""}, "unterminated"},
      {{"r", "[]", ""}, "empty []"},
      {{"r", "[z-a]", ""}, "out of order"},
      {{"r", R"((a)\1)", ""}, "backreferences"},
      {{"r", "(?=a)b", ""}, "(?:...)"},
      {{"r", "(?<n>a)", ""}, "(?:...)"},
      {{"r", R"(\p{L})", ""}, "unknown escape"},
      {{"r", "a{2", ""}, "unterminated repetition"},
      {{"r", "a{3,2}", ""}, "m < n"},
      {{"r", "a{", ""}, "repetition"},
      {{"r", R"(\xZZ)", ""}, "hex"},
      {{"r", "a\\", ""}, "backslash"},
      {{"r", "abc", std::string(300, 'x')}, "replacement"},
  };
  for (const Case& c : cases) {
    auto r = Redactor::Create({c.rule});
    ASSERT_FALSE(r.ok()) << c.rule.pattern;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << c.rule.pattern << " -> " << r.status().ToString();
  }
  // Duplicate names; too many rules; limits on size.
  EXPECT_FALSE(Redactor::Create({{"a", "x", ""}, {"a", "y", ""}}).ok());
  std::vector<RedactionRule> many(Redactor::kMaxRules + 1, {"r", "x", ""});
  for (size_t i = 0; i < many.size(); ++i) many[i].name = "r" + std::to_string(i);
  EXPECT_FALSE(Redactor::Create(many).ok());
  EXPECT_FALSE(Redactor::Create({{"r", std::string(Redactor::kMaxPatternBytes + 1, 'a'), ""}}).ok());
  auto huge = Redactor::Create({{"r", "(a{1000}){1000}", ""}});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), Status::Code::kOutOfRange);
  EXPECT_FALSE(Redactor::Create({{"r", "a{1001}", ""}}).ok());
  std::string deep;
  for (int i = 0; i < 150; ++i) deep += "(";
  deep += "a";
  for (int i = 0; i < 150; ++i) deep += ")";
  EXPECT_FALSE(Redactor::Create({{"r", deep, ""}}).ok());
  // No rules: text passes unchanged.
  auto none = Redactor::Create({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->Redact("anything"), "anything");
}

// The patterns where ECMAScript's leftmost-greedy match is also the
// leftmost-longest one, checked against std::regex on random short texts.
TEST(Redactor, AgreesWithStdRegexOnRandomText) {
  const char* patterns[] = {
      R"(\d{3}-\d{2}-\d{4})",
      R"([\w.+-]+@[\w-]+(\.[\w-]+)+)",
      R"(ab+c)",
      R"([a-c]{2,4}x)",
      R"(\bab\b)",
      R"((?:ab)+)",
      R"(a[^b\s]*b)",
      R"(\w+\s\w+)",
      R"(b\Ba)",
  };
  std::mt19937 rng(7);
  const std::string alphabet = "abcx0123-.@ _\n";
  for (const char* pattern : patterns) {
    auto mine = Make({{"p", pattern, "#"}});
    ASSERT_TRUE(mine) << pattern;
    std::regex theirs(pattern, std::regex::ECMAScript);
    for (int trial = 0; trial < 400; ++trial) {
      std::string text;
      size_t len = rng() % 60;
      for (size_t i = 0; i < len; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
      if (trial % 5 == 0) text += "078-05-1120 jo.e@x-y.abc";
      std::string expected = std::regex_replace(text, theirs, "#");
      ASSERT_EQ(mine->Redact(text), expected) << "pattern " << pattern << " on \"" << text << "\"";
    }
  }
}

// Text built to make a backtracking matcher take exponential time, or
// recurse once per character: each finishes (in linear time: see
// tests/bench/redact_bench.cc for the figures).
TEST(Redactor, HostileTextDoesNotBlowUp) {
  auto r = Make({{"nested", "(a|aa)+b", ""},
                 {"email", R"([\w.+-]+@[\w-]+(\.[\w-]+)+)", ""},
                 {"star", "(x+x+)+y", ""}});
  ASSERT_TRUE(r);
  const size_t n = foldback::testing::SanitizerScaled(200000, 4);
  std::string as(n, 'a');
  std::string xs(n, 'x');
  std::string words;
  for (size_t i = 0; i < n / 10; ++i) words += "word.word";
  EXPECT_EQ(r->Redact(as), as);
  EXPECT_EQ(r->Redact(xs), xs);
  EXPECT_EQ(r->Redact(words), words);
  std::vector<RedactionCount> counts;
  std::string out = r->Redact(words + "@firm.example", &counts);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].rule, "email");
}

// ---------------------------------------------------------------- ask

const char kSsn[] = "078-05-1120";
const char kMail[] = "cfo@acme-client.example";

std::unique_ptr<Index> RedactionIndex(EmbedderKind embedder) {
  IndexOptions o;
  o.dense.embedder = embedder;
  if (embedder == EmbedderKind::kExternal) o.dense.dimension = 3;
  auto index = Index::Create(o);
  EXPECT_TRUE(index.ok());
  Document a;
  a.id = "memo";
  a.title = "Payroll memo";
  a.text = std::string("The employee's social security number is ") + kSsn +
           " and payroll questions go to " + kMail + ". Termination pay is due within 30 days.";
  Document b;
  b.id = "policy";
  b.title = "Termination policy";
  b.text = "Termination pay includes accrued vacation. Contact payroll for termination pay questions.";
  EXPECT_TRUE((*index)->Add(a).ok());
  EXPECT_TRUE((*index)->Add(b).ok());
  if (embedder == EmbedderKind::kExternal) {
    for (const std::string& id : (*index)->ChunksMissingVectors()) {
      EXPECT_TRUE((*index)->SetChunkVector(id, {1, 0.5f, 0.25f}).ok());
    }
  }
  return std::move(index.value());
}

TEST(AskRedaction, NothingMatchedEverLeavesAndTheTraceSaysWhatFired) {
  auto redactor = Redactor::Create({{"ssn", R"(\b\d{3}-\d{2}-\d{4}\b)", ""},
                                    {"email", R"([\w.+-]+@[\w-]+(\.[\w-]+)+)", ""}});
  ASSERT_TRUE(redactor.ok());
  std::shared_ptr<const Redactor> shared = std::move(redactor.value());
  for (EmbedderKind embedder : {EmbedderKind::kNone, EmbedderKind::kExternal}) {
    auto index = RedactionIndex(embedder);
    AskOptions o;
    o.hops = 2;
    o.answer = true;
    o.search.mode = embedder == EmbedderKind::kNone ? SearchMode::kBm25 : SearchMode::kHybrid;
    o.redactor = shared;
    // The lawyer's own question carries a value too: it is redacted on the
    // way out like everything else.
    auto s = AskSession::Start(*index, std::string("termination pay for ") + kSsn + "?", o, 0);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    size_t needs_seen = 0, embed_needs = 0;
    for (int guard = 0; !(*s)->done() && guard < 50; ++guard) {
      for (const Need& n : (*s)->TakeNeeds()) {
        ++needs_seen;
        std::string sent;
        for (const ChatMessage& m : n.llm.messages) sent += m.content + "\n";
        for (const std::string& t : n.embed.texts) sent += t + "\n";
        EXPECT_EQ(sent.find(kSsn), std::string::npos) << sent;
        EXPECT_EQ(sent.find(kMail), std::string::npos) << sent;
        EXPECT_EQ(sent.find("078-05"), std::string::npos);
        NeedResult r;
        if (n.kind == Need::Kind::kEmbed) {
          ++embed_needs;
          r.vectors.assign(n.embed.texts.size(), {1, 0.5f, 0.25f});
        } else if (n.purpose == "answer") {
          EXPECT_NE(sent.find("[REDACTED:ssn]"), std::string::npos);
          r.text = "[[ ## answer ## ]]\nTermination pay is due within 30 days [1].\n\n[[ ## completed ## ]]";
        } else {
          r.text = "[[ ## query ## ]]\ntermination pay payroll\n\n[[ ## completed ## ]]";
        }
        ASSERT_TRUE((*s)->Provide(n.id, r, 1).ok());
      }
    }
    ASSERT_TRUE((*s)->done());
    EXPECT_GE(needs_seen, 2u);
    if (embedder == EmbedderKind::kExternal) {
      EXPECT_GE(embed_needs, 1u);
    }
    const AskResult& result = (*s)->result();
    // Locally, the passages are whole; the trace says what was redacted
    // where, and never the value.
    bool memo = false;
    for (const SearchHit& h : result.passages) memo |= h.text.find(kSsn) != std::string::npos;
    EXPECT_TRUE(memo);
    ASSERT_FALSE(result.trace.redactions.empty());
    std::string all;
    for (const std::string& line : result.trace.redactions) all += line + "\n";
    EXPECT_NE(all.find("hop 1 rewrite: "), std::string::npos) << all;
    EXPECT_NE(all.find("answer: "), std::string::npos) << all;
    EXPECT_NE(all.find("ssn x"), std::string::npos) << all;
    EXPECT_NE(all.find("email x1"), std::string::npos) << all;
    EXPECT_EQ(all.find(kSsn), std::string::npos);
    std::string json = TraceToJson(result.trace);
    EXPECT_NE(json.find("\"redactions\""), std::string::npos);
    auto back = TraceFromJson(json);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->redactions, result.trace.redactions);
  }
}

TEST(AskRedaction, WithoutARedactorTheTextGoesOutAsIs) {
  auto index = RedactionIndex(EmbedderKind::kNone);
  AskOptions o;
  o.hops = 1;
  o.search.mode = SearchMode::kBm25;
  auto s = AskSession::Start(*index, "social security number payroll", o, 0);
  ASSERT_TRUE(s.ok());
  auto needs = (*s)->TakeNeeds();
  ASSERT_EQ(needs.size(), 1u);
  // Hop 1 has no context yet; answer it and look at nothing else: the point
  // is only that the redactor is what removes the value.
  NeedResult r;
  r.text = "[[ ## query ## ]]\nsocial security number\n\n[[ ## completed ## ]]";
  ASSERT_TRUE((*s)->Provide(needs[0].id, r, 1).ok());
  EXPECT_TRUE((*s)->done());
  EXPECT_TRUE((*s)->result().trace.redactions.empty());
  EXPECT_EQ(TraceToJson((*s)->result().trace).find("redactions"), std::string::npos);
}

}  // namespace
}  // namespace foldback
