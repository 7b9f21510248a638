// Near-duplicate sketches (index/near_dup.h): they only rule out pairs that
// the exact shingle comparison would reject, so the collapse of a search
// gives the same hits and duplicates as comparing every pair's shingles.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "index/index_internal.h"
#include "index/near_dup.h"
#include "rewrite/ask_internal.h"
#include "snapshot.pb.h"
#include "snapshot_envelope.h"
#include "store/bytes.h"
#include "store/crc32c.h"

namespace foldback {
namespace {

// Texts from a small vocabulary, many of them edits of a few base texts, so
// that pairs fall on both sides of every threshold.
class TextGen {
 public:
  explicit TextGen(uint32_t seed) : rng_(seed) {
    for (int i = 0; i < 150; ++i)
      vocab_.push_back("w" + std::to_string(i) + (i % 7 == 0 ? "X" : ""));
    for (int b = 0; b < 12; ++b) {
      std::vector<std::string> base;
      const int n = 3 + static_cast<int>(rng_() % 60);
      for (int i = 0; i < n; ++i) base.push_back(Word());
      bases_.push_back(base);
    }
  }
  std::string Word() { return vocab_[rng_() % 20 == 0 ? rng_() % vocab_.size() : rng_() % 40]; }
  std::string Text() {
    std::vector<std::string> w;
    if (rng_() % 4 == 0) {
      const int n = static_cast<int>(rng_() % 50);
      for (int i = 0; i < n; ++i) w.push_back(Word());
    } else {
      w = bases_[rng_() % bases_.size()];
      const int edits = static_cast<int>(rng_() % 6);
      for (int e = 0; e < edits && !w.empty(); ++e) {
        const size_t at = rng_() % w.size();
        switch (rng_() % 3) {
          case 0:
            w[at] = Word();
            break;
          case 1:
            w.erase(w.begin() + static_cast<long>(at));
            break;
          default:
            w.insert(w.begin() + static_cast<long>(at), Word());
        }
      }
    }
    std::string out;
    for (const auto& s : w) out += (out.empty() ? "" : (rng_() % 9 == 0 ? ", " : " ")) + s;
    return out;
  }
  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
  std::vector<std::string> vocab_;
  std::vector<std::vector<std::string>> bases_;
};

TEST(NearDupSketch, NeverRulesOutANearDuplicate) {
  TextGen gen(11);
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) texts.push_back(gen.Text());
  texts.push_back("");
  texts.push_back("one");
  texts.push_back("one two");
  std::vector<index::DupSketch> sk;
  std::vector<std::vector<uint64_t>> sh;
  for (const auto& t : texts) {
    sk.push_back(index::DupSketch::Of(t));
    sh.push_back(rewrite::Shingles(t));
    ASSERT_EQ(sk.back().shingles, sh.back().size()) << t;
  }
  size_t ruled_out = 0, near = 0;
  for (double t : {0.5, 0.8, 0.9, 1.0}) {
    for (size_t i = 0; i < texts.size(); ++i) {
      for (size_t j = 0; j < texts.size(); ++j) {
        const bool exact = rewrite::JaccardAtLeast(sh[i], sh[j], t);
        const bool may = index::MayBeNearDuplicate(sk[i], sk[j], t);
        if (exact) {
          ++near;
          ASSERT_TRUE(may) << "t " << t << ": '" << texts[i] << "' / '" << texts[j] << "'";
        }
        if (!may) ++ruled_out;
        ASSERT_LE(index::MaxOverlap(sk[i], sk[j]), std::min(sh[i].size(), sh[j].size()));
      }
    }
  }
  // The test means something: both kinds of pairs occur, and the sketch
  // rules out most pairs.
  EXPECT_GT(near, 4 * texts.size());
  EXPECT_GT(ruled_out, 4 * texts.size() * texts.size() / 2);
}

SearchOptions Bm25(size_t k, double jaccard) {
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = k;
  o.collapse_jaccard = jaccard;
  return o;
}

// The collapse with the real sketches against the collapse with sketches
// that rule nothing out beyond the size filter (an empty bit map makes
// MaxOverlap the smaller set's size: exactly the comparison of every pair's
// shingles that the collapse made before sketches).
// Sketches are stored in the snapshot (36 bytes a chunk, removed documents
// left out) and read back instead of shingling every chunk; stored by
// another scheme they are recomputed from the text, never trusted.
TEST(NearDupSketch, StoredInTheSnapshotAndRecomputedUnderAnotherScheme) {
  TextGen gen(11);
  IndexOptions io;
  io.dense.embedder = EmbedderKind::kNone;
  auto made = Index::Create(io);
  ASSERT_TRUE(made.ok());
  for (int d = 0; d < 30; ++d) {
    Document doc;
    doc.id = "d" + std::to_string(d);
    doc.text = gen.Text() + ".\n\n" + gen.Text() + ".";
    ASSERT_TRUE((*made)->Add(doc).ok());
  }
  for (int d = 0; d < 30; d += 7) ASSERT_TRUE((*made)->Remove("d" + std::to_string(d)).ok());
  auto bytes = (*made)->Snapshot();
  ASSERT_TRUE(bytes.ok());
  pb::Snapshot snap;
  ASSERT_TRUE(snap.ParseFromString(std::string(testing::SnapshotPayload(*bytes))));
  EXPECT_EQ(snap.dup_sketch_scheme(), index::DupSketch::kScheme);
  ASSERT_EQ(snap.dup_sketches().size(), snap.chunks_size() * index::DupSketch::kEncodedSize);

  auto expect_true_sketches = [](const Index& idx) {
    for (const ChunkSlot& c : idx.rep()->chunks) {
      const index::DupSketch want = index::DupSketch::Of(c.chunk.text);
      ASSERT_EQ(c.sketch.shingles, want.shingles) << c.chunk.id;
      for (int w = 0; w < index::DupSketch::kWords; ++w) ASSERT_EQ(c.sketch.bits[w], want.bits[w]);
    }
  };
  auto loaded = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(loaded.ok());
  expect_true_sketches(**loaded);

  // The same snapshot with wrong sketches under another scheme: ignored.
  snap.set_dup_sketch_scheme(index::DupSketch::kScheme + 1);
  snap.set_dup_sketches(std::string(snap.dup_sketches().size(), '\xff'));
  auto other = Index::FromSnapshot(testing::SealSnapshot(4, snap.SerializeAsString()));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  expect_true_sketches(**other);
  // ... and read under this scheme (the check above can fail).
  snap.set_dup_sketch_scheme(index::DupSketch::kScheme);
  auto trusted = Index::FromSnapshot(testing::SealSnapshot(4, snap.SerializeAsString()));
  ASSERT_TRUE(trusted.ok());
  EXPECT_EQ((*trusted)->rep()->chunks[0].sketch.bits[0], ~uint64_t{0});
}

TEST(NearDupSketch, CollapseMatchesComparingEveryPair) {
  TextGen gen(5);
  IndexOptions io;
  io.dense.embedder = EmbedderKind::kNone;
  auto made = Index::Create(io);
  ASSERT_TRUE(made.ok());
  Index& idx = **made;
  for (int d = 0; d < 120; ++d) {
    Document doc;
    doc.id = "d" + std::to_string(d);
    // Several paragraphs: several chunks per document.
    const int paras = 1 + static_cast<int>(gen.rng()() % 4);
    for (int p = 0; p < paras; ++p) doc.text += gen.Text() + ".\n\n";
    ASSERT_TRUE(idx.Add(doc).ok());
  }
  // Round trip: sketches computed at load equal those computed when adding.
  auto bytes = idx.Snapshot();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Index::FromSnapshot(*bytes);
  ASSERT_TRUE(loaded.ok());
  Index::Rep& rep = *idx.rep();
  Index::Rep& rep2 = *(*loaded)->rep();
  ASSERT_EQ(rep.chunks.size(), rep2.chunks.size());
  for (size_t c = 0; c < rep.chunks.size(); ++c) {
    ASSERT_EQ(rep.chunks[c].sketch.shingles, rep2.chunks[c].sketch.shingles);
    for (int w = 0; w < index::DupSketch::kWords; ++w)
      ASSERT_EQ(rep.chunks[c].sketch.bits[w], rep2.chunks[c].sketch.bits[w]);
  }

  struct Q {
    std::string text;
    SearchOptions options;
  };
  std::vector<Q> queries;
  for (int q = 0; q < 150; ++q) {
    std::string text;
    const int words = 1 + static_cast<int>(gen.rng()() % 4);
    for (int w = 0; w < words; ++w) text += gen.Word() + " ";
    const double t = q % 3 == 0 ? 0.5 : (q % 3 == 1 ? 0.8 : 0.9);
    const size_t k = q % 2 == 0 ? 10 : 1 + gen.rng()() % 40;
    queries.push_back({text, Bm25(k, t)});
  }
  std::vector<std::vector<SearchHit>> with_sketch;
  size_t duplicates = 0;
  for (const Q& q : queries) {
    auto hits = (*loaded)->Search(q.text, q.options);
    ASSERT_TRUE(hits.ok());
    for (const auto& h : *hits) duplicates += h.duplicates.size();
    with_sketch.push_back(std::move(hits.value()));
  }
  EXPECT_GT(duplicates, 100u);  // the collapse had work to do
  for (ChunkSlot& c : rep2.chunks) {
    for (uint64_t& w : c.sketch.bits) w = 0;
  }
  for (size_t q = 0; q < queries.size(); ++q) {
    auto hits = (*loaded)->Search(queries[q].text, queries[q].options);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), with_sketch[q].size()) << queries[q].text;
    for (size_t i = 0; i < hits->size(); ++i) {
      EXPECT_EQ((*hits)[i].chunk_id, with_sketch[q][i].chunk_id)
          << queries[q].text << " rank " << i;
      EXPECT_EQ((*hits)[i].score, with_sketch[q][i].score);
      EXPECT_EQ((*hits)[i].duplicates, with_sketch[q][i].duplicates) << queries[q].text;
    }
  }
}

}  // namespace
}  // namespace foldback
