// Terms-and-connectors queries (foldback/search.h, QuerySyntax): the query
// string to a syntax tree (ParseQueryAst, no index needed), then to what
// the lexical index runs (ResolveQuery: stems, prefix expansions, the
// positional clauses that passages must satisfy, BM25 terms).
#ifndef FOLDBACK_INDEX_QUERY_H_
#define FOLDBACK_INDEX_QUERY_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/status.h"
#include "index/lexical_index.h"
#include "index/positions.h"
#include "text/analyzer.h"

namespace foldback::index {

// Limits: tokens a connectors query may hold, terms a prefix expands to.
constexpr size_t kMaxQueryTokens = 1000;
constexpr size_t kMaxPrefixExpansions = 64;
constexpr uint32_t kMaxDistance = 100000;

// A whitespace-separated piece of an operand, as typed: `prefix` when it
// ended with '*' (removed from `text`).
struct QueryToken {
  std::string text;
  bool prefix = false;
};

// A word, prefix or phrase.
struct QueryOperand {
  std::vector<QueryToken> tokens;
  bool quoted = false;
  std::string display;  // for messages: as typed
};

// Operands joined by connectors; a lone operand is a clause of one.
struct QueryClause {
  std::vector<QueryOperand> operands;
  std::vector<Connector> connectors;  // operands.size() - 1
};

struct QueryAst {
  std::vector<QueryClause> clauses;
  // Any quote, trailing '*' or connector token. Without one the query is a
  // plain query (callers take the plain path, bit for bit).
  bool has_operators = false;
};

// Parses the syntax. InvalidArgument with a message for a person: an
// unbalanced quote, empty quotes, a lone '*', /0, a distance above
// kMaxDistance, a connector without an operand on each side, more than
// kMaxQueryTokens tokens.
Result<QueryAst> ParseQueryAst(std::string_view query);

struct ResolvedQuery {
  // Passages must satisfy every clause (phrases, connected groups).
  std::vector<PositionalClause> required;
  // BM25 terms: plain words (the plain query rules), every word of every
  // operand (stemmed like index terms), each prefix's expansions; weight 1.
  std::vector<WeightedTerm> terms;
  // The query's words without operators, for the dense side.
  std::string words;
  std::vector<std::string> notes;
};

// Resolves `ast` against the index. `plain_terms` analyzes plain words as a
// plain query would (question words and stopwords dropped). InvalidArgument
// for an operand made only of stopwords.
Status ResolveQuery(const QueryAst& ast, const text::Analyzer& analyzer,
                    const LexicalIndex& lexical,
                    const std::function<std::vector<WeightedTerm>(std::string_view)>& plain_terms,
                    ResolvedQuery* out);

}  // namespace foldback::index

#endif  // FOLDBACK_INDEX_QUERY_H_
