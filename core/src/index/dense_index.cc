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

void DenseIndex::SerializeHeader(pb::Dense* out) const {
  const Hnsw& h = *impl_->hnsw;
  out->set_dimension(impl_->params.dimension);
  out->set_metric(static_cast<uint32_t>(impl_->params.metric));
  out->set_m(static_cast<uint32_t>(h.M_));
  out->set_ef_construction(static_cast<uint32_t>(h.ef_construction_));
  out->set_entry_point(h.cur_element_count ? static_cast<uint32_t>(h.enterpoint_node_) : kNoNode);
  out->set_max_level(h.cur_element_count ? static_cast<uint32_t>(h.maxlevel_) : 0);
  out->set_node_count(static_cast<uint32_t>(h.cur_element_count));
}

bool DenseIndex::SerializePiece(const std::vector<uint32_t>& renumber, size_t piece_bytes,
                                PieceCursor* cursor, pb::DensePiece* out) const {
  const Hnsw& h = *impl_->hnsw;
  const uint32_t dim = impl_->params.dimension;
  const uint32_t count = static_cast<uint32_t>(h.cur_element_count);
  if (cursor->next >= count) return false;
  out->Clear();
  out->set_first_node(cursor->next);
  std::string* labels = out->mutable_labels();
  std::string* levels = out->mutable_levels();
  std::string* vectors = out->mutable_vectors();
  std::string* links = out->mutable_links();
  std::string* deleted = out->mutable_deleted();
  size_t used = 0;
  uint32_t n = cursor->next;
  for (; n < count && (n == cursor->next || used < piece_bytes); ++n) {
    uint32_t label = impl_->LabelOf(n);
    bool is_deleted = h.isMarkedDeleted(n);
    uint32_t mapped = label < renumber.size() ? renumber[label] : kNoNode;
    if (mapped == kNoNode) is_deleted = true;
    // Deleted nodes keep their place in the graph (their links route
    // searches) under labels counting down from 2^32 - 2, far above any
    // chunk number.
    store::PutU32(labels, is_deleted ? kNoNode - 1 - cursor->dead++ : mapped);
    store::PutU32(levels, static_cast<uint32_t>(h.element_levels_[n]));
    const float* v = impl_->VectorOf(n);
    for (uint32_t i = 0; i < dim; ++i) store::PutF32(vectors, v[i]);
    const size_t links_before = links->size();
    for (int level = 0; level <= h.element_levels_[n]; ++level) {
      const hnswlib::linklistsizeint* ll = h.get_linklist_at_level(n, level);
      unsigned short c = h.getListCount(const_cast<hnswlib::linklistsizeint*>(ll));
      const auto* l = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      store::PutU32(links, c);
      for (unsigned short i = 0; i < c; ++i) store::PutU32(links, l[i]);
    }
    deleted->push_back(is_deleted ? 1 : 0);
    used += 9 + size_t{dim} * 4 + (links->size() - links_before);
  }
  out->set_node_count(n - cursor->next);
  cursor->next = n;
  return true;
}

namespace {

// One range of nodes as a snapshot holds them: Dense's arrays (formats 1-3,
// the whole graph) or a DensePiece's (format 4).
struct NodeArrays {
  uint32_t first = 0;
  uint32_t count = 0;
  std::string_view labels, levels, vectors, links, deleted;
};

// Loads nodes a.first .. a.first + a.count - 1 into the graph `h`, sized
// for `total` nodes. Links are checked against `total`; that upper-level
// links land on nodes of that level is checked once every node is in.
Status LoadNodes(const NodeArrays& a, uint32_t total, uint32_t max_level, uint32_t chunk_count,
                 const DenseIndex::Params& p, Hnsw& h, size_t* live) {
  const size_t n = a.count;
  if (store::Count32(a.labels) != n || store::Count32(a.levels) != n || a.deleted.size() != n ||
      store::Count32(a.vectors) != n * p.dimension || store::Count32(a.links) == SIZE_MAX) {
    return Status::Corruption("dense index arrays have inconsistent sizes");
  }
  size_t link_pos = 0;
  const size_t link_count = store::Count32(a.links);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t node = a.first + i;
    uint32_t label = store::GetU32(a.labels, i);
    uint32_t level = store::GetU32(a.levels, i);
    bool is_deleted = a.deleted[i] != 0;
    if (level > max_level) return Status::Corruption("dense index node level out of range");
    if (!is_deleted && label >= chunk_count)
      return Status::Corruption("dense index label out of range");
    char* base = h.data_level0_memory_ + node * h.size_data_per_element_;
    std::memset(base, 0, h.size_data_per_element_);
    float* v = reinterpret_cast<float*>(base + h.offsetData_);
    for (uint32_t d = 0; d < p.dimension; ++d)
      v[d] = store::GetF32(a.vectors, size_t{i} * p.dimension + d);
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
      uint32_t count = store::GetU32(a.links, link_pos++);
      size_t cap = lv == 0 ? h.maxM0_ : h.maxM_;
      if (count > cap || link_pos + count > link_count) {
        return Status::Corruption("dense index link list is too long");
      }
      hnswlib::linklistsizeint* ll = h.get_linklist_at_level(node, static_cast<int>(lv));
      h.setListCount(ll, static_cast<unsigned short>(count));
      auto* links = reinterpret_cast<hnswlib::tableint*>(ll + 1);
      for (uint32_t k = 0; k < count; ++k) {
        uint32_t target = store::GetU32(a.links, link_pos++);
        if (target >= total) return Status::Corruption("dense index link points outside the graph");
        links[k] = target;
      }
    }
    h.label_lookup_[l] = node;
    if (is_deleted) {
      h.markDeletedInternal(node);
    } else {
      ++*live;
    }
  }
  if (link_pos != link_count) return Status::Corruption("dense index has trailing link data");
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<DenseIndex>> DenseIndex::Deserialize(
    const pb::Dense& in, const std::vector<std::string_view>& pieces, bool pieced,
    uint32_t chunk_count) {
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
  const bool arrays = !in.labels().empty() || !in.levels().empty() || !in.vectors().empty() ||
                      !in.links().empty() || !in.deleted().empty();
  size_t n;
  if (pieced) {
    if (arrays) return Status::Corruption("dense index holds format 3's arrays in format 4");
    n = in.node_count();
  } else {
    if (!pieces.empty() || in.node_count() != 0) {
      return Status::Corruption("dense index of format 3 or earlier holds format 4's pieces");
    }
    n = store::Count32(in.labels());
    if (n == SIZE_MAX) return Status::Corruption("dense index arrays have inconsistent sizes");
  }
  if (n == 0) {
    if (!pieces.empty())
      return Status::Corruption("dense index pieces cover the wrong number of nodes");
    return dense;
  }
  if (in.entry_point() >= n || in.max_level() > kMaxLevel) {
    return Status::Corruption("dense index entry point is out of range");
  }
  try {
    Hnsw& h = *impl.hnsw;
    if (n > h.max_elements_) h.resizeIndex(n);
    const uint32_t total = static_cast<uint32_t>(n);
    if (!pieced) {
      NodeArrays a{0, total, in.labels(), in.levels(), in.vectors(), in.links(), in.deleted()};
      FB_RETURN_IF_ERROR(LoadNodes(a, total, in.max_level(), chunk_count, p, h, &impl.live));
    } else {
      // One piece parsed at a time: the loader's peak holds a piece's copy,
      // not the graph's.
      pb::DensePiece piece;
      uint32_t next = 0;
      for (std::string_view bytes : pieces) {
        if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
            !piece.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          return Status::Corruption("dense index piece does not parse");
        }
        if (piece.first_node() != next || piece.node_count() == 0 ||
            piece.node_count() > total - next) {
          return Status::Corruption("dense index pieces do not follow each other");
        }
        NodeArrays a{next,           piece.node_count(), piece.labels(),
                     piece.levels(), piece.vectors(),    piece.links(),
                     piece.deleted()};
        FB_RETURN_IF_ERROR(LoadNodes(a, total, in.max_level(), chunk_count, p, h, &impl.live));
        next += piece.node_count();
      }
      if (next != total)
        return Status::Corruption("dense index pieces cover the wrong number of nodes");
    }
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
