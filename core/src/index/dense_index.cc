// The only translation unit that includes hnswlib: its hnswlib.h defines
// non-inline functions, and its exceptions must stay behind this file.
#include "index/dense_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <queue>

#include "snapshot.pb.h"
#include "store/bytes.h"

namespace foldback::index {

float Dot(const float* a, const float* b, size_t n) {
  // Four independent 128-bit accumulators; the vector extension lowers to
  // SSE on x86-64 and to simd128 in wasm (-msimd128).
  typedef float v4 __attribute__((vector_size(16), aligned(4)));
  v4 acc0 = {0, 0, 0, 0}, acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v4 a0, a1, a2, a3, b0, b1, b2, b3;
    std::memcpy(&a0, a + i, 16);
    std::memcpy(&a1, a + i + 4, 16);
    std::memcpy(&a2, a + i + 8, 16);
    std::memcpy(&a3, a + i + 12, 16);
    std::memcpy(&b0, b + i, 16);
    std::memcpy(&b1, b + i + 4, 16);
    std::memcpy(&b2, b + i + 8, 16);
    std::memcpy(&b3, b + i + 12, 16);
    acc0 += a0 * b0;
    acc1 += a1 * b1;
    acc2 += a2 * b2;
    acc3 += a3 * b3;
  }
  v4 acc = (acc0 + acc1) + (acc2 + acc3);
  float sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

namespace {

constexpr uint32_t kNoNode = std::numeric_limits<uint32_t>::max();
constexpr int kMaxLevel = 64;

// Distance 1 - dot: cosine distance on unit vectors, hnswlib's inner-product
// convention otherwise.
class DotSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit DotSpace(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &Distance; }
  void* get_dist_func_param() override { return &dim_; }

  static float Distance(const void* a, const void* b, const void* param) {
    return 1.0f - Dot(static_cast<const float*>(a), static_cast<const float*>(b),
                      *static_cast<const size_t*>(param));
  }

 private:
  size_t dim_;
};

using Hnsw = hnswlib::HierarchicalNSW<float>;

}  // namespace

struct DenseIndex::Impl {
  Params params;
  DotSpace space;
  std::unique_ptr<Hnsw> hnsw;
  size_t live = 0;

  explicit Impl(const Params& p) : params(p), space(p.dimension) {}

  std::vector<float> Prepare(const float* v) const {
    std::vector<float> out(v, v + params.dimension);
    if (params.metric == Metric::kCosine) {
      float norm = std::sqrt(Dot(out.data(), out.data(), out.size()));
      if (norm > 0) {
        for (float& x : out) x /= norm;
      }
    }
    return out;
  }

  const float* VectorOf(uint32_t node) const {
    return reinterpret_cast<const float*>(hnsw->getDataByInternalId(node));
  }
  uint32_t LabelOf(uint32_t node) const { return static_cast<uint32_t>(hnsw->getExternalLabel(node)); }
  float Distance(const float* q, uint32_t node) const {
    return 1.0f - Dot(q, VectorOf(node), params.dimension);
  }
  bool Usable(uint32_t node, const ChunkMask& mask) const {
    return !hnsw->isMarkedDeleted(node) && mask.Allows(LabelOf(node));
  }

  // hnswlib's search with the allow-list applied where hnswlib >= 0.7
  // applies its filter functor: disallowed nodes are traversed but never
  // enter the result heap.
  std::vector<std::pair<uint32_t, double>> GraphSearch(const float* q, size_t k, size_t ef,
                                                       const ChunkMask& mask) const {
    const Hnsw& h = *hnsw;
    uint32_t cur = h.enterpoint_node_;
    float cur_dist = Distance(q, cur);
    for (int level = h.maxlevel_; level > 0; --level) {
      bool changed = true;
      while (changed) {
        changed = false;
        const hnswlib::linklistsizeint* ll = h.get_linklist(cur, level);
        unsigned short count = h.getListCount(const_cast<hnswlib::linklistsizeint*>(ll));
        const auto* links = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
        for (unsigned short i = 0; i < count; ++i) {
          float d = Distance(q, links[i]);
          if (d < cur_dist) {
            cur_dist = d;
            cur = links[i];
            changed = true;
          }
        }
      }
    }
    ef = std::max(ef, k);
    hnswlib::VisitedList* visited = h.visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* mass = visited->mass;
    hnswlib::vl_type tag = visited->curV;
    using Pair = std::pair<float, uint32_t>;
    std::priority_queue<Pair> top;         // worst result on top
    std::priority_queue<Pair> candidates;  // -distance: best candidate on top
    float lower_bound;
    if (Usable(cur, mask)) {
      top.emplace(cur_dist, cur);
      lower_bound = cur_dist;
    } else {
      lower_bound = std::numeric_limits<float>::max();
    }
    candidates.emplace(-cur_dist, cur);
    mass[cur] = tag;
    while (!candidates.empty()) {
      Pair c = candidates.top();
      if (-c.first > lower_bound && top.size() == ef) break;
      candidates.pop();
      const hnswlib::linklistsizeint* ll = h.get_linklist0(c.second);
      unsigned short count = h.getListCount(const_cast<hnswlib::linklistsizeint*>(ll));
      const auto* links = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      for (unsigned short i = 0; i < count; ++i) {
        uint32_t n = links[i];
        if (mass[n] == tag) continue;
        mass[n] = tag;
        float d = Distance(q, n);
        if (top.size() < ef || d < lower_bound) {
          candidates.emplace(-d, n);
          if (Usable(n, mask)) top.emplace(d, n);
          if (top.size() > ef) top.pop();
          if (!top.empty()) lower_bound = top.top().first;
        }
      }
    }
    h.visited_list_pool_->releaseVisitedList(visited);
    while (top.size() > k) top.pop();
    std::vector<std::pair<uint32_t, double>> out(top.size());
    for (size_t i = top.size(); i-- > 0;) {
      out[i] = {LabelOf(top.top().second), 1.0 - top.top().first};
      top.pop();
    }
    return out;
  }

  std::vector<std::pair<uint32_t, double>> Exact(const float* q, size_t k,
                                                 const ChunkMask& mask) const {
    std::vector<std::pair<uint32_t, double>> all;
    for (uint32_t n = 0; n < hnsw->cur_element_count; ++n) {
      if (!Usable(n, mask)) continue;
      all.emplace_back(LabelOf(n), 1.0 - Distance(q, n));
    }
    return TopK(std::move(all), k);
  }

  // The same for a ranged mask (a few documents' chunks), reaching each
  // allowed chunk's node through hnswlib's label map: the cost is the
  // scope's, not the graph's. Same results as Exact on the mask's bytes.
  std::vector<std::pair<uint32_t, double>> ExactInRanges(const float* q, size_t k,
                                                         const ChunkMask& mask) const {
    std::vector<std::pair<uint32_t, double>> all;
    for (const auto& [begin, end] : mask.ranges) {
      for (uint32_t label = begin; label < end; ++label) {
        auto found = hnsw->label_lookup_.find(label);
        if (found == hnsw->label_lookup_.end() || hnsw->isMarkedDeleted(found->second)) continue;
        all.emplace_back(label, 1.0 - Distance(q, found->second));
      }
    }
    return TopK(std::move(all), k);
  }

  static std::vector<std::pair<uint32_t, double>> TopK(std::vector<std::pair<uint32_t, double>> all,
                                                       size_t k) {
    auto better = [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    };
    if (all.size() > k) {
      std::partial_sort(all.begin(), all.begin() + static_cast<long>(k), all.end(), better);
      all.resize(k);
    } else {
      std::sort(all.begin(), all.end(), better);
    }
    return all;
  }
};

DenseIndex::DenseIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DenseIndex::~DenseIndex() = default;

Result<std::unique_ptr<DenseIndex>> DenseIndex::Create(const Params& params) {
  if (params.dimension == 0 || params.dimension > 65536) {
    return Status::InvalidArgument("dense dimension must be in 1..65536");
  }
  if (params.m < 2 || params.m > 256) return Status::InvalidArgument("HNSW m must be in 2..256");
  try {
    auto impl = std::make_unique<Impl>(params);
    impl->hnsw = std::make_unique<Hnsw>(&impl->space, 1024, params.m, params.ef_construction,
                                        static_cast<size_t>(params.seed));
    return std::unique_ptr<DenseIndex>(new DenseIndex(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("hnswlib: ") + e.what());
  }
}

Status DenseIndex::Add(uint32_t label, const float* v) {
  Hnsw& h = *impl_->hnsw;
  std::vector<float> prepared = impl_->Prepare(v);
  try {
    auto found = h.label_lookup_.find(label);
    bool existed = found != h.label_lookup_.end();
    bool was_deleted = existed && h.isMarkedDeleted(found->second);
    if (!existed && h.cur_element_count >= h.max_elements_) {
      h.resizeIndex(std::max<size_t>(1024, h.max_elements_ * 2));
    }
    h.addPoint(prepared.data(), label);  // updates and undeletes an existing label
    if (!existed || was_deleted) ++impl_->live;
  } catch (const std::bad_alloc&) {
    return Status::OutOfRange("out of memory growing the dense index");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("hnswlib: ") + e.what());
  }
  return Status::OK();
}

void DenseIndex::Remove(uint32_t label) {
  Hnsw& h = *impl_->hnsw;
  auto found = h.label_lookup_.find(label);
  if (found == h.label_lookup_.end() || h.isMarkedDeleted(found->second)) return;
  h.markDeletedInternal(found->second);  // cannot throw: checked above
  --impl_->live;
}

bool DenseIndex::Contains(uint32_t label) const {
  const Hnsw& h = *impl_->hnsw;
  auto found = h.label_lookup_.find(label);
  return found != h.label_lookup_.end() && !h.isMarkedDeleted(found->second);
}

bool DenseIndex::GetVector(uint32_t label, std::vector<float>* out) const {
  const Hnsw& h = *impl_->hnsw;
  auto found = h.label_lookup_.find(label);
  if (found == h.label_lookup_.end() || h.isMarkedDeleted(found->second)) return false;
  const float* v = impl_->VectorOf(static_cast<uint32_t>(found->second));
  out->assign(v, v + impl_->params.dimension);
  return true;
}

std::vector<std::pair<uint32_t, double>> DenseIndex::Search(const float* query, size_t k, size_t ef,
                                                            const ChunkMask& mask) const {
  if (k == 0 || impl_->live == 0) return {};
  std::vector<float> q = impl_->Prepare(query);
  const Hnsw& h = *impl_->hnsw;
  // A restrictive mask makes graph search wander; scanning the few allowed
  // vectors is then both exact and faster.
  auto few = [&](size_t allowed) {
    return allowed <= std::max<size_t>(2000, 4 * ef) || allowed * 10 < h.cur_element_count;
  };
  // A scope of a few documents: its chunks' nodes looked up, not the graph's
  // nodes filtered (the scope's cost, whatever the index's size).
  if (mask.ranged && few(mask.AllowedUpperBound(0))) {
    return impl_->ExactInRanges(q.data(), k, mask);
  }
  // Graph nodes come in no chunk order: a ranged mask is read as bytes.
  ChunkMask bytes;
  if (mask.ranged) bytes = mask.AsBytes();
  const ChunkMask& m = mask.ranged ? bytes : mask;
  if (!m.all) {
    size_t allowed = 0;
    for (uint32_t n = 0; n < h.cur_element_count; ++n) allowed += m.Allows(impl_->LabelOf(n));
    if (few(allowed)) return impl_->Exact(q.data(), k, m);
  }
  return impl_->GraphSearch(q.data(), k, ef, m);
}

bool DenseIndex::MostSimilarOf(const float* query, const std::vector<uint32_t>& labels,
                               const ChunkMask& mask, std::pair<uint32_t, double>* best) const {
  const Hnsw& h = *impl_->hnsw;
  bool found_any = false;
  for (uint32_t label : labels) {
    if (!mask.Allows(label)) continue;
    auto found = h.label_lookup_.find(label);
    if (found == h.label_lookup_.end() || h.isMarkedDeleted(found->second)) continue;
    double s = 1.0 - impl_->Distance(query, static_cast<uint32_t>(found->second));
    if (!found_any || s > best->second) *best = {label, s};
    found_any = true;
  }
  return found_any;
}

std::vector<std::pair<uint32_t, double>> DenseIndex::SearchExact(const float* query, size_t k,
                                                                 const ChunkMask& mask) const {
  if (k == 0 || impl_->live == 0) return {};
  std::vector<float> q = impl_->Prepare(query);
  if (mask.ranged) return impl_->ExactInRanges(q.data(), k, mask);
  return impl_->Exact(q.data(), k, mask);
}

uint32_t DenseIndex::dimension() const { return impl_->params.dimension; }
size_t DenseIndex::size() const { return impl_->live; }

size_t DenseIndex::memory_bytes() const {
  const Hnsw& h = *impl_->hnsw;
  size_t bytes = h.max_elements_ * h.size_data_per_element_;
  for (size_t n = 0; n < h.cur_element_count; ++n) {
    bytes += static_cast<size_t>(h.element_levels_[n]) * h.size_links_per_element_;
  }
  return bytes;
}

void DenseIndex::Serialize(const std::vector<uint32_t>& renumber, pb::Dense* out) const {
  const Hnsw& h = *impl_->hnsw;
  const uint32_t dim = impl_->params.dimension;
  out->set_dimension(dim);
  out->set_metric(static_cast<uint32_t>(impl_->params.metric));
  out->set_m(static_cast<uint32_t>(h.M_));
  out->set_ef_construction(static_cast<uint32_t>(h.ef_construction_));
  out->set_entry_point(h.cur_element_count ? static_cast<uint32_t>(h.enterpoint_node_) : kNoNode);
  out->set_max_level(h.cur_element_count ? static_cast<uint32_t>(h.maxlevel_) : 0);
  std::string* labels = out->mutable_labels();
  std::string* levels = out->mutable_levels();
  std::string* vectors = out->mutable_vectors();
  std::string* links = out->mutable_links();
  std::string* deleted = out->mutable_deleted();
  uint32_t dead = 0;
  for (uint32_t n = 0; n < h.cur_element_count; ++n) {
    uint32_t label = impl_->LabelOf(n);
    bool is_deleted = h.isMarkedDeleted(n);
    uint32_t mapped = label < renumber.size() ? renumber[label] : kNoNode;
    if (mapped == kNoNode) is_deleted = true;
    // Deleted nodes keep their place in the graph (their links route
    // searches) under labels counting down from 2^32 - 2, far above any
    // chunk number.
    store::PutU32(labels, is_deleted ? kNoNode - 1 - dead++ : mapped);
    store::PutU32(levels, static_cast<uint32_t>(h.element_levels_[n]));
    const float* v = impl_->VectorOf(n);
    for (uint32_t i = 0; i < dim; ++i) store::PutF32(vectors, v[i]);
    for (int level = 0; level <= h.element_levels_[n]; ++level) {
      const hnswlib::linklistsizeint* ll = h.get_linklist_at_level(n, level);
      unsigned short count = h.getListCount(const_cast<hnswlib::linklistsizeint*>(ll));
      const auto* l = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      store::PutU32(links, count);
      for (unsigned short i = 0; i < count; ++i) store::PutU32(links, l[i]);
    }
    deleted->push_back(is_deleted ? 1 : 0);
  }
}

Result<std::unique_ptr<DenseIndex>> DenseIndex::Deserialize(const pb::Dense& in, uint32_t chunk_count) {
  Params p;
  p.dimension = in.dimension();
  p.metric = in.metric() == 1 ? Metric::kInnerProduct : Metric::kCosine;
  p.m = in.m();
  p.ef_construction = in.ef_construction();
  if (in.metric() > 1) return Status::Corruption("dense index: unknown metric");
  auto created = Create(p);
  if (!created.ok()) return Status::Corruption("dense index: " + created.status().message());
  std::unique_ptr<DenseIndex> dense = std::move(created.value());
  Impl& impl = *dense->impl_;
  size_t n = store::Count32(in.labels());
  if (n == SIZE_MAX || store::Count32(in.levels()) != n || in.deleted().size() != n ||
      store::Count32(in.vectors()) != n * p.dimension || store::Count32(in.links()) == SIZE_MAX) {
    return Status::Corruption("dense index arrays have inconsistent sizes");
  }
  if (n == 0) return dense;
  if (in.entry_point() >= n || in.max_level() > kMaxLevel) {
    return Status::Corruption("dense index entry point is out of range");
  }
  try {
    Hnsw& h = *impl.hnsw;
    if (n > h.max_elements_) h.resizeIndex(n);
    size_t link_pos = 0;
    size_t link_count = store::Count32(in.links());
    for (uint32_t node = 0; node < n; ++node) {
      uint32_t label = store::GetU32(in.labels(), node);
      uint32_t level = store::GetU32(in.levels(), node);
      bool is_deleted = in.deleted()[node] != 0;
      if (level > in.max_level()) return Status::Corruption("dense index node level out of range");
      if (!is_deleted && label >= chunk_count) return Status::Corruption("dense index label out of range");
      char* base = h.data_level0_memory_ + node * h.size_data_per_element_;
      std::memset(base, 0, h.size_data_per_element_);
      float* v = reinterpret_cast<float*>(base + h.offsetData_);
      for (uint32_t i = 0; i < p.dimension; ++i) v[i] = store::GetF32(in.vectors(), node * p.dimension + i);
      hnswlib::labeltype l = label;
      std::memcpy(base + h.label_offset_, &l, sizeof l);
      h.element_levels_[node] = static_cast<int>(level);
      if (level > 0) {
        h.linkLists_[node] = static_cast<char*>(std::malloc(h.size_links_per_element_ * level));
        if (!h.linkLists_[node]) throw std::bad_alloc();
        std::memset(h.linkLists_[node], 0, h.size_links_per_element_ * level);
      } else {
        h.linkLists_[node] = nullptr;
      }
      // Count this node now so that the destructor frees its lists even if a
      // later node turns out corrupt.
      h.cur_element_count = node + 1;
      for (uint32_t lv = 0; lv <= level; ++lv) {
        if (link_pos >= link_count) return Status::Corruption("dense index links are truncated");
        uint32_t count = store::GetU32(in.links(), link_pos++);
        size_t cap = lv == 0 ? h.maxM0_ : h.maxM_;
        if (count > cap || link_pos + count > link_count) {
          return Status::Corruption("dense index link list is too long");
        }
        hnswlib::linklistsizeint* ll = h.get_linklist_at_level(node, static_cast<int>(lv));
        h.setListCount(ll, static_cast<unsigned short>(count));
        auto* links = reinterpret_cast<hnswlib::tableint*>(ll + 1);
        for (uint32_t i = 0; i < count; ++i) {
          uint32_t target = store::GetU32(in.links(), link_pos++);
          if (target >= n) return Status::Corruption("dense index link points outside the graph");
          links[i] = target;
        }
      }
      h.label_lookup_[l] = node;
      if (is_deleted) {
        h.markDeletedInternal(node);
      } else {
        ++impl.live;
      }
    }
    if (link_pos != link_count) return Status::Corruption("dense index has trailing link data");
    // Upper-level links must point at nodes that exist on that level.
    for (uint32_t node = 0; node < n; ++node) {
      for (int lv = 1; lv <= h.element_levels_[node]; ++lv) {
        hnswlib::linklistsizeint* ll = h.get_linklist(node, lv);
        unsigned short count = h.getListCount(ll);
        auto* links = reinterpret_cast<hnswlib::tableint*>(ll + 1);
        for (unsigned short i = 0; i < count; ++i) {
          if (h.element_levels_[links[i]] < lv) {
            return Status::Corruption("dense index link skips a level");
          }
        }
      }
    }
    h.enterpoint_node_ = in.entry_point();
    h.maxlevel_ = static_cast<int>(in.max_level());
    if (h.element_levels_[h.enterpoint_node_] != h.maxlevel_) {
      return Status::Corruption("dense index entry point is not on the top level");
    }
  } catch (const std::bad_alloc&) {
    return Status::OutOfRange("out of memory loading the dense index");
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("dense index: ") + e.what());
  }
  return dense;
}

}  // namespace foldback::index
