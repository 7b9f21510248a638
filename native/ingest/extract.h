// Turning files into Documents (host side: the core never opens a file).
//
// One entry point dispatches on the file's type: the extension, or for files
// without one the first bytes (an mbox starts with "From ", a raw message
// with mail header fields). Every extractor either returns documents or a
// Status saying why the file was skipped; none aborts a run over many files,
// and none throws (third-party exceptions are caught here).
//
// Formats, one file each:
//   .txt .md           text.cc  (extract.cc)   plain text, as is
//   .jsonl             BEIR corpus             one document per record
//   .eml, mbox         mail.cc   (GMime 3)     one document per message plus
//                                              text-like attachments as
//                                              child documents
//   .msg               msg.cc    (the core's foldback/msg.h) one document per
//                                              message and embedded message,
//                                              attachments as for .eml
//   .docx              docx.cc   (libzip + pugixml)
//   .pdf               pdf.cc    (poppler-cpp)
//   .html .htm         html.cc   (gumbo, the HTML5 parsing algorithm)
//
// Thread safety: every function may be called from several threads at once.
#ifndef FOLDBACK_NATIVE_INGEST_EXTRACT_H_
#define FOLDBACK_NATIVE_INGEST_EXTRACT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/document.h"
#include "foldback/status.h"

namespace foldback::ingest {

// Limits against hostile or broken input. Exceeding one fails the file (or,
// inside an mbox, that one message) with OutOfRange and a message naming the
// limit. The mail limits follow Dovecot's (nesting 100, parts 10,000).
struct ExtractOptions {
  // Largest file read at all. Default: 1 GiB.
  uint64_t max_file_bytes = 1ull << 30;

  // Mail: MIME nesting depth (multiparts and attached messages). Default: 100.
  uint32_t max_mime_depth = 100;
  // Mail: MIME parts in one message, all levels. Default: 10,000.
  uint32_t max_mime_parts = 10000;
  // Mail: header fields in one header block. Default: 10,000.
  uint32_t max_header_fields = 10000;
  // Mail: one physical header line, in bytes (RFC 5322 allows 998). A long
  // header folded over many lines is fine. Default: 64 KiB.
  uint32_t max_header_line_bytes = 64 * 1024;
  // Mail: one header field, folded lines included. GMime grows its header
  // buffer 64 bytes at a time, which is quadratic wherever realloc cannot
  // grow in place; real mail stays far below (Postfix keeps 100 KiB of a
  // whole header). Default: 1 MiB.
  uint32_t max_header_field_bytes = 1024 * 1024;
  // Mail: addresses kept per field (from, to, cc); the rest are counted in a
  // warning. Default: 1,000.
  uint32_t max_addresses_kept = 1000;
  // Mail: index text-like attachments (text/*, .docx, .pdf, .html) as child
  // documents. Default: true.
  bool attachments = true;

  // .docx: entries in the zip. Default: 10,000.
  uint32_t max_zip_entries = 10000;
  // .docx: uncompressed bytes of one entry we read (document.xml, ...), counted
  // while inflating, whatever the zip declares. Default: 256 MiB.
  uint64_t max_zip_entry_bytes = 256ull << 20;
  // .docx: uncompressed bytes of all entries read from one file. Default: 512 MiB.
  uint64_t max_zip_total_bytes = 512ull << 20;

  // .pdf: pages read. Default: 100,000.
  uint32_t max_pdf_pages = 100000;

  // .html: element nesting, estimated by a linear pre-scan before parsing
  // (the HTML5 tree builder's time grows with tags × depth). Default: 1,000.
  uint32_t max_html_depth = 1000;
  // .html: the sum over start tags of the nesting depth at that tag — the
  // parser's work. Ordinary pages stay below 10^7. Default: 5 × 10^7.
  uint64_t max_html_nesting_work = 50000000;
};

// What one file yielded.
struct Extraction {
  // "text", "markdown", "beir", "mail", "mbox", "msg", "docx", "pdf", "html".
  std::string format;
  std::vector<Document> documents;
  // Things the user should know that did not stop the file: a message of an
  // mbox or an attachment that could not be read (and why), text in an
  // unknown charset read as windows-1252, hidden HTML elements skipped, a
  // truncated message. Each is one line, without the file name.
  std::vector<std::string> warnings;
  // Bytes or sequences that could not be decoded from their charset, or
  // invalid UTF-8 or NUL bytes a parser passed on, replaced by U+FFFD.
  // Titles, texts and metadata of mail, .docx, .pdf and HTML are always
  // valid UTF-8 without NUL; plain
  // text, Markdown and BEIR keep their bytes (Index::Add repairs and counts
  // invalid UTF-8).
  uint64_t replaced = 0;
  // Messages of an mbox or attachments that failed (each has a warning).
  uint32_t failed_parts = 0;
};

// Lower-cased extension of a path, with the dot ("" when none).
std::string Extension(const std::string& path);

// The format ExtractFile would use for `path` ("" when unsupported). Files
// without an extension are sniffed (first 4 KiB): "From " → mbox, mail header
// fields → mail, an OLE2 compound file → msg.
std::string DetectFormat(const std::string& path);

// True when DetectFormat finds a format.
bool IsSupported(const std::string& path);

// Reads `path` and extracts it. `id` is the id of a single-document file;
// multi-document files derive ids from it ("<id>/msg-3" for the third message
// of an mbox, "<id>/att-1-<filename>" for an attachment). NotSupported for
// unknown types; InvalidArgument / Corruption / OutOfRange for broken or
// hostile files; IOError when it cannot be read.
Result<Extraction> Extract(const std::string& path, const std::string& id,
                           const ExtractOptions& options = ExtractOptions());

// The same for bytes already in memory; `name` (a file name) gives the
// format by its extension, or by sniffing when it has none. Used for mail
// attachments and by hosts that hold documents in memory.
Result<Extraction> ExtractBytes(std::string_view bytes, const std::string& name, const std::string& id,
                                const ExtractOptions& options = ExtractOptions());

// Extract(path, id) reduced to its documents.
Result<std::vector<Document>> ExtractFile(const std::string& path, const std::string& id);

// Plain text and Markdown.
Result<std::vector<Document>> ExtractText(const std::string& path, const std::string& id);
// Every .txt / .md file of a folder (ListFiles order), each as its file name
// without the extension: how `eval` and the benchmarks read a folder corpus.
Result<std::vector<Document>> ExtractTextFolder(const std::string& dir);
// BEIR corpus.jsonl.
Result<std::vector<Document>> ExtractBeirCorpus(const std::string& path);

// Per format, on bytes. `name` is the file name (title fallback, attachment
// names). Documents get metadata `source_path` only from Extract(path, ...).

// One message (.eml). kind = kEmail; metadata from, to, cc (bare lower-case
// addresses), from_name, subject, date (YYYY-MM-DD) and sent (the raw Date
// header), message_id, in_reply_to, references, attachment (file names of
// attachments not indexed as documents).
Result<Extraction> ExtractMail(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options);
// An mbox (mboxrd/mboxo: messages after "From " lines). A message that fails
// is skipped with a warning; the others are kept. Corruption when no message
// can be read at all.
Result<Extraction> ExtractMbox(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options);
// Outlook .msg (foldback::MsgToDocuments): the message and its embedded
// messages (kind kEmail, metadata as for .eml plus `received`), text-like
// attachments as child documents through these extractors (an attached .msg
// file too, nested at most max_mime_depth deep). Limits: max_mime_depth
// (embedded messages), max_mime_parts (attachments), max_addresses_kept.
// Signed or encrypted messages are NotSupported.
Result<Extraction> ExtractMsg(std::string_view bytes, const std::string& name, const std::string& id,
                              const ExtractOptions& options);
// Word .docx: body text with headings (as "#" lines), list numbers, tables as
// "cell | cell" rows, footnotes and endnotes appended; metadata title,
// author, created (YYYY-MM-DD) from docProps/core.xml.
Result<Extraction> ExtractDocx(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options);
// PDF: text page by page (pages separated by a blank line); metadata title,
// author, created. Encrypted (password-protected) or unreadable PDFs fail.
Result<Extraction> ExtractPdf(std::string_view bytes, const std::string& name, const std::string& id,
                              const ExtractOptions& options);
// HTML: the visible text (no script, style, template, noscript, nor elements
// hidden by the `hidden` attribute or an inline display:none /
// visibility:hidden / font-size:0 / opacity:0 style), blocks on their own lines, headings as "#" lines,
// list items numbered or bulleted, table rows as "cell | cell". kind =
// kWebPage; title from <title>; metadata description, author, keywords,
// language from <meta> and <html lang>.
Result<Extraction> ExtractHtml(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options);

}  // namespace foldback::ingest

#endif  // FOLDBACK_NATIVE_INGEST_EXTRACT_H_
