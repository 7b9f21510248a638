// The PostgreSQL job store (libpq): the SQLite store's schema and
// semantics on a server that workers on several machines share.
//
// Tables foldback_jobs and foldback_job_items (prefixed: a firm's database
// may hold other tables; choose a schema with
// ?options=-csearch_path%3DNAME), created when missing under an advisory
// lock. Every read-decide-write is one transaction (READ COMMITTED) that
// locks the rows it decides on:
//   - Lease: candidate items with FOR UPDATE SKIP LOCKED (workers never
//     wait for each other's candidates, never decide on the same row),
//     then the job row FOR UPDATE for the shared counters (rate limiter,
//     request budget), decided by the core's PlanLease;
//   - Heartbeat, Finish, Release: the named items FOR UPDATE in item order
//     (one lock order: no deadlock between workers), then the core's
//     Decide*; a result is written by an UPDATE that also requires the item
//     not done, so it is recorded once even without the lock; tokens are
//     added in place (tokens = tokens + n);
//   - durability: the server's synchronous_commit (on by default; raised
//     to on for this session if the server has it off): a call that
//     returns OK has committed to the server's disk.
// A dropped connection (the server restarted) or a deadlock / serialization
// failure is retried, reconnecting, for up to 30 s before the call fails.
// A retried call whose COMMIT may have happened is safe: Submit looks for
// the job id first, a result is recorded once, a lease that was granted
// but not seen ends like a killed worker's. The first connection is not
// retried (a bad URI, password or host fails at once, with the reason);
// connect_timeout is 10 s unless the URI sets it.
//
// Passwords: the connection URI's password (if any) is removed from every
// message (RedactStoreUrl, and any text of libpq's that repeats it).
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "host/ids.h"
#include "jobs/job_store.h"

namespace foldback::jobs {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS foldback_jobs(
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  spec TEXT NOT NULL,
  state INTEGER NOT NULL,
  created_ms BIGINT NOT NULL,
  lease_ms BIGINT NOT NULL,
  max_attempts INTEGER NOT NULL,
  requests_per_minute DOUBLE PRECISION NOT NULL,
  max_requests BIGINT NOT NULL,
  max_tokens BIGINT NOT NULL,
  requests BIGINT NOT NULL DEFAULT 0,
  tokens BIGINT NOT NULL DEFAULT 0,
  next_slot_ms BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS foldback_job_items(
  job_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  item_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '',
  lease_until_ms BIGINT NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  result TEXT,
  blob BYTEA,
  done_ms BIGINT,
  PRIMARY KEY(job_id, seq),
  UNIQUE(job_id, item_id));
CREATE INDEX IF NOT EXISTS foldback_job_items_open ON foldback_job_items(job_id, state, seq);
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                 AND table_name = 'foldback_job_items' AND column_name = 'checkpoint') THEN
    ALTER TABLE foldback_job_items ADD COLUMN checkpoint TEXT NOT NULL DEFAULT '';
  END IF;
END $$;
)sql";

// How long a call keeps reconnecting before it fails.
constexpr int64_t kRetryForMs = 30000;

// One query parameter: text, binary (bytea) or NULL.
struct Param {
  std::string value;
  bool null = false;
  bool binary = false;
};
Param P(const std::string& v) { return {v}; }
Param P(int64_t v) { return {fmt::to_string(v)}; }
Param P(uint64_t v) { return {fmt::to_string(v)}; }
Param P(uint32_t v) { return {fmt::to_string(v)}; }
Param P(double v) { return {fmt::format(FMT_STRING("{:.17g}"), v)}; }
Param Bytes(const std::string& v) { return {v, false, true}; }
Param Null() { return {"", true, false}; }

// A text[] literal: every element quoted, \ and " escaped.
Param TextArray(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return {out};
}

class Res {
 public:
  explicit Res(PGresult* r = nullptr) : r_(r) {}
  ~Res() { PQclear(r_); }
  Res(Res&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Res& operator=(Res&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  PGresult* get() const { return r_; }
  int rows() const { return PQntuples(r_); }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), PQgetlength(r_, row, col));
  }
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  int64_t Int(int row, int col) const {
    return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
  }
  double Real(int row, int col) const { return std::strtod(PQgetvalue(r_, row, col), nullptr); }
  std::string Bytea(int row, int col) const {
    if (IsNull(row, col)) return "";
    size_t n = 0;
    unsigned char* b =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
    if (!b) return "";
    std::string out(reinterpret_cast<const char*>(b), n);
    PQfreemem(b);
    return out;
  }
  int64_t Affected() const { return std::strtoll(PQcmdTuples(r_), nullptr, 10); }

 private:
  PGresult* r_;
};

// The password a connection URI carries (userinfo or ?password=),
// percent-decoded; "" when none.
std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned v = 0;
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::sscanf(s.c_str() + i + 1, "%2x", &v) == 1) {
      out += static_cast<char>(v);
      i += 2;
      continue;
    }
    out += s[i];
  }
  return out;
}

std::vector<std::string> Secrets(const std::string& url) {
  std::vector<std::string> out;
  size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = url.find_first_of("/?", start);
    if (end == std::string::npos) end = url.size();
    size_t at = url.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = url.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.push_back(url.substr(colon + 1, at - colon - 1));
      }
    }
  }
  for (size_t pos = 0; (pos = url.find("password=", pos)) != std::string::npos;) {
    pos += 9;
    size_t end = url.find_first_of("& ", pos);
    if (end == std::string::npos) end = url.size();
    out.push_back(url.substr(pos, end - pos));
  }
  std::vector<std::string> all;
  for (const std::string& s : out) {
    if (s.empty()) continue;
    all.push_back(s);
    std::string d = PercentDecode(s);
    if (d != s && !d.empty()) all.push_back(d);
  }
  return all;
}

void IgnoreNotice(void*, const char*) {}

Status StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

class PostgresStore final : public JobStore {
 public:
  explicit PostgresStore(std::string url)
      : url_(std::move(url)), shown_(RedactStoreUrl(url_)), secrets_(Secrets(url_)) {}
  ~PostgresStore() override {
    if (conn_) PQfinish(conn_);
  }

  Status Open() {
    // A server that does not answer (a host off the network) fails a
    // connection attempt after 10 s unless the URI says otherwise.
    std::string conninfo = url_;
    if (conninfo.find("connect_timeout=") == std::string::npos) {
      conninfo +=
          conninfo.find('?') == std::string::npos ? "?connect_timeout=10" : "&connect_timeout=10";
    }
    conn_ = PQconnectdb(conninfo.c_str());
    if (!conn_) return Status::IOError("job store " + shown_ + ": out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      return Status::Unavailable(
          Scrub("job store " + shown_ + ": cannot connect: " + Trim(PQerrorMessage(conn_))));
    }
    Status s = Session();
    if (!s.ok()) return s;
    return Retry([&]() -> Status {
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      auto lock = Exec("SELECT pg_advisory_xact_lock(4242004201)", {}, "lock the schema");
      if (!lock.ok()) return lock.status();
      auto r = Exec(kSchema, {}, "create the tables");
      if (!r.ok()) return r.status();
      return txn.Commit();
    });
  }

  Result<std::string> Submit(const NewJob& job, int64_t now_ms) override {
    Status v = ValidateNewJob(job);
    if (!v.ok()) return v;
    std::string id = host::NewUuidV7(now_ms);
    return Retry([&]() -> Result<std::string> {
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      // A retry after a COMMIT whose answer was lost: the job is there.
      auto there = Exec("SELECT 1 FROM foldback_jobs WHERE id=$1", {P(id)}, "read job");
      if (!there.ok()) return there.status();
      if (there->rows() > 0) return id;
      auto ins = Exec(
          "INSERT INTO foldback_jobs(id,kind,spec,state,created_ms,lease_ms,max_attempts,"
          "requests_per_minute,max_requests,max_tokens) VALUES($1,$2,$3,$10,$4,$5,$6,$7,$8,$9)",
          {P(id), P(job.kind), P(job.spec), P(now_ms), P(job.lease.lease_ms),
           P(job.lease.max_attempts), P(job.limits.requests_per_minute), P(job.limits.max_requests),
           P(job.limits.max_tokens), P(static_cast<int64_t>(job.state))},
          "insert job");
      if (!ins.ok()) return ins.status();
      // Items in batches of 1000 rows per INSERT.
      constexpr size_t kBatch = 1000;
      for (size_t first = 0; first < job.items.size(); first += kBatch) {
        size_t n = std::min(kBatch, job.items.size() - first);
        std::string sql = "INSERT INTO foldback_job_items(job_id,seq,item_id,payload,state) VALUES";
        std::vector<Param> params{P(id)};
        for (size_t k = 0; k < n; ++k) {
          size_t p = params.size();
          sql += fmt::format(FMT_STRING("{}{},${},${},0)"), (k ? ",($1,$" : "($1,$"), p + 1, p + 2,
                             p + 3);
          params.push_back(P(static_cast<int64_t>(first + k)));
          params.push_back(P(job.items[first + k].item_id));
          params.push_back(P(job.items[first + k].payload));
        }
        auto r = Exec(sql, params, "insert items");
        if (!r.ok()) return r.status();
      }
      Status c = txn.Commit();
      if (!c.ok()) return c;
      return id;
    });
  }

  Result<JobInfo> GetJob(const std::string& job_id) override {
    return Retry([&]() -> Result<JobInfo> {
      auto jobs = ReadJobs(job_id);
      if (!jobs.ok()) return jobs.status();
      if (jobs->empty()) return NoJob(job_id);
      return std::move(jobs->front());
    });
  }

  Result<std::vector<JobInfo>> ListJobs() override {
    return Retry([&] { return ReadJobs(""); });
  }

  Result<std::vector<LeasedItem>> Lease(const std::string& job_id, const std::string& owner,
                                        size_t max_items, size_t items_per_request, int64_t now_ms,
                                        std::vector<int64_t>* start_at_ms,
                                        std::string* why_none) override {
    return Retry([&]() -> Result<std::vector<LeasedItem>> {
      const int64_t now = now_ms + late_ms_;
      if (start_at_ms) start_at_ms->clear();
      if (why_none) why_none->clear();
      std::vector<LeasedItem> out;
      if (max_items == 0) return out;
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      auto job = ReadJob(job_id, false);
      if (!job.ok()) return job.status();
      if (job->state != JobState::kActive) {
        if (why_none)
          *why_none = job->state == JobState::kCancelled ? "cancelled" : "awaiting approval";
        return out;
      }
      // Candidates no other worker is deciding on right now.
      auto q = Exec(
          "SELECT seq,item_id,payload,state,attempts,owner,lease_until_ms,error,checkpoint "
          "FROM foldback_job_items WHERE job_id=$1 AND state IN (0,1) AND lease_until_ms<=$2 "
          "ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED",
          {P(job_id), P(now), P(static_cast<int64_t>(LeaseCandidateLimit(max_items)))},
          "select items");
      if (!q.ok()) return q.status();
      if (q->rows() == 0) return out;
      std::vector<int64_t> seqs;
      std::vector<std::string> payloads, checkpoints;
      std::vector<ItemRow> rows;
      for (int i = 0; i < q->rows(); ++i) {
        seqs.push_back(q->Int(i, 0));
        payloads.push_back(q->Text(i, 2));
        checkpoints.push_back(q->Text(i, 8));
        rows.push_back(Row(*q, i, 1, 3));
      }
      // The counters every worker of the job shares, locked.
      auto locked = ReadJob(job_id, true);
      if (!locked.ok()) return locked.status();
      LeasePlan plan = PlanLease(rows, locked->lease, locked->limits, locked->counters, owner,
                                 max_items, items_per_request, now);
      if (why_none) *why_none = plan.why_none;
      for (auto& [i, row] : plan.fail) {
        Status s = WriteItemBySeq(job_id, seqs[i], row);
        if (!s.ok()) return s;
      }
      for (auto& [i, row] : plan.lease) {
        Status s = WriteItemBySeq(job_id, seqs[i], row);
        if (!s.ok()) return s;
        out.push_back({row.item_id, payloads[i], row.attempts, row.lease_until_ms, checkpoints[i]});
      }
      if (plan.counters_changed) {
        auto j = Exec("UPDATE foldback_jobs SET requests=$2,next_slot_ms=$3 WHERE id=$1",
                      {P(job_id), P(plan.counters.requests), P(plan.counters.next_slot_ms)},
                      "update job");
        if (!j.ok()) return j.status();
      }
      Status c = txn.Commit();
      if (!c.ok()) return c;
      if (start_at_ms) *start_at_ms = std::move(plan.starts);
      return out;
    });
  }

  Result<std::vector<std::string>> Heartbeat(const std::string& job_id, const std::string& owner,
                                             const std::vector<std::string>& item_ids,
                                             int64_t now_ms) override {
    return Retry([&]() -> Result<std::vector<std::string>> {
      const int64_t now = now_ms + late_ms_;
      std::vector<std::string> lost;
      if (item_ids.empty()) return lost;
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      auto job = ReadJob(job_id, false);
      if (!job.ok()) return job.status();
      auto rows = LockItems(job_id, item_ids);
      if (!rows.ok()) return rows.status();
      for (const std::string& id : item_ids) {
        ItemRow& row = rows->at(id);
        Decision d = DecideHeartbeat(row, job->lease, owner, now);
        if (!d.update()) {
          lost.push_back(id);
          continue;
        }
        Status s = WriteItem(job_id, d.row);
        if (!s.ok()) return s;
        row = d.row;
      }
      Status c = txn.Commit();
      if (!c.ok()) return c;
      return lost;
    });
  }

  Status Finish(const std::string& job_id, const std::string& owner,
                const std::vector<ItemResult>& results, const std::vector<ItemFailure>& failures,
                int64_t now_ms, std::vector<std::string>* duplicates) override {
    return Retry([&]() -> Status {
      const int64_t now = now_ms + late_ms_;
      if (duplicates) duplicates->clear();
      if (results.empty() && failures.empty()) return Status::OK();
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      auto job = ReadJob(job_id, false);
      if (!job.ok()) return job.status();
      std::vector<std::string> ids;
      for (const ItemResult& r : results) ids.push_back(r.item_id);
      for (const ItemFailure& f : failures) ids.push_back(f.item_id);
      auto rows = LockItems(job_id, ids);
      if (!rows.ok()) return rows.status();
      uint64_t tokens = 0;
      for (const ItemResult& r : results) {
        tokens += r.tokens;
        ItemRow& row = rows->at(r.item_id);
        Decision d = DecideComplete(row, owner);
        bool written = false;
        if (d.update()) {
          // Recorded once: the UPDATE itself requires the item not done.
          auto u = Exec(
              "UPDATE foldback_job_items SET state=$3,owner=$4,lease_until_ms=0,error='',"
              "result=$5,blob=$6,done_ms=$7 WHERE job_id=$1 AND item_id=$2 AND state<>2",
              {P(job_id), P(r.item_id), P(static_cast<int64_t>(d.row.state)), P(d.row.owner),
               P(r.result), r.blob.empty() ? Null() : Bytes(r.blob), P(now)},
              "record result");
          if (!u.ok()) return u.status();
          written = u->Affected() == 1;
          if (written) row = d.row;
        }
        if (!written && duplicates) duplicates->push_back(r.item_id);
      }
      for (const ItemFailure& f : failures) {
        tokens += f.tokens;
        ItemRow& row = rows->at(f.item_id);
        Decision d =
            DecideFailure(row, job->lease, owner, f.retryable, f.retry_delay_ms, f.error, now);
        if (!d.update()) continue;
        Status s = WriteItem(job_id, d.row);
        if (!s.ok()) return s;
        row = d.row;
      }
      if (tokens > 0) {
        auto j = Exec("UPDATE foldback_jobs SET tokens=tokens+$2 WHERE id=$1",
                      {P(job_id), P(tokens)}, "update job");
        if (!j.ok()) return j.status();
      }
      return txn.Commit();
    });
  }

  Status Release(const std::string& job_id, const std::string& owner,
                 const std::vector<std::string>& item_ids, bool request_sent) override {
    if (item_ids.empty()) return Status::OK();
    return Retry([&]() -> Status {
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      auto rows = LockItems(job_id, item_ids);
      if (!rows.ok()) return rows.status();
      for (const std::string& id : item_ids) {
        ItemRow& row = rows->at(id);
        Decision d = DecideRelease(row, owner, request_sent);
        if (!d.update()) continue;
        Status s = WriteItem(job_id, d.row);
        if (!s.ok()) return s;
        row = d.row;
      }
      return txn.Commit();
    });
  }

  Status Cancel(const std::string& job_id) override {
    return Retry([&]() -> Status {
      auto r = Exec("UPDATE foldback_jobs SET state=1 WHERE id=$1", {P(job_id)}, "cancel");
      if (!r.ok()) return r.status();
      if (r->Affected() == 0) return NoJob(job_id);
      return Status::OK();
    });
  }

  Status SetJobState(const std::string& job_id, JobState next) override {
    return Retry([&]() -> Status {
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      auto job = ReadJob(job_id, true);
      if (!job.ok()) return job.status();
      Status allowed = CheckJobTransition(job_id, job->state, next);
      if (!allowed.ok()) return allowed;
      auto r = Exec("UPDATE foldback_jobs SET state=$2 WHERE id=$1",
                    {P(job_id), P(static_cast<int64_t>(next))}, "set job state");
      if (!r.ok()) return r.status();
      return txn.Commit();
    });
  }

  Status SaveCheckpoint(const std::string& job_id, const std::string& owner,
                        const std::string& item_id, const std::string& checkpoint) override {
    return Retry([&]() -> Status {
      Txn txn(this);
      if (!txn.status.ok()) return txn.status;
      auto rows = LockItems(job_id, {item_id});
      if (!rows.ok()) return rows.status();
      Decision d = DecideCheckpoint(rows->at(item_id), owner);
      if (!d.update()) {
        return Status::FailedPrecondition("job " + job_id + ": item " + item_id + " " + d.reason);
      }
      auto r = Exec("UPDATE foldback_job_items SET checkpoint=$3 WHERE job_id=$1 AND item_id=$2",
                    {P(job_id), P(item_id), P(checkpoint)}, "save checkpoint");
      if (!r.ok()) return r.status();
      return txn.Commit();
    });
  }

  Status ForEachItem(const std::string& job_id,
                     const std::function<Status(const StoredResult&)>& fn) override {
    auto job = GetJob(job_id);
    if (!job.ok()) return job.status();
    // Pages of 1000 in item order; a page that fails for the connection is
    // read again (the items already given to `fn` are not).
    int64_t after = -1;
    while (true) {
      auto page = Retry([&] {
        return Exec(
            "SELECT seq,item_id,state,attempts,result,blob,error,checkpoint FROM foldback_job_items "
            "WHERE job_id=$1 AND seq>$2 ORDER BY seq LIMIT 1000",
            {P(job_id), P(after)}, "read items");
      });
      if (!page.ok()) return page.status();
      if (page->rows() == 0) return Status::OK();
      for (int i = 0; i < page->rows(); ++i) {
        after = page->Int(i, 0);
        StoredResult r;
        r.item_id = page->Text(i, 1);
        r.state = static_cast<ItemState>(page->Int(i, 2));
        r.attempts = static_cast<uint32_t>(page->Int(i, 3));
        r.result = page->IsNull(i, 4) ? "" : page->Text(i, 4);
        r.blob = page->Bytea(i, 5);
        r.error = page->Text(i, 6);
        r.checkpoint = page->Text(i, 7);
        Status s = fn(r);
        if (!s.ok()) return s;
      }
    }
  }

 private:
  // BEGIN ... COMMIT; rolled back when not committed.
  struct Txn {
    explicit Txn(PostgresStore* s) : store(s) {
      auto r = s->Exec("BEGIN", {}, "begin");
      status = r.status();
    }
    ~Txn() {
      if (status.ok() && !done && PQstatus(store->conn_) == CONNECTION_OK) {
        PQclear(PQexec(store->conn_, "ROLLBACK"));
      }
    }
    Status Commit() {
      done = true;
      auto r = store->Exec("COMMIT", {}, "commit");
      return r.status();
    }
    PostgresStore* store;
    Status status;
    bool done = false;
  };

  // Settings of each new connection.
  Status Session() {
    PQsetNoticeProcessor(conn_, IgnoreNotice, nullptr);
    auto r = Exec("SELECT current_setting('synchronous_commit')", {}, "read settings");
    if (!r.ok()) return r.status();
    if (r->Text(0, 0) == "off") {
      auto s = Exec("SET synchronous_commit = on", {}, "set synchronous_commit");
      if (!s.ok()) return s.status();
    }
    return Status::OK();
  }

  std::string Trim(std::string s) const {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (char& c : s) {
      if (c == '\n') c = ' ';
    }
    return s;
  }

  std::string Scrub(std::string msg) const {
    for (const std::string& secret : secrets_) {
      for (size_t pos = 0; (pos = msg.find(secret, pos)) != std::string::npos;) {
        msg.replace(pos, secret.size(), "***");
        pos += 3;
      }
    }
    return msg;
  }

  Status NoJob(const std::string& job_id) const {
    return Status::NotFound("no job " + job_id + " in " + shown_);
  }

  // Runs one statement. A failure marks the call retryable when the
  // connection dropped or the server asks for a retry.
  Result<Res> Exec(const std::string& sql, const std::vector<Param>& params, const char* what) {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const Param& p : params) {
      values.push_back(p.null ? nullptr : p.value.data());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    Res r(params.empty() ? PQexec(conn_, sql.c_str())
                         : PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()),
                                        nullptr, values.data(), lengths.data(), formats.data(), 0));
    ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    const char* state = r.get() ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    std::string code = state ? state : "";
    // No SQLSTATE: libpq's own error (the server closed the connection; the
    // connection may still read as OK until the next call).
    if (PQstatus(conn_) != CONNECTION_OK || code.empty() || code.rfind("08", 0) == 0 ||
        code == "57P01" || code == "57P02" || code == "57P03") {
      retryable_ = true;
      reconnect_ = true;
    } else if (code == "40001" || code == "40P01") {
      retryable_ = true;  // serialization failure, deadlock: the transaction again
    }
    std::string msg = r.get() ? PQresultErrorMessage(r.get()) : "";
    if (msg.empty()) msg = PQerrorMessage(conn_);
    return Status::IOError(Scrub("job store " + shown_ + ": " + what + ": " + Trim(msg)));
  }

  // Runs `f` (one whole transaction) again while it fails for a reason a
  // retry can fix, reconnecting when the connection dropped, for up to
  // kRetryForMs.
  template <typename F>
  auto Retry(F&& f) -> decltype(f()) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRetryForMs);
    int64_t delay_ms = 50;
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      retryable_ = false;
      reconnect_ = false;
      // A call retried for a while decides at the time it runs, not at the
      // time it was made: a lease granted 5 s late must not start expired.
      late_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count();
      auto r = f();
      if (r.ok() || !retryable_) return r;
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::Unavailable(fmt::format(FMT_STRING("{} (retried for {} s)"),
                                               StatusOf(r).message(), kRetryForMs / 1000));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      delay_ms = std::min<int64_t>(delay_ms * 2, 1000);
      if (reconnect_ || PQstatus(conn_) != CONNECTION_OK) {
        PQreset(conn_);
        if (PQstatus(conn_) == CONNECTION_OK) Session();
      }
    }
  }

  // The items' rows by id, locked, in item order. NotFound for an id the
  // job does not have.
  Result<std::map<std::string, ItemRow>> LockItems(const std::string& job_id,
                                                   const std::vector<std::string>& ids) {
    auto q = Exec(
        "SELECT item_id,state,attempts,owner,lease_until_ms,error FROM foldback_job_items "
        "WHERE job_id=$1 AND item_id = ANY($2::text[]) ORDER BY seq FOR UPDATE",
        {P(job_id), TextArray(ids)}, "read items");
    if (!q.ok()) return q.status();
    std::map<std::string, ItemRow> rows;
    for (int i = 0; i < q->rows(); ++i) {
      ItemRow r = Row(*q, i, 0, 1);
      rows.emplace(r.item_id, std::move(r));
    }
    for (const std::string& id : ids) {
      if (!rows.count(id)) return Status::NotFound("job " + job_id + " has no item " + id);
    }
    return rows;
  }

  // item_id at column `id_col`; state, attempts, owner, lease_until_ms,
  // error from `first`.
  static ItemRow Row(const Res& q, int i, int id_col, int first) {
    ItemRow r;
    r.item_id = q.Text(i, id_col);
    r.state = static_cast<ItemState>(q.Int(i, first));
    r.attempts = static_cast<uint32_t>(q.Int(i, first + 1));
    r.owner = q.Text(i, first + 2);
    r.lease_until_ms = q.Int(i, first + 3);
    r.error = q.Text(i, first + 4);
    return r;
  }

  Status WriteItem(const std::string& job_id, const ItemRow& r) {
    auto u = Exec(
        "UPDATE foldback_job_items SET state=$3,attempts=$4,owner=$5,lease_until_ms=$6,error=$7 "
        "WHERE job_id=$1 AND item_id=$2",
        {P(job_id), P(r.item_id), P(static_cast<int64_t>(r.state)), P(r.attempts), P(r.owner),
         P(r.lease_until_ms), P(r.error)},
        "update item");
    return u.status();
  }

  Status WriteItemBySeq(const std::string& job_id, int64_t seq, const ItemRow& r) {
    auto u = Exec(
        "UPDATE foldback_job_items SET state=$3,attempts=$4,owner=$5,lease_until_ms=$6,error=$7 "
        "WHERE job_id=$1 AND seq=$2",
        {P(job_id), P(seq), P(static_cast<int64_t>(r.state)), P(r.attempts), P(r.owner),
         P(r.lease_until_ms), P(r.error)},
        "update item");
    return u.status();
  }

  static constexpr const char* kJobColumns =
      "id,kind,spec,state,created_ms,lease_ms,max_attempts,requests_per_minute,max_requests,"
      "max_tokens,requests,tokens,next_slot_ms";

  static JobInfo JobOf(const Res& q, int i) {
    JobInfo j;
    j.id = q.Text(i, 0);
    j.kind = q.Text(i, 1);
    j.spec = q.Text(i, 2);
    j.state = JobStateFromInt(q.Int(i, 3));
    j.created_ms = q.Int(i, 4);
    j.lease.lease_ms = q.Int(i, 5);
    j.lease.max_attempts = static_cast<uint32_t>(q.Int(i, 6));
    j.limits.requests_per_minute = q.Real(i, 7);
    j.limits.max_requests = static_cast<uint64_t>(q.Int(i, 8));
    j.limits.max_tokens = static_cast<uint64_t>(q.Int(i, 9));
    j.counters.requests = static_cast<uint64_t>(q.Int(i, 10));
    j.counters.tokens = static_cast<uint64_t>(q.Int(i, 11));
    j.counters.next_slot_ms = q.Int(i, 12);
    return j;
  }

  // The job row without progress counts; `lock`: FOR UPDATE.
  Result<JobInfo> ReadJob(const std::string& job_id, bool lock) {
    auto q = Exec(std::string("SELECT ") + kJobColumns + " FROM foldback_jobs WHERE id=$1" +
                      (lock ? " FOR UPDATE" : ""),
                  {P(job_id)}, "read job");
    if (!q.ok()) return q.status();
    if (q->rows() == 0) return NoJob(job_id);
    return JobOf(*q, 0);
  }

  Result<std::vector<JobInfo>> ReadJobs(const std::string& only) {
    auto q = only.empty()
                 ? Exec(std::string("SELECT ") + kJobColumns +
                            " FROM foldback_jobs ORDER BY created_ms, id",
                        {}, "read jobs")
                 : Exec(std::string("SELECT ") + kJobColumns + " FROM foldback_jobs WHERE id=$1",
                        {P(only)}, "read jobs");
    if (!q.ok()) return q.status();
    std::vector<JobInfo> out;
    for (int i = 0; i < q->rows(); ++i) out.push_back(JobOf(*q, i));
    for (JobInfo& j : out) {
      auto p = Exec(
          "SELECT state,COUNT(*),COALESCE(SUM(attempts),0) FROM foldback_job_items "
          "WHERE job_id=$1 GROUP BY state",
          {P(j.id)}, "count items");
      if (!p.ok()) return p.status();
      for (int i = 0; i < p->rows(); ++i) {
        AddToProgress(&j.progress, static_cast<ItemState>(p->Int(i, 0)),
                      static_cast<uint64_t>(p->Int(i, 1)), static_cast<uint64_t>(p->Int(i, 2)));
      }
    }
    return out;
  }

  std::string url_;
  std::string shown_;                 // url_ without its password
  std::vector<std::string> secrets_;  // scrubbed from every message
  PGconn* conn_ = nullptr;
  bool retryable_ = false;  // the last failed statement may succeed when retried
  bool reconnect_ = false;  // ... on a new connection
  int64_t late_ms_ = 0;     // how long the call being retried has been running
};

}  // namespace

Result<std::unique_ptr<JobStore>> OpenPostgresStore(const std::string& url) {
  auto store = std::make_unique<PostgresStore>(url);
  Status s = store->Open();
  if (!s.ok()) return s;
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace foldback::jobs
