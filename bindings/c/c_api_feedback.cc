// The C ABI: the feedback log of an index folder, and its export.
#include "c_api.h"

#include <fmt/format.h>

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API

fb_feedback_log::~fb_feedback_log() {
  file.reset();
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(OpenLogsMutex());
    OpenLogs().erase(key);
  }
}

namespace {

// fb_feedback_export and fb_feedback_export_walled: the same job, with or
// without a wall.
int ExportFeedback(const char* index_dir, int f, const char* out_path,
                   const char* const* matters, size_t matter_count, bool walled,
                   fb_export_report* report_out, char** error_out) {
  if (error_out) *error_out = nullptr;
  ErrorSlot err;
  int code = [&]() -> int {
    if (!index_dir || !*index_dir) return Fail(&err, FB_EINVALID, "index_dir is NULL or empty");
    if (!out_path || !*out_path) return Fail(&err, FB_EINVALID, "out_path is NULL or empty");
    if (f < FB_EXPORT_TRIPLETS || f > FB_EXPORT_OPENAI_PREFERENCE) {
      return Fail(&err, FB_EINVALID, fmt::format(FMT_STRING("unknown export format {}"), f));
    }
    foldback::ExportOptions options;
    if (walled) {
      std::vector<std::string> list;
      std::string why;
      if (!Strings(matters, matter_count, "allowed_matters", &list, &why)) {
        return Fail(&err, FB_EINVALID, why);
      }
      options.allowed_matters.emplace(list.begin(), list.end());
    }
    return Guard(&err, [&]() -> int {
      auto index = foldback::host::OpenIndex(index_dir, /*create=*/false);
      if (!index.ok()) return Report(&err, index.status());
      foldback::ExportReport rep;
      Status s = foldback::host::ExportFeedbackFile(
          **index, index_dir, static_cast<foldback::ExportFormat>(f), options, out_path,
          &rep);
      if (!s.ok()) return Report(&err, s);
      if (report_out) {
        report_out->records = rep.records;
        report_out->exported = rep.exported;
        report_out->rows = rep.rows;
        report_out->no_consent = rep.no_consent;
        report_out->privileged = rep.privileged;
        report_out->unusable = rep.unusable;
        report_out->stale_passages = rep.stale_passages;
      }
      return FB_OK;
    });
  }();
  if (code != FB_OK && error_out) *error_out = Dup(err.message);
  return code;
}

// fb_feedback_log_append and fb_feedback_log_append_walled: C values to
// the core's FeedbackInput; the record is built and checked by the core
// (foldback::BuildFeedbackRecord, through host::BuildFeedbackRecord).
int AppendRecord(fb_feedback_log* log, const fb_feedback_record* record, const char* const* matters,
                 size_t matter_count, bool walled, char** record_id_out,
                 bool replace_earlier = false) {
  if (!log) return FB_EINVALID;
  if (record_id_out) *record_id_out = nullptr;
  if (!record) return Fail(&log->err, FB_EINVALID, "record is NULL");
  if (!record->trace_id) return Fail(&log->err, FB_EINVALID, "record.trace_id is NULL");
  return Guard(&log->err, [&]() -> int {
    foldback::host::FeedbackInput in;
    in.record_id = Str(record->record_id);
    in.trace_id = record->trace_id;
    in.rating = Str(record->rating);
    std::string bad;
    if (!Strings(record->relevant, record->relevant_count, "relevant", &in.relevant, &bad) ||
        !Strings(record->partly, record->partly_count, "partly", &in.partly, &bad) ||
        !Strings(record->not_relevant, record->not_relevant_count, "not_relevant", &in.not_relevant,
                 &bad) ||
        !Strings(record->tags, record->tag_count, "tags", &in.tags, &bad)) {
      return Fail(&log->err, FB_EINVALID, "record." + bad);
    }
    if (walled) {
      std::vector<std::string> list;
      if (!Strings(matters, matter_count, "allowed_matters", &list, &bad)) {
        return Fail(&log->err, FB_EINVALID, bad);
      }
      in.allowed_matters.emplace(list.begin(), list.end());
    }
    in.critique = Str(record->critique);
    in.corrected_answer = Str(record->corrected_answer);
    in.preferred_rewrite = Str(record->preferred_rewrite);
    in.user = Str(record->user);
    in.matter = Str(record->matter);
    in.consent_to_train = record->consent_to_train != 0;
    in.privileged = record->privileged != 0;
    in.replace_earlier = replace_earlier;
    if (record->time_ms < 0) return Fail(&log->err, FB_EINVALID, "record.time_ms is negative");
    in.time_ms = record->time_ms;
    foldback::FeedbackRecordNotes notes;
    auto r = foldback::host::BuildFeedbackRecord(*log->state->index, log->dir, in, &notes);
    if (!r.ok()) return Report(&log->err, r.status());
    if (!notes.retried) {
      Status s = log->file->Append(*r);
      if (!s.ok()) return Report(&log->err, s);
    }
    if (record_id_out) {
      *record_id_out = Dup(r->record_id);
      if (!*record_id_out)
        return Fail(&log->err, FB_ENOMEM, "out of memory (the record is stored)");
    }
    return FB_OK;
  });
}

}  // namespace

extern "C" {

/* ---------------------------------------------------------------- feedback */

int fb_feedback_log_open(const char* index_dir, const fb_index* index, fb_feedback_log** log_out) {
  if (!index_dir || !*index_dir || !log_out) return FB_EINVALID;
  *log_out = nullptr;
  try {
    auto log = std::make_unique<fb_feedback_log>();
    log->dir = index_dir;
    if (index) {
      log->state = index->state;
    } else {
      auto opened = foldback::host::OpenIndex(index_dir, /*create=*/false);
      if (!opened.ok()) return CodeOf(opened.status());
      log->state = NewState(std::move(opened.value()), index_dir);
    }
    std::string key = CanonicalDir(index_dir);
    {
      std::lock_guard<std::mutex> lock(OpenLogsMutex());
      if (!OpenLogs().insert(key).second) return FB_ESTATE;
    }
    log->key = key;
    auto file = foldback::host::FeedbackLogFile::Open(index_dir);
    if (!file.ok()) return CodeOf(file.status());  // ~fb_feedback_log releases the key
    log->file = std::move(file.value());
    *log_out = log.release();
    return FB_OK;
  } catch (const std::bad_alloc&) {
    return FB_ENOMEM;
  } catch (...) {
    return FB_EINTERNAL;
  }
}

void fb_feedback_log_free(fb_feedback_log* log) { delete log; }

const char* fb_feedback_log_last_error(const fb_feedback_log* log) {
  return log ? LastError(&log->err) : "";
}

fb_feedback_record fb_feedback_default_record(void) {
  fb_feedback_record r;
  std::memset(&r, 0, sizeof r);
  return r;
}

int fb_feedback_log_append(fb_feedback_log* log, const fb_feedback_record* record,
                           char** record_id_out) {
  return AppendRecord(log, record, nullptr, 0, /*walled=*/false, record_id_out);
}

int fb_feedback_log_append_walled(fb_feedback_log* log, const fb_feedback_record* record,
                                  const char* const* allowed_matters, size_t allowed_matter_count,
                                  char** record_id_out) {
  return AppendRecord(log, record, allowed_matters, allowed_matter_count, /*walled=*/true,
                      record_id_out);
}

int fb_feedback_log_append_replacing(fb_feedback_log* log, const fb_feedback_record* record,
                                     const char* const* allowed_matters,
                                     size_t allowed_matter_count, char** record_id_out) {
  if (log && !allowed_matters && allowed_matter_count > 0) {
    return Fail(&log->err, FB_EINVALID, "allowed_matters is NULL with a count");
  }
  return AppendRecord(log, record, allowed_matters, allowed_matter_count,
                      /*walled=*/allowed_matters != nullptr, record_id_out,
                      /*replace_earlier=*/true);
}

int fb_feedback_forget_record(fb_feedback_log* log, const char* record_id, const char* user) {
  if (!log) return FB_EINVALID;
  if (!record_id) return Fail(&log->err, FB_EINVALID, "record_id is NULL");
  return Guard(&log->err, [&]() -> int {
    return Report(&log->err, foldback::host::ForgetFeedbackRecord(log->file.get(), log->dir,
                                                                  record_id, Str(user)));
  });
}

int fb_feedback_forget_matter(fb_feedback_log* log, const char* matter, const char* user,
                              uint64_t* affected_out) {
  if (!log) return FB_EINVALID;
  if (!matter) return Fail(&log->err, FB_EINVALID, "matter is NULL");
  return Guard(&log->err, [&]() -> int {
    auto n = foldback::host::ForgetFeedbackMatter(log->file.get(), log->dir, matter, Str(user));
    if (!n.ok()) return Report(&log->err, n.status());
    if (affected_out) *affected_out = *n;
    return FB_OK;
  });
}

int fb_feedback_export(const char* index_dir, fb_export_format format, const char* out_path,
                       fb_export_report* report_out, char** error_out) {
  return ExportFeedback(index_dir, IntOf(format), out_path, nullptr, 0, /*walled=*/false, report_out,
                        error_out);
}

int fb_feedback_export_walled(const char* index_dir, fb_export_format format, const char* out_path,
                              const char* const* allowed_matters, size_t allowed_matter_count,
                              fb_export_report* report_out, char** error_out) {
  return ExportFeedback(index_dir, IntOf(format), out_path, allowed_matters, allowed_matter_count,
                        /*walled=*/true, report_out, error_out);
}

}  // extern "C"
