// PDF ingestion through poppler-cpp. Inputs: PDFs the test writes itself
// (ingest_test_util.h), and three checked-in files made from one of them with
// qpdf (tests/data/pdf/README.md): unencrypted, password-protected (AES-256),
// and owner-restricted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "ingest/extract.h"
#include "ingest_test_util.h"

namespace foldback::ingest {
namespace {

using foldback::testing::Contains;
using foldback::testing::MakePdf;

const std::string kPdf = std::string(FOLDBACK_TEST_DATA) + "/pdf";

// Runs `fn` with stderr redirected to a temporary file; returns what was written.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  std::fflush(stderr);
  FILE* tmp = std::tmpfile();
  int saved = ::dup(2);
  ::dup2(::fileno(tmp), 2);
  fn();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(tmp);
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

TEST(IngestPdf, TextPerPageAndDocumentInfo) {
  std::string pdf = MakePdf({"Master Services Agreement\n1. Definitions. Services means the work.",
                             "2. Term. This Agreement lasts two years."},
                            "MSA", "Jane Counsel");
  auto ex = ExtractBytes(pdf, "msa.pdf", "msa");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  EXPECT_EQ(ex->format, "pdf");
  ASSERT_EQ(ex->documents.size(), 1u);
  const Document& d = ex->documents[0];
  EXPECT_EQ(d.text,
            "Master Services Agreement\n1. Definitions. Services means the work.\n\n"
            "2. Term. This Agreement lasts two years.");
  EXPECT_EQ(d.title, "MSA");
  EXPECT_EQ(d.metadata.at("author").at(0), "Jane Counsel");
  EXPECT_EQ(d.metadata.at("created").at(0), "2024-03-15");
  EXPECT_EQ(d.metadata.at("pages").at(0), "2");
  EXPECT_TRUE(ex->warnings.empty());
  // Without an Info dictionary the file name is the title.
  auto untitled = ExtractBytes(MakePdf({"text"}), "scan 12.pdf", "s");
  ASSERT_TRUE(untitled.ok());
  EXPECT_EQ(untitled->documents[0].title, "scan 12.pdf");
}

TEST(IngestPdf, CheckedInFiles) {
  auto plain = Extract(kPdf + "/settlement.pdf", "settlement");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(Contains(plain->documents[0].text, "Payment within 30 days.\n\nSecond page: release of claims."));
  auto locked = Extract(kPdf + "/settlement-password.pdf", "locked");
  ASSERT_FALSE(locked.ok());
  EXPECT_TRUE(locked.status().IsNotSupported());
  EXPECT_TRUE(Contains(locked.status().message(), "encrypted PDF: it needs a password")) << locked.status().ToString();
  // Encrypted with an owner password only: it opens; the restriction is noted.
  auto restricted = Extract(kPdf + "/settlement-owner-restricted.pdf", "restricted");
  ASSERT_TRUE(restricted.ok()) << restricted.status().ToString();
  EXPECT_TRUE(Contains(restricted->documents[0].text, "Confidential settlement terms"));
  ASSERT_EQ(restricted->warnings.size(), 1u);
  EXPECT_TRUE(Contains(restricted->warnings[0], "owner restrictions only"));
}

TEST(IngestPdf, BrokenFilesGetClearErrorsAndNothingOnStderr) {
  std::string pdf = MakePdf({"page one", "page two"}, "T", "A");
  std::string out = CaptureStderr([&] {
    for (size_t cut : {pdf.size() - 60, pdf.size() / 2, size_t{40}}) {
      auto ex = ExtractBytes(pdf.substr(0, cut), "cut.pdf", "cut");
      ASSERT_FALSE(ex.ok()) << cut;
      EXPECT_TRUE(ex.status().IsCorruption()) << ex.status().ToString();
      EXPECT_TRUE(Contains(ex.status().message(), "unreadable PDF")) << ex.status().ToString();
    }
    auto garbage = ExtractBytes("%PDF-1.7\nthis is not really a pdf\n%%EOF\n", "g.pdf", "g");
    EXPECT_TRUE(garbage.status().IsCorruption()) << garbage.status().ToString();
  });
  EXPECT_EQ(out, "");  // poppler's complaints went into the Status, not the terminal
  auto not_pdf = ExtractBytes("Dear Sir, ...", "letter.pdf", "l");
  EXPECT_TRUE(Contains(not_pdf.status().message(), "not a PDF")) << not_pdf.status().ToString();
}

TEST(IngestPdf, PagesWithoutTextAreReported) {
  auto ex = ExtractBytes(MakePdf({""}), "scan.pdf", "scan");
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  EXPECT_EQ(ex->documents[0].text, "");
  ASSERT_FALSE(ex->warnings.empty());
  EXPECT_TRUE(Contains(ex->warnings[0], "no text layer")) << ex->warnings[0];
  ExtractOptions o;
  o.max_pdf_pages = 1;
  auto many = ExtractBytes(MakePdf({"a", "b"}), "two.pdf", "two", o);
  EXPECT_EQ(many.status().code(), Status::Code::kOutOfRange);
}

}  // namespace
}  // namespace foldback::ingest
