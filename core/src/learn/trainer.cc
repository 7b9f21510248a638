// Contrastive training of the static embedder (foldback/train.h).
//
// A text is a bag of (word, count). Its vector is
//   u = sum_w count_w * a_w * E_w,   v = u / |u|
// (E: word vectors, a: pooling weights), exactly what StaticEmbedder::Embed
// computes, so the trained parts drop into the embedder unchanged.
//
// Loss for a batch of B pairs (anchor q_i, positive p_i, hard negative n_i):
//   S = Q [P; N]^T / tau,   L = mean_i -log softmax(S_i)[i]
// with candidates that are the anchor's own positive chunk under another
// pair masked out (a false negative). Gradients flow back through the
// normalisation and the pooling to the rows of E and a the batch touches,
// which lazy Adam updates.
#include <Eigen/Dense>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "embed/static_embedder.h"
#include "foldback/train.h"
#include "index/dense_index.h"
#include "index/index_internal.h"
#include "learn/streams.h"

namespace foldback {
namespace {

using Bag = std::vector<std::pair<uint32_t, uint32_t>>;
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr uint32_t kNoChunk = 0xFFFFFFFFu;

struct Example {
  Bag anchor, positive, negative;
  uint32_t positive_chunk = kNoChunk;
  uint32_t negative_chunk = kNoChunk;
  uint32_t anchor_key = 0;  // hash of the folded anchor: equal anchors never serve as negatives
  float weight = 1.0f;      // the source's loss weight
};

uint32_t AnchorKey(const std::string& s) {
  uint32_t h = 2166136261u;
  for (char c : s)
    h = (h ^ static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(c)))) * 16777619u;
  return h;
}

// Fisher-Yates with mt19937_64 output only (std::shuffle's use of the
// engine differs between libstdc++ and libc++).
void Shuffle(std::vector<uint32_t>* v, std::mt19937_64* rng) {
  for (size_t i = v->size(); i > 1; --i) {
    size_t j = static_cast<size_t>((*rng)() % i);
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

// Takes at most `max_pairs` pairs: lawyers' labels, then LLM-written pairs
// (given on purpose, and paid for) are all kept up to half the budget
// between them; of the rest every
// structure source keeps its share, the inverse-cloze pairs (one per
// passage, far more than the others) fill what the others leave, up to half
// the remaining budget when the others need it.
std::vector<TrainingPair> Sample(std::vector<TrainingPair> pairs, size_t max_pairs,
                                 std::mt19937_64* rng) {
  std::vector<std::vector<uint32_t>> by(kPairSourceCount);
  for (uint32_t i = 0; i < pairs.size(); ++i) by[static_cast<int>(pairs[i].source)].push_back(i);
  for (auto& v : by) Shuffle(&v, rng);
  const int ict = static_cast<int>(PairSource::kInverseCloze);
  const int gen = static_cast<int>(PairSource::kGenerated);
  const int fb = static_cast<int>(PairSource::kFeedback);
  const size_t fb_take = std::min(by[fb].size(), max_pairs / 2);
  const size_t gen_take = std::min(by[gen].size(), max_pairs / 2 - fb_take);
  const size_t budget = max_pairs - gen_take - fb_take;
  size_t others = pairs.size() - by[ict].size() - by[gen].size() - by[fb].size();
  size_t ict_take =
      std::min(by[ict].size(), std::max(budget / 2, budget > others ? budget - others : 0));
  size_t left = budget - ict_take;
  std::vector<TrainingPair> out;
  for (int s = 0; s < kPairSourceCount; ++s) {
    size_t take = by[s].size();
    if (s == gen) {
      take = gen_take;
    } else if (s == fb) {
      take = fb_take;
    } else if (s == ict) {
      take = ict_take;
    } else if (others > left) {
      take = by[s].size() * left / others;
    }
    for (size_t k = 0; k < take; ++k) out.push_back(std::move(pairs[by[s][k]]));
  }
  return out;
}

// Whether source `s` has pairs to give: the llm and feedback sources only
// with pairs supplied in the options; the mined sources always.
bool GivenPairsPresent(const EmbedderTrainOptions& options, int s) {
  if (s == static_cast<int>(PairSource::kGenerated)) return !options.generated_pairs.empty();
  if (s == static_cast<int>(PairSource::kFeedback)) return !options.feedback_pairs.empty();
  return true;
}

}  // namespace

struct EmbedderTrainer::Rep {
  EmbedderTrainOptions options;
  std::vector<TrainingPair> pairs;
  std::vector<Example> examples;
  const embed::StaticEmbedder* base_model = nullptr;  // for words()
  std::vector<std::string> words;
  uint32_t dim = 0;
  std::vector<float> e, w;             // parameters
  std::vector<float> e0, w0;           // the starting model (soup, interpolation)
  std::vector<double> soup_e, soup_w;  // sums of the finished soup members
  uint32_t soup_done = 0;              // soup members finished
  uint64_t member_steps = 0;           // steps of the current member
  bool finalized = false;              // e, w hold the model to install
  std::vector<float> me, ve, mw, vw;   // Adam moments
  std::vector<float> ge, gw;           // gradient accumulators (touched rows only)
  std::vector<uint32_t> touched;
  std::vector<uint8_t> is_touched;
  std::mt19937_64 rng;
  std::vector<uint32_t> order;
  size_t cursor = 0;
  uint64_t adam_t = 0;
  TrainProgress progress;
  double epoch_loss_sum = 0;
  uint64_t epoch_steps = 0;
  bool installed = false;
  std::string base_training;
  uint32_t base_version = 0;
  std::vector<std::string> base_feedback_matters;  // the starting model's

  // Forward one text: v (unit, or zero) and |u|.
  float Forward(const Bag& bag, float* v) const {
    std::fill(v, v + dim, 0.0f);
    for (const auto& [id, count] : bag) {
      const float* row = &e[static_cast<size_t>(id) * dim];
      float c = static_cast<float>(count) * w[id];
      for (uint32_t j = 0; j < dim; ++j) v[j] += c * row[j];
    }
    float n = 0;
    for (uint32_t j = 0; j < dim; ++j) n += v[j] * v[j];
    n = std::sqrt(n);
    if (n > 0) {
      for (uint32_t j = 0; j < dim; ++j) v[j] /= n;
    }
    return n;
  }

  // Back through normalisation and pooling: dv is dL/dv.
  void Backward(const Bag& bag, const float* v, float norm, const float* dv) {
    if (norm <= 0) return;
    float dot = 0;
    for (uint32_t j = 0; j < dim; ++j) dot += v[j] * dv[j];
    std::vector<float> du(dim);
    for (uint32_t j = 0; j < dim; ++j) du[j] = (dv[j] - v[j] * dot) / norm;
    for (const auto& [id, count] : bag) {
      if (!is_touched[id]) {
        is_touched[id] = 1;
        touched.push_back(id);
      }
      float c = static_cast<float>(count);
      float* g = &ge[static_cast<size_t>(id) * dim];
      const float* row = &e[static_cast<size_t>(id) * dim];
      float cw = c * w[id];
      float gdot = 0;
      for (uint32_t j = 0; j < dim; ++j) {
        g[j] += cw * du[j];
        gdot += row[j] * du[j];
      }
      gw[id] += c * gdot;
    }
  }

  // Loss of the batch `idx`; with `update`, gradients and an Adam step.
  double Batch(const std::vector<uint32_t>& idx, bool update) {
    const size_t b = idx.size();
    std::vector<const Bag*> cand_bags;
    std::vector<uint32_t> cand_chunk, cand_key;
    for (uint32_t i : idx) {
      cand_bags.push_back(&examples[i].positive);
      cand_chunk.push_back(examples[i].positive_chunk);
      cand_key.push_back(examples[i].anchor_key);
    }
    for (uint32_t i : idx) {
      if (!examples[i].negative.empty()) {
        cand_bags.push_back(&examples[i].negative);
        cand_chunk.push_back(examples[i].negative_chunk);
        cand_key.push_back(0);  // a hard negative was chosen against its own anchor only
      }
    }
    const size_t m = cand_bags.size();
    Matrix q(b, dim), c(m, dim);
    std::vector<float> qn(b), cn(m);
    for (size_t i = 0; i < b; ++i) qn[i] = Forward(examples[idx[i]].anchor, q.row(i).data());
    for (size_t j = 0; j < m; ++j) cn[j] = Forward(*cand_bags[j], c.row(j).data());
    const float scale = 1.0f / options.temperature;
    Matrix s = (q * c.transpose()) * scale;  // b x m
    // The loss is the weighted mean of the anchors' terms; the gradient is
    // the weighted sum over b (a source of weight 0.5 pulls half as hard,
    // whatever the batch's mix).
    double loss = 0, weights = 0;
    Matrix g = Matrix::Zero(b, m);
    for (size_t i = 0; i < b; ++i) {
      const double wi = examples[idx[i]].weight;
      weights += wi;
      uint32_t own = examples[idx[i]].positive_chunk;
      uint32_t key = examples[idx[i]].anchor_key;
      float mx = -1e30f;
      std::vector<uint8_t> keep(m, 1);
      for (size_t j = 0; j < m; ++j) {
        // Another pair's positive for the same chunk, or for the same anchor
        // (a defined term of many contracts), is no negative.
        if (j != i && ((own != kNoChunk && cand_chunk[j] == own) || (j < b && cand_key[j] == key)))
          keep[j] = 0;
        if (keep[j]) mx = std::max(mx, s(i, j));
      }
      double z = 0;
      for (size_t j = 0; j < m; ++j) {
        if (keep[j]) z += std::exp(static_cast<double>(s(i, j) - mx));
      }
      loss += wi * -(static_cast<double>(s(i, i) - mx) - std::log(z));
      if (!update || wi == 0) continue;
      for (size_t j = 0; j < m; ++j) {
        if (!keep[j]) continue;
        double p = std::exp(static_cast<double>(s(i, j) - mx)) / z;
        g(i, j) = static_cast<float>(wi * (p - (j == i ? 1.0 : 0.0)) / static_cast<double>(b));
      }
    }
    loss = weights > 0 ? loss / weights : 0.0;
    if (!update) return loss;
    Matrix dq = (g * c) * scale;              // b x dim
    Matrix dc = (g.transpose() * q) * scale;  // m x dim
    for (size_t i = 0; i < b; ++i)
      Backward(examples[idx[i]].anchor, q.row(i).data(), qn[i], dq.row(i).data());
    for (size_t j = 0; j < m; ++j)
      Backward(*cand_bags[j], c.row(j).data(), cn[j], dc.row(j).data());
    Adam();
    return loss;
  }

  // A soup member is done: add it to the sum, start the next from scratch.
  void EndMember() {
    if (soup_e.empty()) {
      soup_e.assign(e.size(), 0.0);
      soup_w.assign(w.size(), 0.0);
    }
    for (size_t i = 0; i < e.size(); ++i) soup_e[i] += e[i];
    for (size_t i = 0; i < w.size(); ++i) soup_w[i] += w[i];
    ++soup_done;
    member_steps = 0;
    if (soup_done < options.soup) {
      e = e0;
      w = w0;
      std::fill(me.begin(), me.end(), 0.0f);
      std::fill(ve.begin(), ve.end(), 0.0f);
      std::fill(mw.begin(), mw.end(), 0.0f);
      std::fill(vw.begin(), vw.end(), 0.0f);
      adam_t = 0;
    }
  }

  // The model to install: the soup's mean (a member cut short counts as it
  // is), then WiSE-FT's line from the starting model.
  void Finalize() {
    if (finalized) return;
    finalized = true;
    if (options.soup > 1) {
      if (member_steps > 0 || soup_done == 0) EndMember();
      const double k = soup_done;
      for (size_t i = 0; i < e.size(); ++i) e[i] = static_cast<float>(soup_e[i] / k);
      for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(soup_w[i] / k);
      soup_e.clear();
      soup_w.clear();
    }
    const float alpha = options.interpolation;
    if (alpha < 1.0f) {
      for (size_t i = 0; i < e.size(); ++i) e[i] = (1.0f - alpha) * e0[i] + alpha * e[i];
      for (size_t i = 0; i < w.size(); ++i) w[i] = (1.0f - alpha) * w0[i] + alpha * w[i];
    }
  }

  void Adam() {
    constexpr float kB1 = 0.9f, kB2 = 0.999f, kEps = 1e-8f;
    ++adam_t;
    const float lr = options.learning_rate;
    const float c1 = 1.0f - std::pow(kB1, static_cast<float>(adam_t));
    const float c2 = 1.0f - std::pow(kB2, static_cast<float>(adam_t));
    std::sort(touched.begin(), touched.end());
    for (uint32_t id : touched) {
      size_t o = static_cast<size_t>(id) * dim;
      for (uint32_t j = 0; j < dim; ++j) {
        float gr = ge[o + j];
        me[o + j] = kB1 * me[o + j] + (1 - kB1) * gr;
        ve[o + j] = kB2 * ve[o + j] + (1 - kB2) * gr * gr;
        e[o + j] -= lr * (me[o + j] / c1) / (std::sqrt(ve[o + j] / c2) + kEps);
        ge[o + j] = 0;
      }
      if (options.train_weights) {
        float gr = gw[id];
        mw[id] = kB1 * mw[id] + (1 - kB1) * gr;
        vw[id] = kB2 * vw[id] + (1 - kB2) * gr * gr;
        // Weights are idf-sized (1..10): a proportionally larger step.
        w[id] -= 10 * lr * (mw[id] / c1) / (std::sqrt(vw[id] / c2) + kEps);
        if (w[id] < 0) w[id] = 0;
      }
      gw[id] = 0;
      is_touched[id] = 0;
    }
    touched.clear();
  }
};

EmbedderTrainer::EmbedderTrainer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
EmbedderTrainer::~EmbedderTrainer() = default;

Result<std::unique_ptr<EmbedderTrainer>> EmbedderTrainer::Start(
    const Index& index, const EmbedderTrainOptions& options) {
  if (options.epochs == 0 || options.batch_size < 2 || options.max_pairs < 2) {
    return Status::InvalidArgument(
        "training needs at least one epoch, batches of two pairs and two pairs");
  }
  if (!(options.temperature > 0) || !(options.learning_rate > 0) ||
      !std::isfinite(options.learning_rate) || !std::isfinite(options.temperature)) {
    return Status::InvalidArgument("training temperature and step size must be positive");
  }
  if (options.soup == 0 || options.soup > 16) {
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("training soup must be 1 to 16 models, got {}"), options.soup));
  }
  if (!(options.interpolation >= 0.0f && options.interpolation <= 1.0f)) {
    return Status::InvalidArgument(fmt::format(
        FMT_STRING("training interpolation must lie in [0, 1], got {}"), options.interpolation));
  }
  bool used_any = false, weighed = false;
  for (int s = 0; s < kPairSourceCount; ++s) {
    float w = options.source_weights.weight[s];
    if (!(w >= 0.0f && w <= 100.0f)) {
      return Status::InvalidArgument(
          fmt::format(FMT_STRING("training source weight of {} must lie in [0, 100], got {}"),
                      PairSourceName(static_cast<PairSource>(s)), w));
    }
    // The llm and feedback sources count only with pairs to train on.
    const bool used = options.sources.enabled[s] && GivenPairsPresent(options, s);
    used_any |= used;
    weighed |= used && w > 0.0f;
  }
  // Nothing usable at all (the llm source alone, without questions) is the
  // missing-pairs precondition below, not a weight error.
  if (used_any && !weighed) {
    return Status::InvalidArgument("every enabled training source has weight 0: nothing to learn");
  }
  const Index::Rep& r = *index.rep();
  if (r.options.dense.embedder != EmbedderKind::kStatic) {
    return Status::FailedPrecondition(
        "only an index with foldback's static embedder can be trained");
  }
  if (!r.embedder) {
    return Status::FailedPrecondition(
        "the index has no embedder yet: build its dense side first (ingest does; "
        "Index::BuildDense)");
  }
  // The starting point: the current model when warm-starting, otherwise the
  // corpus-trained (PPMI) one.
  const embed::StaticEmbedder* base = r.embedder.get();
  if (!options.warm_start && base->training() != "ppmi-svd") {
    if (r.previous_embedder && r.previous_embedder->training() == "ppmi-svd") {
      base = r.previous_embedder.get();
    } else {
      return Status::FailedPrecondition(
          "the index's model is already trained and its corpus model is gone: train with warm "
          "start "
          "(--incremental), or retrain the corpus model first (BuildDense(retrain))");
    }
  }
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  rep->rng.seed(options.seed);
  rep->base_training = base->training();
  rep->base_version = base->version();
  rep->base_feedback_matters = base->feedback_matters();
  auto pairs = MinePairs(index, options.sources);
  if (options.sources.Has(PairSource::kGenerated)) {
    for (const TrainingPair& g : options.generated_pairs) {
      pairs.push_back(g);
      pairs.back().source = PairSource::kGenerated;
      pairs.back().negative.clear();
      pairs.back().negative_chunk.clear();
    }
  }
  if (options.sources.Has(PairSource::kFeedback)) {
    for (const TrainingPair& f : options.feedback_pairs) {
      pairs.push_back(f);
      pairs.back().source = PairSource::kFeedback;
    }
  }
  rep->pairs = Sample(std::move(pairs), options.max_pairs, &rep->rng);

  // Chunk numbers by id, for masks and hard negatives.
  auto chunk_number = [&](const std::string& id) -> uint32_t {
    auto it = r.chunk_ids.find(id);
    return it == r.chunk_ids.end() ? kNoChunk : it->second;
  };
  // Hard negatives: the best BM25 passages of the positive's own document
  // (another clause of the same contract — what a scoped search must tell
  // apart), not its neighbours and not its section. Passages of other
  // documents are often the same clause in another contract: false negatives.
  std::vector<learn::StreamPosition> where = learn::Streams(r);
  std::vector<std::vector<uint32_t>> stream_chunks;
  for (uint32_t c = 0; c < where.size(); ++c) {
    if (where[c].stream == 0xFFFFFFFFu) continue;
    if (stream_chunks.size() <= where[c].stream) stream_chunks.resize(where[c].stream + 1);
    stream_chunks[where[c].stream].push_back(c);
  }
  // BM25 within the stream, over the words the model knows: a stream holds a
  // few hundred passages at most, so scoring them all is cheaper than a
  // masked search of the whole index.
  std::vector<float> word_idf(base->words().size());
  for (size_t i = 0; i < word_idf.size(); ++i)
    word_idf[i] = static_cast<float>(r.lexical.Idf(base->words()[i]));
  const double k1 = r.options.bm25.k1, bb = r.options.bm25.b;
  const double avg = std::max(1.0, r.lexical.average_length());
  std::vector<Bag> chunk_bag(r.chunks.size());
  std::vector<uint8_t> has_bag(r.chunks.size(), 0);
  auto bag_of = [&](uint32_t c) -> const Bag& {
    if (!has_bag[c]) {
      chunk_bag[c] = base->Bag(r.chunks[c].chunk.text, r.analyzer);
      has_bag[c] = 1;
    }
    return chunk_bag[c];
  };
  std::vector<Example> examples(rep->pairs.size());
  std::vector<uint8_t> usable(rep->pairs.size(), 0);
  for (uint32_t i = 0; i < rep->pairs.size(); ++i) {
    TrainingPair& p = rep->pairs[i];
    Example& ex = examples[i];
    ex.anchor = base->Bag(p.anchor, r.analyzer);
    ex.positive = base->Bag(p.positive, r.analyzer);
    if (ex.anchor.empty() || ex.positive.empty()) continue;
    usable[i] = 1;
    ex.weight = options.source_weights.Of(p.source);
    ex.positive_chunk = chunk_number(p.positive_chunk);
    ex.anchor_key = AnchorKey(p.anchor);
    if (!p.negative_chunk.empty()) {  // the pair's own (a lawyer's label)
      const uint32_t n = chunk_number(p.negative_chunk);
      if (n != kNoChunk && n != ex.positive_chunk && r.chunks[n].chunk.text != p.positive) {
        p.negative = r.chunks[n].chunk.text;
        ex.negative = bag_of(n);
        ex.negative_chunk = n;
        continue;
      }
      p.negative.clear();  // gone from the index: mined like any other
      p.negative_chunk.clear();
    }
    if (!options.hard_negatives || ex.positive_chunk == kNoChunk) continue;
    const learn::StreamPosition own = where[ex.positive_chunk];
    const std::string& own_section = r.chunks[ex.positive_chunk].chunk.section;
    uint32_t best = kNoChunk;
    double best_score = 0;
    for (uint32_t c : stream_chunks[own.stream]) {
      uint32_t gap = where[c].position > own.position ? where[c].position - own.position
                                                      : own.position - where[c].position;
      if (gap <= 1) continue;
      const ChunkSlot& cand = r.chunks[c];
      if (!own_section.empty() && cand.chunk.section == own_section) continue;
      const Bag& cb = bag_of(c);
      double norm = k1 * (1.0 - bb + bb * r.lexical.length(c) / avg);
      double score = 0;
      size_t a = 0, k = 0;
      while (a < ex.anchor.size() && k < cb.size()) {
        if (ex.anchor[a].first < cb[k].first) {
          ++a;
        } else if (cb[k].first < ex.anchor[a].first) {
          ++k;
        } else {
          double tf = cb[k].second;
          score += ex.anchor[a].second * word_idf[cb[k].first] * tf * (k1 + 1.0) / (tf + norm);
          ++a;
          ++k;
        }
      }
      if (score > best_score && p.positive.find(cand.chunk.text) == std::string::npos) {
        best_score = score;
        best = c;
      }
    }
    if (best == kNoChunk) continue;
    p.negative = r.chunks[best].chunk.text;
    ex.negative = bag_of(best);
    ex.negative_chunk = best;
  }
  std::vector<TrainingPair> kept;
  for (uint32_t i = 0; i < rep->pairs.size(); ++i) {
    if (!usable[i]) continue;
    rep->examples.push_back(std::move(examples[i]));
    kept.push_back(std::move(rep->pairs[i]));
  }
  rep->pairs = std::move(kept);
  if (rep->examples.size() < 2) {
    return Status::FailedPrecondition(fmt::format(
        FMT_STRING(
            "the corpus yields {} training pair(s) from the chosen sources; training needs two"),
        rep->examples.size()));
  }
  rep->dim = base->dimension();
  rep->words = base->words();
  rep->e = base->vectors();
  rep->w = base->weights();
  if (options.interpolation < 1.0f || options.soup > 1) {
    rep->e0 = rep->e;
    rep->w0 = rep->w;
  }
  size_t n = rep->words.size();
  rep->me.assign(n * rep->dim, 0);
  rep->ve.assign(n * rep->dim, 0);
  rep->ge.assign(n * rep->dim, 0);
  rep->mw.assign(n, 0);
  rep->vw.assign(n, 0);
  rep->gw.assign(n, 0);
  rep->is_touched.assign(n, 0);
  rep->order.resize(rep->examples.size());
  for (uint32_t i = 0; i < rep->order.size(); ++i) rep->order[i] = i;
  Shuffle(&rep->order, &rep->rng);
  uint64_t per_epoch = (rep->examples.size() + options.batch_size - 1) / options.batch_size;
  rep->progress.epochs = options.epochs * options.soup;
  rep->progress.steps = per_epoch * options.epochs * options.soup;
  rep->progress.epoch = 1;
  return std::unique_ptr<EmbedderTrainer>(new EmbedderTrainer(std::move(rep)));
}

bool EmbedderTrainer::done() const { return rep_->progress.step >= rep_->progress.steps; }
TrainProgress EmbedderTrainer::progress() const { return rep_->progress; }
const std::vector<TrainingPair>& EmbedderTrainer::pairs() const { return rep_->pairs; }

std::vector<size_t> EmbedderTrainer::PairsPerSource() const {
  std::vector<size_t> out(kPairSourceCount, 0);
  for (const auto& p : rep_->pairs) ++out[static_cast<int>(p.source)];
  return out;
}

Result<TrainProgress> EmbedderTrainer::Step() {
  Rep& r = *rep_;
  if (done()) return Status::FailedPrecondition("training is done");
  if (r.installed) return Status::FailedPrecondition("the model is installed already");
  size_t bs = r.options.batch_size;
  if (r.cursor >= r.order.size()) {
    // Next epoch: a new order.
    r.cursor = 0;
    Shuffle(&r.order, &r.rng);
    ++r.progress.epoch;
    r.epoch_loss_sum = 0;
    r.epoch_steps = 0;
  }
  size_t end = std::min(r.order.size(), r.cursor + bs);
  std::vector<uint32_t> idx(r.order.begin() + static_cast<std::ptrdiff_t>(r.cursor),
                            r.order.begin() + static_cast<std::ptrdiff_t>(end));
  r.cursor = end;
  double loss = idx.size() >= 2 ? r.Batch(idx, true) : 0.0;
  ++r.progress.step;
  ++r.member_steps;
  if (r.options.soup > 1 && r.progress.step % (r.progress.steps / r.options.soup) == 0 && !done()) {
    r.EndMember();
  }
  if (done()) r.Finalize();
  r.progress.loss = loss;
  r.epoch_loss_sum += loss;
  ++r.epoch_steps;
  r.progress.epoch_loss = r.epoch_loss_sum / static_cast<double>(r.epoch_steps);
  return r.progress;
}

double EmbedderTrainer::MeanLoss() const {
  Rep& r = *rep_;
  double sum = 0;
  size_t batches = 0;
  size_t bs = r.options.batch_size;
  for (size_t at = 0; at + 1 < r.examples.size(); at += bs) {
    std::vector<uint32_t> idx;
    for (size_t i = at; i < std::min(r.examples.size(), at + bs); ++i)
      idx.push_back(static_cast<uint32_t>(i));
    if (idx.size() < 2) break;
    sum += r.Batch(idx, false);
    ++batches;
  }
  return batches ? sum / static_cast<double>(batches) : 0;
}

namespace {

Status Reembed(Index* index) {
  Index::Rep& r = *index->rep();
  r.dense.reset();
  for (ChunkSlot& c : r.chunks) c.has_vector = false;
  return index->BuildDense(false);
}

}  // namespace

Status EmbedderTrainer::Install(Index* index) {
  Rep& t = *rep_;
  if (t.installed) return Status::FailedPrecondition("the model is installed already");
  Index::Rep& r = *index->rep();
  if (r.options.dense.embedder != EmbedderKind::kStatic || !r.embedder) {
    return Status::FailedPrecondition("the index has no static embedder to replace");
  }
  t.Finalize();
  const float alpha = t.options.interpolation;
  auto model = embed::StaticEmbedder::FromParts(t.words, t.dim, t.e, t.w);
  if (!model.ok()) return model.status();
  std::string sources;
  for (int s = 0; s < kPairSourceCount; ++s) {
    if (!t.options.sources.enabled[s] || !GivenPairsPresent(t.options, s)) continue;
    if (!sources.empty()) sources += ',';
    sources += PairSourceName(static_cast<PairSource>(s));
  }
  std::string weights;
  for (int s = 0; s < kPairSourceCount; ++s) {
    const float w = t.options.source_weights.weight[s];
    if (!t.options.sources.enabled[s] || w == 1.0f) continue;
    weights += fmt::format(FMT_STRING("{}{}={:g}"), weights.empty() ? " weights=" : ",",
                           PairSourceName(static_cast<PairSource>(s)), w);
  }
  (*model)->set_training(fmt::format(
      FMT_STRING("contrastive sources={} epochs={} seed={} pairs={} loss={:.4f} from=v{}{}"),
      sources, t.options.epochs, t.options.seed, t.examples.size(), t.progress.epoch_loss,
      t.base_version,
      (t.options.soup > 1 ? fmt::format(FMT_STRING(" soup={}"), t.options.soup) : std::string()) +
          (alpha < 1.0f ? fmt::format(FMT_STRING(" interpolation={:g}"), alpha) : std::string()) +
          weights));
  (*model)->set_version(r.embedder->version() + 1);
  std::set<std::string> learned(t.base_feedback_matters.begin(), t.base_feedback_matters.end());
  if (t.options.sources.Has(PairSource::kFeedback) && !t.options.feedback_pairs.empty()) {
    learned.insert(t.options.feedback_matters.begin(), t.options.feedback_matters.end());
  }
  (*model)->set_feedback_matters(std::vector<std::string>(learned.begin(), learned.end()));
  r.previous_embedder = std::move(r.embedder);
  r.embedder = std::move(model.value());
  t.installed = true;
  return Reembed(index);
}

Status RestorePreviousEmbedder(Index* index) {
  Index::Rep& r = *index->rep();
  if (!r.previous_embedder) return Status::FailedPrecondition("the index keeps no previous model");
  std::swap(r.embedder, r.previous_embedder);
  return Reembed(index);
}

Status ForgetMatterInEmbedder(Index* index, const std::string& matter, std::string* action) {
  Index::Rep& r = *index->rep();
  std::string done;
  if (!matter.empty() && r.embedder && r.embedder->LearnedFrom(matter)) {
    const uint32_t version = r.embedder->version();
    if (r.previous_embedder && !r.previous_embedder->LearnedFrom(matter)) {
      std::swap(r.embedder, r.previous_embedder);
      r.previous_embedder.reset();
      FB_RETURN_IF_ERROR(Reembed(index));
      done = fmt::format(FMT_STRING("embedder version {} learned from its labels: version {} "
                                    "restored, version {} dropped"),
                         version, r.embedder->version(), version);
    } else {
      FB_RETURN_IF_ERROR(index->BuildDense(/*retrain=*/true));
      r.previous_embedder.reset();  // the model that learned from it
      done = fmt::format(FMT_STRING("embedder version {} learned from its labels: dropped, the "
                                    "corpus model retrained as version {}"),
                         version, r.embedder->version());
    }
  } else if (!matter.empty() && r.previous_embedder && r.previous_embedder->LearnedFrom(matter)) {
    done = fmt::format(FMT_STRING("the previous embedder (version {}) learned from its labels: "
                                  "dropped, it can no longer be restored"),
                       r.previous_embedder->version());
    r.previous_embedder.reset();
  }
  if (action) *action = std::move(done);
  return Status::OK();
}

Status ForgetMattersInEmbedder(Index* index, const std::set<std::string>& forgotten,
                               std::string* action) {
  std::string done;
  for (const std::string& matter : forgotten) {
    std::string one;
    FB_RETURN_IF_ERROR(ForgetMatterInEmbedder(index, matter, &one));
    if (one.empty()) continue;
    if (!done.empty()) done += "; ";
    done += fmt::format(FMT_STRING("matter {}: {}"), matter, one);
  }
  if (action) *action = std::move(done);
  return Status::OK();
}

EmbedderInfo DescribeEmbedder(const Index& index) {
  const Index::Rep& r = *index.rep();
  EmbedderInfo out;
  if (r.embedder) {
    out.present = true;
    out.version = r.embedder->version();
    out.training = r.embedder->training();
    out.dimension = r.embedder->dimension();
    out.vocabulary = r.embedder->vocabulary_size();
    out.feedback_matters = r.embedder->feedback_matters();
  }
  if (r.previous_embedder) {
    out.has_previous = true;
    out.previous_version = r.previous_embedder->version();
    out.previous_training = r.previous_embedder->training();
    out.previous_feedback_matters = r.previous_embedder->feedback_matters();
  }
  return out;
}

}  // namespace foldback
