#include "jobs/finetune_worker.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "foldback/finetune.h"
#include "foldback/version.h"
#include "foldback/wire.h"
#include "host/files.h"
#include "host/hash.h"
#include "host/ids.h"
#include "jobs/job_spec.h"
#include "llm/endpoint.h"

namespace foldback::jobs {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

int64_t Now() { return host::UnixMillis(); }
int StopLevel(const WorkerOptions& o) { return o.stop ? o.stop->load() : 0; }

void Nap(const WorkerOptions& o, int64_t ms) {
  auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(1, ms));
  while (std::chrono::steady_clock::now() < until && StopLevel(o) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 20)));
  }
}

// ---------------------------------------------------------------- HTTP

struct Reply {
  bool transport_ok = false;
  std::string why;  // transport failure
  long status = 0;
  std::vector<wire::Header> headers;
  std::string body;
};

size_t OnBody(char* p, size_t size, size_t n, void* user) {
  auto* r = static_cast<Reply*>(user);
  if (r->body.size() + size * n > (64u << 20)) return 0;  // a reply this big is not an API's
  r->body.append(p, size * n);
  return size * n;
}

size_t OnHeader(char* p, size_t size, size_t n, void* user) {
  auto* r = static_cast<Reply*>(user);
  std::string line(p, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.pop_back();
    size_t start = value.find_first_not_of(' ');
    r->headers.push_back(
        {line.substr(0, colon), start == std::string::npos ? "" : value.substr(start)});
  } else if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new response (after 100 Continue)
  }
  return size * n;
}

// One request, the key in its one header; no redirects.
Reply Send(const finetune::HttpRequest& req, const llm::EndpointConfig& ep,
           const std::string& ca_bundle, int64_t timeout_ms) {
  Reply r;
  CURL* easy = curl_easy_init();
  if (!easy) {
    r.why = "curl_easy_init failed";
    return r;
  }
  struct curl_slist* headers = nullptr;
  for (const wire::Header& h : req.headers) {
    headers = curl_slist_append(headers, (h.name + ": " + h.value).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  std::string auth = llm::AuthHeader(ep);
  if (!auth.empty()) headers = curl_slist_append(headers, auth.c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string agent = std::string("foldback/") + Version();
  curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  if (req.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(easy, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!ca_bundle.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, ca_bundle.c_str());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(easy);
  if (rc == CURLE_OK) {
    r.transport_ok = true;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);  // (the key's copy in the list is freed with it)
  curl_easy_cleanup(easy);
  return r;
}

// ---------------------------------------------------------------- the item

struct Held {
  JobStore& store;
  const JobInfo& job;
  const WorkerOptions& o;
  const std::string& me;
  WorkerReport* report;
  LeasedItem item;
  int64_t last_heartbeat = 0;

  // Renews the lease when due. false: the lease is lost (someone else has
  // the item now).
  Result<bool> Heartbeat() {
    const int64_t every = std::max<int64_t>(50, job.lease.lease_ms / 3);
    if (Now() - last_heartbeat < every) return true;
    auto t0 = std::chrono::steady_clock::now();
    auto lost = store.Heartbeat(job.id, me, {item.item_id}, Now());
    report->store_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!lost.ok()) return lost.status();
    last_heartbeat = Now();
    return lost->empty();
  }
  // Stores the progress; false when the lease is lost.
  Result<bool> Save(const std::string& checkpoint) {
    Status s = store.SaveCheckpoint(job.id, me, item.item_id, checkpoint);
    if (s.code() == Status::Code::kFailedPrecondition) return false;
    if (!s.ok()) return s;
    return true;
  }
  Status Succeed(const json& line) {
    std::vector<std::string> dups;
    Status s = store.Finish(
        job.id, me,
        {{item.item_id, line.dump(-1, ' ', false, json::error_handler_t::replace), "", 0}}, {},
        Now(), &dups);
    if (!s.ok()) return s;
    report->done += dups.empty() ? 1 : 0;
    report->duplicates += dups.size();
    return Status::OK();
  }
  Status Fail(const std::string& error, bool retryable = false) {
    Status s =
        store.Finish(job.id, me, {}, {{item.item_id, retryable, 1000, error, 0}}, Now(), nullptr);
    if (!s.ok()) return s;
    (retryable ? report->retried : report->failed) += 1;
    return Status::OK();
  }
  Status Release() {
    Status s = store.Release(job.id, me, {item.item_id}, /*request_sent=*/false);
    if (s.ok()) report->released += 1;
    return s;
  }
  void Note(const std::string& m) const {
    if (o.on_note) o.on_note(m);
  }
};

int64_t CallTimeoutMs(const JobInfo& job, finetune::Call call) {
  int64_t cap = call == finetune::Call::kUpload ? 300000 : 60000;
  return std::clamp<int64_t>(job.lease.lease_ms / 2, 5000, cap);
}

Result<bool> RunRemote(Held& h, const JobSpec& spec, const std::string& file) {
  const JobInfo& job = h.job;
  finetune::RemoteSpec rs;
  if (!llm::ParseProvider(spec.endpoint.provider, &rs.endpoint.provider)) {
    Status s = h.Fail("unknown provider " + spec.endpoint.provider);
    if (!s.ok()) return s;
    return false;
  }
  rs.endpoint.url = spec.endpoint.url;
  rs.endpoint.api_version = spec.endpoint.api_version;
  rs.base_model = spec.endpoint.model;
  rs.method = spec.finetune.method;
  rs.suffix = spec.finetune.suffix;
  rs.n_epochs = spec.finetune.n_epochs;
  rs.poll_ms = spec.finetune.poll_ms;
  rs.filename = FinetuneFileName(job.id);
  rs.job_tag = job.id;
  llm::EndpointConfig ep;
  static_cast<wire::Endpoint&>(ep) = rs.endpoint;
  if (!spec.endpoint.api_key_env.empty()) {
    auto key = llm::ApiKey::FromEnv(spec.endpoint.api_key_env);
    if (!key.ok()) {
      h.Note("job " + job.id + " given back: " + key.status().ToString());
      Status s = h.Release();
      if (!s.ok()) return s;
      return false;
    }
    ep.key = std::move(*key);
  }
  auto parsed = finetune::ProgressFromJson(h.item.checkpoint);
  if (!parsed.ok()) {
    Status s = h.Fail(parsed.status().message());
    if (!s.ok()) return s;
    return false;
  }
  finetune::Progress p = std::move(*parsed);
  std::mt19937_64 rng(std::random_device{}());
  std::string last_status = p.remote_status;
  while (true) {
    if (StopLevel(h.o) != 0) {
      Status s = h.Release();  // the progress is stored: the next worker goes on from it
      if (!s.ok()) return s;
      return false;
    }
    auto alive = h.Heartbeat();
    if (!alive.ok()) return alive.status();
    if (!*alive) {
      h.Note("job " + job.id + ": the fine-tune was taken over by another worker");
      return true;
    }
    finetune::Step step = finetune::NextStep(rs, p, Now());
    if (step.kind == finetune::Step::Kind::kSucceeded) {
      json line;
      line["trainer"] = "openai";
      line["fine_tuned_model"] = p.fine_tuned_model;
      line["remote_job_id"] = p.remote_job_id;
      line["file_id"] = p.file_id;
      line["base_model"] = rs.base_model;
      line["method"] = rs.method;
      line["endpoint"] = spec.endpoint.url;
      line["provider"] = spec.endpoint.provider;
      line["format"] = spec.finetune.format;
      line["records"] = spec.finetune.summary.records;
      line["rows"] = spec.finetune.summary.rows;
      line["sha256"] = spec.finetune.summary.sha256;
      if (p.trained_tokens >= 0) line["trained_tokens"] = p.trained_tokens;
      line["polls"] = p.polls;
      line["foldback_version"] = Version();
      line["job_id"] = job.id;
      Status s = h.Succeed(line);
      if (!s.ok()) return s;
      h.Note("job " + job.id + ": fine-tuned model " + p.fine_tuned_model);
      if (spec.finetune.activate && h.o.on_model) {
        Status a = h.o.on_model(job.id, p.fine_tuned_model);
        if (!a.ok()) h.Note("job " + job.id + ": not activated: " + a.ToString());
      }
      return false;
    }
    if (step.kind == finetune::Step::Kind::kFailed) {
      Status s = h.Fail(ep.key.Redact(p.error));
      if (!s.ok()) return s;
      h.Note("job " + job.id + ": fine-tune failed: " + ep.key.Redact(p.error));
      return false;
    }
    if (step.kind == finetune::Step::Kind::kWait) {
      const int64_t hb = std::max<int64_t>(50, job.lease.lease_ms / 3);
      Nap(h.o, std::min<int64_t>(step.wait_until_ms - Now(), hb));
      continue;
    }
    // Send: the intent first, durably (an upload or a create is sent only
    // after its intent is stored, and looked up before it is sent again).
    if (finetune::ProgressToJson(step.before) != finetune::ProgressToJson(p)) {
      auto saved = h.Save(finetune::ProgressToJson(step.before));
      if (!saved.ok()) return saved.status();
      if (!*saved) return true;
    }
    auto req = finetune::BuildRequest(rs, step.call, step.before, file);
    if (!req.ok()) {
      Status s = h.Fail(req.status().message());
      if (!s.ok()) return s;
      return false;
    }
    auto t0 = std::chrono::steady_clock::now();
    Reply reply = Send(*req, ep, spec.endpoint.ca_bundle, CallTimeoutMs(job, step.call));
    ++h.report->requests;
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    if (!reply.transport_ok) {
      p = finetune::ApplyTransportFailure(rs, step.before, step.call, ep.key.Redact(reply.why),
                                          Now(), u);
    } else {
      wire::HttpResponse resp;
      resp.status = reply.status;
      resp.headers = reply.headers;
      resp.body = reply.body;
      p = finetune::ApplyResponse(rs, step.before, step.call, resp, Now(), u);
    }
    p.error = ep.key.Redact(p.error);
    if (h.o.on_request) {
      WorkerOptions::RequestDone d;
      d.job_id = job.id;
      d.item_ids = {h.item.item_id};
      d.attempt = h.item.attempt;
      d.status =
          p.failures > 0 || p.stage == "failed" ? Status::Unavailable(p.error) : Status::OK();
      d.ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      h.o.on_request(d);
    }
    if (p.remote_status != last_status && !p.remote_status.empty()) {
      h.Note(fmt::format(FMT_STRING("job {}: fine-tuning job {} is {}"), job.id, p.remote_job_id,
                         p.remote_status));
      last_status = p.remote_status;
    }
    auto saved = h.Save(finetune::ProgressToJson(p));
    if (!saved.ok()) return saved.status();
    if (!*saved) return true;
    if (h.o.on_progress) {
      auto info = h.store.GetJob(job.id);
      if (info.ok()) h.o.on_progress(*info);
    }
  }
}

// ---------------------------------------------------------------- command

std::string Tail(const std::string& text, size_t n) {
  std::string t = text.size() > n ? text.substr(text.size() - n) : text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

// The argv of the template, {file} and {out} replaced in each word.
Result<std::vector<std::string>> CommandArgv(const std::string& templ, const std::string& file,
                                             const std::string& out) {
  gint argc = 0;
  gchar** argv = nullptr;
  GError* err = nullptr;
  if (!g_shell_parse_argv(templ.c_str(), &argc, &argv, &err)) {
    std::string why = err ? err->message : "cannot parse";
    if (err) g_error_free(err);
    return Status::InvalidArgument("--command: " + why);
  }
  std::vector<std::string> out_argv;
  for (gint i = 0; i < argc; ++i) {
    std::string w = argv[i];
    for (const auto& [k, v] :
         {std::pair<std::string, std::string>{"{file}", file}, {"{out}", out}}) {
      for (size_t pos = 0; (pos = w.find(k, pos)) != std::string::npos; pos += v.size()) {
        w.replace(pos, k.size(), v);
      }
    }
    out_argv.push_back(std::move(w));
  }
  g_strfreev(argv);
  if (out_argv.empty()) return Status::InvalidArgument("--command is empty");
  return out_argv;
}

Result<bool> RunCommand(Held& h, const JobSpec& spec, const std::string& file_bytes) {
  const JobInfo& job = h.job;
  fs::path work = fs::path(spec.index_dir) / "finetune" / job.id;
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) {
    Status s = h.Fail("cannot create " + work.string() + ": " + ec.message());
    if (!s.ok()) return s;
    return false;
  }
  fs::path file = work / ("train." + spec.finetune.format + ".jsonl");
  Status w = host::WriteFileAtomic(file.string(), file_bytes);
  if (!w.ok()) {
    Status s = h.Fail(w.message());
    if (!s.ok()) return s;
    return false;
  }
  // A fresh output path per lease: a run cut short leaves its own behind.
  fs::path out = work / fmt::format(FMT_STRING("model-{}"), h.item.attempt);
  fs::remove_all(out, ec);
  fs::path log = work / fmt::format(FMT_STRING("train-{}.log"), h.item.attempt);
  auto argv = CommandArgv(spec.finetune.command, file.string(), out.string());
  if (!argv.ok()) {
    Status s = h.Fail(argv.status().message());
    if (!s.ok()) return s;
    return false;
  }
  json cp = {
      {"stage", "running"}, {"run", h.item.attempt}, {"out", out.string()}, {"log", log.string()}};
  auto saved = h.Save(cp.dump());
  if (!saved.ok()) return saved.status();
  if (!*saved) return true;

  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    Status s = h.Fail("cannot write " + log.string());
    if (!s.ok()) return s;
    return false;
  }
  std::vector<char*> cargv;
  for (std::string& a : *argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t parent = getpid();
  // Formatted before the fork: the child only calls async-signal-safe functions.
  const std::string cannot_run =
      fmt::format(FMT_STRING("cannot run {}: exec failed\n"), (*argv)[0]);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    ::close(fd);
    return Status::IOError("fork failed");
  }
  if (pid == 0) {
    // The trainer dies with its worker: a resumed worker runs it again, never
    // beside a stray copy.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(137);
    setpgid(0, 0);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(cargv[0], cargv.data());
    ssize_t ignored = write(STDERR_FILENO, cannot_run.data(), cannot_run.size());
    (void)ignored;
    _exit(127);
  }
  ::close(fd);
  h.Note(fmt::format(FMT_STRING("job {}: running {} (log {})"), job.id, (*argv)[0], log.string()));
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (StopLevel(h.o) != 0) {
      kill(-pid, SIGTERM);
      kill(pid, SIGTERM);
      waitpid(pid, &status, 0);
      Status s = h.Release();
      if (!s.ok()) return s;
      return false;
    }
    auto alive = h.Heartbeat();
    if (!alive.ok() || !*alive) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (!alive.ok()) return alive.status();
      h.Note("job " + job.id + ": the fine-tune was taken over by another worker");
      return true;
    }
    Nap(h.o, 50);
  }
  ++h.report->requests;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto output = host::ReadFile(log.string());
  std::string text = output.ok() ? *output : "";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFEXITED(status)
                          ? fmt::format(FMT_STRING("exited with status {}"), WEXITSTATUS(status))
                          : fmt::format(FMT_STRING("was killed by signal {}"), WTERMSIG(status));
    std::string error = fmt::format(FMT_STRING("the training command {}; log {}; last output: {}"),
                                    how, log.string(), Tail(text, 400));
    Status s = h.Fail(error);
    if (!s.ok()) return s;
    h.Note("job " + job.id + ": fine-tune failed: " + error);
    return false;
  }
  // The model: {out} when the command made it, else the last line printed
  // when it names an existing path.
  std::string model;
  if (fs::exists(out, ec)) {
    model = out.string();
  } else {
    std::string last = Tail(text, 4096);
    size_t nl = last.rfind('\n');
    if (nl != std::string::npos) last = last.substr(nl + 1);
    if (!last.empty() && fs::exists(last, ec)) model = fs::absolute(last, ec).string();
  }
  if (model.empty()) {
    std::string error = fmt::format(
        FMT_STRING("the training command exited 0 but wrote nothing at {} and its last line names "
                   "no existing path; log {}"),
        out.string(), log.string());
    Status s = h.Fail(error);
    if (!s.ok()) return s;
    h.Note("job " + job.id + ": fine-tune failed: " + error);
    return false;
  }
  json line;
  line["trainer"] = "command";
  line["model_path"] = model;
  line["exit_status"] = 0;
  line["seconds"] = secs;
  line["log"] = log.string();
  line["output_tail"] = Tail(text, 1000);
  line["training_file"] = file.string();
  line["format"] = spec.finetune.format;
  line["records"] = spec.finetune.summary.records;
  line["rows"] = spec.finetune.summary.rows;
  line["sha256"] = spec.finetune.summary.sha256;
  line["run"] = h.item.attempt;
  line["foldback_version"] = Version();
  line["job_id"] = job.id;
  Status s = h.Succeed(line);
  if (!s.ok()) return s;
  h.Note("job " + job.id + ": model written to " + model);
  return false;
}

}  // namespace

Status CheckTrainingCommand(const std::string& command) {
  auto argv = CommandArgv(command, "f", "o");
  return argv.status();
}

std::string FinetuneFileName(const std::string& job_id) { return "foldback-" + job_id + ".jsonl"; }

Result<FinetuneState> ReadFinetuneState(JobStore& store, const std::string& job_id) {
  FinetuneState st;
  bool any = false;
  Status s = store.ForEachItem(job_id, [&](const StoredResult& r) {
    any = true;
    st.item_state = r.state;
    st.checkpoint = r.checkpoint;
    st.result = r.result;
    st.error = r.error;
    return Status::OK();
  });
  if (!s.ok()) return s;
  if (!any) return Status::NotFound("job " + job_id + " has no item");
  return st;
}

Result<bool> WorkFinetune(JobStore& store, const JobInfo& job, const WorkerOptions& o,
                          const std::string& me, WorkerReport* report) {
  auto spec = SpecFromJson(job.spec);
  if (!spec.ok()) {
    if (o.on_note) o.on_note("job " + job.id + " skipped: " + spec.status().ToString());
    return false;
  }
  std::string why_none;
  auto leased = store.Lease(job.id, me, 1, 1, Now(), nullptr, &why_none);
  if (!leased.ok()) return leased.status();
  if (leased->empty()) {
    auto info = store.GetJob(job.id);
    if (!info.ok()) return info.status();
    // Held by another worker (or waiting for its retry time): look again.
    return !info->progress.finished() && info->state == JobState::kActive && why_none.empty();
  }
  Held h{store, job, o, me, report, std::move(leased->front()), Now()};
  const std::string& payload = h.item.payload;
  // What was approved is what is handed over.
  if (host::Sha256Hex(payload) != spec->finetune.summary.sha256) {
    Status s = h.Fail("the stored training file does not match the approved one (sha256)");
    if (!s.ok()) return s;
    return false;
  }
  if (spec->finetune.trainer == "command") return RunCommand(h, *spec, payload);
  return RunRemote(h, *spec, payload);
}

}  // namespace foldback::jobs
