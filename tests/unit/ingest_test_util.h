// Inputs the ingestion tests build themselves: PDFs, zip archives (.docx),
// base64, temporary folders. Used by tests/unit/ingest_*_test.cc and
// tests/cli/ingest_cli_test.cc.
#ifndef FOLDBACK_TESTS_UNIT_INGEST_TEST_UTIL_H_
#define FOLDBACK_TESTS_UNIT_INGEST_TEST_UTIL_H_

#include <glib.h>
#include <unistd.h>
#include <zip.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace foldback::testing {

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

// A fresh folder under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    path_ = (std::filesystem::temp_directory_path() /
             ("foldback-" + name + "-" + std::to_string(::getpid())))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// A PDF 1.4 file with one page per entry of `pages` (lines split on '\n'),
// Helvetica text, and an Info dictionary when title or author are given.
// Cross-reference offsets are computed, so poppler reads it without repair.
inline std::string MakePdf(const std::vector<std::string>& pages, const std::string& title = "",
                           const std::string& author = "") {
  std::vector<std::string> objs;
  std::string kids;
  for (size_t i = 0; i < pages.size(); ++i) kids += std::to_string(4 + 2 * i) + " 0 R ";
  objs.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objs.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>");
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  for (size_t i = 0; i < pages.size(); ++i) {
    std::string ops = "BT /F1 12 Tf 72 720 Td 14 TL ";
    std::stringstream lines(pages[i]);
    std::string line;
    while (std::getline(lines, line)) ops += "(" + line + ") Tj T* ";
    ops += "ET";
    objs.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                   "/Contents " +
                   std::to_string(5 + 2 * i) + " 0 R >>");
    objs.push_back("<< /Length " + std::to_string(ops.size()) + " >>\nstream\n" + ops + "\nendstream");
  }
  size_t info = 0;
  if (!title.empty() || !author.empty()) {
    objs.push_back("<< /Title (" + title + ") /Author (" + author + ") /CreationDate (D:20240315120000Z) >>");
    info = objs.size();
  }
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%010zu 00000 n \n", off);
    out += buf;
  }
  out += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R";
  if (info) out += " /Info " + std::to_string(info) + " 0 R";
  out += " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return out;
}

// A zip archive holding `entries` (name -> content), deflated, built with libzip.
inline std::string MakeZip(const std::map<std::string, std::string>& entries) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  zip_source_keep(src);
  for (const auto& [name, data] : entries) {
    zip_source_t* s = zip_source_buffer(za, data.data(), data.size(), 0);
    zip_int64_t idx = zip_file_add(za, name.c_str(), s, ZIP_FL_ENC_UTF_8);
    zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), ZIP_CM_DEFLATE, 1);
  }
  zip_close(za);
  std::string out;
  zip_source_open(src);
  zip_stat_t st;
  zip_source_stat(src, &st);
  out.resize(st.size);
  zip_source_read(src, out.data(), st.size);
  zip_source_close(src);
  zip_source_free(src);
  zip_error_fini(&err);
  return out;
}

// A .docx with the given body XML (the content of <w:body>) and optional
// styles, numbering, footnotes, endnotes and core properties parts.
struct DocxParts {
  std::string body;
  std::string styles;     // content of <w:styles>
  std::string numbering;  // content of <w:numbering>
  std::string footnotes;  // content of <w:footnotes>
  std::string endnotes;   // content of <w:endnotes>
  std::string core;       // content of <cp:coreProperties>
};

inline std::string MakeDocx(const DocxParts& p) {
  const std::string w = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"";
  std::map<std::string, std::string> e;
  e["[Content_Types].xml"] =
      "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
  e["word/document.xml"] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document " + w + "><w:body>" + p.body +
                           "</w:body></w:document>";
  if (!p.styles.empty()) e["word/styles.xml"] = "<w:styles " + w + ">" + p.styles + "</w:styles>";
  if (!p.numbering.empty()) e["word/numbering.xml"] = "<w:numbering " + w + ">" + p.numbering + "</w:numbering>";
  if (!p.footnotes.empty()) e["word/footnotes.xml"] = "<w:footnotes " + w + ">" + p.footnotes + "</w:footnotes>";
  if (!p.endnotes.empty()) e["word/endnotes.xml"] = "<w:endnotes " + w + ">" + p.endnotes + "</w:endnotes>";
  if (!p.core.empty()) {
    e["docProps/core.xml"] =
        "<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
        "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\">" +
        p.core + "</cp:coreProperties>";
  }
  return MakeZip(e);
}

inline std::string MakeDocx(const std::string& body) {
  DocxParts p;
  p.body = body;
  return MakeDocx(p);
}

// A w:p with one run of text, optionally styled and numbered.
inline std::string Para(const std::string& text, const std::string& style = "", int num_id = 0, int ilvl = 0) {
  std::string ppr;
  if (!style.empty()) ppr += "<w:pStyle w:val=\"" + style + "\"/>";
  if (num_id) {
    ppr += "<w:numPr><w:ilvl w:val=\"" + std::to_string(ilvl) + "\"/><w:numId w:val=\"" + std::to_string(num_id) +
           "\"/></w:numPr>";
  }
  return "<w:p>" + (ppr.empty() ? "" : "<w:pPr>" + ppr + "</w:pPr>") + "<w:r><w:t xml:space=\"preserve\">" + text +
         "</w:t></w:r></w:p>";
}

inline std::string Base64(const std::string& data) {
  gchar* b = g_base64_encode(reinterpret_cast<const guchar*>(data.data()), data.size());
  std::string out;
  // 76-character lines, as mailers write them.
  std::string all(b);
  for (size_t i = 0; i < all.size(); i += 76) out += all.substr(i, 76) + "\r\n";
  g_free(b);
  return out;
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_UNIT_INGEST_TEST_UTIL_H_
