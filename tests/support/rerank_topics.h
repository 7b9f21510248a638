// Reranker test topics shared by the CLI and serve suites: a question, a
// heading that repeats its words (BM25 prefers it) and the clause that
// answers it (what a lawyer labels relevant).
#ifndef FOLDBACK_TESTS_SUPPORT_RERANK_TOPICS_H_
#define FOLDBACK_TESTS_SUPPORT_RERANK_TOPICS_H_

#include <string>
#include <vector>

namespace foldback::testing {

struct RerankTopic {
  std::string question, heading, clause;
};

inline const std::vector<RerankTopic>& RerankTopics() {
  static const std::vector<RerankTopic> topics = {
    {"reverse engineering of samples", "REVERSE ENGINEERING OF SAMPLES",
     "The recipient shall not reverse engineer, decompile or analyse any samples or software "
     "that embody the discloser's information, except as the law expressly permits."},
    {"termination for convenience", "TERMINATION FOR CONVENIENCE",
     "Either party may end this agreement for convenience by giving the other party thirty days "
     "written notice, effective at the end of that notice period."},
    {"governing law and jurisdiction", "GOVERNING LAW AND JURISDICTION",
     "This agreement and any dispute arising from it are governed by the laws of New York, whose "
     "courts have exclusive jurisdiction over every such dispute."},
    {"indemnification of third party claims", "INDEMNIFICATION OF THIRD PARTY CLAIMS",
     "The supplier shall defend, indemnify and hold harmless the customer against all losses "
     "arising from claims brought by any third party about the products."},
    {"payment of invoices", "PAYMENT OF INVOICES",
     "The customer shall pay each invoice in full within thirty days of receipt, by wire transfer "
     "to the account the supplier designates, without set-off."},
    {"return of confidential information", "RETURN OF CONFIDENTIAL INFORMATION",
     "On request, the recipient shall promptly return or destroy all confidential information "
     "and every copy of it, and certify in writing that it has done so."},
    {"limitation of liability", "LIMITATION OF LIABILITY",
     "Neither party is liable for indirect or consequential damages, and total liability under "
     "this agreement is limited to the fees paid in the preceding year."},
};
  return topics;
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_RERANK_TOPICS_H_
