// The fast paths a served search takes (docs/benchmarks.md, "foldback serve:
// where a search's time went"), each against the path it replaces:
// single-word phrase clauses found in the word stream's bytes give the
// chunks that decoding and matching gives, and a ranged mask of many
// scattered ranges (the passages a phrase matched) scores over a byte mask
// with the ranged path's scores bit for bit; walls' and filters' masks
// served from the index's cache give the hits of masks built afresh.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "demo_contracts.h"
#include "foldback/index.h"
#include "index/index_internal.h"
#include "index/positions.h"

namespace foldback {
namespace {

using index::ChunkMask;
using index::DecodedChunk;
using index::PositionalClause;
using index::PositionalOperand;

std::unique_ptr<Index> DemoIndex() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto index = Index::Create(o);
  EXPECT_TRUE(index.ok());
  int n = 0;
  for (auto& docs : testing::DemoContracts()) {
    for (auto& d : docs) {
      d.matter = "m" + std::to_string(n % 4);
      EXPECT_TRUE((*index)->Add(d).ok());
    }
    ++n;
  }
  EXPECT_GE(n, 12);
  return std::move(*index);
}

PositionalClause SingleElement(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  PositionalOperand op;
  op.elements.emplace_back(0, std::move(ids));
  PositionalClause c;
  c.operands.push_back(std::move(op));
  return c;
}

TEST(StreamHasTerm, SameAnswerAsDecodingAndMatching) {
  // Codes of one to four varint bytes, markers and unindexed words among
  // them; single ids (the byte search) and sets (the varint walk).
  const uint32_t kTerms = 3'000'000;
  std::mt19937 rng(17);
  auto draw_id = [&]() -> uint32_t {
    switch (rng() % 6) {
      case 0:
        return rng() % 125;  // one byte
      case 1:
        return 120 + rng() % 10;  // across the one/two-byte edge
      case 2:
        return rng() % 16384;  // two bytes
      case 3:
        return 16380 + rng() % 10;  // across the two/three-byte edge
      case 4:
        return rng() % kTerms;  // up to four bytes
      default:
        return (rng() % 4) * 128 + 125;  // bytes that look like continuations
    }
  };
  size_t found = 0, compared = 0;
  for (int s = 0; s < 3000; ++s) {
    std::string stream;
    int words = static_cast<int>(rng() % 40);
    for (int w = 0; w < words; ++w) {
      uint32_t r = rng() % 10;
      uint32_t code = r == 0   ? index::kCodeUnindexed
                      : r == 1 ? index::kCodeSentence
                      : r == 2 ? index::kCodeParagraph
                               : draw_id() + index::kCodeTermBase;
      index::AppendCode(&stream, code);
    }
    DecodedChunk decoded;
    ASSERT_TRUE(decoded.Decode(stream, kTerms));
    for (int q = 0; q < 8; ++q) {
      std::vector<uint32_t> ids;
      size_t n = q < 4 ? 1 : 1 + rng() % 5;
      for (size_t i = 0; i < n; ++i) {
        // Half the time a term of the stream itself.
        if (rng() % 2 && !decoded.term.empty()) {
          uint32_t t = decoded.term[rng() % decoded.term.size()];
          ids.push_back(t == UINT32_MAX ? draw_id() : t);
        } else {
          ids.push_back(draw_id());
        }
      }
      PositionalClause clause = SingleElement(ids);
      ASSERT_TRUE(index::IsSingleElement(clause));
      const auto& set = clause.operands[0].elements[0].second;
      bool want = index::ClauseMatches(clause, decoded);
      EXPECT_EQ(index::StreamHasTerm(stream, set), want) << "stream " << s << " query " << q;
      found += want;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 24000u);
  EXPECT_GT(found, 5000u);  // both answers are well represented
  EXPECT_LT(found, 19000u);
}

TEST(StreamHasTerm, OnlySingleWordClausesTakeTheFastPath) {
  PositionalClause one = SingleElement({3});
  EXPECT_TRUE(index::IsSingleElement(one));
  PositionalClause phrase = one;
  phrase.operands[0].elements.emplace_back(1, std::vector<uint32_t>{4});
  EXPECT_FALSE(index::IsSingleElement(phrase));
  PositionalClause connected = one;
  connected.operands.push_back(SingleElement({5}).operands[0]);
  connected.connectors.push_back({index::Connector::Kind::kWords, 3});
  EXPECT_FALSE(index::IsSingleElement(connected));
}

// What MatchClauses returned before the fast path: every allowed live
// chunk whose decoded stream matches every clause.
std::vector<uint32_t> DecodeAndMatch(const std::vector<DecodedChunk>& decoded,
                                     const std::vector<PositionalClause>& clauses,
                                     const ChunkMask& mask, const std::vector<uint8_t>& live) {
  std::vector<uint32_t> out;
  for (uint32_t c = 0; c < decoded.size(); ++c) {
    if (!live[c] || !mask.Allows(c)) continue;
    bool all = true;
    for (const auto& clause : clauses) all = all && index::ClauseMatches(clause, decoded[c]);
    if (all) out.push_back(c);
  }
  return out;
}

TEST(MatchClauses, SingleWordClausesGiveTheDecodedMatches) {
  auto idx = DemoIndex();
  // Titles are indexed (title_weight 1) but not in the streams: a title
  // word's postings hold chunks a quoted word must not match.
  Document titled;
  titled.id = "titled";
  titled.title = "Zanzibarian Memorandum";
  titled.text = "The parties agree to the terms below. Nothing else is agreed.";
  ASSERT_TRUE(idx->Add(titled).ok());
  ASSERT_TRUE(idx->Remove("doc3").ok());  // removed chunks stay out
  Index::Rep& rep = *idx->rep();
  const index::LexicalIndex& lex = rep.lexical;
  ASSERT_TRUE(lex.has_positions());
  const size_t chunks = rep.chunks.size();
  std::vector<uint8_t> live(chunks);
  std::vector<DecodedChunk> decoded(chunks);
  for (uint32_t c = 0; c < chunks; ++c) {
    live[c] = rep.docs[rep.chunk_doc[c]].live;
    if (live[c]) {
      ASSERT_TRUE(decoded[c].Decode(lex.stream(c), lex.term_count()));
    }
  }

  auto title_term = lex.Find("zanzibarian");
  ASSERT_TRUE(title_term.has_value());
  ASSERT_GT(lex.Df("zanzibarian"), 0u);  // in the postings, through the title
  ChunkMask all;
  EXPECT_TRUE(lex.MatchClauses({SingleElement({*title_term})}, all).empty())
      << "a word only in a title is not in the passage text";

  std::vector<uint32_t> vocab;
  for (uint32_t t = 0; t < lex.term_count(); ++t) {
    if (lex.Df(lex.term(t)) > 0) vocab.push_back(t);
  }
  std::sort(vocab.begin(), vocab.end(),
            [&](uint32_t a, uint32_t b) { return lex.Df(lex.term(a)) > lex.Df(lex.term(b)); });
  ChunkMask bytes;
  bytes.all = false;
  bytes.allowed.assign(chunks, 0);
  for (uint32_t c = 0; c < chunks; c += 2) bytes.allowed[c] = 1;
  ChunkMask ranged;
  ranged.all = false;
  ranged.ranged = true;
  for (uint32_t c = 5; c + 3 < chunks; c += 9) ranged.ranges.emplace_back(c, c + 3);
  const ChunkMask* masks[] = {&all, &bytes, &ranged};
  std::mt19937 rng(5);
  size_t nonempty = 0;
  for (int q = 0; q < 50; ++q) {
    std::vector<PositionalClause> clauses;
    int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n; ++i) {
      std::vector<uint32_t> ids;
      int width = rng() % 3 == 0 ? 2 + static_cast<int>(rng() % 4) : 1;  // prefix-like sets
      for (int w = 0; w < width; ++w) {
        ids.push_back(rng() % 2 ? vocab[rng() % std::min<size_t>(200, vocab.size())]
                                : vocab[rng() % vocab.size()]);
      }
      if (rng() % 10 == 0) ids.push_back(*title_term);
      clauses.push_back(SingleElement(ids));
    }
    for (const ChunkMask* m : masks) {
      auto want = DecodeAndMatch(decoded, clauses, *m, live);
      EXPECT_EQ(lex.MatchClauses(clauses, *m), want) << "query " << q;
      nonempty += !want.empty();
    }
  }
  EXPECT_GT(nonempty, 30u);
}

// A ranged mask of many small ranges takes the byte-mask loop: the ranking
// and the scores must be the ranged walk's, bit for bit, so compare with
// the exhaustive search over the same chunks as bytes.
TEST(ScatteredRanges, SameScoresAsTheByteMaskBitForBit) {
  auto idx = DemoIndex();
  Index::Rep& rep = *idx->rep();
  index::LexicalIndex& lex = rep.lexical;
  const uint32_t chunks = static_cast<uint32_t>(rep.chunks.size());
  std::vector<std::string> vocab;
  for (uint32_t t = 0; t < lex.term_count(); ++t) {
    if (lex.Df(lex.term(t)) > 0) vocab.push_back(lex.term(t));
  }
  std::sort(vocab.begin(), vocab.end(),
            [&](const std::string& a, const std::string& b) { return lex.Df(a) > lex.Df(b); });
  std::mt19937 rng(23);
  // Masks from few wide ranges (the ranged walk) to many single chunks
  // (the byte loop), with a wall's statistics on some.
  std::vector<ChunkMask> masks;
  for (uint32_t stride : {1u, 2u, 3u, 7u, 40u, 400u}) {
    ChunkMask m;
    m.all = false;
    m.ranged = true;
    uint32_t width = stride >= 40 ? stride / 2 : 1;
    for (uint32_t c = stride / 3; c + width <= chunks; c += stride + width)
      m.ranges.emplace_back(c, c + width);
    masks.push_back(m);
  }
  index::ChunkMask walled;
  SearchOptions so;
  so.allowed_matters = std::set<std::string>{"m1"};
  ASSERT_TRUE(rep.BuildMask(so, &walled).ok());
  ChunkMask walled_scattered = masks[1];
  walled_scattered.stats = walled.stats;
  walled_scattered.ranges.clear();
  for (uint32_t c = 0; c < chunks; ++c) {
    if (walled.Allows(c) && c % 2 == 0) walled_scattered.ranges.emplace_back(c, c + 1);
  }
  masks.push_back(walled_scattered);
  size_t compared = 0;
  for (const ChunkMask& m : masks) {
    ChunkMask bytes = m.AsBytes();
    for (int q = 0; q < 40; ++q) {
      std::vector<index::WeightedTerm> query;
      int terms = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < terms; ++i) {
        size_t pick =
            rng() % 3 == 0 ? rng() % vocab.size() : rng() % std::min<size_t>(200, vocab.size());
        query.push_back({vocab[pick], 0.5 + (rng() % 4) * 0.5});
      }
      const std::vector<uint32_t>* groups[] = {nullptr, &rep.chunk_doc};
      for (const auto* group : groups) {
        size_t k = 1 + rng() % 100;
        lex.set_strategy(index::LexicalIndex::Strategy::kExhaustive);
        auto want = lex.Search(query, bytes, k, group);
        lex.set_strategy(index::LexicalIndex::Strategy::kAuto);
        auto got = lex.Search(query, m, k, group);
        EXPECT_EQ(got, want) << "query " << q << " ranges " << m.ranges.size();
        ++compared;
      }
    }
  }
  lex.set_strategy(index::LexicalIndex::Strategy::kAuto);
  EXPECT_EQ(compared, 560u);
}

}  // namespace
}  // namespace foldback

namespace foldback {
namespace {

// Every field of every hit, scores as bits.
std::string Bits(const Result<std::vector<SearchHit>>& hits) {
  if (!hits.ok()) return "error: " + hits.status().ToString();
  std::string out;
  for (const auto& h : *hits) {
    uint64_t b[2];
    std::memcpy(&b[0], &h.score, 8);
    std::memcpy(&b[1], &h.bm25, 8);
    out += h.chunk_id + "|" + std::to_string(b[0]) + "|" + std::to_string(b[1]) + "\n";
  }
  return out;
}

// Walls' masks (with their statistics scopes and per-term counts) are
// cached across searches: users taking turns behind different walls, and
// documents added to and removed from matters in between, must get what a
// fresh index (nothing cached) gives, bit for bit.
TEST(WallMaskCache, SameResultsAsAFreshIndexAcrossWallsAndChanges) {
  auto warm = DemoIndex();
  const std::vector<std::set<std::string>> walls = {{"m1"}, {"m2"}, {"m1", "m3"}, {"m0"}, {"m1"}};
  const std::vector<std::string> queries = {
      "termination for convenience", "governing law", "indemnify third party claims",
      "confidential information", "\"payment\" within thirty days"};
  auto run = [&](const Index& idx, const std::set<std::string>& wall, const std::string& q) {
    SearchOptions o;
    o.mode = SearchMode::kBm25;
    o.top_k = 10;
    o.allowed_matters = wall;
    return Bits(idx.Search(q, o));
  };
  auto compare = [&](const char* when) {
    auto fresh = Index::FromSnapshot(*warm->Snapshot());
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    for (int round = 0; round < 3; ++round) {  // the second and third rounds hit the cache
      for (const auto& wall : walls) {
        for (const auto& q : queries) {
          // Nothing cached: a new mask and statistics scope.
          SearchOptions o;
          o.mode = SearchMode::kBm25;
          o.top_k = 10;
          o.allowed_matters = wall;
          index::ChunkMask mask;
          ASSERT_TRUE(warm->rep()->BuildMaskUncached(o, &mask).ok());
          std::string want = Bits(warm->rep()->Search(q, o, mask));
          ASSERT_FALSE(want.empty()) << q;
          EXPECT_EQ(run(*warm, wall, q), want) << when << " round " << round << " " << q;
          EXPECT_EQ(run(**fresh, wall, q), want) << when << " round " << round << " " << q;
        }
      }
    }
  };
  compare("loaded");
  Document d;
  d.id = "late";
  d.matter = "m2";  // another matter: m1's statistics must not move, m2's must
  d.text =
      "Termination for convenience requires thirty days notice and payment of all fees. "
      "Confidential information survives termination.";
  ASSERT_TRUE(warm->Add(d).ok());
  compare("after an add");
  ASSERT_TRUE(warm->Remove("late").ok());
  compare("after a remove");
}

}  // namespace
}  // namespace foldback

namespace foldback {
namespace {

// Filters' masks are cached too (Rep::ScopeMask): an add-in asks one
// contract question after question. Every scope — filters in either order,
// a wall with filters — must give, at every point of a series of adds,
// removes and updates, the hits a mask built afresh gives: a cached mask
// from before a change misses the chunks added since (the checks below
// that the new chunks are found fail when the cache ignores changes).
TEST(ScopeMaskCache, FilteredSearchesFollowAddsRemovesAndUpdates) {
  IndexOptions options;
  options.dense.embedder = EmbedderKind::kNone;
  auto created = Index::Create(options);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<Index> warm = std::move(*created);
  // Other documents around the contracts, so that a contract's scope is a
  // few chunk ranges and a matter's a byte per chunk (both mask forms).
  const char* words[] = {"notice", "termination", "payment",   "confidential",
                         "party",  "clause",      "warranty",  "liability",
                         "days",   "information", "governing", "law"};
  for (int i = 0; i < 120; ++i) {
    Document d;
    d.id = "other" + std::to_string(i);
    d.matter = "m" + std::to_string(i % 2);
    for (int w = 0; w < 12; ++w) d.text += std::string(words[(i * 7 + w * 5) % 12]) + " ";
    ASSERT_TRUE(warm->Add(d).ok());
  }
  auto contract = [](int i, const std::string& c, const std::string& extra) {
    Document d;
    d.id = "k" + std::to_string(i);
    d.matter = "m" + std::to_string(i % 2);
    d.metadata["contract"] = {c};
    d.text = "Termination for convenience on thirty days notice, clause " + std::to_string(i) +
             ". Confidential information is returned on termination. " + extra;
    return d;
  };
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(warm->Add(contract(i, "c" + std::to_string(i % 3), "")).ok());
  auto eq = [](const std::string& f, const std::string& v) {
    return Filter{f, Filter::Op::kEq, v};
  };
  std::vector<SearchOptions> scopes;
  auto scope = [&](std::vector<Filter> filters, std::optional<std::set<std::string>> wall = {}) {
    SearchOptions o;
    o.mode = SearchMode::kBm25;
    o.top_k = 10;
    o.filters = std::move(filters);
    o.allowed_matters = std::move(wall);
    scopes.push_back(o);
  };
  scope({eq("contract", "c0")});
  scope({eq("contract", "c1")});
  scope({eq("contract", "c0"), eq("matter", "m1")});
  scope({eq("matter", "m1"), eq("contract", "c0")});  // the same scope, the other order
  scope({eq("id", "k2")});
  scope({eq("contract", "c1")}, std::set<std::string>{"m1"});
  scope({eq("contract", "c1")}, std::set<std::string>{"m0", "m1"});
  scope({Filter{"contract", Filter::Op::kGe, "c1"}});
  scope({}, std::set<std::string>{"m0"});
  const std::vector<std::string> queries = {
      "termination for convenience", "confidential information", "thirty days notice clause"};
  // Hits through the cache (twice: the second search is served from it)
  // against a mask built afresh; returns the doc ids of one scope's hits.
  auto compare = [&](const char* when) {
    for (int round = 0; round < 2; ++round) {
      for (size_t s = 0; s < scopes.size(); ++s) {
        for (const auto& q : queries) {
          index::ChunkMask fresh;
          ASSERT_TRUE(warm->rep()->BuildMaskUncached(scopes[s], &fresh).ok());
          std::string want = Bits(warm->rep()->Search(q, scopes[s], fresh));
          EXPECT_EQ(Bits(warm->Search(q, scopes[s])), want)
              << when << " round " << round << " scope " << s << " " << q;
        }
      }
    }
  };
  auto doc_ids = [&](const SearchOptions& o) {
    std::set<std::string> out;
    auto hits = warm->Search("termination for convenience", o);
    EXPECT_TRUE(hits.ok());
    if (hits.ok()) {
      for (const auto& h : *hits) out.insert(h.doc_id);
    }
    return out;
  };
  compare("built");
  EXPECT_EQ(doc_ids(scopes[0]), (std::set<std::string>{"k0", "k3"}));
  // The same scope in either order shares one cached mask.
  auto a = warm->rep()->SharedMask(scopes[2]);
  auto b = warm->rep()->SharedMask(scopes[3]);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());

  // An add into a cached scope.
  ASSERT_TRUE(warm->Add(contract(6, "c0", "")).ok());
  compare("after an add");
  EXPECT_EQ(doc_ids(scopes[0]), (std::set<std::string>{"k0", "k3", "k6"}));
  auto c = warm->rep()->SharedMask(scopes[2]);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->get(), c->get());
  // An update moving a document into a cached scope (new chunk numbers).
  ASSERT_TRUE(warm->Add(contract(1, "c0", "Updated.")).ok());
  compare("after an update into the scope");
  EXPECT_EQ(doc_ids(scopes[0]), (std::set<std::string>{"k0", "k1", "k3", "k6"}));
  EXPECT_EQ(doc_ids(scopes[1]), (std::set<std::string>{"k4"}));
  // An update of the text only, then a remove.
  ASSERT_TRUE(warm->Add(contract(2, "c2", "Termination for convenience, again.")).ok());
  compare("after a text update");
  EXPECT_EQ(doc_ids(scopes[4]), (std::set<std::string>{"k2"}));
  ASSERT_TRUE(warm->Remove("k3").ok());
  compare("after a remove");
  EXPECT_EQ(doc_ids(scopes[0]), (std::set<std::string>{"k0", "k1", "k6"}));

  // Bounded: many scopes keep at most kScopeMasks masks.
  for (int i = 0; i < 40; ++i) {
    SearchOptions o;
    o.filters = {eq("id", "k" + std::to_string(i))};
    ASSERT_TRUE(warm->rep()->SharedMask(o).ok());
  }
  std::lock_guard<std::mutex> lock(warm->rep()->scope_masks_mu);
  EXPECT_EQ(warm->rep()->scope_masks.size(), Index::Rep::kScopeMasks);
}

}  // namespace
}  // namespace foldback
