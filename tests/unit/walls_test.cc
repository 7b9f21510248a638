// Ethical walls, end to end through the core: a user walled off from a
// matter gets none of its chunks — from BM25, HNSW, hybrid (RRF and
// weighted), the ask session's prompts (every message of every need), RM3,
// demos, Rocchio relevance feedback, the query adapter, warmed caches and
// exports — and revoking access takes effect on the very next query. Last,
// a randomized property test: many matters, random walls, random queries
// through every path, no leak ever.
//
// Every check here has a twin without the wall that must see the walled
// matter, so that a test cannot pass by finding nothing at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "foldback/ask.h"
#include "foldback/feedback.h"
#include "foldback/index.h"
#include "index/index_internal.h"
#include "rewrite/rm3.h"

namespace foldback {
namespace {

using MatterSet = std::set<std::string>;

// The walled matter's words: each appears in its documents only.
const char kCanary[] = "zanzibarite";
const char kCanary2[] = "quokkafield";
const char kGamma[] = "gamma";

const std::vector<std::string> kClauses = {
    "Either party may terminate this agreement for convenience on thirty days written notice.",
    "The supplier shall indemnify the customer against all third party claims and losses.",
    "This agreement is governed by the laws of the State of Delaware.",
    "Confidential information must be returned or destroyed upon termination.",
    "Invoices are payable within forty five days of receipt by wire transfer.",
    "The receiving party shall not reverse engineer any samples or prototypes.",
};

struct Corpus {
  std::unique_ptr<Index> index;
  std::vector<std::string> gamma_docs;
};

// Matters alpha, beta and gamma (the walled one), plus documents of no
// matter. Gamma's documents say the same legal things as the others, plus
// its own words — so every query reaches them when the wall is down.
Corpus MakeCorpus(EmbedderKind embedder) {
  IndexOptions o;
  o.chunker.target_tokens = 40;
  o.chunker.max_tokens = 80;
  o.dense.embedder = embedder;
  if (embedder == EmbedderKind::kStatic) o.dense.dimension = 32;
  if (embedder == EmbedderKind::kExternal) o.dense.dimension = 8;
  auto index = Index::Create(o);
  EXPECT_TRUE(index.ok());
  Corpus c;
  std::mt19937 rng(11);
  for (const std::string matter : {"alpha", "beta", kGamma, ""}) {
    for (int d = 0; d < 8; ++d) {
      Document doc;
      doc.matter = matter;
      doc.id = (matter.empty() ? "public" : matter) + "-" + std::to_string(d);
      doc.title = (matter == kGamma ? std::string("Project Zanzibarite ") : "Agreement ") + std::to_string(d);
      for (int k = 0; k < 3; ++k) {
        doc.text += kClauses[(d + k) % kClauses.size()] + " ";
        if (matter == kGamma) {
          doc.text += std::string("Project ") + kCanary + " stays secret. ";
          // Rare enough (two documents) for RM3 to take it as an expansion term.
          if (d < 2) doc.text += std::string("The ") + kCanary2 + " site stays secret. ";
        }
      }
      if (matter == kGamma) c.gamma_docs.push_back(doc.id);
      EXPECT_TRUE((*index)->Add(doc).ok());
    }
  }
  if (embedder == EmbedderKind::kStatic) {
    EXPECT_TRUE((*index)->BuildDense().ok());
  }
  if (embedder == EmbedderKind::kExternal) {
    for (const std::string& id : (*index)->ChunksMissingVectors()) {
      std::vector<float> v(8);
      for (float& x : v) x = static_cast<float>(rng() % 1000) / 1000.0f;
      EXPECT_TRUE((*index)->SetChunkVector(id, v).ok());
    }
  }
  c.index = std::move(index.value());
  return c;
}

bool IsGamma(const Index& index, const std::string& chunk_or_doc) {
  const Chunk* c = index.FindChunk(chunk_or_doc);
  const Document* d = index.FindDocument(c ? c->doc_id : chunk_or_doc);
  return d && d->matter == kGamma;
}

bool Leaks(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return lower.find(kCanary) != std::string::npos || lower.find(kCanary2) != std::string::npos ||
         lower.find("zanzibar") != std::string::npos || lower.find("quokka") != std::string::npos;
}

// Counts gamma hits; a leak of its words in any field is a failure.
size_t GammaHits(const Index& index, const std::vector<SearchHit>& hits) {
  size_t n = 0;
  for (const SearchHit& h : hits) {
    bool gamma = h.matter == kGamma || IsGamma(index, h.chunk_id);
    n += gamma;
  }
  return n;
}

void ExpectNoGamma(const Index& index, const std::vector<SearchHit>& hits, const std::string& what) {
  for (const SearchHit& h : hits) {
    EXPECT_NE(h.matter, kGamma) << what;
    EXPECT_FALSE(IsGamma(index, h.chunk_id)) << what << ": " << h.chunk_id;
    EXPECT_FALSE(Leaks(h.text) || Leaks(h.title) || Leaks(h.section)) << what << ": " << h.text;
  }
}

const MatterSet kWalled = {"alpha", "beta"};
const MatterSet kOpen = {"alpha", "beta", kGamma};

const std::vector<std::string> kQueries = {
    std::string("Project ") + kCanary,
    std::string(kCanary2) + " site secret",
    "terminate for convenience",
    "indemnify third party claims",
    "Zanzibarite 3",
    "agreement",
};

// ---------------------------------------------------------------- search

TEST(Walls, EverySearchPathKeepsTheWalledMatterOut) {
  for (EmbedderKind embedder : {EmbedderKind::kNone, EmbedderKind::kStatic, EmbedderKind::kExternal}) {
    Corpus c = MakeCorpus(embedder);
    size_t open_gamma = 0;
    for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
      for (Fusion fusion : {Fusion::kRrf, Fusion::kWeightedSum}) {
        for (bool per_doc : {false, true}) {
          for (size_t k : {1, 5, 1000}) {
            for (const std::string& q : kQueries) {
              SearchOptions so;
              so.mode = mode;
              so.fusion = fusion;
              so.one_per_document = per_doc;
              so.top_k = k;
              if (embedder == EmbedderKind::kExternal) {
                // One query vector for all: near every chunk, gamma's
                // included, when the wall is down.
                so.query_vector = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
              }
              std::string what = std::string(SearchModeName(mode)) + "/" + FusionName(fusion) +
                                  (per_doc ? "/per-doc" : "") + " k=" + std::to_string(k) + " " + q;
              so.allowed_matters = kWalled;
              auto walled = c.index->Search(q, so);
              ASSERT_TRUE(walled.ok()) << walled.status().ToString();
              ExpectNoGamma(*c.index, *walled, what);
              so.allowed_matters = kOpen;
              auto open = c.index->Search(q, so);
              ASSERT_TRUE(open.ok());
              open_gamma += GammaHits(*c.index, *open);
              // Walled chunks never take top-k slots: as many results as
              // the visible documents can give.
              if (k == 5 && mode == SearchMode::kBm25 && q == "agreement") {
                EXPECT_EQ(walled->size(), 5u);
              }
            }
          }
        }
      }
    }
    EXPECT_GT(open_gamma, 100u) << "the twin without the wall must reach gamma";
  }
}

TEST(Walls, FiltersCannotOpenAWall) {
  Corpus c = MakeCorpus(EmbedderKind::kStatic);
  for (const std::string filter : {"matter=gamma", "id=gamma-3", "title=Project Zanzibarite 3"}) {
    SearchOptions so;
    so.filters.push_back(Filter::Parse(filter).value());
    so.allowed_matters = kWalled;
    for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
      so.mode = mode;
      auto hits = c.index->Search(kCanary, so);
      ASSERT_TRUE(hits.ok());
      EXPECT_TRUE(hits->empty()) << filter;
    }
    so.allowed_matters = kOpen;
    so.mode = SearchMode::kBm25;
    EXPECT_FALSE(c.index->Search(kCanary, so)->empty()) << filter;
  }
}

// ---------------------------------------------------------------- ask

std::string NeedText(const Need& n) {
  std::string all;
  for (const ChatMessage& m : n.llm.messages) all += m.role + ": " + m.content + "\n";
  for (const std::string& t : n.embed.texts) all += "embed: " + t + "\n";
  return all;
}

// A model that tries its hardest to reach the walled matter: every query it
// writes asks for gamma's words, and its answer cites passages it was never
// shown.
NeedResult Hostile(const Need& n, size_t dim) {
  NeedResult r;
  if (n.kind == Need::Kind::kEmbed) {
    r.vectors.assign(n.embed.texts.size(), std::vector<float>(dim, 0.5f));
  } else if (n.purpose == "answer") {
    r.text = std::string("[[ ## answer ## ]]\nProject ") + kCanary + " is in [1] and [9] [40].\n\n[[ ## completed ## ]]";
  } else {
    r.text = std::string("[[ ## query ## ]]\n") + kCanary + " " + kCanary2 + " Zanzibarite secret\n\n[[ ## completed ## ]]";
  }
  return r;
}

struct AskRun {
  std::vector<Need> needs;
  AskResult result;
};

AskRun RunAsk(const Index& index, const std::string& question, AskOptions o, size_t dim) {
  AskRun run;
  auto s = AskSession::Start(index, question, o, 0);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return run;
  for (int guard = 0; !(*s)->done() && guard < 200; ++guard) {
    auto needs = (*s)->TakeNeeds();
    if (needs.empty()) break;
    for (const Need& n : needs) {
      run.needs.push_back(n);
      EXPECT_TRUE((*s)->Provide(n.id, Hostile(n, dim), 1).ok());
    }
  }
  EXPECT_TRUE((*s)->done());
  run.result = (*s)->result();
  return run;
}

TEST(Walls, EveryPromptOfTheAskSessionAndItsResultStayInside) {
  for (EmbedderKind embedder : {EmbedderKind::kNone, EmbedderKind::kStatic, EmbedderKind::kExternal}) {
    Corpus c = MakeCorpus(embedder);
    size_t open_leaks = 0, prompts = 0;
    for (RewriteMode rewrite : {RewriteMode::kLlm, RewriteMode::kRm3, RewriteMode::kNone}) {
      for (SearchMode mode : {SearchMode::kBm25, SearchMode::kHybrid, SearchMode::kDense}) {
        for (uint32_t variants : {1u, 3u}) {
          for (const std::string& question :
               {std::string("What happens at Project ") + kCanary + "?", std::string("terminate for convenience")}) {
            AskOptions o;
            o.hops = 3;
            o.depth = 10;
            o.top_k = 10;
            o.answer = true;
            o.rewrite = rewrite;
            o.variants = variants;
            o.search.mode = mode;
            o.search.allowed_matters = kWalled;
            AskRun run = RunAsk(*c.index, question, o, 8);
            std::string what = std::string(RewriteModeName(rewrite)) + "/" + SearchModeName(mode) + " " + question;
            for (const Need& n : run.needs) {
              ++prompts;
              std::string text = NeedText(n);
              // The question and the hostile model's own queries name the
              // canary; what must never appear is gamma's passages: its
              // other word, its titles.
              EXPECT_EQ(text.find(kCanary2 + std::string(" site stays secret")), std::string::npos) << what;
              EXPECT_EQ(text.find("Project Zanzibarite"), std::string::npos) << what << "\n" << text;
              for (const std::string& id : c.gamma_docs) {
                EXPECT_EQ(text.find(id), std::string::npos);
              }
            }
            ExpectNoGamma(*c.index, run.result.passages, what);
            for (const TraceHop& h : run.result.trace.hops) {
              for (const TraceHit& x : h.results) {
                EXPECT_FALSE(IsGamma(*c.index, x.chunk_id)) << what;
              }
              if (h.source == "rm3" || h.source == "fallback-rm3") {
                // RM3 read only visible passages: gamma's words are not in
                // its expansion (the question's own words may be).
                EXPECT_EQ(h.query.find("quokkafield^"), std::string::npos) << h.query;
              }
            }
            for (const Citation& cit : run.result.citations) {
              EXPECT_FALSE(IsGamma(*c.index, cit.chunk_id));
            }
            std::string json = TraceToJson(run.result.trace);
            for (const std::string& id : c.gamma_docs) {
              EXPECT_EQ(json.find("\"" + id + "\""), std::string::npos);
            }

            // The twin: the same ask with gamma allowed does reach it.
            o.search.allowed_matters = kOpen;
            AskRun open = RunAsk(*c.index, question, o, 8);
            for (const Need& n : open.needs) open_leaks += NeedText(n).find("Project Zanzibarite") != std::string::npos;
            open_leaks += GammaHits(*c.index, open.result.passages);
          }
        }
      }
    }
    EXPECT_GT(prompts, 30u);
    EXPECT_GT(open_leaks, 20u) << "the twin without the wall must reach gamma";
  }
}

// RM3 expands from feedback passages: without the wall, gamma's passages
// are the question's feedback and its words come into the expansion; with
// it they cannot.
TEST(Walls, Rm3ExpansionNeverReadsWalledPassages) {
  Corpus c = MakeCorpus(EmbedderKind::kNone);
  AskOptions o;
  o.hops = 1;
  o.rewrite = RewriteMode::kRm3;
  o.search.mode = SearchMode::kBm25;
  o.search.allowed_matters = kOpen;
  AskRun open = RunAsk(*c.index, std::string("Project ") + kCanary, o, 0);
  ASSERT_EQ(open.result.trace.hops.size(), 1u);
  EXPECT_NE(open.result.trace.hops[0].query.find("quokkafield"), std::string::npos)
      << open.result.trace.hops[0].query;
  o.search.allowed_matters = kWalled;
  AskRun walled = RunAsk(*c.index, std::string("Project ") + kCanary, o, 0);
  ASSERT_EQ(walled.result.trace.hops.size(), 1u);
  EXPECT_EQ(walled.result.trace.hops[0].query.find("quokkafield"), std::string::npos)
      << walled.result.trace.hops[0].query;
  ExpectNoGamma(*c.index, walled.result.passages, "rm3");
}

// ---------------------------------------------------------------- feedback

std::string FirstChunk(const Index& index, const std::string& doc) {
  auto chunks = index.ChunksOf(doc);
  EXPECT_FALSE(chunks.empty()) << doc;
  return chunks.empty() ? "" : chunks[0]->id;
}

// A lawyer asked `question` in `matter`, was shown `shown` and labelled the
// first relevant, the last not relevant. `record_matters` false: the record
// keeps no passage matters (an older client), so only the index can tell.
FeedbackRecord Record(const Index& index, const std::string& id, const std::string& matter,
                      const std::string& question, const std::vector<std::string>& shown,
                      bool record_matters = true) {
  FeedbackRecord r;
  r.record_id = id;
  r.trace_id = "trace-" + id;
  r.matter = matter;
  r.question = question;
  r.hop_queries = {question, question + " clause"};
  r.preferred_rewrite = question + " (" + id + ")";
  uint32_t rank = 0;
  for (const std::string& doc : shown) {
    ShownResult s;
    s.chunk_id = FirstChunk(index, doc);
    s.doc_id = doc;
    s.rank = ++rank;
    s.text_hash = FeedbackTextHash(index.FindChunk(s.chunk_id)->text);
    if (record_matters) s.matter = index.FindDocument(doc)->matter;
    r.results.push_back(s);
  }
  r.labels.push_back({r.results.front().chunk_id, PassageLabel::kRelevant});
  if (r.results.size() > 1) r.labels.push_back({r.results.back().chunk_id, PassageLabel::kNotRelevant});
  r.answer = "See [1].";
  r.corrected_answer = "Yes: see [1] and the notice period.";
  r.rating = Rating::Up();
  r.consent_to_train = true;
  return r;
}

// Records of every kind that touch gamma: asked in gamma; asked in alpha
// but showing a gamma passage; showing a gamma passage with no matter
// recorded anywhere. Plus plenty of alpha/beta records, and enough gamma
// labels to train a query adapter.
std::vector<FeedbackRecord> Feedback(const Index& index) {
  std::vector<FeedbackRecord> out;
  const std::string q = std::string("Can we terminate Project ") + kCanary + " for convenience?";
  for (int i = 0; i < 8; ++i) {
    out.push_back(Record(index, "g-own-" + std::to_string(i), kGamma, q,
                         {"gamma-" + std::to_string(i), "gamma-" + std::to_string((i + 1) % 8)}));
  }
  for (int i = 0; i < 24; ++i) {
    out.push_back(Record(index, "g-adapter-" + std::to_string(i), kGamma,
                         std::string(kCanary2) + " secret site termination " + std::to_string(i),
                         {"gamma-" + std::to_string(i % 8), "gamma-" + std::to_string((i + 3) % 8)}));
  }
  out.push_back(Record(index, "a-shows-gamma", "alpha", q, {"gamma-2", "alpha-1"}));
  out.push_back(Record(index, "none-shows-gamma", "", q, {"gamma-4", "public-1"}, false));
  for (int i = 0; i < 8; ++i) {
    out.push_back(Record(index, "a-" + std::to_string(i), i % 2 ? "alpha" : "beta",
                         "Can we terminate the agreement for convenience?",
                         {(i % 2 ? "alpha-" : "beta-") + std::to_string(i), "public-" + std::to_string((i + 3) % 8)}));
  }
  return out;
}

bool TouchesGamma(const std::string& record_id) {
  return record_id.rfind("g-", 0) == 0 || record_id.find("shows-gamma") != std::string::npos;
}

TEST(Walls, DemosRelevanceFeedbackAndTheAdapterIgnoreWalledRecords) {
  Corpus c = MakeCorpus(EmbedderKind::kStatic);
  auto records = Feedback(*c.index);
  FoldBackOptions fo;
  auto fb = FoldBack::Build(*c.index, records, fo);
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();
  ASSERT_TRUE((*fb)->stats().adapter_trained) << (*fb)->stats().adapter_note;

  const std::vector<std::string> questions = {
      std::string("Can we terminate Project ") + kCanary + " for convenience?",
      std::string(kCanary2) + " secret site termination 3", "Can we terminate the agreement for convenience?"};
  size_t open_demos = 0, open_neighbours = 0, open_adapter = 0, open_hits = 0;
  for (const std::string& q : questions) {
    // Demos.
    for (const Demo& d : (*fb)->DemosFor(q, 50, kWalled)) {
      EXPECT_FALSE(TouchesGamma(d.record_id)) << d.record_id;
      EXPECT_FALSE(Leaks(d.query + d.answer)) << d.query;
    }
    for (const Demo& d : (*fb)->DemosFor(q, 50, kOpen)) open_demos += TouchesGamma(d.record_id);
    // Rocchio and the adapter, on every search mode.
    for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
      SearchOptions so;
      so.mode = mode;
      so.top_k = 20;
      so.allowed_matters = kWalled;
      auto e = (*fb)->Expand(*c.index, q, so);
      ASSERT_TRUE(e.ok());
      for (const std::string& n : e->neighbours) {
        EXPECT_FALSE(TouchesGamma(n)) << n;
      }
      for (const auto& t : e->terms) {
        // Gamma's words may be in the question; never added by feedback.
        if (q.find(kCanary2) == std::string::npos) {
          EXPECT_EQ(t.term.find("quokka"), std::string::npos) << t.term;
        }
      }
      EXPECT_FALSE(e->adapter_applied) << "the adapter learned from gamma";
      auto hits = (*fb)->Search(*c.index, q, so);
      ASSERT_TRUE(hits.ok());
      ExpectNoGamma(*c.index, *hits, "foldback " + q);

      so.allowed_matters = kOpen;
      auto eo = (*fb)->Expand(*c.index, q, so);
      for (const std::string& n : eo->neighbours) open_neighbours += TouchesGamma(n);
      open_adapter += eo->adapter_applied;
      open_hits += GammaHits(*c.index, *(*fb)->Search(*c.index, q, so));
      // Unset walls see every matter (a single-user host).
      so.allowed_matters.reset();
      EXPECT_TRUE((*fb)->Search(*c.index, q, so).ok());
    }
  }
  EXPECT_GT(open_demos, 0u);
  EXPECT_GT(open_neighbours, 0u);
  EXPECT_GT(open_adapter, 0u);
  EXPECT_GT(open_hits, 0u);

  // A FoldBack built behind a wall holds nothing of gamma at all.
  FoldBackOptions scoped = fo;
  scoped.allowed_matters = kWalled;
  auto inside = FoldBack::Build(*c.index, records, scoped);
  ASSERT_TRUE(inside.ok());
  EXPECT_FALSE((*inside)->stats().adapter_trained);
  for (const std::string& q : questions) {
    for (const Demo& d : (*inside)->DemosFor(q, 50, std::nullopt)) {
      EXPECT_FALSE(TouchesGamma(d.record_id));
    }
    SearchOptions so;
    so.top_k = 20;
    auto e = (*inside)->Expand(*c.index, q, so);
    for (const std::string& n : e->neighbours) {
      EXPECT_FALSE(TouchesGamma(n)) << n;
    }
  }
}

// The ask session folds feedback back in (demos in the query writer's
// prompt, relevance feedback and the adapter in every hop's search): a
// walled user's session uses none of gamma's records.
TEST(Walls, AskFoldingFeedbackBackUsesOnlyVisibleRecords) {
  Corpus c = MakeCorpus(EmbedderKind::kStatic);
  auto records = Feedback(*c.index);
  auto fb = FoldBack::Build(*c.index, records);
  ASSERT_TRUE(fb.ok());
  size_t open_gamma_demos = 0, walled_demos = 0;
  for (const std::string& question : {std::string("Can we terminate Project ") + kCanary + " for convenience?",
                                      std::string("Can we terminate the agreement for convenience?")}) {
    for (const MatterSet& wall : {kWalled, kOpen}) {
      AskOptions o;
      o.hops = 2;
      o.answer = true;
      o.search.allowed_matters = wall;
      auto s = AskSession::Start(*c.index, question, o, 0, nullptr, fb->get());
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      std::vector<Need> needs;
      for (int guard = 0; !(*s)->done() && guard < 50; ++guard) {
        auto batch = (*s)->TakeNeeds();
        if (batch.empty()) break;
        for (const Need& n : batch) {
          needs.push_back(n);
          ASSERT_TRUE((*s)->Provide(n.id, Hostile(n, 32), 1).ok());
        }
      }
      ASSERT_TRUE((*s)->done());
      const AskResult& r = (*s)->result();
      if (wall == kWalled) {
        walled_demos += r.trace.feedback_demos.size();
        for (const std::string& id : r.trace.feedback_demos) EXPECT_FALSE(TouchesGamma(id)) << id;
        for (const Need& n : needs) {
          std::string text = NeedText(n);
          // Demos carry their record's preferred rewrite: "... (g-own-3)".
          EXPECT_EQ(text.find("(g-"), std::string::npos) << text;
          EXPECT_EQ(text.find("shows-gamma"), std::string::npos);
          EXPECT_EQ(text.find("Project Zanzibarite"), std::string::npos);
        }
        ExpectNoGamma(*c.index, r.passages, "ask with feedback");
        for (const TraceHop& h : r.trace.hops) {
          for (const TraceHit& x : h.results) EXPECT_FALSE(IsGamma(*c.index, x.chunk_id));
        }
      } else {
        for (const std::string& id : r.trace.feedback_demos) open_gamma_demos += TouchesGamma(id);
      }
    }
  }
  EXPECT_GT(walled_demos, 0u) << "visible records are folded back";
  EXPECT_GT(open_gamma_demos, 0u) << "the twin without the wall gets gamma's demos";
}

// Caches warmed by a user who may see gamma (the analyzer's stem cache, the
// index's word -> term cache, FoldBack's per-chunk vectors) give nothing to
// the next user behind the wall.
TEST(Walls, CachesWarmedByOneUserGiveNothingToAnother) {
  Corpus c = MakeCorpus(EmbedderKind::kStatic);
  auto fb = FoldBack::Build(*c.index, Feedback(*c.index));
  ASSERT_TRUE(fb.ok());
  SearchOptions so;
  so.top_k = 50;
  for (int round = 0; round < 3; ++round) {
    for (const std::string& q : kQueries) {
      so.allowed_matters = kOpen;
      ASSERT_TRUE(c.index->Search(q, so).ok());
      ASSERT_TRUE((*fb)->Search(*c.index, q, so).ok());
      so.allowed_matters = kWalled;
      ExpectNoGamma(*c.index, *c.index->Search(q, so), "warm " + q);
      ExpectNoGamma(*c.index, *(*fb)->Search(*c.index, q, so), "warm fb " + q);
    }
  }
  // New gamma text after the caches are warm (the word -> term cache is
  // used while adding): still walled.
  Document late;
  late.id = "gamma-late";
  late.matter = kGamma;
  late.text = std::string("Late memo on ") + kCanary + " and " + kCanary2 + " termination.";
  ASSERT_TRUE(c.index->Add(late).ok());
  ASSERT_TRUE(c.index->BuildDense().ok());
  so.allowed_matters = kWalled;
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
    so.mode = mode;
    ExpectNoGamma(*c.index, *c.index->Search("late memo termination", so), "late");
  }
}

// ---------------------------------------------------------------- exports

TEST(Walls, ExportsLeaveWalledRecordsOut) {
  Corpus c = MakeCorpus(EmbedderKind::kNone);
  auto records = Feedback(*c.index);
  for (ExportFormat f : {ExportFormat::kTriplets, ExportFormat::kDpo, ExportFormat::kSft, ExportFormat::kDemos}) {
    ExportOptions eo;
    eo.allowed_matters = kWalled;
    ExportReport rep;
    auto out = ExportFeedback(*c.index, records, f, eo, &rep);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_FALSE(Leaks(*out)) << ExportFormatName(f) << "\n" << *out;
    for (const FeedbackRecord& r : records) {
      if (TouchesGamma(r.record_id)) {
        EXPECT_EQ(out->find(r.record_id), std::string::npos);
      }
    }
    EXPECT_EQ(rep.walled, 34u) << ExportFormatName(f);  // 8 + 24 gamma, 2 showing gamma
    EXPECT_GT(rep.exported, 0u) << ExportFormatName(f);
    // The twin: a firm-wide export (no wall) has gamma's passages.
    auto all = ExportFeedback(*c.index, records, f);
    ASSERT_TRUE(all.ok());
    if (f != ExportFormat::kDemos) {
      EXPECT_TRUE(Leaks(*all)) << ExportFormatName(f);
    }
  }
}

// ---------------------------------------------------------------- revocation

TEST(Walls, RevokingAccessTakesEffectOnTheNextQuery) {
  Corpus c = MakeCorpus(EmbedderKind::kStatic);
  auto fb = FoldBack::Build(*c.index, Feedback(*c.index));
  ASSERT_TRUE(fb.ok());
  MatterSet allowed = kOpen;  // the host's view of this user's rights
  const std::string q = std::string("Project ") + kCanary + " termination";
  for (int flip = 0; flip < 6; ++flip) {
    bool granted = flip % 2 == 0;
    allowed = granted ? kOpen : kWalled;
    for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
      SearchOptions so;
      so.mode = mode;
      so.top_k = 10;
      so.allowed_matters = allowed;
      auto direct = c.index->Search(q, so);
      auto folded = (*fb)->Search(*c.index, q, so);
      ASSERT_TRUE(direct.ok() && folded.ok());
      if (granted) {
        EXPECT_GT(GammaHits(*c.index, *direct), 0u);
        EXPECT_GT(GammaHits(*c.index, *folded), 0u);
      } else {
        ExpectNoGamma(*c.index, *direct, "revoked");
        ExpectNoGamma(*c.index, *folded, "revoked foldback");
      }
      EXPECT_EQ((*fb)->DemosFor(q, 50, allowed).empty() ? 0 : 1, 1);
      for (const Demo& d : (*fb)->DemosFor(q, 50, allowed)) {
        if (!granted) {
          EXPECT_FALSE(TouchesGamma(d.record_id));
        }
      }
    }
    AskOptions o;
    o.hops = 2;
    o.answer = true;
    o.search.allowed_matters = allowed;
    AskRun run = RunAsk(*c.index, q, o, 32);
    if (granted) {
      EXPECT_GT(GammaHits(*c.index, run.result.passages), 0u);
    } else {
      ExpectNoGamma(*c.index, run.result.passages, "revoked ask");
      for (const Need& n : run.needs) {
        EXPECT_EQ(NeedText(n).find("Project Zanzibarite"), std::string::npos);
      }
    }
  }
  // A snapshot carries no rights: the same walls hold on the reloaded index.
  auto bytes = c.index->Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto again = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(again.ok());
  SearchOptions so;
  so.allowed_matters = kWalled;
  ExpectNoGamma(**again, *(*again)->Search(q, so), "reloaded");
}

// ---------------------------------------------------------------- property

// Many matters, random documents, random walls, random queries through
// search (every mode, fusion, grouping, filters), FoldBack and ask: a chunk
// of a matter outside the wall never comes back, and never reaches a prompt.
TEST(Walls, RandomizedNoLeakEver) {
  std::mt19937 rng(20240611);
  const int kMatters = 16;
  const std::vector<std::string> vocab = {
      "terminate", "convenience", "notice",     "indemnify", "claims",   "governing", "law",
      "delaware",  "confidential", "return",    "invoice",   "payable",  "wire",      "reverse",
      "engineer",  "samples",     "warranty",   "liability", "cap",      "assignment", "consent",
      "audit",     "records",     "insurance",  "renewal",   "exclusive", "license",   "royalty"};
  auto matter_word = [](int m) { return "mword" + std::string(1, static_cast<char>('a' + m)) + "x"; };
  IndexOptions io;
  io.chunker.target_tokens = 24;
  io.chunker.max_tokens = 48;
  io.dense.embedder = EmbedderKind::kStatic;
  io.dense.dimension = 24;
  auto index = Index::Create(io);
  ASSERT_TRUE(index.ok());
  Index& ix = **index;
  std::map<std::string, std::string> matter_of;  // doc -> matter
  for (int d = 0; d < 240; ++d) {
    Document doc;
    int m = static_cast<int>(rng() % (kMatters + 1)) - 1;  // -1: no matter
    doc.matter = m < 0 ? "" : "m" + std::to_string(m);
    doc.id = "d" + std::to_string(d);
    doc.title = m < 0 ? "Public note" : "File of " + matter_word(m);
    int words = 20 + static_cast<int>(rng() % 60);
    for (int w = 0; w < words; ++w) {
      doc.text += (m >= 0 && rng() % 6 == 0 ? matter_word(m) : vocab[rng() % vocab.size()]);
      doc.text += w % 12 == 11 ? ".\n\n" : " ";
    }
    doc.metadata["party"] = {"party" + std::to_string(rng() % 5)};
    matter_of[doc.id] = doc.matter;
    ASSERT_TRUE(ix.Add(doc).ok());
  }
  ASSERT_TRUE(ix.BuildDense().ok());

  auto random_wall = [&]() {
    MatterSet s;
    for (int m = 0; m < kMatters; ++m) {
      if (rng() % 3 == 0) s.insert("m" + std::to_string(m));
    }
    return s;
  };
  auto random_query = [&](const MatterSet& wall) {
    std::string q;
    int n = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      // Often the word of a matter outside the wall: the strongest pull.
      if (rng() % 2 == 0) {
        q += matter_word(static_cast<int>(rng() % kMatters)) + " ";
      } else {
        q += vocab[rng() % vocab.size()] + " ";
      }
    }
    (void)wall;
    return q;
  };
  auto check = [&](const std::vector<SearchHit>& hits, const MatterSet& wall, const std::string& what) {
    for (const SearchHit& h : hits) {
      const std::string& m = matter_of.at(h.doc_id);
      ASSERT_TRUE(m.empty() || wall.count(m)) << what << ": " << h.doc_id << " of " << m;
      ASSERT_EQ(h.matter, m);
    }
  };
  auto outside_words = [&](const MatterSet& wall) {
    std::vector<std::string> words;
    for (int m = 0; m < kMatters; ++m) {
      if (!wall.count("m" + std::to_string(m))) words.push_back(matter_word(m));
    }
    return words;
  };

  // Feedback from random users of random matters, for FoldBack.
  std::vector<FeedbackRecord> records;
  std::vector<std::string> docs;
  for (const auto& [d, m] : matter_of) docs.push_back(d);
  for (int i = 0; i < 200; ++i) {
    std::vector<std::string> shown;
    for (int k = 0; k < 3; ++k) shown.push_back(docs[rng() % docs.size()]);
    std::string owner = matter_of[shown[0]];
    // One draw per statement: the order of a call's arguments is the
    // compiler's, and the sequence must not depend on it.
    std::string query = random_query({});
    bool helpful = rng() % 2 == 0;
    FeedbackRecord r = Record(ix, "rec-" + std::to_string(i), owner, query, shown, helpful);
    records.push_back(std::move(r));
  }
  auto fb = FoldBack::Build(ix, records);
  ASSERT_TRUE(fb.ok());

  size_t searches = 0, nonempty = 0, asks = 0, prompts = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    MatterSet wall = random_wall();
    std::string q = random_query(wall);
    SearchOptions so;
    so.mode = static_cast<SearchMode>(rng() % 3);
    so.fusion = static_cast<Fusion>(rng() % 2);
    so.one_per_document = rng() % 4 == 0;
    so.top_k = 1 + rng() % 40;
    so.candidates = rng() % 3 == 0 ? 5 + rng() % 20 : 0;
    so.allowed_matters = wall;
    if (rng() % 5 == 0) so.filters.push_back({"party", Filter::Op::kEq, "party" + std::to_string(rng() % 5)});
    if (rng() % 10 == 0) so.filters.push_back({"matter", Filter::Op::kEq, "m" + std::to_string(rng() % kMatters)});
    std::string what = "trial " + std::to_string(trial) + " q=" + q;
    auto hits = ix.Search(q, so);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    check(*hits, wall, what);
    ++searches;
    nonempty += !hits->empty();
    if (trial % 3 == 0) {
      auto fh = (*fb)->Search(ix, q, so);
      ASSERT_TRUE(fh.ok());
      check(*fh, wall, what + " (foldback)");
      auto e = (*fb)->Expand(ix, q, so);
      ASSERT_TRUE(e.ok());
      for (const std::string& n : e->neighbours) {
        const FeedbackRecord* r = nullptr;
        for (const auto& x : records) {
          if (x.record_id == n) r = &x;
        }
        ASSERT_TRUE(r);
        for (const ShownResult& s : r->results) {
          const std::string& m = matter_of.at(s.doc_id);
          ASSERT_TRUE(m.empty() || wall.count(m)) << what << " neighbour " << n;
        }
      }
      for (const Demo& d : (*fb)->DemosFor(q, 5, wall)) {
        const FeedbackRecord* r = nullptr;
        for (const auto& x : records) {
          if (x.record_id == d.record_id) r = &x;
        }
        ASSERT_TRUE(r);
        for (const ShownResult& s : r->results) {
          const std::string& m = matter_of.at(s.doc_id);
          ASSERT_TRUE(m.empty() || wall.count(m)) << what << " demo " << d.record_id;
        }
      }
    }
    if (trial % 25 == 0) {
      AskOptions o;
      o.hops = 1 + rng() % 3;
      o.depth = 1 + rng() % 10;
      o.top_k = 1 + rng() % 10;
      o.answer = rng() % 2 == 0;
      o.rewrite = static_cast<RewriteMode>(rng() % 3);
      o.variants = 1 + rng() % 2;
      o.search = so;
      o.search.filters.clear();
      AskRun run = RunAsk(ix, q, o, 24);
      ++asks;
      check(run.result.passages, wall, what + " (ask)");
      std::vector<std::string> banned = outside_words(wall);
      for (const Need& n : run.needs) {
        ++prompts;
        // Only the passages block can carry document text: look there.
        std::string text;
        for (const ChatMessage& m : n.llm.messages) {
          size_t p = m.content.find("<passage ");
          if (p != std::string::npos) text += m.content.substr(p);
        }
        for (const std::string& w : banned) {
          ASSERT_EQ(text.find("File of " + w), std::string::npos) << what << " (prompt)";
        }
      }
    }
  }
  EXPECT_EQ(searches, 1500u);
  EXPECT_GT(nonempty, 1000u) << "walls must not blank out the visible matters";
  EXPECT_GT(asks, 50u);
  // About a third of the asks rewrite with the LLM and half write an
  // answer: some 60 prompts expected, fewer than 30 means the asks stopped
  // reaching the prompt builder.
  EXPECT_GT(prompts, 30u);
}

// Walled statistics reach the query rewriters too: RM3's "held by at most
// 10% of the chunks" test and Rocchio's idf-ranked expansion terms count
// only what the user may see, so documents added behind the wall change
// neither expansion.
Document Flood(int i, const std::vector<std::string>& words) {
  Document d;
  d.id = "flood-" + std::to_string(i);
  d.matter = kGamma;
  d.title = "Gamma memo " + std::to_string(i);
  for (const auto& w : words) d.text += w + " " + w + " ";
  d.text += "Project notes.";
  return d;
}

TEST(Walls, Rm3ExpansionIgnoresDocumentsBehindTheWall) {
  Corpus c = MakeCorpus(EmbedderKind::kNone);
  Index::Rep& rep = *c.index->rep();
  SearchOptions so;
  so.allowed_matters = kWalled;
  const std::string q = "Can either party terminate the agreement for convenience?";
  auto expand = [&]() {
    index::ChunkMask mask;
    EXPECT_TRUE(rep.BuildMask(so, &mask).ok());
    auto feedback = rep.lexical.Search(rep.QueryTerms(q), mask, 10);
    return rewrite::ExpandRm3(rep, q, feedback, Rm3Params(), mask.stats.get()).display;
  };
  const std::string before = expand();
  ASSERT_FALSE(before.empty());
  // Every visible chunk's words, flooded into the walled matter: whole-index
  // document frequencies rise past RM3's 10% for all of them.
  std::set<std::string> words;
  for (uint32_t c2 = 0; c2 < rep.chunks.size(); ++c2) {
    if (!rep.chunks[c2].live || rep.docs[rep.chunks[c2].doc].doc.matter == kGamma) continue;
    for (const auto& [t, n] : rewrite::ChunkTermCounts(rep, c2)) words.insert(t);
  }
  std::vector<std::string> list(words.begin(), words.end());
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(c.index->Add(Flood(i, list)).ok());
  EXPECT_EQ(expand(), before);
  // Without the wall's statistics the expansion does change (the test can fail).
  index::ChunkMask mask;
  ASSERT_TRUE(rep.BuildMask(so, &mask).ok());
  auto feedback = rep.lexical.Search(rep.QueryTerms(q), mask, 10);
  EXPECT_NE(rewrite::ExpandRm3(rep, q, feedback, Rm3Params(), nullptr).display, before);
}

TEST(Walls, RocchioExpansionIgnoresDocumentsBehindTheWall) {
  Corpus c = MakeCorpus(EmbedderKind::kNone);
  auto records = Feedback(*c.index);
  SearchOptions so;
  so.allowed_matters = kWalled;
  const std::string q = "Can we terminate the agreement for convenience?";
  auto expand = [&]() {
    auto fb = FoldBack::Build(*c.index, records);
    EXPECT_TRUE(fb.ok());
    auto e = (*fb)->Expand(*c.index, q, so);
    EXPECT_TRUE(e.ok());
    // The expansion's terms, in order. (Their weights still move by
    // rounding-sized amounts: each labelled passage's term vector and the
    // question similarity are weighted with whole-index idf, computed once
    // at Build for every user — docs/benchmarks.md, walled statistics.)
    std::vector<std::string> out;
    for (const auto& t : e->terms) out.push_back(t.term);
    return out;
  };
  auto before = expand();
  ASSERT_GT(before.size(), 3u);  // the question's terms and some expansion
  const std::vector<std::string>& expansion = before;
  // Flood the walled matter with the expansion's terms: their whole-index
  // idf falls, which would reorder (and cut) the expansion.
  for (int i = 0; i < 60; ++i) {
    std::vector<std::string> some(expansion.begin(), expansion.begin() + 1 + i % expansion.size());
    ASSERT_TRUE(c.index->Add(Flood(i, some)).ok());
  }
  EXPECT_EQ(expand(), before);
}

}  // namespace
}  // namespace foldback
