// Fuzz target: Outlook .msg files through the core's reader (compound file,
// MAPI properties, compressed RTF, HTML and RTF text: foldback::MsgToDocuments)
// and the native extractor around it (ingest::ExtractBytes, attachments
// through the host's extractors). Anything may be refused, nothing may
// crash, and what is accepted keeps the invariants below.
//
// The limits are tightened (streams 1 MiB, all streams 4 MiB, RTF 1 MiB,
// nesting 4, attachments 32) so that inputs of a few KiB reach them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "foldback/msg.h"
#include "ingest/extract.h"
#include "text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace foldback;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  MsgOptions o;
  o.max_stream_bytes = 1 << 20;
  o.max_total_bytes = 4 << 20;
  o.max_rtf_bytes = 1 << 20;
  o.max_depth = 4;
  o.max_attachments = 32;
  o.max_addresses_kept = 16;
  auto ex = MsgToDocuments(bytes, "fuzz.msg", "fuzz", o);
  if (!ex.ok()) {
    if (ex.status().message().empty()) __builtin_trap();  // refusals say why
  } else {
    if (ex->documents.empty()) __builtin_trap();
    // One document per message: the file's and at most one per attachment.
    if (ex->documents.size() + ex->attachments.size() > o.max_attachments + 1u) __builtin_trap();
    for (const Document& d : ex->documents) {
      if (d.id.empty() || d.kind != DocKind::kEmail) __builtin_trap();
      if (!text::IsValidUtf8(d.text) || !text::IsValidUtf8(d.title)) __builtin_trap();
      for (const auto& [field, values] : d.metadata) {
        for (const std::string& v : values) {
          if (!text::IsValidUtf8(v)) __builtin_trap();
        }
        if ((field == "to" || field == "cc" || field == "bcc") && values.size() > o.max_addresses_kept) {
          __builtin_trap();
        }
      }
    }
    for (const MsgAttachmentFile& f : ex->attachments) {
      if (f.data.size() > o.max_stream_bytes || f.parent_id.empty()) __builtin_trap();
    }
  }
  // The RTF decompressor and the text passes on the raw bytes too.
  auto rtf = DecompressRtf(bytes, 1 << 20);
  if (rtf.ok() && rtf->size() > (1u << 20)) __builtin_trap();
  std::string html;
  if (!text::IsValidUtf8(RtfToText(bytes.substr(0, 65536), &html))) __builtin_trap();
  if (!text::IsValidUtf8(MsgHtmlToText(bytes.substr(0, 65536)))) __builtin_trap();
  // The native host's path, with its own limits.
  ingest::ExtractOptions io;
  io.max_mime_depth = 4;
  io.max_mime_parts = 32;
  auto native = ingest::ExtractBytes(bytes, "fuzz.msg", "fuzz", io);
  if (!native.ok() && native.status().message().empty()) __builtin_trap();
  return 0;
}
