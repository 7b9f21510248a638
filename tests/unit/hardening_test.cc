// Regressions for what the hardening work found (fuzzing, the injection and
// walls suites), and the Dovecot-like mail limits at their exact
// boundaries.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "foldback/feedback.h"
#include "foldback/index.h"
#include "ingest/charset.h"
#include "ingest/extract.h"
#include "ingest_test_util.h"
#include "rewrite/ask_internal.h"
#include "text/utf8.h"

namespace foldback {
namespace {

const std::string kCorpus = std::string(FOLDBACK_TEST_DATA) + "/../fuzz/corpus/";

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void ExpectCleanUtf8(const ingest::Extraction& ex, const std::string& what) {
  for (const Document& d : ex.documents) {
    EXPECT_TRUE(text::IsValidUtf8(d.title)) << what;
    EXPECT_TRUE(text::IsValidUtf8(d.text)) << what;
    EXPECT_EQ(d.text.find('\0'), std::string::npos) << what;
    for (const auto& [field, values] : d.metadata) {
      for (const std::string& v : values) EXPECT_TRUE(text::IsValidUtf8(v)) << what << " " << field;
    }
  }
}

// Found by tests/fuzz/mail_fuzz.cc: an attachment's unencoded 8-bit file
// name (mikel/mail's raw_email8.eml) and NUL bytes in a body left invalid
// UTF-8 in the extraction.
TEST(Hardening, MailExtractionIsAlwaysValidUtf8) {
  for (const char* seed : {"mail/ruby-mail_plain_emails_raw_email8.eml", "mail/regression-nul-bytes.eml"}) {
    auto ex = ingest::ExtractBytes(Read(kCorpus + seed), "x.eml", "x");
    ASSERT_TRUE(ex.ok()) << seed << ": " << ex.status().ToString();
    ExpectCleanUtf8(*ex, seed);
  }
  auto ex = ingest::ExtractBytes(Read(kCorpus + "mail/ruby-mail_plain_emails_raw_email8.eml"), "x.eml", "x");
  ASSERT_TRUE(ex.ok());
  // The 8-bit name is read as windows-1252, as 8-bit header text is.
  auto it = ex->documents.at(0).metadata.find("attachment");
  ASSERT_NE(it, ex->documents.at(0).metadata.end());
  EXPECT_EQ(it->second.at(0), "01 Quien Te Dij\xC5\xA0" "at. Pitbull.mp3");
}

// Found by tests/fuzz/docx_fuzz.cc and pdf_fuzz.cc: invalid UTF-8 from an
// XML part and from a PDF's strings went through unrepaired.
TEST(Hardening, DocxAndPdfExtractionIsAlwaysValidUtf8) {
  std::string xml = Read(kCorpus + "docx/regression-invalid-utf8.bin");
  ASSERT_FALSE(xml.empty());
  auto docx = ingest::ExtractBytes(
      testing::MakeDocx(testing::Para("Clause 1 \xC3\x28 broken \xFF byte")), "x.docx", "x");
  ASSERT_TRUE(docx.ok()) << docx.status().ToString();
  ExpectCleanUtf8(*docx, "docx");
  EXPECT_GE(docx->replaced, 2u);
  auto pdf = ingest::ExtractBytes(Read(kCorpus + "pdf/regression-invalid-utf8.pdf"), "x.pdf", "x");
  if (pdf.ok()) ExpectCleanUtf8(*pdf, "pdf");
}

// Found by tests/fuzz/docx_fuzz.cc: text declared UTF-8 was repaired
// through iconv, whose UTF-8 decoder passes the obsolete 5- and 6-byte forms
// through (and the part stayed invalid UTF-8).
TEST(Hardening, DeclaredUtf8IsRepairedByteByByte) {
  auto d = ingest::DecodeToUtf8("a\xFA\xA2\xA2\xA2\xA2" "b\xFC\x84\x80\x80\x80\x80" "c\xED\xA0\x80" "d", "utf-8");
  EXPECT_TRUE(text::IsValidUtf8(d.text)) << d.text;
  EXPECT_EQ(d.replaced, 14u);
  EXPECT_EQ(d.text.substr(0, 4), "a\xEF\xBF\xBD");
  // The fuzz seed: a byte 0x01, then document.xml (up to a NUL), ...
  std::string xml = Read(kCorpus + "docx/regression-five-byte-utf8.bin");
  std::string body = xml.substr(1, xml.find('\0', 1) - 1);
  std::map<std::string, std::string> parts = {{"word/document.xml", body}};
  auto five = ingest::ExtractBytes(testing::MakeZip(parts), "x.docx", "x");
  ASSERT_TRUE(five.ok()) << five.status().ToString();
  ExpectCleanUtf8(*five, "five-byte docx");
  EXPECT_GT(five->replaced, 0u);
}

std::string Nested(int depth) {
  std::string body = "From: a@example.com\r\nMIME-Version: 1.0\r\n", tail;
  for (int i = 0; i < depth; ++i) {
    std::string b = "b" + std::to_string(i);
    body += "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b + "\r\n";
    tail = "\r\n--" + b + "--\r\n" + tail;
  }
  return body + "Content-Type: text/plain\r\n\r\ndeepest text" + tail;
}

std::string Parts(int n) {
  std::string raw = "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n";
  for (int i = 0; i < n; ++i) raw += "--p\r\nContent-Type: text/plain\r\n\r\nx\r\n";
  return raw + "--p--\r\n";
}

// Dovecot's limits, at the boundary: MIME nesting 100, parts 10,000 (the
// message's own part included); header fields 10,000; a header line 64 KiB.
TEST(Hardening, MailLimitsHoldAtTheirBoundaries) {
  // 100 nested multiparts (the text part inside the last) are read; 101 are not.
  auto at = ingest::ExtractBytes(Nested(100), "x.eml", "x");
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  EXPECT_NE(at->documents.at(0).text.find("deepest text"), std::string::npos);
  auto past = ingest::ExtractBytes(Nested(101), "x.eml", "x");
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), Status::Code::kOutOfRange);
  EXPECT_NE(past.status().message().find("nested deeper than 100"), std::string::npos) << past.status().ToString();

  auto parts_ok = ingest::ExtractBytes(Parts(9999), "x.eml", "x");
  ASSERT_TRUE(parts_ok.ok()) << parts_ok.status().ToString();
  auto parts_over = ingest::ExtractBytes(Parts(10000), "x.eml", "x");
  ASSERT_FALSE(parts_over.ok());
  EXPECT_NE(parts_over.status().message().find("more than 10000 MIME parts"), std::string::npos)
      << parts_over.status().ToString();

  std::string fields = "From: a@example.com\r\n";
  for (int i = 1; i < 10000; ++i) fields += "X-F: " + std::to_string(i) + "\r\n";
  EXPECT_TRUE(ingest::ExtractBytes(fields + "\r\nbody\r\n", "x.eml", "x").ok());
  EXPECT_FALSE(ingest::ExtractBytes(fields + "X-F: one more\r\n\r\nbody\r\n", "x.eml", "x").ok());

  // A line of exactly 64 KiB, CRLF not counted (found here: the check after
  // parsing counted the CR, the pre-scan did not).
  std::string line = "From: a@example.com\r\nX-Long: " + std::string(64 * 1024 - 8, 'a') + "\r\n\r\nbody\r\n";
  EXPECT_TRUE(ingest::ExtractBytes(line, "x.eml", "x").ok());
  std::string longer = "From: a@example.com\r\nX-Long: " + std::string(64 * 1024 - 7, 'a') + "\r\n\r\nbody\r\n";
  EXPECT_FALSE(ingest::ExtractBytes(longer, "x.eml", "x").ok());
}

// Found by the injection suite: "[4294967297]" was left in an answer as if
// it were a citation (only five digits were read as a marker).
TEST(Hardening, CitationMarkersOfAnyLengthAreChecked) {
  std::vector<uint32_t> kept, dropped;
  std::string out = rewrite::CheckCitations("A [1] B [4294967297] C [123456] D [00002]", 3, &kept, &dropped);
  EXPECT_EQ(out, "A [1] B C D [2]");
  EXPECT_EQ(kept, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(dropped, (std::vector<uint32_t>{4294967295u, 123456}));
  std::string digits(100000, '9');
  kept.clear();
  dropped.clear();
  EXPECT_EQ(rewrite::CheckCitations("x [" + digits + "] y", 3, &kept, &dropped), "x y");
}

// Hidden text in HTML: font-size:0 and opacity:0 join hidden, display:none
// and visibility:hidden. (White text is indexed: whether it shows depends
// on the background; the prompt's data blocks are the defence there.)
TEST(Hardening, ZeroSizeAndTransparentHtmlIsNotIndexed) {
  auto ex = ingest::ExtractBytes(
      "<p>Visible clause.</p><span style=\"font-size:0px\">tiny</span><div style=\"FONT-SIZE: 0\">zero</div>"
      "<p style=\"opacity: 0 !important\">clear</p><p style=\"opacity:0.5\">half</p>"
      "<p style=\"font-size:10px\">ten</p><p style=\"color:#fff\">white</p>",
      "x.html", "x");
  ASSERT_TRUE(ex.ok());
  const std::string& t = ex->documents.at(0).text;
  for (const char* hidden : {"tiny", "zero", "clear"}) EXPECT_EQ(t.find(hidden), std::string::npos) << hidden;
  for (const char* shown : {"Visible clause.", "half", "ten", "white"}) EXPECT_NE(t.find(shown), std::string::npos) << shown;
}

}  // namespace
}  // namespace foldback
