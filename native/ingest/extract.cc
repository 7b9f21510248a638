#include "ingest/extract.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>

#include "foldback/eval.h"
#include "host/files.h"
#include "ingest/charset.h"
#include "ingest/formats_internal.h"
#include "ingest/text_builder.h"

namespace foldback::ingest {
namespace {

bool StartsWithCi(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// A raw RFC 5322 message: its first lines are header fields ("Name: value",
// continuation lines indented), among them one a message carries.
bool LooksLikeMail(std::string_view head) {
  static const char* kFields[] = {"from",         "to",          "subject",      "date",   "message-id",
                                  "received",     "return-path", "mime-version", "delivered-to",
                                  "x-original-to", "reply-to",   "sender",       "cc"};
  size_t pos = 0, fields = 0;
  bool known = false;
  while (pos < head.size()) {
    size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) break;  // the head was cut mid-line
    std::string_view line = head.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (line.empty()) break;  // end of the header block
    if (line[0] == ' ' || line[0] == '\t') {
      if (fields == 0) return false;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    for (size_t i = 0; i < colon; ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      if (c <= 32 || c >= 127) return false;
    }
    ++fields;
    for (const char* f : kFields) {
      if (colon == std::strlen(f) && StartsWithCi(line, f)) known = true;
    }
  }
  return fields >= 2 && known;
}

std::string ReadHead(const std::string& path, size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out(n, '\0');
  ssize_t got = ::read(fd, out.data(), n);
  ::close(fd);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

Extraction FromDocs(std::vector<Document> docs, const char* format) {
  Extraction ex;
  ex.format = format;
  ex.documents = std::move(docs);
  return ex;
}

Result<Extraction> Dispatch(const std::string& format, std::string_view bytes, const std::string& name,
                            const std::string& id, const ExtractOptions& options) {
  if (format == "mail") return ExtractMail(bytes, name, id, options);
  if (format == "mbox") return ExtractMbox(bytes, name, id, options);
  if (format == "msg") return ExtractMsg(bytes, name, id, options);
  if (format == "docx") return ExtractDocx(bytes, name, id, options);
  if (format == "pdf") return ExtractPdf(bytes, name, id, options);
  if (format == "html") return ExtractHtml(bytes, name, id, options);
  if (format == "text" || format == "markdown") {
    Document d;
    d.id = id;
    d.title = name;
    d.text.assign(bytes);
    std::vector<Document> docs;
    docs.push_back(std::move(d));
    return FromDocs(std::move(docs), format == "text" ? "text" : "markdown");
  }
  if (format == "beir") {
    auto docs = ParseBeirCorpus(bytes);
    if (!docs.ok()) return docs.status();
    return FromDocs(std::move(docs.value()), "beir");
  }
  return Status::NotSupported("no extractor for '" + name + "'");
}

// Parsers of structured formats hand on what the file says; a PDF's info
// dictionary, an XML part or a raw mail header can hold bytes that are not
// UTF-8, or NUL bytes (found by tests/fuzz). What leaves an extractor is
// valid UTF-8 without NUL: such bytes become U+FFFD and are counted in
// `replaced`. (Plain text keeps
// its bytes: Index::Add repairs and counts them.)
void RepairUtf8(Extraction* ex) {
  auto repair = [&](std::string* v) {
    if (!IsValidUtf8(*v)) {
      Decoded d = DecodeToUtf8(*v, "utf-8");
      ex->replaced += d.replaced;
      *v = std::move(d.text);
    }
    // NUL too: it ends strings in the C API and in most hosts' languages.
    for (size_t p = v->find('\0'); p != std::string::npos; p = v->find('\0', p + 3)) {
      v->replace(p, 1, "\xEF\xBF\xBD");
      ++ex->replaced;
    }
  };
  for (Document& d : ex->documents) {
    repair(&d.title);
    repair(&d.text);
    repair(&d.parent_id);
    for (auto& [field, values] : d.metadata) {
      for (std::string& v : values) repair(&v);
    }
  }
  for (std::string& w : ex->warnings) repair(&w);
}

// Runs an extractor with third-party exceptions (poppler, pugixml, the
// standard library's bad_alloc) turned into a Status.
Result<Extraction> Guarded(const std::string& format, std::string_view bytes, const std::string& name,
                           const std::string& id, const ExtractOptions& options) {
  try {
    if (format != "text" && format != "markdown" && format != "beir") {
      auto ex = Dispatch(format, bytes, name, id, options);
      if (ex.ok()) RepairUtf8(&ex.value());
      return ex;
    }
    return Dispatch(format, bytes, name, id, options);
  } catch (const std::bad_alloc&) {
    return Status::OutOfRange("out of memory while reading " + format);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("the ") + format + " reader failed: " + e.what());
  } catch (...) {
    return Status::Internal("the " + format + " reader failed");
  }
}

}  // namespace

std::string Extension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  if (dot == 0 || (slash != std::string::npos && dot == slash + 1)) return "";  // ".hidden"
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string FormatFor(const std::string& name, std::string_view head) {
  std::string ext = Extension(name);
  if (ext == ".txt" || ext == ".text") return "text";
  if (ext == ".md" || ext == ".markdown") return "markdown";
  if (ext == ".jsonl") return "beir";
  if (ext == ".eml") return "mail";
  if (ext == ".mbox" || ext == ".mbx") return "mbox";
  if (ext == ".msg") return "msg";
  if (ext == ".docx") return "docx";
  if (ext == ".pdf") return "pdf";
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return "html";
  if (!ext.empty()) return "";
  // No extension: look at the bytes.
  if (head.substr(0, 5) == "From ") return "mbox";
  if (head.substr(0, 5) == "%PDF-") return "pdf";
  // An OLE2 compound file: the .msg reader says so when it is not a message.
  if (head.substr(0, 8) == std::string_view("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8)) return "msg";
  size_t start = head.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos &&
      (StartsWithCi(head.substr(start), "<!doctype html") || StartsWithCi(head.substr(start), "<html"))) {
    return "html";
  }
  if (LooksLikeMail(head)) return "mail";
  return "";
}

std::string DetectFormat(const std::string& path) {
  if (!Extension(path).empty()) return FormatFor(path, "");
  return FormatFor(path, ReadHead(path, 4096));
}

bool IsSupported(const std::string& path) { return !DetectFormat(path).empty(); }

Result<Extraction> ExtractBytes(std::string_view bytes, const std::string& name, const std::string& id,
                                const ExtractOptions& options) {
  if (bytes.size() > options.max_file_bytes) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("larger than {} bytes"), options.max_file_bytes));
  }
  std::string format = FormatFor(name, bytes.substr(0, 4096));
  if (format.empty()) {
    std::string ext = Extension(name);
    return Status::NotSupported(ext.empty() ? "unrecognised file without extension"
                                            : "no extractor for '" + ext + "' files");
  }
  return Guarded(format, bytes, BaseName(name), id, options);
}

Result<Extraction> Extract(const std::string& path, const std::string& id, const ExtractOptions& options) {
  std::string format = DetectFormat(path);
  if (format.empty()) {
    std::string ext = Extension(path);
    return Status::NotSupported(ext.empty() ? "unrecognised file without extension"
                                            : "no extractor for '" + ext + "' files");
  }
  uint64_t size = host::FileSize(path);
  if (size > options.max_file_bytes) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("larger than {} bytes"), options.max_file_bytes));
  }
  auto data = host::ReadFile(path);
  if (!data.ok()) return data.status();
  auto ex = Guarded(format, *data, BaseName(path), id, options);
  if (!ex.ok()) return ex;
  if (ex->format != "beir") {
    for (Document& d : ex->documents) {
      if (!d.metadata.count("source_path")) d.metadata["source_path"] = {path};
    }
  }
  return ex;
}

Result<std::vector<Document>> ExtractFile(const std::string& path, const std::string& id) {
  auto ex = Extract(path, id);
  if (!ex.ok()) return ex.status();
  return std::move(ex->documents);
}

Result<std::vector<Document>> ExtractText(const std::string& path, const std::string& id) {
  auto data = host::ReadFile(path);
  if (!data.ok()) return data.status();
  Document d;
  d.id = id;
  d.title = BaseName(path);
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

Result<std::vector<Document>> ExtractTextFolder(const std::string& dir) {
  auto files = host::ListFiles(dir);
  if (!files.ok()) return files.status();
  std::vector<Document> docs;
  for (const auto& f : *files) {
    std::string ext = Extension(f);
    if (ext != ".txt" && ext != ".md") continue;
    size_t slash = f.find_last_of('/');
    std::string id = f.substr(slash + 1, f.size() - slash - 1 - ext.size());
    auto d = ExtractText(f, id);
    if (!d.ok()) return d.status();
    for (auto& doc : *d) docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace foldback::ingest
