// String forms of the public enums and the filter syntax.
#include "foldback/document.h"
#include "foldback/search.h"

namespace foldback {

const char* DocKindName(DocKind kind) {
  switch (kind) {
    case DocKind::kDocument: return "document";
    case DocKind::kEmail: return "email";
    case DocKind::kWebPage: return "web";
  }
  return "document";
}

bool ParseDocKind(const std::string& name, DocKind* kind) {
  if (name == "document") *kind = DocKind::kDocument;
  else if (name == "email") *kind = DocKind::kEmail;
  else if (name == "web") *kind = DocKind::kWebPage;
  else return false;
  return true;
}

const char* SearchModeName(SearchMode mode) {
  switch (mode) {
    case SearchMode::kBm25: return "bm25";
    case SearchMode::kDense: return "dense";
    case SearchMode::kHybrid: return "hybrid";
  }
  return "hybrid";
}

bool ParseSearchMode(const std::string& name, SearchMode* mode) {
  if (name == "bm25") *mode = SearchMode::kBm25;
  else if (name == "dense") *mode = SearchMode::kDense;
  else if (name == "hybrid") *mode = SearchMode::kHybrid;
  else return false;
  return true;
}

const char* FusionName(Fusion fusion) { return fusion == Fusion::kRrf ? "rrf" : "weighted"; }

bool ParseFusion(const std::string& name, Fusion* fusion) {
  if (name == "rrf") *fusion = Fusion::kRrf;
  else if (name == "weighted") *fusion = Fusion::kWeightedSum;
  else return false;
  return true;
}

const char* QuerySyntaxName(QuerySyntax syntax) {
  switch (syntax) {
    case QuerySyntax::kAuto: return "auto";
    case QuerySyntax::kPlain: return "plain";
    case QuerySyntax::kConnectors: return "connectors";
  }
  return "auto";
}

bool ParseQuerySyntax(const std::string& name, QuerySyntax* syntax) {
  if (name == "auto") *syntax = QuerySyntax::kAuto;
  else if (name == "plain") *syntax = QuerySyntax::kPlain;
  else if (name == "connectors") *syntax = QuerySyntax::kConnectors;
  else return false;
  return true;
}

const char* FilterOpName(Filter::Op op) {
  switch (op) {
    case Filter::Op::kGe:
      return ">=";
    case Filter::Op::kLe:
      return "<=";
    case Filter::Op::kEq:
      break;
  }
  return "=";
}

bool ParseFilterOp(const std::string& name, Filter::Op* op) {
  if (name == "=")
    *op = Filter::Op::kEq;
  else if (name == ">=")
    *op = Filter::Op::kGe;
  else if (name == "<=")
    *op = Filter::Op::kLe;
  else
    return false;
  return true;
}

Result<Filter> Filter::Parse(const std::string& text) {
  Filter f;
  size_t pos = std::string::npos;
  size_t op_len = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, ">=") == 0) {
      f.op = Op::kGe, pos = i, op_len = 2;
    } else if (text.compare(i, 2, "<=") == 0) {
      f.op = Op::kLe, pos = i, op_len = 2;
    } else if (text[i] == '=') {
      f.op = Op::kEq, pos = i, op_len = 1;
    }
    if (pos != std::string::npos) break;
  }
  if (pos == std::string::npos || pos == 0) {
    return Status::InvalidArgument("filter '" + text + "' is not FIELD=VALUE, FIELD>=VALUE or FIELD<=VALUE");
  }
  f.field = text.substr(0, pos);
  f.value = text.substr(pos + op_len);
  return f;
}

}  // namespace foldback
