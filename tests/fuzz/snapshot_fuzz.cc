// Fuzz target: loading snapshot bytes. Anything may come back, except a
// crash; a loaded index must answer a search.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "foldback/index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto loaded = foldback::Index::FromSnapshot(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!loaded.ok()) return 0;
  foldback::SearchOptions o;
  o.top_k = 5;
  for (auto mode : {foldback::SearchMode::kBm25, foldback::SearchMode::kHybrid}) {
    o.mode = mode;
    (void)(*loaded)->Search("termination for convenience", o);
  }
  (void)(*loaded)->Snapshot();
  return 0;
}
