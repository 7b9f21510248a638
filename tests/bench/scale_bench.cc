// scale_bench: BM25 at 100k to millions of passages, on a synthetic corpus
// whose vocabulary and lengths are drawn from real contracts (issue 13
// item 8: the in-memory index and its snapshot, whose lexical part is
// written in pieces since format 3 — see docs/benchmarks.md).
//
//   build/bin/scale_bench [--passages 100000,1000000] [--scope 1000]
//       [--queries 500] [--seed 7] [--model DIR] [--memory] [--no-snapshot]
//
// `--no-snapshot` leaves out the snapshot's save and load. With it, the
// index is saved as the CLI saves it (host::SaveIndex: streamed from
// Index::WriteSnapshot to a temp file in `--snapshot-dir`, default /tmp,
// fsynced, renamed), dropped, and loaded as the CLI loads it
// (host::OpenIndex: the file mapped, not read); the loaded index must rank
// every unscoped query as the built one did. The peak resident set is
// taken over the save and over the load (VmHWM, reset before each); the
// load's includes the mapped file's pages in the page cache (RssFile,
// reported apart), which the kernel drops under pressure. `--memory` builds each size and prints
// where the heap goes, by part, in bytes per passage (no queries, no snapshot).
//
// The generator. `--model DIR` (default: the bundled demo corpus, 20 CUAD
// contracts, CC BY 4.0) is read once: every word's frequency (lower-cased,
// as the analyzer would see it before stemming) and the lengths in words
// of the chunks foldback cuts from those contracts. A synthetic document is
// 50 passages; each passage's length is drawn from the real chunk lengths
// and each word from the real unigram distribution, with one word in 50
// replaced by a synthetic rare word drawn from a Zipf(1.1) tail over
// 2,000,000 forms, so the dictionary keeps growing with the corpus as real
// vocabularies do (Heaps' law). Every 20 documents form a matter
// (`m<N>`), so a matter holds 1,000 passages: the scope.
//
// The queries are fixed before any timing: 2 to 6 words each, drawn from
// the words of a fixed list of real legal questions (the walled-statistics
// test's and the known-item task's phrasing), each word kept with the
// probability of its frequency rank among contract words (common words
// less often), seeded. Timed per query (steady_clock around Index::Search,
// bm25, the hits' text copied):
//   - unscoped: top 10 passages over the whole index;
//   - scoped:   top 10 passages with the filter matter=<one matter> (1,000
//               passages), a different matter each query;
// and the same scoped queries on an index holding only that scope's
// passages (the "scope alone" column), which the target compares
// against: at 1M passages, a scoped query within 2x of the scope alone.
// Build time is Index::Add of every document (chunking, metadata, BM25),
// memory is the process's resident set after the build.
//
// The same source builds for WebAssembly (wasm/CMakeLists.txt,
// `foldback_wasm_scale_bench`, run in Node with the file system of the
// host): there "RSS" is the module's linear memory (it only grows, to at
// most 4 GiB) and the heap is dlmalloc's.
#include <malloc.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "foldback/index.h"
#include "index/index_internal.h"
#include "store/bytes.h"
#ifndef __EMSCRIPTEN__
#include "host/files.h"
#include "host/index_dir.h"
#endif

namespace foldback {
namespace {

[[noreturn]] void Die(const std::string& m) {
  std::fprintf(stderr, "scale_bench: %s\n", m.c_str());
  std::exit(1);
}

#ifdef __EMSCRIPTEN__
// The linear memory: what the module holds from the host (it never shrinks).
double ResidentMb() { return __builtin_wasm_memory_size(0) * 65536.0 / 1048576.0; }
double HeapMb() {
  struct mallinfo m = mallinfo();
  return static_cast<unsigned>(m.uordblks) / 1048576.0;
}
int malloc_trim(size_t) { return 0; }  // the linear memory does not shrink
#else
// A line of /proc/self/status in MB ("VmRSS:", "VmHWM:", "RssFile:").
double StatusMb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, n, key) == 0) return std::atof(line.c_str() + n) / 1024.0;
  }
  return -1;
}

double ResidentMb() { return StatusMb("VmRSS:"); }

// The peak resident set (VmHWM) starts again from the current one.
void ResetPeak() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

// Heap in use (glibc's mallinfo2: small blocks plus the large ones malloc
// maps apart): what the index's structures hold, without the pages malloc
// keeps but has freed.
double HeapMb() {
  struct mallinfo2 m = mallinfo2();
  return (m.uordblks + m.hblkhd) / 1048576.0;
}
#endif

uint64_t HeapBlock(uint64_t n) { return n == 0 ? 0 : std::max<uint64_t>(32, (n + 8 + 15) / 16 * 16); }
uint64_t StringHeap(const std::string& s) { return s.capacity() > 15 ? HeapBlock(s.capacity() + 1) : 0; }
template <typename T>
uint64_t VectorHeap(const std::vector<T>& v) {
  return HeapBlock(v.capacity() * sizeof(T));
}

// `--memory`: where the heap goes, by part, in bytes per live passage,
// counted from container sizes and capacities (LexicalIndex::MemoryUsage
// for the lexical side) with glibc's per-block overhead, against the heap
// actually in use.
void PrintMemory(const Index& index, double heap_before_mb, double heap_after_mb) {
  const Index::Rep& r = *index.rep();
  const double n = static_cast<double>(index.Stats().chunks);
  std::vector<std::pair<std::string, uint64_t>> parts;
  uint64_t doc_text = 0, doc_rest = VectorHeap(r.docs);
  for (const DocSlot& d : r.docs) {
    doc_text += StringHeap(d.doc.text);
    doc_rest += StringHeap(d.doc.id) + StringHeap(d.doc.title) + StringHeap(d.doc.matter) +
                StringHeap(d.doc.parent_id) + VectorHeap(d.chunks);
    for (const auto& [k, vs] : d.doc.metadata) {
      doc_rest += HeapBlock(32 + sizeof(std::string) + sizeof(vs)) + StringHeap(k) + VectorHeap(vs);
      for (const auto& v : vs) doc_rest += StringHeap(v);
    }
  }
  doc_rest += r.doc_ids.bucket_count() * 8 + r.doc_ids.size() * HeapBlock(56);
  uint64_t chunk_ids = 0, chunk_slots = VectorHeap(r.chunks) + VectorHeap(r.chunk_doc);
  for (const ChunkSlot& c : r.chunks) {
    chunk_ids += StringHeap(c.chunk.id) + StringHeap(c.chunk.doc_id) + StringHeap(c.chunk.section);
  }
  uint64_t id_map = r.chunk_ids.bucket_count() * 8 + r.chunk_ids.size() * HeapBlock(56);
  for (const auto& [k, v] : r.chunk_ids) id_map += StringHeap(k);
  uint64_t word_cache = r.word_terms.bucket_count() * (sizeof(std::string) + 16);
  for (const auto& [k, v] : r.word_terms) word_cache += StringHeap(k);
  uint64_t fields = 0;
  for (const auto& [f, values] : r.value_docs) {
    for (const auto& [v, list] : values) fields += HeapBlock(64) + StringHeap(v) + VectorHeap(list);
  }
  auto lex = r.lexical.MemoryUsage();
  parts = {{"document text (Document::text)", doc_text},
           {"chunk id, doc_id, section strings", chunk_ids},
           {"chunk table (ChunkSlot array, chunk_doc)", chunk_slots},
           {"chunk id map (chunk_ids)", id_map},
           {"documents: slots, ids, metadata, doc_ids", doc_rest},
           {"field/matter lists (value_docs)", fields},
           {"add-path word cache (word_terms)", word_cache},
           {"postings", lex.postings},
           {"term dictionary and per-term arrays", lex.term_arrays},
           {"per-chunk lexical arrays (lengths, live, norms)", lex.chunk_arrays},
           {"word streams (positions)", lex.streams},
           {"surface dictionary (prefixes)", lex.surface_words},
           {"block-max windows", lex.windows}};
  uint64_t sum = 0;
  std::printf("\n| part | MB | bytes per passage |\n|---|---|---|\n");
  for (const auto& [name, bytes] : parts) {
    sum += bytes;
    std::printf("| %s | %.1f | %.0f |\n", name.c_str(), bytes / 1048576.0, bytes / n);
  }
  std::printf("| **sum of the parts** | %.1f | %.0f |\n", sum / 1048576.0, sum / n);
  double heap = (heap_after_mb - heap_before_mb) * 1048576.0;
  std::printf("| heap in use, after − before the build (mallinfo2) | %.1f | %.0f |\n", heap / 1048576.0, heap / n);
  std::printf("| resident set after the build | %.1f | |\n\n", ResidentMb());
  std::printf("%llu postings (%.1f per passage, %.1f bytes each as held)\n\n",
              static_cast<unsigned long long>(index.Stats().postings), index.Stats().postings / n,
              lex.postings / static_cast<double>(index.Stats().postings));
  std::fflush(stdout);
}

struct Model {
  std::vector<std::string> words;      // distinct words, most frequent first
  std::vector<double> weights;         // their counts
  std::vector<uint32_t> chunk_words;   // real chunk lengths, in words
};

// The model's documents: the directory's .txt files in path order, each
// read whole (as `foldback ingest` reads plain text: the file name as title).
std::vector<Document> ReadModelDocuments(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() == ".txt") files.push_back(it->path());
  }
  if (ec) Die("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const fs::path& x, const fs::path& y) { return x.string() < y.string(); });
  std::vector<Document> docs;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    Document d;
    d.id = "model" + std::to_string(docs.size());
    d.title = f.filename().string();
    d.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) Die("cannot read " + f.string());
    d.metadata["source_path"] = {f.string()};
    docs.push_back(std::move(d));
  }
  return docs;
}

Model ReadModel(const std::string& dir) {
  std::unordered_map<std::string, double> counts;
  Model m;
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto index = Index::Create(o);
  {
    const auto docs = ReadModelDocuments(dir);
    for (const auto& d : docs) {
      std::string w;
      for (char ch : d.text + " ") {
        if (std::isalnum(static_cast<unsigned char>(ch))) {
          w += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        } else if (!w.empty()) {
          counts[w] += 1;
          w.clear();
        }
      }
      if (!(*index)->Add(d).ok()) Die("model index");
    }
  }
  for (const auto& c : (*index)->rep()->chunks) {
    if (!c.live) continue;
    uint32_t words = 0;
    bool in = false;
    for (char ch : c.chunk.text) {
      bool a = std::isalnum(static_cast<unsigned char>(ch));
      words += a && !in;
      in = a;
    }
    if (words > 0) m.chunk_words.push_back(words);
  }
  std::vector<std::pair<std::string, double>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  for (auto& [w, c] : sorted) {
    m.words.push_back(w);
    m.weights.push_back(c);
  }
  if (m.words.empty() || m.chunk_words.empty()) Die("no text under " + dir);
  return m;
}

// Synthetic rare words: "q" + base-26 of the Zipf draw (never a real word).
std::string RareWord(uint64_t r) {
  std::string s = "zq";
  do {
    s += static_cast<char>('a' + r % 26);
    r /= 26;
  } while (r);
  return s;
}

// Draws from the engines' raw output only: the standard's distributions
// (std::discrete_distribution, uniform_*_distribution) are free to differ
// between libraries, and the native (libstdc++) and wasm (libc++) builds
// must generate the same corpus and the same queries.
template <typename Rng>
double Uniform01(Rng& rng) {
  if constexpr (Rng::max() ==
                UINT64_MAX) {  // not the result type's size: mt19937's is 64-bit on glibc
    return static_cast<double>(rng() >> 11) * 0x1.0p-53;
  } else {
    const uint64_t hi = rng() >> 5, lo = rng() >> 6;  // 27 + 26 bits
    return static_cast<double>(hi * 67108864 + lo) * 0x1.0p-53;
  }
}

class Generator {
 public:
  Generator(const Model& m, uint32_t seed) : m_(m), rng_(seed) {
    double total = 0;
    word_cdf_.reserve(m.weights.size());
    for (double w : m.weights) word_cdf_.push_back(total += w);
    // Zipf(1.1) over 2M forms by inverse CDF on a precomputed table.
    const size_t forms = 2000000;
    zipf_cdf_.resize(forms);
    double sum = 0;
    for (size_t i = 0; i < forms; ++i) zipf_cdf_[i] = (sum += 1.0 / std::pow(i + 1.0, 1.1));
    for (double& c : zipf_cdf_) c /= sum;
  }
  Document Next(uint64_t number, const std::string& matter) {
    Document d;
    d.id = "syn" + std::to_string(number);
    d.title = "Agreement " + std::to_string(number);
    d.matter = matter;
    for (int p = 0; p < 50; ++p) {
      uint32_t words = m_.chunk_words[rng_() % m_.chunk_words.size()];
      for (uint32_t i = 0; i < words; ++i) {
        if (rng_() % 50 == 0) {
          auto it = std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), Uniform01(rng_));
          d.text += RareWord(static_cast<uint64_t>(it - zipf_cdf_.begin()));
        } else {
          auto it = std::upper_bound(word_cdf_.begin(), word_cdf_.end(),
                                     Uniform01(rng_) * word_cdf_.back());
          d.text += m_.words[std::min<size_t>(it - word_cdf_.begin(), m_.words.size() - 1)];
        }
        d.text += ' ';
      }
      d.text += ".\n\n";  // a paragraph per passage
    }
    return d;
  }

 private:
  const Model& m_;
  std::mt19937_64 rng_;
  std::vector<double> word_cdf_;  // cumulative word counts
  std::vector<double> zipf_cdf_;
};

const char* const kQuestions[] = {
    "termination for convenience upon written notice",
    "limitation of liability cap on damages",
    "governing law and jurisdiction",
    "indemnify and hold harmless against third party claims",
    "assignment without prior written consent of the other party",
    "exclusive license territory royalty payments",
    "insurance coverage requirements",
    "confidential information return or destroy upon termination",
    "non-compete restriction after the term",
    "audit rights books and records",
    "change of control of either party",
    "most favored nation pricing",
    "minimum purchase commitment",
    "warranty duration and remedies",
    "intellectual property ownership of improvements",
    "renewal term automatic extension notice period",
};

std::vector<std::string> MakeQueries(const Model& m, size_t count, uint32_t seed) {
  std::unordered_map<std::string, size_t> rank;
  for (size_t i = 0; i < m.words.size(); ++i) rank.emplace(m.words[i], i);
  std::vector<std::string> pool;
  for (const char* q : kQuestions) {
    std::istringstream in(q);
    std::string w;
    while (in >> w) pool.push_back(w);
  }
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  while (out.size() < count) {
    size_t n = 2 + rng() % 5;
    std::string q;
    size_t tries = 0;
    while (n > 0 && tries++ < 100) {
      const std::string& w = pool[rng() % pool.size()];
      auto r = rank.find(w);
      // Common words are kept less often: p = min(1, rank / 200).
      double p = r == rank.end() ? 1.0 : std::min(1.0, (r->second + 1) / 200.0);
      if (Uniform01(rng) > p) continue;
      q += (q.empty() ? "" : " ") + w;
      --n;
    }
    out.push_back(q);
  }
  return out;
}

// A query's top hits, ids and scores to the bit.
std::string Ranking(const Index& index, const std::string& q, const SearchOptions& o) {
  auto hits = index.Search(q, o);
  if (!hits.ok()) Die(hits.status().ToString());
  std::string out;
  for (const SearchHit& h : *hits) {
    uint64_t bits;
    std::memcpy(&bits, &h.score, sizeof bits);
    out += h.chunk_id + "=" + std::to_string(bits) + " ";
  }
  return out;
}

// Bytes of the snapshot's lexical part: its pieces (Snapshot fields
// 16-18, format 3) with their tags, found by walking the top-level fields.
uint64_t LexicalBytes(std::string_view snap) {
  if (snap.size() < 20) return 0;
  // The payload: after the 8-byte header and before the 12-byte trailer
  // (format 4), or after the 20-byte header (formats 1-3).
  std::string_view p =
      store::GetU32(snap, 1) >= 4 ? snap.substr(8, snap.size() - 20) : snap.substr(20);
  auto varint = [&p](uint64_t* v) {
    *v = 0;
    for (int shift = 0; !p.empty() && shift < 64; shift += 7) {
      const uint8_t b = static_cast<uint8_t>(p[0]);
      p.remove_prefix(1);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) return true;
    }
    return false;
  };
  uint64_t total = 0;
  while (!p.empty()) {
    const size_t before = p.size();
    uint64_t tag, v;
    if (!varint(&tag)) break;
    switch (tag & 7) {
      case 0:
        varint(&v);
        break;
      case 1:
        p.remove_prefix(std::min<size_t>(8, p.size()));
        break;
      case 5:
        p.remove_prefix(std::min<size_t>(4, p.size()));
        break;
      case 2:
        if (!varint(&v) || v > p.size()) return total;
        p.remove_prefix(v);
        break;
      default:
        return total;
    }
    if ((tag >> 3) >= 16 && (tag >> 3) <= 18) total += before - p.size();
  }
  return total;
}

struct Timing {
  double p50 = 0, p95 = 0, qps = 0;
};

template <typename F>
Timing Time(size_t n, F&& f) {
  std::vector<double> ms;
  auto all0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f(i);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - all0).count();
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 95 / 100)], n / total};
}

std::unique_ptr<Index> NewIndex() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto index = Index::Create(o);
  if (!index.ok()) Die(index.status().ToString());
  return std::move(index.value());
}

}  // namespace
}  // namespace foldback

int main(int argc, char** argv) {
  using namespace foldback;
  std::vector<uint64_t> sizes = {100000, 1000000};
  size_t queries = 500;
  uint32_t seed = 7;
  std::string model_dir = FOLDBACK_DEMO_CORPUS;
  bool memory_only = false;
  bool snapshot = true;
  std::string snapshot_dir = "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + k);
      return argv[++i];
    };
    if (k == "--passages") {
      sizes.clear();
      std::istringstream in(val());
      std::string s;
      while (std::getline(in, s, ',')) sizes.push_back(std::stoull(s));
    } else if (k == "--queries") {
      queries = std::stoul(val());
    } else if (k == "--seed") {
      seed = static_cast<uint32_t>(std::stoul(val()));
    } else if (k == "--snapshot-dir") {
      snapshot_dir = val();
    } else if (k == "--no-snapshot") {
      snapshot = false;
    } else if (k == "--memory") {
      memory_only = true;
    } else if (k == "--model") {
      model_dir = val();
    } else {
      Die("unknown argument " + k);
    }
  }
  Model model = ReadModel(model_dir);
  std::fprintf(stderr, "model: %zu words, %zu chunk lengths\n", model.words.size(), model.chunk_words.size());
  auto qs = MakeQueries(model, queries, seed);
  std::printf("| passages | build (s) | RSS (MB) | terms | snapshot (save) | load | unscoped top 10 p50 / p95 (ms) | scoped (1,000) p50 / p95 (ms) | scope alone p50 / p95 (ms) | scoped ÷ alone (p50) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (uint64_t passages : sizes) {
    const uint64_t docs = passages / 50;
    const uint64_t matters = std::max<uint64_t>(1, docs / 20);
    Generator gen(model, seed);
    double heap_before = HeapMb();
    auto index = NewIndex();
    // The scoped queries use 16 matters spread over the corpus; their
    // documents are kept to build the "scope alone" indexes.
    std::vector<uint64_t> chosen;
    for (uint64_t j = 0; j < 16; ++j) chosen.push_back(j * matters / 16);
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
    std::map<uint64_t, std::vector<Document>> kept;
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t d = 0; d < docs; ++d) {
      Document doc = gen.Next(d, "m" + std::to_string(d / 20));
      if (std::binary_search(chosen.begin(), chosen.end(), d / 20)) kept[d / 20].push_back(doc);
      auto r = index->Add(doc);
      if (!r.ok()) Die(r.status().ToString());
    }
    double build = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double rss = ResidentMb();
    size_t live = index->Stats().chunks;
    if (memory_only) {
      std::printf("%zu passages, build %.1f s:\n", live, build);
      PrintMemory(*index, heap_before, HeapMb());
      continue;
    }
    SearchOptions unscoped;
    unscoped.mode = SearchMode::kBm25;
    unscoped.top_k = 10;
    Timing u = Time(qs.size(), [&](size_t i) {
      auto h = index->Search(qs[i], unscoped);
      if (!h.ok()) Die(h.status().ToString());
    });
    {
      // What the unscoped queries found, as one number (FNV-1a of the
      // top-10 chunk ids, every query), outside the timers: equal digests
      // natively and in wasm mean the same passages ranked in the same order.
      uint64_t digest = 1469598103934665603ull;
      for (const auto& q : qs) {
        auto h = index->Search(q, unscoped);
        if (!h.ok()) Die(h.status().ToString());
        for (const SearchHit& hit : *h) {
          for (char ch : hit.chunk_id + "\n")
            digest = (digest ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
        }
      }
      std::fprintf(stderr, "%zu passages: unscoped rankings digest %016llx\n", live,
                   static_cast<unsigned long long>(digest));
    }
    auto matter_of = [&](size_t i) { return chosen[(i * 7) % chosen.size()]; };
    auto scoped_opts = [&](size_t i) {
      SearchOptions o = unscoped;
      o.filters.push_back({"matter", Filter::Op::kEq, "m" + std::to_string(matter_of(i))});
      return o;
    };
    Timing s = Time(qs.size(), [&](size_t i) {
      auto h = index->Search(qs[i], scoped_opts(i));
      if (!h.ok()) Die(h.status().ToString());
    });
    // The scope alone: an index per chosen matter holding only its
    // documents (the same generated text).
    std::map<uint64_t, std::unique_ptr<Index>> alone;
    for (auto& [m, list] : kept) {
      alone[m] = NewIndex();
      for (const auto& doc : list) {
        if (!alone[m]->Add(doc).ok()) Die("scope index");
      }
    }
    Timing a = Time(qs.size(), [&](size_t i) {
      auto h = alone.at(matter_of(i))->Search(qs[i], unscoped);
      if (!h.ok()) Die(h.status().ToString());
    });
    // The snapshot: saved, then the index dropped (at the largest sizes
    // the index, its snapshot and a loaded copy do not fit in memory
    // together) and the snapshot loaded; the loaded index must rank the
    // unscoped queries exactly as the built one did (ids and scores).
    std::string snap_cell = "not taken", load_cell = "–";
    const unsigned long long terms = index->Stats().terms;
    if (snapshot) {
      std::vector<std::string> before;
      for (size_t i = 0; i < qs.size(); ++i) before.push_back(Ranking(*index, qs[i], unscoped));
#ifndef __EMSCRIPTEN__
      const std::string dir = snapshot_dir + "/scale_bench_" + std::to_string(::getpid());
      const double rss_before = ResidentMb();
      ResetPeak();
      auto t1 = std::chrono::steady_clock::now();
      Status saved = host::SaveIndex(dir, *index);
      double save = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      const double save_peak = StatusMb("VmHWM:");
      if (!saved.ok()) {
        snap_cell = "fails: " + saved.ToString();
      } else {
        index.reset();
        alone.clear();
        malloc_trim(0);
        const std::string path = host::SnapshotPath(dir);
        uint64_t lexical = 0;
        {
          auto mapped = host::MappedFile::Open(path);
          if (mapped.ok()) lexical = LexicalBytes(mapped->bytes());
        }
        char buf[320];
        std::snprintf(buf, sizeof buf,
                      "%.0f MB (lexical %.0f MB), %.1f s; peak RSS %.0f MB (index %.0f MB + %.0f)",
                      host::FileSize(path) / 1e6, lexical / 1e6, save, save_peak, rss_before,
                      save_peak - rss_before);
        snap_cell = buf;
        ResetPeak();
        auto t2 = std::chrono::steady_clock::now();
        // What host::OpenIndex does (the file mapped, Index::FromSnapshot
        // over the mapping), with the mapping's resident pages read before
        // it goes.
        double file_pages = -1;
        Result<std::unique_ptr<Index>> loaded = Status::Internal("not loaded");
        {
          auto mapped = host::MappedFile::Open(path);
          if (!mapped.ok()) Die(mapped.status().ToString());
          loaded = Index::FromSnapshot(mapped->bytes());
          file_pages = StatusMb("RssFile:");
        }
        double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
        const double load_peak = StatusMb("VmHWM:");
        if (!loaded.ok()) {
          load_cell = "fails: " + loaded.status().ToString();
        } else {
          malloc_trim(0);
          size_t same = 0;
          for (size_t i = 0; i < qs.size(); ++i)
            same += Ranking(**loaded, qs[i], unscoped) == before[i];
          std::snprintf(buf, sizeof buf,
                        "%.1f s; peak RSS %.0f MB, %.0f MB loaded (mapped pages resident at the "
                        "end of the load %.0f MB); %zu/%zu "
                        "rankings identical",
                        load, load_peak, ResidentMb(), file_pages, same, qs.size());
          load_cell = buf;
          index = std::move(loaded.value());
        }
        std::remove(path.c_str());
        std::remove((dir + "/serve.lock").c_str());
        ::rmdir(dir.c_str());
      }
#else  // the wasm build: the snapshot in memory (no files)
      (void)snapshot_dir;
      auto t1 = std::chrono::steady_clock::now();
      auto snap = index->Snapshot();
      double save = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      if (!snap.ok()) {
        snap_cell = "fails: " + snap.status().ToString();
        load_cell = "–";
      } else {
        const double rss_saved = ResidentMb();
        index.reset();
        alone.clear();
        malloc_trim(0);
        char buf[160];
        std::snprintf(buf, sizeof buf, "%.0f MB (lexical %.0f MB), %.1f s", snap->size() / 1e6,
                      LexicalBytes(*snap) / 1e6, save);
        snap_cell = buf;
        auto t2 = std::chrono::steady_clock::now();
        auto loaded = Index::FromSnapshot(*snap);
        double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
        if (!loaded.ok()) {
          load_cell = "fails: " + loaded.status().ToString();
        } else {
          const double rss_loaded = ResidentMb();
          snap->clear();
          snap->shrink_to_fit();
          malloc_trim(0);
          size_t same = 0;
          for (size_t i = 0; i < qs.size(); ++i)
            same += Ranking(**loaded, qs[i], unscoped) == before[i];
          std::snprintf(
              buf, sizeof buf,
              "%.1f s; RSS %.0f MB with the snapshot after saving, %.0f MB loaded + snapshot, "
              "%.0f MB loaded; %zu/%zu rankings identical",
              load, rss_saved, rss_loaded, ResidentMb(), same, qs.size());
          load_cell = buf;
          index = std::move(loaded.value());
        }
      }
#endif
    }
    std::printf(
        "| %zu | %.1f | %.0f | %llu | %s | %s | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.2f× "
        "|\n",
        live, build, rss, terms, snap_cell.c_str(), load_cell.c_str(), u.p50, u.p95, s.p50, s.p95,
        a.p50, a.p95, s.p50 / a.p50);
    std::fflush(stdout);
  }
  return 0;
}
