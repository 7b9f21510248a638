// The SQLite job store (libsqlite3). One file; any number of processes.
//
// Settings: WAL (readers never block the writer), synchronous=FULL (every
// commit fsyncs the WAL: an acknowledged result survives a power cut; the
// cost is amortized by committing all the results a worker has at once),
// busy_timeout 30 s, and BEGIN IMMEDIATE for every read-decide-write (the
// write lock is taken before the rows are read, so two workers never
// decide on the same row at once).
#include <sqlite3.h>

#include <algorithm>

#include "host/ids.h"
#include "jobs/job_store.h"

namespace foldback::jobs {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  spec TEXT NOT NULL,
  state INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  requests_per_minute REAL NOT NULL,
  max_requests INTEGER NOT NULL,
  max_tokens INTEGER NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  next_slot_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS items(
  job_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  item_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '',
  lease_until_ms INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  result TEXT,
  blob BLOB,
  done_ms INTEGER,
  PRIMARY KEY(job_id, seq),
  UNIQUE(job_id, item_id));
CREATE INDEX IF NOT EXISTS items_open ON items(job_id, state, seq);
)sql";

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  // SQLITE_ROW or SQLITE_DONE, else an error code.
  int Step() { return sqlite3_step(s_); }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t Int(int i) { return sqlite3_column_int64(s_, i); }
  double Real(int i) { return sqlite3_column_double(s_, i); }
  std::string Text(int i) {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, i)) : "";
  }
  std::string Blob(int i) {
    const void* b = sqlite3_column_blob(s_, i);
    return b ? std::string(static_cast<const char*>(b), sqlite3_column_bytes(s_, i)) : "";
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_OK;
};

class SqliteStore final : public JobStore {
 public:
  SqliteStore(std::string path, bool full) : path_(std::move(path)), full_(full) {}
  ~SqliteStore() override {
    if (db_) sqlite3_close_v2(db_);
  }

  Status Open() {
    int rc =
        sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return Error("cannot open job store " + path_);
    sqlite3_busy_timeout(db_, 30000);
    for (const char* pragma : {"PRAGMA journal_mode=WAL",
                               full_ ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                               "PRAGMA foreign_keys=ON"}) {
      Status s = Exec(pragma);
      if (!s.ok()) return s;
    }
    Status s = Exec("BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    s = Exec(kSchema);
    if (s.ok()) s = AddCheckpointColumn();
    if (!s.ok()) {
      Exec("ROLLBACK");
      return s;
    }
    return Exec("COMMIT");
  }

  Result<std::string> Submit(const NewJob& job, int64_t now_ms) override {
    Status v = ValidateNewJob(job);
    if (!v.ok()) return v;
    std::string id = host::NewUuidV7(now_ms);
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    {
      Stmt s(db_,
             "INSERT INTO jobs(id,kind,spec,state,created_ms,lease_ms,max_attempts,"
             "requests_per_minute,max_requests,max_tokens) VALUES(?,?,?,?,?,?,?,?,?,?)");
      if (!s.ok()) return Error("prepare");
      s.Bind(1, id).Bind(2, job.kind).Bind(3, job.spec).Bind(4, static_cast<int64_t>(job.state));
      s.Bind(5, now_ms);
      s.Bind(6, job.lease.lease_ms).Bind(7, static_cast<int64_t>(job.lease.max_attempts));
      s.Bind(8, job.limits.requests_per_minute)
          .Bind(9, static_cast<int64_t>(job.limits.max_requests));
      s.Bind(10, static_cast<int64_t>(job.limits.max_tokens));
      if (s.Step() != SQLITE_DONE) return Error("insert job");
    }
    Stmt s(db_, "INSERT INTO items(job_id,seq,item_id,payload,state) VALUES(?,?,?,?,0)");
    if (!s.ok()) return Error("prepare");
    int64_t seq = 0;
    for (const NewItem& it : job.items) {
      s.Bind(1, id).Bind(2, seq++).Bind(3, it.item_id).Bind(4, it.payload);
      if (s.Step() != SQLITE_DONE) return Error("insert item");
      s.Reset();
    }
    Status c = txn.Commit();
    if (!c.ok()) return c;
    return id;
  }

  Result<JobInfo> GetJob(const std::string& job_id) override {
    auto jobs = ReadJobs(job_id);
    if (!jobs.ok()) return jobs.status();
    if (jobs->empty()) return Status::NotFound("no job " + job_id + " in " + path_);
    return std::move(jobs->front());
  }

  Result<std::vector<JobInfo>> ListJobs() override { return ReadJobs(""); }

  Result<std::vector<LeasedItem>> Lease(const std::string& job_id, const std::string& owner,
                                        size_t max_items, size_t items_per_request, int64_t now_ms,
                                        std::vector<int64_t>* start_at_ms,
                                        std::string* why_none) override {
    if (start_at_ms) start_at_ms->clear();
    if (why_none) why_none->clear();
    std::vector<LeasedItem> out;
    if (max_items == 0) return out;
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    auto job = ReadJob(job_id);
    if (!job.ok()) return job.status();
    if (job->state != JobState::kActive) {
      if (why_none) *why_none = job->state == JobState::kCancelled ? "cancelled" : "awaiting approval";
      return out;
    }
    // Candidates: pending or leased rows whose time has come (the core
    // decides each one).
    Stmt q(db_,
           "SELECT seq,item_id,payload,state,attempts,owner,lease_until_ms,error,checkpoint FROM items "
           "WHERE job_id=? AND state IN (0,1) AND lease_until_ms<=? ORDER BY seq LIMIT ?");
    if (!q.ok()) return Error("prepare");
    q.Bind(1, job_id).Bind(2, now_ms).Bind(3, static_cast<int64_t>(LeaseCandidateLimit(max_items)));
    std::vector<int64_t> seqs;
    std::vector<std::string> payloads, checkpoints;
    std::vector<ItemRow> rows;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      seqs.push_back(q.Int(0));
      checkpoints.push_back(q.Text(8));
      ItemRow r;
      r.item_id = q.Text(1);
      payloads.push_back(q.Text(2));
      r.state = static_cast<ItemState>(q.Int(3));
      r.attempts = static_cast<uint32_t>(q.Int(4));
      r.owner = q.Text(5);
      r.lease_until_ms = q.Int(6);
      r.error = q.Text(7);
      rows.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return Error("select items");
    LeasePlan plan = PlanLease(rows, job->lease, job->limits, job->counters, owner, max_items,
                               items_per_request, now_ms);
    if (why_none) *why_none = plan.why_none;
    Stmt u(db_,
           "UPDATE items SET state=?,attempts=?,owner=?,lease_until_ms=?,error=? "
           "WHERE job_id=? AND seq=?");
    if (!u.ok()) return Error("prepare");
    auto write = [&](size_t i, const ItemRow& r) {
      u.Bind(1, static_cast<int64_t>(r.state)).Bind(2, static_cast<int64_t>(r.attempts));
      u.Bind(3, r.owner)
          .Bind(4, r.lease_until_ms)
          .Bind(5, r.error)
          .Bind(6, job_id)
          .Bind(7, seqs[i]);
      int s = u.Step();
      u.Reset();
      return s == SQLITE_DONE;
    };
    for (auto& [i, row] : plan.fail) {
      if (!write(i, row)) return Error("update item");
    }
    for (auto& [i, row] : plan.lease) {
      if (!write(i, row)) return Error("update item");
      out.push_back({row.item_id, payloads[i], row.attempts, row.lease_until_ms, checkpoints[i]});
    }
    if (plan.counters_changed) {
      Stmt j(db_, "UPDATE jobs SET requests=?,next_slot_ms=? WHERE id=?");
      j.Bind(1, static_cast<int64_t>(plan.counters.requests))
          .Bind(2, plan.counters.next_slot_ms)
          .Bind(3, job_id);
      if (j.Step() != SQLITE_DONE) return Error("update job");
    }
    Status c = txn.Commit();
    if (!c.ok()) return c;
    if (start_at_ms) *start_at_ms = std::move(plan.starts);
    return out;
  }

  Result<std::vector<std::string>> Heartbeat(const std::string& job_id, const std::string& owner,
                                             const std::vector<std::string>& item_ids,
                                             int64_t now_ms) override {
    std::vector<std::string> lost;
    if (item_ids.empty()) return lost;
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    auto job = ReadJob(job_id);
    if (!job.ok()) return job.status();
    for (const std::string& id : item_ids) {
      auto row = ReadItem(job_id, id);
      if (!row.ok()) return row.status();
      Decision d = DecideHeartbeat(*row, job->lease, owner, now_ms);
      if (!d.update()) {
        lost.push_back(id);
        continue;
      }
      Status s = WriteItem(job_id, d.row);
      if (!s.ok()) return s;
    }
    Status c = txn.Commit();
    if (!c.ok()) return c;
    return lost;
  }

  Status Finish(const std::string& job_id, const std::string& owner,
                const std::vector<ItemResult>& results, const std::vector<ItemFailure>& failures,
                int64_t now_ms, std::vector<std::string>* duplicates) override {
    if (duplicates) duplicates->clear();
    if (results.empty() && failures.empty()) return Status::OK();
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    auto job = ReadJob(job_id);
    if (!job.ok()) return job.status();
    uint64_t tokens = 0;
    Stmt done(db_,
              "UPDATE items SET state=?,owner=?,lease_until_ms=0,error='',result=?,blob=?,"
              "done_ms=? WHERE job_id=? AND item_id=?");
    if (!done.ok()) return Error("prepare");
    for (const ItemResult& r : results) {
      tokens += r.tokens;
      auto row = ReadItem(job_id, r.item_id);
      if (!row.ok()) return row.status();
      Decision d = DecideComplete(*row, owner);
      if (!d.update()) {
        if (duplicates) duplicates->push_back(r.item_id);
        continue;
      }
      done.Bind(1, static_cast<int64_t>(d.row.state)).Bind(2, d.row.owner).Bind(3, r.result);
      if (r.blob.empty()) {
        done.BindNull(4);
      } else {
        done.BindBlob(4, r.blob);
      }
      done.Bind(5, now_ms).Bind(6, job_id).Bind(7, r.item_id);
      if (done.Step() != SQLITE_DONE) return Error("record result");
      done.Reset();
    }
    for (const ItemFailure& f : failures) {
      tokens += f.tokens;
      auto row = ReadItem(job_id, f.item_id);
      if (!row.ok()) return row.status();
      Decision d =
          DecideFailure(*row, job->lease, owner, f.retryable, f.retry_delay_ms, f.error, now_ms);
      if (!d.update()) continue;
      Status s = WriteItem(job_id, d.row);
      if (!s.ok()) return s;
    }
    if (tokens > 0) {
      Stmt j(db_, "UPDATE jobs SET tokens=tokens+? WHERE id=?");
      j.Bind(1, static_cast<int64_t>(tokens)).Bind(2, job_id);
      if (j.Step() != SQLITE_DONE) return Error("update job");
    }
    return txn.Commit();
  }

  Status Release(const std::string& job_id, const std::string& owner,
                 const std::vector<std::string>& item_ids, bool request_sent) override {
    if (item_ids.empty()) return Status::OK();
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    for (const std::string& id : item_ids) {
      auto row = ReadItem(job_id, id);
      if (!row.ok()) return row.status();
      Decision d = DecideRelease(*row, owner, request_sent);
      if (!d.update()) continue;
      Status s = WriteItem(job_id, d.row);
      if (!s.ok()) return s;
    }
    return txn.Commit();
  }

  Status Cancel(const std::string& job_id) override {
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    auto job = ReadJob(job_id);
    if (!job.ok()) return job.status();
    Stmt s(db_, "UPDATE jobs SET state=1 WHERE id=?");
    s.Bind(1, job_id);
    if (s.Step() != SQLITE_DONE) return Error("cancel");
    return txn.Commit();
  }

  Status SetJobState(const std::string& job_id, JobState next) override {
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    auto job = ReadJob(job_id);
    if (!job.ok()) return job.status();
    Status allowed = CheckJobTransition(job_id, job->state, next);
    if (!allowed.ok()) return allowed;
    Stmt s(db_, "UPDATE jobs SET state=? WHERE id=?");
    s.Bind(1, static_cast<int64_t>(next)).Bind(2, job_id);
    if (s.Step() != SQLITE_DONE) return Error("set job state");
    return txn.Commit();
  }

  Status SaveCheckpoint(const std::string& job_id, const std::string& owner,
                        const std::string& item_id, const std::string& checkpoint) override {
    Txn txn(this);
    if (!txn.status.ok()) return txn.status;
    auto row = ReadItem(job_id, item_id);
    if (!row.ok()) return row.status();
    Decision d = DecideCheckpoint(*row, owner);
    if (!d.update()) {
      return Status::FailedPrecondition("job " + job_id + ": item " + item_id + " " + d.reason);
    }
    Stmt s(db_, "UPDATE items SET checkpoint=? WHERE job_id=? AND item_id=?");
    s.Bind(1, checkpoint).Bind(2, job_id).Bind(3, item_id);
    if (s.Step() != SQLITE_DONE) return Error("save checkpoint");
    return txn.Commit();
  }

  Status ForEachItem(const std::string& job_id,
                     const std::function<Status(const StoredResult&)>& fn) override {
    auto job = GetJob(job_id);
    if (!job.ok()) return job.status();
    Stmt q(db_,
           "SELECT item_id,state,attempts,result,blob,error,checkpoint FROM items WHERE job_id=? "
           "ORDER BY seq");
    if (!q.ok()) return Error("prepare");
    q.Bind(1, job_id);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      StoredResult r;
      r.item_id = q.Text(0);
      r.state = static_cast<ItemState>(q.Int(1));
      r.attempts = static_cast<uint32_t>(q.Int(2));
      r.result = q.Text(3);
      r.blob = q.Blob(4);
      r.error = q.Text(5);
      r.checkpoint = q.Text(6);
      Status s = fn(r);
      if (!s.ok()) return s;
    }
    if (rc != SQLITE_DONE) return Error("read items");
    return Status::OK();
  }

 private:
  // BEGIN IMMEDIATE ... COMMIT; rolled back when not committed.
  struct Txn {
    explicit Txn(SqliteStore* s) : store(s) { status = s->Exec("BEGIN IMMEDIATE"); }
    ~Txn() {
      if (status.ok() && !done) store->Exec("ROLLBACK");
    }
    Status Commit() {
      done = true;
      Status s = store->Exec("COMMIT");
      if (!s.ok()) store->Exec("ROLLBACK");
      return s;
    }
    SqliteStore* store;
    Status status;
    bool done = false;
  };

  // Stores made before fine-tune jobs have no checkpoint column.
  Status AddCheckpointColumn() {
    Stmt q(db_, "SELECT 1 FROM pragma_table_info('items') WHERE name='checkpoint'");
    if (!q.ok()) return Error("prepare");
    int rc = q.Step();
    if (rc == SQLITE_ROW) return Status::OK();
    if (rc != SQLITE_DONE) return Error("read the schema");
    return Exec("ALTER TABLE items ADD COLUMN checkpoint TEXT NOT NULL DEFAULT ''");
  }

  Status Error(const std::string& what) {
    return Status::IOError("job store " + path_ + ": " + what + ": " +
                           (db_ ? sqlite3_errmsg(db_) : "out of memory"));
  }

  Status Exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::OK();
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::IOError("job store " + path_ + ": " + msg);
  }

  Result<std::vector<JobInfo>> ReadJobs(const std::string& only) {
    std::string sql =
        "SELECT id,kind,spec,state,created_ms,lease_ms,max_attempts,requests_per_minute,"
        "max_requests,max_tokens,requests,tokens,next_slot_ms FROM jobs";
    sql += only.empty() ? " ORDER BY created_ms, id" : " WHERE id=?";
    Stmt q(db_, sql.c_str());
    if (!q.ok()) return Error("prepare");
    if (!only.empty()) q.Bind(1, only);
    std::vector<JobInfo> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      JobInfo j;
      j.id = q.Text(0);
      j.kind = q.Text(1);
      j.spec = q.Text(2);
      j.state = JobStateFromInt(q.Int(3));
      j.created_ms = q.Int(4);
      j.lease.lease_ms = q.Int(5);
      j.lease.max_attempts = static_cast<uint32_t>(q.Int(6));
      j.limits.requests_per_minute = q.Real(7);
      j.limits.max_requests = static_cast<uint64_t>(q.Int(8));
      j.limits.max_tokens = static_cast<uint64_t>(q.Int(9));
      j.counters.requests = static_cast<uint64_t>(q.Int(10));
      j.counters.tokens = static_cast<uint64_t>(q.Int(11));
      j.counters.next_slot_ms = q.Int(12);
      out.push_back(std::move(j));
    }
    if (rc != SQLITE_DONE) return Error("read jobs");
    for (JobInfo& j : out) {
      Stmt p(db_, "SELECT state,COUNT(*),SUM(attempts) FROM items WHERE job_id=? GROUP BY state");
      if (!p.ok()) return Error("prepare");
      p.Bind(1, j.id);
      while ((rc = p.Step()) == SQLITE_ROW) {
        AddToProgress(&j.progress, static_cast<ItemState>(p.Int(0)),
                      static_cast<uint64_t>(p.Int(1)), static_cast<uint64_t>(p.Int(2)));
      }
      if (rc != SQLITE_DONE) return Error("count items");
    }
    return out;
  }

  // The job row without progress counts (inside a transaction).
  Result<JobInfo> ReadJob(const std::string& job_id) {
    Stmt q(db_,
           "SELECT kind,state,lease_ms,max_attempts,requests_per_minute,max_requests,max_tokens,"
           "requests,tokens,next_slot_ms FROM jobs WHERE id=?");
    if (!q.ok()) return Error("prepare");
    q.Bind(1, job_id);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return Status::NotFound("no job " + job_id + " in " + path_);
    if (rc != SQLITE_ROW) return Error("read job");
    JobInfo j;
    j.id = job_id;
    j.kind = q.Text(0);
    j.state = JobStateFromInt(q.Int(1));
    j.lease.lease_ms = q.Int(2);
    j.lease.max_attempts = static_cast<uint32_t>(q.Int(3));
    j.limits.requests_per_minute = q.Real(4);
    j.limits.max_requests = static_cast<uint64_t>(q.Int(5));
    j.limits.max_tokens = static_cast<uint64_t>(q.Int(6));
    j.counters.requests = static_cast<uint64_t>(q.Int(7));
    j.counters.tokens = static_cast<uint64_t>(q.Int(8));
    j.counters.next_slot_ms = q.Int(9);
    return j;
  }

  Result<ItemRow> ReadItem(const std::string& job_id, const std::string& item_id) {
    Stmt q(db_,
           "SELECT state,attempts,owner,lease_until_ms,error FROM items WHERE job_id=? AND "
           "item_id=?");
    if (!q.ok()) return Error("prepare");
    q.Bind(1, job_id).Bind(2, item_id);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return Status::NotFound("job " + job_id + " has no item " + item_id);
    if (rc != SQLITE_ROW) return Error("read item");
    ItemRow r;
    r.item_id = item_id;
    r.state = static_cast<ItemState>(q.Int(0));
    r.attempts = static_cast<uint32_t>(q.Int(1));
    r.owner = q.Text(2);
    r.lease_until_ms = q.Int(3);
    r.error = q.Text(4);
    return r;
  }

  Status WriteItem(const std::string& job_id, const ItemRow& r) {
    Stmt u(db_,
           "UPDATE items SET state=?,attempts=?,owner=?,lease_until_ms=?,error=? WHERE job_id=? "
           "AND item_id=?");
    if (!u.ok()) return Error("prepare");
    u.Bind(1, static_cast<int64_t>(r.state)).Bind(2, static_cast<int64_t>(r.attempts));
    u.Bind(3, r.owner)
        .Bind(4, r.lease_until_ms)
        .Bind(5, r.error)
        .Bind(6, job_id)
        .Bind(7, r.item_id);
    if (u.Step() != SQLITE_DONE) return Error("update item");
    return Status::OK();
  }

  std::string path_;
  bool full_ = true;
  sqlite3* db_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<JobStore>> OpenSqliteStore(const std::string& path, bool full) {
  auto store = std::make_unique<SqliteStore>(path, full);
  Status s = store->Open();
  if (!s.ok()) return s;
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace foldback::jobs
