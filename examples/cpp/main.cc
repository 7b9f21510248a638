// foldback from C++: index the .txt files named on the command line, then
// search them.   usage: foldback_example_cpp QUERY FILE...
#include <foldback/index.h>
#include <foldback/version.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s QUERY FILE...\n", argv[0]);
    return 2;
  }
  std::printf("foldback %s (C++ API)\n", foldback::Version());
  auto created = foldback::Index::Create();
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
    return 1;
  }
  foldback::Index& index = **created;
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    foldback::Document doc;
    doc.id = argv[i];
    doc.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    auto added = index.Add(doc);
    if (!added.ok()) std::fprintf(stderr, "%s: %s\n", argv[i], added.status().ToString().c_str());
  }
  foldback::Status dense = index.BuildDense();
  if (!dense.ok()) std::printf("(dense index not built: %s)\n", dense.ToString().c_str());
  foldback::SearchOptions options;
  options.top_k = 3;
  auto hits = index.Search(argv[1], options);
  if (!hits.ok()) {
    std::fprintf(stderr, "%s\n", hits.status().ToString().c_str());
    return 1;
  }
  std::printf("%llu documents indexed; top results for \"%s\":\n",
              static_cast<unsigned long long>(index.Stats().documents), argv[1]);
  for (size_t i = 0; i < hits->size(); ++i) {
    const auto& h = (*hits)[i];
    std::printf("%zu. %s (%.3f) %.80s\n", i + 1, h.doc_id.c_str(), h.score, h.text.c_str());
  }
  return 0;
}
