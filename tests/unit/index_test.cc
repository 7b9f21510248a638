#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <google/protobuf/io/coded_stream.h>

#include "foldback/index.h"
#include "index/index_internal.h"
#include "text/analyzer.h"
#include "snapshot.pb.h"
#include "snapshot_envelope.h"
#include "snapshot_format2.h"
#include "store/lexical_pieces.h"
#include "test_budget.h"

namespace foldback {
namespace {

IndexOptions LexicalOnly() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  return o;
}

Document Doc(std::string id, std::string text, std::string matter = "") {
  Document d;
  d.id = std::move(id);
  d.text = std::move(text);
  d.matter = std::move(matter);
  return d;
}

std::unique_ptr<Index> SmallIndex() {
  auto idx = Index::Create(LexicalOnly());
  EXPECT_TRUE(idx.ok());
  auto& i = *idx;
  EXPECT_TRUE(i->Add(Doc("a", "The Supplier shall indemnify the Customer against third party claims.", "m1")).ok());
  EXPECT_TRUE(i->Add(Doc("b", "This Agreement is governed by the laws of New York.", "m2")).ok());
  Document c = Doc("c", "Either party may terminate this Agreement for convenience on 30 days notice.");
  c.metadata["jurisdiction"] = {"Delaware"};
  EXPECT_TRUE(i->Add(c).ok());
  return std::move(idx.value());
}

SearchOptions Bm25(size_t k = 10) {
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = k;
  return o;
}

TEST(Index, FindsTheRightClause) {
  auto idx = SmallIndex();
  auto hits = idx->Search("indemnification of claims", Bm25());
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].doc_id, "a");
  EXPECT_GT((*hits)[0].score, 0);
}

// A hit FillHitText filled: the fields the full search gave hit `i`.
void ExpectFilledAs(const SearchHit& got, const SearchHit& want, size_t i) {
  EXPECT_EQ(got.chunk_id, want.chunk_id) << i;
  EXPECT_EQ(got.doc_id, want.doc_id) << i;
  EXPECT_EQ(got.text, want.text) << i;
  EXPECT_EQ(got.title, want.title) << i;
  EXPECT_EQ(got.section, want.section) << i;
  EXPECT_EQ(got.matter, want.matter) << i;
  EXPECT_EQ(got.score, want.score) << i;
}

// Hits without their text (SearchOptions::hit_text off) are the same hits,
// ids, scores and order; FillHitText gives each the fields the full search
// gave it, into a hit that held another chunk's (the binding's kept vector).
TEST(Index, HitsWithoutTextFilledLaterAreTheFullHits) {
  auto idx = SmallIndex();
  Document d = Doc("d", "Supplier indemnity: the Supplier shall defend third party claims.", "m1");
  d.title = "Indemnity";
  ASSERT_TRUE(idx->Add(d).ok());
  SearchOptions o = Bm25();
  auto full = idx->Search("supplier indemnify claims agreement", o);
  ASSERT_TRUE(full.ok());
  ASSERT_GE(full->size(), 3u);
  o.hit_text = false;
  std::vector<SearchHit> bare(1);
  bare[0].text = "left over from another search";
  ASSERT_TRUE(idx->Search("supplier indemnify claims agreement", o, &bare).ok());
  ASSERT_EQ(bare.size(), full->size());
  for (size_t i = 0; i < bare.size(); ++i) {
    const SearchHit& f = (*full)[i];
    SearchHit& b = bare[i];
    EXPECT_EQ(b.chunk_id, f.chunk_id);
    EXPECT_EQ(b.doc_id, f.doc_id);
    EXPECT_EQ(b.score, f.score);
    EXPECT_EQ(b.bm25, f.bm25);
    EXPECT_EQ(b.chunk, f.chunk);
    EXPECT_TRUE(b.text.empty() && b.title.empty() && b.section.empty() && b.matter.empty()) << i;
    b.text = (*full)[(i + 1) % full->size()].text;
    b.title = "stale";
    ASSERT_TRUE(idx->FillHitText(&b).ok());
    ExpectFilledAs(b, f, i);
  }
  SearchHit gone;
  gone.chunk_id = "no such chunk";
  EXPECT_EQ(gone.chunk, SearchHit::kNoChunk);
  EXPECT_TRUE(idx->FillHitText(&gone).IsNotFound());
  EXPECT_TRUE(gone.text.empty());

  // Without the ids too (SearchOptions::hit_ids off): the same hits, known
  // by position only, and FillHitText gives each its ids with its text.
  o.hit_ids = false;
  std::vector<SearchHit> anonymous(2);
  anonymous[0].chunk_id = "left over";
  ASSERT_TRUE(idx->Search("supplier indemnify claims agreement", o, &anonymous).ok());
  ASSERT_EQ(anonymous.size(), full->size());
  for (size_t i = 0; i < anonymous.size(); ++i) {
    const SearchHit& f = (*full)[i];
    SearchHit& a = anonymous[i];
    EXPECT_TRUE(a.chunk_id.empty() && a.doc_id.empty() && a.text.empty()) << i;
    EXPECT_EQ(a.chunk, f.chunk);
    EXPECT_EQ(a.score, f.score);
    ASSERT_TRUE(idx->FillHitText(&a).ok());
    ExpectFilledAs(a, f, i);
  }
  SearchHit nowhere;
  nowhere.chunk = 1000000;
  EXPECT_TRUE(idx->FillHitText(&nowhere).IsNotFound());
  EXPECT_TRUE(nowhere.chunk_id.empty() && nowhere.text.empty());
  // A removed document's chunks are no position to fill from.
  SearchHit of_d = *std::find_if(full->begin(), full->end(),
                                 [](const SearchHit& h) { return h.doc_id == "d"; });
  ASSERT_TRUE(idx->Remove("d").ok());
  of_d.chunk_id.clear();
  EXPECT_TRUE(idx->FillHitText(&of_d).IsNotFound());
}

// SearchHit::chunk names one chunk for as long as the index is unchanged:
// the same chunk the same position in every search and form, two chunks
// never one (the JS binding keys the hits it has handed out by it).
TEST(Index, AHitsChunkPositionNamesOneChunk) {
  auto idx = SmallIndex();
  ASSERT_TRUE(idx->Add(Doc("d", "Supplier indemnity: the Supplier shall defend claims.", "m1")).ok());
  std::map<std::string, uint32_t> position;
  std::map<uint32_t, std::string> id;
  SearchOptions o = Bm25();
  for (const char* q : {"supplier indemnify claims", "terminate agreement notice", "governed law"}) {
    for (bool text : {true, false}) {
      o.hit_text = text;
      std::vector<SearchHit> hits;
      ASSERT_TRUE(idx->Search(q, o, &hits).ok());
      ASSERT_FALSE(hits.empty()) << q;
      for (SearchHit& h : hits) {
        ASSERT_NE(h.chunk, SearchHit::kNoChunk);
        EXPECT_EQ(position.emplace(h.chunk_id, h.chunk).first->second, h.chunk) << h.chunk_id;
        EXPECT_EQ(id.emplace(h.chunk, h.chunk_id).first->second, h.chunk_id) << h.chunk;
        if (!text) {
          ASSERT_TRUE(idx->FillHitText(&h).ok());
          EXPECT_EQ(position.at(h.chunk_id), h.chunk);
        }
      }
    }
  }
  EXPECT_GE(position.size(), 3u);
}

TEST(Index, EthicalWallExcludesOtherMattersInsideSearch) {
  auto idx = SmallIndex();
  SearchOptions o = Bm25();
  o.allowed_matters = std::set<std::string>{"m2"};
  auto hits = idx->Search("indemnify governed terminate agreement", o);
  ASSERT_TRUE(hits.ok());
  for (const auto& h : *hits) EXPECT_NE(h.matter, "m1");
  // Documents without a matter stay visible; m2 is visible.
  std::set<std::string> docs;
  for (const auto& h : *hits) docs.insert(h.doc_id);
  EXPECT_EQ(docs, (std::set<std::string>{"b", "c"}));
  // An empty set of matters still shows matter-less documents only.
  o.allowed_matters = std::set<std::string>{};
  hits = idx->Search("indemnify governed terminate agreement", o);
  ASSERT_TRUE(hits.ok());
  for (const auto& h : *hits) EXPECT_EQ(h.doc_id, "c");
}

TEST(Index, WalledChunksNeverTakeTopKSlots) {
  // 50 strong matches in matter "x", one weak match visible: the visible one
  // must still come back with top_k = 1 (filtering is not after top-k).
  auto idx = Index::Create(LexicalOnly());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*idx)->Add(Doc("x" + std::to_string(i), "arbitration arbitration arbitration", "x")).ok());
  }
  ASSERT_TRUE((*idx)->Add(Doc("visible", "disputes go to arbitration in London, among other things", "y")).ok());
  SearchOptions o = Bm25(1);
  o.allowed_matters = std::set<std::string>{"y"};
  auto hits = (*idx)->Search("arbitration", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].doc_id, "visible");
}

TEST(Index, FiltersOnMetadataAndBuiltins) {
  auto idx = SmallIndex();
  SearchOptions o = Bm25();
  o.filters.push_back({"jurisdiction", Filter::Op::kEq, "Delaware"});
  auto hits = idx->Search("agreement", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].doc_id, "c");
  o.filters = {{"id", Filter::Op::kEq, "b"}};
  hits = idx->Search("agreement", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].doc_id, "b");
}

// Filters together, whichever of them picks the documents the mask looks at
// (the most selective equality): the hits are the unfiltered hits that pass
// every filter, tested here document by document. Documents with two values
// of a field, with none, of no matter, and removed ones are among them.
TEST(Index, EveryFilterHoldsWhicheverOnePicksTheCandidates) {
  auto idx = Index::Create(LexicalOnly());
  ASSERT_TRUE(idx.ok());
  Index& index = **idx;
  std::map<std::string, Document> docs;
  for (int i = 0; i < 60; ++i) {
    Document d = Doc("d" + std::to_string(i),
                     std::string("The supplier shall keep the confidential information secret.") +
                         (i % 4 ? " The information stays secret." : ""),
                     i % 5 == 0 ? "" : "m" + std::to_string(i % 3));
    d.metadata["party"] = {std::string(1, static_cast<char>('A' + i % 4))};
    if (i % 7 == 0) d.metadata["party"].push_back("Z");
    if (i % 6 != 0) d.metadata["year"] = {std::to_string(2010 + i % 9)};
    ASSERT_TRUE(index.Add(d).ok());
    docs[d.id] = d;
  }
  for (const char* gone : {"d3", "d14", "d28"}) {
    ASSERT_TRUE(index.Remove(gone).ok());
    docs.erase(gone);
  }
  auto passes = [](const Document& d, const Filter& f) {
    std::vector<std::string> values;
    if (f.field == "id") values = {d.id};
    else if (f.field == "matter") values = {d.matter};
    else if (auto it = d.metadata.find(f.field); it != d.metadata.end()) values = it->second;
    for (const auto& v : values) {
      if (f.op == Filter::Op::kEq ? v == f.value : f.op == Filter::Op::kGe ? v >= f.value : v <= f.value) {
        return true;
      }
    }
    return false;
  };
  SearchOptions all = Bm25(1000);
  all.collapse_jaccard = 0;  // the documents' texts are alike
  auto unfiltered = index.Search("confidential information", all);
  ASSERT_TRUE(unfiltered.ok());
  ASSERT_EQ(unfiltered->size(), docs.size());
  const std::vector<std::vector<Filter>> cases = {
      {{"party", Filter::Op::kEq, "A"}, {"year", Filter::Op::kGe, "2014"}},
      {{"year", Filter::Op::kGe, "2014"}, {"party", Filter::Op::kEq, "A"}},
      {{"party", Filter::Op::kEq, "Z"}, {"party", Filter::Op::kEq, "A"}},  // Z is rarer: it picks
      {{"party", Filter::Op::kEq, "A"}, {"party", Filter::Op::kEq, "Z"}},
      {{"matter", Filter::Op::kEq, "m1"}, {"party", Filter::Op::kEq, "B"}},
      {{"party", Filter::Op::kEq, "B"}, {"matter", Filter::Op::kEq, ""}},
      {{"id", Filter::Op::kEq, "d7"}, {"party", Filter::Op::kEq, "D"}},
      {{"id", Filter::Op::kEq, "d7"}, {"party", Filter::Op::kEq, "A"}},
      {{"party", Filter::Op::kEq, "C"}, {"year", Filter::Op::kEq, "2012"}, {"matter", Filter::Op::kEq, "m2"}},
      {{"party", Filter::Op::kEq, "nobody"}, {"year", Filter::Op::kLe, "2030"}},
  };
  for (const auto& filters : cases) {
    std::vector<std::string> expected;
    for (const SearchHit& h : *unfiltered) {
      bool ok = true;
      for (const Filter& f : filters) ok = ok && passes(docs.at(h.doc_id), f);
      if (ok) expected.push_back(h.doc_id);
    }
    SearchOptions o = all;
    o.filters = filters;
    auto hits = index.Search("confidential information", o);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    std::vector<std::string> got;
    for (const SearchHit& h : *hits) got.push_back(h.doc_id);
    EXPECT_EQ(got, expected) << filters[0].field << "=" << filters[0].value << " and "
                             << filters[1].field << " " << filters[1].value;
  }
}

// The index keeps its matters and attachments in the tables of metadata
// values under names beginning with \x01. A document whose own metadata
// uses such a name joins neither another matter (its filter, its walled
// statistics) nor another document's attachments.
TEST(Index, MetadataNamedLikeTheIndexsOwnKeysStaysMetadata) {
  auto build = [](bool with_x) {
    auto idx = Index::Create(LexicalOnly());
    EXPECT_TRUE(idx.ok());
    EXPECT_TRUE((*idx)->Add(Doc("a", "The supplier keeps the confidential information secret.", "m1")).ok());
    EXPECT_TRUE((*idx)->Add(Doc("b", "Confidential information is returned on request.", "m1")).ok());
    EXPECT_TRUE((*idx)->Add(Doc("c", "Notices are given in writing.", "m2")).ok());
    if (with_x) {
      Document x = Doc("x", "Confidential information confidential information, confidential.", "m2");
      x.metadata["\x01matter"] = {"m1"};
      x.metadata["\x01parent_id"] = {"a"};
      EXPECT_TRUE((*idx)->Add(x).ok());
    }
    return std::move(idx.value());
  };
  auto idx = build(true);
  auto ids = [](const Result<std::vector<SearchHit>>& hits) {
    std::set<std::string> out;
    for (const auto& h : *hits) out.insert(h.doc_id);
    return out;
  };
  SearchOptions o = Bm25();
  o.filters = {{"matter", Filter::Op::kEq, "m1"}};
  auto hits = idx->Search("confidential information", o);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(ids(hits), (std::set<std::string>{"a", "b"}));
  o.filters = {{"\x01matter", Filter::Op::kEq, "m1"}};  // the document's own field
  hits = idx->Search("confidential information", o);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_EQ(ids(hits), (std::set<std::string>{"x"}));
  // Walled statistics: what a user of m1 sees scores as if x did not exist.
  SearchOptions walled = Bm25();
  walled.allowed_matters = std::set<std::string>{"m1"};
  auto with_x = idx->Search("confidential information", walled);
  auto without_x = build(false)->Search("confidential information", walled);
  ASSERT_TRUE(with_x.ok() && without_x.ok());
  ASSERT_EQ(with_x->size(), without_x->size());
  for (size_t i = 0; i < with_x->size(); ++i) {
    EXPECT_EQ((*with_x)[i].doc_id, (*without_x)[i].doc_id);
    EXPECT_EQ((*with_x)[i].score, (*without_x)[i].score) << (*with_x)[i].doc_id;
  }
  // Not an attachment of a.
  std::vector<std::string> removed;
  ASSERT_TRUE(idx->RemoveWithAttachments("a", &removed).ok());
  EXPECT_EQ(removed, std::vector<std::string>{"a"});
  o.filters = {{"id", Filter::Op::kEq, "x"}};
  hits = idx->Search("confidential information", o);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(ids(hits), (std::set<std::string>{"x"}));
}

TEST(Index, UnknownFilterFieldIsAClearError) {
  auto idx = SmallIndex();
  SearchOptions o = Bm25();
  o.filters.push_back({"colour", Filter::Op::kEq, "blue"});
  auto hits = idx->Search("agreement", o);
  ASSERT_FALSE(hits.ok());
  EXPECT_TRUE(hits.status().IsInvalidArgument());
  EXPECT_NE(hits.status().message().find("colour"), std::string::npos);
  EXPECT_NE(hits.status().message().find("jurisdiction"), std::string::npos);
}

TEST(Index, FilterParse) {
  auto f = Filter::Parse("date>=2019-01-01");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->field, "date");
  EXPECT_EQ(f->op, Filter::Op::kGe);
  EXPECT_EQ(f->value, "2019-01-01");
  EXPECT_FALSE(Filter::Parse("novalue").ok());
  EXPECT_FALSE(Filter::Parse("=x").ok());
}

TEST(Index, DuplicateIdReplaces) {
  auto idx = SmallIndex();
  auto r = idx->Add(Doc("a", "Completely different text about warranties."));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->replaced);
  EXPECT_EQ(idx->Stats().documents, 3u);
  auto hits = idx->Search("indemnify", Bm25());
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
  hits = idx->Search("warranties", Bm25());
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].doc_id, "a");
}

// A message, its attachments, an attachment of an attached message: deleting
// the message deletes them all; a sibling message and a parent_id cycle
// (ids are host data) are left alone / do not loop.
TEST(Index, RemoveWithAttachmentsTakesTheWholeTree) {
  auto idx = SmallIndex();
  auto child = [](std::string id, std::string parent, std::string text) {
    Document d = Doc(std::move(id), std::move(text), "m1");
    d.parent_id = std::move(parent);
    return d;
  };
  ASSERT_TRUE(idx->Add(Doc("mail", "Please find the escrow terms attached.", "m1")).ok());
  ASSERT_TRUE(idx->Add(child("mail/att-1-terms", "mail", "Escrow release conditions.")).ok());
  ASSERT_TRUE(idx->Add(child("mail/att-2-fwd", "mail", "Forwarded: the original offer.")).ok());
  ASSERT_TRUE(idx->Add(child("mail/att-2-fwd/att-1-offer", "mail/att-2-fwd", "Offer letter.")).ok());
  ASSERT_TRUE(idx->Add(child("other/att-1-x", "other", "An orphan attachment.")).ok());
  ASSERT_TRUE(idx->Add(child("loop-a", "loop-b", "alpha")).ok());
  ASSERT_TRUE(idx->Add(child("loop-b", "loop-a", "beta")).ok());

  EXPECT_EQ(idx->AttachmentsOf("mail"),
            (std::vector<std::string>{"mail/att-1-terms", "mail/att-2-fwd",
                                      "mail/att-2-fwd/att-1-offer"}));
  EXPECT_TRUE(idx->AttachmentsOf("a").empty());
  EXPECT_TRUE(idx->AttachmentsOf("unknown").empty());
  EXPECT_EQ(idx->AttachmentsOf("loop-a"), (std::vector<std::string>{"loop-b"}));

  uint64_t before = idx->Stats().documents;
  std::vector<std::string> removed;
  ASSERT_TRUE(idx->RemoveWithAttachments("mail", &removed).ok());
  EXPECT_EQ(removed.size(), 4u);
  EXPECT_EQ(removed.front(), "mail");
  EXPECT_EQ(idx->Stats().documents, before - 4);
  EXPECT_EQ(idx->FindDocument("mail/att-2-fwd/att-1-offer"), nullptr);
  EXPECT_NE(idx->FindDocument("other/att-1-x"), nullptr);
  auto hits = idx->Search("escrow offer", Bm25());
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
  EXPECT_TRUE(idx->RemoveWithAttachments("mail").IsNotFound());
  ASSERT_TRUE(idx->RemoveWithAttachments("loop-b").ok());
  EXPECT_EQ(idx->FindDocument("loop-a"), nullptr);
}

TEST(Index, RemoveUpdatesStatistics) {
  auto idx = SmallIndex();
  ASSERT_TRUE(idx->Remove("a").ok());
  EXPECT_TRUE(idx->Remove("a").IsNotFound());
  EXPECT_EQ(idx->Stats().documents, 2u);
  EXPECT_EQ(idx->FindDocument("a"), nullptr);
  auto hits = idx->Search("indemnify", Bm25());
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

TEST(Index, EmptyDocumentAndStopwordOnlyQuery) {
  auto idx = Index::Create(LexicalOnly());
  auto r = (*idx)->Add(Doc("empty", ""));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunks, 0u);
  ASSERT_TRUE((*idx)->Add(Doc("x", "The term of the agreement.")).ok());
  auto hits = (*idx)->Search("the of and", Bm25());
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
  EXPECT_FALSE((*idx)->Add(Doc("", "no id")).ok());
}

// Question words ("what", "does", "how many", ...) are dropped from a
// query, every one of them and nothing else; a query of question words only
// still searches for them.
TEST(Index, QuestionWordsAndOnlyThemLeaveTheQuery) {
  const std::vector<std::string> question = {
      "any",  "can",  "could", "did",   "do",   "does",  "find",    "how",   "i",    "is",
      "many", "me",   "much",  "my",    "our",  "please", "show",   "tell",  "there", "we",
      "what", "when", "where", "whether", "which", "who", "why", "would", "you"};
  // Near misses: a letter more or less, the same first letter and length.
  const std::vector<std::string> other = {"wha",  "whats", "howl", "mine", "thereof", "ours",
                                          "dos",  "ye",    "whom", "whose", "anyone", "wen",
                                          "mich", "finder", "isle", "whither", "cab"};
  auto idx = Index::Create(LexicalOnly());
  ASSERT_TRUE(idx.ok());
  ASSERT_TRUE((*idx)->Add(Doc("target", "notice")).ok());
  for (const auto& w : question) ASSERT_TRUE((*idx)->Add(Doc("q:" + w, w)).ok());
  for (const auto& w : other) ASSERT_TRUE((*idx)->Add(Doc("n:" + w, w)).ok());
  auto ids = [&](const std::string& q) {
    auto hits = (*idx)->Search(q, Bm25());
    EXPECT_TRUE(hits.ok()) << q;
    std::set<std::string> out;
    if (hits.ok()) {
      for (const auto& h : *hits) out.insert(h.doc_id);
    }
    return out;
  };
  for (const auto& w : question) {
    EXPECT_EQ(ids(w + " notice"), std::set<std::string>{"target"}) << w;
    const auto& stop = text::DefaultStopwords();  // "is", "there": in no document
    if (std::find(stop.begin(), stop.end(), w) == stop.end()) {
      EXPECT_EQ(ids(w).count("q:" + w), 1u) << w << " alone";
    }
  }
  for (const auto& w : other) EXPECT_EQ(ids(w + " notice").count("n:" + w), 1u) << w;
}

TEST(Index, InvalidUtf8IsReplacedAndCounted) {
  auto idx = Index::Create(LexicalOnly());
  auto r = (*idx)->Add(Doc("bad", std::string("Termination \xFF\xFE clause \xC3", 23)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->invalid_utf8, 3u);
  auto hits = (*idx)->Search("termination", Bm25());
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
}

TEST(Index, HugeQueryIsBounded) {
  auto idx = SmallIndex();
  std::string q;
  for (int i = 0; i < 10000; ++i) q += "term" + std::to_string(i) + " ";
  q += "indemnify";
  auto hits = idx->Search(q, Bm25());
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].doc_id, "a");
}

TEST(Index, LargeDocument) {
  auto idx = Index::Create(LexicalOnly());
  const size_t size = foldback::testing::SanitizerScaled(50u << 20, 8);  // 50 MB, 6 under ASan
  std::string big;
  big.reserve(size);
  const std::string para =
      "The Licensee shall pay royalties quarterly within thirty days after the end of each quarter. ";
  while (big.size() < size) {
    big += para;
    if (big.size() % 7 == 0) big += "\n\n";
  }
  big += "\n\nSpecial clause: the unicorn provision applies.";
  auto r = (*idx)->Add(Doc("big", big));
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->chunks, 1000u);
  auto hits = (*idx)->Search("unicorn provision", Bm25(1));
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_NE((*hits)[0].text.find("unicorn"), std::string::npos);
}

// Chunk::text views its document's text in place: it must stay right while
// the document table grows (texts short enough for std::string's inline
// buffer would move with their slots), after removals and replacements,
// and in an index loaded from a snapshot.
TEST(Index, ChunkTextViewsItsDocumentAsTheTableGrows) {
  auto idx = Index::Create(LexicalOnly());
  ASSERT_TRUE(idx.ok());
  const int n = 200;
  auto text_of = [](int i) { return i % 3 ? "fee " + std::to_string(i) : "late fee number " + std::to_string(i) + " is due"; };
  for (int i = 0; i < n; ++i) ASSERT_TRUE((*idx)->Add(Doc("d" + std::to_string(i), text_of(i))).ok());
  ASSERT_TRUE((*idx)->Remove("d7").ok());
  ASSERT_TRUE((*idx)->Add(Doc("d8", "replaced")).ok());
  auto check = [&](const Index& index) {
    for (int i = 0; i < n; ++i) {
      std::string id = "d" + std::to_string(i);
      const Document* d = index.FindDocument(id);
      if (i == 7) {
        EXPECT_EQ(d, nullptr);
        continue;
      }
      ASSERT_NE(d, nullptr) << id;
      EXPECT_EQ(d->text, i == 8 ? "replaced" : text_of(i)) << id;
      auto chunks = index.ChunksOf(id);
      ASSERT_EQ(chunks.size(), 1u) << id;
      EXPECT_EQ(chunks[0]->text, std::string_view(d->text).substr(chunks[0]->begin, chunks[0]->end - chunks[0]->begin));
      EXPECT_EQ(chunks[0]->text.data(), d->text.data() + chunks[0]->begin) << "a view, not a copy";
      EXPECT_EQ(index.FindChunk(chunks[0]->id), chunks[0]);
    }
    auto hits = index.Search("due", Bm25());
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    for (const SearchHit& h : *hits) EXPECT_NE(h.text.find("is due"), std::string::npos);
  };
  check(**idx);
  auto bytes = (*idx)->Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  check(**loaded);
  idx->reset();  // the loaded index shares nothing with the one it came from
  check(**loaded);
}

// One document per search result (one_per_document): the dense side scores
// a document by its most similar chunk, also when the graph search returned
// none of its chunks and the lexical side put forward another one. Host
// vectors (4-d) place each chunk at a chosen cosine to the query (1,0,0,0).
// Documents a, b and c say "indemnify the customer" three, two and one
// times (BM25 a > b > c); b's other chunk is close to the query (0.9) and
// its lexical chunk far (0.0); six filler documents without the words hold
// the twelve chunks nearest the query (0.935-0.99), so the graph search of
// a three-candidate search returns only theirs; each filler also has a long
// chunk with the phrase once (0.3), below c's on the lexical side.
std::unique_ptr<Index> BestChunkCorpus() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kExternal;
  o.dense.dimension = 4;
  o.chunker.target_tokens = 14;
  o.chunker.max_tokens = 40;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  std::map<std::string, float> cosine;  // a chunk's text -> its cosine to the query
  auto add = [&](const std::string& id, const std::vector<std::pair<std::string, float>>& paras) {
    std::string text;
    for (const auto& [para, cos] : paras) {
      text += para + "\n\n";
      cosine[para] = cos;
    }
    ASSERT_TRUE((*idx)->Add(Doc(id, text)).ok());
  };
  add("a", {{"The supplier shall indemnify the customer; indemnify the customer fully, "
             "indemnify the customer always.",
             0.2f},
            {"Payment terms are net thirty days from the date of each invoice issued.", 0.2f}});
  add("b", {{"The supplier shall indemnify the customer and shall indemnify the customer "
             "promptly here.",
             0.0f},
            {"Either party may terminate this agreement for convenience upon written notice "
             "to the other.",
             0.9f}});
  add("c",
      {{"The supplier shall indemnify the customer against losses arising from its own "
        "negligence.",
        0.5f},
       {"Notices must be delivered by hand or by registered mail to the addresses above.", 0.5f}});
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    add("filler" + n,
        {{"Filler " + n +
              ": confidential information stays confidential for five years after "
              "this agreement ends.",
          0.99f - 0.01f * i},
         {"Filler " + n +
              " again: the licensee may not sublicense the software without the "
              "licensor's prior consent.",
          0.985f - 0.01f * i},
         {"Filler " + n +
              " last: in rare cases listed in schedule four the vendor may agree "
              "to indemnify the customer for specific losses incurred during installation, "
              "maintenance, migration and support of the hardware delivered under this order.",
          0.3f}});
  }
  for (const std::string& id : (*idx)->ChunksMissingVectors()) {
    const Chunk* c = (*idx)->FindChunk(id);
    auto it = cosine.find(std::string(c->text));
    EXPECT_NE(it, cosine.end()) << "not one paragraph: " << c->text;
    if (it == cosine.end()) continue;
    const float s = it->second;
    EXPECT_TRUE((*idx)->SetChunkVector(id, {s, std::sqrt(1 - s * s), 0, 0}).ok());
  }
  return std::move(idx.value());
}

SearchOptions DocumentsHybrid() {
  SearchOptions o;
  o.one_per_document = true;
  o.top_k = 5;       // found in the first round (a deeper one returns every chunk)
  o.candidates = 3;  // the graph returns 6 chunks: the fillers' nearest
  o.lexical_lead = 0;
  o.query_vector = {1, 0, 0, 0};
  return o;
}

const SearchHit* HitOf(const std::vector<SearchHit>& hits, const std::string& doc) {
  for (const SearchHit& h : hits)
    if (h.doc_id == doc) return &h;
  return nullptr;
}

TEST(Index, ADocumentIsAsSimilarAsItsBestChunk) {
  auto idx = BestChunkCorpus();
  ASSERT_EQ(idx->ChunksOf("b").size(), 2u);
  auto hits = idx->Search("indemnify customer", DocumentsHybrid());
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  const SearchHit* b = HitOf(*hits, "b");
  ASSERT_NE(b, nullptr);
  // b's best chunk (0.9), not the chunk BM25 put forward (0.0): fused, b
  // (second lexically, near the query densely) now leads a (first
  // lexically, 0.2 densely) and the fillers (no query word).
  EXPECT_NEAR(b->dense, 0.9, 1e-5);
  EXPECT_EQ((*hits)[0].doc_id, "b");
  // The passage shown stays the lexical one, with the query's words.
  EXPECT_NE(b->text.find("indemnify the customer"), std::string::npos);
  // Searches of passages are unchanged: b's lexical chunk keeps its own.
  SearchOptions chunks = DocumentsHybrid();
  chunks.one_per_document = false;
  auto passages = idx->Search("indemnify customer", chunks);
  ASSERT_TRUE(passages.ok());
  for (const SearchHit& h : *passages) {
    if (h.text.find("promptly here") != std::string::npos) EXPECT_NEAR(h.dense, 0.0, 1e-5);
  }
}

TEST(Index, AChunkOutsideTheMaskNeverGivesADocumentItsDenseScore) {
  auto idx = BestChunkCorpus();
  // A phrase narrows the search to the chunks that hold it: b's other
  // chunk (0.9) is outside, and must not score b. The graph search
  // returns c's and the fillers' phrase chunks, so a and b are scored
  // among their own chunks, behind the same mask.
  auto hits = idx->Search("\"indemnify the customer\"", DocumentsHybrid());
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  const SearchHit* b = HitOf(*hits, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_NEAR(b->dense, 0.0, 1e-5);
  EXPECT_NE((*hits)[0].doc_id, "b");
  // The twin without the phrase reaches the 0.9 chunk.
  auto plain = idx->Search("indemnify the customer", DocumentsHybrid());
  ASSERT_TRUE(plain.ok());
  ASSERT_NE(HitOf(*plain, "b"), nullptr);
  EXPECT_NEAR(HitOf(*plain, "b")->dense, 0.9, 1e-5);
}

TEST(Snapshot, RoundTripKeepsResults) {
  auto idx = SmallIndex();
  ASSERT_TRUE(idx->Remove("b").ok());  // tombstones must not leak into the snapshot
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->Stats().documents, 2u);
  for (const char* q : {"indemnify claims", "terminate convenience", "governed"}) {
    auto a = idx->Search(q, Bm25());
    auto b = (*loaded)->Search(q, Bm25());
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size()) << q;
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id);
      EXPECT_DOUBLE_EQ((*a)[i].score, (*b)[i].score);
    }
  }
  // Metadata filters survive.
  SearchOptions o = Bm25();
  o.filters.push_back({"jurisdiction", Filter::Op::kEq, "Delaware"});
  auto f = (*loaded)->Search("agreement", o);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), 1u);
}

TEST(Snapshot, DamagedBytesGiveClearErrors) {
  auto idx = SmallIndex();
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  const std::string& b = *bytes;
  // Truncated at every offset: never a crash, always an error.
  for (size_t n = 0; n < b.size(); n += (n < 64 ? 1 : 97)) {
    auto r = Index::FromSnapshot(std::string_view(b.data(), n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
  // A flipped byte in the payload.
  std::string flipped = b;
  flipped[b.size() / 2] ^= 0x40;
  auto r = Index::FromSnapshot(flipped);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos);
  // Wrong version (a future one).
  std::string future = b;
  future[4] = 5;
  r = Index::FromSnapshot(future);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotSupported());
  // Not a snapshot.
  r = Index::FromSnapshot("hello, this is not a foldback snapshot at all");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("magic"), std::string::npos);
}

// The snapshot is written one document and one chunk at a time; the bytes
// must be exactly protobuf's own serialization of the whole message, so that
// snapshots of earlier builds (written whole) and of this one read alike.
TEST(Snapshot, WrittenFieldByFieldAsProtobufWritesTheWholeMessage) {
  auto idx = SmallIndex();
  ASSERT_TRUE(idx->Remove("b").ok());
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  const std::string payload(testing::SnapshotPayload(*bytes));
  pb::Snapshot whole;
  ASSERT_TRUE(whole.ParseFromString(payload));
  EXPECT_EQ(static_cast<uint64_t>(whole.documents_size()), idx->Stats().documents);
  EXPECT_EQ(static_cast<uint64_t>(whole.chunks_size()), idx->Stats().chunks);
  std::string again;
  ASSERT_TRUE(whole.SerializeToString(&again));
  EXPECT_EQ(again, payload);
}

// A payload whose checksum is right but whose fields are not: a clear
// error, never a crash (the fuzz target tries many more).
TEST(Snapshot, MalformedFieldsUnderAGoodChecksumAreCorruption) {
  auto idx = SmallIndex();
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto reseal = [](const std::string& payload) { return testing::SealSnapshot(4, payload); };
  const std::string payload(testing::SnapshotPayload(*bytes));
  ASSERT_TRUE(Index::FromSnapshot(reseal(payload)).ok());
  struct Case {
    const char* what;
    std::string payload;
    const char* message;
  };
  const Case cases[] = {
      // Field 5 (a document) claiming more bytes than there are.
      {"document past the end", payload + std::string("\x2a\xff\xff\x03", 4), "does not parse"},
      // Field 6 (a chunk) whose value is not a Chunk.
      {"chunk of garbage", payload + std::string("\x32\x02\xff\xff", 4), "chunk does not parse"},
      // A document of garbage.
      {"document of garbage", std::string("\x2a\x02\xff\xff", 4) + payload,
       "document does not parse"},
      // A group (wire type 3), which foldback never writes.
      {"group", payload + std::string("\x0b", 1), "does not parse"},
      // A tag and nothing after it.
      {"tag alone", payload + std::string("\x2a", 1), "does not parse"},
  };
  for (const Case& c : cases) {
    auto r = Index::FromSnapshot(reseal(c.payload));
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_TRUE(r.status().IsCorruption()) << c.what << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.what << ": " << r.status().ToString();
  }
}

// Index of `n` one-sentence documents, `common` of them mentioning
// "agreement", one mentioning "indemnify" (twice, in a long sentence so that
// the two words' length norms are comparable).
std::unique_ptr<Index> Bm25Corpus(Bm25Params params, int n = 12, int common = 8) {
  IndexOptions o = LexicalOnly();
  o.bm25 = params;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  for (int i = 0; i < n; ++i) {
    std::string text = "Clause " + std::to_string(i) + " sets payment dates";
    if (i < common) text += " under this agreement";
    if (i == 0) text += " and the Supplier shall indemnify and indemnify again";
    EXPECT_TRUE((*idx)->Add(Doc("d" + std::to_string(i), text + ".")).ok());
  }
  return std::move(idx.value());
}

double TopScore(Index& idx, const std::string& q) {
  auto hits = idx.Search(q, Bm25(1));
  EXPECT_TRUE(hits.ok() && hits->size() == 1) << q;
  return hits.ok() && !hits->empty() ? (*hits)[0].score : 0;
}

TEST(Bm25, RepeatedQueryWordSaturates) {
  Bm25Params p;  // default: query_saturation (k3) 1
  auto idx = Bm25Corpus(p);
  const double once = TopScore(*idx, "indemnify");
  ASSERT_GT(once, 0);
  EXPECT_NEAR(TopScore(*idx, "indemnify indemnify") / once, 4.0 / 3.0, 1e-5);
  EXPECT_NEAR(TopScore(*idx, "indemnify Indemnify indemnify") / once, 1.5, 1e-5);
  // Other words are not affected by one word's repetition.
  const double both = TopScore(*idx, "indemnify payment");
  EXPECT_NEAR(TopScore(*idx, "indemnify payment indemnify") - both, once / 3.0, 1e-5);
  // A long query (a pasted paragraph) counts its repeats the same way: 60
  // words the index does not hold around the same two.
  std::string pasted = "indemnify indemnify";
  for (int i = 0; i < 60; ++i) pasted += " zq" + std::to_string(i) + "x";
  EXPECT_NEAR(TopScore(*idx, pasted) / once, 4.0 / 3.0, 1e-5);
  // Repeats are counted by word, not by what a word's key holds: a word of
  // the same length and first seven bytes is another word.
  EXPECT_NEAR(TopScore(*idx, "indemnify indemnifx") / once, 1.0, 1e-5);
  EXPECT_NEAR(TopScore(*idx, "indemnify indemnifx indemnify") / once, 4.0 / 3.0, 1e-5);
  p.query_saturation = 0;  // every occurrence counts
  auto linear = Bm25Corpus(p);
  EXPECT_NEAR(TopScore(*linear, "indemnify indemnify") / TopScore(*linear, "indemnify"), 2.0, 1e-5);
  p.query_saturation = -1;
  IndexOptions bad = LexicalOnly();
  bad.bm25 = p;
  EXPECT_TRUE(Index::Create(bad).status().IsInvalidArgument());
}

TEST(Bm25, RobertsonIdfWeighsCommonWordsLess) {
  Bm25Params plus;
  plus.idf = Bm25Idf::kPlusOne;
  Bm25Params robertson;  // the default
  ASSERT_EQ(robertson.idf, Bm25Idf::kRobertson);
  auto a = Bm25Corpus(plus);
  auto b = Bm25Corpus(robertson);
  // Same chunk, same tf part: the scores' ratio is the idfs' ratio.
  // "agreement": in 8 of 12 chunks, r = (12 - 8 + 0.5) / 8.5 < 2.
  const double r_common = 4.5 / 8.5;
  EXPECT_NEAR(TopScore(*b, "agreement") / TopScore(*a, "agreement"),
              std::log(r_common / 2 + 1) / std::log(1 + r_common), 1e-5);
  // "indemnify": in 1 of 12, r = 11.5 / 1.5, no floor.
  const double r_rare = 11.5 / 1.5;
  EXPECT_NEAR(TopScore(*b, "indemnify") / TopScore(*a, "indemnify"),
              std::log(r_rare) / std::log(1 + r_rare), 1e-5);
  // A word in every chunk still weighs more than nothing.
  EXPECT_GT(TopScore(*b, "clause"), 0);
}

// Snapshots written before Bm25Params::idf and ::query_saturation existed
// carry neither; they keep scoring as they were built to.
TEST(Snapshot, EarlierSnapshotsKeepTheirBm25Forms) {
  auto idx = Bm25Corpus(Bm25Params());
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto same = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)->options().bm25.idf, Bm25Idf::kRobertson);
  EXPECT_EQ((*same)->options().bm25.query_saturation, 1.0);
  EXPECT_DOUBLE_EQ(TopScore(**same, "agreement indemnify"), TopScore(*idx, "agreement indemnify"));

  pb::Snapshot whole;
  ASSERT_TRUE(whole.ParseFromString(std::string(testing::SnapshotPayload(*bytes))));
  whole.mutable_options()->clear_bm25_idf();
  whole.mutable_options()->clear_bm25_query_saturation();
  std::string earlier;
  ASSERT_TRUE(whole.SerializeToString(&earlier));
  auto old = Index::FromSnapshot(testing::SealSnapshot(4, earlier));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ((*old)->options().bm25.idf, Bm25Idf::kPlusOne);
  EXPECT_EQ((*old)->options().bm25.query_saturation, 0.0);
  Bm25Params legacy;
  legacy.idf = Bm25Idf::kPlusOne;
  legacy.query_saturation = 0;
  auto built_old = Bm25Corpus(legacy);
  for (const char* q : {"agreement", "indemnify indemnify", "payment agreement"})
    EXPECT_DOUBLE_EQ(TopScore(**old, q), TopScore(*built_old, q)) << q;

  whole.mutable_options()->set_bm25_idf(7);
  ASSERT_TRUE(whole.SerializeToString(&earlier));
  auto bad = Index::FromSnapshot(testing::SealSnapshot(4, earlier));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsCorruption());
}

// --- Format 3: the lexical part in pieces (store/lexical_pieces.h) ---

TEST(PostingsCodec, RoundTripsAndRefusesBadBytes) {
  using index::Posting;
  auto round = [](const std::vector<Posting>& in) {
    std::string bytes;
    store::EncodePostings(in.data(), in.size(), &bytes);
    std::string_view view = bytes;
    std::vector<Posting> out;
    EXPECT_TRUE(store::DecodePostings(&view, in.size(), &out));
    EXPECT_TRUE(view.empty());
    EXPECT_EQ(out.size(), in.size());
    for (size_t i = 0; i < in.size() && i < out.size(); ++i) {
      EXPECT_EQ(out[i].chunk, in[i].chunk) << i;
      EXPECT_EQ(out[i].tf, in[i].tf) << i;
    }
    return bytes;
  };
  // tf 1 and a small gap: one byte a posting.
  EXPECT_EQ(round({{0, 1}, {1, 1}, {2, 1}, {40, 1}}).size(), 4u);
  // Extremes: chunk 0 and the largest, tf 2 and the largest.
  round({{0, 2}, {7, 0xFFFFFFFFu}, {0xFFFFFFFEu, 1}, {0xFFFFFFFFu, 3}});
  round({{0xFFFFFFFFu, 0xFFFFFFFFu}});
  std::mt19937 rng(5);
  std::vector<Posting> random;
  uint32_t chunk = 0;
  for (int i = 0; i < 2000; ++i) {
    chunk += static_cast<uint32_t>(1 + rng() % (i % 3 == 0 ? 100000 : 10));
    random.push_back({chunk, static_cast<uint32_t>(rng() % 4 == 0 ? 2 + rng() % 300 : 1)});
  }
  const std::string bytes = round(random);
  // Every truncation fails, never reads past the end.
  for (size_t n = 0; n < bytes.size(); n += 7) {
    std::string_view view(bytes.data(), n);
    std::vector<Posting> out;
    EXPECT_FALSE(store::DecodePostings(&view, random.size(), &out)) << n;
  }
  auto decodes = [](std::string bytes, size_t n) {
    std::string_view view = bytes;
    std::vector<Posting> out;
    return store::DecodePostings(&view, n, &out);
  };
  EXPECT_FALSE(decodes(std::string(11, '\xff'), 1));                     // a varint past 10 bytes
  EXPECT_TRUE(decodes(std::string("\xfe\xff\xff\xff\x1f", 5), 1));       // chunk 2^32 - 1
  EXPECT_FALSE(decodes(std::string("\xfe\xff\xff\xff\x3f", 5), 1));      // chunk past 32 bits
  EXPECT_FALSE(decodes(std::string("\x01\xfe\xff\xff\xff\x0f", 6), 1));  // tf past 32 bits
  EXPECT_FALSE(decodes(std::string("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
                       1));                                              // tf - 2 = 2^64 - 1
  EXPECT_FALSE(decodes(std::string("\xfe\xff\xff\xff\x1f\x00", 6), 2));  // the gap overflows
}

// A corpus with long and short posting lists, tf above 1, removals (terms
// that drop out, renumbered chunks) and positions.
std::unique_ptr<Index> PieceCorpus() {
  auto made = Index::Create(LexicalOnly());
  EXPECT_TRUE(made.ok());
  std::mt19937 rng(17);
  const char* common[] = {"agreement", "party",  "termination", "convenience", "notice",
                          "indemnify", "claims", "supplier",    "customer",    "fees"};
  for (int d = 0; d < 40; ++d) {
    std::string text;
    for (int p = 0; p < 3; ++p) {
      for (int w = 0; w < 30; ++w) {
        text += rng() % 3 ? common[rng() % 10] : "word" + std::to_string(rng() % 200);
        text += w % 9 == 8 ? ". " : " ";
      }
      text += "termination for convenience.\n\n";
    }
    EXPECT_TRUE((*made)->Add(Doc("d" + std::to_string(d), text, d % 2 ? "m1" : "m2")).ok());
  }
  for (int d = 3; d < 40; d += 9) EXPECT_TRUE((*made)->Remove("d" + std::to_string(d)).ok());
  return std::move(made.value());
}

const char* kPieceQueries[] = {"termination convenience", "indemnify claims word17",
                               "supplier fees notice word3 word150", "agreement"};
const char* kPieceConnectorQueries[] = {"\"termination for convenience\"", "word1* /5 party",
                                        "indemnify /s claims"};

// Every hit of every query, scores to the bit.
std::string Rankings(Index& idx) {
  std::ostringstream out;
  auto dump = [&](const char* q, const SearchOptions& o) {
    auto hits = idx.Search(q, o);
    out << q << ":";
    if (!hits.ok()) {
      out << hits.status().ToString() << "\n";
      return;
    }
    for (const SearchHit& h : *hits) {
      uint64_t bits;
      std::memcpy(&bits, &h.score, sizeof bits);
      out << " " << h.chunk_id << "=" << bits;
    }
    out << "\n";
  };
  SearchOptions o = Bm25(50);
  for (const char* q : kPieceQueries) dump(q, o);
  o.allowed_matters = std::set<std::string>{"m1"};  // walled statistics
  for (const char* q : kPieceQueries) dump(q, o);
  o = Bm25(50);
  o.syntax = QuerySyntax::kConnectors;
  for (const char* q : kPieceConnectorQueries) dump(q, o);
  return out.str();
}

pb::Snapshot WholeMessage(const std::string& bytes) {
  pb::Snapshot snap;
  const std::string_view payload = testing::SnapshotPayload(bytes);
  EXPECT_TRUE(snap.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
  return snap;
}

// Small pieces (down to a byte: every term, chunk and word its own piece,
// every long list cut posting by posting) load to the same rankings, bit
// for bit, as the index they came from and as one piece of each kind.
TEST(Snapshot, LexicalPiecesOfAnySizeLoadTheSameIndex) {
  auto idx = PieceCorpus();
  const std::string want = Rankings(*idx);
  ASSERT_NE(want.find("="), std::string::npos);
  auto whole = idx->Snapshot();
  ASSERT_TRUE(whole.ok());
  {
    pb::Snapshot snap = WholeMessage(*whole);
    EXPECT_EQ(snap.lexical_terms_size(), 1);
    EXPECT_EQ(snap.lexical_chunks_size(), 1);
    EXPECT_EQ(snap.lexical_words_size(), 1);
    EXPECT_EQ(snap.lexical().terms_size(), 0) << "no format-2 arrays";
    EXPECT_TRUE(snap.lexical().postings().empty());
  }
  for (size_t piece : {size_t{1}, size_t{48}, size_t{700}}) {
    idx->rep()->snapshot_piece_bytes = piece;
    auto bytes = idx->Snapshot();
    ASSERT_TRUE(bytes.ok()) << piece;
    pb::Snapshot snap = WholeMessage(*bytes);
    EXPECT_GT(snap.lexical_terms_size(), 2) << piece;
    EXPECT_GT(snap.lexical_chunks_size(), 2) << piece;
    EXPECT_GT(snap.lexical_words_size(), 2) << piece;
    int continued = 0;
    for (const auto& t : snap.lexical_terms()) continued += t.continues();
    EXPECT_GT(continued, 0) << "a list cut across pieces, at " << piece;
    auto loaded = Index::FromSnapshot(*bytes);
    ASSERT_TRUE(loaded.ok()) << piece << ": " << loaded.status().ToString();
    EXPECT_EQ(Rankings(**loaded), want) << piece;
    EXPECT_EQ((*loaded)->Stats().chunks, idx->Stats().chunks);
    // Saved again by the loaded index (default pieces): the same bytes as
    // the original's.
    auto again = (*loaded)->Snapshot();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *whole) << piece;
  }
}

// Snapshots of format 2 (the lexical part one message of fixed-width
// arrays) still load: the one a format-2 build wrote (tests/data), and one
// written here by the old writer path, which must rank bit for bit as
// format 3 does.
TEST(Snapshot, FormatTwoStillLoads) {
  std::ifstream in(std::string(FOLDBACK_TEST_DATA) + "/snapshots/format2/index.fbsnap",
                   std::ios::binary);
  std::string fixture((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(fixture.size(), 20u);
  ASSERT_EQ(store::GetU32(fixture, 1), 2u);
  auto old = Index::FromSnapshot(fixture);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ((*old)->Stats().documents, 3u);  // c deleted after ingest: a dropped chunk and terms
  auto docs = [](Index& idx, const char* q, QuerySyntax syntax) {
    SearchOptions o = Bm25();
    o.syntax = syntax;
    auto hits = idx.Search(q, o);
    std::vector<std::string> ids;
    if (hits.ok()) {
      for (const SearchHit& h : *hits) ids.push_back(h.doc_id);
    }
    return ids;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(docs(**old, "termination", QuerySyntax::kPlain), (V{"a", "b", "d"}));
  EXPECT_EQ(docs(**old, "third party", QuerySyntax::kPlain), (V{"b", "d", "a"}));
  EXPECT_EQ(docs(**old, "\"termination for convenience\"", QuerySyntax::kConnectors), V{"a"});
  EXPECT_EQ(docs(**old, "indemnif* /5 claims", QuerySyntax::kConnectors), V{"b"});
  // Saved as this build's format and loaded: the same rankings, scores to the bit.
  auto v4 = (*old)->Snapshot();
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(store::GetU32(*v4, 1), 4u);
  auto back = Index::FromSnapshot(*v4);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (const char* q : {"termination", "third party", "new york", "fees convenience"}) {
    auto a = (*old)->Search(q, Bm25());
    auto b = (*back)->Search(q, Bm25());
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size()) << q;
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id) << q;
      EXPECT_EQ((*a)[i].score, (*b)[i].score) << q;
    }
  }

  auto idx = PieceCorpus();
  const std::string v2 = testing::AsFormat2(*idx);
  ASSERT_FALSE(v2.empty());
  auto loaded = Index::FromSnapshot(v2);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Rankings(**loaded), Rankings(*idx));
  // Format 2 with format 3's pieces (or the reverse) is refused.
  pb::Snapshot mixed = WholeMessage(*idx->Snapshot());
  mixed.set_format_version(2);
  EXPECT_TRUE(Index::FromSnapshot(testing::SealSnapshot(2, mixed.SerializeAsString()))
                  .status()
                  .IsCorruption());
  pb::Snapshot arrays = WholeMessage(v2);
  arrays.set_format_version(3);
  EXPECT_TRUE(Index::FromSnapshot(testing::SealSnapshot(3, arrays.SerializeAsString()))
                  .status()
                  .IsCorruption());
}

// One length-delimited top-level field of the Snapshot: tag, length, bytes.
void AppendPieceField(uint32_t field, const std::string& bytes, std::string* payload) {
  uint8_t buf[20];
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(field << 3 | 2, buf);
  end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(bytes.size(), end);
  payload->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
  *payload += bytes;
}

// The snapshot payload with its pieces replaced: `snap` without them, then
// each given piece's bytes as its field, in field order (what the writer does).
std::string WithPieces(pb::Snapshot snap,
                       const std::vector<std::pair<uint32_t, std::string>>& pieces) {
  snap.clear_lexical_terms();
  snap.clear_lexical_chunks();
  snap.clear_lexical_words();
  std::string payload = snap.SerializeAsString();
  for (const auto& [field, bytes] : pieces) AppendPieceField(field, bytes, &payload);
  return testing::SealSnapshot(4, payload);
}

// Damaged pieces under a good checksum (so that the piece reader is what
// judges them): a clear Corruption, never a crash (ASan checks the reads).
TEST(Snapshot, DamagedLexicalPiecesAreCorruption) {
  auto idx = PieceCorpus();
  idx->rep()->snapshot_piece_bytes = 300;
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  const pb::Snapshot snap = WholeMessage(*bytes);
  std::vector<std::pair<uint32_t, std::string>> pieces;
  for (const auto& p : snap.lexical_chunks())
    pieces.push_back({store::kLexicalChunksField, p.SerializeAsString()});
  for (const auto& p : snap.lexical_terms())
    pieces.push_back({store::kLexicalTermsField, p.SerializeAsString()});
  for (const auto& p : snap.lexical_words())
    pieces.push_back({store::kLexicalWordsField, p.SerializeAsString()});
  ASSERT_TRUE(Index::FromSnapshot(WithPieces(snap, pieces)).ok());
  auto expect_corrupt = [&](const std::vector<std::pair<uint32_t, std::string>>& damaged,
                            const std::string& what) {
    auto r = Index::FromSnapshot(WithPieces(snap, damaged));
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_TRUE(r.status().IsCorruption()) << what << ": " << r.status().ToString();
  };
  // The first and last piece of each kind truncated, and bytes flipped
  // through them: Corruption, or an index that still answers (a flipped tf
  // or length can be valid data).
  std::set<size_t> chosen;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i == 0 || i + 1 == pieces.size() || pieces[i].first != pieces[i - 1].first ||
        pieces[i].first != pieces[i + 1].first) {
      chosen.insert(i);
    }
  }
  for (size_t i : chosen) {
    const std::string& piece = pieces[i].second;
    for (size_t n : {size_t{0}, piece.size() / 2, piece.size() - 1}) {
      auto damaged = pieces;
      damaged[i].second = piece.substr(0, n);
      auto r = Index::FromSnapshot(WithPieces(snap, damaged));
      if (!r.ok()) {
        EXPECT_TRUE(r.status().IsCorruption()) << i << " " << n << ": " << r.status().ToString();
      } else {
        ADD_FAILURE() << "piece " << i << " cut to " << n << " bytes loaded";
      }
    }
    for (size_t at = 0; at < piece.size(); at += 1 + piece.size() / 5) {
      auto damaged = pieces;
      damaged[i].second[at] ^= static_cast<char>(0x5a);
      auto r = Index::FromSnapshot(WithPieces(snap, damaged));
      if (r.ok()) {
        (void)(*r)->Search("termination convenience word1", Bm25());  // runs on whatever loaded
      } else {
        EXPECT_TRUE(r.status().IsCorruption()) << i << " @" << at << ": " << r.status().ToString();
      }
    }
  }
  // A piece left out, pieces out of order, a header that disagrees.
  for (size_t i : chosen) {
    auto damaged = pieces;
    damaged.erase(damaged.begin() + static_cast<long>(i));
    expect_corrupt(damaged, "piece " + std::to_string(i) + " left out");
  }
  {
    auto damaged = pieces;
    std::swap(damaged[0], damaged[1]);  // two chunk pieces
    ASSERT_EQ(damaged[0].first, store::kLexicalChunksField);
    expect_corrupt(damaged, "chunk pieces swapped");
  }
  for (int field : {10, 11, 12}) {
    pb::Snapshot bad = snap;
    pb::Lexical* lex = bad.mutable_lexical();
    if (field == 10) lex->set_term_count(lex->term_count() - 1);
    if (field == 11) lex->set_posting_count(lex->posting_count() + 1);
    if (field == 12) lex->set_word_count(lex->word_count() + 1);
    auto r = Index::FromSnapshot(WithPieces(bad, pieces));
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
  // A stream naming a term past the dictionary; a continued list whose
  // chunks go back.
  {
    pb::LexicalChunks c = snap.lexical_chunks(0);
    const std::string& streams = c.streams();
    google::protobuf::io::CodedInputStream read(reinterpret_cast<const uint8_t*>(streams.data()),
                                                static_cast<int>(streams.size()));
    uint32_t size;
    ASSERT_TRUE(read.ReadVarint32(&size));
    // The first stream becomes one code, term 2^21 - 4, far past the dictionary.
    c.set_streams("\x03\xff\xff\x7f" +
                  streams.substr(static_cast<size_t>(read.CurrentPosition()) + size));
    auto damaged = pieces;
    damaged[0].second = c.SerializeAsString();
    expect_corrupt(damaged, "stream names no term");
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    pb::LexicalTerms t;
    if (pieces[i].first != store::kLexicalTermsField || !t.ParseFromString(pieces[i].second) ||
        !t.continues())
      continue;
    // The continued slice's first chunk becomes 0, before where the list was.
    std::string_view p = t.postings();
    google::protobuf::io::CodedInputStream read(reinterpret_cast<const uint8_t*>(p.data()),
                                                static_cast<int>(p.size()));
    uint32_t n;
    ASSERT_TRUE(read.ReadVarint32(&n));
    p.remove_prefix(static_cast<size_t>(read.CurrentPosition()));
    std::vector<index::Posting> list;
    ASSERT_TRUE(store::DecodePostings(&p, n, &list));
    list[0].chunk = 0;
    std::string rewritten(1, static_cast<char>(n));  // n < 128: a one-byte varint
    ASSERT_LT(n, 128u);
    store::EncodePostings(list.data(), list.size(), &rewritten);
    t.set_postings(rewritten + std::string(p));
    auto damaged = pieces;
    damaged[i].second = t.SerializeAsString();
    expect_corrupt(damaged, "continued list goes back");
    break;
  }
}

// --- Format 4: the dense part in pieces, the snapshot streamed to a sink ---

// PieceCorpus with the static embedder (16 dimensions) and its graph, one
// document removed after the build (a deleted node in the graph).
std::unique_ptr<Index> DenseCorpus() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kStatic;
  o.dense.dimension = 16;
  auto made = Index::Create(o);
  EXPECT_TRUE(made.ok());
  auto lexical = PieceCorpus();
  for (const DocSlot& d : lexical->rep()->docs) {
    if (d.live) EXPECT_TRUE((*made)->Add(d.doc).ok());
  }
  EXPECT_TRUE((*made)->BuildDense().ok());
  EXPECT_TRUE((*made)->Remove("d5").ok());
  return std::move(made.value());
}

// Dense and hybrid hits of the piece queries, scores to the bit.
std::string DenseRankings(Index& idx) {
  std::ostringstream out;
  for (SearchMode mode : {SearchMode::kDense, SearchMode::kHybrid}) {
    SearchOptions o;
    o.mode = mode;
    o.top_k = 20;
    for (const char* q : kPieceQueries) {
      auto hits = idx.Search(q, o);
      out << q << ":";
      if (!hits.ok()) out << hits.status().ToString();
      for (const SearchHit& h : hits.ok() ? *hits : std::vector<SearchHit>()) {
        uint64_t bits;
        std::memcpy(&bits, &h.score, sizeof bits);
        out << " " << h.chunk_id << "=" << bits;
      }
      out << "\n";
    }
  }
  return out.str();
}

// A sink that keeps what it is given, and fails from its `fail_at`th call
// on (0: never).
class CollectingSink : public SnapshotSink {
 public:
  explicit CollectingSink(int fail_at = 0) : fail_at_(fail_at) {}
  Status Append(std::string_view bytes) override {
    ++calls;
    if (fail_at_ > 0 && calls >= fail_at_) return Status::IOError("disk full (test)");
    bytes_.append(bytes);
    largest = std::max(largest, bytes.size());
    return Status::OK();
  }
  const std::string& bytes() const { return bytes_; }
  int calls = 0;
  size_t largest = 0;

 private:
  int fail_at_;
  std::string bytes_;
};

// Small pieces (down to one node a piece) load to the same dense and
// hybrid rankings, bit for bit, as the index they came from; streamed
// through a sink, the bytes are Snapshot()'s.
TEST(Snapshot, DensePiecesOfAnySizeLoadTheSameIndex) {
  auto idx = DenseCorpus();
  const std::string want = DenseRankings(*idx);
  ASSERT_NE(want.find("="), std::string::npos);
  auto whole = idx->Snapshot();
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(store::GetU32(*whole, 1), 4u);
  {
    pb::Snapshot snap = WholeMessage(*whole);
    EXPECT_EQ(snap.dense_pieces_size(), 1);
    EXPECT_TRUE(snap.dense().labels().empty()) << "no format-3 arrays";
    EXPECT_EQ(snap.dense().node_count(), snap.dense_pieces(0).node_count());
  }
  for (size_t piece : {size_t{1}, size_t{300}, size_t{1500}}) {
    idx->rep()->snapshot_piece_bytes = piece;
    auto bytes = idx->Snapshot();
    ASSERT_TRUE(bytes.ok()) << piece;
    pb::Snapshot snap = WholeMessage(*bytes);
    EXPECT_GT(snap.dense_pieces_size(), 2) << piece;
    if (piece == 1)
      EXPECT_EQ(static_cast<uint32_t>(snap.dense_pieces_size()), snap.dense().node_count());
    auto loaded = Index::FromSnapshot(*bytes);
    ASSERT_TRUE(loaded.ok()) << piece << ": " << loaded.status().ToString();
    EXPECT_EQ(DenseRankings(**loaded), want) << piece;
    EXPECT_EQ(Rankings(**loaded), Rankings(*idx)) << piece;
    EXPECT_EQ((*loaded)->Stats().vectors, idx->Stats().vectors);
    auto again = (*loaded)->Snapshot();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *whole) << piece;
    // Streamed: the same bytes, in parts of about a piece (the largest
    // field, plus what was waiting in the buffer before it).
    CollectingSink sink;
    ASSERT_TRUE(idx->WriteSnapshot(sink).ok());
    EXPECT_EQ(sink.bytes(), *bytes) << piece;
    EXPECT_GT(sink.calls, 10) << piece;
  }
}

// A sink that fails stops the write at once with its error; nothing is
// written after it.
TEST(Snapshot, AFailingSinkStopsTheWrite) {
  auto idx = DenseCorpus();
  idx->rep()->snapshot_piece_bytes = 300;
  CollectingSink all;
  ASSERT_TRUE(idx->WriteSnapshot(all).ok());
  ASSERT_GT(all.calls, 3);
  for (int at : {1, 2, all.calls / 2, all.calls}) {
    CollectingSink failing(at);
    Status s = idx->WriteSnapshot(failing);
    ASSERT_FALSE(s.ok()) << at;
    EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
    EXPECT_NE(s.message().find("disk full (test)"), std::string::npos) << s.ToString();
    EXPECT_EQ(failing.calls, at);
    // What arrived is not a snapshot.
    EXPECT_FALSE(Index::FromSnapshot(failing.bytes()).ok()) << at;
  }
}

// Snapshots of format 3 (the dense part one message of arrays) still load,
// ranking as the index did: one written here through the old layout, and
// the one a format-3 build wrote (tests/data).
TEST(Snapshot, FormatThreeStillLoads) {
  auto idx = DenseCorpus();
  const std::string v3 = testing::AsFormat3(*idx);
  ASSERT_FALSE(v3.empty());
  auto loaded = Index::FromSnapshot(v3);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(DenseRankings(**loaded), DenseRankings(*idx));
  EXPECT_EQ(Rankings(**loaded), Rankings(*idx));
  // Format 3's arrays under version 4, or format 4's pieces under 3: refused.
  pb::Snapshot arrays = WholeMessage(v3);
  arrays.set_format_version(4);
  EXPECT_TRUE(Index::FromSnapshot(testing::SealSnapshot(4, arrays.SerializeAsString()))
                  .status()
                  .IsCorruption());
  pb::Snapshot pieces = WholeMessage(*idx->Snapshot());
  pieces.set_format_version(3);
  EXPECT_TRUE(Index::FromSnapshot(testing::SealSnapshot(3, pieces.SerializeAsString()))
                  .status()
                  .IsCorruption());

  std::ifstream in(std::string(FOLDBACK_TEST_DATA) + "/snapshots/format3/index.fbsnap",
                   std::ios::binary);
  std::string fixture((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(fixture.size(), 20u);
  ASSERT_EQ(store::GetU32(fixture, 1), 3u);
  auto old = Index::FromSnapshot(fixture);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ((*old)->Stats().documents, 3u);
  EXPECT_GT((*old)->Stats().vectors, 0u);
  // Saved as format 4 and loaded: the same hybrid rankings, to the bit.
  auto v4 = (*old)->Snapshot();
  ASSERT_TRUE(v4.ok());
  auto back = Index::FromSnapshot(*v4);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  SearchOptions o;
  o.mode = SearchMode::kHybrid;
  for (const char* q : {"termination", "third party claims", "confidential information notice",
                        "fees convenience"}) {
    auto a = (*old)->Search(q, o);
    auto b = (*back)->Search(q, o);
    ASSERT_TRUE(a.ok() && b.ok()) << q;
    ASSERT_FALSE(a->empty()) << q;
    ASSERT_EQ(a->size(), b->size()) << q;
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id) << q;
      EXPECT_EQ((*a)[i].score, (*b)[i].score) << q;
      EXPECT_EQ((*a)[i].dense, (*b)[i].dense) << q;
    }
  }
}

// The snapshot payload with its dense pieces replaced by `pieces` (field
// 19, last, as the writer puts them).
std::string WithDensePieces(pb::Snapshot snap, const std::vector<std::string>& pieces) {
  snap.clear_dense_pieces();
  std::string payload = snap.SerializeAsString();
  for (const std::string& bytes : pieces) AppendPieceField(19, bytes, &payload);
  return testing::SealSnapshot(4, payload);
}

// Damaged dense pieces under a good checksum (so that the dense reader is
// what judges them): truncated, flipped, left out, swapped, or disagreeing
// with the header — Corruption or an index that still answers, never a
// crash (ASan checks the reads).
TEST(Snapshot, DamagedDensePiecesAreCorruption) {
  auto idx = DenseCorpus();
  idx->rep()->snapshot_piece_bytes = 400;
  auto bytes = idx->Snapshot();
  ASSERT_TRUE(bytes.ok());
  const pb::Snapshot snap = WholeMessage(*bytes);
  std::vector<std::string> pieces;
  for (const auto& p : snap.dense_pieces()) pieces.push_back(p.SerializeAsString());
  ASSERT_GT(pieces.size(), 3u);
  ASSERT_TRUE(Index::FromSnapshot(WithDensePieces(snap, pieces)).ok());
  auto expect_corrupt = [&](const pb::Snapshot& s, const std::vector<std::string>& damaged,
                            const std::string& what) {
    auto r = Index::FromSnapshot(WithDensePieces(s, damaged));
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_TRUE(r.status().IsCorruption()) << what << ": " << r.status().ToString();
  };
  for (size_t i : {size_t{0}, pieces.size() / 2, pieces.size() - 1}) {
    const std::string& piece = pieces[i];
    for (size_t n : {size_t{0}, size_t{3}, piece.size() / 2, piece.size() - 1}) {
      auto damaged = pieces;
      damaged[i] = piece.substr(0, n);
      expect_corrupt(snap, damaged, "piece " + std::to_string(i) + " cut to " + std::to_string(n));
    }
    for (size_t at = 0; at < piece.size(); at += 1 + piece.size() / 7) {
      auto damaged = pieces;
      damaged[i][at] ^= static_cast<char>(0x5a);
      auto r = Index::FromSnapshot(WithDensePieces(snap, damaged));
      if (r.ok()) {
        SearchOptions o;
        o.mode = SearchMode::kHybrid;
        (void)(*r)->Search("termination convenience word1", o);  // runs on whatever loaded
      } else {
        EXPECT_TRUE(r.status().IsCorruption()) << i << " @" << at << ": " << r.status().ToString();
      }
    }
    auto missing = pieces;
    missing.erase(missing.begin() + static_cast<long>(i));
    expect_corrupt(snap, missing, "piece " + std::to_string(i) + " left out");
  }
  {
    auto damaged = pieces;
    std::swap(damaged[0], damaged[1]);
    expect_corrupt(snap, damaged, "pieces swapped");
    damaged = pieces;
    damaged.push_back(pieces.back());
    expect_corrupt(snap, damaged, "a piece twice");
  }
  {
    pb::Snapshot bad = snap;
    bad.mutable_dense()->set_node_count(snap.dense().node_count() + 1);
    expect_corrupt(bad, pieces, "header counts a node more");
    bad.mutable_dense()->set_node_count(snap.dense().node_count() - 1);
    expect_corrupt(bad, pieces, "header counts a node fewer");
    bad = snap;
    bad.clear_dense();
    expect_corrupt(bad, pieces, "pieces without a header");
  }
  {
    // A link to a node past the graph, in a piece that is otherwise whole.
    pb::DensePiece p = snap.dense_pieces(0);
    std::string links = p.links();
    ASSERT_GE(links.size(), 8u);
    ASSERT_GT(store::GetU32(links, 0), 0u);  // node 0 has a neighbour on level 0
    links.replace(4, 4, std::string("\xff\xff\x00\x00", 4));
    p.set_links(links);
    auto damaged = pieces;
    damaged[0] = p.SerializeAsString();
    expect_corrupt(snap, damaged, "a link outside the graph");
  }
}

}  // namespace
}  // namespace foldback
