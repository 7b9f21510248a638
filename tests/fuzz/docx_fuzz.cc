// Fuzz target: Word .docx — the zip container (libzip, with foldback's
// inflate budget) and the WordprocessingML walk (pugixml: body, styles,
// numbering, notes, core properties) — through ingest::ExtractBytes.
//
// Random bytes rarely make a zip whose entries inflate, so the first byte
// picks how the rest is used:
//   even: the rest is the .docx file itself (seeds: real .docx files);
//   odd:  the rest is split at NUL bytes into the XML of word/document.xml,
//         word/styles.xml, word/numbering.xml, word/footnotes.xml,
//         word/endnotes.xml and docProps/core.xml, stored in a fresh zip —
//         so mutations reach the XML walk (seeds: those parts of real files).
#include <zip.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/extract.h"
#include "text/utf8.h"

namespace {

// A zip (entries stored, not deflated) holding `entries`, built with libzip.
std::string StoredZip(const std::vector<std::pair<std::string, std::string_view>>& entries) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  zip_source_keep(src);
  zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  std::string out;
  if (za) {
    for (const auto& [name, data] : entries) {
      zip_source_t* s = zip_source_buffer(za, data.data(), data.size(), 0);
      zip_int64_t idx = zip_file_add(za, name.c_str(), s, ZIP_FL_ENC_UTF_8);
      if (idx >= 0) zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0);
    }
    if (zip_close(za) != 0) zip_discard(za);
    zip_stat_t st;
    if (zip_source_open(src) == 0) {
      if (zip_source_stat(src, &st) == 0 && (st.valid & ZIP_STAT_SIZE)) {
        out.resize(st.size);
        zip_int64_t got = zip_source_read(src, out.data(), st.size);
        out.resize(got > 0 ? static_cast<size_t>(got) : 0);
      }
      zip_source_close(src);
    }
  }
  zip_source_free(src);
  zip_error_fini(&err);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace foldback;
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string file;
  if (data[0] & 1) {
    static const char* kParts[] = {"word/document.xml",  "word/styles.xml",   "word/numbering.xml",
                                   "word/footnotes.xml", "word/endnotes.xml", "docProps/core.xml"};
    std::vector<std::pair<std::string, std::string_view>> entries;
    size_t start = 0;
    for (const char* name : kParts) {
      if (start > rest.size()) break;
      size_t nul = rest.find('\0', start);
      size_t end = nul == std::string_view::npos ? rest.size() : nul;
      entries.emplace_back(name, rest.substr(start, end - start));
      start = end + 1;
    }
    file = StoredZip(entries);
  } else {
    file.assign(rest);
  }
  ingest::ExtractOptions o;
  o.max_zip_entry_bytes = 1 << 20;
  o.max_zip_total_bytes = 2 << 20;
  auto ex = ingest::ExtractBytes(file, "fuzz.docx", "fuzz", o);
  if (!ex.ok()) {
    if (ex.status().message().empty()) __builtin_trap();
    return 0;
  }
  for (const Document& d : ex->documents) {
    if (!text::IsValidUtf8(d.text) || !text::IsValidUtf8(d.title)) __builtin_trap();
  }
  return 0;
}
