// MsgHtmlToText: a small, forgiving HTML-to-text pass for mail bodies that
// runs the same in every host (the native HTML extractor's gumbo is not in
// the wasm build). One pass, linear in the input.
#include <cstring>
#include <string>
#include <vector>

#include "foldback/msg.h"
#include "text/utf8.h"

namespace foldback {
namespace {

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

bool In(std::string_view name, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (name == n) return true;
  }
  return false;
}

// Finds "</name" (case-insensitive) from `from`; npos when absent.
size_t FindClose(std::string_view html, size_t from, std::string_view name) {
  for (size_t p = html.find("</", from); p != std::string_view::npos; p = html.find("</", p + 2)) {
    if (p + 2 + name.size() > html.size()) return std::string_view::npos;
    bool eq = true;
    for (size_t k = 0; k < name.size() && eq; ++k) eq = Lower(html[p + 2 + k]) == name[k];
    if (eq) return p;
  }
  return std::string_view::npos;
}

struct Entity {
  const char* name;
  char32_t cp;
};
constexpr Entity kEntities[] = {
    {"amp", '&'},       {"lt", '<'},        {"gt", '>'},        {"quot", '"'},      {"apos", '\''},
    {"nbsp", ' '},      {"copy", 0xA9},     {"reg", 0xAE},      {"trade", 0x2122},  {"hellip", 0x2026},
    {"mdash", 0x2014},  {"ndash", 0x2013},  {"lsquo", 0x2018},  {"rsquo", 0x2019},  {"ldquo", 0x201C},
    {"rdquo", 0x201D},  {"euro", 0x20AC},   {"bull", 0x2022},   {"middot", 0xB7},   {"sect", 0xA7},
    {"para", 0xB6},     {"pound", 0xA3},    {"yen", 0xA5},      {"cent", 0xA2},     {"deg", 0xB0},
    {"laquo", 0xAB},    {"raquo", 0xBB},    {"shy", 0},         {"zwnj", 0},        {"zwj", 0},
    {"auml", 0xE4},     {"ouml", 0xF6},     {"uuml", 0xFC},     {"Auml", 0xC4},     {"Ouml", 0xD6},
    {"Uuml", 0xDC},     {"szlig", 0xDF},    {"eacute", 0xE9},   {"egrave", 0xE8},   {"agrave", 0xE0},
    {"ccedil", 0xE7},   {"Eacute", 0xC9},   {"times", 0xD7},    {"iexcl", 0xA1},    {"iquest", 0xBF}};

// Decodes the reference at html[*pos] == '&'; appends it (or '&') and advances.
void Reference(std::string_view html, size_t* pos, std::string* out) {
  size_t p = *pos + 1;
  size_t semi = html.find(';', p);
  if (semi != std::string_view::npos && semi - p <= 10 && semi > p) {
    std::string_view ref = html.substr(p, semi - p);
    if (ref[0] == '#') {
      char32_t v = 0;
      bool ok = ref.size() > 1;
      bool hex = ref.size() > 1 && (ref[1] == 'x' || ref[1] == 'X');
      for (size_t k = hex ? 2 : 1; k < ref.size() && ok; ++k) {
        char c = ref[k];
        int d = c >= '0' && c <= '9' ? c - '0' : hex && Lower(c) >= 'a' && Lower(c) <= 'f' ? Lower(c) - 'a' + 10 : -1;
        if (d < 0 || v > 0x10FFFF) ok = false;
        v = v * (hex ? 16 : 10) + d;
      }
      if (ok && hex && ref.size() == 2) ok = false;
      if (ok) {
        if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) v = 0xFFFD;
        if (v == 0xA0) v = ' ';
        text::AppendUtf8(v, out);
        *pos = semi + 1;
        return;
      }
    } else {
      for (const Entity& e : kEntities) {
        if (ref == e.name) {
          if (e.cp) text::AppendUtf8(e.cp, out);
          *pos = semi + 1;
          return;
        }
      }
    }
  }
  out->push_back('&');
  ++*pos;
}

}  // namespace

std::string MsgHtmlToText(std::string_view html) {
  std::string out;
  out.reserve(html.size() / 2);
  bool space = false;    // a collapsed space is pending
  int pre = 0;           // inside <pre>
  int cells = 0;         // cells seen in the current row
  auto newline = [&](int count) {
    space = false;
    // At most `count` line breaks at the end of the output; none at its start.
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.empty()) return;
    int have = 0;
    for (size_t k = out.size(); k > 0 && out[k - 1] == '\n'; --k) ++have;
    for (; have < count; ++have) out.push_back('\n');
  };
  size_t i = 0;
  const size_t n = html.size();
  while (i < n) {
    char c = html[i];
    if (c == '<') {
      if (html.compare(i, 4, "<!--") == 0) {
        size_t e = html.find("-->", i + 4);
        i = e == std::string_view::npos ? n : e + 3;
        continue;
      }
      size_t p = i + 1;
      bool closing = p < n && html[p] == '/';
      if (closing) ++p;
      if (p >= n || !((html[p] >= 'a' && html[p] <= 'z') || (html[p] >= 'A' && html[p] <= 'Z') || html[p] == '!' ||
                      html[p] == '?')) {
        // Not a tag: a literal '<'.
        if (space && !out.empty()) out.push_back(' ');
        space = false;
        out.push_back('<');
        ++i;
        continue;
      }
      std::string name;
      while (p < n && name.size() < 16 && (std::isalnum(static_cast<unsigned char>(html[p])) || html[p] == ':')) {
        name.push_back(Lower(html[p++]));
      }
      // The tag's end, skipping quoted attribute values; its attributes.
      size_t attr_start = p;
      char quote = 0;
      while (p < n && (quote || html[p] != '>')) {
        if (quote) {
          if (html[p] == quote) quote = 0;
        } else if (html[p] == '"' || html[p] == '\'') {
          quote = html[p];
        }
        ++p;
      }
      std::string_view attrs = html.substr(attr_start, p - attr_start);
      i = p < n ? p + 1 : n;
      bool self_closing = !attrs.empty() && attrs.back() == '/';
      if (!closing && !self_closing && In(name, {"script", "style", "head", "title", "template", "noscript", "xml"})) {
        size_t e = FindClose(html, i, name);
        if (e == std::string_view::npos) {
          i = n;
        } else {
          size_t gt = html.find('>', e);
          i = gt == std::string_view::npos ? n : gt + 1;
        }
        continue;
      }
      // Elements hidden from the reader are not indexed either (text a
      // mail's reader never sees must not steer a search or a model).
      if (!closing && !self_closing && !In(name, {"br", "img", "hr", "meta", "link", "input"})) {
        std::string a;
        for (char ch : attrs) {
          if (!IsSpace(ch)) a.push_back(Lower(ch));
        }
        // The boolean attribute `hidden`: a name outside quoted values.
        bool hidden_attr = false;
        char q = 0;
        for (size_t k = 0; k < attrs.size() && !hidden_attr; ++k) {
          char ch = attrs[k];
          if (q) {
            if (ch == q) q = 0;
          } else if (ch == '"' || ch == '\'') {
            q = ch;
          } else if ((k == 0 || IsSpace(attrs[k - 1])) && attrs.size() - k >= 6) {
            bool eq = true;
            for (size_t m = 0; m < 6 && eq; ++m) eq = Lower(attrs[k + m]) == "hidden"[m];
            size_t after = k + 6;
            hidden_attr = eq && (after == attrs.size() || IsSpace(attrs[after]) || attrs[after] == '=' ||
                                 attrs[after] == '/');
          }
        }
        bool hidden = hidden_attr || a.find("display:none") != std::string::npos ||
                      a.find("visibility:hidden") != std::string::npos;
        if (hidden) {
          // Skip to the matching close tag, counting nested same-name tags.
          int depth = 1;
          size_t q = i;
          while (depth > 0 && q < n) {
            size_t lt = html.find('<', q);
            if (lt == std::string_view::npos) {
              q = n;
              break;
            }
            size_t r = lt + 1;
            bool cl = r < n && html[r] == '/';
            if (cl) ++r;
            size_t k = 0;
            while (k < name.size() && r + k < n && Lower(html[r + k]) == name[k]) ++k;
            bool same = k == name.size() && (r + k >= n || !std::isalnum(static_cast<unsigned char>(html[r + k])));
            size_t gt = html.find('>', lt);
            q = gt == std::string_view::npos ? n : gt + 1;
            if (same) {
              if (cl) {
                --depth;
              } else if (gt != std::string_view::npos && html[gt - 1] != '/') {
                ++depth;
              }
            }
          }
          i = q;
          continue;
        }
      }
      if (name == "br") {
        newline(1);
      } else if (name == "pre") {
        pre += closing ? (pre > 0 ? -1 : 0) : 1;
        newline(1);
      } else if (name == "tr") {
        cells = 0;
        newline(1);
      } else if (name == "td" || name == "th") {
        if (!closing) {
          if (cells++ > 0) {
            while (!out.empty() && out.back() == ' ') out.pop_back();
            out.append(" | ");
          }
          space = false;
        }
      } else if (name == "li") {
        if (!closing) {
          newline(1);
          out.append("- ");
          space = false;
        }
      } else if (In(name, {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol"})) {
        newline(2);
      } else if (In(name, {"div", "hr", "dl", "dt", "dd", "section", "article", "header", "footer", "address",
                           "center", "tbody", "thead", "form", "fieldset", "figure", "main", "nav", "aside"})) {
        newline(1);
      }
      continue;
    }
    if (IsSpace(c) && !pre) {
      space = true;
      ++i;
      continue;
    }
    if (space) {
      if (!out.empty() && out.back() != '\n') out.push_back(' ');
      space = false;
    }
    if (c == '&') {
      Reference(html, &i, &out);
      continue;
    }
    if (c == '\r') {
      ++i;
      continue;
    }
    if (c == '\0') {
      text::AppendUtf8(0xFFFD, &out);
      ++i;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return text::RepairUtf8(out);
}

}  // namespace foldback
