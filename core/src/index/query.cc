#include "index/query.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "text/utf8.h"

namespace foldback::index {
namespace {

bool IsQuote(char32_t cp) {
  return cp == '"' || (cp >= 0x201C && cp <= 0x201F) || cp == 0x00AB || cp == 0x00BB;
}

bool IsBlank(char32_t cp) {
  return cp <= 0x20 || cp == 0x7F || cp == 0xA0 || (cp >= 0x2000 && cp <= 0x200B) || cp == 0x3000;
}

// "/5", "w/5", "/s", "w/p" (any case). Returns false when `token` is not a
// connector; sets *error for one that is malformed ("/0").
bool ParseConnector(std::string_view token, Connector* out, std::string* error) {
  std::string t;
  for (char c : token) t.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
  std::string_view v = t;
  if (v.substr(0, 2) == "w/") {
    v.remove_prefix(2);
  } else if (!v.empty() && v[0] == '/') {
    v.remove_prefix(1);
  } else {
    return false;
  }
  if (v == "s") {
    out->kind = Connector::Kind::kSentence;
    return true;
  }
  if (v == "p") {
    out->kind = Connector::Kind::kParagraph;
    return true;
  }
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;  // "/etc", "w/o": words
  }
  out->kind = Connector::Kind::kWords;
  uint64_t n = 0;
  for (char c : v) {
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > kMaxDistance) break;
  }
  if (n == 0) {
    *error = fmt::format(FMT_STRING("'{}' is not a distance: connectors count from /1 (adjacent "
                                    "words); use a phrase in quotes "
                                    "for words in order"),
                         token);
  } else if (n > kMaxDistance) {
    *error = fmt::format(FMT_STRING("'{}': the largest distance is /{} words (/p: same paragraph)"),
                         token, kMaxDistance);
  }
  out->n = static_cast<uint32_t>(std::min<uint64_t>(n, kMaxDistance));
  return true;
}

// Splits a token's trailing '*' off; error for a token of stars only.
Status MakeToken(std::string_view raw, QueryToken* out, bool* has_operator) {
  size_t end = raw.size();
  while (end > 0 && raw[end - 1] == '*') --end;
  out->prefix = end < raw.size();
  out->text = std::string(raw.substr(0, end));
  if (out->prefix) {
    *has_operator = true;
    if (out->text.empty()) {
      return Status::InvalidArgument(
          "a lone '*' has no word to expand: write the start of a word before it (terminat*)");
    }
  }
  return Status::OK();
}

// The bytes that may begin an operator for MayHaveOperators: '"', '*', '/'
// and the lead bytes of the other quotes. Every query is scanned, so a table
// (a load a byte) rather than five comparisons a byte.
constexpr auto kOperatorLead = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : {'"', '*', '/', '\xC2', '\xE2'}) t[c] = true;
  return t;
}();

// False when `q` holds none of the characters an operator needs — a quote
// (IsQuote: '"', U+00AB, U+00BB, U+201C-U+201F), a '*' or a '/' (every
// connector has one) — so that ParseQueryAst, which can only find operators
// or fail at one of them, would give a plain query: a question typed in
// words (most queries) is not tokenized twice.
bool MayHaveOperators(std::string_view q) {
  for (size_t i = 0; i < q.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(q[i]);
    if (!kOperatorLead[c]) continue;
    if (c == '"' || c == '*' || c == '/') return true;
    if (c == 0xC2 && i + 1 < q.size()) {  // U+00AB, U+00BB
      const unsigned char n = static_cast<unsigned char>(q[i + 1]);
      if (n == 0xAB || n == 0xBB) return true;
    }
    if (c == 0xE2 && i + 2 < q.size() && static_cast<unsigned char>(q[i + 1]) == 0x80) {
      const unsigned char n = static_cast<unsigned char>(q[i + 2]);  // U+201C-U+201F
      if (n >= 0x9C && n <= 0x9F) return true;
    }
  }
  return false;
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  text::ForEachWord(text, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

}  // namespace

Result<QueryAst> ParseQueryAst(std::string_view q) {
  if (!MayHaveOperators(q)) return QueryAst();
  struct Item {
    bool connector = false;
    Connector conn;
    std::string raw;
    QueryOperand op;
  };
  std::vector<Item> items;
  bool ops = false;
  size_t tokens = 0;
  size_t pos = 0;
  while (pos < q.size()) {
    size_t start = pos;
    char32_t cp = text::DecodeUtf8(q, &pos);
    if (IsBlank(cp)) continue;
    if (IsQuote(cp)) {
      ops = true;
      size_t inner = pos, close = std::string_view::npos, after = pos;
      while (after < q.size()) {
        size_t at = after;
        char32_t c = text::DecodeUtf8(q, &after);
        if (IsQuote(c)) {
          close = at;
          break;
        }
      }
      if (close == std::string_view::npos) {
        return Status::InvalidArgument(fmt::format(
            FMT_STRING("unbalanced quote: the phrase starting '{}' is never closed; close it with "
                       "another quote "
                       "mark, or search with --syntax plain"),
            text::TruncateUtf8(q.substr(start), 40)));
      }
      Item item;
      item.op.quoted = true;
      item.op.display = std::string(q.substr(start, after - start));
      std::string_view body = q.substr(inner, close - inner);
      size_t p = 0;
      while (p < body.size()) {
        size_t s = p;
        char32_t c = text::DecodeUtf8(body, &p);
        if (IsBlank(c)) continue;
        size_t e = p;
        while (e < body.size()) {
          size_t at = e;
          if (IsBlank(text::DecodeUtf8(body, &e))) {
            e = at;
            break;
          }
        }
        QueryToken t;
        FB_RETURN_IF_ERROR(MakeToken(body.substr(s, e - s), &t, &ops));
        item.op.tokens.push_back(std::move(t));
        ++tokens;
        p = e;
      }
      if (item.op.tokens.empty()) {
        return Status::InvalidArgument("empty quotes: put the words of the phrase between them");
      }
      items.push_back(std::move(item));
      pos = after;
      continue;
    }
    // A bare token: up to white space or a quote.
    size_t end = pos;
    while (end < q.size()) {
      size_t at = end;
      char32_t c = text::DecodeUtf8(q, &end);
      if (IsBlank(c) || IsQuote(c)) {
        end = at;
        break;
      }
    }
    std::string_view raw = q.substr(start, end - start);
    pos = end;
    ++tokens;
    Item item;
    std::string error;
    if (ParseConnector(raw, &item.conn, &error)) {
      ops = true;
      if (!error.empty()) return Status::InvalidArgument(error);
      item.connector = true;
      item.raw = std::string(raw);
      items.push_back(std::move(item));
      continue;
    }
    QueryToken t;
    FB_RETURN_IF_ERROR(MakeToken(raw, &t, &ops));
    item.op.display = std::string(raw);
    item.op.tokens.push_back(std::move(t));
    items.push_back(std::move(item));
  }
  QueryAst ast;
  ast.has_operators = ops;
  if (!ops) return ast;  // a plain query: the caller takes the plain path
  if (tokens > kMaxQueryTokens) {
    return Status::InvalidArgument(fmt::format(
        FMT_STRING(
            "the query has {} words and operators; a terms-and-connectors query takes at most {} "
            "(search long text with --syntax plain)"),
        tokens, kMaxQueryTokens));
  }
  QueryClause cur;
  const Item* pending = nullptr;  // a connector waiting for its right operand
  for (const Item& item : items) {
    if (item.connector) {
      if (cur.operands.empty() || pending) {
        return Status::InvalidArgument(fmt::format(
            FMT_STRING("the connector '{}' needs a word, prefix or phrase on its left"), item.raw));
      }
      cur.connectors.push_back(item.conn);
      pending = &item;
      continue;
    }
    if (!pending && !cur.operands.empty()) {
      ast.clauses.push_back(std::move(cur));
      cur = QueryClause();
    }
    cur.operands.push_back(item.op);
    pending = nullptr;
  }
  if (pending) {
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("the connector '{}' needs a word, prefix or phrase on its right"),
                    pending->raw));
  }
  if (!cur.operands.empty()) ast.clauses.push_back(std::move(cur));
  return ast;
}

Status ResolveQuery(const QueryAst& ast, const text::Analyzer& analyzer,
                    const LexicalIndex& lexical,
                    const std::function<std::vector<WeightedTerm>(std::string_view)>& plain_terms,
                    ResolvedQuery* out) {
  std::string plain;
  auto add_words = [&](const std::string& w) {
    if (!out->words.empty()) out->words.push_back(' ');
    out->words += w;
  };
  for (const QueryClause& clause : ast.clauses) {
    const QueryOperand& first = clause.operands.front();
    const bool required = !clause.connectors.empty() || first.quoted;
    if (!required && !first.tokens.front().prefix) {
      // A plain word: ranks as in a plain query.
      if (!plain.empty()) plain.push_back(' ');
      plain += first.tokens.front().text;
      add_words(first.tokens.front().text);
      continue;
    }
    PositionalClause pc;
    for (const QueryOperand& op : clause.operands) {
      PositionalOperand po;
      uint32_t offset = 0;
      for (const QueryToken& token : op.tokens) {
        std::vector<std::string> words = Words(token.text);
        if (words.empty() && token.prefix) {
          return Status::InvalidArgument(
              fmt::format(FMT_STRING("'{}*' has no word before the '*' to expand"), token.text));
        }
        for (size_t i = 0; i < words.size(); ++i) {
          const std::string& w = words[i];
          add_words(w);
          if (token.prefix && i + 1 == words.size()) {
            size_t total = 0;
            std::vector<uint32_t> ids = lexical.ExpandPrefix(w, kMaxPrefixExpansions, &total);
            if (total == 0) {
              out->notes.push_back(fmt::format(FMT_STRING("no indexed word starts with '{}'"), w));
            } else if (total > ids.size()) {
              out->notes.push_back(fmt::format(
                  FMT_STRING("'{}*' matches {} terms; the {} most frequent are searched"), w, total,
                  ids.size()));
            }
            for (uint32_t id : ids) out->terms.push_back({lexical.term(id), 1.0});
            std::sort(ids.begin(), ids.end());
            po.elements.emplace_back(offset, std::move(ids));
          } else if (!analyzer.IsStopword(w)) {
            std::string stem = analyzer.Stem(w);
            std::vector<uint32_t> ids;
            if (auto id = lexical.Find(stem)) {
              ids.push_back(*id);
              out->terms.push_back({stem, 1.0});
            } else {
              out->notes.push_back(fmt::format(FMT_STRING("'{}' is not in the index"), w));
            }
            po.elements.emplace_back(offset, std::move(ids));
          }
          ++offset;
        }
      }
      if (po.elements.empty()) {
        return Status::InvalidArgument(fmt::format(
            FMT_STRING(
                "{} is made only of stopwords, which the index does not keep; add a word to it or "
                "drop the quotes"),
            op.display));
      }
      const uint32_t base = po.elements.front().first;
      for (auto& e : po.elements) e.first -= base;
      pc.operands.push_back(std::move(po));
    }
    pc.connectors = clause.connectors;
    if (required) out->required.push_back(std::move(pc));
  }
  if (!plain.empty()) {
    for (auto& t : plain_terms(plain)) out->terms.push_back(std::move(t));
  }
  return Status::OK();
}

}  // namespace foldback::index
