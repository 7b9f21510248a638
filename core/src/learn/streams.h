// Documents as training reads them: a document's chunks in order, or the
// chunks of consecutive documents that share a non-empty title (a corpus
// split into passages, as BEIR's are) read as one document.
#ifndef FOLDBACK_LEARN_STREAMS_H_
#define FOLDBACK_LEARN_STREAMS_H_

#include <cstdint>
#include <vector>

#include "index/index_internal.h"

namespace foldback::learn {

struct StreamPosition {
  uint32_t stream = 0xFFFFFFFFu;  // 0xFFFFFFFF: dead chunk
  uint32_t position = 0;          // chunk's place in its stream
};

// Per chunk number.
std::vector<StreamPosition> Streams(const Index::Rep& r);

}  // namespace foldback::learn

#endif  // FOLDBACK_LEARN_STREAMS_H_
