// foldback feedback --index DIR --trace ID [--rating up|down|1..5] [--relevant CHUNK]...
//                   [--irrelevant CHUNK]... [--partly CHUNK]... [--critique TEXT]
//                   [--correction TEXT] [--preferred-rewrite TEXT] [--tag T]... [--consent]
//                   [--privileged] [--user U] [--matter M] [--allowed-matters M1,M2] [--json]
// foldback feedback --index DIR --forget RECORD | --forget-matter M
// foldback feedback --index DIR --list [--json]
// foldback compact --index DIR
//
// Records what a lawyer says about a question's results (its trace, saved
// by `foldback ask` in DIR/traces/ID.json) in DIR/feedback.log, durably:
// the record id is printed only after fsync. The record is built and checked
// by the core (BuildFeedbackRecord, foldback/feedback.h: walls, labels,
// forgotten matters, limits); anything wrong — an unknown trace or chunk, a
// label behind the wall, a conflicting label, an oversized text — is a clear
// error and nothing is written.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>

#include <fmt/format.h>

#include "cli/common.h"
#include "foldback/feedback.h"
#include "host/feedback_log.h"
#include "host/feedback_record.h"
#include "host/files.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/traces.h"

namespace foldback::cli {
namespace {

struct FeedbackArgs {
  std::string index_dir, trace_id, rating, critique, correction, preferred_rewrite, user, matter;
  std::string allowed_matters;
  bool restrict_matters = false;
  std::vector<std::string> relevant, irrelevant, partly, tags;
  bool consent = false, privileged = false, json = false, list = false, replace_earlier = false;
  std::string forget, forget_matter;
};

using json = nlohmann::json;

int Record(const FeedbackArgs& a) {
  auto opened = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!opened.ok()) return Fail(opened.status());
  host::FeedbackInput in;
  in.trace_id = a.trace_id;
  in.rating = a.rating;
  in.relevant = a.relevant;
  in.partly = a.partly;
  in.not_relevant = a.irrelevant;
  in.critique = a.critique;
  in.corrected_answer = a.correction;
  in.preferred_rewrite = a.preferred_rewrite;
  in.tags = a.tags;
  in.user = a.user;
  in.matter = a.matter;
  in.consent_to_train = a.consent;
  in.privileged = a.privileged;
  in.replace_earlier = a.replace_earlier;
  if (a.restrict_matters) in.allowed_matters = SplitCommaSet(a.allowed_matters);
  // The log's writer lock first: the record is checked against the log as
  // it stands when appended (a retried id, the earlier judgments it
  // replaces), with no other writer in between. Nothing is appended when the
  // check fails (opening creates an empty log and its lock file if the index
  // had none: every reader reads an empty log as no log).
  auto log = host::FeedbackLogFile::Open(a.index_dir);
  if (!log.ok()) return Fail(log.status());
  FeedbackRecordNotes notes;
  auto r = host::BuildFeedbackRecord(**opened, a.index_dir, in, &notes);
  if (!r.ok()) return Fail(r.status());
  if (notes.missing_passages) {
    fmt::print(stderr,
               FMT_STRING("warning: {} passage(s) of trace '{}' are no longer in the index\n"),
               notes.missing_passages, a.trace_id);
  }
  Status s = (*log)->Append(*r);
  if (!s.ok()) return Fail(s);
  if (a.json) {
    json out = {{"record_id", r->record_id},
                {"trace_id", r->trace_id},
                {"matter", r->matter},
                {"labels", r->labels.size()},
                {"rating", r->rating.ToString()},
                {"replaces", r->replaces}};
    fmt::print(FMT_STRING("{}\n"), out.dump());
  } else {
    fmt::print(FMT_STRING("{}\n"), r->record_id);
  }
  return 0;
}

int Forget(const FeedbackArgs& a) {
  if (!host::PathExists(host::SnapshotPath(a.index_dir))) {
    return Fail(Status::NotFound("no index in " + a.index_dir));
  }
  auto log = host::FeedbackLogFile::Open(a.index_dir);  // holds the lock from here
  if (!log.ok()) return Fail(log.status());
  size_t affected = 0;
  std::string embedder;  // what forgetting the matter did to the embedder
  if (!a.forget.empty()) {
    Status s = host::ForgetFeedbackRecord(log->get(), a.index_dir, a.forget, a.user);
    if (!s.ok()) return Fail(s);
    affected = 1;
  } else {
    auto n = host::ForgetFeedbackMatter(log->get(), a.index_dir, a.forget_matter, a.user);
    if (!n.ok()) return Fail(n.status());
    affected = *n;
    // Its labels may have trained the index's embedder (train --sources feedback).
    Status s = host::ForgetMatterInIndexDir(a.index_dir, a.forget_matter, &embedder);
    if (!s.ok()) return Fail(s.WithContext("the records are forgotten; the embedder is not"));
    if (!embedder.empty() && !a.json) {
      fmt::print(FMT_STRING("{}\n"), TerminalSafe(embedder));
    }
  }
  if (a.json) {
    fmt::print(FMT_STRING("{}\n"), json({{"forgotten", affected},
                                         {"record_id", a.forget},
                                         {"matter", a.forget_matter},
                                         {"embedder", embedder}})
                                       .dump());
  } else if (!a.forget.empty()) {
    fmt::print(FMT_STRING("forgot record {}\n"), a.forget);
  } else {
    fmt::print(
        FMT_STRING("forgot matter {}: {} record(s); run `foldback compact` to rewrite the log\n"),
        a.forget_matter, affected);
  }
  return 0;
}

int List(const FeedbackArgs& a) {
  auto contents = host::ReadFeedbackLogFile(a.index_dir);
  if (!contents.ok()) return Fail(contents.status());
  FeedbackState state = ApplyFeedbackLog(*contents);
  for (const auto& d : contents->damage) {
    fmt::print(stderr,
               FMT_STRING("warning: feedback log damage at byte {}: {} bytes skipped ({})\n"),
               static_cast<unsigned long long>(d.offset), static_cast<unsigned long long>(d.bytes),
               d.reason);
  }
  if (a.json) {
    json out = json::array();
    for (const auto& r : state.records) {
      json labels = json::array();
      for (const auto& l : r.labels)
        labels.push_back({{"chunk_id", l.chunk_id}, {"label", PassageLabelName(l.label)}});
      json filters = json::array();  // the scope the question was searched in
      for (const Filter& f : r.filters)
        filters.push_back({{"field", f.field}, {"op", FilterOpName(f.op)}, {"value", f.value}});
      out.push_back({{"record_id", r.record_id},
                     {"trace_id", r.trace_id},
                     {"matter", r.matter},
                     {"user", r.user},
                     {"question", r.question},
                     {"rating", r.rating.ToString()},
                     {"labels", labels},
                     {"filters", filters},
                     {"critique", r.critique},
                     {"corrected_answer", r.corrected_answer},
                     {"preferred_rewrite", r.preferred_rewrite},
                     {"tags", r.tags},
                     {"consent_to_train", r.consent_to_train},
                     {"privileged", r.privileged},
                     {"replaces", r.replaces},
                     {"time_ms", r.time_ms}});
    }
    fmt::print(FMT_STRING("{}\n"),
               JsonTerminalSafe(out.dump(2, ' ', false, json::error_handler_t::replace)));
    return 0;
  }
  fmt::print(FMT_STRING("{} record(s), {} tombstone(s), {} duplicate(s) ignored, {} deleted\n"),
             state.records.size(), state.tombstones.size(),
             static_cast<unsigned long long>(state.duplicates),
             static_cast<unsigned long long>(state.deleted));
  for (const auto& r : state.records) {
    fmt::print(FMT_STRING("  {}  {:<6} {:2} labels  {}\n"), r.record_id, r.rating.ToString(),
               r.labels.size(), OneLine(r.question, 70));
  }
  return 0;
}

struct CompactArgs {
  std::string index_dir;
  bool no_adapter = false;
};

int Compact(const CompactArgs& a) {
  auto opened = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!opened.ok()) return Fail(opened.status());
  auto log = host::FeedbackLogFile::Open(a.index_dir);
  if (!log.ok()) return Fail(log.status());
  host::CompactReport rep;
  Status s = (*log)->Compact(&rep);
  if (!s.ok()) return Fail(s);
  fmt::print(FMT_STRING("compacted {}: {} -> {} bytes, {} record(s), {} tombstone(s) kept, "
                        "{} duplicate(s) and {} deleted record(s) dropped\n"),
             host::FeedbackLogPath(a.index_dir), static_cast<unsigned long long>(rep.bytes_before),
             static_cast<unsigned long long>(rep.bytes_after), rep.records, rep.tombstones,
             static_cast<unsigned long long>(rep.duplicates),
             static_cast<unsigned long long>(rep.deleted));
  if (!rep.damaged_copy.empty()) {
    fmt::print(FMT_STRING("the log had {} damaged bytes; the original is kept in {}\n"),
               static_cast<unsigned long long>(rep.bytes_dropped), rep.damaged_copy);
  }
  if (a.no_adapter) return 0;
  // Refresh the query adapter kept in the snapshot.
  auto contents = host::ReadFeedbackLogFile(a.index_dir);
  if (!contents.ok()) return Fail(contents.status());
  FeedbackState state = ApplyFeedbackLog(*contents);
  auto t0 = std::chrono::steady_clock::now();
  auto fb = FoldBack::Build(**opened, state.records);
  if (!fb.ok()) return Fail(fb.status());
  const FoldBackStats& st = (*fb)->stats();
  s = (*fb)->SaveAdapter(opened->get());
  if (!s.ok()) return Fail(s);
  s = host::SaveIndex(a.index_dir, **opened);
  if (!s.ok()) return Fail(s);
  if (st.adapter_trained || st.adapter_loaded) {
    fmt::print(
        FMT_STRING(
            "query adapter: {} pairs, loss {:.3f} -> {:.3f} ({:.2f}s), saved in the snapshot\n"),
        st.triplets, st.adapter_loss_before, st.adapter_loss_after, SecondsSince(t0));
  } else {
    fmt::print(FMT_STRING("query adapter: none ({})\n"), st.adapter_note);
  }
  return 0;
}

}  // namespace

void RegisterFeedback(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<FeedbackArgs>();
  CLI::App* cmd = app.add_subcommand(
      "feedback", "Record a lawyer's feedback on a question's results (or forget feedback)");
  cmd->add_option("--index", a->index_dir, "Index folder")->required();
  auto* trace = cmd->add_option("--trace", a->trace_id, "Trace id (DIR/traces/ID.json)");
  cmd->add_option("--rating", a->rating, "up, down or 1..5");
  cmd->add_option("--relevant", a->relevant, "Chunk id marked relevant (repeatable)");
  cmd->add_option("--irrelevant", a->irrelevant, "Chunk id marked not relevant (repeatable)");
  cmd->add_option("--partly", a->partly, "Chunk id marked partly relevant (repeatable)");
  cmd->add_option("--critique", a->critique, "What was wrong or missing");
  cmd->add_option("--correction", a->correction, "The corrected answer");
  cmd->add_option("--preferred-rewrite", a->preferred_rewrite,
                  "The search query that should have been written");
  cmd->add_option("--tag", a->tags, "A tag (repeatable)");
  cmd->add_flag("--consent", a->consent, "The lawyer consents to training on this record");
  cmd->add_flag("--privileged", a->privileged, "Privileged: never exported");
  cmd->add_flag("--replace-earlier", a->replace_earlier,
                "This judgment replaces the user's earlier ones of the question, in the same write");
  cmd->add_option("--user", a->user, "Pseudonymous user id");
  cmd->add_option("--matter", a->matter,
                  "Matter of the question (default: the trace's, else the one matter of its wall, "
                  "else the one matter of the passages shown)");
  auto* am = cmd->add_option("--allowed-matters", a->allowed_matters,
                             "Ethical walls: comma-separated matters the user may see (labels on "
                             "passages of other matters are refused)");
  auto* forget = cmd->add_option("--forget", a->forget, "Delete one record (a tombstone)");
  auto* forget_matter =
      cmd->add_option("--forget-matter", a->forget_matter, "Delete every record of a matter");
  auto* list = cmd->add_flag("--list", a->list, "List the live records");
  cmd->add_flag("--json", a->json, "Print JSON");
  trace->excludes(forget)->excludes(forget_matter)->excludes(list);
  forget->excludes(forget_matter)->excludes(list);
  forget_matter->excludes(list);
  cmd->callback([a, exit_code, am] {
    a->restrict_matters = am->count() > 0;
    if (!a->forget.empty() || !a->forget_matter.empty()) {
      *exit_code = Forget(*a);
    } else if (a->list) {
      *exit_code = List(*a);
    } else if (!a->trace_id.empty()) {
      *exit_code = Record(*a);
    } else {
      *exit_code = Fail(Status::InvalidArgument(
          "give --trace ID (record feedback), --forget RECORD, --forget-matter M or --list"));
    }
  });
}

void RegisterCompact(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<CompactArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compact",
      "Rewrite the feedback log atomically (tombstones applied) and refresh the query "
      "adapter in the snapshot");
  cmd->add_option("--index", a->index_dir, "Index folder")->required();
  cmd->add_flag("--no-adapter", a->no_adapter, "Leave the snapshot's query adapter alone");
  cmd->callback([a, exit_code] { *exit_code = Compact(*a); });
}

}  // namespace foldback::cli
