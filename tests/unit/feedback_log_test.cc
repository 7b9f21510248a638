// The feedback log: records, framing, damage, tombstones, compaction.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "feedback.pb.h"
#include "foldback/feedback.h"
#include "store/crc32c.h"
#include "test_budget.h"

namespace foldback {
namespace {

FeedbackRecord FullRecord(int i, size_t critique_bytes = 40) {
  FeedbackRecord r;
  r.record_id = "0190f0c2-0000-7000-8000-" + std::to_string(100000000000 + i);
  r.trace_id = "trace-" + std::to_string(i);
  r.time_ms = 1700000000000 + i;
  r.user = "u" + std::to_string(i % 3);
  r.matter = i % 2 ? "acme" : "beta";
  r.question = "Can the supplier terminate for convenience? #" + std::to_string(i);
  r.hop_queries = {"termination for convenience", "notice period termination"};
  for (uint32_t k = 1; k <= 3; ++k) {
    ShownResult s;
    s.chunk_id = "doc" + std::to_string(i) + "#" + std::to_string(k) + "-abcd1234";
    s.doc_id = "doc" + std::to_string(i);
    s.rank = k;
    s.score = 1.0 / k;
    s.text_hash = FeedbackTextHash(s.chunk_id);
    s.matter = r.matter;
    r.results.push_back(s);
  }
  r.answer = "Yes, on 30 days' notice [1].";
  r.rating = i % 3 == 0 ? Rating::Up() : Rating::Stars(1 + i % 5);
  r.labels = {{r.results[0].chunk_id, PassageLabel::kRelevant},
              {r.results[1].chunk_id, PassageLabel::kNotRelevant},
              {r.results[2].chunk_id, PassageLabel::kPartly}};
  r.critique = std::string(critique_bytes, 'c');
  r.corrected_answer = "Yes: clause 12.2, 30 days' written notice [1].";
  r.preferred_rewrite = "terminate for convenience written notice";
  r.tags = {"termination", "nda"};
  r.consent_to_train = i % 2 == 0;
  r.privileged = i % 5 == 0;
  r.program_version = "prog-1";
  r.model = "test-model";
  r.filters = {{"doc_id", Filter::Op::kEq, "doc" + std::to_string(i)},
               {"date", Filter::Op::kGe, "2020-01-01"},
               {"date", Filter::Op::kLe, "2024-12-31"}};
  return r;
}

void ExpectSame(const FeedbackRecord& a, const FeedbackRecord& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.record_id, b.record_id);
  EXPECT_EQ(a.trace_id, b.trace_id);
  EXPECT_EQ(a.time_ms, b.time_ms);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.matter, b.matter);
  EXPECT_EQ(a.question, b.question);
  EXPECT_EQ(a.hop_queries, b.hop_queries);
  ASSERT_EQ(a.results.size(), b.results.size());
  for (size_t i = 0; i < a.results.size(); ++i) {
    EXPECT_EQ(a.results[i].chunk_id, b.results[i].chunk_id);
    EXPECT_EQ(a.results[i].doc_id, b.results[i].doc_id);
    EXPECT_EQ(a.results[i].rank, b.results[i].rank);
    EXPECT_EQ(a.results[i].score, b.results[i].score);
    EXPECT_EQ(a.results[i].text_hash, b.results[i].text_hash);
    EXPECT_EQ(a.results[i].matter, b.results[i].matter);
  }
  EXPECT_EQ(a.answer, b.answer);
  EXPECT_EQ(a.rating.kind, b.rating.kind);
  EXPECT_EQ(a.rating.value, b.rating.value);
  ASSERT_EQ(a.labels.size(), b.labels.size());
  for (size_t i = 0; i < a.labels.size(); ++i) {
    EXPECT_EQ(a.labels[i].chunk_id, b.labels[i].chunk_id);
    EXPECT_EQ(a.labels[i].label, b.labels[i].label);
  }
  EXPECT_EQ(a.critique, b.critique);
  EXPECT_EQ(a.corrected_answer, b.corrected_answer);
  EXPECT_EQ(a.preferred_rewrite, b.preferred_rewrite);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.consent_to_train, b.consent_to_train);
  EXPECT_EQ(a.privileged, b.privileged);
  EXPECT_EQ(a.program_version, b.program_version);
  EXPECT_EQ(a.model, b.model);
  ASSERT_EQ(a.filters.size(), b.filters.size());
  for (size_t i = 0; i < a.filters.size(); ++i) {
    EXPECT_EQ(a.filters[i].field, b.filters[i].field);
    EXPECT_EQ(a.filters[i].op, b.filters[i].op);
    EXPECT_EQ(a.filters[i].value, b.filters[i].value);
  }
}

std::vector<std::string> Ids(const FeedbackLogContents& c) {
  std::vector<std::string> ids;
  for (const auto& e : c.entries) ids.push_back(e.record.record_id);
  return ids;
}

TEST(FeedbackRecord, EveryFieldRoundTrips) {
  FeedbackRecord r = FullRecord(7);
  auto bytes = EncodeFeedbackRecord(r);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeFeedbackRecord(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSame(r, *back);

  MemorySink sink;
  FeedbackLogWriter w(&sink);
  ASSERT_TRUE(w.Add(r).ok());
  Tombstone t;
  t.matter = "acme";
  t.time_ms = 5;
  t.user = "u1";
  ASSERT_TRUE(w.Add(t).ok());
  auto c = ReadFeedbackLog(sink.data());
  ASSERT_EQ(c.entries.size(), 2u);
  ExpectSame(r, c.entries[0].record);
  EXPECT_EQ(c.entries[1].kind, FeedbackEntry::Kind::kTombstone);
  EXPECT_EQ(c.entries[1].tombstone.matter, "acme");
  EXPECT_EQ(c.entries[1].tombstone.user, "u1");
  EXPECT_TRUE(c.damage.empty());
  EXPECT_EQ(c.torn_tail_bytes, 0u);
  EXPECT_EQ(c.valid_end, sink.data().size());
}

TEST(FeedbackRecord, ValidationNamesTheField) {
  FeedbackRecord r = FullRecord(1);
  r.record_id.clear();
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsInvalidArgument());
  r = FullRecord(1);
  r.trace_id.clear();
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsInvalidArgument());
  r = FullRecord(1);
  r.rating = Rating::Stars(6);
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsInvalidArgument());
  r = FullRecord(1);
  r.rating = {Rating::Kind::kThumbs, 2};
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsInvalidArgument());
  r = FullRecord(1);
  r.labels[0].label = static_cast<PassageLabel>(9);
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsInvalidArgument());
  r = FullRecord(1);
  r.critique = "bad \xC3\x28 utf-8";
  Status s = ValidateFeedbackRecord(r);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("critique"), std::string::npos) << s.ToString();
  r = FullRecord(1);
  r.version = 2;
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsNotSupported());
  // The scope the question was searched in: a field, a known operator,
  // UTF-8 within the name limit.
  r = FullRecord(1);
  r.filters[0].field.clear();
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsInvalidArgument());
  r = FullRecord(1);
  r.filters[1].op = static_cast<Filter::Op>(3);
  EXPECT_TRUE(ValidateFeedbackRecord(r).IsInvalidArgument());
  r = FullRecord(1);
  r.filters[2].value = "bad \xC3\x28 utf-8";
  s = ValidateFeedbackRecord(r);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("filter value"), std::string::npos) << s.ToString();
  r = FullRecord(1);
  r.filters[0].value.assign(FeedbackLimits::kMaxNameBytes + 1, 'v');
  EXPECT_EQ(ValidateFeedbackRecord(r).code(), Status::Code::kOutOfRange);
  r = FullRecord(1);
  r.filters.assign(FeedbackLimits::kMaxItems + 1, r.filters[0]);
  EXPECT_EQ(ValidateFeedbackRecord(r).code(), Status::Code::kOutOfRange);
  Tombstone t;
  EXPECT_TRUE(ValidateTombstone(t).IsInvalidArgument());  // neither id nor matter
  t.record_id = "x";
  t.matter = "m";
  EXPECT_TRUE(ValidateTombstone(t).IsInvalidArgument());  // both
}

// A record written before filters were kept (no field 21) reads as one
// searched over the whole index; a record with an operator this build does
// not know is refused as damage, never read with a wider scope.
TEST(FeedbackRecord, RecordsWithoutFiltersStillReadAndUnknownOperatorsAreRefused) {
  FeedbackRecord r = FullRecord(3);
  r.filters.clear();
  pb::FeedbackRecord old;
  old.set_version(1);
  old.set_record_id(r.record_id);
  old.set_trace_id(r.trace_id);
  old.set_time_ms(r.time_ms);
  old.set_matter(r.matter);
  old.set_question(r.question);
  pb::PassageLabel* l = old.add_labels();
  l->set_chunk_id("doc3#1");
  l->set_label(1);
  old.set_consent_to_train(true);
  std::string bytes = old.SerializeAsString();
  auto back = DecodeFeedbackRecord(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->filters.empty());
  EXPECT_EQ(back->question, r.question);
  // The same bytes in a log, beside a record with filters.
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  ASSERT_TRUE(w.AddEncoded(std::string(1, '\x01') + bytes).ok());
  ASSERT_TRUE(w.Add(FullRecord(4)).ok());
  auto c = ReadFeedbackLog(sink.data());
  ASSERT_EQ(c.entries.size(), 2u);
  EXPECT_TRUE(c.damage.empty());
  EXPECT_TRUE(c.entries[0].record.filters.empty());
  ASSERT_EQ(c.entries[1].record.filters.size(), 3u);
  EXPECT_EQ(c.entries[1].record.filters[1].op, Filter::Op::kGe);

  pb::SearchFilter* f = old.add_filters();
  f->set_field("date");
  f->set_op(7);
  f->set_value("2020-01-01");
  EXPECT_EQ(DecodeFeedbackRecord(old.SerializeAsString()).status().code(),
            Status::Code::kCorruption);
}

TEST(FeedbackRecord, TenMegabyteCritiqueIsRefusedAndNothingIsWritten) {
  FeedbackRecord r = FullRecord(1, 10 * 1024 * 1024);
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  Status s = w.Add(r);
  EXPECT_EQ(s.code(), Status::Code::kOutOfRange) << s.ToString();
  EXPECT_NE(s.message().find("critique"), std::string::npos) << s.ToString();
  EXPECT_TRUE(sink.data().empty());
  EXPECT_TRUE(w.status().ok());  // the writer is still usable
  ASSERT_TRUE(w.Add(FullRecord(2)).ok());
  EXPECT_EQ(ReadFeedbackLog(sink.data()).entries.size(), 1u);
  // At the limit is fine.
  ASSERT_TRUE(w.Add(FullRecord(3, FeedbackLimits::kMaxTextBytes)).ok());
}

TEST(FeedbackRecord, Ratings) {
  EXPECT_TRUE(Rating::Parse("up")->positive());
  EXPECT_TRUE(Rating::Parse("down")->negative());
  EXPECT_TRUE(Rating::Parse("4")->positive());
  EXPECT_FALSE(Rating::Parse("3")->positive());
  EXPECT_FALSE(Rating::Parse("3")->negative());
  EXPECT_TRUE(Rating::Parse("2")->negative());
  EXPECT_EQ(Rating::Parse("5")->ToString(), "5");
  EXPECT_FALSE(Rating::Parse("6").ok());
  EXPECT_FALSE(Rating::Parse("thumbs").ok());
  EXPECT_FALSE(Rating::Parse("").ok());
}

TEST(FeedbackRecord, TextHashIsStable) {
  EXPECT_EQ(FeedbackTextHash(""), "cbf29ce484222325");   // FNV-1a 64 offset basis
  EXPECT_EQ(FeedbackTextHash("a"), "af63dc4c8601ec8c");  // published FNV-1a 64 test vector
  EXPECT_NE(FeedbackTextHash("clause 1"), FeedbackTextHash("clause 2"));
}

// ---------------------------------------------------------------- framing

struct Written {
  std::string bytes;
  std::vector<FeedbackRecord> records;
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // first fragment start, end
};

constexpr size_t kSmallBlock = 512;

// Records of varied sizes over several small blocks: FULL, FIRST, MIDDLE,
// LAST fragments and block padding all occur.
Written SmallMultiBlockLog(size_t block = kSmallBlock, int n = 12) {
  Written w;
  MemorySink sink;
  FeedbackLogWriter writer(&sink, 0, block);
  for (int i = 0; i < n; ++i) {
    FeedbackRecord r;
    r.record_id = "r" + std::to_string(i);
    r.trace_id = "t" + std::to_string(i);
    r.question = "q" + std::to_string(i);
    r.critique =
        std::string(static_cast<size_t>((i * 197) % 1400), static_cast<char>('a' + i % 26));
    uint64_t before = writer.log_size();
    uint64_t start = before;
    if (block - before % block < 7) start = (before / block + 1) * block;
    EXPECT_TRUE(writer.Add(r).ok());
    w.records.push_back(r);
    w.extents.emplace_back(start, writer.log_size());
  }
  w.bytes = sink.data();
  return w;
}

std::vector<uint8_t> FragmentTypes(const std::string& bytes, size_t block) {
  std::vector<uint8_t> types;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t room = block - pos % block;
    if (room < 7) {
      pos += room;
      continue;
    }
    size_t len = static_cast<unsigned char>(bytes[pos + 4]) |
                 static_cast<size_t>(static_cast<unsigned char>(bytes[pos + 5])) << 8;
    types.push_back(static_cast<uint8_t>(bytes[pos + 6]));
    pos += 7 + len;
  }
  return types;
}

TEST(FeedbackLog, FragmentsAcrossBlocks) {
  Written w = SmallMultiBlockLog();
  ASSERT_GT(w.bytes.size(), 5 * kSmallBlock);
  std::set<uint8_t> types;
  for (uint8_t t : FragmentTypes(w.bytes, kSmallBlock)) types.insert(t);
  EXPECT_EQ(types, (std::set<uint8_t>{1, 2, 3, 4}));  // FULL FIRST MIDDLE LAST
  auto c = ReadFeedbackLog(w.bytes, kSmallBlock);
  ASSERT_EQ(c.entries.size(), w.records.size());
  for (size_t i = 0; i < w.records.size(); ++i) ExpectSame(w.records[i], c.entries[i].record);
  EXPECT_TRUE(c.damage.empty());
  // The 32 KiB format too, with records larger than a block.
  MemorySink sink;
  FeedbackLogWriter big(&sink);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(big.Add(FullRecord(i, 30000)).ok());
  ASSERT_GT(sink.data().size(), 5 * kFeedbackLogBlockSize);
  auto c2 = ReadFeedbackLog(sink.data());
  EXPECT_EQ(c2.entries.size(), 6u);
  EXPECT_TRUE(c2.damage.empty());
  for (size_t off = kFeedbackLogBlockSize; off < sink.data().size(); off += kFeedbackLogBlockSize) {
    // Every block starts with a fragment header: a fragment never straddles.
    uint8_t type = static_cast<uint8_t>(sink.data()[off + 6]);
    EXPECT_GE(type, 1);
    EXPECT_LE(type, 4);
  }
}

TEST(FeedbackLog, WriterContinuesAnExistingLog) {
  Written w = SmallMultiBlockLog();
  MemorySink sink;
  *sink.mutable_data() = w.bytes;
  FeedbackLogWriter more(&sink, w.bytes.size(), kSmallBlock);
  FeedbackRecord r = FullRecord(99);
  ASSERT_TRUE(more.Add(r).ok());
  auto c = ReadFeedbackLog(sink.data(), kSmallBlock);
  ASSERT_EQ(c.entries.size(), w.records.size() + 1);
  ExpectSame(c.entries.back().record, r);
}

TEST(FeedbackLog, TruncationAtEveryOffsetIsATornTail) {
  Written w = SmallMultiBlockLog();
  for (size_t cut = 0; cut <= w.bytes.size(); ++cut) {
    auto c = ReadFeedbackLog(std::string_view(w.bytes).substr(0, cut), kSmallBlock);
    std::vector<std::string> expected;
    uint64_t end = 0;
    for (size_t i = 0; i < w.records.size(); ++i) {
      if (w.extents[i].second <= cut) {
        expected.push_back(w.records[i].record_id);
        end = w.extents[i].second;
      }
    }
    ASSERT_EQ(Ids(c), expected) << "cut at " << cut;
    EXPECT_TRUE(c.damage.empty()) << "cut at " << cut << ": " << c.damage[0].reason;
    EXPECT_EQ(c.valid_end, end) << "cut at " << cut;
    EXPECT_EQ(c.torn_tail_bytes, cut - end) << "cut at " << cut;
    if (cut % 37 == 0) {
      // A writer continuing at valid_end produces a log that reads whole.
      MemorySink sink;
      *sink.mutable_data() = w.bytes.substr(0, c.valid_end);
      FeedbackLogWriter more(&sink, c.valid_end, kSmallBlock);
      ASSERT_TRUE(more.Add(FullRecord(1000)).ok());
      auto again = ReadFeedbackLog(sink.data(), kSmallBlock);
      expected.push_back(FullRecord(1000).record_id);
      EXPECT_EQ(Ids(again), expected) << "cut at " << cut;
      EXPECT_TRUE(again.damage.empty());
      EXPECT_EQ(again.torn_tail_bytes, 0u);
    }
  }
}

TEST(FeedbackLog, FlippingEveryByteLosesOnlyTheDamagedBlockAndReportsIt) {
  Written w = SmallMultiBlockLog();
  // Every byte; every third under the sanitizers (support/test_budget.h).
  const size_t stride = foldback::testing::kSanitized ? 3 : 1;
  for (size_t off = 0; off < w.bytes.size(); off += stride) {
    for (unsigned char mask : {0x01, 0xFF}) {
      std::string bad = w.bytes;
      bad[off] = static_cast<char>(bad[off] ^ mask);
      auto c = ReadFeedbackLog(bad, kSmallBlock);
      // Nothing damaged is ever returned: what comes back is a subsequence
      // of what was written, byte for byte.
      size_t j = 0;
      for (const auto& e : c.entries) {
        while (j < w.records.size() && w.records[j].record_id != e.record.record_id) ++j;
        ASSERT_LT(j, w.records.size()) << "flip at " << off << ": unknown or reordered entry";
        ExpectSame(w.records[j], e.record);
      }
      std::set<std::string> got;
      for (const auto& id : Ids(c)) got.insert(id);
      size_t damaged_block = off / kSmallBlock;
      bool lost = false;
      for (size_t i = 0; i < w.records.size(); ++i) {
        auto [start, end] = w.extents[i];
        bool before = end <= off;
        bool other_blocks =
            start / kSmallBlock > damaged_block || (end - 1) / kSmallBlock < damaged_block;
        if (before || other_blocks) {
          EXPECT_TRUE(got.count(w.records[i].record_id))
              << "flip at " << off << " lost undamaged record " << i;
        }
        lost |= !got.count(w.records[i].record_id);
      }
      if (lost) {
        EXPECT_TRUE(!c.damage.empty() || c.torn_tail_bytes > 0) << "flip at " << off;
        for (const auto& d : c.damage) EXPECT_GT(d.bytes, 0u);
      }
    }
  }
}

// The real 32 KiB format: every byte near a block boundary, and a stride
// through the rest (flipping all ~100k bytes would read ~10 GB).
TEST(FeedbackLog, FlippedBytesInTheRealFormat) {
  const size_t block = kFeedbackLogBlockSize;
  Written w = SmallMultiBlockLog(block, 0);
  {
    MemorySink sink;
    FeedbackLogWriter writer(&sink);
    for (int i = 0; i < 24; ++i) {
      FeedbackRecord r = FullRecord(i, i % 9 == 0 ? 40000 : static_cast<size_t>(i * 131 % 5000));
      uint64_t before = writer.log_size();
      uint64_t start = block - before % block < 7 ? (before / block + 1) * block : before;
      ASSERT_TRUE(writer.Add(r).ok());
      w.records.push_back(r);
      w.extents.emplace_back(start, writer.log_size());
    }
    w.bytes = sink.data();
  }
  ASSERT_GT(w.bytes.size(), 3 * block);
  std::vector<size_t> offsets;
  const size_t stride = foldback::testing::kSanitized ? 631 : 211;
  const size_t near = foldback::testing::kSanitized ? 16 : 40;
  for (size_t off = 0; off < w.bytes.size(); off += stride) offsets.push_back(off);
  for (size_t b = block; b < w.bytes.size(); b += block) {
    for (size_t off = b - near; off < std::min(w.bytes.size(), b + near); ++off) {
      offsets.push_back(off);
    }
  }
  for (size_t off : offsets) {
    std::string bad = w.bytes;
    bad[off] = static_cast<char>(bad[off] ^ 0x10);
    auto c = ReadFeedbackLog(bad);
    std::set<std::string> got;
    for (const auto& e : c.entries) got.insert(e.record.record_id);
    bool lost = false;
    for (size_t i = 0; i < w.records.size(); ++i) {
      auto [start, end] = w.extents[i];
      bool undamaged = end <= off || start / block > off / block || (end - 1) / block < off / block;
      if (undamaged) {
        EXPECT_TRUE(got.count(w.records[i].record_id)) << "flip at " << off;
      }
      lost |= !got.count(w.records[i].record_id);
    }
    if (lost) {
      EXPECT_TRUE(!c.damage.empty() || c.torn_tail_bytes > 0) << "flip at " << off;
    }
  }
}

TEST(FeedbackLog, CorruptBlockInTheMiddleIsSkippedAndReported) {
  Written w = SmallMultiBlockLog();
  std::string bad = w.bytes;
  // Scribble over the whole of block 2.
  for (size_t i = 2 * kSmallBlock; i < 3 * kSmallBlock; ++i) bad[i] = static_cast<char>(i * 7);
  auto c = ReadFeedbackLog(bad, kSmallBlock);
  ASSERT_FALSE(c.damage.empty());
  EXPECT_GT(c.bytes_dropped, 0u);
  EXPECT_EQ(c.torn_tail_bytes, 0u);
  EXPECT_EQ(c.valid_end, bad.size());
  std::set<std::string> got;
  for (const auto& id : Ids(c)) got.insert(id);
  for (size_t i = 0; i < w.records.size(); ++i) {
    bool touches =
        !(w.extents[i].second <= 2 * kSmallBlock || w.extents[i].first >= 3 * kSmallBlock);
    EXPECT_EQ(got.count(w.records[i].record_id) == 1, !touches) << i;
  }
}

TEST(FeedbackLog, ZeroFilledTailIsATornTail) {
  Written w = SmallMultiBlockLog();
  std::string bytes = w.bytes + std::string(300, '\0');
  auto c = ReadFeedbackLog(bytes, kSmallBlock);
  EXPECT_EQ(c.entries.size(), w.records.size());
  EXPECT_TRUE(c.damage.empty());
  EXPECT_EQ(c.valid_end, w.bytes.size());
  EXPECT_EQ(c.torn_tail_bytes, 300u);
}

TEST(FeedbackLog, UnknownRecordVersionIsSkippedAndReported) {
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  ASSERT_TRUE(w.Add(FullRecord(1)).ok());
  pb::FeedbackRecord future;
  future.set_version(2);
  future.set_record_id("from-the-future");
  future.set_trace_id("t");
  std::string payload(1, '\x01');
  payload += future.SerializeAsString();
  ASSERT_TRUE(w.AddEncoded(payload).ok());
  ASSERT_TRUE(w.AddEncoded(std::string("\x09garbage", 8)).ok());  // unknown entry kind
  ASSERT_TRUE(w.Add(FullRecord(2)).ok());
  auto c = ReadFeedbackLog(sink.data());
  ASSERT_EQ(c.entries.size(), 2u);
  EXPECT_EQ(c.entries[0].record.record_id, FullRecord(1).record_id);
  EXPECT_EQ(c.entries[1].record.record_id, FullRecord(2).record_id);
  ASSERT_EQ(c.damage.size(), 2u);
  EXPECT_NE(c.damage[0].reason.find("unknown record version 2"), std::string::npos)
      << c.damage[0].reason;
  EXPECT_NE(c.damage[1].reason.find("unknown entry kind 9"), std::string::npos);
  EXPECT_EQ(c.torn_tail_bytes, 0u);
  auto direct = DecodeFeedbackRecord(future.SerializeAsString());
  EXPECT_TRUE(direct.status().IsNotSupported());
}

class FailingSink : public FeedbackSink {
 public:
  Status Append(std::string_view) override { return Status::IOError("disk full"); }
  Status Sync() override { return Status::OK(); }
};

TEST(FeedbackLog, SinkFailureStopsTheWriter) {
  FailingSink sink;
  FeedbackLogWriter w(&sink);
  EXPECT_EQ(w.Add(FullRecord(1)).code(), Status::Code::kIOError);
  EXPECT_EQ(w.Add(FullRecord(2)).code(), Status::Code::kIOError);
  EXPECT_EQ(w.Sync().code(), Status::Code::kIOError);
  EXPECT_EQ(w.log_size(), 0u);
}

// ---------------------------------------------------------------- state

TEST(FeedbackState, RetriedWritesNeverDuplicate) {
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w.Add(FullRecord(i)).ok());
  ASSERT_TRUE(w.Add(FullRecord(1)).ok());  // a retry
  ASSERT_TRUE(w.Add(FullRecord(1)).ok());
  auto st = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  ASSERT_EQ(st.records.size(), 3u);
  EXPECT_EQ(st.duplicates, 2u);
  ASSERT_NE(st.Find(FullRecord(1).record_id), nullptr);
  EXPECT_EQ(st.Find("nope"), nullptr);
}

// What a host reports for "forget this matter": the live records asked in
// it or showing a passage of it — exactly those its tombstone removes.
TEST(FeedbackState, RecordsTouchingAMatterAreThoseItsTombstoneRemoves) {
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(w.Add(FullRecord(i)).ok());  // odd: acme, even: beta
  FeedbackRecord cross = FullRecord(10);  // matter beta, but shows an acme passage
  cross.results[1].matter = "acme";
  ASSERT_TRUE(w.Add(cross).ok());
  auto st = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  ASSERT_EQ(st.records.size(), 7u);
  EXPECT_EQ(RecordsTouchingMatter(st, "acme"), 4u);
  EXPECT_EQ(RecordsTouchingMatter(st, "beta"), 4u);
  EXPECT_EQ(RecordsTouchingMatter(st, "gamma"), 0u);
  EXPECT_EQ(RecordsTouchingMatter(st, ""), 0u);
  Tombstone matter;
  matter.matter = "acme";
  ASSERT_TRUE(w.Add(matter).ok());
  auto after = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  EXPECT_EQ(after.records.size() + 4, st.records.size());
  EXPECT_EQ(after.deleted, 4u);
  EXPECT_EQ(RecordsTouchingMatter(after, "acme"), 0u);
}

TEST(FeedbackState, TombstonesDeleteRecordsAndMattersForGood) {
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(w.Add(FullRecord(i)).ok());  // odd: acme, even: beta
  Tombstone one;
  one.record_id = FullRecord(0).record_id;
  ASSERT_TRUE(w.Add(one).ok());
  Tombstone matter;
  matter.matter = "acme";
  ASSERT_TRUE(w.Add(matter).ok());
  ASSERT_TRUE(w.Add(FullRecord(3)).ok());  // a late retry of a forgotten matter's record
  ASSERT_TRUE(w.Add(FullRecord(0)).ok());  // a late retry of a deleted record
  FeedbackRecord cross = FullRecord(10);   // matter beta, but shows an acme passage
  cross.results[1].matter = "acme";
  ASSERT_TRUE(w.Add(cross).ok());
  auto st = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  std::vector<std::string> ids;
  for (const auto& r : st.records) ids.push_back(r.record_id);
  EXPECT_EQ(ids, (std::vector<std::string>{FullRecord(2).record_id, FullRecord(4).record_id}));
  EXPECT_EQ(st.tombstones.size(), 2u);
  EXPECT_EQ(st.forgotten_matters, (std::set<std::string>{"acme"}));

  // Compaction keeps the meaning, drops the rest, and is deterministic.
  auto compacted = CompactFeedbackLog(st);
  ASSERT_TRUE(compacted.ok());
  EXPECT_LT(compacted->size(), sink.data().size());
  EXPECT_EQ(*compacted, *CompactFeedbackLog(st));
  auto again = ApplyFeedbackLog(ReadFeedbackLog(*compacted));
  ASSERT_EQ(again.records.size(), st.records.size());
  for (size_t i = 0; i < st.records.size(); ++i) ExpectSame(again.records[i], st.records[i]);
  EXPECT_EQ(again.forgotten_matters, st.forgotten_matters);
  EXPECT_EQ(again.deleted_records, st.deleted_records);
  EXPECT_EQ(again.duplicates, 0u);
  // A retry after compaction stays deleted.
  MemorySink s2;
  *s2.mutable_data() = *compacted;
  FeedbackLogWriter w2(&s2, compacted->size());
  ASSERT_TRUE(w2.Add(FullRecord(5)).ok());  // acme
  ASSERT_TRUE(w2.Add(FullRecord(0)).ok());  // deleted id
  EXPECT_EQ(ApplyFeedbackLog(ReadFeedbackLog(s2.data())).records.size(), 2u);
}

}  // namespace
}  // namespace foldback
