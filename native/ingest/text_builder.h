// Small helpers shared by the structured extractors (HTML, .docx, mail).
#ifndef FOLDBACK_NATIVE_INGEST_TEXT_BUILDER_H_
#define FOLDBACK_NATIVE_INGEST_TEXT_BUILDER_H_

#include <algorithm>
#include <ctime>
#include <string>
#include <string_view>

namespace foldback::ingest {

// Builds plain text from inline runs and block boundaries: runs of
// whitespace collapse to one space, blocks start on a new line, paragraphs
// are separated by one blank line, never more.
class TextBuilder {
 public:
  // Inline text; whitespace collapses unless `preserve` (for <pre>).
  void Inline(std::string_view s, bool preserve = false);
  // Ends the current line (a block boundary).
  void Line() { pending_ = std::max(pending_, 1); }
  // Ends the current paragraph (one blank line follows).
  void Paragraph() { pending_ = 2; }
  // Text at the start of the next line (a list marker "1. ", a heading's "# ").
  // Whitespace is kept as given.
  void Prefix(std::string_view s);
  bool AtLineStart() const { return out_.empty() || out_.back() == '\n' || pending_ > 0; }
  size_t size() const { return out_.size(); }
  // The text, trailing whitespace removed.
  std::string Finish();

 private:
  void Flush();
  std::string out_;
  int pending_ = 0;  // 0 nothing, 1 newline, 2 blank line
  bool space_ = false;
  std::string prefix_;
};

// "dir/sub/file.pdf" -> "file.pdf".
std::string BaseName(std::string_view path);

// A file name made safe to sit inside a document id: no '/', '\\', '#' or
// control characters, at most 80 bytes (cut on a UTF-8 boundary).
std::string IdSafeName(std::string_view name);

// YYYY-MM-DD of a time_t in UTC ("" for t <= 0).
std::string IsoDateUtc(std::time_t t);

// Cuts `s` to at most `max_bytes` bytes on a UTF-8 boundary, adding "..." when cut.
std::string Shorten(std::string_view s, size_t max_bytes);

}  // namespace foldback::ingest

#endif  // FOLDBACK_NATIVE_INGEST_TEXT_BUILDER_H_
