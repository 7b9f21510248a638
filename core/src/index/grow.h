// GrowByAQuarter: vector growth for the index's largest arrays.
#ifndef FOLDBACK_INDEX_GROW_H_
#define FOLDBACK_INDEX_GROW_H_

#include <vector>

namespace foldback::index {

// Makes room for one more element, growing the capacity by a quarter where
// std::vector would double it. Postings and the chunk table are most of an
// index's heap and grow as it is built: doubling left them a third empty on
// average (12 bytes held per 8-byte posting at 84k passages; see "Memory
// per passage" in docs/benchmarks.md), a quarter leaves about a tenth, and
// growing the chunk table needs 2.25 times its size for a moment instead
// of 3. Each element is moved about four times instead of once: a copy of
// a few bytes against the analysis of the words it came from.
template <typename T>
void GrowByAQuarter(std::vector<T>* v) {
  if (v->size() == v->capacity()) v->reserve(v->size() + v->size() / 4 + 3);
}

}  // namespace foldback::index

#endif  // FOLDBACK_INDEX_GROW_H_
