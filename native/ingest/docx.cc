// Word .docx (WordprocessingML) through libzip and pugixml.
//
// Only the parts we need are inflated (main document, styles, numbering,
// footnotes, endnotes, core properties), each with a byte budget counted
// while inflating — a zip bomb elsewhere in the archive is never touched and
// one in these parts stops at the limit. pugixml expands no DTD entities.
#include <pugixml.hpp>
#include <zip.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "ingest/extract.h"
#include "ingest/text_builder.h"

namespace foldback::ingest {
namespace {

constexpr int kMaxXmlDepth = 256;

// ---- zip -------------------------------------------------------------------

class Zip {
 public:
  ~Zip() {
    if (za_) zip_discard(za_);
  }

  Status Open(std::string_view bytes, const ExtractOptions& o) {
    options_ = &o;
    if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) == 0) {
      return Status::NotSupported(
          "an OLE compound file, not a .docx: a password-protected document or an old Word (.doc) file");
    }
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
    if (!src) {
      std::string msg = zip_error_strerror(&err);
      zip_error_fini(&err);
      return Status::Internal("cannot read the buffer: " + msg);
    }
    za_ = zip_open_from_source(src, ZIP_RDONLY, &err);
    if (!za_) {
      std::string msg = zip_error_strerror(&err);
      zip_error_fini(&err);
      zip_source_free(src);
      return Status::Corruption("not a .docx (not a readable zip archive: " + msg + ")");
    }
    zip_error_fini(&err);
    zip_int64_t n = zip_get_num_entries(za_, 0);
    if (n < 0 || static_cast<uint64_t>(n) > o.max_zip_entries) {
      return Status::OutOfRange(
          fmt::format(FMT_STRING("the zip holds {} entries (limit {})"), n, o.max_zip_entries));
    }
    return Status::OK();
  }

  // Inflates one entry; nullopt when absent.
  Result<std::optional<std::string>> Read(const std::string& name) {
    zip_int64_t idx = zip_name_locate(za_, name.c_str(), ZIP_FL_NOCASE);
    if (idx < 0) return std::optional<std::string>();
    zip_stat_t st;
    zip_stat_init(&st);
    uint64_t limit = std::min(options_->max_zip_entry_bytes, options_->max_zip_total_bytes - total_);
    if (zip_stat_index(za_, static_cast<zip_uint64_t>(idx), 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
        st.size > limit) {
      return Bomb(name, st.size);
    }
    zip_file_t* f = zip_fopen_index(za_, static_cast<zip_uint64_t>(idx), 0);
    if (!f) {
      return Status::Corruption("cannot open " + name + " in the zip: " + zip_strerror(za_));
    }
    std::string out;
    if ((st.valid & ZIP_STAT_SIZE) && st.size <= limit) out.reserve(static_cast<size_t>(st.size));
    std::array<char, 65536> buf;
    while (true) {
      zip_int64_t got = zip_fread(f, buf.data(), buf.size());
      if (got < 0) {
        std::string msg = zip_error_strerror(zip_file_get_error(f));
        zip_fclose(f);
        return Status::Corruption("cannot inflate " + name + ": " + msg);
      }
      if (got == 0) break;
      if (out.size() + static_cast<uint64_t>(got) > limit) {
        zip_fclose(f);
        return Bomb(name, out.size() + static_cast<uint64_t>(got));
      }
      out.append(buf.data(), static_cast<size_t>(got));
    }
    zip_fclose(f);
    total_ += out.size();
    return std::optional<std::string>(std::move(out));
  }

 private:
  Status Bomb(const std::string& name, uint64_t size) {
    return Status::OutOfRange(fmt::format(
        FMT_STRING(
            "{} inflates to more than {} bytes (limit {} per entry, {} in all): a zip bomb?"),
        name, size, options_->max_zip_entry_bytes, options_->max_zip_total_bytes));
  }

  zip_t* za_ = nullptr;
  const ExtractOptions* options_ = nullptr;
  uint64_t total_ = 0;
};

// ---- XML helpers -------------------------------------------------------------

std::string_view Local(const pugi::xml_node& n) {
  std::string_view name = n.name();
  size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// The w:val-style attribute, whatever the prefix.
const char* AttrLocal(const pugi::xml_node& n, std::string_view local) {
  for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
    std::string_view name = a.name();
    size_t colon = name.find(':');
    if ((colon == std::string_view::npos ? name : name.substr(colon + 1)) == local) return a.value();
  }
  return nullptr;
}

pugi::xml_node Child(const pugi::xml_node& n, std::string_view local) {
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && Local(c) == local) return c;
  }
  return pugi::xml_node();
}

int IntAttr(const pugi::xml_node& n, std::string_view local, int fallback) {
  const char* v = n ? AttrLocal(n, local) : nullptr;
  return v && *v ? std::atoi(v) : fallback;
}

// True when an on/off property element is on (<w:vanish/>, <w:vanish w:val="1"/>).
bool OnOff(const pugi::xml_node& n) {
  if (!n) return false;
  const char* v = AttrLocal(n, "val");
  if (!v) return true;
  return !(std::strcmp(v, "0") == 0 || std::strcmp(v, "false") == 0 || std::strcmp(v, "off") == 0);
}

Status ParseXml(const std::string& data, const std::string& name, pugi::xml_document* doc) {
  pugi::xml_parse_result r =
      doc->load_buffer(data.data(), data.size(), pugi::parse_default | pugi::parse_ws_pcdata, pugi::encoding_auto);
  if (!r) {
    return Status::Corruption(fmt::format(FMT_STRING("{}: malformed XML at byte {}: {}"), name,
                                          r.offset, r.description()));
  }
  return Status::OK();
}

// ---- numbering ---------------------------------------------------------------

std::string Roman(int n, bool upper) {
  static const struct {
    int v;
    const char* s;
  } kTable[] = {{1000, "m"}, {900, "cm"}, {500, "d"}, {400, "cd"}, {100, "c"}, {90, "xc"}, {50, "l"},
                {40, "xl"},  {10, "x"},   {9, "ix"},  {5, "v"},    {4, "iv"},  {1, "i"}};
  if (n <= 0 || n >= 4000) return fmt::to_string(n);
  std::string out;
  for (const auto& e : kTable) {
    while (n >= e.v) {
      out += e.s;
      n -= e.v;
    }
  }
  if (upper) {
    for (char& c : out) c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Word's letter numbering repeats the letter: a..z, aa..zz, aaa...
std::string Letters(int n, bool upper) {
  if (n <= 0) return fmt::to_string(n);
  char c = static_cast<char>((upper ? 'A' : 'a') + (n - 1) % 26);
  return std::string(static_cast<size_t>((n - 1) / 26 + 1), c);
}

std::string FormatNumber(int n, const std::string& fmt) {
  if (fmt == "lowerLetter") return Letters(n, false);
  if (fmt == "upperLetter") return Letters(n, true);
  if (fmt == "lowerRoman") return Roman(n, false);
  if (fmt == "upperRoman") return Roman(n, true);
  if (fmt == "decimalZero") return fmt::format(FMT_STRING("{}{}"), (n < 10 ? "0" : ""), n);
  if (fmt == "ordinal") {
    int m100 = n % 100, m10 = n % 10;
    const char* suf = (m100 >= 11 && m100 <= 13) ? "th" : m10 == 1 ? "st" : m10 == 2 ? "nd" : m10 == 3 ? "rd" : "th";
    return fmt::format(FMT_STRING("{}{}"), n, suf);
  }
  if (fmt == "none") return "";
  return fmt::to_string(n);  // decimal and the formats we do not spell out
}

struct Level {
  int start = 1;
  std::string fmt = "decimal";
  std::string text;  // "%1.", "(%2)", "%1.%2"
  bool has_text = false;
  bool legal = false;
};

struct AbstractNum {
  std::array<Level, 9> levels;
  std::string num_style_link;
};

struct Num {
  int abstract_id = -1;
  std::map<int, int> start_override;  // ilvl -> start
  std::map<int, Level> level_override;
  bool used = false;
};

struct ParaStyle {
  std::string name;  // lower-cased
  std::string based_on;
  int num_id = -1, ilvl = -1;
  int outline = -1;
};

class Numbering {
 public:
  void Load(const pugi::xml_document& doc) {
    pugi::xml_node root = doc.document_element();
    for (pugi::xml_node n = root.first_child(); n; n = n.next_sibling()) {
      if (Local(n) == "abstractNum") {
        AbstractNum an;
        int id = IntAttr(n, "abstractNumId", -1);
        if (pugi::xml_node link = Child(n, "numStyleLink")) an.num_style_link = AttrLocal(link, "val") ? AttrLocal(link, "val") : "";
        for (pugi::xml_node l = n.first_child(); l; l = l.next_sibling()) {
          if (Local(l) != "lvl") continue;
          int ilvl = IntAttr(l, "ilvl", -1);
          if (ilvl < 0 || ilvl > 8) continue;
          an.levels[static_cast<size_t>(ilvl)] = ReadLevel(l);
        }
        abstracts_[id] = an;
      } else if (Local(n) == "num") {
        Num num;
        int id = IntAttr(n, "numId", -1);
        num.abstract_id = IntAttr(Child(n, "abstractNumId"), "val", -1);
        for (pugi::xml_node o = n.first_child(); o; o = o.next_sibling()) {
          if (Local(o) != "lvlOverride") continue;
          int ilvl = IntAttr(o, "ilvl", -1);
          if (ilvl < 0 || ilvl > 8) continue;
          if (pugi::xml_node so = Child(o, "startOverride")) num.start_override[ilvl] = IntAttr(so, "val", 1);
          if (pugi::xml_node l = Child(o, "lvl")) num.level_override[ilvl] = ReadLevel(l);
        }
        nums_[id] = num;
      }
    }
  }

  // Resolves numStyleLink (an abstract numbering defined through a style).
  void LinkStyles(const std::map<std::string, ParaStyle>& styles) {
    for (auto& [id, an] : abstracts_) {
      if (an.num_style_link.empty()) continue;
      auto s = styles.find(an.num_style_link);
      if (s == styles.end() || s->second.num_id < 0) continue;
      auto num = nums_.find(s->second.num_id);
      if (num == nums_.end()) continue;
      auto target = abstracts_.find(num->second.abstract_id);
      if (target != abstracts_.end() && target->first != id) an.levels = target->second.levels;
    }
  }

  // The label of the next paragraph of list `num_id` at level `ilvl`
  // ("1.", "(a)", "•"); "" when there is none.
  std::string Next(int num_id, int ilvl) {
    auto it = nums_.find(num_id);
    if (it == nums_.end() || ilvl < 0 || ilvl > 8) return "";
    Num& num = it->second;
    auto an = abstracts_.find(num.abstract_id);
    if (an == abstracts_.end()) return "";
    std::array<Level, 9> levels = an->second.levels;
    for (auto& [l, lv] : num.level_override) levels[static_cast<size_t>(l)] = lv;
    for (auto& [l, start] : num.start_override) levels[static_cast<size_t>(l)].start = start;
    // Counters run per abstract list; a num with a start override restarts it.
    auto& counters = counters_[num.abstract_id];
    if (!num.used) {
      num.used = true;
      if (!num.start_override.empty()) counters.fill(0);
    }
    size_t l = static_cast<size_t>(ilvl);
    counters[l] = counters[l] == 0 ? levels[l].start : counters[l] + 1;
    for (size_t d = l + 1; d < 9; ++d) counters[d] = 0;
    const Level& lv = levels[l];
    if (lv.fmt == "bullet") return "\xE2\x80\xA2";  // •, whatever symbol-font glyph Word draws
    std::string text = lv.has_text ? lv.text : fmt::format(FMT_STRING("%{}."), l + 1);
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '%' && i + 1 < text.size() && text[i + 1] >= '1' && text[i + 1] <= '9') {
        size_t k = static_cast<size_t>(text[i + 1] - '1');
        int value = counters[k] == 0 ? levels[k].start : counters[k];
        out += FormatNumber(value, lv.legal ? "decimal" : levels[k].fmt);
        ++i;
      } else {
        out.push_back(text[i]);
      }
    }
    return out;
  }

 private:
  static Level ReadLevel(const pugi::xml_node& l) {
    Level lv;
    lv.start = IntAttr(Child(l, "start"), "val", 1);
    if (pugi::xml_node f = Child(l, "numFmt")) {
      if (const char* v = AttrLocal(f, "val")) lv.fmt = v;
    }
    if (pugi::xml_node t = Child(l, "lvlText")) {
      if (const char* v = AttrLocal(t, "val")) {
        lv.text = v;
        lv.has_text = true;
      }
    }
    lv.legal = OnOff(Child(l, "isLgl"));
    return lv;
  }

  std::map<int, AbstractNum> abstracts_;
  std::map<int, Num> nums_;
  std::map<int, std::array<int, 9>> counters_;
};

// ---- the document walk -------------------------------------------------------

class DocxWalker {
 public:
  DocxWalker(std::map<std::string, ParaStyle> styles, Numbering* numbering)
      : styles_(std::move(styles)), numbering_(numbering) {}

  Status Body(const pugi::xml_node& body, TextBuilder* out) {
    out_ = out;
    return Blocks(body, 0);
  }

  // Footnotes or endnotes: "[n] text" paragraphs in order of reference.
  Status Notes(const pugi::xml_document& doc, const std::map<std::string, int>& order,
               const std::string& heading, bool roman, TextBuilder* out) {
    std::map<int, pugi::xml_node> by_number;
    for (pugi::xml_node n = doc.document_element().first_child(); n; n = n.next_sibling()) {
      if (Local(n) != "footnote" && Local(n) != "endnote") continue;
      const char* type = AttrLocal(n, "type");
      if (type && std::strcmp(type, "normal") != 0) continue;  // separators
      const char* id = AttrLocal(n, "id");
      auto it = id ? order.find(id) : order.end();
      if (it != order.end()) by_number[it->second] = n;
    }
    if (by_number.empty()) return Status::OK();
    out->Paragraph();
    out->Inline(heading, /*preserve=*/true);
    out->Paragraph();
    for (auto& [number, node] : by_number) {
      TextBuilder note;
      out_ = &note;
      flat_ = 1;
      FB_RETURN_IF_ERROR(Blocks(node, 0));
      flat_ = 0;
      std::string text = note.Finish();
      out->Paragraph();
      out->Prefix("[" + (roman ? Roman(number, false) : fmt::to_string(number)) + "] ");
      out->Inline(text, true);
    }
    out->Paragraph();
    return Status::OK();
  }

  const std::map<std::string, int>& footnote_order() const { return footnotes_; }
  const std::map<std::string, int>& endnote_order() const { return endnotes_; }
  uint32_t hidden_runs() const { return hidden_runs_; }

 private:
  Status Deeper(int depth) {
    if (depth > kMaxXmlDepth) {
      return Status::OutOfRange(
          fmt::format(FMT_STRING("document XML nests deeper than {} levels"), kMaxXmlDepth));
    }
    return Status::OK();
  }

  // Block-level content: paragraphs, tables and their wrappers.
  Status Blocks(const pugi::xml_node& parent, int depth) {
    FB_RETURN_IF_ERROR(Deeper(depth));
    for (pugi::xml_node n = parent.first_child(); n; n = n.next_sibling()) {
      if (n.type() != pugi::node_element) continue;
      std::string_view name = Local(n);
      if (name == "p") {
        FB_RETURN_IF_ERROR(Paragraph(n, depth + 1));
      } else if (name == "tbl") {
        FB_RETURN_IF_ERROR(Table(n, depth + 1));
      } else if (name == "sdt") {
        if (pugi::xml_node c = Child(n, "sdtContent")) FB_RETURN_IF_ERROR(Blocks(c, depth + 1));
      } else if (name == "customXml" || name == "ins" || name == "moveTo" || name == "txbxContent" ||
                 name == "sdtContent") {
        FB_RETURN_IF_ERROR(Blocks(n, depth + 1));
      } else if (name == "AlternateContent") {
        if (pugi::xml_node c = Child(n, "Choice")) FB_RETURN_IF_ERROR(Blocks(c, depth + 1));
      }
      // sectPr, bookmarks, del, moveFrom, proofErr: no text.
    }
    return Status::OK();
  }

  const ParaStyle* Style(const std::string& id) const {
    auto it = styles_.find(id);
    return it == styles_.end() ? nullptr : &it->second;
  }

  // Heading level of a paragraph style (following basedOn), 0 if none.
  int HeadingLevel(const std::string& style_id, int outline) const {
    if (outline >= 0 && outline <= 8) return outline + 1;
    std::string id = style_id;
    for (int hop = 0; hop < 20 && !id.empty(); ++hop) {
      const ParaStyle* s = Style(id);
      if (!s) {
        // Built-in ids when styles.xml is missing.
        if (id == "Title") return 1;
        if (id.size() == 8 && id.rfind("Heading", 0) == 0 && id[7] >= '1' && id[7] <= '9') return id[7] - '0';
        return 0;
      }
      if (s->name == "title") return 1;
      if (s->name.size() == 9 && s->name.rfind("heading ", 0) == 0 && s->name[8] >= '1' && s->name[8] <= '9') {
        return s->name[8] - '0';
      }
      if (s->outline >= 0 && s->outline <= 8) return s->outline + 1;
      id = s->based_on;
    }
    return 0;
  }

  // numPr of a paragraph: its own, else its style's (following basedOn).
  void NumberingOf(const pugi::xml_node& ppr, const std::string& style_id, int* num_id, int* ilvl) const {
    *num_id = -1;
    *ilvl = -1;
    if (pugi::xml_node np = Child(ppr, "numPr")) {
      *num_id = IntAttr(Child(np, "numId"), "val", -1);
      *ilvl = IntAttr(Child(np, "ilvl"), "val", 0);
      return;
    }
    std::string id = style_id;
    for (int hop = 0; hop < 20 && !id.empty(); ++hop) {
      const ParaStyle* s = Style(id);
      if (!s) return;
      if (s->num_id >= 0) {
        *num_id = s->num_id;
        *ilvl = s->ilvl < 0 ? 0 : s->ilvl;
        return;
      }
      id = s->based_on;
    }
  }

  Status Paragraph(const pugi::xml_node& p, int depth) {
    pugi::xml_node ppr = Child(p, "pPr");
    std::string style_id;
    if (pugi::xml_node ps = Child(ppr, "pStyle")) style_id = AttrLocal(ps, "val") ? AttrLocal(ps, "val") : "";
    int outline = IntAttr(Child(ppr, "outlineLvl"), "val", -1);
    std::string text;
    std::vector<pugi::xml_node> boxes;
    FB_RETURN_IF_ERROR(Runs(p, depth + 1, &text, &boxes));
    bool blank = text.find_first_not_of(" \t\n\xC2\xA0") == std::string::npos;
    if (!blank) {
      int num_id, ilvl;
      NumberingOf(ppr, style_id, &num_id, &ilvl);
      std::string label = num_id > 0 ? numbering_->Next(num_id, ilvl) : "";
      // Word's outline levels are also used for numbered clause paragraphs:
      // only a short, single-line paragraph reads as a heading.
      int heading = flat_ || text.size() > 200 || text.find('\n') != std::string::npos
                        ? 0
                        : HeadingLevel(style_id, outline);
      if (flat_) {
        out_->Inline(" ");
        if (!label.empty()) out_->Inline(label + " ");
        out_->Inline(text);
      } else {
        out_->Paragraph();
        std::string prefix;
        if (heading > 0) prefix = std::string(static_cast<size_t>(heading), '#') + " ";
        if (!label.empty()) {
          if (heading == 0 && ilvl > 0) prefix += std::string(static_cast<size_t>(2 * ilvl), ' ');
          prefix += label + " ";
        }
        if (!prefix.empty()) out_->Prefix(prefix);
        out_->Inline(text, /*preserve=*/true);
        out_->Paragraph();
      }
    }
    for (const pugi::xml_node& box : boxes) FB_RETURN_IF_ERROR(Blocks(box, depth + 1));
    return Status::OK();
  }

  // Inline content of a paragraph into *text; text boxes are returned to be
  // read as blocks after it.
  Status Runs(const pugi::xml_node& parent, int depth, std::string* text, std::vector<pugi::xml_node>* boxes) {
    FB_RETURN_IF_ERROR(Deeper(depth));
    for (pugi::xml_node n = parent.first_child(); n; n = n.next_sibling()) {
      if (n.type() != pugi::node_element) continue;
      std::string_view name = Local(n);
      if (name == "r") {
        if (OnOff(Child(Child(n, "rPr"), "vanish"))) {
          ++hidden_runs_;  // hidden text: not shown to the reader, not indexed
          continue;
        }
        FB_RETURN_IF_ERROR(RunContent(n, depth + 1, text, boxes));
      } else if (name == "hyperlink" || name == "smartTag" || name == "ins" || name == "moveTo" ||
                 name == "fldSimple" || name == "customXml" || name == "dir" || name == "bdo" ||
                 name == "sdtContent") {
        FB_RETURN_IF_ERROR(Runs(n, depth + 1, text, boxes));
      } else if (name == "sdt") {
        if (pugi::xml_node c = Child(n, "sdtContent")) FB_RETURN_IF_ERROR(Runs(c, depth + 1, text, boxes));
      } else if (name == "AlternateContent") {
        if (pugi::xml_node c = Child(n, "Choice")) FB_RETURN_IF_ERROR(Runs(c, depth + 1, text, boxes));
      }
      // del, moveFrom (deleted text), pPr, bookmarks, proofErr: skipped.
    }
    return Status::OK();
  }

  Status RunContent(const pugi::xml_node& r, int depth, std::string* text, std::vector<pugi::xml_node>* boxes) {
    FB_RETURN_IF_ERROR(Deeper(depth));
    for (pugi::xml_node n = r.first_child(); n; n = n.next_sibling()) {
      if (n.type() != pugi::node_element) continue;
      std::string_view name = Local(n);
      if (name == "t") {
        *text += n.text().get();
      } else if (name == "tab" || name == "ptab") {
        *text += '\t';
      } else if (name == "br" || name == "cr") {
        *text += '\n';
      } else if (name == "noBreakHyphen") {
        *text += '-';
      } else if (name == "footnoteReference" || name == "endnoteReference") {
        bool foot = name == "footnoteReference";
        const char* id = AttrLocal(n, "id");
        if (!id) continue;
        auto& order = foot ? footnotes_ : endnotes_;
        auto [it, inserted] = order.emplace(id, static_cast<int>(order.size()) + 1);
        *text += "[" + (foot ? fmt::to_string(it->second) : Roman(it->second, false)) + "]";
      } else if (name == "AlternateContent") {
        if (pugi::xml_node c = Child(n, "Choice")) FB_RETURN_IF_ERROR(RunContent(c, depth + 1, text, boxes));
      } else if (name == "drawing" || name == "pict" || name == "object") {
        CollectBoxes(n, depth + 1, boxes);
      }
      // delText, instrText (field codes), fldChar, rPr, softHyphen, lastRenderedPageBreak: no text.
    }
    return Status::OK();
  }

  // Text boxes (w:txbxContent) inside a drawing, at any depth (bounded).
  void CollectBoxes(const pugi::xml_node& n, int depth, std::vector<pugi::xml_node>* boxes) {
    if (depth > kMaxXmlDepth) return;
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element) continue;
      if (Local(c) == "txbxContent") {
        boxes->push_back(c);
      } else if (Local(c) != "Fallback") {
        CollectBoxes(c, depth + 1, boxes);
      }
    }
  }

  // Rows as "cell | cell" lines; inside a cell everything is flattened.
  Status Table(const pugi::xml_node& tbl, int depth) {
    FB_RETURN_IF_ERROR(Deeper(depth));
    if (!flat_) out_->Paragraph();
    std::vector<pugi::xml_node> rows;
    CollectChildren(tbl, "tr", &rows, 0);
    bool first_row = true;
    for (const pugi::xml_node& tr : rows) {
      std::vector<pugi::xml_node> cells;
      CollectChildren(tr, "tc", &cells, 0);
      std::string line;
      for (size_t i = 0; i < cells.size(); ++i) {
        TextBuilder cell;
        TextBuilder* saved = out_;
        out_ = &cell;
        ++flat_;
        Status s = Blocks(cells[i], depth + 1);
        --flat_;
        out_ = saved;
        FB_RETURN_IF_ERROR(s);
        if (i > 0) line += " | ";
        line += cell.Finish();
      }
      if (line.find_first_not_of(" |") == std::string::npos) continue;
      if (flat_) {
        out_->Inline(first_row ? " " : " / ");
        out_->Inline(line);
      } else {
        out_->Line();
        out_->Inline(line, /*preserve=*/true);
      }
      first_row = false;
    }
    if (!flat_) out_->Paragraph();
    return Status::OK();
  }

  // Children named `local`, looking through sdt / customXml wrappers.
  static void CollectChildren(const pugi::xml_node& parent, std::string_view local,
                              std::vector<pugi::xml_node>* out, int depth) {
    if (depth > 16) return;
    for (pugi::xml_node n = parent.first_child(); n; n = n.next_sibling()) {
      if (n.type() != pugi::node_element) continue;
      std::string_view name = Local(n);
      if (name == local) {
        out->push_back(n);
      } else if (name == "sdt" || name == "sdtContent" || name == "customXml" || name == "ins") {
        CollectChildren(name == "sdt" ? Child(n, "sdtContent") : n, local, out, depth + 1);
      }
    }
  }

  std::map<std::string, ParaStyle> styles_;
  Numbering* numbering_;
  TextBuilder* out_ = nullptr;
  int flat_ = 0;
  std::map<std::string, int> footnotes_, endnotes_;
  uint32_t hidden_runs_ = 0;
};

std::map<std::string, ParaStyle> LoadStyles(const pugi::xml_document& doc) {
  std::map<std::string, ParaStyle> styles;
  for (pugi::xml_node s = doc.document_element().first_child(); s; s = s.next_sibling()) {
    if (Local(s) != "style") continue;
    const char* type = AttrLocal(s, "type");
    if (type && std::strcmp(type, "paragraph") != 0 && std::strcmp(type, "numbering") != 0) continue;
    const char* id = AttrLocal(s, "styleId");
    if (!id) continue;
    ParaStyle ps;
    if (pugi::xml_node n = Child(s, "name")) {
      const char* v = AttrLocal(n, "val");
      ps.name = v ? v : "";
      for (char& c : ps.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (pugi::xml_node b = Child(s, "basedOn")) ps.based_on = AttrLocal(b, "val") ? AttrLocal(b, "val") : "";
    pugi::xml_node ppr = Child(s, "pPr");
    if (pugi::xml_node np = Child(ppr, "numPr")) {
      ps.num_id = IntAttr(Child(np, "numId"), "val", -1);
      ps.ilvl = IntAttr(Child(np, "ilvl"), "val", -1);
    }
    ps.outline = IntAttr(Child(ppr, "outlineLvl"), "val", -1);
    styles[id] = ps;
  }
  return styles;
}

// Targets of a part's relationships by type suffix ("/styles" ->
// "word/styles.xml"), resolved against the part's folder.
std::map<std::string, std::string> Relationships(const std::string& rels_xml, const std::string& base_dir) {
  std::map<std::string, std::string> out;
  pugi::xml_document doc;
  if (!doc.load_buffer(rels_xml.data(), rels_xml.size())) return out;
  for (pugi::xml_node r = doc.document_element().first_child(); r; r = r.next_sibling()) {
    const char* type = AttrLocal(r, "Type");
    const char* target = AttrLocal(r, "Target");
    const char* mode = AttrLocal(r, "TargetMode");
    if (!type || !target || (mode && std::strcmp(mode, "External") == 0)) continue;
    std::string t = target;
    std::string path = !t.empty() && t[0] == '/' ? t.substr(1) : base_dir + t;
    std::string_view ty(type);
    size_t slash = ty.find_last_of('/');
    out.emplace(std::string(slash == std::string_view::npos ? ty : ty.substr(slash + 1)), path);
  }
  return out;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

Result<std::string> ReadRequired(Zip& zip, const std::string& name) {
  auto r = zip.Read(name);
  if (!r.ok()) return r.status();
  if (!r->has_value()) return Status::Corruption("not a Word document: the zip has no " + name);
  return std::move(**r);
}

std::string ReadOptional(Zip& zip, const std::string& name, Status* status) {
  auto r = zip.Read(name);
  if (!r.ok()) {
    *status = r.status();
    return "";
  }
  return r->has_value() ? std::move(**r) : "";
}

}  // namespace

Result<Extraction> ExtractDocx(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options) {
  Extraction ex;
  ex.format = "docx";
  Zip zip;
  FB_RETURN_IF_ERROR(zip.Open(bytes, options));
  Status st;

  // The main part, through the package relationships (word/document.xml
  // in every file Word writes).
  std::string main_part = "word/document.xml";
  std::string pkg_rels = ReadOptional(zip, "_rels/.rels", &st);
  FB_RETURN_IF_ERROR(st);
  if (!pkg_rels.empty()) {
    auto rels = Relationships(pkg_rels, "");
    auto it = rels.find("officeDocument");
    if (it != rels.end()) main_part = it->second;
  }
  auto main_xml = ReadRequired(zip, main_part);
  if (!main_xml.ok()) return main_xml.status();
  std::string dir = DirOf(main_part);
  std::string part_rels = ReadOptional(zip, dir + "_rels/" + main_part.substr(dir.size()) + ".rels", &st);
  FB_RETURN_IF_ERROR(st);
  auto rels = Relationships(part_rels, dir);
  auto part = [&](const char* type, const char* fallback) {
    auto it = rels.find(type);
    return it != rels.end() ? it->second : dir + fallback;
  };

  std::map<std::string, ParaStyle> styles;
  std::string styles_xml = ReadOptional(zip, part("styles", "styles.xml"), &st);
  FB_RETURN_IF_ERROR(st);
  if (!styles_xml.empty()) {
    pugi::xml_document sd;
    FB_RETURN_IF_ERROR(ParseXml(styles_xml, part("styles", "styles.xml"), &sd));
    styles = LoadStyles(sd);
  }
  Numbering numbering;
  std::string numbering_xml = ReadOptional(zip, part("numbering", "numbering.xml"), &st);
  FB_RETURN_IF_ERROR(st);
  if (!numbering_xml.empty()) {
    pugi::xml_document nd;
    FB_RETURN_IF_ERROR(ParseXml(numbering_xml, part("numbering", "numbering.xml"), &nd));
    numbering.Load(nd);
    numbering.LinkStyles(styles);
  }

  pugi::xml_document doc;
  FB_RETURN_IF_ERROR(ParseXml(*main_xml, main_part, &doc));
  pugi::xml_node body = Child(doc.document_element(), "body");
  if (!body) return Status::Corruption(main_part + " has no w:body: not a Word document");
  DocxWalker walker(std::move(styles), &numbering);
  TextBuilder text;
  FB_RETURN_IF_ERROR(walker.Body(body, &text));

  struct NotesPart {
    const char* type;
    const char* fallback;
    const char* heading;
    bool roman;
  };
  for (const NotesPart& np : {NotesPart{"footnotes", "footnotes.xml", "## Footnotes", false},
                              NotesPart{"endnotes", "endnotes.xml", "## Endnotes", true}}) {
    const auto& order = np.roman ? walker.endnote_order() : walker.footnote_order();
    if (order.empty()) continue;
    std::string xml = ReadOptional(zip, part(np.type, np.fallback), &st);
    FB_RETURN_IF_ERROR(st);
    if (xml.empty()) continue;
    pugi::xml_document notes;
    FB_RETURN_IF_ERROR(ParseXml(xml, part(np.type, np.fallback), &notes));
    FB_RETURN_IF_ERROR(walker.Notes(notes, order, np.heading, np.roman, &text));
  }
  if (walker.hidden_runs() > 0) {
    ex.warnings.push_back(fmt::format(FMT_STRING("{} runs of hidden text (w:vanish) not indexed"),
                                      walker.hidden_runs()));
  }

  Document d;
  d.id = id;
  d.title = name;
  d.text = text.Finish();

  // Core properties: title, creator, created.
  std::string core = ReadOptional(zip, "docProps/core.xml", &st);
  if (st.ok() && !core.empty()) {
    pugi::xml_document cd;
    if (ParseXml(core, "docProps/core.xml", &cd).ok()) {
      for (pugi::xml_node n = cd.document_element().first_child(); n; n = n.next_sibling()) {
        std::string_view field = Local(n);
        TextBuilder v;
        v.Inline(n.text().get());
        std::string value = v.Finish();
        if (value.empty()) continue;
        if (field == "title") {
          d.title = Shorten(value, 500);
        } else if (field == "creator") {
          d.metadata["author"] = {Shorten(value, 200)};
        } else if (field == "created" && value.size() >= 10 && value[4] == '-' && value[7] == '-') {
          d.metadata["created"] = {value.substr(0, 10)};
        }
      }
    } else {
      ex.warnings.push_back("docProps/core.xml is malformed; document properties not read");
    }
  } else if (!st.ok()) {
    ex.warnings.push_back("docProps/core.xml not read: " + st.ToString());
  }
  ex.documents.push_back(std::move(d));
  return ex;
}

}  // namespace foldback::ingest
