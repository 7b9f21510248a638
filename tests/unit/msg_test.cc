// Outlook .msg: the core's reader (foldback/msg.h — compound file, MAPI
// properties, compressed RTF, HTML text) on generated files for every
// property (tests/data/msg/generated, written by make_msg.py), a real
// Outlook message (tests/data/msg/mail-parser), and broken or hostile files;
// and the native extractor around it (attachments through the host's
// extractors, as for .eml).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "foldback/msg.h"
#include "ingest/extract.h"
#include "ingest_test_util.h"
#include "text/utf8.h"

namespace foldback {
namespace {

const std::string kMsg = std::string(FOLDBACK_TEST_DATA) + "/msg";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Gen(const std::string& name) { return Slurp(kMsg + "/generated/" + name); }

const std::vector<std::string>& Field(const Document& d, const std::string& name) {
  static const std::vector<std::string> kNone;
  auto it = d.metadata.find(name);
  return it == d.metadata.end() ? kNone : it->second;
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const Document* ById(const std::vector<Document>& docs, const std::string& id) {
  for (const Document& d : docs) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

TEST(Msg, EveryPropertyOfAUnicodeMessage) {
  for (const char* file : {"all_properties.msg", "all_properties_v4.msg"}) {
    SCOPED_TRACE(file);
    auto m = ParseMsg(Gen(file));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->message_class, "IPM.Note");
    EXPECT_EQ(m->subject, "Übernahme – Entwurf SPA §4");
    // The author: PR_SENT_REPRESENTING_*, its SMTP address over its Exchange one.
    EXPECT_EQ(m->from_name, "Alice Ärger");
    EXPECT_EQ(m->from_address, "Alice.Aerger@LawFirm.example");
    ASSERT_EQ(m->recipients.size(), 5u);
    EXPECT_EQ(m->recipients[0].type, "to");
    EXPECT_EQ(m->recipients[0].name, "Bob Buyer");
    EXPECT_EQ(m->recipients[0].address, "Bob@Client.example");  // PR_EMAIL_ADDRESS of type SMTP
    EXPECT_EQ(m->recipients[1].address, "exch.person@lawfirm.example");  // PR_SMTP_ADDRESS over EX
    EXPECT_EQ(m->recipients[2].type, "cc");
    EXPECT_EQ(m->recipients[3].type, "bcc");
    EXPECT_EQ(m->recipients[4].address, "");  // only an X.500 address
    EXPECT_EQ(m->submit_time, "2023-11-05T14:30:15Z");
    EXPECT_EQ(m->delivery_time, "2023-11-05T14:31:02Z");
    EXPECT_EQ(m->message_id, "<abc-123@lawfirm.example>");
    EXPECT_EQ(m->in_reply_to, "<prev-1@client.example>");
    EXPECT_EQ(m->references, "<root-0@client.example> <prev-1@client.example>");
    EXPECT_TRUE(Contains(m->body, "share purchase agreement (€ 2.5m)"));
    EXPECT_TRUE(Contains(m->html, "<p>HTML body: indemnity &amp; escrow</p>"));
    EXPECT_EQ(m->rtf, "{\\rtf1\\ansi\\ansicpg1252 RTF body\\par}");
    EXPECT_EQ(m->rtf_text, "RTF body");
    ASSERT_EQ(m->attachments.size(), 5u);
    EXPECT_EQ(m->attachments[0].filename, "notes.txt");  // the long name over NOTES~1.TXT
    EXPECT_EQ(m->attachments[0].mime_type, "text/plain");
    EXPECT_TRUE(Contains(m->attachments[0].data, "Closing checklist"));
    EXPECT_TRUE(m->attachments[1].hidden);
    EXPECT_EQ(m->attachments[1].content_id, "img1@x");
    ASSERT_NE(m->attachments[3].message, nullptr);
    const MsgMessage& inner = *m->attachments[3].message;
    EXPECT_EQ(inner.subject, "Fwd: Meridian escrow terms");
    EXPECT_EQ(inner.from_address, "carol@lawfirm.example");
    EXPECT_EQ(inner.submit_time, "2024-02-29T23:59:58Z");  // a leap day
    ASSERT_EQ(inner.attachments.size(), 1u);
    EXPECT_EQ(inner.attachments[0].filename, "inner-notes.txt");
    // 200 lines: a stream of the regular sectors, not the mini stream.
    EXPECT_GT(m->attachments[4].data.size(), 4096u);
    EXPECT_TRUE(m->warnings.empty());
    EXPECT_EQ(m->replaced, 0u);
  }
}

TEST(Msg, DocumentsAsForEml) {
  auto ex = MsgToDocuments(Gen("all_properties.msg"), "all_properties.msg", "m");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  ASSERT_EQ(ex->documents.size(), 2u);  // the message and its embedded message
  const Document& d = ex->documents[0];
  EXPECT_EQ(d.id, "m");
  EXPECT_EQ(d.kind, DocKind::kEmail);
  EXPECT_EQ(d.title, "Übernahme – Entwurf SPA §4");
  EXPECT_EQ(d.text, "Dear Bob,\n\nplease find the draft share purchase agreement (€ 2.5m) attached.\n\nAlice");
  EXPECT_EQ(Field(d, "from"), std::vector<std::string>{"alice.aerger@lawfirm.example"});
  EXPECT_EQ(Field(d, "from_name"), std::vector<std::string>{"Alice Ärger"});
  EXPECT_EQ(Field(d, "to"), (std::vector<std::string>{"bob@client.example", "exch.person@lawfirm.example"}));
  EXPECT_EQ(Field(d, "cc"), std::vector<std::string>{"cathy@client.example"});
  EXPECT_EQ(Field(d, "bcc"), std::vector<std::string>{"blind@lawfirm.example"});
  EXPECT_EQ(Field(d, "date"), std::vector<std::string>{"2023-11-05"});
  EXPECT_EQ(Field(d, "sent"), std::vector<std::string>{"2023-11-05T14:30:15Z"});
  EXPECT_EQ(Field(d, "received"), std::vector<std::string>{"2023-11-05T14:31:02Z"});
  EXPECT_EQ(Field(d, "message_id"), std::vector<std::string>{"abc-123@lawfirm.example"});
  EXPECT_EQ(Field(d, "in_reply_to"), std::vector<std::string>{"prev-1@client.example"});
  EXPECT_EQ(Field(d, "references"),
            (std::vector<std::string>{"root-0@client.example", "prev-1@client.example"}));
  // Every attachment is listed; the hidden inline image without a name is not.
  EXPECT_EQ(Field(d, "attachment"),
            (std::vector<std::string>{"notes.txt", "memo.html", "Fwd: Meridian escrow terms", "large-exhibit.txt"}));
  const Document& inner = ex->documents[1];
  EXPECT_EQ(inner.id, "m/att-4-Fwd: Meridian escrow terms");
  EXPECT_EQ(inner.parent_id, "m");
  EXPECT_EQ(inner.text, "The escrow releases on closing.\nSee the attached schedule.");
  EXPECT_EQ(Field(inner, "from"), std::vector<std::string>{"carol@lawfirm.example"});
  // Attachments with data, for the host's extractors, with the ids .eml attachments get.
  ASSERT_EQ(ex->attachments.size(), 4u);
  EXPECT_EQ(ex->attachments[0].id, "m/att-1-notes.txt");
  EXPECT_EQ(ex->attachments[0].parent_id, "m");
  EXPECT_EQ(ex->attachments[0].inherited.at("from"), std::vector<std::string>{"alice.aerger@lawfirm.example"});
  EXPECT_EQ(ex->attachments[1].id, "m/att-3-memo.html");
  EXPECT_EQ(ex->attachments[2].id, "m/att-4-Fwd: Meridian escrow terms/att-1-inner-notes.txt");
  EXPECT_EQ(ex->attachments[2].parent_id, "m/att-4-Fwd: Meridian escrow terms");
  EXPECT_EQ(ex->attachments[2].inherited.at("from"), std::vector<std::string>{"carol@lawfirm.example"});
  EXPECT_EQ(ex->attachments[3].id, "m/att-5-large-exhibit.txt");
}

TEST(Msg, AnsiStringsInWindows1252AndTheHtmlBody) {
  auto ex = MsgToDocuments(Gen("ansi_1252.msg"), "ansi_1252.msg", "a");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  const Document& d = ex->documents[0];
  EXPECT_EQ(d.title, "Résumé – clause pénale €");
  EXPECT_EQ(Field(d, "from_name"), std::vector<std::string>{"François Dupont"});
  EXPECT_EQ(Field(d, "from"), std::vector<std::string>{"francois@cabinet.example"});
  EXPECT_EQ(Field(d, "to"), std::vector<std::string>{"zoe@client.example"});
  // No submit time: the delivery time dates it.
  EXPECT_EQ(Field(d, "date"), std::vector<std::string>{"2021-03-01"});
  // No PR_BODY: the HTML body's text, its hidden element left out.
  EXPECT_EQ(d.text, "Présentation du contrat – coût 100 €\n\nFin.");
}

TEST(Msg, AnsiStringsInUtf8) {
  auto m = ParseMsg(Gen("ansi_utf8.msg"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->codepage, 65001u);
  EXPECT_EQ(m->subject, "Договор поставки — 東京");
  EXPECT_EQ(m->from_name, "Ива́н");
  EXPECT_EQ(m->from_address, "ivan@example.ru");  // PR_SENDER_* when nothing represents
  EXPECT_EQ(m->body, "Текст договора: неустойка 5 %.\r\n");
}

TEST(Msg, AnsiStringsInOtherCodePages) {
  auto m = ParseMsg(Gen("ansi_1251.msg"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->codepage, 1251u);
  EXPECT_EQ(m->subject, "Договор № 7 — неустойка");
  EXPECT_EQ(m->from_name, "Пётр");
  EXPECT_EQ(m->body, "Срок поставки: 30 дней.\r\n");
  EXPECT_TRUE(m->warnings.empty());
  // A code page the reader does not know: windows-1252, and a warning.
  auto sj = MsgToDocuments(Gen("ansi_932.msg"), "sj.msg", "sj");
  ASSERT_TRUE(sj.ok()) << sj.status().ToString();
  EXPECT_EQ(sj->documents[0].title, "Plain ASCII subject");
  ASSERT_EQ(sj->warnings.size(), 1u);
  EXPECT_EQ(sj->warnings[0], "sj: code page 932 is not supported; ANSI text read as windows-1252");
}

TEST(Msg, CompressedRtfIsTheBodyWhenNothingElseIs) {
  auto ex = MsgToDocuments(Gen("rtf_only.msg"), "rtf_only.msg", "r");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  EXPECT_TRUE(ex->warnings.empty()) << ex->warnings[0];  // the CRC matched
  EXPECT_EQ(ex->documents[0].text,
            "Force majeure: neither party is liable\nfor delay caused by events beyond its control (café, "
            "€100).\n\tSecond\nline");
}

TEST(Msg, HtmlEncapsulatedInRtf) {
  auto m = ParseMsg(Gen("rtf_html.msg"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(Contains(m->html, "<p>Confidentiality survives termination é</p>")) << m->html;
  EXPECT_FALSE(Contains(m->html, "\\par"));
  EXPECT_TRUE(m->rtf_text.empty());
  auto ex = MsgToDocuments(Gen("rtf_html.msg"), "x.msg", "h");
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->documents[0].text, "Confidentiality survives termination é\n\nTerm: 3 years net");
}

TEST(Msg, SignedAndEncryptedMessagesAreRefused) {
  for (const char* file : {"smime_encrypted.msg", "smime_signed.msg"}) {
    auto m = MsgToDocuments(Gen(file), file, "s");
    ASSERT_FALSE(m.ok()) << file;
    EXPECT_TRUE(m.status().IsNotSupported()) << m.status().ToString();
    EXPECT_TRUE(Contains(m.status().message(), "signed or encrypted")) << m.status().ToString();
    EXPECT_TRUE(Contains(m.status().message(), "IPM.Note.SMIME")) << m.status().ToString();
  }
}

TEST(Msg, EmbeddedMessagesNestWithinTheDepthLimit) {
  auto ok = MsgToDocuments(Gen("nested_3.msg"), "n.msg", "n");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->documents.size(), 4u);  // the message and three levels of embedded messages
  EXPECT_EQ(ok->documents[3].title, "level 3");
  EXPECT_EQ(ok->documents[3].text, "body 3");
  EXPECT_EQ(ok->documents[3].parent_id, ok->documents[2].id);
  MsgOptions o;
  o.max_depth = 16;
  auto deep = MsgToDocuments(Gen("nested_20.msg"), "n.msg", "n", o);
  ASSERT_FALSE(deep.ok());
  EXPECT_TRUE(deep.status().code() == Status::Code::kOutOfRange) << deep.status().ToString();
  EXPECT_TRUE(Contains(deep.status().message(), "nested deeper than 16"));
  o.max_depth = 20;
  auto allowed = MsgToDocuments(Gen("nested_20.msg"), "n.msg", "n", o);
  ASSERT_TRUE(allowed.ok()) << allowed.status().ToString();
  EXPECT_EQ(allowed->documents.size(), 21u);
  EXPECT_TRUE(MsgToDocuments(Gen("nested_20.msg"), "n.msg", "n").ok());  // the default: 100
}

TEST(Msg, DifatChainAndVersion4Sectors) {
  auto m = ParseMsg(Gen("difat.msg"));  // 112 FAT sectors: three past the header's 109
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->body, "A simple body.");
}

TEST(Msg, BrokenFilesAreRefusedClearly) {
  struct Case {
    const char* file;
    Status::Code code;
    const char* says;
  };
  const Case cases[] = {
      {"broken_fat_loop.msg", Status::Code::kCorruption, "chain loops"},
      {"broken_dir_cycle.msg", Status::Code::kCorruption, "directory tree has a cycle"},
      {"broken_huge_size.msg", Status::Code::kOutOfRange, "2147483648 bytes (limit"},
      {"broken_truncated.msg", Status::Code::kCorruption, "truncated"},
      {"broken_not_message.msg", Status::Code::kCorruption, "not an Outlook message"},
      {"broken_garbage.msg", Status::Code::kInvalidArgument, "not an OLE2 compound file"},
      {"broken_header_only.msg", Status::Code::kCorruption, "truncated"},
  };
  for (const Case& c : cases) {
    auto m = MsgToDocuments(Gen(c.file), c.file, "b");
    ASSERT_FALSE(m.ok()) << c.file;
    EXPECT_EQ(m.status().code(), c.code) << c.file << ": " << m.status().ToString();
    EXPECT_TRUE(Contains(m.status().message(), c.says)) << c.file << ": " << m.status().ToString();
  }
  EXPECT_TRUE(MsgToDocuments("", "e.msg", "e").status().IsInvalidArgument());
}

TEST(Msg, LimitsOnStreamsAttachmentsAndTotalWork) {
  std::string bytes = Gen("all_properties.msg");
  MsgOptions o;
  o.max_stream_bytes = 4096;  // the 200-line exhibit is larger
  auto m = ParseMsg(bytes, o);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().code() == Status::Code::kOutOfRange) << m.status().ToString();
  o = MsgOptions();
  o.max_attachments = 3;
  m = ParseMsg(bytes, o);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(Contains(m.status().message(), "more than 3 attachments")) << m.status().ToString();
  o = MsgOptions();
  o.max_total_bytes = 5000;
  m = ParseMsg(bytes, o);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(Contains(m.status().message(), "bytes of streams read in all")) << m.status().ToString();
  o = MsgOptions();
  o.max_file_bytes = 1000;
  EXPECT_TRUE(ParseMsg(bytes, o).status().code() == Status::Code::kOutOfRange);
  o = MsgOptions();
  o.max_rtf_bytes = 10;  // a body that cannot be read is a warning, not a failure
  m = ParseMsg(bytes, o);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->warnings.size(), 1u);
  EXPECT_TRUE(Contains(m->warnings[0], "RTF body not read")) << m->warnings[0];
}

TEST(Msg, EveryTruncationAndByteFlipIsReadOrRefused) {
  // Cut the file everywhere and flip bytes across it: each result is a
  // Status with a message or documents of valid UTF-8 (under ASan + UBSan
  // in the native-asan build).
  std::string bytes = Gen("all_properties.msg");
  auto check = [](const std::string& b) {
    auto ex = MsgToDocuments(b, "f.msg", "f");
    if (!ex.ok()) {
      EXPECT_FALSE(ex.status().message().empty());
      return;
    }
    for (const Document& d : ex->documents) {
      EXPECT_TRUE(text::IsValidUtf8(d.text));
      EXPECT_TRUE(text::IsValidUtf8(d.title));
    }
  };
  for (size_t cut = 0; cut < bytes.size(); cut += 97) check(bytes.substr(0, cut));
  uint32_t seed = 12345;
  for (int round = 0; round < 400; ++round) {
    std::string b = bytes;
    for (int k = 0; k < 4; ++k) {
      seed = seed * 1103515245u + 12345u;
      b[(seed >> 8) % b.size()] = static_cast<char>(seed >> 24);
    }
    check(b);
  }
}

TEST(Msg, RealOutlookMessage) {
  // SpamScope/mail-parser's Outlook fixture (Apache-2.0): a German newsletter
  // with PR_BODY, an HTML body, compressed RTF and inline images.
  std::string bytes = Slurp(kMsg + "/mail-parser/mail_outlook_1.msg");
  auto m = ParseMsg(bytes);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->subject, "Newsletter Prüfung Personalwesen / Prüfung Eröffnungsbilanz");
  EXPECT_EQ(m->from_address, "NueblingV@w-vwa.de");
  EXPECT_EQ(m->submit_time, "2017-09-18T10:00:18Z");
  EXPECT_EQ(m->message_id, "<20170918100018.6AE0948009C@www.w-vwa.de>");
  ASSERT_FALSE(m->recipients.empty());
  EXPECT_EQ(m->recipients[0].address, "A.Gaiser-Schoenenborn@kreis-tuebingen.de");
  EXPECT_TRUE(Contains(m->body, "Sehr geehrte Frau Gaiser-Schönenborn"));
  // Its compressed RTF decompresses (CRC checked) into an RTF document.
  EXPECT_EQ(m->rtf.substr(0, 6), "{\\rtf1");
  for (const std::string& w : m->warnings) ADD_FAILURE() << w;
  EXPECT_EQ(m->attachments.size(), 5u);
  auto ex = MsgToDocuments(bytes, "mail_outlook_1.msg", "o");
  ASSERT_TRUE(ex.ok());
  EXPECT_TRUE(Contains(ex->documents[0].text, "Die Prüfung des Personalwesens - Grundlagenseminar"));
}

TEST(MsgRtf, DecompressionAndItsRefusals) {
  // MS-OXRTFCP 3.1.1's example: "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n".
  const unsigned char kExample[] = {
      0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7, 0xa7,
      0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a, 0xf3, 0x20,
      0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f, 0xa0};
  std::string in(reinterpret_cast<const char*>(kExample), sizeof kExample);
  bool crc_ok = false;
  auto out = DecompressRtf(in, 1 << 20, &crc_ok);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n");
  EXPECT_TRUE(crc_ok);
  EXPECT_EQ(RtfToText(*out), "hello world");
  EXPECT_TRUE(DecompressRtf(in.substr(0, 10), 1 << 20).status().IsCorruption());
  EXPECT_TRUE(DecompressRtf(in.substr(0, 30), 1 << 20).status().IsCorruption());  // declared size larger
  EXPECT_TRUE(DecompressRtf(in, 10).status().code() == Status::Code::kOutOfRange);
  std::string bad = in;
  bad[20] ^= 0x55;
  ASSERT_TRUE(DecompressRtf(bad, 1 << 20, &crc_ok).ok());
  EXPECT_FALSE(crc_ok);
  std::string uncompressed = std::string("\x10\x00\x00\x00\x04\x00\x00\x00MELA\x00\x00\x00\x00{\\x}", 20);
  EXPECT_EQ(*DecompressRtf(uncompressed, 100), "{\\x}");
}

TEST(MsgHtml, TextOfHtmlBodies) {
  EXPECT_EQ(MsgHtmlToText("<p>a &amp; b&nbsp;c &#x41;&#66; &unknown;</p><p>second</p>"),
            "a & b c AB &unknown;\n\nsecond");
  EXPECT_EQ(MsgHtmlToText("<table><tr><td>x</td><td>y</td></tr><tr><td>z</td></tr></table>"), "x | y\nz");
  EXPECT_EQ(MsgHtmlToText("<script>evil()</script><!-- c --><div hidden>no</div>yes<br>next"), "yes\nnext");
  EXPECT_EQ(MsgHtmlToText("<ul><li>one<li>two</ul>"), "- one\n- two");
  EXPECT_EQ(MsgHtmlToText("a < b"), "a < b");
  EXPECT_EQ(MsgHtmlToText("<span style=\"display: none\">x<span>y</span>z</span>after"), "after");
  EXPECT_EQ(MsgHtmlToText("<p title=\"hidden\">shown</p>"), "shown");
}

// The native host: .msg through ingest::Extract, attachments through its extractors.
TEST(MsgIngest, AttachmentsGoToTheHostsExtractors) {
  auto ex = ingest::Extract(kMsg + "/generated/all_properties.msg", "mail/a");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  EXPECT_EQ(ex->format, "msg");
  ASSERT_EQ(ex->documents.size(), 6u);
  const Document* notes = ById(ex->documents, "mail/a/att-1-notes.txt");
  ASSERT_NE(notes, nullptr);
  EXPECT_EQ(notes->parent_id, "mail/a");
  EXPECT_TRUE(Contains(notes->text, "Closing checklist"));
  EXPECT_EQ(Field(*notes, "filename"), std::vector<std::string>{"notes.txt"});
  EXPECT_EQ(Field(*notes, "content_type"), std::vector<std::string>{"text/plain"});
  EXPECT_EQ(Field(*notes, "from"), std::vector<std::string>{"alice.aerger@lawfirm.example"});
  const Document* memo = ById(ex->documents, "mail/a/att-3-memo.html");
  ASSERT_NE(memo, nullptr);
  EXPECT_EQ(memo->kind, DocKind::kWebPage);  // through the HTML extractor
  EXPECT_TRUE(Contains(memo->text, "Limitation of liability."));
  const Document* inner = ById(ex->documents, "mail/a/att-4-Fwd: Meridian escrow terms/att-1-inner-notes.txt");
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(inner->parent_id, "mail/a/att-4-Fwd: Meridian escrow terms");
  EXPECT_EQ(Field(*inner, "from"), std::vector<std::string>{"carol@lawfirm.example"});
  for (const Document& d : ex->documents) {
    EXPECT_EQ(Field(d, "source_path"), std::vector<std::string>{kMsg + "/generated/all_properties.msg"});
  }
  ingest::ExtractOptions no_att;
  no_att.attachments = false;
  auto bare = ingest::ExtractBytes(Gen("all_properties.msg"), "a.msg", "a", no_att);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->documents.size(), 2u);  // embedded messages are part of the message
}

TEST(MsgIngest, MsgFilesAttachedToMsgAndEml) {
  // A .msg attached as a file (attach method 1): read through the host's
  // extractors, its documents under the attachment's id.
  auto ex = ingest::ExtractBytes(Gen("msg_file_attached.msg"), "outer.msg", "o");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  ASSERT_EQ(ex->documents.size(), 2u);
  const Document& inner = ex->documents[1];
  EXPECT_EQ(inner.id, "o/att-1-earlier.msg");
  EXPECT_EQ(inner.parent_id, "o");
  EXPECT_EQ(inner.title, "Attached as a file");
  EXPECT_EQ(inner.text, "The attached file's body: arbitration in Geneva.");
  EXPECT_EQ(Field(inner, "content_type"), std::vector<std::string>{"application/vnd.ms-outlook"});
  // A .msg attached to an .eml.
  std::string eml =
      "From: a@example.com\r\nTo: b@example.com\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
      "Forwarding the Outlook file.\r\n--b\r\nContent-Type: application/vnd.ms-outlook\r\n"
      "Content-Disposition: attachment; filename=\"sig.msg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      foldback::testing::Base64(Gen("ansi_1252.msg")) + "--b--\r\n";
  auto mail = ingest::ExtractBytes(eml, "m.eml", "m");
  ASSERT_TRUE(mail.ok()) << mail.status().ToString();
  const Document* att = ById(mail->documents, "m/att-1-sig.msg");
  ASSERT_NE(att, nullptr) << mail->documents.size();
  EXPECT_EQ(att->parent_id, "m");
  EXPECT_EQ(att->title, "Résumé – clause pénale €");
  EXPECT_EQ(att->kind, DocKind::kEmail);
}

TEST(MsgIngest, TextAttachmentsDecodedAsForEml) {
  auto ex = ingest::ExtractBytes(Gen("text_attachments.msg"), "t.msg", "t");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  ASSERT_EQ(ex->documents.size(), 4u);
  EXPECT_EQ(ById(ex->documents, "t/att-1-latin.txt")->text, "Café – 5 €, undefined:\uFFFD.");  // windows-1252
  EXPECT_EQ(ById(ex->documents, "t/att-2-bom.txt")->text, "\uFEFFWith a byte-order mark.");
  EXPECT_EQ(ById(ex->documents, "t/att-3-nul.txt")->text, "before\uFFFDafter");
}

TEST(MsgIngest, FormatDetectionAndRefusals) {
  EXPECT_EQ(ingest::DetectFormat("x/mail.MSG"), "msg");
  // Without an extension: the compound file's signature.
  std::string no_ext = ::testing::TempDir() + "/outlook-no-extension";
  {
    std::ofstream(no_ext, std::ios::binary) << Gen("ansi_1252.msg");
  }
  EXPECT_EQ(ingest::DetectFormat(no_ext), "msg");
  auto ex = ingest::Extract(no_ext, "n");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  EXPECT_EQ(ex->documents[0].title, "Résumé – clause pénale €");
  std::filesystem::remove(no_ext);
  auto smime = ingest::ExtractBytes(Gen("smime_signed.msg"), "s.msg", "s");
  EXPECT_TRUE(smime.status().IsNotSupported()) << smime.status().ToString();
  ingest::ExtractOptions shallow;
  shallow.max_mime_depth = 3;
  auto deep = ingest::ExtractBytes(Gen("nested_3.msg"), "n.msg", "n", shallow);
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  shallow.max_mime_depth = 2;
  deep = ingest::ExtractBytes(Gen("nested_3.msg"), "n.msg", "n", shallow);
  EXPECT_TRUE(deep.status().code() == Status::Code::kOutOfRange) << deep.status().ToString();
}

}  // namespace
}  // namespace foldback
