// The bundled demo corpus (examples/corpus/cuad: 20 CUAD contracts, CC BY
// 4.0) as Documents, for the unit tests that index real contracts: each
// .txt file extracted in listing order, file n's documents named
// "<prefix><n>". One list per file, so that a test can give each contract
// its matter or metadata. Needs FOLDBACK_DEMO_CORPUS (tests/CMakeLists.txt).
#ifndef FOLDBACK_TESTS_SUPPORT_DEMO_CONTRACTS_H_
#define FOLDBACK_TESTS_SUPPORT_DEMO_CONTRACTS_H_

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "foldback/document.h"
#include "host/files.h"
#include "ingest/extract.h"

namespace foldback::testing {

inline std::vector<std::vector<Document>> DemoContracts(const std::string& prefix = "doc") {
  std::vector<std::vector<Document>> out;
  auto files = host::ListFiles(FOLDBACK_DEMO_CORPUS);
  EXPECT_TRUE(files.ok());
  if (!files.ok()) return out;
  for (const auto& f : *files) {
    if (ingest::Extension(f) != ".txt") continue;
    auto docs = ingest::ExtractText(f, prefix + std::to_string(out.size()));
    EXPECT_TRUE(docs.ok()) << f;
    out.push_back(docs.ok() ? std::move(*docs) : std::vector<Document>());
  }
  EXPECT_GE(out.size(), 12u);
  return out;
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_DEMO_CONTRACTS_H_
