// Outlook .msg: the core reads the file (foldback/msg.h: compound file,
// MAPI properties, bodies, embedded messages); this host runs its own
// extractors over the attachments' bytes, as it does for .eml attachments.
#include "foldback/msg.h"

#include <fmt/format.h>

#include "ingest/charset.h"
#include "ingest/extract.h"
#include "ingest/formats_internal.h"
#include "ingest/text_builder.h"

namespace foldback::ingest {
namespace {

// What an attachment is, for extraction: a format name or "" (listed only).
std::string AttachmentFormat(const std::string& mime, const std::string& filename, std::string_view bytes) {
  if (mime == "text/html" || mime == "application/xhtml+xml") return "html";
  if (mime == "text/rtf" || mime == "application/rtf") return "";
  if (mime.rfind("text/", 0) == 0) return "text";
  if (mime == "application/pdf") return "pdf";
  if (mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document") return "docx";
  if (mime == "application/vnd.ms-outlook") return "msg";
  std::string f = FormatFor(filename, bytes.substr(0, 4096));
  if (f == "beir") return "";
  return f;
}

const char* ExtensionOf(const std::string& format) {
  if (format == "html") return ".html";
  if (format == "pdf") return ".pdf";
  if (format == "docx") return ".docx";
  if (format == "msg") return ".msg";
  if (format == "mail") return ".eml";
  if (format == "mbox") return ".mbox";
  if (format == "markdown") return ".md";
  return ".txt";
}

Result<Extraction> ExtractMsgAt(std::string_view bytes, const std::string& name, const std::string& id,
                                const ExtractOptions& options, uint32_t depth);

Result<Extraction> ExtractAttachment(const MsgAttachmentFile& f, const std::string& format,
                                     const ExtractOptions& options, uint32_t depth) {
  if (format == "text" || format == "markdown") {
    Extraction ex;
    ex.format = "text";
    Decoded d = DecodeToUtf8(f.data, "");  // .msg gives no charset: UTF-8 when valid, else windows-1252
    ex.replaced = d.replaced;
    if (!d.note.empty()) ex.warnings.push_back(d.note);
    Document doc;
    doc.id = f.id;
    doc.title = f.filename;
    doc.text = std::move(d.text);
    ex.documents.push_back(std::move(doc));
    return ex;
  }
  if (format == "msg") {
    // An attached .msg file (not an embedded message): its nesting counts
    // against the same depth limit.
    return ExtractMsgAt(f.data, f.filename, f.id, options, depth + 1);
  }
  // By format, whatever the attachment's name says.
  std::string name = f.filename;
  if (FormatFor(name, "") != format) name = "attachment" + std::string(ExtensionOf(format));
  return ExtractBytes(f.data, name, f.id, options);
}

MsgOptions MsgOptionsFor(const ExtractOptions& o) {
  MsgOptions m;
  m.max_file_bytes = o.max_file_bytes;
  m.max_depth = o.max_mime_depth;
  m.max_attachments = o.max_mime_parts;
  m.max_addresses_kept = o.max_addresses_kept;
  return m;
}

Result<Extraction> ExtractMsgAt(std::string_view bytes, const std::string& name, const std::string& id,
                                const ExtractOptions& options, uint32_t depth) {
  if (depth > options.max_mime_depth) {
    return Status::OutOfRange(fmt::format(FMT_STRING("attached .msg files nested deeper than {}"),
                                          options.max_mime_depth));
  }
  auto parsed = MsgToDocuments(bytes, name, id, MsgOptionsFor(options));
  if (!parsed.ok()) return parsed.status();
  Extraction ex;
  ex.format = "msg";
  ex.documents = std::move(parsed->documents);
  ex.warnings = std::move(parsed->warnings);
  ex.replaced = parsed->replaced;
  if (!options.attachments) return ex;
  for (const MsgAttachmentFile& f : parsed->attachments) {
    std::string format = AttachmentFormat(f.mime_type, f.filename, f.data);
    if (format.empty()) continue;  // listed in the message's `attachment` metadata only
    std::string where = f.parent_id + ": attachment " + f.filename;
    auto sub = ExtractAttachment(f, format, options, depth);
    if (!sub.ok()) {
      ex.warnings.push_back(where + " not indexed: " + sub.status().ToString());
      ++ex.failed_parts;
      continue;
    }
    for (std::string& w : sub->warnings) ex.warnings.push_back(where + ": " + w);
    ex.replaced += sub->replaced;
    ex.failed_parts += sub->failed_parts;
    for (Document& c : sub->documents) {
      if (c.parent_id.empty()) c.parent_id = f.parent_id;
      c.metadata["filename"] = {f.filename};
      if (!f.mime_type.empty()) c.metadata["content_type"] = {f.mime_type};
      if (c.title.empty()) c.title = f.filename;
      for (const auto& [field, values] : f.inherited) {
        if (!c.metadata.count(field)) c.metadata[field] = values;
      }
      ex.documents.push_back(std::move(c));
    }
  }
  return ex;
}

}  // namespace

Result<Extraction> ExtractMsg(std::string_view bytes, const std::string& name, const std::string& id,
                              const ExtractOptions& options) {
  return ExtractMsgAt(bytes, name, id, options, 0);
}

}  // namespace foldback::ingest
