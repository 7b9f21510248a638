// Outlook .msg (MS-OXMSG): MAPI properties in a compound file, read into a
// MsgMessage and then into Documents.
#include "foldback/msg.h"

#include <algorithm>

#include <fmt/format.h>

#include "msg/cfb.h"
#include "msg/codepage.h"
#include "text/utf8.h"

namespace foldback {
namespace {

// Property ids (MS-OXPROPS).
enum : uint16_t {
  kMessageClass = 0x001A,
  kSubject = 0x0037,
  kClientSubmitTime = 0x0039,
  kSentRepresentingName = 0x0042,
  kSentRepresentingAddrType = 0x0064,
  kSentRepresentingEmail = 0x0065,
  kTransportHeaders = 0x007D,
  kRecipientType = 0x0C15,
  kSenderName = 0x0C1A,
  kSenderAddrType = 0x0C1E,
  kSenderEmail = 0x0C1F,
  kDeliveryTime = 0x0E06,
  kNormalizedSubject = 0x0E1D,
  kBody = 0x1000,
  kRtfCompressed = 0x1009,
  kHtml = 0x1013,
  kInternetMessageId = 0x1035,
  kInternetReferences = 0x1039,
  kInReplyTo = 0x1042,
  kDisplayName = 0x3001,
  kAddrType = 0x3002,
  kEmailAddress = 0x3003,
  kAttachDataBin = 0x3701,
  kAttachFilename = 0x3704,
  kAttachMethod = 0x3705,
  kAttachLongFilename = 0x3707,
  kAttachMimeTag = 0x370E,
  kAttachContentId = 0x3712,
  kSmtpAddress = 0x39FE,
  kInternetCpid = 0x3FDE,
  kMessageCodepage = 0x3FFD,
  kSenderSmtp = 0x5D01,
  kSentRepresentingSmtp = 0x5D02,
  kAttachmentHidden = 0x7FFE,
};

constexpr uint16_t kTypeLong = 0x0003;
constexpr uint16_t kTypeBool = 0x000B;
constexpr uint16_t kTypeSysTime = 0x0040;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool StartsWithCi(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == Lower(prefix);
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// FILETIME (100 ns since 1601) to "YYYY-MM-DDTHH:MM:SSZ"; "" when absent or absurd.
std::string FileTimeIso(uint64_t ft) {
  if (ft == 0) return "";
  int64_t secs = static_cast<int64_t>(ft / 10000000ull) - 11644473600ll;
  if (secs < -62135596800ll || secs > 253402300799ll) return "";  // years 1..9999
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  // Civil from days (H. Hinnant).
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  return fmt::format(FMT_STRING("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z"), y, m, d, rem / 3600,
                     rem / 60 % 60, rem % 60);
}

// A header field's unfolded value from raw RFC 5322 header text ("" when absent).
std::string HeaderField(std::string_view headers, std::string_view name) {
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t nl = headers.find('\n', pos);
    size_t end = nl == std::string_view::npos ? headers.size() : nl;
    std::string_view line = headers.substr(pos, end - pos);
    if (line.empty() || line == "\r") break;
    if (line.size() > name.size() && line[name.size()] == ':' && StartsWithCi(line, name)) {
      std::string value(line.substr(name.size() + 1));
      size_t p = end + 1;
      while (p < headers.size() && (headers[p] == ' ' || headers[p] == '\t')) {
        size_t n2 = headers.find('\n', p);
        size_t e2 = n2 == std::string_view::npos ? headers.size() : n2;
        value.append(" ").append(Trim(headers.substr(p, e2 - p)));
        p = e2 + 1;
      }
      return Trim(value);
    }
    pos = end + 1;
  }
  return "";
}

bool IsSmtp(std::string_view addrtype, std::string_view address) {
  if (address.empty()) return false;
  if (Lower(addrtype) == "smtp") return true;
  return addrtype.empty() && address.find('@') != std::string_view::npos && address[0] != '/';
}

struct Context {
  msg::CompoundFile* cf;
  const MsgOptions& options;
  uint32_t attachments = 0;
};

// The properties of one storage (message, recipient or attachment).
class Props {
 public:
  Props(Context& ctx, uint32_t storage, uint32_t codepage) : ctx_(ctx), storage_(storage), codepage_(codepage) {}

  // Reads the fixed-size values of "__properties_version1.0" (header of
  // `header_bytes`). Missing stream: Corruption when `required`.
  Status Load(size_t header_bytes, bool required) {
    int64_t idx = ctx_.cf->Find(storage_, "__properties_version1.0");
    if (idx < 0) {
      if (required) return Status::Corruption("not an Outlook message: no __properties_version1.0 stream");
      return Status::OK();
    }
    auto data = ctx_.cf->Read(static_cast<uint32_t>(idx));
    if (!data.ok()) return data.status();
    stream_ = std::move(data.value());
    if (stream_.size() < header_bytes) {
      return Status::Corruption(fmt::format(
          FMT_STRING("the property stream is {} bytes, shorter than its header"), stream_.size()));
    }
    header_ = header_bytes;
    return Status::OK();
  }

  void set_codepage(uint32_t cp) { codepage_ = cp; }

  // A fixed-size property's 8-byte value, if present with that type.
  bool Fixed(uint16_t id, uint16_t type, uint64_t* value) const {
    for (size_t at = header_; at + 16 <= stream_.size(); at += 16) {
      uint32_t tag = U32(at);
      if ((tag >> 16) == id && (tag & 0xFFFF) == type) {
        *value = U32(at + 8) | (static_cast<uint64_t>(U32(at + 12)) << 32);
        return true;
      }
    }
    return false;
  }

  // The stream "__substg1.0_IIIITTTT", if present.
  Result<std::string> Stream(uint16_t id, uint16_t type, bool* found) const {
    std::string name = fmt::format(FMT_STRING("__substg1.0_{:04X}{:04X}"), id, type);
    int64_t idx = ctx_.cf->Find(storage_, name);
    *found = idx >= 0 && ctx_.cf->entry(static_cast<uint32_t>(idx)).type == msg::CompoundFile::Type::kStream;
    if (!*found) return std::string();
    return ctx_.cf->Read(static_cast<uint32_t>(idx));
  }

  // A string property (PT_UNICODE, else PT_STRING8 in the code page).
  Result<std::string> String(uint16_t id, uint64_t* replaced) const {
    bool found = false;
    auto w = Stream(id, 0x001F, &found);
    if (!w.ok()) return w.status();
    if (found) {
      std::string_view v = *w;
      while (v.size() >= 2 && v[v.size() - 1] == 0 && v[v.size() - 2] == 0) v.remove_suffix(2);
      return msg::DecodeUtf16Le(v, replaced);
    }
    auto a = Stream(id, 0x001E, &found);
    if (!a.ok()) return a.status();
    std::string_view v = *a;
    while (!v.empty() && v.back() == 0) v.remove_suffix(1);
    return msg::DecodeCodepage(v, codepage_, replaced);
  }

  uint32_t storage() const { return storage_; }

 private:
  uint32_t U32(size_t at) const {
    return static_cast<uint32_t>(static_cast<unsigned char>(stream_[at])) |
           (static_cast<uint32_t>(static_cast<unsigned char>(stream_[at + 1])) << 8) |
           (static_cast<uint32_t>(static_cast<unsigned char>(stream_[at + 2])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(stream_[at + 3])) << 24);
  }

  Context& ctx_;
  uint32_t storage_;
  uint32_t codepage_;
  std::string stream_;
  size_t header_ = 0;
};

// Children of `storage` whose names start with `prefix`, in name order.
std::vector<uint32_t> ChildrenWithPrefix(const msg::CompoundFile& cf, uint32_t storage, std::string_view prefix) {
  std::vector<uint32_t> out;
  for (uint32_t c : cf.entry(storage).children) {
    if (cf.entry(c).type == msg::CompoundFile::Type::kStorage && StartsWithCi(cf.entry(c).name, prefix)) {
      out.push_back(c);
    }
  }
  std::sort(out.begin(), out.end(),
            [&](uint32_t a, uint32_t b) { return Lower(cf.entry(a).name) < Lower(cf.entry(b).name); });
  return out;
}

#define FB_ASSIGN_STRING(lhs, expr)       \
  do {                                    \
    auto _r = (expr);                     \
    if (!_r.ok()) return _r.status();     \
    lhs = std::move(_r.value());          \
  } while (0)

Status ReadMessage(Context& ctx, uint32_t storage, uint32_t depth, MsgMessage* m);

Status ReadRecipients(Context& ctx, uint32_t storage, MsgMessage* m) {
  std::vector<uint32_t> recips = ChildrenWithPrefix(*ctx.cf, storage, "__recip_version1.0_");
  if (recips.size() > ctx.options.max_recipients) {
    return Status::OutOfRange(fmt::format(FMT_STRING("{} recipients (limit {})"), recips.size(),
                                          ctx.options.max_recipients));
  }
  for (uint32_t r : recips) {
    Props p(ctx, r, m->codepage);
    FB_RETURN_IF_ERROR(p.Load(8, false));
    MsgRecipient rec;
    uint64_t type = 1;
    p.Fixed(kRecipientType, kTypeLong, &type);
    type &= 0x0FFFFFFF;  // MAPI_P1 and MAPI_SUBMITTED are flags above the type
    rec.type = type == 2 ? "cc" : type == 3 ? "bcc" : "to";
    FB_ASSIGN_STRING(rec.name, p.String(kDisplayName, &m->replaced));
    std::string smtp, email, addrtype;
    FB_ASSIGN_STRING(smtp, p.String(kSmtpAddress, &m->replaced));
    FB_ASSIGN_STRING(email, p.String(kEmailAddress, &m->replaced));
    FB_ASSIGN_STRING(addrtype, p.String(kAddrType, &m->replaced));
    rec.address = Trim(smtp);
    if (rec.address.empty() && IsSmtp(addrtype, email)) rec.address = Trim(email);
    m->recipients.push_back(std::move(rec));
  }
  return Status::OK();
}

Status ReadAttachments(Context& ctx, uint32_t storage, uint32_t depth, MsgMessage* m) {
  for (uint32_t a : ChildrenWithPrefix(*ctx.cf, storage, "__attach_version1.0_")) {
    if (++ctx.attachments > ctx.options.max_attachments) {
      return Status::OutOfRange(
          fmt::format(FMT_STRING("more than {} attachments"), ctx.options.max_attachments));
    }
    Props p(ctx, a, m->codepage);
    FB_RETURN_IF_ERROR(p.Load(8, false));
    MsgAttachment att;
    FB_ASSIGN_STRING(att.filename, p.String(kAttachLongFilename, &m->replaced));
    if (Trim(att.filename).empty()) FB_ASSIGN_STRING(att.filename, p.String(kAttachFilename, &m->replaced));
    if (Trim(att.filename).empty()) FB_ASSIGN_STRING(att.filename, p.String(kDisplayName, &m->replaced));
    att.filename = Trim(att.filename);
    std::string mime;
    FB_ASSIGN_STRING(mime, p.String(kAttachMimeTag, &m->replaced));
    att.mime_type = Lower(Trim(mime));
    FB_ASSIGN_STRING(att.content_id, p.String(kAttachContentId, &m->replaced));
    uint64_t hidden = 0;
    att.hidden = p.Fixed(kAttachmentHidden, kTypeBool, &hidden) && (hidden & 0xFF) != 0;
    uint64_t method = 1;
    p.Fixed(kAttachMethod, kTypeLong, &method);
    int64_t obj = ctx.cf->Find(a, "__substg1.0_3701000D");
    bool embedded = obj >= 0 && ctx.cf->entry(static_cast<uint32_t>(obj)).type == msg::CompoundFile::Type::kStorage &&
                    ctx.cf->Find(static_cast<uint32_t>(obj), "__properties_version1.0") >= 0;
    if (embedded) {
      if (depth + 1 > ctx.options.max_depth) {
        return Status::OutOfRange(fmt::format(FMT_STRING("embedded messages nested deeper than {}"),
                                              ctx.options.max_depth));
      }
      auto inner = std::make_shared<MsgMessage>();
      Status s = ReadMessage(ctx, static_cast<uint32_t>(obj), depth + 1, inner.get());
      if (s.IsNotSupported() || s.IsCorruption()) {
        // A protected or broken embedded message: the rest of the file is fine.
        m->warnings.push_back("embedded message '" + att.filename + "' not read: " + s.ToString());
      } else if (!s.ok()) {
        return s;
      } else {
        m->replaced += inner->replaced;
        att.message = std::move(inner);
      }
    } else if (method != 5) {
      bool found = false;
      auto data = p.Stream(kAttachDataBin, 0x0102, &found);
      if (!data.ok()) return data.status();
      att.data = std::move(data.value());
    }
    m->attachments.push_back(std::move(att));
  }
  return Status::OK();
}

Status ReadMessage(Context& ctx, uint32_t storage, uint32_t depth, MsgMessage* m) {
  Props p(ctx, storage, 1252);
  FB_RETURN_IF_ERROR(p.Load(depth == 0 ? 32 : 24, true));
  uint64_t cp = 0;
  uint64_t internet_cp = 0;
  bool has_internet_cp = p.Fixed(kInternetCpid, kTypeLong, &internet_cp);
  if (p.Fixed(kMessageCodepage, kTypeLong, &cp) || has_internet_cp) {
    uint32_t chosen = static_cast<uint32_t>(cp != 0 ? cp : internet_cp);
    if (chosen == 0) chosen = 1252;
    if (!msg::CodepageSupported(chosen)) {
      m->warnings.push_back(fmt::format(
          FMT_STRING("code page {} is not supported; ANSI text read as windows-1252"), chosen));
      chosen = 1252;
    }
    m->codepage = chosen;
  }
  p.set_codepage(m->codepage);
  FB_ASSIGN_STRING(m->message_class, p.String(kMessageClass, &m->replaced));
  std::string cls = Lower(Trim(m->message_class));
  if (StartsWithCi(cls, "ipm.note.smime") || StartsWithCi(cls, "ipm.note.secure")) {
    return Status::NotSupported("a signed or encrypted message (message class " + Trim(m->message_class) +
                                "): its content is not read");
  }
  FB_ASSIGN_STRING(m->subject, p.String(kSubject, &m->replaced));
  if (m->subject.empty()) FB_ASSIGN_STRING(m->subject, p.String(kNormalizedSubject, &m->replaced));
  m->subject = Trim(m->subject);

  std::string rep_name, rep_smtp, rep_email, rep_type, snd_name, snd_smtp, snd_email, snd_type;
  FB_ASSIGN_STRING(rep_name, p.String(kSentRepresentingName, &m->replaced));
  FB_ASSIGN_STRING(rep_smtp, p.String(kSentRepresentingSmtp, &m->replaced));
  FB_ASSIGN_STRING(rep_email, p.String(kSentRepresentingEmail, &m->replaced));
  FB_ASSIGN_STRING(rep_type, p.String(kSentRepresentingAddrType, &m->replaced));
  FB_ASSIGN_STRING(snd_name, p.String(kSenderName, &m->replaced));
  FB_ASSIGN_STRING(snd_smtp, p.String(kSenderSmtp, &m->replaced));
  FB_ASSIGN_STRING(snd_email, p.String(kSenderEmail, &m->replaced));
  FB_ASSIGN_STRING(snd_type, p.String(kSenderAddrType, &m->replaced));
  m->from_name = Trim(!Trim(rep_name).empty() ? rep_name : snd_name);
  if (!Trim(rep_smtp).empty()) {
    m->from_address = Trim(rep_smtp);
  } else if (IsSmtp(rep_type, Trim(rep_email))) {
    m->from_address = Trim(rep_email);
  } else if (!Trim(snd_smtp).empty()) {
    m->from_address = Trim(snd_smtp);
  } else if (IsSmtp(snd_type, Trim(snd_email))) {
    m->from_address = Trim(snd_email);
  }

  uint64_t t = 0;
  if (p.Fixed(kClientSubmitTime, kTypeSysTime, &t)) m->submit_time = FileTimeIso(t);
  if (p.Fixed(kDeliveryTime, kTypeSysTime, &t)) m->delivery_time = FileTimeIso(t);
  FB_ASSIGN_STRING(m->message_id, p.String(kInternetMessageId, &m->replaced));
  FB_ASSIGN_STRING(m->in_reply_to, p.String(kInReplyTo, &m->replaced));
  FB_ASSIGN_STRING(m->references, p.String(kInternetReferences, &m->replaced));
  // Received mail keeps its internet header: what the properties lack.
  std::string headers;
  FB_ASSIGN_STRING(headers, p.String(kTransportHeaders, &m->replaced));
  if (!headers.empty()) {
    if (Trim(m->message_id).empty()) m->message_id = HeaderField(headers, "Message-ID");
    if (Trim(m->in_reply_to).empty()) m->in_reply_to = HeaderField(headers, "In-Reply-To");
    if (Trim(m->references).empty()) m->references = HeaderField(headers, "References");
  }
  m->message_id = Trim(m->message_id);
  m->in_reply_to = Trim(m->in_reply_to);
  m->references = Trim(m->references);

  FB_ASSIGN_STRING(m->body, p.String(kBody, &m->replaced));
  // PR_HTML: binary in the internet code page, or a string.
  bool found = false;
  auto html_bin = p.Stream(kHtml, 0x0102, &found);
  if (!html_bin.ok()) return html_bin.status();
  if (found) {
    uint32_t hcp = has_internet_cp && msg::CodepageSupported(static_cast<uint32_t>(internet_cp))
                       ? static_cast<uint32_t>(internet_cp)
                       : m->codepage;
    std::string_view v = *html_bin;
    while (!v.empty() && v.back() == 0) v.remove_suffix(1);
    m->html = msg::DecodeCodepage(v, hcp, &m->replaced);
  } else {
    FB_ASSIGN_STRING(m->html, p.String(kHtml, &m->replaced));
  }
  auto rtf = p.Stream(kRtfCompressed, 0x0102, &found);
  if (!rtf.ok()) return rtf.status();
  if (found && !rtf->empty()) {
    bool crc_ok = true;
    auto raw = DecompressRtf(*rtf, ctx.options.max_rtf_bytes, &crc_ok);
    if (!raw.ok()) {
      m->warnings.push_back("RTF body not read: " + raw.status().ToString());
    } else {
      if (!crc_ok) m->warnings.push_back("the compressed RTF body fails its CRC; read anyway");
      m->rtf = std::move(raw.value());
      std::string html;
      std::string text = RtfToText(m->rtf, &html);
      if (!html.empty()) {
        if (m->html.empty()) m->html = std::move(html);
      } else {
        m->rtf_text = std::move(text);
      }
    }
  }

  FB_RETURN_IF_ERROR(ReadRecipients(ctx, storage, m));
  return ReadAttachments(ctx, storage, depth, m);
}

std::string Shorten(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  return std::string(text::TruncateUtf8(s, max_bytes)) + "...";
}

// "<a@b> <c@d>" -> {"a@b", "c@d"}; a bare id is kept as one.
std::vector<std::string> MessageIds(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (out.size() < 1000) {
    size_t lt = s.find('<', pos);
    if (lt == std::string_view::npos) break;
    size_t gt = s.find('>', lt);
    if (gt == std::string_view::npos) break;
    std::string id = Trim(s.substr(lt + 1, gt - lt - 1));
    if (!id.empty()) out.push_back(Shorten(id, 300));
    pos = gt + 1;
  }
  if (out.empty() && !Trim(s).empty()) out.push_back(Shorten(Trim(s), 300));
  return out;
}

std::string NormalizeText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 < s.size() && s[i + 1] == '\n') continue;
      out.push_back('\n');
      continue;
    }
    out.push_back(s[i]);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ' || out.back() == '\t')) out.pop_back();
  size_t start = 0;
  while (start < out.size() && (out[start] == '\n' || out[start] == ' ' || out[start] == '\t')) ++start;
  return out.substr(start);
}

bool Blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

void Walk(const MsgMessage& m, const std::string& title_fallback, const std::string& id, const std::string& parent_id,
          const MsgOptions& options, MsgExtraction* ex) {
  size_t doc_index = ex->documents.size();
  {
    Document d;
    d.id = id;
    d.parent_id = parent_id;
    d.kind = DocKind::kEmail;
    d.title = Shorten(m.subject.empty() ? title_fallback : m.subject, 500);
    if (!Blank(m.body)) {
      d.text = NormalizeText(m.body);
    } else if (!Blank(m.html)) {
      d.text = NormalizeText(MsgHtmlToText(m.html));
    } else {
      d.text = NormalizeText(m.rtf_text);
    }
    uint64_t dropped = 0;
    if (!m.from_address.empty()) d.metadata["from"] = {Lower(m.from_address)};
    if (!m.from_name.empty()) d.metadata["from_name"] = {Shorten(m.from_name, 200)};
    for (const MsgRecipient& r : m.recipients) {
      if (r.address.empty()) continue;
      auto& values = d.metadata[r.type];
      if (values.size() >= options.max_addresses_kept) {
        ++dropped;
        continue;
      }
      values.push_back(Lower(r.address));
    }
    if (dropped > 0) {
      ex->warnings.push_back(fmt::format(
          FMT_STRING("{}: {} addresses beyond the first {} per field not kept as metadata"), id,
          dropped, options.max_addresses_kept));
    }
    const std::string& when = !m.submit_time.empty() ? m.submit_time : m.delivery_time;
    if (!when.empty()) {
      d.metadata["sent"] = {when};
      d.metadata["date"] = {when.substr(0, 10)};
    }
    if (!m.delivery_time.empty()) d.metadata["received"] = {m.delivery_time};
    if (!m.message_id.empty()) d.metadata["message_id"] = MessageIds(m.message_id);
    if (!m.in_reply_to.empty()) d.metadata["in_reply_to"] = MessageIds(m.in_reply_to);
    if (!m.references.empty()) d.metadata["references"] = MessageIds(m.references);
    for (const std::string& w : m.warnings) ex->warnings.push_back(id + ": " + w);
    ex->documents.push_back(std::move(d));
  }
  std::vector<std::string> names;
  int no = 0;
  for (const MsgAttachment& a : m.attachments) {
    ++no;
    if (a.message) {
      std::string name = !a.filename.empty() ? a.filename
                         : !a.message->subject.empty() ? a.message->subject + ".msg"
                                                       : "message.msg";
      names.push_back(Shorten(name, 200));
      std::string child = fmt::format(FMT_STRING("{}/att-{}-{}"), id, no, MsgIdSafeName(name));
      size_t first = ex->documents.size();
      Walk(*a.message, name, child, id, options, ex);
      // Children inherit the message's sender and date, as .eml attachments do.
      Document& parent = ex->documents[doc_index];
      Document& c = ex->documents[first];
      for (const char* f : {"from", "date", "sent"}) {
        auto it = parent.metadata.find(f);
        if (it != parent.metadata.end() && !c.metadata.count(f)) c.metadata[f] = it->second;
      }
      continue;
    }
    if (a.data.empty()) {
      if (!a.filename.empty()) names.push_back(Shorten(a.filename, 200));
      continue;
    }
    if (a.hidden && a.filename.empty()) continue;  // an inline image of the HTML body
    std::string shown = a.filename.empty()
                            ? "(unnamed " + (a.mime_type.empty() ? std::string("attachment") : a.mime_type) + ")"
                            : Shorten(a.filename, 200);
    names.push_back(shown);
    MsgAttachmentFile f;
    std::string base = a.filename.empty() ? (a.mime_type.empty() ? std::string("attachment") : a.mime_type) : a.filename;
    f.id = fmt::format(FMT_STRING("{}/att-{}-{}"), id, no, MsgIdSafeName(base));
    f.parent_id = id;
    f.filename = shown;
    f.mime_type = a.mime_type;
    f.data = a.data;
    const Document& parent = ex->documents[doc_index];
    for (const char* field : {"from", "date", "sent"}) {
      auto it = parent.metadata.find(field);
      if (it != parent.metadata.end()) f.inherited[field] = it->second;
    }
    ex->attachments.push_back(std::move(f));
  }
  if (!names.empty()) ex->documents[doc_index].metadata["attachment"] = std::move(names);
}

}  // namespace

std::string MsgIdSafeName(std::string_view name) {
  std::string out;
  for (char c : text::TruncateUtf8(name, 80)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(c == '/' || c == '\\' || c == '#' || u < 0x20 || u == 0x7F ? '_' : c);
  }
  return out;
}

Result<MsgMessage> ParseMsg(std::string_view bytes, const MsgOptions& options) {
  if (bytes.size() > options.max_file_bytes) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("larger than {} bytes"), options.max_file_bytes));
  }
  msg::CfbLimits limits;
  limits.max_directory_entries = options.max_directory_entries;
  limits.max_stream_bytes = options.max_stream_bytes;
  limits.max_total_bytes = options.max_total_bytes;
  auto cf = msg::CompoundFile::Open(bytes, limits);
  if (!cf.ok()) return cf.status();
  Context ctx{&cf.value(), options};
  MsgMessage m;
  FB_RETURN_IF_ERROR(ReadMessage(ctx, cf->root(), 0, &m));
  return m;
}

Result<MsgExtraction> MsgToDocuments(std::string_view bytes, const std::string& name, const std::string& id,
                                     const MsgOptions& options) {
  auto m = ParseMsg(bytes, options);
  if (!m.ok()) return m.status();
  MsgExtraction ex;
  Walk(*m, name, id, "", options, &ex);
  ex.replaced = m->replaced;
  // What leaves is valid UTF-8 without NUL (decoders replaced what they could not read).
  auto repair = [&](std::string* v) {
    if (!text::IsValidUtf8(*v)) {
      uint32_t n = 0;
      *v = text::RepairUtf8(*v, &n);
      ex.replaced += n;
    }
  };
  for (Document& d : ex.documents) {
    repair(&d.title);
    repair(&d.text);
    repair(&d.parent_id);
    repair(&d.id);
    for (auto& [field, values] : d.metadata) {
      for (std::string& v : values) repair(&v);
    }
  }
  for (MsgAttachmentFile& f : ex.attachments) {
    repair(&f.filename);
    repair(&f.id);
    repair(&f.parent_id);
  }
  for (std::string& w : ex.warnings) repair(&w);
  return ex;
}

}  // namespace foldback
