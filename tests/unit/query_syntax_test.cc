// Terms and connectors: the parser, word streams, positional matching,
// fallbacks and errors, walls and filters, updates, snapshots (format 2
// round trip, format 1 loading), and plain queries unchanged bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "foldback/program.h"
#include "index/index_internal.h"
#include "index/positions.h"
#include "index/query.h"
#include "snapshot.pb.h"
#include "snapshot_envelope.h"
#include "snapshot_format2.h"

namespace foldback {
namespace {

using index::Connector;
using index::ParseQueryAst;

// ---- the parser ----

TEST(QueryParser, PlainQueriesHaveNoOperators) {
  for (const char* q : {"termination for convenience", "Can the customer terminate?",
                        "termination and/or expiry 24/7", "party's rights, 1,000.5 U.S.C.", ""}) {
    auto ast = ParseQueryAst(q);
    ASSERT_TRUE(ast.ok()) << q;
    EXPECT_FALSE(ast->has_operators) << q;
  }
}

// Every quote mark the parser knows (IsQuote), a trailing '*' and a
// connector are seen, wherever they stand: ParseQueryAst skips tokenizing
// a query with none of their characters, and must not skip one of these.
TEST(QueryParser, EveryOperatorCharacterIsSeen) {
  const std::vector<std::pair<std::string, std::string>> quotes = {
      {"\"", "\""},
      {"\xC2\xAB", "\xC2\xBB"},          // « »
      {"\xC2\xBB", "\xC2\xAB"},          // » «
      {"\xE2\x80\x9C", "\xE2\x80\x9D"},  // “ ”
      {"\xE2\x80\x9E", "\xE2\x80\x9F"},  // „ ‟
  };
  for (const auto& [open, close] : quotes) {
    for (const std::string& q :
         {open + "change of control" + close, "notice " + open + "cure" + close,
          "caf\xC3\xA9 " + open + "x y" + close}) {
      auto ast = ParseQueryAst(q);
      ASSERT_TRUE(ast.ok()) << q;
      EXPECT_TRUE(ast->has_operators) << q;
      ASSERT_EQ(ast->clauses.size(), q.rfind("notice", 0) == 0 || q.rfind("caf", 0) == 0 ? 2u : 1u)
          << q;
    }
    auto open_only = ParseQueryAst("a " + open + "b");
    EXPECT_FALSE(open_only.ok()) << open;  // unbalanced
  }
  for (const char* q :
       {"terminat*", "a b /5 c", "a w/s b", "a /p b", "x \xE2\x80\x99s terminat*"}) {
    auto ast = ParseQueryAst(q);
    ASSERT_TRUE(ast.ok()) << q;
    EXPECT_TRUE(ast->has_operators) << q;
  }
  // Near misses stay plain: other punctuation from the same UTF-8 blocks
  // (an apostrophe U+2019, a dash U+2014, a non-breaking space U+00A0).
  for (const char* q : {"party\xE2\x80\x99s rights", "cure \xE2\x80\x94 thirty days",
                        "a\xC2\xA0"
                        "b"}) {
    auto ast = ParseQueryAst(q);
    ASSERT_TRUE(ast.ok()) << q;
    EXPECT_FALSE(ast->has_operators) << q;
  }
}

TEST(QueryParser, PhrasePrefixAndConnectors) {
  auto a = ParseQueryAst("\"termination for convenience\"");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->clauses.size(), 1u);
  ASSERT_EQ(a->clauses[0].operands.size(), 1u);
  EXPECT_TRUE(a->clauses[0].operands[0].quoted);
  EXPECT_EQ(a->clauses[0].operands[0].tokens.size(), 3u);

  auto b = ParseQueryAst("terminat* /s convenience");
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->clauses.size(), 1u);
  const auto& c = b->clauses[0];
  ASSERT_EQ(c.operands.size(), 2u);
  ASSERT_EQ(c.connectors.size(), 1u);
  EXPECT_EQ(c.connectors[0].kind, Connector::Kind::kSentence);
  EXPECT_TRUE(c.operands[0].tokens[0].prefix);
  EXPECT_EQ(c.operands[0].tokens[0].text, "terminat");

  auto d = ParseQueryAst("indemnif* /10 \"third party\" W/5 losses w/p damages");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->clauses.size(), 1u);
  ASSERT_EQ(d->clauses[0].connectors.size(), 3u);
  EXPECT_EQ(d->clauses[0].connectors[0].kind, Connector::Kind::kWords);
  EXPECT_EQ(d->clauses[0].connectors[0].n, 10u);
  EXPECT_EQ(d->clauses[0].connectors[1].n, 5u);
  EXPECT_EQ(d->clauses[0].connectors[2].kind, Connector::Kind::kParagraph);

  // Word processors' curly quotes; two phrases are two clauses.
  auto e = ParseQueryAst(
      "\xE2\x80\x9C"
      "change of control"
      "\xE2\x80\x9D"
      " \"assignment\" notice");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(e->clauses.size(), 3u);
  EXPECT_TRUE(e->clauses[0].operands[0].quoted);
  EXPECT_EQ(e->clauses[0].operands[0].tokens.size(), 3u);
  EXPECT_FALSE(e->clauses[2].operands[0].quoted);
}

TEST(QueryParser, MalformedQueriesGiveClearErrors) {
  struct Case {
    std::string query;
    std::string message;
  };
  std::vector<Case> cases = {
      {"\"termination for convenience", "unbalanced quote"},
      {"terminate /0 convenience", "connectors count from /1"},
      {"terminate /1000001 convenience", "largest distance"},
      {"*", "lone '*'"},
      {"terminate * convenience", "lone '*'"},
      {"\"termination * convenience\"", "lone '*'"},
      {"\"\"", "empty quotes"},
      {"/s convenience", "on its left"},
      {"terminate /s /p convenience", "on its left"},
      {"terminate /s", "on its right"},
  };
  std::string many = "\"a\"";
  for (int i = 0; i < 10000; ++i) many += " w" + std::to_string(i);
  cases.push_back({many, "at most 1000"});
  for (const auto& c : cases) {
    auto r = ParseQueryAst(c.query);
    ASSERT_FALSE(r.ok()) << c.query;
    EXPECT_TRUE(r.status().IsInvalidArgument());
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.query.substr(0, 60) << " -> " << r.status().message();
  }
  // 10,000 words without an operator: a plain query, no limit.
  std::string plain;
  for (int i = 0; i < 10000; ++i) plain += " w" + std::to_string(i);
  auto p = ParseQueryAst(plain);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->has_operators);
}

// An LLM's hop query keeps the quotes of its phrases; a wrapping pair or a
// stray mark still comes off (rewrite/program.cc, StripQuotes).
TEST(QueryParser, HopQueriesKeepTheirPhrases) {
  const Program program = Program::Default();  // QueryWriter returns a reference into it
  auto query = [&program](std::string_view reply) {
    const Predictor& p = program.QueryWriter(1);
    auto r = ParseReply(p, reply);
    return r.ok() ? r->fields.at(p.MainOutput()) : "<" + r.status().message() + ">";
  };
  EXPECT_EQ(query("[[ ## query ## ]]\nindemnif* /10 \"third party\"\n\n[[ ## completed ## ]]"),
            "indemnif* /10 \"third party\"");
  EXPECT_EQ(query("[[ ## query ## ]]\n\"change of control\" /s \"consent\"\n[[ ## completed ## ]]"),
            "\"change of control\" /s \"consent\"");
  EXPECT_EQ(query("[[ ## query ## ]]\n\"termination for convenience\" fees\n[[ ## completed ## ]]"),
            "\"termination for convenience\" fees");
  EXPECT_EQ(query("[[ ## query ## ]]\n\"termination notice period\"\n[[ ## completed ## ]]"),
            "termination notice period");
  EXPECT_EQ(query("[[ ## query ## ]]\n\"termination notice period\n[[ ## completed ## ]]"),
            "termination notice period");
}

// ---- the codec and sentence ends ----

TEST(WordStream, VarintRoundTripAndMalformedBytes) {
  std::vector<uint32_t> values = {
      0, 1, 2, 3, 127, 128, 300, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 0xFFFFFFFFu};
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) values.push_back(rng() >> (rng() % 32));
  std::string stream;
  for (uint32_t v : values) index::AppendCode(&stream, v);
  std::vector<uint32_t> back;
  ASSERT_TRUE(index::DecodeStream(stream, &back));
  EXPECT_EQ(back, values);
  EXPECT_EQ(stream.size() > values.size(), true);
  // One byte per value below 128.
  std::string small;
  for (uint32_t v = 0; v < 128; ++v) index::AppendCode(&small, v);
  EXPECT_EQ(small.size(), 128u);
  // A varint cut short, or longer than five bytes.
  EXPECT_FALSE(index::DecodeStream(std::string("\x80", 1), &back));
  EXPECT_FALSE(index::DecodeStream(std::string("\xff\xff\xff\xff\xff\xff", 6), &back));
  EXPECT_TRUE(index::DecodeStream("", &back));
  EXPECT_TRUE(back.empty());
  // A decoded chunk refuses term ids beyond the dictionary.
  index::DecodedChunk d;
  std::string s;
  index::AppendCode(&s, index::kCodeTermBase + 5);
  EXPECT_TRUE(d.Decode(s, 6));
  EXPECT_FALSE(d.Decode(s, 5));
}

TEST(WordStream, SentenceAndParagraphEnds) {
  using index::BreakBetween;
  EXPECT_EQ(BreakBetween(". ", "days", "days"), index::kCodeSentence);
  EXPECT_EQ(BreakBetween("? ", "terminate", "terminate"), index::kCodeSentence);
  EXPECT_EQ(BreakBetween(".\" ", "notice", "notice"), index::kCodeSentence);
  EXPECT_EQ(BreakBetween(" ", "days", "days"), 0u);
  EXPECT_EQ(BreakBetween(", ", "days", "days"), 0u);
  EXPECT_EQ(BreakBetween("; ", "days", "days"), 0u);
  EXPECT_EQ(BreakBetween(". ", "inc", "Inc"), 0u);
  EXPECT_EQ(BreakBetween(". ", "no", "No"), 0u);
  EXPECT_EQ(BreakBetween(". ", "j", "J"), 0u);
  EXPECT_EQ(BreakBetween(". ", "usc", "U.S.C"), 0u);
  EXPECT_EQ(BreakBetween(". ", "12.3", "12.3"), index::kCodeSentence);
  EXPECT_EQ(BreakBetween("\n\n", "days", "days"), index::kCodeParagraph);
  EXPECT_EQ(BreakBetween(".\n \n", "days", "days"), index::kCodeParagraph);
  EXPECT_EQ(BreakBetween("\n", "days", "days"), 0u);  // a wrapped line
}

// ---- searching ----

std::unique_ptr<Index> MakeIndex(bool positions = true) {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  o.bm25.positions = positions;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  return std::move(*idx);
}

void AddDoc(Index* idx, const std::string& id, const std::string& text,
            const std::string& matter = "") {
  Document d;
  d.id = id;
  d.text = text;
  d.matter = matter;
  auto r = idx->Add(d);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

std::set<std::string> Docs(const Index& idx, const std::string& q,
                           SearchOptions o = SearchOptions()) {
  o.mode = SearchMode::kBm25;
  o.top_k = 100;
  o.syntax = QuerySyntax::kConnectors;
  auto hits = idx.Search(q, o);
  EXPECT_TRUE(hits.ok()) << q << ": " << hits.status().ToString();
  std::set<std::string> out;
  if (hits.ok()) {
    for (const auto& h : *hits) out.insert(h.doc_id);
  }
  return out;
}

// Every field of every hit, scores as bits: equal strings mean identical results.
std::string Dump(const Result<std::vector<SearchHit>>& hits) {
  if (!hits.ok()) return "error: " + hits.status().ToString();
  std::string out;
  for (const auto& h : *hits) {
    uint64_t bits[3];
    std::memcpy(&bits[0], &h.score, 8);
    std::memcpy(&bits[1], &h.bm25, 8);
    std::memcpy(&bits[2], &h.dense, 8);
    out += h.chunk_id + "|" + h.doc_id + "|" + std::to_string(bits[0]) + "|" +
           std::to_string(bits[1]) + "|" + std::to_string(bits[2]) + "|" +
           std::to_string(h.duplicates.size()) + "\n";
  }
  return out;
}

void AddContracts(Index* idx) {
  AddDoc(idx, "a",
         "Either party may terminate this Agreement for convenience on thirty days notice. "
         "Termination for convenience requires payment of all fees.");
  AddDoc(
      idx, "b",
      "The Customer may terminate this Agreement for cause. Convenience fees are not refundable.");
  AddDoc(idx, "c",
         "The Supplier shall indemnify the Customer against claims brought by any third party "
         "arising from the Services.\n\nThird parties have no rights under this Agreement.");
  AddDoc(idx, "d",
         "The Supplier shall indemnify the Customer for its own losses. Nothing here benefits "
         "a third party.");
  AddDoc(idx, "e", "Termination of convenience stores is governed by the lease.");
}

TEST(ConnectorSearch, PhrasesMatchWordsInOrder) {
  auto idx = MakeIndex();
  AddContracts(idx.get());
  EXPECT_EQ(Docs(*idx, "\"termination for convenience\""), (std::set<std::string>{"a", "e"}))
      << "stopwords keep their place: 'termination of convenience' matches too (documented)";
  EXPECT_EQ(Docs(*idx, "\"terminate this agreement for convenience\""),
            (std::set<std::string>{"a"}));
  EXPECT_EQ(Docs(*idx, "\"convenience termination\""), (std::set<std::string>{}));
  EXPECT_EQ(Docs(*idx, "\"third party\""), (std::set<std::string>{"c", "d"}));
  // Stemmed like index terms: "third parties" matches "third party".
  EXPECT_EQ(Docs(*idx, "\"third parties\""), (std::set<std::string>{"c", "d"}));
  // A plain query finds more.
  auto plain = idx->Search("termination convenience", [] {
    SearchOptions o;
    o.mode = SearchMode::kBm25;
    return o;
  }());
  ASSERT_TRUE(plain.ok());
  EXPECT_GE(plain->size(), 3u);
}

TEST(ConnectorSearch, ProximitySentenceParagraphAndPrefix) {
  auto idx = MakeIndex();
  AddContracts(idx.get());
  // b: "terminate" and "Convenience" are in different sentences.
  EXPECT_EQ(Docs(*idx, "terminat* /s convenience"), (std::set<std::string>{"a", "e"}));
  EXPECT_EQ(Docs(*idx, "terminat* /p convenience"), (std::set<std::string>{"a", "b", "e"}));
  // /N: within N words, either order.
  EXPECT_EQ(Docs(*idx, "terminate /4 convenience"), (std::set<std::string>{"a", "e"}));
  EXPECT_EQ(Docs(*idx, "convenience /4 terminate"), (std::set<std::string>{"a", "e"}));
  EXPECT_EQ(Docs(*idx, "terminate /1 convenience"), (std::set<std::string>{}));
  EXPECT_EQ(Docs(*idx, "termination /2 convenience"), (std::set<std::string>{"a", "e"}));
  // c: indemnify .. third party within 10 words; d: farther apart.
  EXPECT_EQ(Docs(*idx, "indemnif* /10 \"third party\""), (std::set<std::string>{"c"}));
  EXPECT_EQ(Docs(*idx, "indemnif* /20 \"third party\""), (std::set<std::string>{"c", "d"}));
  // c: the second "third parties" is in the next paragraph.
  EXPECT_EQ(Docs(*idx, "\"third parties\" /p rights"), (std::set<std::string>{"c"}));
  EXPECT_EQ(Docs(*idx, "indemnif* /p rights"), (std::set<std::string>{}));
  // Chains: every connector holds.
  EXPECT_EQ(Docs(*idx, "supplier /3 indemnify /s \"third party\""), (std::set<std::string>{"c"}));
  EXPECT_EQ(Docs(*idx, "supplier /3 indemnify /p \"third party\""),
            (std::set<std::string>{"c", "d"}));
  EXPECT_EQ(Docs(*idx, "supplier /3 indemnify /10 \"third party\""), (std::set<std::string>{"c"}));
  // A lone prefix is optional, like a plain word: it ranks what it expands to.
  EXPECT_EQ(Docs(*idx, "indemnif*"), (std::set<std::string>{"c", "d"}));
  // Two clauses: both required.
  EXPECT_EQ(Docs(*idx, "\"third party\" \"own losses\""), (std::set<std::string>{"d"}));
  // A quoted word is required; a plain word next to it only ranks.
  EXPECT_EQ(Docs(*idx, "\"fees\" supplier"), (std::set<std::string>{"a", "b"}));
}

TEST(ConnectorSearch, PrefixCapsAndUnknownWordsAreNoted) {
  auto idx = MakeIndex();
  std::string text;
  for (int i = 0; i < 80; ++i)
    text += "zq" + std::string(1, static_cast<char>('a' + i % 26)) +
            std::string(1, static_cast<char>('a' + i / 26)) + "x ";
  AddDoc(idx.get(), "z", text);
  SearchOptions o;
  o.syntax = QuerySyntax::kConnectors;
  auto e = idx->ExplainQuery("zq*", o);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->connectors);
  ASSERT_EQ(e->notes.size(), 1u);
  EXPECT_NE(e->notes[0].find("'zq*' matches 80 terms; the 64 most frequent"), std::string::npos)
      << e->notes[0];
  auto u = idx->ExplainQuery("\"unheard words\"", o);
  ASSERT_TRUE(u.ok());
  ASSERT_EQ(u->notes.size(), 2u);
  EXPECT_NE(u->notes[0].find("'unheard' is not in the index"), std::string::npos);
  EXPECT_TRUE(Docs(*idx, "\"unheard words\"").empty());
  auto none = idx->ExplainQuery("qqq*", o);
  ASSERT_TRUE(none.ok());
  ASSERT_EQ(none->notes.size(), 1u);
  EXPECT_NE(none->notes[0].find("no indexed word starts with 'qqq'"), std::string::npos);
}

TEST(ConnectorSearch, AutoFallsBackConnectorsFails) {
  auto idx = MakeIndex();
  AddContracts(idx.get());
  SearchOptions plain;
  plain.mode = SearchMode::kBm25;
  plain.syntax = QuerySyntax::kPlain;
  SearchOptions autos = plain;
  autos.syntax = QuerySyntax::kAuto;
  SearchOptions strict = plain;
  strict.syntax = QuerySyntax::kConnectors;
  std::string many = "\"third party\"";
  for (int i = 0; i < 10000; ++i) many += i % 2 ? " indemnify" : " customer";
  for (const std::string& q :
       {std::string("Can the customer terminate for \"convenience?"),
        std::string("terminate /0 convenience"), std::string("terminate * convenience"),
        std::string("\"the for\" supplier"), many}) {
    // auto: a lawyer's question never fails; it is searched as plain words.
    auto a = idx->Search(q, autos);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(Dump(a), Dump(idx->Search(q, plain))) << q.substr(0, 60);
    auto why = idx->ExplainQuery(q, autos);
    ASSERT_TRUE(why.ok());
    EXPECT_FALSE(why->connectors);
    ASSERT_EQ(why->notes.size(), 1u);
    EXPECT_EQ(why->notes[0].rfind("searched as plain words: ", 0), 0u) << why->notes[0];
    // connectors: the same query is an error that says why.
    auto s = idx->Search(q, strict);
    ASSERT_FALSE(s.ok()) << q.substr(0, 60);
    EXPECT_TRUE(s.status().IsInvalidArgument());
    EXPECT_EQ(idx->ExplainQuery(q, strict).status().ToString(), s.status().ToString());
  }
  // 10,000 plain words: the plain path, in every syntax.
  std::string words;
  for (int i = 0; i < 10000; ++i) words += i % 2 ? " indemnify" : " customer";
  EXPECT_EQ(Dump(idx->Search(words, strict)), Dump(idx->Search(words, plain)));
  EXPECT_FALSE(idx->Search(words, plain)->empty());
}

TEST(ConnectorSearch, QueriesWithoutOperatorsAreBitIdentical) {
  // A corpus of random contract-like text, queries of random words, every
  // search path: bm25 and hybrid, filters, walls, one per document.
  std::mt19937 rng(42);
  const std::vector<std::string> vocab = {
      "terminate", "termination", "convenience", "notice",       "days",        "party",
      "third",     "indemnify",   "losses",      "claims",       "supplier",    "customer",
      "agreement", "fees",        "payment",     "confidential", "information", "disclose",
      "governing", "law",         "delaware",    "assignment",   "consent",     "the",
      "of",        "for",         "may",         "shall",        "not",         "any",
      "written",   "breach",      "cure",        "period",       "term",        "renewal",
      "liability", "cap",         "insurance",   "audit",        "records"};
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kStatic;
  o.dense.dimension = 16;
  auto made = Index::Create(o);
  ASSERT_TRUE(made.ok());
  Index& idx = **made;
  for (int d = 0; d < 60; ++d) {
    std::string text;
    int n = 40 + static_cast<int>(rng() % 200);
    for (int w = 0; w < n; ++w) {
      text += vocab[rng() % vocab.size()];
      text += (rng() % 9 == 0) ? ". " : " ";
    }
    Document doc;
    doc.id = "doc" + std::to_string(d);
    doc.text = text;
    doc.matter = d % 3 == 0 ? "acme" : (d % 3 == 1 ? "beta" : "");
    doc.metadata["group"] = {std::to_string(d % 5)};
    ASSERT_TRUE(idx.Add(doc).ok());
  }
  auto built = idx.BuildDense();
  ASSERT_TRUE(built.ok()) << built.ToString();
  for (int q = 0; q < 200; ++q) {
    std::string query;
    int n = 1 + static_cast<int>(rng() % 6);
    for (int w = 0; w < n; ++w) query += (w ? " " : "") + vocab[rng() % vocab.size()];
    if (q % 7 == 0) query = "Can the customer " + query + "?";
    SearchOptions so;
    so.mode = q % 2 ? SearchMode::kBm25 : SearchMode::kHybrid;
    so.top_k = 1 + q % 20;
    if (q % 3 == 0) so.allowed_matters = std::set<std::string>{"acme"};
    if (q % 4 == 0) so.filters.push_back(*Filter::Parse("group=" + std::to_string(q % 5)));
    so.one_per_document = q % 5 == 0;
    SearchOptions plain = so;
    plain.syntax = QuerySyntax::kPlain;
    for (QuerySyntax syntax : {QuerySyntax::kAuto, QuerySyntax::kConnectors}) {
      so.syntax = syntax;
      EXPECT_EQ(Dump(idx.Search(query, so)), Dump(idx.Search(query, plain))) << query;
    }
  }
}

TEST(ConnectorSearch, WallsAndFiltersHold) {
  auto idx = MakeIndex();
  AddDoc(idx.get(), "acme-1", "Termination for convenience needs ninety days notice.", "acme");
  AddDoc(idx.get(), "beta-1", "Termination for convenience needs thirty days notice.", "beta");
  AddDoc(idx.get(), "open-1", "Termination for convenience is not allowed.", "");
  SearchOptions o;
  o.allowed_matters = std::set<std::string>{"acme"};
  EXPECT_EQ(Docs(*idx, "\"termination for convenience\"", o),
            (std::set<std::string>{"acme-1", "open-1"}));
  EXPECT_EQ(Docs(*idx, "terminat* /s notice", o), (std::set<std::string>{"acme-1"}));
  SearchOptions f;
  f.filters.push_back(*Filter::Parse("id=beta-1"));
  EXPECT_EQ(Docs(*idx, "\"termination for convenience\"", f), (std::set<std::string>{"beta-1"}));
  f.allowed_matters = std::set<std::string>{"acme"};
  EXPECT_TRUE(Docs(*idx, "\"termination for convenience\"", f).empty());
  // Walled statistics: documents added to another matter change no score
  // the acme user sees.
  SearchOptions w;
  w.mode = SearchMode::kBm25;
  w.syntax = QuerySyntax::kConnectors;
  w.allowed_matters = std::set<std::string>{"acme"};
  std::string before = Dump(idx->Search("\"termination for convenience\" notice", w));
  for (int i = 0; i < 20; ++i) {
    AddDoc(idx.get(), "beta-x" + std::to_string(i),
           "Notice of termination for convenience. Notice.", "beta");
  }
  EXPECT_EQ(Dump(idx->Search("\"termination for convenience\" notice", w)), before);
}

TEST(ConnectorSearch, UpdatesAndDeletesKeepPositionsRight) {
  auto idx = MakeIndex();
  AddContracts(idx.get());
  ASSERT_TRUE(idx->Remove("a").ok());
  EXPECT_EQ(Docs(*idx, "\"termination for convenience\""), (std::set<std::string>{"e"}));
  // Replaced by another text under the same id.
  AddDoc(idx.get(), "e", "Stores may close for convenience. Termination follows.");
  EXPECT_TRUE(Docs(*idx, "\"termination for convenience\"").empty());
  EXPECT_EQ(Docs(*idx, "close /3 convenience"), (std::set<std::string>{"e"}));
  AddDoc(idx.get(), "a", "Termination for convenience is allowed.");
  EXPECT_EQ(Docs(*idx, "\"termination for convenience\""), (std::set<std::string>{"a"}));
  EXPECT_GT(idx->Stats().position_bytes, 0u);
}

TEST(ConnectorSearch, SnapshotRoundTripKeepsPositions) {
  auto idx = MakeIndex();
  AddContracts(idx.get());
  ASSERT_TRUE(idx->Remove("b").ok());  // chunks and terms renumbered in the snapshot
  AddDoc(idx.get(), "f", "Supplier agrees to indemnify any third party. Zebra terms.");
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto back = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (const char* q : {"\"termination for convenience\"", "terminat* /s convenience",
                        "indemnif* /10 \"third party\"", "\"third parties\" /p rights", "zebr*",
                        "convenience /p fees"}) {
    SearchOptions o;
    o.mode = SearchMode::kBm25;
    o.syntax = QuerySyntax::kConnectors;
    EXPECT_EQ(Dump((*back)->Search(q, o)), Dump(idx->Search(q, o))) << q;
  }
  EXPECT_EQ(Docs(**back, "indemnif* /10 \"third party\""), (std::set<std::string>{"c", "f"}));
  EXPECT_GT((*back)->Stats().position_bytes, 0u);
  // Saved again, byte for byte.
  auto again = (*back)->Snapshot();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *bytes);
}

// A format-1 snapshot: the format-2 payload without positions, under the
// version-1 header (format 1 is exactly that: fields 5-9 of Lexical and
// IndexOptions.no_positions came with format 2).
std::string AsFormat1(const Index& index) {
  const std::string v2 = testing::AsFormat2(index);
  pb::Snapshot snap;
  EXPECT_TRUE(snap.ParseFromArray(v2.data() + 20, static_cast<int>(v2.size() - 20)));
  snap.set_format_version(1);
  pb::Lexical* lex = snap.mutable_lexical();
  lex->clear_has_positions();
  lex->clear_positions();
  lex->clear_position_offsets();
  lex->clear_words();
  lex->clear_word_terms();
  std::string payload;
  EXPECT_TRUE(snap.SerializeToString(&payload));
  return testing::SealSnapshot(1, payload);
}

TEST(ConnectorSearch, OldSnapshotsLoadWithoutPositions) {
  auto idx = MakeIndex();
  AddContracts(idx.get());
  auto old = Index::FromSnapshot(AsFormat1(*idx));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ((*old)->Stats().position_bytes, 0u);
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  // Plain queries rank as before.
  for (const char* q : {"termination convenience", "third party indemnify"}) {
    EXPECT_EQ(Dump((*old)->Search(q, o)), Dump(idx->Search(q, o)));
  }
  // Connectors: a clear error; auto: plain words with the reason.
  o.syntax = QuerySyntax::kConnectors;
  auto s = (*old)->Search("\"termination for convenience\"", o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().code() == Status::Code::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("rebuild the index"), std::string::npos);
  o.syntax = QuerySyntax::kAuto;
  SearchOptions p = o;
  p.syntax = QuerySyntax::kPlain;
  EXPECT_EQ(Dump((*old)->Search("\"termination for convenience\"", o)),
            Dump((*old)->Search("\"termination for convenience\"", p)));
  auto why = (*old)->ExplainQuery("terminat* /s convenience", o);
  ASSERT_TRUE(why.ok());
  ASSERT_EQ(why->notes.size(), 1u);
  EXPECT_NE(why->notes[0].find("rebuild the index"), std::string::npos);
  // Documents added afterwards do not make the index whole: still refused.
  AddDoc(old->get(), "n", "Termination for convenience.");
  o.syntax = QuerySyntax::kConnectors;
  EXPECT_TRUE((*old)->Search("\"termination for convenience\"", o).status().code() ==
              Status::Code::kFailedPrecondition);
  // Saved again, it is a format-2 snapshot still without positions.
  auto resaved = (*old)->Snapshot();
  ASSERT_TRUE(resaved.ok());
  auto reloaded = Index::FromSnapshot(*resaved);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_TRUE((*reloaded)->Search("\"termination for convenience\"", o).status().code() ==
              Status::Code::kFailedPrecondition);
}

TEST(ConnectorSearch, PositionsCanBeTurnedOff) {
  auto with = MakeIndex(true);
  auto without = MakeIndex(false);
  AddContracts(with.get());
  AddContracts(without.get());
  EXPECT_EQ(without->Stats().position_bytes, 0u);
  EXPECT_GT(with->Stats().position_bytes, 0u);
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  EXPECT_EQ(Dump(without->Search("termination convenience", o)),
            Dump(with->Search("termination convenience", o)));
  o.syntax = QuerySyntax::kConnectors;
  auto s = without->Search("\"third party\"", o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().code() == Status::Code::kFailedPrecondition);
  auto bytes = without->Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto back = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE((*back)->options().bm25.positions);
  EXPECT_LT(bytes->size(), with->Snapshot()->size());
}

// Format 2's positions (format 3's: Snapshot.DamagedLexicalPiecesAreCorruption).
TEST(ConnectorSearch, CorruptPositionsAreRefused) {
  auto idx = MakeIndex();
  AddContracts(idx.get());
  auto bytes = testing::AsFormat2(*idx);
  ASSERT_FALSE(bytes.empty());
  pb::Snapshot snap;
  ASSERT_TRUE(snap.ParseFromArray(bytes.data() + 20, static_cast<int>(bytes.size() - 20)));
  ASSERT_TRUE(Index::FromSnapshot(bytes).ok());
  auto rewrap = [](const pb::Snapshot& s) {
    std::string payload;
    s.SerializeToString(&payload);
    return testing::SealSnapshot(2, payload);
  };
  {
    pb::Snapshot bad = snap;
    std::string p = bad.lexical().positions();
    p[p.size() / 2] = '\x7f';  // a term id past the dictionary
    bad.mutable_lexical()->set_positions(p);
    auto r = Index::FromSnapshot(rewrap(bad));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption());
  }
  {
    pb::Snapshot bad = snap;
    bad.mutable_lexical()->set_position_offsets("abc");
    EXPECT_TRUE(Index::FromSnapshot(rewrap(bad)).status().IsCorruption());
  }
  {
    pb::Snapshot bad = snap;
    std::string wt = bad.lexical().word_terms();
    wt[0] = '\xff';
    wt[1] = '\xff';
    bad.mutable_lexical()->set_word_terms(wt);
    EXPECT_TRUE(Index::FromSnapshot(rewrap(bad)).status().IsCorruption());
  }
}

TEST(ConnectorSearch, HybridSearchKeepsTheConstraint) {
  IndexOptions o;
  o.dense.dimension = 16;
  auto made = Index::Create(o);
  ASSERT_TRUE(made.ok());
  Index& idx = **made;
  AddContracts(&idx);
  // Enough words for the static embedder to train on.
  const char* filler[] = {
      "invoice",   "delivery",    "schedule",     "warranty",    "audit",    "records", "insurance",
      "liability", "renewal",     "term",         "notice",      "payment",  "fees",    "price",
      "goods",     "services",    "customer",     "supplier",    "breach",   "cure",    "period",
      "written",   "consent",     "assignment",   "governing",   "law",      "court",   "venue",
      "dispute",   "arbitration", "confidential", "information", "disclose", "return"};
  for (int i = 0; i < 40; ++i) {
    std::string text;
    for (int w = 0; w < 25; ++w) text += std::string(filler[(i * 7 + w * 3) % 34]) + " ";
    AddDoc(&idx, "filler" + std::to_string(i), text);
  }
  auto built = idx.BuildDense();
  ASSERT_TRUE(built.ok()) << built.ToString();
  SearchOptions so;
  so.mode = SearchMode::kHybrid;
  so.syntax = QuerySyntax::kConnectors;
  auto hits = idx.Search("\"third party\"", so);
  ASSERT_TRUE(hits.ok());
  std::set<std::string> docs;
  for (const auto& h : *hits) docs.insert(h.doc_id);
  EXPECT_EQ(docs, (std::set<std::string>{"c", "d"}));
}

}  // namespace
}  // namespace foldback
