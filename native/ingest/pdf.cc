// PDF through poppler-cpp: the text layer page by page, document info.
//
// Poppler reports syntax problems through a process-wide debug function; we
// install one that files them under the extraction running on the calling
// thread (or drops them), so nothing is printed on the user's terminal.
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <memory>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "ingest/extract.h"
#include "ingest/text_builder.h"

namespace foldback::ingest {
namespace {

thread_local std::set<std::string>* tls_poppler_messages = nullptr;

void OnPopplerMessage(const std::string& msg, void*) {
  if (tls_poppler_messages && tls_poppler_messages->size() < 20) tls_poppler_messages->insert(Shorten(msg, 200));
}

void InstallPopplerSink() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(OnPopplerMessage, nullptr); });
}

std::string Utf8(const poppler::ustring& s) {
  poppler::byte_array b = s.to_utf8();
  std::string out(b.begin(), b.end());
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

// Page text with lines kept, trailing spaces and form feeds removed.
std::string CleanPage(const std::string& raw) {
  std::string out;
  out.reserve(raw.size());
  size_t line_start = 0;
  for (char c : raw) {
    if (c == '\f') continue;
    if (c == '\r') c = '\n';
    if (c == '\n') {
      while (out.size() > line_start && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
      out.push_back('\n');
      line_start = out.size();
      continue;
    }
    out.push_back(c);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

Result<Extraction> ExtractPdf(std::string_view bytes, const std::string& name, const std::string& id,
                              const ExtractOptions& options) {
  InstallPopplerSink();
  Extraction ex;
  ex.format = "pdf";
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) return Status::OutOfRange("PDF larger than 2 GiB");
  if (bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos) {
    return Status::Corruption("not a PDF (no %PDF- header)");
  }
  std::set<std::string> messages;
  tls_poppler_messages = &messages;
  struct Reset {
    ~Reset() { tls_poppler_messages = nullptr; }
  } reset;

  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  auto detail = [&]() {
    std::string d;
    for (const std::string& m : messages) {
      d += d.empty() ? " (" : "; ";
      d += m;
    }
    return d.empty() ? d : d + ")";
  };
  if (!doc) {
    return Status::Corruption("unreadable PDF: poppler could not open it" + detail());
  }
  if (doc->is_locked()) {
    return Status::NotSupported("encrypted PDF: it needs a password to open");
  }
  int pages = doc->pages();
  if (pages <= 0) return Status::Corruption("PDF without pages" + detail());
  if (static_cast<uint32_t>(pages) > options.max_pdf_pages) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("PDF has {} pages (limit {})"), pages, options.max_pdf_pages));
  }
  std::string text;
  int empty_pages = 0, unreadable_pages = 0;
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) {
      ++unreadable_pages;
      continue;
    }
    std::string t = CleanPage(Utf8(page->text(poppler::rectf(), poppler::page::physical_layout)));
    if (t.find_first_not_of(" \t\n") == std::string::npos) {
      ++empty_pages;
      continue;
    }
    if (!text.empty()) text += "\n\n";
    text += t;
  }
  if (unreadable_pages > 0)
    ex.warnings.push_back(fmt::format(FMT_STRING("{} pages could not be read"), unreadable_pages));
  if (empty_pages == pages) {
    ex.warnings.push_back("no text layer (a scanned PDF?): nothing to index without OCR");
  } else if (empty_pages > 0) {
    ex.warnings.push_back(
        fmt::format(FMT_STRING("{} of {} pages have no text"), empty_pages, pages));
  }
  if (doc->is_encrypted()) ex.warnings.push_back("encrypted PDF opened without a password (owner restrictions only)");
  if (!messages.empty()) ex.warnings.push_back("PDF has syntax problems" + detail());

  Document d;
  d.id = id;
  std::string title = Utf8(doc->get_title());
  TextBuilder tb;
  tb.Inline(title);
  title = tb.Finish();
  d.title = title.empty() ? name : Shorten(title, 500);
  std::string author = Utf8(doc->get_author());
  TextBuilder ab;
  ab.Inline(author);
  author = ab.Finish();
  if (!author.empty()) d.metadata["author"] = {Shorten(author, 200)};
  std::string created = IsoDateUtc(doc->get_creation_date_t());
  if (!created.empty()) d.metadata["created"] = {created};
  d.metadata["pages"] = {fmt::to_string(pages)};
  d.text = std::move(text);
  ex.documents.push_back(std::move(d));
  return ex;
}

}  // namespace foldback::ingest
