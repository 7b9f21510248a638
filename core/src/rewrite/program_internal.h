// Internals of programs shared by program.cc and dspy_program.cc.
#ifndef FOLDBACK_REWRITE_PROGRAM_INTERNAL_H_
#define FOLDBACK_REWRITE_PROGRAM_INTERNAL_H_

#include <string>

#include "foldback/program.h"

namespace foldback::rewrite {

// Empty when `p` can serve as a query writer (want_answer false: inputs
// among context/question with question, main output query/search_query) or
// as an answer writer (main output answer); else why not, e.g. "its input
// 'history' is not one foldback supplies (context, question)".
std::string RoleProblem(const Predictor& p, bool want_answer);

}  // namespace foldback::rewrite

#endif  // FOLDBACK_REWRITE_PROGRAM_INTERNAL_H_
