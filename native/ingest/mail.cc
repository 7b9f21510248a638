// Mail (.eml, mbox) through GMime 3: GMime parses, we walk the MIME tree with
// Dovecot-like limits (nesting, part count, header count and line length),
// decode text to UTF-8 ourselves (so undecodable bytes are counted), pick
// text/plain over text/html in alternatives, and turn text-like attachments
// into child documents.
//
// Memory: every GObject is held by a GPtr (g_object_unref on scope exit);
// objects GMime returns with "transfer none" are never unreferenced.
#include <gmime/gmime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "ingest/charset.h"
#include "ingest/extract.h"
#include "ingest/formats_internal.h"
#include "ingest/text_builder.h"

namespace foldback::ingest {
namespace {

struct GUnref {
  void operator()(void* p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref>;

struct OptionsFree {
  void operator()(GMimeParserOptions* p) const {
    if (p) g_mime_parser_options_free(p);
  }
};
struct ReferencesFree {
  void operator()(GMimeReferences* p) const {
    if (p) g_mime_references_free(p);
  }
};

std::string Lower(const char* s) {
  std::string out = s ? s : "";
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Issues GMime reports while parsing one message (its warning callback).
struct ParseIssues {
  std::set<GMimeParserWarning> seen;
};

void OnParserWarning(gint64 /*offset*/, GMimeParserWarning code, const gchar* /*item*/, gpointer user) {
  static_cast<ParseIssues*>(user)->seen.insert(code);
}

// The issues that tell the user something was lost or guessed.
void ReportIssues(const ParseIssues& issues, const std::string& where, std::vector<std::string>* warnings) {
  for (GMimeParserWarning w : issues.seen) {
    const char* what = nullptr;
    switch (w) {
      case GMIME_WARN_TRUNCATED_MESSAGE: what = "message is truncated; indexed what is there"; break;
      case GMIME_WARN_MALFORMED_MULTIPART: what = "a multipart has no parts or no end boundary"; break;
      case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: what = "a multipart has no boundary; read as one part"; break;
      case GMIME_CRIT_INVALID_HEADER_NAME: what = "invalid header lines were skipped"; break;
      case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: what = "a MIME part has neither headers nor content"; break;
      case GMIME_CRIT_NESTING_OVERFLOW: what = "MIME nesting overflowed the parser"; break;
      case GMIME_WARN_MALFORMED_MESSAGE: what = "the message is malformed"; break;
      default: break;  // duplicated headers, 8-bit headers, ...: nothing lost
    }
    if (what) warnings->push_back(where.empty() ? what : where + ": " + what);
  }
}

GMimeParserOptions* NewParserOptions(ParseIssues* issues) {
  GMimeParserOptions* o = g_mime_parser_options_new();
  // Unencoded 8-bit header text: UTF-8 when valid, else windows-1252.
  const char* fallback[] = {"utf-8", "windows-1252", nullptr};
  g_mime_parser_options_set_fallback_charsets(o, fallback);
  g_mime_parser_options_set_warning_callback(o, OnParserWarning, issues);
  return o;
}

// State of one file: limits are counted across nested messages.
struct Context {
  const ExtractOptions& options;
  GMimeParserOptions* parser_options;
  Extraction* ex;
  uint32_t parts = 0;
};

Status TooManyFields(uint64_t count, const ExtractOptions& o) {
  return Status::OutOfRange(fmt::format(FMT_STRING("a header block has {} fields (limit {})"),
                                        count, o.max_header_fields));
}

Status LineTooLong(std::string_view name, uint64_t bytes, const ExtractOptions& o) {
  return Status::OutOfRange(fmt::format(FMT_STRING("header line '{}' is {} bytes long (limit {})"),
                                        Shorten(name, 40), bytes, o.max_header_line_bytes));
}

Status FieldTooLong(std::string_view name, uint64_t bytes, const ExtractOptions& o) {
  return Status::OutOfRange(fmt::format(FMT_STRING("header field '{}' is {} bytes long (limit {})"),
                                        Shorten(name, 40), bytes, o.max_header_field_bytes));
}

// The message's own header block, checked before GMime reads it (linear):
// field count, physical line length, folded field size (the bytes from the
// field name to the end of its last line, inner line breaks included).
Status PrescanHeaders(std::string_view bytes, const ExtractOptions& o) {
  uint64_t fields = 0;
  size_t field_start = 0;
  std::string_view field_name;
  size_t pos = 0;
  auto line_end = [&](size_t from, size_t* next) {
    size_t nl = bytes.find('\n', from);
    size_t e = nl == std::string_view::npos ? bytes.size() : nl;
    *next = nl == std::string_view::npos ? bytes.size() : nl + 1;
    if (e > from && bytes[e - 1] == '\r') --e;
    return e;
  };
  while (pos < bytes.size()) {
    size_t next;
    size_t end = line_end(pos, &next);
    std::string_view line = bytes.substr(pos, end - pos);
    if (line.empty()) break;  // end of the header block
    if (line.size() > o.max_header_line_bytes) {
      size_t colon = line.find(':');
      return LineTooLong(colon == std::string_view::npos ? "" : line.substr(0, colon), line.size(), o);
    }
    if (line[0] != ' ' && line[0] != '\t') {
      if (++fields > o.max_header_fields) {
        uint64_t total = fields;  // count them all, for the message
        for (size_t p = next; p < bytes.size();) {
          size_t n;
          size_t e = line_end(p, &n);
          if (e == p) break;
          if (bytes[p] != ' ' && bytes[p] != '\t') ++total;
          p = n;
        }
        return TooManyFields(total, o);
      }
      size_t colon = line.find(':');
      field_name = colon == std::string_view::npos ? line.substr(0, 40) : line.substr(0, colon);
      field_start = pos;
    }
    if (end - field_start > o.max_header_field_bytes) {
      size_t last = end;  // measure the whole field, for the message
      for (size_t p = next; p < bytes.size() && (bytes[p] == ' ' || bytes[p] == '\t');) {
        size_t n;
        last = line_end(p, &n);
        p = n;
      }
      return FieldTooLong(field_name, last - field_start, o);
    }
    pos = next;
  }
  return Status::OK();
}

Status CheckHeaders(GMimeObject* obj, const ExtractOptions& o) {
  GMimeHeaderList* list = g_mime_object_get_header_list(obj);  // transfer none
  if (!list) return Status::OK();
  int count = g_mime_header_list_get_count(list);
  if (count > 0 && static_cast<uint32_t>(count) > o.max_header_fields) return TooManyFields(count, o);
  for (int i = 0; i < count; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
    const char* name = g_mime_header_get_raw_name(h);
    const char* raw = g_mime_header_get_raw_value(h);
    if (raw && std::strlen(raw) > o.max_header_field_bytes) {
      return FieldTooLong(name ? name : "", std::strlen(raw), o);
    }
    size_t line = (name ? std::strlen(name) + 1 : 0);
    size_t longest = 0;
    for (const char* p = raw; p && *p; ++p) {
      if (*p == '\n') {
        longest = std::max(longest, line);
        line = 0;
      } else if (!(*p == '\r' && p[1] == '\n')) {  // CRLF ends a line as LF does (as PrescanHeaders counts)
        ++line;
      }
    }
    longest = std::max(longest, line);
    if (longest > o.max_header_line_bytes) return LineTooLong(name ? name : "", longest, o);
  }
  return Status::OK();
}

// Decoded (transfer encoding undone) bytes of a leaf part.
std::string PartBytes(GMimePart* part) {
  GMimeDataWrapper* content = g_mime_part_get_content(part);  // transfer none
  if (!content) return "";
  GPtr<GMimeStream> mem(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(content, mem.get());
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(reinterpret_cast<GMimeStreamMem*>(mem.get()));
  if (!bytes || bytes->len == 0) return "";
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

std::string Param(GMimeObject* obj, const char* name) {
  GMimeContentType* ct = g_mime_object_get_content_type(obj);  // transfer none
  const char* v = ct ? g_mime_content_type_get_parameter(ct, name) : nullptr;
  return v ? v : "";
}

void AddAddresses(InternetAddressList* list, const std::string& field, const ExtractOptions& o, Document* d,
                  uint64_t* dropped) {
  if (!list) return;
  int n = internet_address_list_length(list);
  for (int i = 0; i < n; ++i) {
    InternetAddress* ia = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(ia)) {
      AddAddresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), field, o, d, dropped);
      continue;
    }
    if (!INTERNET_ADDRESS_IS_MAILBOX(ia)) continue;
    std::vector<std::string>& values = d->metadata[field];
    const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
    if (!addr || !*addr) continue;
    if (values.size() >= o.max_addresses_kept) {
      ++*dropped;
      continue;
    }
    values.push_back(Lower(addr));
    const char* name = internet_address_get_name(ia);
    if (field == "from" && name && *name) d->metadata["from_name"].push_back(Shorten(name, 200));
  }
  auto it = d->metadata.find(field);
  if (it != d->metadata.end() && it->second.empty()) d->metadata.erase(it);
}

void AddReferences(GMimeObject* msg, const char* header, const std::string& field, Context& ctx, Document* d) {
  const char* value = g_mime_object_get_header(msg, header);
  if (!value) return;
  std::unique_ptr<GMimeReferences, ReferencesFree> refs(g_mime_references_parse(ctx.parser_options, value));
  if (!refs) return;
  int n = g_mime_references_length(refs.get());
  for (int i = 0; i < n && i < 1000; ++i) {
    const char* id = g_mime_references_get_message_id(refs.get(), i);
    if (id && *id) d->metadata[field].push_back(Shorten(id, 300));
  }
}

// What an attachment is, for extraction: a format name or "" (listed only).
std::string AttachmentFormat(const std::string& type, const std::string& subtype, const std::string& filename,
                             std::string_view bytes) {
  if (type == "text") {
    if (subtype == "html") return "html";
    if (subtype == "rtf") return "";
    return "text";
  }
  if (type == "application") {
    if (subtype == "pdf") return "pdf";
    if (subtype == "vnd.openxmlformats-officedocument.wordprocessingml.document") return "docx";
    if (subtype == "xhtml+xml") return "html";
  }
  std::string f = FormatFor(filename, bytes.substr(0, 4096));
  if (f == "beir") return "";
  return f;
}

class MessageWalker {
 public:
  MessageWalker(Context& ctx, std::vector<Document>* out) : ctx_(ctx), out_(out) {}

  // Walks `msg` (at MIME depth `depth`) into documents: the message with id
  // `id` and its attachments. `extract` false only enforces limits (parts of
  // an alternative we do not read).
  Status Message(GMimeMessage* msg, const std::string& id, const std::string& parent_id, uint32_t depth,
                 bool extract) {
    GMimeObject* obj = GMIME_OBJECT(msg);
    FB_RETURN_IF_ERROR(CheckHeaders(obj, ctx_.options));
    size_t doc_index = out_->size();
    if (extract) {
      Document d;
      d.id = id;
      d.parent_id = parent_id;
      d.kind = DocKind::kEmail;
      FillHeaders(msg, &d);
      out_->push_back(std::move(d));
    }
    State st;
    st.id = id;
    st.doc_index = doc_index;
    GMimeObject* root = g_mime_message_get_mime_part(msg);  // transfer none
    if (root) FB_RETURN_IF_ERROR(Part(root, depth, extract, &st));
    if (extract) {
      Document& d = (*out_)[doc_index];
      d.text = st.body.Finish();
      if (!st.attachments.empty()) d.metadata["attachment"] = st.attachments;
      // Children inherit the message's sender and date: "documents sent by X
      // in May" finds attachments too.
      for (size_t i = doc_index + 1; i < out_->size(); ++i) {
        Document& c = (*out_)[i];
        if (c.parent_id != id) continue;
        for (const char* f : {"from", "date", "sent"}) {
          auto it = d.metadata.find(f);
          if (it != d.metadata.end() && !c.metadata.count(f)) c.metadata[f] = it->second;
        }
      }
    }
    return Status::OK();
  }

 private:
  struct State {
    std::string id;
    size_t doc_index = 0;
    TextBuilder body;
    bool has_body = false;
    std::vector<std::string> attachments;
    int attachment_no = 0;
  };

  void FillHeaders(GMimeMessage* msg, Document* d) {
    GMimeObject* obj = GMIME_OBJECT(msg);
    const char* subject = g_mime_message_get_subject(msg);
    if (subject) {
      TextBuilder t;
      t.Inline(subject);
      d->title = Shorten(t.Finish(), 500);
    }
    uint64_t dropped = 0;
    AddAddresses(g_mime_message_get_from(msg), "from", ctx_.options, d, &dropped);
    AddAddresses(g_mime_message_get_to(msg), "to", ctx_.options, d, &dropped);
    AddAddresses(g_mime_message_get_cc(msg), "cc", ctx_.options, d, &dropped);
    AddAddresses(g_mime_message_get_bcc(msg), "bcc", ctx_.options, d, &dropped);
    if (dropped > 0) {
      ctx_.ex->warnings.push_back(fmt::format(
          FMT_STRING("{}: {} addresses beyond the first {} per field not kept as metadata"), d->id,
          dropped, ctx_.options.max_addresses_kept));
    }
    if (const char* sent = g_mime_object_get_header(obj, "Date")) {
      d->metadata["sent"] = {Shorten(sent, 200)};
      GDateTime* dt = g_mime_message_get_date(msg);  // transfer none
      if (dt) {
        gchar* iso = g_date_time_format(dt, "%Y-%m-%d");
        if (iso) {
          d->metadata["date"] = {iso};
          g_free(iso);
        }
      } else {
        ctx_.ex->warnings.push_back(d->id + ": unreadable Date header '" + Shorten(sent, 60) + "'");
      }
    }
    if (const char* mid = g_mime_message_get_message_id(msg); mid && *mid) {
      d->metadata["message_id"] = {Shorten(mid, 300)};
    }
    AddReferences(obj, "In-Reply-To", "in_reply_to", ctx_, d);
    AddReferences(obj, "References", "references", ctx_, d);
  }

  Status Count(uint32_t depth) {
    if (++ctx_.parts > ctx_.options.max_mime_parts) {
      return Status::OutOfRange(
          fmt::format(FMT_STRING("more than {} MIME parts"), ctx_.options.max_mime_parts));
    }
    if (depth > ctx_.options.max_mime_depth) {
      return Status::OutOfRange(
          fmt::format(FMT_STRING("MIME parts nested deeper than {}"), ctx_.options.max_mime_depth));
    }
    return Status::OK();
  }

  Status Part(GMimeObject* part, uint32_t depth, bool extract, State* st) {
    FB_RETURN_IF_ERROR(Count(depth));
    FB_RETURN_IF_ERROR(CheckHeaders(part, ctx_.options));
    if (GMIME_IS_MULTIPART(part)) return Multipart(GMIME_MULTIPART(part), depth, extract, st);
    if (GMIME_IS_MESSAGE_PART(part)) {
      GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));  // transfer none
      if (!inner) return Status::OK();
      if (!extract) return Message(inner, "", "", depth + 1, false);
      const char* subject = g_mime_message_get_subject(inner);
      std::string name = subject && *subject ? std::string(subject) : "message";
      std::string child =
          fmt::format(FMT_STRING("{}/att-{}-{}"), st->id, ++st->attachment_no, IdSafeName(name));
      st->attachments.push_back(Shorten(name, 200) + ".eml");
      return Message(inner, child, st->id, depth + 1, true);
    }
    if (!GMIME_IS_PART(part)) return Status::OK();  // message/partial fragments
    if (!extract) return Status::OK();
    return Leaf(GMIME_PART(part), st);
  }

  Status Multipart(GMimeMultipart* mp, uint32_t depth, bool extract, State* st) {
    GMimeContentType* ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));
    std::string subtype = Lower(ct ? g_mime_content_type_get_media_subtype(ct) : "");
    int n = g_mime_multipart_get_count(mp);
    if (GMIME_IS_MULTIPART_ENCRYPTED(mp)) {
      if (extract) ctx_.ex->warnings.push_back(st->id + ": an encrypted part (multipart/encrypted) was not read");
      extract = false;
    }
    int chosen = -1;  // alternative: the one part we read
    if (subtype == "alternative" && extract) chosen = ChooseAlternative(mp);
    for (int i = 0; i < n; ++i) {
      GMimeObject* child = g_mime_multipart_get_part(mp, i);  // transfer none
      bool read = extract;
      if (chosen >= 0) read = extract && i == chosen;
      if (subtype == "signed" && i > 0) read = false;  // the signature
      FB_RETURN_IF_ERROR(Part(child, depth + 1, read, st));
    }
    return Status::OK();
  }

  // text/plain when it has text, else text/html, else the last (richest) part.
  int ChooseAlternative(GMimeMultipart* mp) {
    int n = g_mime_multipart_get_count(mp);
    int plain = -1, html = -1;
    for (int i = 0; i < n; ++i) {
      GMimeObject* c = g_mime_multipart_get_part(mp, i);
      GMimeContentType* ct = g_mime_object_get_content_type(c);
      if (!ct || !GMIME_IS_PART(c)) continue;
      std::string type = Lower(g_mime_content_type_get_media_type(ct));
      std::string sub = Lower(g_mime_content_type_get_media_subtype(ct));
      if (type == "text" && sub == "plain" && plain < 0) {
        std::string bytes = PartBytes(GMIME_PART(c));
        if (bytes.find_first_not_of(" \t\r\n") != std::string::npos) plain = i;
      } else if (type == "text" && sub == "html" && html < 0) {
        html = i;
      }
    }
    if (plain >= 0) return plain;
    if (html >= 0) return html;
    return n - 1;
  }

  Status Leaf(GMimePart* part, State* st) {
    GMimeObject* obj = GMIME_OBJECT(part);
    GMimeContentType* ct = g_mime_object_get_content_type(obj);
    std::string type = Lower(ct ? g_mime_content_type_get_media_type(ct) : "text");
    std::string subtype = Lower(ct ? g_mime_content_type_get_media_subtype(ct) : "plain");
    const char* fname = g_mime_part_get_filename(part);
    // An unencoded 8-bit name: UTF-8 when valid, else windows-1252.
    std::string filename = fname ? DecodeToUtf8(fname, "").text : "";
    std::string disposition = Lower(g_mime_object_get_disposition(obj));
    bool body = type == "text" && (subtype == "plain" || subtype == "html") && disposition != "attachment" &&
                filename.empty();
    if (body) {
      std::string bytes = PartBytes(part);
      std::string text;
      if (subtype == "html") {
        HtmlPage page;
        Extraction report;
        Status s = HtmlToText(bytes, Param(obj, "charset"), ctx_.options, &page, &report);
        ctx_.ex->replaced += report.replaced;
        for (const std::string& w : report.warnings) ctx_.ex->warnings.push_back(st->id + ": " + w);
        if (!s.ok()) {
          ctx_.ex->warnings.push_back(st->id + ": HTML body not read: " + s.ToString());
          ++ctx_.ex->failed_parts;
          return Status::OK();
        }
        text = std::move(page.text);
      } else {
        Decoded d = DecodeToUtf8(bytes, Param(obj, "charset"));
        Note(d, st->id);
        text = std::move(d.text);
      }
      if (text.find_first_not_of(" \t\r\n") == std::string::npos) return Status::OK();
      if (st->has_body) st->body.Paragraph();
      st->body.Inline(text, /*preserve=*/true);
      st->has_body = true;
      return Status::OK();
    }
    // An attachment (or an inline image, listed only when it has a name).
    if (filename.empty() && type == "image") return Status::OK();
    if (subtype == "pgp-signature" || subtype == "pkcs7-signature" || subtype == "x-pkcs7-signature") {
      return Status::OK();
    }
    std::string shown = filename.empty() ? "(unnamed " + type + "/" + subtype + ")" : Shorten(filename, 200);
    st->attachments.push_back(shown);
    int no = ++st->attachment_no;
    if (!ctx_.options.attachments) return Status::OK();
    std::string bytes = PartBytes(part);
    std::string format = AttachmentFormat(type, subtype, filename, bytes);
    if (format.empty()) return Status::OK();
    std::string base = filename.empty() ? type + "-" + subtype : filename;
    std::string child_id = fmt::format(FMT_STRING("{}/att-{}-{}"), st->id, no, IdSafeName(base));
    std::string where = fmt::format(FMT_STRING("{}: attachment {} ({})"), st->id, no, shown);
    Result<Extraction> sub = ExtractAttachment(format, bytes, obj, base, child_id);
    if (!sub.ok()) {
      ctx_.ex->warnings.push_back(where + " not indexed: " + sub.status().ToString());
      ++ctx_.ex->failed_parts;
      return Status::OK();
    }
    for (std::string& w : sub->warnings) ctx_.ex->warnings.push_back(where + ": " + w);
    ctx_.ex->replaced += sub->replaced;
    ctx_.ex->failed_parts += sub->failed_parts;
    for (Document& c : sub->documents) {
      if (c.parent_id.empty()) c.parent_id = st->id;
      c.metadata["filename"] = {Shorten(filename.empty() ? shown : filename, 200)};
      c.metadata["content_type"] = {type + "/" + subtype};
      if (c.title.empty()) c.title = shown;
      out_->push_back(std::move(c));
    }
    return Status::OK();
  }

  Result<Extraction> ExtractAttachment(const std::string& format, const std::string& bytes, GMimeObject* obj,
                                       const std::string& name, const std::string& id) {
    if (format == "text" || format == "markdown") {
      Extraction ex;
      ex.format = "text";
      Decoded d = DecodeToUtf8(bytes, Param(obj, "charset"));
      ex.replaced = d.replaced;
      if (!d.note.empty()) ex.warnings.push_back(d.note);
      Document doc;
      doc.id = id;
      doc.title = name;
      doc.text = std::move(d.text);
      ex.documents.push_back(std::move(doc));
      return ex;
    }
    if (format == "html") {
      Extraction ex;
      ex.format = "html";
      HtmlPage page;
      FB_RETURN_IF_ERROR(HtmlToText(bytes, Param(obj, "charset"), ctx_.options, &page, &ex));
      Document doc;
      doc.id = id;
      doc.kind = DocKind::kWebPage;
      doc.title = page.title.empty() ? name : page.title;
      doc.text = std::move(page.text);
      doc.metadata = std::move(page.metadata);
      ex.documents.push_back(std::move(doc));
      return ex;
    }
    if (format == "mail" || format == "mbox") {
      // An attached .eml: parsed here so its depth and parts count against
      // this file's limits.
      return ParseNested(bytes, id);
    }
    return ExtractBytes(bytes, name, id, ctx_.options);
  }

  Result<Extraction> ParseNested(const std::string& bytes, const std::string& id);

  void Note(const Decoded& d, const std::string& id) {
    ctx_.ex->replaced += d.replaced;
    if (!d.note.empty()) ctx_.ex->warnings.push_back(id + ": " + d.note);
    if (d.replaced > 0) {
      ctx_.ex->warnings.push_back(fmt::format(
          FMT_STRING("{}: {} undecodable byte sequences replaced by U+FFFD"), id, d.replaced));
    }
  }

  Context& ctx_;
  std::vector<Document>* out_;
};

// Parses the next message of `parser` into *out. Corruption when GMime finds none.
Status ParseOne(GMimeParser* parser, Context& ctx, ParseIssues* issues, const std::string& id,
                const std::string& parent_id, std::vector<Document>* out) {
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser, ctx.parser_options));
  if (!msg) return Status::Corruption("not a mail message (no header block found)");
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(msg.get()));
  if (!headers || g_mime_header_list_get_count(headers) == 0) {
    return Status::Corruption("not a mail message (no header fields)");
  }
  MessageWalker walker(ctx, out);
  size_t first = out->size();
  Status s = walker.Message(msg.get(), id, parent_id, 0, true);
  // GMime calls a message that ends inside its header block truncated; with
  // no body at all, nothing was lost.
  if (s.ok() && out->size() == first + 1 && (*out)[first].text.empty() && !(*out)[first].metadata.count("attachment")) {
    issues->seen.erase(GMIME_WARN_TRUNCATED_MESSAGE);
  }
  ReportIssues(*issues, id, &ctx.ex->warnings);
  // Raw 8-bit header values GMime passes through undecoded (an attachment's
  // file name, Message-ID, Date) are read as header text is: UTF-8 when
  // valid, else windows-1252 — never left as invalid UTF-8.
  for (size_t i = first; i < out->size(); ++i) {
    Document& d = (*out)[i];
    auto repair = [&](std::string* v) {
      if (!IsValidUtf8(*v)) *v = DecodeToUtf8(*v, "").text;
    };
    repair(&d.title);
    repair(&d.text);
    for (auto& [field, values] : d.metadata) {
      for (std::string& v : values) repair(&v);
    }
  }
  return s;
}

Result<Extraction> MessageWalker::ParseNested(const std::string& bytes, const std::string& id) {
  Extraction ex;
  ex.format = "mail";
  ParseIssues issues;
  Context nested{ctx_.options, ctx_.parser_options, &ex, ctx_.parts};
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  Status s = ParseOne(parser.get(), nested, &issues, id, "", &ex.documents);
  ctx_.parts = nested.parts;
  if (!s.ok()) return s;
  return ex;
}

// An .eml may start with an mbox "From " envelope line: not a header.
std::string_view SkipEnvelope(std::string_view bytes) {
  if (bytes.substr(0, 5) == "From ") {
    size_t nl = bytes.find('\n');
    return nl == std::string_view::npos ? std::string_view() : bytes.substr(nl + 1);
  }
  return bytes;
}

}  // namespace

Result<Extraction> ExtractMail(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options) {
  EnsureGMime();
  Extraction ex;
  ex.format = "mail";
  bytes = SkipEnvelope(bytes);
  if (bytes.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Status::Corruption("empty mail file");
  }
  FB_RETURN_IF_ERROR(PrescanHeaders(bytes, options));
  ParseIssues issues;
  std::unique_ptr<GMimeParserOptions, OptionsFree> popts(NewParserOptions(&issues));
  Context ctx{options, popts.get(), &ex};
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  std::vector<Document> docs;
  Status s = ParseOne(parser.get(), ctx, &issues, id, "", &docs);
  // The warnings carry the document id; for a single message the file name says it.
  if (!s.ok()) return s;
  ex.documents = std::move(docs);
  if (ex.documents.empty()) return Status::Corruption("no message found");
  if (ex.documents[0].title.empty()) ex.documents[0].title = name;
  return ex;
}

Result<Extraction> ExtractMbox(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options) {
  EnsureGMime();
  Extraction ex;
  ex.format = "mbox";
  ParseIssues issues;
  std::unique_ptr<GMimeParserOptions, OptionsFree> popts(NewParserOptions(&issues));
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MBOX);
  uint32_t n = 0, ok = 0;
  while (!g_mime_parser_eos(parser.get())) {
    ++n;
    std::string msg_id = fmt::format(FMT_STRING("{}/msg-{}"), id, n);
    issues.seen.clear();
    Context ctx{options, popts.get(), &ex};  // limits are per message
    std::vector<Document> docs;
    Status s = ParseOne(parser.get(), ctx, &issues, msg_id, "", &docs);
    if (!s.ok()) {
      if (n == 1 && s.IsCorruption()) return Status::Corruption("not an mbox: " + s.message());
      if (s.IsCorruption()) break;  // nothing more GMime can find
      ex.warnings.push_back(msg_id + " skipped: " + s.ToString());
      ++ex.failed_parts;
      continue;
    }
    ++ok;
    for (Document& d : docs) ex.documents.push_back(std::move(d));
  }
  if (ok == 0) return Status::Corruption("no readable message in the mbox");
  return ex;
}

}  // namespace foldback::ingest
