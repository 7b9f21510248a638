#include <gtest/gtest.h>

#include <cctype>
#include <random>

#include "store/crc32c.h"
#include "text/analyzer.h"
#include "text/chunker.h"
#include "text/utf8.h"

namespace foldback {
namespace {

TEST(Utf8, RepairsAndCountsInvalidSequences) {
  uint32_t n = 0;
  std::string bad = "ok \xC3\x28 x \xE2\x82 y \xF0\x9F\x98\x80 \xFF";
  std::string fixed = text::RepairUtf8(bad, &n);
  EXPECT_TRUE(text::IsValidUtf8(fixed));
  EXPECT_EQ(n, 3u);  // one U+FFFD per broken sequence (Unicode "maximal subpart")
  EXPECT_NE(fixed.find("\xF0\x9F\x98\x80"), std::string::npos);  // valid emoji kept
}

TEST(Utf8, RejectsOverlongAndSurrogates) {
  EXPECT_FALSE(text::IsValidUtf8("\xC0\xAF"));
  EXPECT_FALSE(text::IsValidUtf8("\xED\xA0\x80"));
  EXPECT_FALSE(text::IsValidUtf8(std::string("a\0b", 3)));
  EXPECT_TRUE(text::IsValidUtf8("Zürich § 78j"));
}

TEST(Utf8, TruncateKeepsCodePointsWhole) {
  EXPECT_EQ(text::TruncateUtf8("aé", 2), "a");
  EXPECT_EQ(text::TruncateUtf8("aé", 3), "aé");
}

std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> out;
  text::ForEachWord(s, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

TEST(Analyzer, WordsFoldCaseAndKeepLegalTokens) {
  EXPECT_EQ(Words("The PARTY's Obligations"), (std::vector<std::string>{"the", "party's", "obligations"}));
  EXPECT_EQ(Words("Section 12.3 and $1,000"), (std::vector<std::string>{"section", "12.3", "and", "1,000"}));
  EXPECT_EQ(Words("15 U.S.C. § 78j"), (std::vector<std::string>{"15", "usc", "78j"}));
  EXPECT_EQ(Words("ZÜRICH Straße"), (std::vector<std::string>{"zürich", "strasse"}));
  EXPECT_EQ(Words("ﬁnal"), (std::vector<std::string>{"final"}));  // NFKC ligature
}

// Each word with its span as written: words that are one run of ASCII
// letters and digits take a shorter path than words joined across an
// apostrophe, a '.', a ',' or a non-ASCII letter; both must give the same.
TEST(Analyzer, WordSpansWhateverEndsTheWord) {
  auto spans = [](std::string_view s) {
    std::vector<std::string> out;
    text::ForEachWordSpan(s, [&](std::string_view w, size_t b, size_t e) {
      out.push_back(std::string(w) + "@" + std::to_string(b) + "-" + std::to_string(e));
    });
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(spans("Notice"), (V{"notice@0-6"}));
  EXPECT_EQ(spans("  Notice-period\tX9;"), (V{"notice@2-8", "period@9-15", "x9@16-18"}));
  EXPECT_EQ(spans("party's days' end"), (V{"party's@0-7", "days@8-12", "end@14-17"}));
  EXPECT_EQ(spans("see 12.3, 1,000 and 5."), (V{"see@0-3", "12.3@4-8", "1,000@10-15", "and@16-19", "5@20-21"}));
  EXPECT_EQ(spans("15 U.S.C. 78j"), (V{"15@0-2", "usc@3-8", "78j@10-13"}));
  // Letters counted since the last digit or '.': a dotted single letter
  // joins only after one letter, whatever the run before held.
  EXPECT_EQ(spans("A1.B. 1A.B. B1A.C. x.y.z 7.B.C 9.Q"),
            (V{"a1@0-2", "b@3-4", "1a@6-8", "b@9-10", "b1a@12-15", "c@16-17", "xyz@19-24",
               "7@25-26", "bc@27-30", "9@31-32", "q@33-34"}));
  EXPECT_EQ(spans("Zürich and ZÜRICH"), (V{"zürich@0-7", "and@8-11", "zürich@12-19"}));
  EXPECT_EQ(spans("the party\u2019s"), (V{"the@0-3", "party's@4-13"}));
  EXPECT_EQ(spans("a\xC3\xA9 b"), (V{"aé@0-3", "b@4-5"}));
  const std::string longword(70, 'Q');
  EXPECT_EQ(spans(longword + " x"), (V{std::string(64, 'q') + "@0-70", "x@71-72"}));
  EXPECT_EQ(spans("x " + longword), (V{"x@0-1", std::string(64, 'q') + "@2-72"}));
}

TEST(Analyzer, StemsAndDropsStopwords) {
  text::Analyzer a(TextOptions{});
  std::vector<std::string> terms;
  a.Terms("The terminations of the Agreements", &terms);
  EXPECT_EQ(terms, (std::vector<std::string>{"termin", "agreement"}));
  terms.clear();
  a.Terms("shall not", &terms);  // negation and modal verbs are kept
  EXPECT_EQ(terms, (std::vector<std::string>{"shall", "not"}));
}

TEST(Analyzer, CustomStopwordsAndNoStemming) {
  TextOptions o;
  o.stemmer = "none";
  o.stopwords = std::vector<std::string>{"Agreement"};
  text::Analyzer a(o);
  std::vector<std::string> terms;
  a.Terms("The terminations of the Agreement", &terms);
  EXPECT_EQ(terms, (std::vector<std::string>{"the", "terminations", "of", "the"}));
}

// The walk takes a run of ASCII letters and digits whole (its fast path):
// runs of every length and place against the same words found byte by byte
// here — folded, cut at kMaxWordBytes, with their spans.
TEST(Analyzer, RunsOfEveryLengthAndPlaceAreWholeWords) {
  std::mt19937 rng(7);
  const std::string alnum = "abcXYZ0189mQ";
  const std::string breaks = " ;:-!?()/\t\n@[`{";  // ASCII that joins no word
  for (int t = 0; t < 3000; ++t) {
    std::string text;
    std::vector<std::string> expected;
    const int parts = static_cast<int>(rng() % 6);
    for (int i = 0; i < parts; ++i) {
      const size_t gap = rng() % 4;
      for (size_t g = 0; g < gap || (i > 0 && g == 0); ++g) text += breaks[rng() % breaks.size()];
      const size_t len = 1 + rng() % (t % 3 == 0 ? 90 : 20);
      const size_t begin = text.size();
      std::string word;
      for (size_t k = 0; k < len; ++k) {
        const char c = alnum[rng() % alnum.size()];
        text += c;
        if (word.size() < text::kMaxWordBytes) word += static_cast<char>(std::tolower(c));
      }
      expected.push_back(word + "@" + std::to_string(begin) + "-" + std::to_string(text.size()));
    }
    for (size_t g = rng() % 3; g > 0; --g) text += breaks[rng() % breaks.size()];
    std::vector<std::string> got;
    text::ForEachWordSpan(text, [&](std::string_view w, size_t b, size_t e) {
      got.push_back(std::string(w) + "@" + std::to_string(b) + "-" + std::to_string(e));
    });
    ASSERT_EQ(got, expected) << text;
  }
}

// Stopwords of up to text::kShortWordBytes bytes are found by key, the
// others by string: each found as listed (folded), and no word taken for one
// because it shares a stopword's key, prefix or length.
TEST(Analyzer, StopwordsOfAnyLengthFoundAsListed) {
  TextOptions o;
  o.stemmer = "none";
  std::vector<std::string> list = {"of", "\xC3\x89t\xC3\xA9", "WHEREAS", "notwithstanding",
                                   "hereinafter", "a"};
  // Enough short ones for the table to grow past its first size.
  for (int i = 0; i < 100; ++i) list.push_back("w" + std::to_string(i));
  o.stopwords = list;
  text::Analyzer a(o);
  for (std::string_view w : {"of", "\xC3\xA9t\xC3\xA9", "whereas", "notwithstanding",
                             "hereinafter", "a", "w0", "w57", "w99"}) {
    EXPECT_TRUE(a.IsStopword(w)) << w;
  }
  for (std::string_view w :
       {"o", "off", "f", "whereas1", "wherea", "notwithstandinx", "notwith", "notwithstandings",
        "hereinafte", "w100", "w", "b", "", "\xC3\xA9t"}) {
    EXPECT_FALSE(a.IsStopword(w)) << w;
  }
  std::vector<std::string> terms;
  a.Terms("Notwithstanding the foregoing, WHEREAS \xC3\x89t\xC3\xA9 w7 w100 of Hereinafter", &terms);
  EXPECT_EQ(terms, (std::vector<std::string>{"the", "foregoing", "w100"}));
  // An empty word in the list is kept as the list gave it.
  o.stopwords = std::vector<std::string>{""};
  text::Analyzer empty(o);
  EXPECT_TRUE(empty.IsStopword(""));
  EXPECT_FALSE(empty.IsStopword("a"));
}

// WordKey: equal words, equal keys; up to kShortWordBytes bytes, equal keys
// only for equal words.
TEST(Analyzer, WordKeysTellShortWordsApart) {
  EXPECT_EQ(text::WordKey("whether"), text::WordKey(std::string("whether")));
  EXPECT_NE(text::WordKey("a"), text::WordKey(std::string_view("a\0", 2)));
  EXPECT_NE(text::WordKey("ab"), text::WordKey("ba"));
  EXPECT_NE(text::WordKey("whethe"), text::WordKey("whether"));
  EXPECT_NE(text::WordKey(""), 0u + text::WordKey("a"));
  // Longer words: the same length and first bytes give the same key.
  EXPECT_EQ(text::WordKey("indemnify"), text::WordKey("indemnifx"));
  EXPECT_NE(text::WordKey("indemnify"), text::WordKey("indemnifie"));
  EXPECT_EQ(text::WordKey(std::string(300, 'a')) >> 56, 255u);
}

TEST(Analyzer, VeryLongWordIsCut) {
  std::string w(500, 'a');
  auto words = Words(w);
  ASSERT_EQ(words.size(), 1u);
  EXPECT_EQ(words[0].size(), text::kMaxWordBytes);
}

TEST(Chunker, SplitsAtNumberedClausesAndKeepsHeadings) {
  std::string t =
      "MUTUAL NON-DISCLOSURE AGREEMENT\n\n"
      "1. Definitions. \"Confidential Information\" means all information disclosed by a party, "
      "whether oral or written, that is marked confidential or should reasonably be understood to be "
      "confidential given its nature and the circumstances of disclosure.\n"
      "2. Obligations. The Receiving Party shall protect the Confidential Information with at least "
      "reasonable care and shall not disclose it to any third party without prior written consent.\n"
      "(a) Exceptions. Information that is public is not Confidential Information.\n";
  ChunkerOptions o;
  o.target_tokens = 30;
  auto spans = text::ChunkText(t, DocKind::kDocument, o);
  ASSERT_GE(spans.size(), 3u);
  std::string first = t.substr(spans[0].begin, spans[0].end - spans[0].begin);
  EXPECT_EQ(first.rfind("MUTUAL NON-DISCLOSURE AGREEMENT", 0), 0u);  // heading rides along
  EXPECT_NE(first.find("1. Definitions"), std::string::npos);
  std::string second = t.substr(spans[1].begin, spans[1].end - spans[1].begin);
  EXPECT_EQ(second.rfind("2. Obligations", 0), 0u);
  EXPECT_EQ(spans[1].section.rfind("2. Obligations", 0), 0u);
}

TEST(Chunker, LongBlockBecomesWindowsWithOverlap) {
  std::string t;
  for (int i = 0; i < 1000; ++i) t += "word" + std::to_string(i) + " ";
  ChunkerOptions o;
  o.target_tokens = 100;
  o.max_tokens = 200;
  o.overlap_tokens = 20;
  auto spans = text::ChunkText(t, DocKind::kDocument, o);
  ASSERT_GE(spans.size(), 5u);
  for (const auto& s : spans) EXPECT_LE(text::CountTokens(t.substr(s.begin, s.end - s.begin)), 200u);
  // Consecutive windows overlap.
  EXPECT_LT(spans[1].begin, spans[0].end);
  EXPECT_EQ(spans.back().end, t.find_last_not_of(' ') + 1);
}

TEST(Chunker, MailKeepsQuotedAndSignatureApart) {
  std::string mail =
      "Hi Anna,\n\nPlease see the revised indemnity cap in section 9.\n\nBest regards,\nJohn Smith\n"
      "Partner | Smith LLP\n\nOn Mon, 3 Jun 2024, Anna Lee wrote:\n> Can you send the revised draft?\n"
      "> Thanks\n";
  auto spans = text::ChunkText(mail, DocKind::kEmail, ChunkerOptions());
  bool body = false, sig = false, quoted = false;
  for (const auto& s : spans) {
    std::string txt = mail.substr(s.begin, s.end - s.begin);
    if (s.role == ChunkRole::kBody) {
      body = true;
      EXPECT_EQ(txt.find("wrote:"), std::string::npos);
      EXPECT_EQ(txt.find("Smith LLP"), std::string::npos);
    }
    if (s.role == ChunkRole::kSignature) {
      sig = true;
      EXPECT_NE(txt.find("Smith LLP"), std::string::npos);
    }
    if (s.role == ChunkRole::kQuoted) {
      quoted = true;
      EXPECT_NE(txt.find("revised draft"), std::string::npos);
    }
  }
  EXPECT_TRUE(body && sig && quoted);
}

TEST(Chunker, EmptyAndBlankTextGiveNoChunks) {
  EXPECT_TRUE(text::ChunkText("", DocKind::kDocument, ChunkerOptions()).empty());
  EXPECT_TRUE(text::ChunkText(" \n\n\t\n", DocKind::kDocument, ChunkerOptions()).empty());
}

TEST(Chunker, ChunkIdsAreStable) {
  EXPECT_EQ(text::MakeChunkId("d", 3, "abc"), text::MakeChunkId("d", 3, "abc"));
  EXPECT_NE(text::MakeChunkId("d", 3, "abc"), text::MakeChunkId("d", 3, "abd"));
}

TEST(Crc32c, MatchesPublishedCheckValues) {
  // RFC 3720 B.4 and the common "123456789" check value.
  EXPECT_EQ(store::Crc32c("123456789"), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(store::Crc32c(zeros), 0x8A9136AAu);
  std::string ones(32, '\xFF');
  EXPECT_EQ(store::Crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(store::UnmaskCrc(store::MaskCrc(0x12345678u)), 0x12345678u);
}

}  // namespace
}  // namespace foldback
