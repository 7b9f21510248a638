#include "host/ingest_path.h"

#include <map>

#include "host/files.h"

namespace foldback::host {
namespace {

std::string RelativePath(const std::string& root, const std::string& file) {
  std::string rel = file;
  if (root != file && file.compare(0, root.size(), root) == 0) {
    rel = file.substr(root.size());
    while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  } else {
    size_t slash = file.find_last_of('/');
    if (slash != std::string::npos) rel = file.substr(slash + 1);
  }
  return rel;
}

}  // namespace

std::string DocumentIdWithExtension(const std::string& root, const std::string& file) {
  return RelativePath(root, file);
}

std::string DocumentIdFor(const std::string& root, const std::string& file) {
  std::string rel = RelativePath(root, file);
  std::string ext = ingest::Extension(rel);
  if (!ext.empty()) rel.resize(rel.size() - ext.size());
  return rel;
}

Status IngestPath(Index* index, const std::string& path, const IngestPathOptions& options,
                  const IngestFileFn& on_file, IngestPathReport* report) {
  IngestPathReport local;
  IngestPathReport& rep = report ? *report : local;
  rep = IngestPathReport();
  if (!index) return Status::InvalidArgument("IngestPath: index is null");
  if (!PathExists(path)) return Status::NotFound("no such file or directory: " + path);
  auto files = ListFiles(path);
  if (!files.ok()) return files.status();

  struct Item {
    std::string file, id;
    uint64_t size = 0;
  };
  std::vector<Item> items;
  uint64_t total_bytes = 0;
  std::map<std::string, size_t> id_count;
  for (const auto& f : *files) {
    Item it{f, DocumentIdFor(path, f), FileSize(f)};
    total_bytes += it.size;
    ++id_count[it.id];
    items.push_back(std::move(it));
  }
  // Two files that would share an id ("a.pdf", "a.docx") keep their
  // extensions, so that neither replaces the other.
  for (Item& it : items) {
    if (id_count[it.id] > 1) it.id = DocumentIdWithExtension(path, it.file);
  }
  rep.files = items.size();

  uint64_t bytes_done = 0, files_done = 0;
  for (const Item& it : items) {
    IngestFileOutcome out;
    out.path = it.file;
    out.bytes = it.size;
    out.format = ingest::DetectFormat(it.file);
    if (out.format.empty()) {
      out.kind = IngestFileOutcome::Kind::kUnsupported;
      auto why = ingest::Extract(it.file, it.id, options.extract);  // NotSupported, with the reason
      out.status = why.ok() ? Status::NotSupported("no extractor for " + it.file) : why.status();
      ++rep.unsupported;
    } else {
      auto extracted = ingest::Extract(it.file, it.id, options.extract);
      if (!extracted.ok()) {
        out.kind = IngestFileOutcome::Kind::kFailed;
        out.status = extracted.status();
      } else {
        out.warnings = std::move(extracted->warnings);
        rep.replaced += extracted->replaced;
        for (Document& d : extracted->documents) {
          if (!options.matter.empty()) d.matter = options.matter;
          auto added = index->Add(d);
          if (!added.ok()) {
            if (out.status.ok()) out.status = added.status().WithContext(d.id);
            out.kind = IngestFileOutcome::Kind::kFailed;
            continue;
          }
          if (out.doc_id.empty()) out.doc_id = d.id;
          ++out.documents;
          out.chunks += added->chunks;
          rep.replaced += added->invalid_utf8;
        }
      }
      rep.bytes += it.size;
      rep.documents += out.documents;
      rep.chunks += out.chunks;
      rep.warnings += out.warnings.size();
      if (out.kind == IngestFileOutcome::Kind::kFailed) {
        ++rep.failed;
      } else {
        ++rep.indexed;
      }
    }
    bytes_done += it.size;
    out.files_done = ++files_done;
    out.files_total = items.size();
    out.bytes_done = bytes_done;
    out.bytes_total = total_bytes;
    if (on_file) on_file(out);
  }
  return Status::OK();
}

}  // namespace foldback::host
