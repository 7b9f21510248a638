// Ethical walls as feedback and learned models combine them: a wall is the
// set of matters a user may see; unset means no restriction (a firm-wide
// user). One definition for the record builder (foldback/feedback.h, W1)
// and the hosts' reranker training (foldback/rerank.h).
#ifndef FOLDBACK_FEEDBACK_WALLS_H_
#define FOLDBACK_FEEDBACK_WALLS_H_

#include <optional>
#include <set>
#include <string>

namespace foldback::walls {

using Wall = std::optional<std::set<std::string>>;

// The matters both walls let through (unset: the other one).
inline Wall Intersect(const Wall& a, const Wall& b) {
  if (!a) return b;
  if (!b) return a;
  std::set<std::string> out;
  for (const auto& m : *a) {
    if (b->count(m)) out.insert(m);
  }
  return out;
}

// Whether `matter` is behind no wall for this user ("" is no matter: inside).
inline bool Inside(const Wall& wall, const std::string& matter) {
  return !wall || matter.empty() || wall->count(matter) > 0;
}

}  // namespace foldback::walls

#endif  // FOLDBACK_FEEDBACK_WALLS_H_
