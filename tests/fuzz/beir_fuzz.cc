// Fuzz target: BEIR corpus / queries / qrels readers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "foldback/eval.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)foldback::ParseBeirCorpus(in);
  (void)foldback::ParseBeirQueries(in);
  (void)foldback::ParseQrels(in);
  return 0;
}
