// HTML → text with gumbo, an implementation of the HTML5 parsing algorithm:
// pages are read into the same tree a browser builds, so what counts as
// visible here is what a reader sees (hidden text is an injection vector).
#include <gumbo.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "ingest/charset.h"
#include "ingest/extract.h"
#include "ingest/formats_internal.h"
#include "ingest/text_builder.h"

namespace foldback::ingest {
namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsHtmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::string LowerStr(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

// The charset a page declares in a <meta> within its first bytes (the HTML
// spec's prescan looks at 1024 bytes; pages with long heads get 4096).
std::string SniffMetaCharset(std::string_view bytes) {
  std::string head = LowerStr(bytes.substr(0, 4096));
  size_t pos = 0;
  while ((pos = head.find("<meta", pos)) != std::string::npos) {
    size_t end = head.find('>', pos);
    if (end == std::string::npos) end = head.size();
    std::string_view tag(head.data() + pos, end - pos);
    size_t cs = tag.find("charset");
    while (cs != std::string_view::npos) {
      size_t i = cs + 7;
      while (i < tag.size() && IsHtmlSpace(tag[i])) ++i;
      if (i < tag.size() && tag[i] == '=') {
        ++i;
        while (i < tag.size() && IsHtmlSpace(tag[i])) ++i;
        if (i < tag.size() && (tag[i] == '"' || tag[i] == '\'')) ++i;
        size_t j = i;
        while (j < tag.size() && !IsHtmlSpace(tag[j]) && tag[j] != '"' && tag[j] != '\'' && tag[j] != ';' &&
               tag[j] != '/' && tag[j] != '>') {
          ++j;
        }
        if (j > i) return std::string(tag.substr(i, j - i));
      }
      cs = tag.find("charset", cs + 7);
    }
    pos = end;
  }
  return "";
}

Decoded DecodeHtml(std::string_view bytes, std::string_view declared) {
  if (bytes.size() >= 3 && std::memcmp(bytes.data(), "\xEF\xBB\xBF", 3) == 0) {
    return DecodeToUtf8(bytes.substr(3), "utf-8");
  }
  if (bytes.size() >= 2 && std::memcmp(bytes.data(), "\xFF\xFE", 2) == 0) {
    return DecodeToUtf8(bytes.substr(2), "utf-16le");
  }
  if (bytes.size() >= 2 && std::memcmp(bytes.data(), "\xFE\xFF", 2) == 0) {
    return DecodeToUtf8(bytes.substr(2), "utf-16be");
  }
  std::string cs(declared);
  if (cs.empty()) cs = SniffMetaCharset(bytes);
  // A page cannot declare UTF-16 in a meta tag it could be read with (spec:
  // treat as UTF-8).
  if (LowerStr(cs).rfind("utf-16", 0) == 0) cs = "utf-8";
  return DecodeToUtf8(bytes, cs);
}

bool IsVoid(std::string_view t) {
  static const char* kVoid[] = {"area", "base",  "br",   "col",    "embed", "hr",    "img",     "input",
                                "link", "meta",  "param", "source", "track", "wbr",  "basefont", "bgsound",
                                "frame", "keygen", "image"};
  for (const char* v : kVoid) {
    if (t == v) return true;
  }
  return false;
}

// Elements whose end tag may be left out: a new one closes the previous.
bool HasOptionalEnd(std::string_view t) {
  static const char* kOpt[] = {"p",     "li",    "dt",    "dd", "option", "optgroup", "tr", "td",
                               "th",    "tbody", "thead", "tfoot", "rb", "rt", "rtc", "rp", "colgroup",
                               "caption", "html", "head", "body"};
  for (const char* v : kOpt) {
    if (t == v) return true;
  }
  return false;
}

bool IsRawText(std::string_view t) {
  return t == "script" || t == "style" || t == "textarea" || t == "title" || t == "xmp" || t == "iframe" ||
         t == "noembed" || t == "noframes" || t == "plaintext";
}

// Gumbo's tree construction looks at the stack of open elements for most
// tags, so its time grows with (tags × depth): 100,000 nested <div>s take
// half a minute. This linear pre-scan estimates the depth the tree will
// reach (elements with optional end tags assumed closed) and the work
// (sum of the depth at each start tag) so such pages are refused before
// gumbo sees them.
struct NestingEstimate {
  uint64_t max_depth = 0;
  uint64_t work = 0;
};

NestingEstimate EstimateNesting(std::string_view s) {
  NestingEstimate est;
  uint64_t depth = 0;
  size_t i = 0;
  const size_t n = s.size();
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  while (i < n) {
    const char* lt = static_cast<const char*>(std::memchr(s.data() + i, '<', n - i));
    if (!lt) break;
    i = static_cast<size_t>(lt - s.data()) + 1;
    if (i >= n) break;
    if (s.compare(i, 3, "!--") == 0) {
      size_t e = s.find("-->", i + 3);
      i = e == std::string_view::npos ? n : e + 3;
      continue;
    }
    bool end_tag = s[i] == '/';
    size_t name_at = end_tag ? i + 1 : i;
    if (name_at >= n || !is_alpha(s[name_at])) {
      if (s[i] == '!' || s[i] == '?') {
        size_t e = s.find('>', i);
        i = e == std::string_view::npos ? n : e + 1;
      }
      continue;
    }
    size_t name_end = name_at;
    while (name_end < n && !IsHtmlSpace(s[name_end]) && s[name_end] != '/' && s[name_end] != '>') ++name_end;
    std::string name = LowerStr(s.substr(name_at, std::min<size_t>(name_end - name_at, 16)));
    size_t gt = s.find('>', name_end);
    if (gt == std::string_view::npos) break;
    bool self_closing = gt > 0 && s[gt - 1] == '/';
    i = gt + 1;
    if (end_tag) {
      if (!IsVoid(name) && !HasOptionalEnd(name) && depth > 0) --depth;
      continue;
    }
    est.work += depth;
    if (IsRawText(name)) {
      // Skip to the matching end tag: its content is text, not markup.
      std::string close = "</" + name;
      size_t j = i;
      while (true) {
        size_t lt2 = s.find("</", j);
        if (lt2 == std::string_view::npos) {
          j = n;
          break;
        }
        if (LowerStr(s.substr(lt2, close.size())) == close) {
          j = lt2;
          break;
        }
        j = lt2 + 2;
      }
      i = j;
      continue;
    }
    if (IsVoid(name) || HasOptionalEnd(name) || self_closing) continue;
    ++depth;
    est.max_depth = std::max(est.max_depth, depth);
  }
  return est;
}

const char* Attr(const GumboElement& e, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&e.attributes, name);
  return a ? a->value : nullptr;
}

// The `hidden` attribute, or an inline style that hides the element
// (display:none, visibility:hidden/collapse, font-size:0, opacity:0).
bool IsHidden(const GumboElement& e) {
  if (gumbo_get_attribute(&e.attributes, "hidden")) return true;
  const char* style = Attr(e, "style");
  if (!style) return false;
  std::string css;
  for (const char* p = style; *p; ++p) {
    if (!IsHtmlSpace(*p)) css.push_back(LowerAscii(*p));
  }
  size_t pos = 0;
  while (pos <= css.size()) {
    size_t semi = css.find(';', pos);
    if (semi == std::string::npos) semi = css.size();
    std::string_view decl(css.data() + pos, semi - pos);
    auto value_is = [&](std::string_view prop, std::string_view value) {
      if (decl.substr(0, prop.size()) != prop) return false;
      std::string_view v = decl.substr(prop.size());
      return v.substr(0, value.size()) == value &&
             (v.size() == value.size() || v[value.size()] == '!');
    };
    if (value_is("display:", "none") || value_is("visibility:", "hidden") ||
        value_is("visibility:", "collapse")) {
      return true;
    }
    // Text no reader can see: zero size or fully transparent (a common way
    // to plant instructions for a model in a page).
    for (std::string_view zero : {"0", "0px", "0pt", "0em", "0rem", "0%"}) {
      if (value_is("font-size:", zero)) return true;
    }
    for (std::string_view zero : {"0", "0.0", "0%"}) {
      if (value_is("opacity:", zero)) return true;
    }
    pos = semi + 1;
  }
  return false;
}

// Elements whose content is never shown as text.
bool IsSkipped(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_CANVAS:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_SELECT:
    case GUMBO_TAG_DATALIST:
    case GUMBO_TAG_AUDIO:
    case GUMBO_TAG_VIDEO:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_NOEMBED:
    case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_BASE:
      return true;
    default:
      return false;
  }
}

// 0: inline; 1: block (own line); 2: paragraph-like block (blank line around).
int BlockLevel(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_LISTING:
    case GUMBO_TAG_XMP:
      return 2;
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_LEGEND:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_OPTION:
    case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_MENU:
    case GUMBO_TAG_DIR:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TFOOT:
      return 1;
    default:
      return 0;
  }
}

int HeadingLevel(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_H1: return 1;
    case GUMBO_TAG_H2: return 2;
    case GUMBO_TAG_H3: return 3;
    case GUMBO_TAG_H4: return 4;
    case GUMBO_TAG_H5: return 5;
    case GUMBO_TAG_H6: return 6;
    default: return 0;
  }
}

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

std::string Alpha(int n, bool upper) {
  if (n <= 0) return fmt::to_string(n);
  std::string out;
  while (n > 0) {
    --n;
    out.insert(out.begin(), static_cast<char>((upper ? 'A' : 'a') + n % 26));
    n /= 26;
  }
  return out;
}

struct ListState {
  bool ordered = false;
  int next = 1;
  char type = '1';  // 1 a A i I
};

class Walker {
 public:
  Walker(HtmlPage* page) : page_(page) {}

  void Run(const GumboNode* root) {
    struct Frame {
      const GumboNode* node;
      size_t next;
      // What to undo when leaving the element.
      int block = 0;
      bool list = false, cell = false, row = false, pre = false, heading = false;
    };
    std::vector<Frame> stack;
    stack.push_back({root, 0});
    while (!stack.empty()) {
      Frame& f = stack.back();
      const GumboVector* children = nullptr;
      if (f.node->type == GUMBO_NODE_DOCUMENT) children = &f.node->v.document.children;
      if (f.node->type == GUMBO_NODE_ELEMENT) children = &f.node->v.element.children;
      if (children && f.next < children->length) {
        const GumboNode* child = static_cast<const GumboNode*>(children->data[f.next++]);
        Frame entered{child, 0};
        if (Enter(child, &entered)) stack.push_back(entered);
        continue;
      }
      Leave(f);
      stack.pop_back();
    }
  }

 private:
  template <typename Frame>
  bool Enter(const GumboNode* n, Frame* f) {
    switch (n->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_CDATA:
        out_.Inline(n->v.text.text, pre_ > 0);
        return false;
      case GUMBO_NODE_WHITESPACE:
        out_.Inline(n->v.text.text, pre_ > 0);
        return false;
      case GUMBO_NODE_COMMENT:
      case GUMBO_NODE_TEMPLATE:
      case GUMBO_NODE_DOCUMENT:
        return false;
      case GUMBO_NODE_ELEMENT:
        break;
    }
    const GumboElement& e = n->v.element;
    if (e.tag == GUMBO_TAG_TITLE) {
      if (page_->title.empty()) page_->title = CollectText(n);
      return false;
    }
    if (e.tag == GUMBO_TAG_META) {
      Meta(e);
      return false;
    }
    if (e.tag == GUMBO_TAG_HTML) {
      if (const char* lang = Attr(e, "lang"); lang && *lang) page_->metadata["language"] = {lang};
    }
    if (IsSkipped(e.tag)) return false;
    if (IsHidden(e)) {
      ++page_->hidden_skipped;
      return false;
    }
    if (e.tag == GUMBO_TAG_IMG || e.tag == GUMBO_TAG_INPUT) return false;
    int level = BlockLevel(e.tag);
    bool is_list = e.tag == GUMBO_TAG_UL || e.tag == GUMBO_TAG_OL || e.tag == GUMBO_TAG_MENU || e.tag == GUMBO_TAG_DIR;
    if (is_list && lists_.empty()) level = 2;  // a list stands apart; a nested one does not
    Block(level);
    f->block = level;
    if (int h = HeadingLevel(e.tag); h > 0 && cell_ == 0) {
      out_.Prefix(std::string(static_cast<size_t>(h), '#') + " ");
      f->heading = true;
      if (first_heading_.empty()) first_heading_ = CollectText(n);
    }
    switch (e.tag) {
      case GUMBO_TAG_UL:
      case GUMBO_TAG_OL:
      case GUMBO_TAG_MENU:
      case GUMBO_TAG_DIR: {
        ListState ls;
        ls.ordered = e.tag == GUMBO_TAG_OL;
        if (const char* start = Attr(e, "start")) ls.next = std::atoi(start);
        if (const char* type = Attr(e, "type"); type && *type) ls.type = *type;
        lists_.push_back(ls);
        f->list = true;
        break;
      }
      case GUMBO_TAG_LI:
        if (cell_ == 0) {
          std::string marker(lists_.size() > 1 ? 2 * (lists_.size() - 1) : 0, ' ');
          if (!lists_.empty() && lists_.back().ordered) {
            ListState& ls = lists_.back();
            if (const char* v = Attr(e, "value")) ls.next = std::atoi(v);
            int k = ls.next++;
            switch (ls.type) {
              case 'a': marker += Alpha(k, false) + ". "; break;
              case 'A': marker += Alpha(k, true) + ". "; break;
              case 'i': marker += Roman(k, false) + ". "; break;
              case 'I': marker += Roman(k, true) + ". "; break;
              default:
                marker += fmt::format(FMT_STRING("{}. "), k);
                break;
            }
          } else {
            marker += "- ";
          }
          out_.Prefix(marker);
        }
        break;
      case GUMBO_TAG_TR:
        rows_.push_back(0);
        f->row = true;
        break;
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TH:
        if (!rows_.empty() && rows_.back()++ > 0) out_.Inline(" | ");
        ++cell_;
        f->cell = true;
        break;
      case GUMBO_TAG_PRE:
      case GUMBO_TAG_LISTING:
      case GUMBO_TAG_XMP:
        ++pre_;
        f->pre = true;
        break;
      default:
        break;
    }
    return true;
  }

  template <typename Frame>
  void Leave(const Frame& f) {
    if (f.list) lists_.pop_back();
    if (f.row) rows_.pop_back();
    if (f.cell) --cell_;
    if (f.pre) --pre_;
    Block(f.block);
  }

  void Block(int level) {
    if (level == 0) return;
    if (cell_ > 0) {
      out_.Inline(" ");
    } else if (level >= 2) {
      out_.Paragraph();
    } else {
      out_.Line();
    }
  }

  void Meta(const GumboElement& e) {
    const char* content = Attr(e, "content");
    if (!content || !*content) return;
    const char* name = Attr(e, "name");
    if (!name) name = Attr(e, "property");
    if (!name) return;
    std::string key = LowerStr(name);
    if (key == "description" || key == "og:description") {
      if (!page_->metadata.count("description")) page_->metadata["description"] = {Shorten(content, 1000)};
    } else if (key == "author") {
      page_->metadata["author"].push_back(Shorten(content, 200));
    } else if (key == "keywords") {
      std::string_view all(content);
      size_t pos = 0;
      while (pos <= all.size()) {
        size_t comma = all.find(',', pos);
        if (comma == std::string_view::npos) comma = all.size();
        TextBuilder kw;
        kw.Inline(all.substr(pos, comma - pos));
        std::string k = kw.Finish();
        if (!k.empty() && page_->metadata["keywords"].size() < 64) page_->metadata["keywords"].push_back(k);
        pos = comma + 1;
      }
    } else if (key == "og:title") {
      og_title_ = Shorten(content, 300);
    }
  }

  // Text of an element's descendants, whitespace collapsed (titles, headings).
  static std::string CollectText(const GumboNode* root) {
    TextBuilder tb;
    std::vector<const GumboNode*> stack{root};
    while (!stack.empty() && tb.size() < 1000) {
      const GumboNode* n = stack.back();
      stack.pop_back();
      if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA || n->type == GUMBO_NODE_WHITESPACE) {
        tb.Inline(n->v.text.text);
      } else if (n->type == GUMBO_NODE_ELEMENT && !IsSkipped(n->v.element.tag) && !IsHidden(n->v.element)) {
        const GumboVector& c = n->v.element.children;
        for (size_t i = c.length; i-- > 0;) stack.push_back(static_cast<const GumboNode*>(c.data[i]));
      }
    }
    return Shorten(tb.Finish(), 300);
  }

 public:
  std::string Finish() {
    if (page_->title.empty()) page_->title = !og_title_.empty() ? og_title_ : first_heading_;
    return out_.Finish();
  }

 private:
  HtmlPage* page_;
  TextBuilder out_;
  std::vector<ListState> lists_;
  std::vector<int> rows_;
  int cell_ = 0, pre_ = 0;
  std::string og_title_, first_heading_;
};

}  // namespace

Status HtmlToText(std::string_view bytes, std::string_view declared_charset, const ExtractOptions& options,
                  HtmlPage* page, Extraction* report) {
  Decoded d = DecodeHtml(bytes, declared_charset);
  report->replaced += d.replaced;
  if (!d.note.empty()) report->warnings.push_back(d.note);
  if (d.replaced > 0) {
    report->warnings.push_back(
        fmt::format(FMT_STRING("{} undecodable byte sequences replaced by U+FFFD"), d.replaced));
  }
  NestingEstimate est = EstimateNesting(d.text);
  if (est.max_depth > options.max_html_depth) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("HTML nests elements about {} deep (limit {})"), est.max_depth,
                    options.max_html_depth));
  }
  if (est.work > options.max_html_nesting_work) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("HTML too deeply nested for its size (nesting work {}, limit {})"),
                    est.work, options.max_html_nesting_work));
  }
  GumboOptions go = kGumboDefaultOptions;
  go.max_errors = 0;  // do not collect parse errors: we only want the tree
  GumboOutput* out = gumbo_parse_with_options(&go, d.text.data(), d.text.size());
  if (!out) return Status::Internal("the HTML parser returned nothing");
  Walker w(page);
  w.Run(out->document);
  page->text = w.Finish();
  gumbo_destroy_output(&go, out);
  if (page->hidden_skipped > 0) {
    report->warnings.push_back(
        fmt::format(FMT_STRING("{} hidden elements skipped (hidden attribute or inline "
                               "display:none / visibility:hidden / font-size:0 / opacity:0)"),
                    page->hidden_skipped));
  }
  return Status::OK();
}

Result<Extraction> ExtractHtml(std::string_view bytes, const std::string& name, const std::string& id,
                               const ExtractOptions& options) {
  Extraction ex;
  ex.format = "html";
  HtmlPage page;
  FB_RETURN_IF_ERROR(HtmlToText(bytes, "", options, &page, &ex));
  Document d;
  d.id = id;
  d.kind = DocKind::kWebPage;
  d.title = page.title.empty() ? name : page.title;
  d.text = std::move(page.text);
  d.metadata = std::move(page.metadata);
  ex.documents.push_back(std::move(d));
  return ex;
}

}  // namespace foldback::ingest
