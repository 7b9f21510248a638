// Distinct results: near-duplicate collapse, searching deeper for top-k
// distinct passages, short passages on the dense side, fusion with tie
// blocks, mail role weights — and walls holding through all of it.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "external_vectors.h"
#include "foldback/index.h"

namespace foldback {
namespace {

const char* kBoilerplate =
    "This message and any attachments are confidential and may be privileged. If you are not the "
    "intended recipient please notify the sender and delete this message from your system.";

Document Doc(std::string id, std::string text, std::string matter = "", std::string title = "") {
  Document d;
  d.id = std::move(id);
  d.text = std::move(text);
  d.matter = std::move(matter);
  d.title = std::move(title);
  return d;
}

std::unique_ptr<Index> Lexical() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  return std::move(idx.value());
}

SearchOptions Bm25(size_t k) {
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = k;
  return o;
}

std::set<std::string> Texts(const std::vector<SearchHit>& hits) {
  std::set<std::string> out;
  for (const auto& h : hits) out.insert(h.text);
  return out;
}

TEST(Distinct, IdenticalPassagesCollapseIntoTheBestOne) {
  auto idx = Lexical();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(idx->Add(Doc("mail" + std::to_string(i), kBoilerplate)).ok());
  }
  ASSERT_TRUE(
      idx->Add(Doc("memo", "The recipient list for the confidential memo is attached.")).ok());
  auto hits = idx->Search("confidential recipient message", Bm25(3));
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);  // the boilerplate once, the memo once
  EXPECT_EQ(Texts(*hits).size(), 2u);
  const SearchHit& boiler = (*hits)[0].text == kBoilerplate ? (*hits)[0] : (*hits)[1];
  EXPECT_EQ(boiler.duplicates.size(), 4u);
  for (const auto& id : boiler.duplicates) EXPECT_NE(id, boiler.chunk_id);

  // Without collapse the same search returns the copies.
  SearchOptions off = Bm25(3);
  off.collapse_jaccard = 0;
  auto raw = idx->Search("confidential recipient message", off);
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 3u);
  EXPECT_LT(Texts(*raw).size(), 3u);
}

TEST(Distinct, NearIdenticalClausesCollapseDifferentOnesDoNot) {
  auto idx = Lexical();
  const std::string clause =
      "Either party may terminate this Agreement for any reason upon thirty days prior written "
      "notice "
      "to the other party, and upon termination all fees accrued through the effective date of "
      "termination become due and payable within fifteen days of the invoice date.";
  std::string near = clause;
  near.replace(near.find("thirty"), 6, "sixty");  // one word changed
  ASSERT_TRUE(idx->Add(Doc("template-a", clause)).ok());
  ASSERT_TRUE(idx->Add(Doc("template-b", near)).ok());
  ASSERT_TRUE(idx->Add(Doc("other",
                           "Customer may terminate this Agreement immediately upon notice if "
                           "Provider breaches its confidentiality obligations."))
                  .ok());
  auto hits = idx->Search("terminate agreement notice", Bm25(5));
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  std::set<std::string> docs;
  for (const auto& h : *hits) docs.insert(h.doc_id);
  EXPECT_TRUE(docs.count("other"));
  size_t folded = 0;
  for (const auto& h : *hits) folded += h.duplicates.size();
  EXPECT_EQ(folded, 1u);
}

TEST(Distinct, SearchesDeeperForTopKDistinctPassages) {
  auto idx = Lexical();
  // 300 copies of a line that matches the query best, then six different
  // passages that match it less well.
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(
        idx->Add(Doc("news" + std::to_string(i), ">>more related articles on translation..."))
            .ok());
  }
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(
        idx->Add(Doc("doc" + std::to_string(i), "Clause " + std::to_string(i) +
                                                    " about the translation of the manual into "
                                                    "French, German and Spanish versions."))
            .ok());
  }
  SearchOptions o = Bm25(5);
  o.candidates = 10;  // far fewer than the copies: the search must go deeper
  auto hits = idx->Search("more related articles translation", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 5u);
  EXPECT_EQ(Texts(*hits).size(), 5u);
  EXPECT_EQ((*hits)[0].text, ">>more related articles on translation...");
  EXPECT_EQ((*hits)[0].duplicates.size(), 299u);

  // Hybrid falls back to the same lexical path without a dense index, and
  // one_per_document keeps every document (no collapse there).
  SearchOptions per_doc = Bm25(5);
  per_doc.one_per_document = true;
  auto docs = idx->Search("more related articles translation", per_doc);
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 5u);
  for (const auto& h : *docs) EXPECT_EQ(h.text, ">>more related articles on translation...");
}

TEST(Distinct, QuotedAndSignatureChunksAreDownWeighted) {
  auto idx = Lexical();
  Document original = Doc("orig", "The indemnity cap should be twelve months of fees.\n");
  original.kind = DocKind::kEmail;
  Document reply =
      Doc("reply",
          "Agreed, please send the draft.\n\n"
          "On Mon, 3 Mar 2025, Anna wrote:\n"
          "> The indemnity cap should be twelve months of fees, and the cap should cover "
          "indemnity claims too.\n");
  reply.kind = DocKind::kEmail;
  ASSERT_TRUE(idx->Add(original).ok());
  ASSERT_TRUE(idx->Add(reply).ok());
  SearchOptions o = Bm25(5);
  o.collapse_jaccard = 0;
  auto hits = idx->Search("indemnity cap", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_GE(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].doc_id, "orig");
  bool saw_quoted = false;
  for (const auto& h : *hits) {
    const Chunk* c = idx->FindChunk(h.chunk_id);
    ASSERT_NE(c, nullptr);
    if (c->role == ChunkRole::kQuoted) {
      saw_quoted = true;
      EXPECT_NEAR(h.score, h.bm25 * o.quoted_weight, 1e-9);
    }
  }
  EXPECT_TRUE(saw_quoted);
  // Unweighted, the quoted text (more matches) ranks first: the weight is what
  // puts the message's own words ahead.
  o.quoted_weight = 1;
  auto unweighted = idx->Search("indemnity cap", o);
  ASSERT_TRUE(unweighted.ok());
  EXPECT_EQ((*unweighted)[0].doc_id, "reply");
}

TEST(Distinct, AMessageWithoutBodyTextIsFoundBySubject) {
  auto idx = Lexical();
  Document html_only = Doc("html-only", "", "", "Quarterly gas storage report");
  html_only.kind = DocKind::kEmail;
  auto added = idx->Add(html_only);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->chunks, 1u);
  Document other = Doc("other", "Storage of documents in the archive room.", "", "Archive");
  other.kind = DocKind::kEmail;
  ASSERT_TRUE(idx->Add(other).ok());
  auto hits = idx->Search("gas storage report", Bm25(5));
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].doc_id, "html-only");
  EXPECT_EQ((*hits)[0].title, "Quarterly gas storage report");
  // It survives a snapshot and can be removed.
  auto snap = idx->Snapshot();
  ASSERT_TRUE(snap.ok());
  auto back = Index::FromSnapshot(*snap);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  auto again = (*back)->Search("gas storage report", Bm25(5));
  ASSERT_TRUE(again.ok());
  ASSERT_FALSE(again->empty());
  EXPECT_EQ((*again)[0].doc_id, "html-only");
  ASSERT_TRUE((*back)->Remove("html-only").ok());
  auto gone = (*back)->Search("gas storage report", Bm25(5));
  ASSERT_TRUE(gone.ok());
  for (const auto& h : *gone) EXPECT_NE(h.doc_id, "html-only");
  // A document that is not mail still yields no chunk for an empty text.
  auto plain = idx->Add(Doc("plain-empty", "", "", "A title"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->chunks, 0u);
}

// ------------------------------------------------------------ dense side

using testing::External;  // tests/support/external_vectors.h
using testing::SetVector;

SearchOptions Hybrid(size_t k, Fusion f) {
  SearchOptions o;
  o.top_k = k;
  o.fusion = f;
  o.query_vector = {1, 0, 0, 0};
  return o;
}

TEST(Distinct, AFewWordsDoNotOutrankTheFullMatch) {
  for (Fusion f : {Fusion::kWeightedSum, Fusion::kRrf}) {
    auto idx = External();
    // The full match: every query word, a long passage, a middling vector.
    ASSERT_TRUE(
        idx->Add(Doc("message",
                     "Please find the translation of the articles we discussed, reviewed by "
                     "counsel and ready for filing with the court next week.",
                     "", "Translation of articles"))
            .ok());
    // A three-word line whose vector sits right on the query's.
    ASSERT_TRUE(idx->Add(Doc("newsletter", ">>more related articles...")).ok());
    ASSERT_TRUE(idx->Add(Doc("other1",
                             "Articles of incorporation filed with the state office "
                             "together with the bylaws of the company."))
                    .ok());
    ASSERT_TRUE(idx->Add(Doc("other2",
                             "The court granted the motion to dismiss the claims brought "
                             "against the directors last year."))
                    .ok());
    SetVector(idx.get(), "message", {0.55f, 0.83f, 0, 0});
    SetVector(idx.get(), "newsletter", {1, 0.02f, 0, 0});
    SetVector(idx.get(), "other1", {0.6f, 0, 0.8f, 0});
    SetVector(idx.get(), "other2", {0, 0, 0, 1});
    auto hits = idx->Search("Translation of articles", Hybrid(3, f));
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ((*hits)[0].doc_id, "message") << FusionName(f);
    // Its dense similarity is reported although it was compared, not searched for.
    EXPECT_GT((*hits)[0].dense, 0.5) << FusionName(f);
  }
}

TEST(Distinct, RrfTieBlockDoesNotBuryTheOtherSidesWinner) {
  auto idx = External();
  // Lexical: the winner has both query words; five different one-word
  // passages (collapse cannot help: they differ) tie on the dense side.
  ASSERT_TRUE(idx->Add(Doc("winner",
                           "Termination notice: either party may end the contract with "
                           "ninety days written notice to the other party."))
                  .ok());
  ASSERT_TRUE(idx->Add(Doc("second",
                           "Termination for cause follows a material breach that remains "
                           "uncured after the cure period described above."))
                  .ok());
  const char* shorts[] = {"Notice alpha given here today by the clerk of the county.",
                          "Notice bravo given here today by the agent of the buyer.",
                          "Notice charlie given here today by the officer of the bank.",
                          "Notice delta given here today by the mayor of the town.",
                          "Notice echo given here today by the captain of the ship."};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(idx->Add(Doc("tie" + std::to_string(i), shorts[i])).ok());
  SetVector(idx.get(), "winner", {0.6f, 0.8f, 0, 0});
  SetVector(idx.get(), "second", {0.2f, 0, 0.98f, 0});
  for (int i = 0; i < 5; ++i) SetVector(idx.get(), "tie" + std::to_string(i), {1, 0, 0, 0});
  SearchOptions o = Hybrid(3, Fusion::kRrf);
  o.collapse_jaccard = 0;
  auto hits = idx->Search("termination notice", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].doc_id, "winner");
}

// ------------------------------------------------------------ walls

TEST(Distinct, WallsHoldThroughCollapse) {
  for (EmbedderKind e : {EmbedderKind::kNone, EmbedderKind::kStatic}) {
    IndexOptions io;
    io.dense.embedder = e;
    io.dense.dimension = 16;
    auto made = Index::Create(io);
    ASSERT_TRUE(made.ok());
    Index& idx = **made;
    const std::string clause =
        "Either party may terminate this Agreement upon thirty days written notice to the other "
        "party.";
    // The walled matter's copy ranks first when the wall is down (its title
    // adds query words to its chunk); the visible copy ranks below it.
    ASSERT_TRUE(
        idx.Add(Doc("walled-contract", clause, "walled", "Termination notice terminate")).ok());
    ASSERT_TRUE(idx.Add(Doc("visible-contract", clause, "visible")).ok());
    const char* goods[] = {"steel",  "grain",  "timber", "copper",
                           "cotton", "coffee", "sugar",  "glass"};
    const char* places[] = {"warehouse", "port", "depot", "plant", "yard"};
    const char* extra[] = {"january",  "february", "march",  "april",     "may",
                           "june",     "july",     "august", "september", "october",
                           "november", "december", "north",  "south",     "east",
                           "west",     "harbor",   "river",  "valley",    "bridge"};
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(idx.Add(Doc("filler" + std::to_string(i),
                              std::string("The supplier delivers ") + goods[i % 8] + " to the " +
                                  places[i % 5] +
                                  " each month, with notice of shipment and an invoice "
                                  "for the " +
                                  goods[(i + 3) % 8] + " received. " + extra[i % 20] + " " +
                                  extra[(i + 7) % 20] + ".",
                              "visible"))
                      .ok());
    }
    if (e == EmbedderKind::kStatic) {
      Status built = idx.BuildDense();
      ASSERT_TRUE(built.ok()) << built.ToString();
    }
    SearchOptions open;
    open.mode = e == EmbedderKind::kNone ? SearchMode::kBm25 : SearchMode::kHybrid;
    open.top_k = 3;
    auto all = idx.Search("terminate with notice", open);
    ASSERT_TRUE(all.ok());
    ASSERT_FALSE(all->empty());
    // Wall down: the walled copy stands for both.
    EXPECT_EQ((*all)[0].doc_id, "walled-contract");
    ASSERT_EQ((*all)[0].duplicates.size(), 1u);

    SearchOptions walled = open;
    walled.allowed_matters = std::set<std::string>{"visible"};
    auto hits = idx.Search("terminate with notice", walled);
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    // The visible copy is not dropped for its walled twin, and nothing of the
    // walled matter stands in for it or is counted among its duplicates.
    EXPECT_EQ((*hits)[0].doc_id, "visible-contract");
    EXPECT_EQ((*hits)[0].text, clause);
    for (const auto& h : *hits) {
      EXPECT_NE(h.matter, "walled");
      for (const auto& d : h.duplicates) {
        const Chunk* c = idx.FindChunk(d);
        ASSERT_NE(c, nullptr);
        EXPECT_NE(c->doc_id, "walled-contract");
      }
    }
  }
}

// Index::Search's second form overwrites the caller's hits in place (their
// strings keep their capacity): a vector reused across searches of every
// shape must hold exactly what a fresh search returns — no field, folded
// duplicate or surplus hit left over from the search before.
TEST(Distinct, ReusedHitsEqualAFreshSearch) {
  auto idx = Lexical();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(idx->Add(Doc("mail" + std::to_string(i), kBoilerplate, i % 2 ? "m1" : "m2",
                             "Mail " + std::to_string(i)))
                    .ok());
  }
  for (int i = 0; i < 12; ++i) {
    std::string text = "Clause " + std::to_string(i) + ": the supplier shall deliver the goods " +
                       std::string(static_cast<size_t>(i) * 7, 'x') +
                       " within thirty days, and the confidential recipient shall pay.";
    ASSERT_TRUE(idx->Add(Doc("contract" + std::to_string(i), text, i % 3 ? "m1" : "m3",
                             "A long contract title number " + std::to_string(i)))
                    .ok());
  }
  struct Case {
    std::string query;
    SearchOptions options;
  };
  std::vector<Case> cases;
  cases.push_back({"confidential recipient message", Bm25(10)});  // duplicates folded
  cases.push_back({"supplier goods", Bm25(3)});                   // fewer hits, longer texts
  SearchOptions wide = Bm25(20);
  wide.collapse_jaccard = 0;
  cases.push_back({"confidential recipient", wide});  // more hits than ever before
  SearchOptions per_doc = Bm25(5);
  per_doc.one_per_document = true;
  cases.push_back({"deliver goods thirty days", per_doc});
  SearchOptions walled = Bm25(10);
  walled.allowed_matters = std::set<std::string>{"m3"};
  cases.push_back({"confidential recipient message", walled});
  cases.push_back({"zebra", Bm25(10)});  // nothing: the vector empties
  cases.push_back({"confidential recipient message", Bm25(10)});

  std::vector<SearchHit> reused;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.query);
    auto fresh = idx->Search(c.query, c.options);
    ASSERT_TRUE(fresh.ok());
    ASSERT_TRUE(idx->Search(c.query, c.options, &reused).ok());
    ASSERT_EQ(reused.size(), fresh->size());
    for (size_t i = 0; i < reused.size(); ++i) {
      const SearchHit& a = reused[i];
      const SearchHit& b = (*fresh)[i];
      EXPECT_EQ(a.chunk_id, b.chunk_id);
      EXPECT_EQ(a.doc_id, b.doc_id);
      EXPECT_EQ(a.score, b.score);
      EXPECT_EQ(a.bm25, b.bm25);
      EXPECT_EQ(a.dense, b.dense);
      EXPECT_EQ(a.duplicates, b.duplicates);
      EXPECT_EQ(a.text, b.text);
      EXPECT_EQ(a.title, b.title);
      EXPECT_EQ(a.section, b.section);
      EXPECT_EQ(a.matter, b.matter);
    }
  }
  // The first case folds duplicates, so the check above saw them.
  auto first = idx->Search(cases[0].query, cases[0].options);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->empty());
  EXPECT_FALSE(first->front().duplicates.empty());
  // Errors are the first form's.
  SearchOptions bad = Bm25(10);
  bad.filters.push_back({"no_such_field", Filter::Op::kEq, "x"});
  EXPECT_EQ(idx->Search("supplier", bad, &reused).code(),
            idx->Search("supplier", bad).status().code());
  SearchOptions none = Bm25(0);
  EXPECT_TRUE(idx->Search("supplier", none, &reused).ok());
  EXPECT_TRUE(reused.empty());
}

}  // namespace
}  // namespace foldback
