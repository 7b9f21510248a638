#include "ingest/extract.h"

#include <algorithm>

#include "foldback/eval.h"
#include "host/files.h"

namespace foldback::ingest {

std::string Extension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool IsSupported(const std::string& path) {
  std::string ext = Extension(path);
  return ext == ".txt" || ext == ".md" || ext == ".jsonl";
}

Result<std::vector<Document>> ExtractText(const std::string& path, const std::string& id) {
  auto data = host::ReadFile(path);
  if (!data.ok()) return data.status();
  Document d;
  d.id = id;
  size_t slash = path.find_last_of('/');
  d.title = slash == std::string::npos ? path : path.substr(slash + 1);
  d.text = std::move(data.value());
  d.metadata["source_path"] = {path};
  return std::vector<Document>{std::move(d)};
}

Result<std::vector<Document>> ExtractBeirCorpus(const std::string& path) {
  auto data = host::ReadFile(path);
  if (!data.ok()) return data.status();
  auto docs = ParseBeirCorpus(*data);
  if (!docs.ok()) return docs.status().WithContext(path);
  return docs;
}

Result<std::vector<Document>> ExtractFile(const std::string& path, const std::string& id) {
  std::string ext = Extension(path);
  if (ext == ".txt" || ext == ".md") return ExtractText(path, id);
  if (ext == ".jsonl") return ExtractBeirCorpus(path);
  return Status::NotSupported("no extractor for '" + ext + "' files");
}

}  // namespace foldback::ingest
