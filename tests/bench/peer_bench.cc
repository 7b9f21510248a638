// peer_bench: foldback's BM25 against Xapian 1.4 (C++ API; in-memory and
// glass backends) and SQLite FTS5 (C API), doing the same work on the same
// data, with quality (nDCG@10) measured alongside speed.
//
//   build/bin/peer_bench --contractnli $D/contractnli/derived --cuad $D/cuad
//       [--reps 5] [--passes 3] [--work-dir /tmp/peer_bench] [--json out.json] [--only TASK]
//       [--max-queries N]   (per task, evenly spread)
//       [--top-k N]         (hits asked of every engine; 100 unless told)
//
// (tests/bench/run_peer_bench.sh runs it with the shared data.) Every engine
// gets the same input: foldback's stopword list is given to Xapian's
// SimpleStopper at index and query time (plus foldback's question words at
// query time only) and filtered out of the text given to FTS5. Xapian and
// foldback both use BM25 with k1 = 0.9, b = 0.4 and an English Snowball
// stemmer (Xapian STEM_ALL_Z); FTS5 has its own fixed BM25 (k1 1.2, b 0.75)
// and only a Porter stemmer.
//
// Timed per query, on every side: analysing the query, applying the scope
// filter, the top 100 and reading the ids (Xapian docid / FTS5 rowid ->
// the harness's id table). foldback's Index::Search also copies each hit's
// text, title and section: that is inside the timer ("foldback"); the
// "foldback-core" row times the same query through the lexical engine alone
// (analysis, filter mask, top 100, chunk numbers), as the peers are timed.
// So the pairs that do equal work are foldback-core against xapian-inmem
// (ids only) and foldback against xapian-inmem-text (each hit's title and
// text read from the document data too); the table gives both ratios.
// No peer folds near-duplicate passages into one result, so "foldback" runs
// with SearchOptions::collapse_jaccard = 0; "foldback-collapse" is the same
// search with the default folding (0.8), to show what that costs.
// "foldback-reuse" is "foldback" through Index::Search's second form, one
// vector kept across queries (the hits' strings reuse their capacity; the
// JS package searches this way); "foldback" makes a new vector per query.
// Xapian's get_data() returns a new string each time: it has no such form.
//
// Tasks:
//   cnli        ContractNLI dev spans, one query per (NDA, hypothesis), scoped
//               to its NDA (doc_id); ranked units: spans.
//   cuad-clause CUAD clause level: one query per (contract, category) with a
//               located gold span, scoped to its contract; units: foldback's
//               120-token passages (the same passages for every engine); a
//               passage is relevant when it overlaps a gold span.
//   cuad-coll   CUAD collection level: 41 category queries over 510
//               contracts, the best passage per contract (Xapian: collapse
//               key; FTS5: collapsed in the harness), top 100 contracts. The
//               "-whole" engines index whole contracts instead (what a user
//               of Xapian would set up; less work, different ranking).
//
// Rounds: every round rebuilds every index and runs every query set on every
// engine, one engine after the other; the tables report the median over
// rounds of each figure and of each per-round ratio (foldback q/s over the
// peer's). The machine is shared: read ratios, not absolute times.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xapian.h>

#include <google/protobuf/message_lite.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "foldback/eval.h"
#include "foldback/index.h"
#include "host/files.h"
#include "index/index_internal.h"
#include "ingest/extract.h"
#include "snapshot.pb.h"
#include "snapshot_format2.h"
#include "text/analyzer.h"

namespace foldback {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
// Hits asked of every engine (--top-k; 100 unless told).
size_t g_depth = 100;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "peer_bench: %s\n", msg.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().ToString());
  return std::move(r.value());
}

// foldback's question words (core/src/index/index.cc, kQuestionWords):
// dropped from queries only.
const std::vector<std::string>& QuestionWords() {
  static const std::vector<std::string> w = {
      "any",  "can",  "could", "did",     "do",     "does", "find", "how",   "i",
      "is",   "me",   "my",    "our",     "please", "show", "tell", "there", "we",
      "what", "when", "where", "whether", "which",  "who",  "why",  "would", "you"};
  return w;
}

// ---- data ----------------------------------------------------------------

// A unit a peer indexes: a span, a passage or a whole contract.
struct Unit {
  std::string id;  // what the ranking lists (span id, chunk id, contract id)
  std::string title;
  std::string text;
  uint32_t group = 0;  // scope / collapse group (NDA or contract number)
};

struct Query {
  std::string id, text;
  int64_t scope = -1;       // group number, -1 = whole collection
  std::string scope_value;  // foldback filter value
  std::map<std::string, int> rel;
};

struct Task {
  std::string name;
  std::vector<Query> queries;
  bool collapse = false;     // best unit per group, rank groups
  std::string filter_field;  // foldback filter field for scoped queries
  int passes = 1;            // query-set repetitions per round (small sets)
};

struct Corpus {
  std::string name;
  std::vector<Document> docs;  // what foldback ingests
  std::vector<std::string> group_names;
  std::vector<Unit> units;  // what the peers index (passages / spans)
  std::vector<Unit> whole;  // whole contracts (CUAD only)
  std::vector<Task> tasks;
};


std::string Read(const std::string& path) { return Must(host::ReadFile(path), path); }

Corpus LoadContractNli(const std::string& dir) {
  Corpus c;
  c.name = "contractnli";
  c.docs = Must(ParseBeirCorpus(Read(dir + "/corpus.jsonl")), dir + "/corpus.jsonl");
  std::unordered_map<std::string, uint32_t> group_of;
  for (const Document& d : c.docs) {
    auto it = d.metadata.find("doc_id");
    if (it == d.metadata.end() || it->second.empty())
      Die("contractnli: span without doc_id: " + d.id);
    auto [g, added] = group_of.emplace(it->second[0], static_cast<uint32_t>(c.group_names.size()));
    if (added) c.group_names.push_back(it->second[0]);
    c.units.push_back({d.id, d.title, d.text, g->second});
  }
  auto queries = Must(ParseBeirQueries(Read(dir + "/queries.jsonl")), dir + "/queries.jsonl");
  auto qrels = Must(ParseQrels(Read(dir + "/qrels/dev.tsv")), dir + "/qrels/dev.tsv");
  Task t;
  t.name = "cnli";
  t.filter_field = "doc_id";
  t.passes = 2;
  for (const auto& q : queries) {
    auto r = qrels.find(q.id);
    if (r == qrels.end()) continue;
    auto f = q.fields.find("doc_id");
    if (f == q.fields.end() || !group_of.count(f->second))
      Die("contractnli query without a known doc_id: " + q.id);
    t.queries.push_back({q.id, q.text, group_of.at(f->second), f->second, r->second});
  }
  c.tasks.push_back(std::move(t));
  return c;
}

// Byte offset of each code point of `s` (plus one past the end).
std::vector<uint32_t> CodepointOffsets(const std::string& s) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  }
  out.push_back(static_cast<uint32_t>(s.size()));
  return out;
}

// CUAD: the contracts for foldback; the peers' passages are the chunks
// foldback cuts (taken from an index built once here), so both sides rank
// the same units.
Corpus LoadCuad(const std::string& dir) {
  Corpus c;
  c.name = "cuad";
  c.docs = Must(ingest::ExtractTextFolder(dir + "/full_contract_txt"), dir + "/full_contract_txt");
  IndexOptions io;
  io.dense.embedder = EmbedderKind::kNone;
  auto index = Must(Index::Create(io), "index");
  std::unordered_map<std::string, uint32_t> group_of;
  for (const Document& d : c.docs) {
    Must(index->Add(d), d.id);
    group_of[d.id] = static_cast<uint32_t>(c.group_names.size());
    c.group_names.push_back(d.id);
    c.whole.push_back({d.id, d.title, d.text, group_of[d.id]});
  }
  // gold spans: query id -> [(begin byte, end byte)]
  std::map<std::string, std::vector<std::pair<uint32_t, uint32_t>>> spans;
  std::map<std::string, const Document*> doc_by_id;
  for (const Document& d : c.docs) doc_by_id[d.id] = &d;
  std::map<std::string, std::vector<uint32_t>> offsets;
  size_t mismatched = 0, located = 0;
  std::ifstream in(dir + "/derived/clause_spans.jsonl");
  if (!in) Die(dir + "/derived/clause_spans.jsonl: cannot open");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    long start = j.at("start").get<long>(), end = j.at("end").get<long>();
    std::string doc = j.at("doc_id").get<std::string>();
    if (start < 0 || !doc_by_id.count(doc)) continue;
    auto& off = offsets[doc];
    if (off.empty()) off = CodepointOffsets(doc_by_id[doc]->text);
    if (static_cast<size_t>(end) >= off.size()) {
      ++mismatched;
      continue;
    }
    uint32_t b = off[start], e = off[end];
    if (doc_by_id[doc]->text.compare(b, e - b, j.at("clause").get<std::string>()) != 0)
      ++mismatched;
    ++located;
    spans[j.at("query_id").get<std::string>()].emplace_back(b, e);
  }
  std::fprintf(stderr, "cuad: %zu gold spans located, %zu whose text differs at the offsets\n",
               located, mismatched);
  for (const Document& d : c.docs) {
    for (const Chunk* ch : index->ChunksOf(d.id)) {
      c.units.push_back({ch->id, d.title, std::string(ch->text), group_of[d.id]});
    }
  }
  // clause level
  Task clause;
  clause.name = "cuad-clause";
  clause.filter_field = "id";
  auto scoped =
      Must(ParseBeirQueries(Read(dir + "/derived/queries_scoped.jsonl")), "queries_scoped");
  for (const auto& q : scoped) {
    auto s = spans.find(q.id);
    if (s == spans.end()) continue;
    const std::string& doc = q.fields.at("doc_id");
    std::map<std::string, int> rel;
    for (const Chunk* ch : index->ChunksOf(doc)) {
      for (const auto& [b, e] : s->second) {
        if (ch->begin < e && b < ch->end) rel[ch->id] = 1;
      }
    }
    if (rel.empty()) continue;
    clause.queries.push_back({q.id, q.text, group_of.at(doc), doc, rel});
  }
  c.tasks.push_back(std::move(clause));
  // collection level
  Task coll;
  coll.name = "cuad-coll";
  coll.collapse = true;
  coll.passes = 5;
  auto global =
      Must(ParseBeirQueries(Read(dir + "/derived/queries_global.jsonl")), "queries_global");
  auto qrels = Must(ParseQrels(Read(dir + "/derived/qrels/doc_level.tsv")), "doc_level.tsv");
  for (const auto& q : global) {
    auto r = qrels.find(q.id);
    if (r == qrels.end()) continue;
    coll.queries.push_back({q.id, q.text, -1, "", r->second});
  }
  c.tasks.push_back(std::move(coll));
  return c;
}

// ---- engines --------------------------------------------------------------

// One ranked list: unit numbers (or group numbers when collapsing), or ids
// (foldback's hits).
struct Ranked {
  std::vector<uint32_t> numbers;
  std::vector<std::string> ids;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;
  // Builds from scratch; returns seconds. `persist`: the figure includes
  // writing to disk and syncing.
  virtual double Build(const Corpus& c) = 0;
  virtual double persist_seconds() const { return -1; }
  virtual int64_t disk_bytes() const { return -1; }
  virtual void Run(const Task& t, const Query& q, Ranked* out) = 0;
  // Ids the ranking lists, for unit or group numbers.
  virtual bool ranks_whole() const { return false; }
};

int64_t DirBytes(const std::string& dir) {
  int64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) n += static_cast<int64_t>(e.file_size());
  }
  return n;
}

class FoldbackEngine : public Engine {
 public:
  FoldbackEngine(std::string snapshot_path) : core_(false), path_(std::move(snapshot_path)) {}
  // The lexical engine alone, on `full`'s index (built once, by `full`).
  explicit FoldbackEngine(const FoldbackEngine* full) : core_(true), full_(full) {}
  // Index::Search with its default near-duplicate folding, on `full`'s index.
  FoldbackEngine(const FoldbackEngine* full, bool collapse)
      : core_(false), collapse_(collapse), full_(full) {}
  // Index::Search's second form, into one vector kept across queries (its
  // hits' strings reused), on `full`'s index.
  struct Reuse {};
  FoldbackEngine(const FoldbackEngine* full, Reuse) : core_(false), reuse_(true), full_(full) {}
  std::string name() const override {
    return core_       ? "foldback-core"
           : collapse_ ? "foldback-collapse"
           : reuse_    ? "foldback-reuse"
                       : "foldback";
  }
  double Build(const Corpus& c) override {
    if (full_) return -1;  // shares the index of `full_`
    index_.reset();
    IndexOptions io;
    io.dense.embedder = EmbedderKind::kNone;
    auto t0 = Clock::now();
    index_ = Must(Index::Create(io), "index");
    for (const Document& d : c.docs) Must(index_->Add(d), d.id);
    double s = Since(t0);
    if (!core_) {
      auto snap = Must(index_->Snapshot(), "snapshot");
      FILE* f = std::fopen(path_.c_str(), "wb");
      if (!f || std::fwrite(snap.data(), 1, snap.size(), f) != snap.size() || std::fflush(f) != 0 ||
          fsync(fileno(f)) != 0) {
        Die("cannot write " + path_);
      }
      std::fclose(f);
      persist_ = Since(t0);
      bytes_ = static_cast<int64_t>(snap.size());
      // The lexical part alone, by piece (format 3, Snapshot fields 16-18,
      // tags included): postings and the term dictionary, chunk lengths,
      // and the positions (word streams and the prefix dictionary).
      pb::Snapshot whole;
      const std::string_view payload = testing::SnapshotPayload(snap);
      if (!whole.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
        Die("snapshot parse");
      auto field = [](const google::protobuf::MessageLite& m) {
        const size_t n = m.ByteSizeLong();
        return static_cast<int64_t>(n + 2 + (n >= 128) + (n >= 16384) + (n >= 2097152) +
                                    (n >= 268435456));
      };
      lexical_bytes_ = positions_bytes_ = 0;
      for (const auto& t : whole.lexical_terms()) lexical_bytes_ += field(t);
      for (const auto& c : whole.lexical_chunks()) {
        pb::LexicalChunks lengths = c;
        lengths.clear_streams();
        lexical_bytes_ += field(lengths);
        positions_bytes_ += field(c) - field(lengths);
      }
      for (const auto& w : whole.lexical_words()) positions_bytes_ += field(w);
      // Format 2's lexical message (fixed-width arrays), and each format's load.
      const std::string v2 = testing::AsFormat2(*index_);
      pb::Snapshot old;
      if (!old.ParseFromArray(v2.data() + 20, static_cast<int>(v2.size() - 20)))
        Die("format 2 parse");
      const pb::Lexical& l = old.lexical();
      format2_lexical_bytes_ =
          static_cast<int64_t>(l.offsets().size() + l.postings().size() + l.lengths().size());
      for (const auto& t : l.terms()) format2_lexical_bytes_ += static_cast<int64_t>(t.size() + 2);
      format2_positions_bytes_ = static_cast<int64_t>(
          l.positions().size() + l.position_offsets().size() + l.word_terms().size());
      for (const auto& w : l.words())
        format2_positions_bytes_ += static_cast<int64_t>(w.size() + 2);
      format2_bytes_ = static_cast<int64_t>(v2.size());
      auto load = [](const std::string& bytes) {
        std::vector<double> t;
        for (int i = 0; i < 3; ++i) {
          auto t0 = Clock::now();
          auto loaded = Must(Index::FromSnapshot(bytes), "load");
          t.push_back(Since(t0));
        }
        std::sort(t.begin(), t.end());
        return t[1];
      };
      load_s_ = load(snap);
      format2_load_s_ = load(v2);
    }
    return s;
  }
  double persist_seconds() const override { return persist_; }
  int64_t disk_bytes() const override { return bytes_; }
  int64_t lexical_bytes() const { return lexical_bytes_; }
  // Positions' share of the snapshot, format 2's sizes for comparison,
  // and the load times (median of 3, Index::FromSnapshot of the bytes).
  int64_t positions_bytes() const { return positions_bytes_; }
  int64_t format2_lexical_bytes() const { return format2_lexical_bytes_; }
  int64_t format2_positions_bytes() const { return format2_positions_bytes_; }
  int64_t format2_bytes() const { return format2_bytes_; }
  double load_s() const { return load_s_; }
  double format2_load_s() const { return format2_load_s_; }
  void Run(const Task& t, const Query& q, Ranked* out) override {
    SearchOptions o;
    o.mode = SearchMode::kBm25;
    o.syntax = QuerySyntax::kPlain;  // the peers parse no phrases (CUAD quotes “requirements”)
    o.top_k = g_depth;
    o.one_per_document = t.collapse || t.name == "cnli";
    // Equal work: no peer folds near-duplicate passages into one result
    // (SearchOptions::collapse_jaccard, on by default; docs/benchmarks.md
    // gives its cost on CUAD clause level).
    o.collapse_jaccard = collapse_ ? 0.8 : 0;
    if (q.scope >= 0) o.filters.push_back({t.filter_field, Filter::Op::kEq, q.scope_value});
    if (!core_) {
      const Index& index = full_ ? *full_->index_ : *index_;
      if (reuse_) {
        Status st = index.Search(q.text, o, &hits_);
        if (!st.ok()) Die("search: " + st.ToString());
        for (const auto& h : hits_)
          out->ids.push_back(t.collapse || t.name == "cnli" ? h.doc_id : h.chunk_id);
        return;
      }
      auto hits = Must(index.Search(q.text, o), "search");
      for (const auto& h : hits)
        out->ids.push_back(t.collapse || t.name == "cnli" ? h.doc_id : h.chunk_id);
      return;
    }
    const Index::Rep& r = *full_->index_->rep();
    index::ChunkMask mask;
    Status st = r.BuildMask(o, &mask);
    if (!st.ok()) Die(st.ToString());
    auto hits = r.lexical.Search(r.QueryTerms(q.text), mask, g_depth,
                                 o.one_per_document ? &r.chunk_doc : nullptr);
    for (const auto& [chunk, score] : hits) out->numbers.push_back(chunk);
  }
  // Chunk number -> ranked id (outside the timer).
  std::string IdOf(const Task& t, uint32_t chunk) const {
    const ChunkSlot& c = (full_ ? full_->index_ : index_)->rep()->chunks[chunk];
    return t.collapse || t.name == "cnli" ? c.chunk.doc_id : c.chunk.id;
  }

 private:
  bool core_;
  bool collapse_ = false;
  bool reuse_ = false;
  std::vector<SearchHit> hits_;  // reuse_: kept across queries
  const FoldbackEngine* full_ = nullptr;
  std::string path_;
  std::unique_ptr<Index> index_;
  double persist_ = -1;
  int64_t bytes_ = -1, lexical_bytes_ = -1, positions_bytes_ = -1;
  int64_t format2_lexical_bytes_ = -1, format2_positions_bytes_ = -1, format2_bytes_ = -1;
  double load_s_ = -1, format2_load_s_ = -1;
};

class XapianEngine : public Engine {
 public:
  enum class Backend { kInMemory, kGlass };
  // `text`: each document's data holds the unit's title and text, and a
  // query reads it for every hit (get_document().get_data()), as an
  // application showing results does: the work foldback's Index::Search does
  // when it copies each hit's text and title.
  XapianEngine(Backend backend, bool positions, bool whole, std::string dir, bool text = false)
      : backend_(backend), positions_(positions), whole_(whole), text_(text), dir_(std::move(dir)) {
    for (const auto& w : text::DefaultStopwords()) {
      index_stopper_.add(w);
      query_stopper_.add(w);
    }
    for (const auto& w : QuestionWords()) query_stopper_.add(w);
    // One parser for every query, as an application keeps it.
    qp_.set_stemmer(Xapian::Stem("english"));
    qp_.set_stemming_strategy(Xapian::QueryParser::STEM_ALL_Z);
    qp_.set_stopper(&query_stopper_);
    qp_.set_default_op(Xapian::Query::OP_OR);
  }
  std::string name() const override {
    std::string n = backend_ == Backend::kInMemory ? "xapian-inmem"
                    : positions_                   ? "xapian-glass"
                                                   : "xapian-glass-nopos";
    if (text_) n += "-text";
    return whole_ ? n + "-whole" : n;
  }
  bool ranks_whole() const override { return whole_; }
  double Build(const Corpus& c) override {
    db_ = Xapian::Database();
    const auto& units = whole_ ? c.whole : c.units;
    bool collapse =
        std::any_of(c.tasks.begin(), c.tasks.end(), [](const Task& t) { return t.collapse; });
    auto t0 = Clock::now();
    Xapian::WritableDatabase w;
    if (backend_ == Backend::kInMemory) {
      // Deprecated in 1.4 in favour of glass, but still the in-memory backend.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      w = Xapian::InMemory::open();
#pragma GCC diagnostic pop
    } else {
      fs::remove_all(dir_);
      w = Xapian::WritableDatabase(dir_, Xapian::DB_CREATE_OR_OVERWRITE | Xapian::DB_BACKEND_GLASS);
    }
    Xapian::TermGenerator tg;
    tg.set_stemmer(Xapian::Stem("english"));
    tg.set_stemming_strategy(Xapian::TermGenerator::STEM_ALL_Z);
    tg.set_stopper(&index_stopper_);
    tg.set_stopper_strategy(Xapian::TermGenerator::STOP_ALL);
    for (const Unit& u : units) {
      Xapian::Document doc;
      tg.set_document(doc);
      if (positions_) {
        tg.index_text(u.title);
        tg.increase_termpos();
        tg.index_text(u.text);
      } else {
        tg.index_text_without_positions(u.title);
        tg.index_text_without_positions(u.text);
      }
      // The scope term (scoped tasks) and the collapse key (collection
      // level over passages); whole contracts need neither.
      if (!whole_) {
        doc.add_boolean_term("XS" + std::to_string(u.group));
        if (collapse) doc.add_value(0, std::to_string(u.group));
      }
      if (text_) doc.set_data(u.title + '\n' + u.text);
      w.add_document(doc);  // docids 1, 2, ... in unit order
    }
    if (backend_ == Backend::kInMemory) {
      db_ = w;
      return Since(t0);
    }
    w.commit();
    w.close();
    persist_ = Since(t0);
    db_ = Xapian::Database(dir_);
    bytes_ = DirBytes(dir_);
    return -1;
  }
  double persist_seconds() const override { return persist_; }
  int64_t disk_bytes() const override { return bytes_; }
  void Run(const Task& t, const Query& q, Ranked* out) override {
    Xapian::Query query = qp_.parse_query(
        q.text, Xapian::QueryParser::FLAG_DEFAULT | Xapian::QueryParser::FLAG_NO_POSITIONS);
    if (q.scope >= 0) {
      query = Xapian::Query(Xapian::Query::OP_FILTER, query,
                            Xapian::Query("XS" + std::to_string(q.scope)));
    }
    Xapian::Enquire enquire(db_);
    enquire.set_query(query);
    enquire.set_weighting_scheme(Xapian::BM25Weight(0.9, 0, 1, 0.4, 0.5));
    if (t.collapse && !whole_) enquire.set_collapse_key(0);
    Xapian::MSet m = enquire.get_mset(0, g_depth);
    for (auto it = m.begin(); it != m.end(); ++it) {
      out->numbers.push_back(*it - 1);
      if (text_) text_bytes_ += it.get_document().get_data().size();  // freed here, as foldback's
    }
  }

 private:
  Backend backend_;
  bool positions_, whole_, text_;
  std::string dir_;
  size_t text_bytes_ = 0;  // read, so the reads are kept
  Xapian::SimpleStopper index_stopper_, query_stopper_;
  Xapian::QueryParser qp_;
  Xapian::Database db_;
  double persist_ = -1;
  int64_t bytes_ = -1;
};

// FTS5's tokenizer knows no stopword list: the harness drops foldback's
// stopwords itself, splitting as unicode61 does for ASCII (letters and
// digits; other bytes >= 0x80 kept in words) and lower-casing.
template <typename Fn>
void ForEachToken(std::string_view s, Fn fn) {
  std::string w;
  auto flush = [&] {
    if (!w.empty()) fn(w);
    w.clear();
  };
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || u >= 0x80) {
      w.push_back(static_cast<char>(std::tolower(u)));
    } else {
      flush();
    }
  }
  flush();
}

class Fts5Engine : public Engine {
 public:
  Fts5Engine(bool on_disk, bool whole, std::string path)
      : disk_(on_disk), whole_(whole), path_(std::move(path)) {
    for (const auto& w : text::DefaultStopwords()) stop_.insert(w);
    query_stop_ = stop_;
    for (const auto& w : QuestionWords()) query_stop_.insert(w);
  }
  ~Fts5Engine() override { Close(); }
  std::string name() const override {
    return std::string(disk_ ? "fts5-disk" : "fts5-mem") + (whole_ ? "-whole" : "");
  }
  bool ranks_whole() const override { return whole_; }
  double Build(const Corpus& c) override {
    Close();
    const auto& units = whole_ ? c.whole : c.units;
    group_.clear();
    range_.clear();
    for (size_t i = 0; i < units.size(); ++i) {
      uint32_t g = units[i].group;
      group_.push_back(g);
      if (g >= range_.size()) range_.resize(g + 1, {0, 0});
      auto& r = range_[g];
      if (r.second == 0) r.first = static_cast<int64_t>(i) + 1;
      r.second = static_cast<int64_t>(i) + 1;
    }
    // A scope is a rowid range when each group's units are contiguous (they
    // are in both corpora); else the scope token column is matched.
    std::vector<uint32_t> count(range_.size(), 0);
    for (uint32_t g : group_) ++count[g];
    contiguous_ = true;
    for (size_t g = 0; g < range_.size(); ++g) {
      if (count[g] && range_[g].second - range_[g].first + 1 != count[g]) contiguous_ = false;
    }
    if (disk_) std::remove(path_.c_str());
    auto t0 = Clock::now();
    if (sqlite3_open(disk_ ? path_.c_str() : ":memory:", &db_) != SQLITE_OK) Die("sqlite3_open");
    Exec("CREATE VIRTUAL TABLE t USING fts5(scope, body, content='', tokenize='porter unicode61')");
    Exec("BEGIN");
    sqlite3_stmt* ins = Prepare("INSERT INTO t(rowid, scope, body) VALUES (?1, ?2, ?3)");
    std::string body;
    for (size_t i = 0; i < units.size(); ++i) {
      const Unit& u = units[i];
      body.clear();
      auto keep = [&](const std::string& w) {
        if (stop_.count(w)) return;
        body += w;
        body += ' ';
      };
      ForEachToken(u.title, keep);
      ForEachToken(u.text, keep);
      std::string scope = "s" + std::to_string(u.group);
      sqlite3_bind_int64(ins, 1, static_cast<int64_t>(i) + 1);
      sqlite3_bind_text(ins, 2, scope.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins, 3, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      if (sqlite3_step(ins) != SQLITE_DONE) Die(std::string("fts5 insert: ") + sqlite3_errmsg(db_));
      sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    Exec("INSERT INTO t(t) VALUES('optimize')");
    Exec("COMMIT");
    double s = Since(t0);
    if (disk_) {
      persist_ = s;
      struct stat st;
      bytes_ = stat(path_.c_str(), &st) == 0 ? st.st_size : -1;
    }
    scoped_ = Prepare("SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY bm25(t, 0.0, 1.0) LIMIT 100");
    ranged_ = Prepare(
        "SELECT rowid FROM t WHERE t MATCH ?1 AND rowid BETWEEN ?2 AND ?3 ORDER BY bm25(t, 0.0, "
        "1.0) LIMIT 100");
    all_ = Prepare("SELECT rowid, bm25(t, 0.0, 1.0) FROM t WHERE t MATCH ?1");
    return disk_ ? -1 : s;
  }
  double persist_seconds() const override { return persist_; }
  int64_t disk_bytes() const override { return bytes_; }
  void Run(const Task& t, const Query& q, Ranked* out) override {
    std::string m;
    ForEachToken(q.text, [&](const std::string& w) {
      if (query_stop_.count(w)) return;
      m += m.empty() ? "\"" : " OR \"";
      m += w;
      m += '"';
    });
    if (m.empty()) return;
    m = "body : (" + m + ")";
    if (q.scope >= 0 && contiguous_) {
      const auto& r = range_[q.scope];
      sqlite3_bind_text(ranged_, 1, m.data(), static_cast<int>(m.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ranged_, 2, r.first);
      sqlite3_bind_int64(ranged_, 3, r.second);
      while (sqlite3_step(ranged_) == SQLITE_ROW)
        out->numbers.push_back(static_cast<uint32_t>(sqlite3_column_int64(ranged_, 0) - 1));
      sqlite3_reset(ranged_);
      return;
    }
    if (q.scope >= 0) m = "scope : s" + std::to_string(q.scope) + " AND " + m;
    if (!(t.collapse && !whole_)) {
      sqlite3_bind_text(scoped_, 1, m.data(), static_cast<int>(m.size()), SQLITE_STATIC);
      while (sqlite3_step(scoped_) == SQLITE_ROW)
        out->numbers.push_back(static_cast<uint32_t>(sqlite3_column_int64(scoped_, 0) - 1));
      sqlite3_reset(scoped_);
      return;
    }
    // Best passage per contract: every match is ranked, then collapsed.
    thread_local std::vector<double> best;
    thread_local std::vector<uint32_t> seen;
    sqlite3_bind_text(all_, 1, m.data(), static_cast<int>(m.size()), SQLITE_STATIC);
    while (sqlite3_step(all_) == SQLITE_ROW) {
      uint32_t g = group_[sqlite3_column_int64(all_, 0) - 1];
      double s = sqlite3_column_double(all_, 1);  // lower is better
      if (g >= best.size()) best.resize(g + 1, 1e300);
      if (best[g] == 1e300) seen.push_back(g);
      best[g] = std::min(best[g], s);
    }
    sqlite3_reset(all_);
    std::vector<std::pair<double, uint32_t>> order;
    for (uint32_t g : seen) {
      order.emplace_back(best[g], g);
      best[g] = 1e300;
    }
    seen.clear();
    size_t k = std::min(order.size(), g_depth);
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end());
    for (size_t i = 0; i < k; ++i) out->numbers.push_back(order[i].second);
  }

 private:
  void Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK)
      Die(std::string(sql) + ": " + (err ? err : "?"));
  }
  sqlite3_stmt* Prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
      Die(std::string(sql) + ": " + sqlite3_errmsg(db_));
    return s;
  }
  void Close() {
    if (scoped_) sqlite3_finalize(scoped_);
    if (ranged_) sqlite3_finalize(ranged_);
    if (all_) sqlite3_finalize(all_);
    scoped_ = ranged_ = all_ = nullptr;
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
  }
  bool disk_, whole_;
  std::string path_;
  std::unordered_set<std::string> stop_, query_stop_;
  std::vector<uint32_t> group_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* scoped_ = nullptr;
  sqlite3_stmt* ranged_ = nullptr;
  std::vector<std::pair<int64_t, int64_t>> range_;  // group -> first and last rowid
  bool contiguous_ = false;
  sqlite3_stmt* all_ = nullptr;
  double persist_ = -1;
  int64_t bytes_ = -1;
};

// ---- running ---------------------------------------------------------------

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Samples {
  // ratio: foldback q/s ÷ this engine's; core_ratio: foldback-core's ÷ it.
  std::vector<double> qps, p50, p95, ratio, core_ratio, build, persist, bytes;
  double ndcg = -1, recall100 = -1;
  size_t queries = 0;
};

struct Args {
  std::string contractnli, cuad, work = "/tmp/peer_bench", json, only;
  int reps = 5;
  int passes = 1;
  size_t max_queries = 0;  // per task, evenly spread; 0 = all
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + k);
      return argv[++i];
    };
    if (k == "--contractnli")
      a.contractnli = val();
    else if (k == "--cuad")
      a.cuad = val();
    else if (k == "--work-dir")
      a.work = val();
    else if (k == "--json")
      a.json = val();
    else if (k == "--only")
      a.only = val();
    else if (k == "--reps")
      a.reps = std::max(1, std::atoi(val().c_str()));
    else if (k == "--passes")
      a.passes = std::max(1, std::atoi(val().c_str()));
    else if (k == "--top-k")
      g_depth = static_cast<size_t>(std::max(1, std::atoi(val().c_str())));
    else if (k == "--max-queries")
      a.max_queries = static_cast<size_t>(std::max(0, std::atoi(val().c_str())));
    else
      Die("unknown argument " + k + " (see the comment at the top of tests/bench/peer_bench.cc)");
  }
  if (a.contractnli.empty() && a.cuad.empty()) Die("give --contractnli DIR and/or --cuad DIR");
  return a;
}

}  // namespace
}  // namespace foldback

int main(int argc, char** argv) {
  using namespace foldback;
  Args args = ParseArgs(argc, argv);
  fs::create_directories(args.work);
  std::vector<Corpus> corpora;
  if (!args.contractnli.empty()) corpora.push_back(LoadContractNli(args.contractnli));
  if (!args.cuad.empty()) corpora.push_back(LoadCuad(args.cuad));

  if (args.max_queries) {
    for (Corpus& c : corpora) {
      for (Task& t : c.tasks) {
        if (t.queries.size() <= args.max_queries) continue;
        std::vector<Query> kept;
        for (size_t i = 0; i < args.max_queries; ++i)
          kept.push_back(t.queries[i * t.queries.size() / args.max_queries]);
        t.queries = std::move(kept);
      }
    }
  }
  nlohmann::json report = nlohmann::json::array();
  for (Corpus& c : corpora) {
    std::vector<std::unique_ptr<Engine>> engines;
    auto full = std::make_unique<FoldbackEngine>(args.work + "/" + c.name + ".fbidx");
    auto core = std::make_unique<FoldbackEngine>(full.get());
    auto collapse = std::make_unique<FoldbackEngine>(full.get(), true);
    auto reuse = std::make_unique<FoldbackEngine>(full.get(), FoldbackEngine::Reuse{});
    engines.push_back(std::move(full));
    engines.push_back(std::move(core));
    engines.push_back(std::move(collapse));
    engines.push_back(std::move(reuse));
    engines.push_back(
        std::make_unique<XapianEngine>(XapianEngine::Backend::kInMemory, false, false, ""));
    engines.push_back(std::make_unique<XapianEngine>(XapianEngine::Backend::kGlass, true, false,
                                                     args.work + "/" + c.name + ".glass"));
    engines.push_back(std::make_unique<XapianEngine>(XapianEngine::Backend::kGlass, false, false,
                                                     args.work + "/" + c.name + ".glass-nopos"));
    engines.push_back(
        std::make_unique<XapianEngine>(XapianEngine::Backend::kInMemory, false, false, "", true));
    engines.push_back(std::make_unique<XapianEngine>(XapianEngine::Backend::kGlass, false, false,
                                                     args.work + "/" + c.name + ".glass-nopos-text",
                                                     true));
    engines.push_back(std::make_unique<Fts5Engine>(false, false, ""));
    engines.push_back(
        std::make_unique<Fts5Engine>(true, false, args.work + "/" + c.name + ".fts5"));
    if (!c.whole.empty()) {
      engines.push_back(
          std::make_unique<XapianEngine>(XapianEngine::Backend::kInMemory, false, true, ""));
      engines.push_back(std::make_unique<XapianEngine>(XapianEngine::Backend::kGlass, true, true,
                                                       args.work + "/" + c.name + ".glass-whole"));
      engines.push_back(
          std::make_unique<XapianEngine>(XapianEngine::Backend::kGlass, false, true,
                                         args.work + "/" + c.name + ".glass-whole-nopos"));
      engines.push_back(std::make_unique<Fts5Engine>(false, true, ""));
    }
    // (task, engine) -> samples; build samples under task "build".
    std::map<std::string, std::map<std::string, Samples>> S;
    std::map<std::string, int64_t> lexical_bytes;
    std::map<std::string, std::vector<double>> snapshot_lines;  // the last round's
    for (int rep = 0; rep < args.reps; ++rep) {
      std::fprintf(stderr, "%s: round %d/%d\n", c.name.c_str(), rep + 1, args.reps);
      for (auto& e : engines) {
        double b = e->Build(c);
        std::fprintf(stderr, "  round %d build %s: %.2f s, persisted %.2f s, %lld bytes\n", rep + 1,
                     e->name().c_str(), b, e->persist_seconds(),
                     static_cast<long long>(e->disk_bytes()));
        Samples& s = S["build"][e->name()];
        if (b >= 0) s.build.push_back(b);
        if (e->persist_seconds() >= 0) s.persist.push_back(e->persist_seconds());
        if (e->disk_bytes() >= 0) s.bytes.push_back(static_cast<double>(e->disk_bytes()));
        if (auto* f = dynamic_cast<FoldbackEngine*>(e.get()); f && f->lexical_bytes() >= 0) {
          lexical_bytes[c.name] = f->lexical_bytes();
          std::fprintf(
              stderr,
              "  round %d foldback snapshot: format 3 %lld bytes (lexical %lld, positions %lld), "
              "load %.3f s; format 2 %lld bytes (lexical %lld, positions %lld), load %.3f s\n",
              rep + 1, static_cast<long long>(f->disk_bytes()),
              static_cast<long long>(f->lexical_bytes()),
              static_cast<long long>(f->positions_bytes()), f->load_s(),
              static_cast<long long>(f->format2_bytes()),
              static_cast<long long>(f->format2_lexical_bytes()),
              static_cast<long long>(f->format2_positions_bytes()), f->format2_load_s());
          snapshot_lines[c.name] = {static_cast<double>(f->lexical_bytes()),
                                    static_cast<double>(f->positions_bytes()),
                                    static_cast<double>(f->format2_lexical_bytes()),
                                    static_cast<double>(f->format2_positions_bytes()),
                                    static_cast<double>(f->format2_bytes()),
                                    f->load_s(),
                                    f->format2_load_s()};
        }
      }
      for (const Task& t : c.tasks) {
        if (!args.only.empty() && t.name != args.only) continue;
        std::map<std::string, double> qps_this_round;
        for (auto& e : engines) {
          if (e->ranks_whole() && !t.collapse) continue;  // whole contracts: collection level only
          Samples& s = S[t.name][e->name()];
          std::vector<double> lat;
          double total = 0;
          int passes = t.passes * args.passes;
          std::vector<Ranked> first(t.queries.size());
          for (int p = 0; p < passes; ++p) {
            for (size_t qi = 0; qi < t.queries.size(); ++qi) {
              Ranked r;
              r.numbers.reserve(g_depth);
              auto t0 = Clock::now();
              e->Run(t, t.queries[qi], &r);
              double secs = Since(t0);
              lat.push_back(secs * 1000);
              total += secs;
              if (p == 0) first[qi] = std::move(r);
            }
          }
          s.qps.push_back(static_cast<double>(lat.size()) / total);
          s.p50.push_back(Percentile(lat, 0.5));
          s.p95.push_back(Percentile(lat, 0.95));
          qps_this_round[e->name()] = s.qps.back();
          if (rep == 0) {
            MetricsAccumulator acc;
            auto* fb = dynamic_cast<FoldbackEngine*>(e.get());
            for (size_t qi = 0; qi < t.queries.size(); ++qi) {
              std::vector<std::string> ids = first[qi].ids;
              for (uint32_t n : first[qi].numbers) {
                if (fb) {
                  ids.push_back(fb->IdOf(t, n));
                } else if (e->ranks_whole()) {
                  ids.push_back(c.whole[n].id);
                } else {
                  ids.push_back(t.collapse
                                    ? c.group_names[t.name == "cuad-coll" &&
                                                            dynamic_cast<Fts5Engine*>(e.get())
                                                        ? n
                                                        : c.units[n].group]
                                    : c.units[n].id);
                }
              }
              acc.Add(ScoreQuery(ids, t.queries[qi].rel));
            }
            Metrics m = acc.Mean();
            s.ndcg = m.ndcg10;
            s.recall100 = m.recall100;
            s.queries = m.queries;
          }
        }
        for (auto& [name, q] : qps_this_round) {
          S[t.name][name].ratio.push_back(qps_this_round["foldback"] / q);
          S[t.name][name].core_ratio.push_back(qps_this_round["foldback-core"] / q);
          std::fprintf(stderr, "  round %d %s %s: %.0f q/s (foldback ÷ it %.2f, core ÷ it %.2f)\n",
                       rep + 1, t.name.c_str(), name.c_str(), q, qps_this_round["foldback"] / q,
                       qps_this_round["foldback-core"] / q);
        }
      }
    }
    // Tables.
    const Samples& fbb = S["build"]["foldback"];
    std::printf(
        "\n## %s: %zu ingested documents, %zu peer units%s; %d rounds, medians\n\n", c.name.c_str(),
        c.docs.size(), c.units.size(),
        c.whole.empty() ? "" : (", " + std::to_string(c.whole.size()) + " whole contracts").c_str(),
        args.reps);
    std::printf(
        "| engine | build in memory (s) | build + persist (s) | bytes on disk | foldback build "
        "advantage |\n|---|---|---|---|---|\n");
    for (auto& e : engines) {
      const Samples& s = S["build"][e->name()];
      if (s.build.empty() && s.persist.empty()) continue;  // foldback-core: foldback's index
      double mb = Median(s.bytes);
      double adv = !s.build.empty() ? Median(s.build) : Median(s.persist);
      double fb = !s.build.empty() ? Median(fbb.build) : Median(fbb.persist);
      std::printf("| %s | %s | %s | %s | %.2f× |\n", e->name().c_str(),
                  s.build.empty() ? "–" : std::to_string(Median(s.build)).substr(0, 6).c_str(),
                  s.persist.empty() ? "–" : std::to_string(Median(s.persist)).substr(0, 6).c_str(),
                  mb < 0 ? "–" : (std::to_string(mb / 1e6).substr(0, 6) + " MB").c_str(), adv / fb);
      report.push_back({{"corpus", c.name},
                        {"task", "build"},
                        {"engine", e->name()},
                        {"build_s", Median(s.build)},
                        {"persist_s", Median(s.persist)},
                        {"bytes", mb}});
    }
    std::printf(
        "\nfoldback lexical part of the snapshot (format 3 pieces: terms, postings, chunk "
        "lengths): %.2f MB\n",
        static_cast<double>(lexical_bytes[c.name]) / 1e6);
    if (const auto& v = snapshot_lines[c.name]; v.size() == 7) {
      std::printf(
          "foldback positions (word streams, prefix dictionary): %.2f MB; format 2 would write "
          "lexical "
          "%.2f MB, positions %.2f MB, snapshot %.2f MB; load (median of 3) %.3f s, format 2 %.3f "
          "s\n",
          v[1] / 1e6, v[2] / 1e6, v[3] / 1e6, v[4] / 1e6, v[5], v[6]);
    }
    report.push_back({{"corpus", c.name},
                      {"task", "build"},
                      {"engine", "foldback-lexical"},
                      {"bytes", lexical_bytes[c.name]}});
    for (const Task& t : c.tasks) {
      if (!S.count(t.name)) continue;
      std::printf(
          "\n### %s: %zu queries × %d passes\n\n| engine | nDCG@10 | R@100 | q/s | p50 (ms) | p95 "
          "(ms) | foldback q/s ÷ engine q/s | foldback-core q/s ÷ engine q/s "
          "|\n|---|---|---|---|---|---|---|---|\n",
          t.name.c_str(), t.queries.size(), t.passes * args.passes);
      for (auto& e : engines) {
        if (!S[t.name].count(e->name())) continue;
        const Samples& s = S[t.name][e->name()];
        std::printf("| %s | %.4f | %.4f | %.0f | %.3f | %.3f | %.2f× | %.2f× |\n",
                    e->name().c_str(), s.ndcg, s.recall100, Median(s.qps), Median(s.p50),
                    Median(s.p95), Median(s.ratio), Median(s.core_ratio));
        report.push_back({{"corpus", c.name},
                          {"task", t.name},
                          {"engine", e->name()},
                          {"ndcg@10", s.ndcg},
                          {"recall@100", s.recall100},
                          {"queries", s.queries},
                          {"qps", Median(s.qps)},
                          {"p50_ms", Median(s.p50)},
                          {"p95_ms", Median(s.p95)},
                          {"foldback_ratio", Median(s.ratio)},
                          {"foldback_core_ratio", Median(s.core_ratio)},
                          {"qps_rounds", s.qps}});
      }
    }
    std::fflush(stdout);
  }
  if (!args.json.empty()) {
    std::ofstream out(args.json);
    out << report.dump(1) << "\n";
  }
  return 0;
}
