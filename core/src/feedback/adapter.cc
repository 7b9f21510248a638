#include "feedback/adapter.h"

#include <Eigen/Dense>

#include <cmath>
#include <limits>
#include <random>

namespace foldback::feedback {
namespace {

using Rng = std::mt19937_64;

struct Pair {
  size_t example;
  size_t positive;
};

// Fisher-Yates over mt19937_64 (whose output the standard fixes), so that a
// seed gives the same adapter with every standard library.
template <typename T>
void Shuffle(std::vector<T>* v, Rng* rng) {
  for (size_t i = v->size(); i > 1; --i) {
    size_t j = static_cast<size_t>((*rng)() % i);
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

class Trainer {
 public:
  Trainer(const std::vector<AdapterExample>& ex, uint32_t d, const AdapterParams& p)
      : ex_(ex), d_(d), p_(p) {
    for (size_t e = 0; e < ex.size(); ++e) {
      for (size_t i = 0; i < ex[e].positives.size(); ++i) pairs_.push_back({e, i});
    }
  }

  const std::vector<Pair>& pairs() const { return pairs_; }

  // The positive first, then the trace's negatives, then up to
  // in_batch_negatives positives of other groups.
  void Candidates(const Pair& pr, Rng* rng, std::vector<const float*>* out) const {
    out->clear();
    const AdapterExample& e = ex_[pr.example];
    out->push_back(e.positives[pr.positive].data());
    for (const auto& n : e.negatives) out->push_back(n.data());
    if (pairs_.size() < 2) return;
    uint32_t want = p_.in_batch_negatives;
    for (uint32_t tries = 0; want > 0 && tries < 4 * p_.in_batch_negatives; ++tries) {
      const Pair& other = pairs_[static_cast<size_t>((*rng)() % pairs_.size())];
      if (ex_[other.example].group == e.group) continue;
      out->push_back(ex_[other.example].positives[other.positive].data());
      --want;
    }
  }

  // Loss of one pair; adds d loss / d W to *grad when given.
  double LossGrad(const Eigen::MatrixXf& w, const Pair& pr, const std::vector<const float*>& cands,
                  Eigen::MatrixXf* grad) const {
    Eigen::Map<const Eigen::VectorXf> q(ex_[pr.example].query.data(), d_);
    Eigen::VectorXf y = w * q;
    const float inv_t = static_cast<float>(1.0 / p_.temperature);
    std::vector<float> s(cands.size());
    float mx = -std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < cands.size(); ++i) {
      s[i] = Eigen::Map<const Eigen::VectorXf>(cands[i], d_).dot(y) * inv_t;
      mx = std::max(mx, s[i]);
    }
    double z = 0;
    for (float v : s) z += std::exp(static_cast<double>(v - mx));
    double loss = std::log(z) + mx - s[0];
    if (grad) {
      Eigen::VectorXf g = Eigen::VectorXf::Zero(d_);
      for (size_t i = 0; i < cands.size(); ++i) {
        double pi = std::exp(static_cast<double>(s[i] - mx)) / z;
        float coef = static_cast<float>((pi - (i == 0 ? 1.0 : 0.0)) * inv_t);
        g += coef * Eigen::Map<const Eigen::VectorXf>(cands[i], d_);
      }
      grad->noalias() += g * q.transpose();
    }
    return loss;
  }

 private:
  const std::vector<AdapterExample>& ex_;
  uint32_t d_;
  AdapterParams p_;
  std::vector<Pair> pairs_;
};

}  // namespace

Result<AdapterModel> TrainAdapter(const std::vector<AdapterExample>& examples, uint32_t d,
                                  const AdapterParams& p) {
  if (d == 0) return Status::InvalidArgument("adapter dimension is 0");
  if (!(p.temperature > 0) || !(p.learning_rate > 0) || p.l2 < 0 || p.batch == 0) {
    return Status::InvalidArgument("adapter parameters out of range");
  }
  for (const auto& e : examples) {
    bool ok = e.query.size() == d;
    for (const auto& v : e.positives) ok &= v.size() == d;
    for (const auto& v : e.negatives) ok &= v.size() == d;
    if (!ok) return Status::InvalidArgument("adapter example vectors disagree on the dimension");
  }
  Trainer t(examples, d, p);
  const std::vector<Pair>& all = t.pairs();
  if (all.empty())
    return Status::FailedPrecondition("no (question, relevant passage) pair to learn from");

  // A fixed candidate set per pair to measure the loss on, before and after.
  Rng eval_rng(p.seed ^ 0x9e3779b97f4a7c15ull);
  std::vector<std::vector<const float*>> eval_cands(all.size());
  for (size_t i = 0; i < all.size(); ++i) t.Candidates(all[i], &eval_rng, &eval_cands[i]);
  auto eval = [&](const Eigen::MatrixXf& w) {
    double sum = 0;
    for (size_t i = 0; i < all.size(); ++i) sum += t.LossGrad(w, all[i], eval_cands[i], nullptr);
    return sum / static_cast<double>(all.size());
  };

  const Eigen::MatrixXf eye = Eigen::MatrixXf::Identity(d, d);
  Eigen::MatrixXf w = eye;
  Eigen::MatrixXf m = Eigen::MatrixXf::Zero(d, d), v = Eigen::MatrixXf::Zero(d, d);
  Eigen::MatrixXf grad(d, d);
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, lr = static_cast<float>(p.learning_rate);
  double b1t = 1, b2t = 1;
  double best = eval(w);
  AdapterModel out;
  out.dimension = d;
  out.pairs = all.size();
  out.loss_before = best;
  Eigen::MatrixXf best_w = w;

  Rng rng(p.seed);
  std::vector<Pair> order = all;
  std::vector<const float*> cands;
  for (uint32_t epoch = 0; epoch < p.epochs; ++epoch) {
    Shuffle(&order, &rng);
    for (size_t start = 0; start < order.size(); start += p.batch) {
      size_t end = std::min(order.size(), start + p.batch);
      grad.setZero();
      for (size_t i = start; i < end; ++i) {
        t.Candidates(order[i], &rng, &cands);
        t.LossGrad(w, order[i], cands, &grad);
      }
      grad /= static_cast<float>(end - start);
      grad += static_cast<float>(2 * p.l2) * (w - eye);
      b1t *= b1;
      b2t *= b2;
      m = b1 * m + (1 - b1) * grad;
      v = b2 * v + (1 - b2) * grad.cwiseProduct(grad);
      const float c1 = static_cast<float>(1 / (1 - b1t)), c2 = static_cast<float>(1 / (1 - b2t));
      w.array() -= lr * (m.array() * c1) / ((v.array() * c2).sqrt() + eps);
    }
    double loss = eval(w);
    if (std::isfinite(loss) && loss < best) {
      best = loss;
      best_w = w;
    }
  }
  out.loss_after = best;
  out.weights.resize(static_cast<size_t>(d) * d);
  // Row-major storage whatever Eigen's default layout.
  for (uint32_t r = 0; r < d; ++r) {
    for (uint32_t c = 0; c < d; ++c) out.weights[static_cast<size_t>(r) * d + c] = best_w(r, c);
  }
  return out;
}

std::vector<float> ApplyAdapter(const AdapterModel& model, const std::vector<float>& q) {
  const uint32_t d = model.dimension;
  std::vector<float> out(d, 0.0f);
  double norm = 0;
  for (uint32_t r = 0; r < d; ++r) {
    const float* row = model.weights.data() + static_cast<size_t>(r) * d;
    float s = 0;
    for (uint32_t c = 0; c < d; ++c) s += row[c] * q[c];
    out[r] = s;
    norm += static_cast<double>(s) * s;
  }
  if (norm > 0) {
    float inv = static_cast<float>(1 / std::sqrt(norm));
    for (float& x : out) x *= inv;
  }
  return out;
}

}  // namespace foldback::feedback
