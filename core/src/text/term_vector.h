// Sparse term vectors: (term, weight) pairs sorted by term — how fold-back
// and the reranker compare questions and passages by their words.
#ifndef FOLDBACK_TEXT_TERM_VECTOR_H_
#define FOLDBACK_TEXT_TERM_VECTOR_H_

#include <string>
#include <utility>
#include <vector>

namespace foldback {

// REQUIRES: sorted by term, each term once.
using TermVector = std::vector<std::pair<std::string, double>>;

// The dot product of two term vectors, in O(|a| + |b|).
inline double TermDot(const TermVector& a, const TermVector& b) {
  double s = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    int c = a[i].first.compare(b[j].first);
    if (c == 0) {
      s += a[i++].second * b[j++].second;
    } else if (c < 0) {
      ++i;
    } else {
      ++j;
    }
  }
  return s;
}

}  // namespace foldback

#endif  // FOLDBACK_TEXT_TERM_VECTOR_H_
