// Fine-tuning API requests, replies and decisions (foldback/finetune.h).
#include "foldback/finetune.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace foldback::finetune {
namespace {

using json = nlohmann::json;

bool IsStage(const std::string& s) {
  return s.empty() || s == "uploading" || s == "uploaded" || s == "creating" || s == "created" ||
         s == "succeeded" || s == "failed";
}

// FNV-1a, for a multipart boundary that depends on the content only.
uint64_t Fnv(std::string_view s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string ApiVersionOf(const wire::Endpoint& e, const std::string& resolved) {
  size_t q = resolved.find("api-version=");
  if (q != std::string::npos) {
    size_t end = resolved.find('&', q);
    return resolved.substr(q + 12, end == std::string::npos ? std::string::npos : end - q - 12);
  }
  return e.api_version.empty() ? wire::kDefaultAzureApiVersion : e.api_version;
}

std::string WithVersion(const RemoteSpec& spec, std::string url) {
  if (spec.endpoint.provider != wire::Provider::kAzure) return url;
  wire::Endpoint e = spec.endpoint;
  if (e.model.empty()) e.model = "x";
  auto resolved = wire::ResolveUrl(e, wire::Route::kChat);
  url += url.find('?') == std::string::npos ? "?" : "&";
  return url + "api-version=" + ApiVersionOf(e, resolved.ok() ? *resolved : "");
}

// The wait after retryable failure number `failures` (1-based).
int64_t Backoff(const RemoteSpec& spec, uint32_t failures, double retry_after_ms, double u) {
  return static_cast<int64_t>(
      wire::RetryDelayMs(spec.retry, failures == 0 ? 0 : failures - 1, retry_after_ms, u));
}

// A failed call: retryable ones wait and try again (the stage is kept: an
// upload or create that may have reached the server is looked up first);
// others, or too many in a row (polls excepted), fail the fine-tune.
Progress Failed(const RemoteSpec& spec, const Progress& p, Call call, bool retryable,
                double retry_after_ms, const std::string& why, int64_t now_ms, double u) {
  Progress next = p;
  std::string what = fmt::format(FMT_STRING("{}: {}"), CallName(call), why);
  if (retryable) {
    next.failures = p.failures + 1;
    if (call == Call::kPoll || next.failures < spec.max_failures) {
      next.error = what;
      next.not_before_ms = now_ms + Backoff(spec, next.failures, retry_after_ms, u);
      return next;
    }
    what += fmt::format(FMT_STRING(" ({} attempts in a row)"), next.failures);
  }
  next.stage = "failed";
  next.error = what;
  next.not_before_ms = 0;
  return next;
}

Result<json> ParseObject(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::IOError("reply is not a JSON object: " + wire::ServerErrorMessage(body));
  }
  return j;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Result<std::string> MethodForFormat(ExportFormat format) {
  switch (format) {
    case ExportFormat::kSft:
      return std::string("supervised");
    case ExportFormat::kOpenAiPreference:
      return std::string("dpo");
    default:
      return Status::InvalidArgument(
          std::string("the fine-tuning API trains on 'sft' (supervised) or 'openai-preference' "
                      "(dpo) files, not '") +
          ExportFormatName(format) + "'; train '" + ExportFormatName(format) +
          "' with a command of your own (--command)");
  }
}

const char* CallName(Call call) {
  switch (call) {
    case Call::kUpload:
      return "upload";
    case Call::kFindFile:
      return "find file";
    case Call::kCreate:
      return "create job";
    case Call::kFindJob:
      return "find job";
    case Call::kPoll:
      return "poll job";
  }
  return "call";
}

Result<std::string> ApiBase(const wire::Endpoint& endpoint) {
  if (endpoint.provider != wire::Provider::kOpenAI && endpoint.provider != wire::Provider::kAzure) {
    return Status::InvalidArgument(
        std::string(
            "fine-tuning goes to OpenAI or Azure OpenAI (--provider openai or azure), not ") +
        wire::ProviderName(endpoint.provider));
  }
  wire::Endpoint e = endpoint;
  if (e.model.empty()) e.model = "x";  // Azure's chat URL needs a deployment; it is cut off below
  auto resolved = wire::ResolveUrl(e, wire::Route::kChat);
  if (!resolved.ok()) return resolved.status();
  std::string url = *resolved;
  if (endpoint.provider == wire::Provider::kAzure) {
    size_t scheme = url.find("://");
    size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    return url.substr(0, path) + "/openai";
  }
  const std::string tail = "/chat/completions";
  if (url.size() >= tail.size() && url.compare(url.size() - tail.size(), tail.size(), tail) == 0) {
    url.resize(url.size() - tail.size());
  }
  return url;
}

Status ValidateRemoteSpec(const RemoteSpec& spec) {
  auto base = ApiBase(spec.endpoint);
  if (!base.ok()) return base.status();
  if (spec.base_model.empty()) {
    return Status::InvalidArgument("the base model to fine-tune is required (--model)");
  }
  if (spec.method != "supervised" && spec.method != "dpo") {
    return Status::InvalidArgument("the fine-tuning method must be supervised or dpo");
  }
  if (spec.suffix.size() > 64) {
    return Status::InvalidArgument("the model suffix is at most 64 characters");
  }
  if (spec.filename.empty() || spec.filename.find_first_of("\"\r\n/\\") != std::string::npos) {
    return Status::InvalidArgument("the training file needs a plain name");
  }
  if (spec.poll_ms < 10) return Status::InvalidArgument("the poll interval is at least 10 ms");
  if (spec.max_failures < 1) return Status::InvalidArgument("max failures is at least 1");
  return Status::OK();
}

std::string ProgressToJson(const Progress& p) {
  json j = {{"stage", p.stage},
            {"file_id", p.file_id},
            {"remote_job_id", p.remote_job_id},
            {"remote_status", p.remote_status},
            {"fine_tuned_model", p.fine_tuned_model},
            {"error", p.error},
            {"failures", p.failures},
            {"polls", p.polls},
            {"uploads", p.uploads},
            {"creates", p.creates},
            {"not_before_ms", p.not_before_ms},
            {"trained_tokens", p.trained_tokens}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Progress> ProgressFromJson(std::string_view text) {
  Progress p;
  if (text.empty()) return p;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("fine-tune progress is not a JSON object");
  }
  try {
    p.stage = j.value("stage", "");
    p.file_id = j.value("file_id", "");
    p.remote_job_id = j.value("remote_job_id", "");
    p.remote_status = j.value("remote_status", "");
    p.fine_tuned_model = j.value("fine_tuned_model", "");
    p.error = j.value("error", "");
    p.failures = j.value("failures", 0u);
    p.polls = j.value("polls", 0u);
    p.uploads = j.value("uploads", 0u);
    p.creates = j.value("creates", 0u);
    p.not_before_ms = j.value("not_before_ms", int64_t{0});
    p.trained_tokens = j.value("trained_tokens", int64_t{-1});
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("fine-tune progress: ") + e.what());
  }
  if (!IsStage(p.stage))
    return Status::InvalidArgument("fine-tune progress: stage '" + p.stage + "'");
  if ((p.stage == "uploaded" || p.stage == "creating") && p.file_id.empty()) {
    return Status::InvalidArgument("fine-tune progress: stage " + p.stage + " without a file id");
  }
  if (p.stage == "created" && p.remote_job_id.empty()) {
    return Status::InvalidArgument("fine-tune progress: created without a job id");
  }
  return p;
}

Step NextStep(const RemoteSpec&, const Progress& p, int64_t now_ms) {
  Step s;
  s.before = p;
  if (p.stage == "succeeded") {
    s.kind = Step::Kind::kSucceeded;
    return s;
  }
  if (p.stage == "failed") {
    s.kind = Step::Kind::kFailed;
    return s;
  }
  if (now_ms < p.not_before_ms) {
    s.kind = Step::Kind::kWait;
    s.wait_until_ms = p.not_before_ms;
    return s;
  }
  s.kind = Step::Kind::kSend;
  if (p.stage.empty()) {
    s.call = Call::kUpload;
    s.before.stage = "uploading";
    s.before.uploads = p.uploads + 1;
  } else if (p.stage == "uploading") {
    s.call = Call::kFindFile;  // it may have arrived: never upload twice
  } else if (p.stage == "uploaded") {
    s.call = Call::kCreate;
    s.before.stage = "creating";
    s.before.creates = p.creates + 1;
  } else if (p.stage == "creating") {
    s.call = Call::kFindJob;
  } else {
    s.call = Call::kPoll;
  }
  return s;
}

Result<HttpRequest> BuildRequest(const RemoteSpec& spec, Call call, const Progress& p,
                                 std::string_view file) {
  Status valid = ValidateRemoteSpec(spec);
  if (!valid.ok()) return valid;
  auto base = ApiBase(spec.endpoint);
  if (!base.ok()) return base.status();
  HttpRequest r;
  r.headers.push_back({"Accept", "application/json"});
  switch (call) {
    case Call::kUpload: {
      if (file.empty()) return Status::InvalidArgument("the training file is empty");
      std::string boundary;
      for (uint64_t seed = 0;; ++seed) {
        boundary = fmt::format(FMT_STRING("foldback-{:016x}{:016x}"), Fnv(file, seed),
                               Fnv(file, seed + 0x51ed270b));
        if (file.find(boundary) == std::string_view::npos) break;
      }
      r.method = "POST";
      r.url = WithVersion(spec, *base + "/files");
      r.headers.push_back({"Content-Type", "multipart/form-data; boundary=" + boundary});
      r.body = "--" + boundary +
               "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n--" +
               boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
               spec.filename + "\"\r\nContent-Type: application/jsonl\r\n\r\n";
      r.body.append(file.data(), file.size());
      r.body += "\r\n--" + boundary + "--\r\n";
      return r;
    }
    case Call::kFindFile:
      r.method = "GET";
      r.url = WithVersion(spec, *base + "/files?purpose=fine-tune");
      return r;
    case Call::kCreate: {
      if (p.file_id.empty()) return Status::InvalidArgument("create: no training file id");
      json body = {{"model", spec.base_model}, {"training_file", p.file_id}};
      if (!spec.suffix.empty()) body["suffix"] = spec.suffix;
      json method = {{"type", spec.method}};
      if (spec.n_epochs > 0) {
        method[spec.method] = {{"hyperparameters", {{"n_epochs", spec.n_epochs}}}};
      }
      body["method"] = method;
      if (!spec.job_tag.empty() && spec.endpoint.provider == wire::Provider::kOpenAI) {
        body["metadata"] = {{"foldback_job", spec.job_tag}};
      }
      r.method = "POST";
      r.url = WithVersion(spec, *base + "/fine_tuning/jobs");
      r.headers.push_back({"Content-Type", "application/json"});
      r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
      return r;
    }
    case Call::kFindJob:
      r.method = "GET";
      r.url = WithVersion(spec, *base + "/fine_tuning/jobs?limit=100");
      return r;
    case Call::kPoll: {
      if (p.remote_job_id.empty()) return Status::InvalidArgument("poll: no job id");
      for (char c : p.remote_job_id) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
              c == ':')) {
          return Status::InvalidArgument("poll: the job id '" + p.remote_job_id +
                                         "' is not a plain id");
        }
      }
      r.method = "GET";
      r.url = WithVersion(spec, *base + "/fine_tuning/jobs/" + p.remote_job_id);
      return r;
    }
  }
  return Status::InvalidArgument("unknown call");
}

RemoteState MapRemoteStatus(std::string_view s) {
  if (s == "running") return RemoteState::kRunning;
  if (s == "succeeded") return RemoteState::kSucceeded;
  if (s == "failed") return RemoteState::kFailed;
  if (s == "cancelled") return RemoteState::kCancelled;
  return RemoteState::kPending;  // validating_files, queued, pending, notRunning, ...
}

Progress ApplyTransportFailure(const RemoteSpec& spec, const Progress& p, Call call,
                               std::string_view why, int64_t now_ms, double jitter) {
  return Failed(spec, p, call, /*retryable=*/true, -1, std::string(why), now_ms, jitter);
}

Progress ApplyResponse(const RemoteSpec& spec, const Progress& p, Call call,
                       const wire::HttpResponse& response, int64_t now_ms, double jitter) {
  if (response.status < 200 || response.status > 299) {
    Status::Code code = wire::CodeForHttpStatus(response.status);
    bool retryable =
        wire::ShouldRetryStatus(response.status, response.HeaderValue("x-should-retry"));
    double after =
        wire::ParseRetryAfterMs(response.HeaderValue("retry-after-ms"),
                                response.HeaderValue("retry-after"), static_cast<double>(now_ms));
    std::string why = wire::HttpStatusText(response.status);
    std::string server = wire::ServerErrorMessage(response.body);
    if (!server.empty()) why += ": " + server;
    if (code == Status::Code::kPermissionDenied) why += " (check the key and its rights)";
    return Failed(spec, p, call, retryable, after, why, now_ms, jitter);
  }
  auto body = ParseObject(response.body);
  if (!body.ok()) return Failed(spec, p, call, true, -1, body.status().message(), now_ms, jitter);
  const json& j = *body;
  Progress next = p;
  next.failures = 0;
  next.error.clear();
  next.not_before_ms = 0;
  switch (call) {
    case Call::kUpload: {
      std::string id = Str(j, "id");
      if (id.empty())
        return Failed(spec, p, call, true, -1, "reply without a file id", now_ms, jitter);
      next.stage = "uploaded";
      next.file_id = id;
      return next;
    }
    case Call::kFindFile: {
      // The newest file of that name (names are unique per foldback job).
      std::string id;
      int64_t newest = -1;
      if (j.contains("data") && j["data"].is_array()) {
        for (const json& f : j["data"]) {
          if (!f.is_object() || Str(f, "filename") != spec.filename || Str(f, "id").empty())
            continue;
          int64_t created = f.contains("created_at") && f["created_at"].is_number_integer()
                                ? f["created_at"].get<int64_t>()
                                : 0;
          if (created >= newest) {
            newest = created;
            id = Str(f, "id");
          }
        }
      } else {
        return Failed(spec, p, call, true, -1, "file list without 'data'", now_ms, jitter);
      }
      if (id.empty()) {
        next.stage = "";  // the upload never arrived: upload it
      } else {
        next.stage = "uploaded";
        next.file_id = id;
      }
      return next;
    }
    case Call::kCreate:
    case Call::kPoll: {
      std::string id = Str(j, "id");
      std::string status = Str(j, "status");
      if (id.empty() || status.empty()) {
        return Failed(spec, p, call, true, -1, "reply is not a fine-tuning job", now_ms, jitter);
      }
      next.stage = "created";
      next.remote_job_id = id;
      next.remote_status = status;
      if (call == Call::kPoll) next.polls = p.polls + 1;
      if (j.contains("trained_tokens") && j["trained_tokens"].is_number_integer()) {
        next.trained_tokens = j["trained_tokens"].get<int64_t>();
      }
      switch (MapRemoteStatus(status)) {
        case RemoteState::kSucceeded: {
          std::string model = Str(j, "fine_tuned_model");
          if (model.empty()) {
            // Some services fill the model a moment after the status.
            next.not_before_ms = now_ms + spec.poll_ms;
            return next;
          }
          next.stage = "succeeded";
          next.fine_tuned_model = model;
          return next;
        }
        case RemoteState::kFailed:
        case RemoteState::kCancelled: {
          std::string why;
          if (j.contains("error") && j["error"].is_object()) {
            why = Str(j["error"], "message");
            std::string code = Str(j["error"], "code");
            if (!code.empty()) why += (why.empty() ? "" : " ") + ("(" + code + ")");
          }
          next.stage = "failed";
          next.error = fmt::format(FMT_STRING("fine-tuning job {} {}{}"), id, status,
                                   why.empty() ? "" : ": " + why);
          return next;
        }
        default:
          next.not_before_ms = now_ms + spec.poll_ms;
          return next;
      }
    }
    case Call::kFindJob: {
      if (!j.contains("data") || !j["data"].is_array()) {
        return Failed(spec, p, call, true, -1, "job list without 'data'", now_ms, jitter);
      }
      for (const json& f : j["data"]) {
        if (!f.is_object() || Str(f, "training_file") != p.file_id || Str(f, "id").empty())
          continue;
        next.stage = "created";
        next.remote_job_id = Str(f, "id");
        next.remote_status = Str(f, "status");
        next.not_before_ms = 0;  // poll it now
        return next;
      }
      next.stage = "uploaded";  // the create never arrived: create it
      return next;
    }
  }
  return next;
}

std::string SummaryText(const Summary& s) {
  std::string out;
  out += "destination: " + s.destination + "\n";
  out += fmt::format(FMT_STRING("training file: {} format, {} rows, {} bytes, sha256 {}\n"),
                     s.format, s.rows, s.bytes, s.sha256);
  out += fmt::format(FMT_STRING("records: {} feedback records, each with the lawyer's consent to "
                                "train and not privileged\n"),
                     s.records);
  out += "matters: ";
  if (s.matters.empty()) out += "(none)";
  for (size_t i = 0; i < s.matters.size(); ++i) {
    out += fmt::format(FMT_STRING("{}{} ({})"), i ? ", " : "",
                       s.matters[i].first.empty() ? "(no matter)" : s.matters[i].first,
                       s.matters[i].second);
  }
  out += "\n";
  out +=
      "walls: " + (s.walls.empty() ? std::string("every matter (no --allowed-matters)") : s.walls) +
      "\n";
  out += fmt::format(
      FMT_STRING("left out: {} without consent to train, {} privileged, {} behind the walls\n"),
      s.no_consent, s.privileged, s.walled);
  return out;
}

}  // namespace foldback::finetune
