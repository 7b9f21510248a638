#include "embed/static_embedder.h"

#include <Eigen/Dense>
#include <Eigen/Sparse>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include "index/dense_index.h"
#include "snapshot.pb.h"
#include "store/bytes.h"

namespace foldback::embed {
namespace {

using Matrix = Eigen::MatrixXf;
using Sparse = Eigen::SparseMatrix<float, Eigen::RowMajor>;

// Standard normal numbers from mt19937_64 (whose output the C++ standard
// fixes) through Box-Muller, so that training gives the same vectors with
// libstdc++ and libc++ (native and wasm).
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  float Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
    double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2 * M_PI * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2 * M_PI * u2));
  }

 private:
  std::mt19937_64 rng_;
  bool has_spare_ = false;
  float spare_ = 0;
};

Matrix Orthonormalize(const Matrix& y) {
  Eigen::HouseholderQR<Matrix> qr(y);
  return qr.householderQ() * Matrix::Identity(y.rows(), y.cols());
}

// Keeps the `limit` most frequent ids with count >= min_count; returns the
// kept ids ordered by (count desc, term asc) for determinism.
std::vector<uint32_t> TopTerms(const std::vector<uint64_t>& counts, const std::vector<std::string>& terms,
                               uint32_t min_count, size_t limit) {
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < counts.size(); ++i) {
    if (counts[i] >= min_count) ids.push_back(i);
  }
  std::sort(ids.begin(), ids.end(), [&](uint32_t a, uint32_t b) {
    return counts[a] != counts[b] ? counts[a] > counts[b] : terms[a] < terms[b];
  });
  if (ids.size() > limit) ids.resize(limit);
  return ids;
}

}  // namespace

Result<std::unique_ptr<StaticEmbedder>> StaticEmbedder::Train(const std::vector<std::string_view>& texts,
                                                             const text::Analyzer& analyzer,
                                                             const StaticEmbedderParams& params) {
  if (params.dimension == 0 || params.dimension > 1024) {
    return Status::InvalidArgument("static embedder dimension must be in 1..1024");
  }
  // Bound the work: at most ~4M tokens, taken from evenly spaced texts.
  constexpr size_t kMaxTokens = 4'000'000;
  size_t total_bytes = 0;
  for (auto t : texts) total_bytes += t.size();
  size_t stride = 1 + total_bytes / (kMaxTokens * 7);  // ~7 bytes per token in English prose

  std::unordered_map<std::string, uint32_t> ids;
  std::vector<std::string> terms;
  std::vector<uint64_t> counts;
  std::vector<uint32_t> df;
  std::vector<std::vector<uint32_t>> docs;
  size_t n_texts = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<uint32_t> seq;
    analyzer.ForEachTerm(texts[i], [&](std::string_view t) {
      auto [it, inserted] = ids.try_emplace(std::string(t), static_cast<uint32_t>(terms.size()));
      if (inserted) {
        terms.emplace_back(t);
        counts.push_back(0);
        df.push_back(0);
      }
      seq.push_back(it->second);
    });
    ++n_texts;
    std::vector<uint32_t> uniq = seq;
    std::sort(uniq.begin(), uniq.end());
    uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
    for (uint32_t u : uniq) ++df[u];
    for (uint32_t u : seq) ++counts[u];
    if (i % stride == 0) docs.push_back(std::move(seq));
  }
  std::vector<uint32_t> vocab = TopTerms(counts, terms, params.min_count, params.max_vocabulary);
  std::vector<uint32_t> contexts = TopTerms(counts, terms, params.min_count, params.max_contexts);
  // Small corpora (a lawyer's first few mails) get fewer dimensions rather
  // than no dense index: at most half the vocabulary, at least 16.
  const uint32_t k = std::min<uint32_t>(
      params.dimension,
      static_cast<uint32_t>(std::min(vocab.size() / 2, contexts.size() > 10 ? contexts.size() - 10 : 0)) & ~7u);
  if (k < 16) {
    return Status::FailedPrecondition(
        fmt::format(FMT_STRING("corpus too small to train the static embedder ({} words occur at "
                               "least {} times; need 32)"),
                    vocab.size(), params.min_count));
  }
  constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> row_of(terms.size(), kNone), col_of(terms.size(), kNone);
  for (uint32_t r = 0; r < vocab.size(); ++r) row_of[vocab[r]] = r;
  for (uint32_t c = 0; c < contexts.size(); ++c) col_of[contexts[c]] = c;

  // Co-occurrence counts in a symmetric window, weighted 1/distance.
  std::unordered_map<uint64_t, float> cooc;
  cooc.reserve(1 << 20);
  for (const auto& seq : docs) {
    for (size_t i = 0; i < seq.size(); ++i) {
      uint32_t r = row_of[seq[i]];
      if (r == kNone) continue;
      size_t lo = i >= params.window ? i - params.window : 0;
      size_t hi = std::min(seq.size(), i + params.window + 1);
      for (size_t j = lo; j < hi; ++j) {
        if (j == i) continue;
        uint32_t c = col_of[seq[j]];
        if (c == kNone) continue;
        float w = 1.0f / static_cast<float>(i > j ? i - j : j - i);
        cooc[static_cast<uint64_t>(r) << 32 | c] += w;
      }
    }
  }
  // PPMI with context-distribution smoothing (alpha = 0.75).
  std::vector<double> row_sum(vocab.size(), 0), col_sum(contexts.size(), 0);
  double total = 0;
  for (const auto& [key, v] : cooc) {
    row_sum[key >> 32] += v;
    col_sum[key & 0xFFFFFFFFu] += v;
    total += v;
  }
  double col_total = 0;
  for (double& c : col_sum) {
    c = std::pow(c, 0.75);
    col_total += c;
  }
  std::vector<std::pair<uint64_t, float>> entries(cooc.begin(), cooc.end());
  cooc = {};
  std::sort(entries.begin(), entries.end());  // deterministic order
  std::vector<Eigen::Triplet<float>> triplets;
  triplets.reserve(entries.size());
  for (const auto& [key, v] : entries) {
    uint32_t r = static_cast<uint32_t>(key >> 32), c = static_cast<uint32_t>(key & 0xFFFFFFFFu);
    double pmi = std::log((v / total) / ((row_sum[r] / total) * (col_sum[c] / col_total)));
    if (pmi > 0) triplets.emplace_back(r, c, static_cast<float>(pmi));
  }
  Sparse a(static_cast<Eigen::Index>(vocab.size()), static_cast<Eigen::Index>(contexts.size()));
  a.setFromTriplets(triplets.begin(), triplets.end());

  // Randomized truncated SVD (Halko, Martinsson & Tropp 2011): range finder
  // with two power iterations, then the eigen-decomposition of B B^T.
  const Eigen::Index l = std::min<Eigen::Index>(k + 10, static_cast<Eigen::Index>(contexts.size()));
  Gaussian g(params.seed);
  Matrix omega(a.cols(), l);
  for (Eigen::Index j = 0; j < l; ++j) {
    for (Eigen::Index i = 0; i < a.cols(); ++i) omega(i, j) = g.Next();
  }
  Matrix q = Orthonormalize(a * omega);
  for (int it = 0; it < 2; ++it) {
    Matrix z = Orthonormalize(a.transpose() * q);
    q = Orthonormalize(a * z);
  }
  Matrix b = q.transpose() * a;  // l x contexts
  Eigen::SelfAdjointEigenSolver<Matrix> eig(b * b.transpose());
  // Eigenvalues come in increasing order; take the top k.
  Matrix u = eig.eigenvectors().rightCols(k).rowwise().reverse();
  Eigen::VectorXf s2 = eig.eigenvalues().tail(k).reverse();
  Matrix words = q * u;  // vocab x k
  for (uint32_t j = 0; j < k; ++j) {
    // Singular values to the power 1/2 (Levy, Goldberg & Dagan 2015).
    float w = std::pow(std::max(s2(j), 0.0f), 0.25f);
    words.col(j) *= w;
  }

  auto out = std::unique_ptr<StaticEmbedder>(new StaticEmbedder());
  out->dimension_ = k;
  out->words_.reserve(vocab.size());
  out->vectors_.resize(vocab.size() * k);
  out->idf_.resize(vocab.size());
  for (uint32_t r = 0; r < vocab.size(); ++r) {
    out->words_.push_back(terms[vocab[r]]);
    out->word_ids_.emplace(terms[vocab[r]], r);
    float norm = words.row(r).norm();
    for (uint32_t j = 0; j < k; ++j) out->vectors_[r * k + j] = norm > 0 ? words(r, j) / norm : 0;
    out->idf_[r] = static_cast<float>(std::log((n_texts + 1.0) / (df[vocab[r]] + 0.5)));
  }
  return out;
}

std::vector<float> StaticEmbedder::Embed(std::string_view text, const text::Analyzer& analyzer) const {
  std::vector<float> v(dimension_, 0.0f);
  analyzer.ForEachTerm(text, [&](std::string_view t) {
    auto it = word_ids_.find(std::string(t));
    if (it == word_ids_.end()) return;
    const float* w = &vectors_[static_cast<size_t>(it->second) * dimension_];
    float idf = idf_[it->second];
    for (uint32_t j = 0; j < dimension_; ++j) v[j] += idf * w[j];
  });
  float norm = std::sqrt(index::Dot(v.data(), v.data(), v.size()));
  if (norm > 0) {
    for (float& x : v) x /= norm;
  }
  return v;
}

int32_t StaticEmbedder::WordId(std::string_view term) const {
  auto it = word_ids_.find(std::string(term));
  return it == word_ids_.end() ? -1 : static_cast<int32_t>(it->second);
}

std::vector<std::pair<uint32_t, uint32_t>> StaticEmbedder::Bag(std::string_view text,
                                                               const text::Analyzer& analyzer) const {
  std::vector<uint32_t> ids;
  analyzer.ForEachTerm(text, [&](std::string_view t) {
    auto it = word_ids_.find(std::string(t));
    if (it != word_ids_.end()) ids.push_back(it->second);
  });
  std::sort(ids.begin(), ids.end());
  std::vector<std::pair<uint32_t, uint32_t>> bag;
  for (uint32_t id : ids) {
    if (!bag.empty() && bag.back().first == id) {
      ++bag.back().second;
    } else {
      bag.emplace_back(id, 1);
    }
  }
  return bag;
}

Result<std::unique_ptr<StaticEmbedder>> StaticEmbedder::FromParts(std::vector<std::string> words,
                                                                 uint32_t dimension,
                                                                 std::vector<float> vectors,
                                                                 std::vector<float> weights) {
  if (dimension == 0 || dimension > 1024 || vectors.size() != words.size() * dimension ||
      weights.size() != words.size()) {
    return Status::InvalidArgument("embedder parts have inconsistent sizes");
  }
  for (float f : vectors) {
    if (!std::isfinite(f)) return Status::InvalidArgument("embedder vectors hold NaN or infinity");
  }
  for (float f : weights) {
    if (!std::isfinite(f)) return Status::InvalidArgument("embedder weights hold NaN or infinity");
  }
  auto out = std::unique_ptr<StaticEmbedder>(new StaticEmbedder());
  out->dimension_ = dimension;
  for (uint32_t i = 0; i < words.size(); ++i) {
    if (!out->word_ids_.emplace(words[i], i).second) {
      return Status::InvalidArgument("embedder vocabulary repeats '" + words[i] + "'");
    }
  }
  out->words_ = std::move(words);
  out->vectors_ = std::move(vectors);
  out->idf_ = std::move(weights);
  return out;
}

void StaticEmbedder::Serialize(pb::StaticEmbedder* out) const {
  out->set_trained(true);
  out->set_version(version_);
  out->set_training(training_);
  for (const auto& m : feedback_matters_) out->add_feedback_matters(m);
  out->set_dimension(dimension_);
  for (const auto& w : words_) out->add_vocabulary(w);
  std::string* vec = out->mutable_vectors();
  vec->reserve(vectors_.size() * 4);
  for (float f : vectors_) store::PutF32(vec, f);
  std::string* idf = out->mutable_idf();
  for (float f : idf_) store::PutF32(idf, f);
}

Result<std::unique_ptr<StaticEmbedder>> StaticEmbedder::Deserialize(const pb::StaticEmbedder& in) {
  uint32_t k = in.dimension();
  size_t n = static_cast<size_t>(in.vocabulary_size());
  if (k == 0 || k > 1024 || store::Count32(in.vectors()) != n * k || store::Count32(in.idf()) != n) {
    return Status::Corruption("static embedder arrays have inconsistent sizes");
  }
  auto out = std::unique_ptr<StaticEmbedder>(new StaticEmbedder());
  out->dimension_ = k;
  out->words_.assign(in.vocabulary().begin(), in.vocabulary().end());
  for (uint32_t i = 0; i < n; ++i) {
    if (!out->word_ids_.emplace(out->words_[i], i).second) {
      return Status::Corruption("static embedder vocabulary repeats a word");
    }
  }
  out->vectors_.resize(n * k);
  for (size_t i = 0; i < n * k; ++i) out->vectors_[i] = store::GetF32(in.vectors(), i);
  out->idf_.resize(n);
  for (size_t i = 0; i < n; ++i) out->idf_[i] = store::GetF32(in.idf(), i);
  // Snapshots written before models had versions hold version 0: the
  // corpus-trained model, version 1.
  out->version_ = in.version() ? in.version() : 1;
  out->training_ = in.training().empty() ? "ppmi-svd" : in.training();
  out->feedback_matters_.assign(in.feedback_matters().begin(), in.feedback_matters().end());
  std::sort(out->feedback_matters_.begin(), out->feedback_matters_.end());
  return out;
}

}  // namespace foldback::embed
