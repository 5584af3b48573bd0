#include "services/learner/job_store.h"

#include <sqlite3.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status/status_macros.h"

namespace chord::learner {
namespace {

using chord::v1::JobEvent;
using chord::v1::JobState;
using chord::v1::JobStatus;

constexpr int kSchemaVersion = 1;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  state INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  status BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_ms);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_request ON jobs(request_id) WHERE request_id != '';
CREATE TABLE IF NOT EXISTS events (
  job_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event BLOB NOT NULL,
  PRIMARY KEY (job_id, seq)
);
)sql";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

bool IsFinal(JobState s) {
  return s == chord::v1::JOB_STATE_SUCCEEDED || s == chord::v1::JOB_STATE_FAILED ||
         s == chord::v1::JOB_STATE_CANCELLED;
}

bool TransitionAllowed(JobState from, JobState to) {
  using namespace chord::v1;  // NOLINT: enum names
  if (from == JOB_STATE_QUEUED) {
    return to == JOB_STATE_RUNNING || to == JOB_STATE_CANCELLED || to == JOB_STATE_FAILED;
  }
  if (from == JOB_STATE_RUNNING) {
    return to == JOB_STATE_SUCCEEDED || to == JOB_STATE_FAILED || to == JOB_STATE_CANCELLED ||
           to == JOB_STATE_QUEUED;
  }
  return false;
}

std::string NewJobId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  absl::Time now = absl::Now();
  return absl::StrCat("job-", absl::FormatTime("%Y%m%d-%H%M%S", now, absl::UTCTimeZone()), "-",
                      absl::StrFormat("%08x", static_cast<uint32_t>(rng())));
}

// RAII prepared statement.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status status() const {
    if (rc_ == SQLITE_OK) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("sqlite prepare: ", sqlite3_errmsg(db_)));
  }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindText(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  std::string Blob(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  absl::Status Error(absl::string_view what) const {
    return absl::InternalError(absl::StrCat("job store: ", what, ": ", sqlite3_errmsg(db_)));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// Runs fn inside BEGIN IMMEDIATE / COMMIT, rolling back when it fails.
template <typename Fn>
absl::Status InTransaction(sqlite3* db, Fn&& fn) {
  char* err = nullptr;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "begin failed";
    sqlite3_free(err);
    return absl::InternalError(absl::StrCat("job store: begin: ", message));
  }
  absl::Status status = fn();
  const char* end = status.ok() ? "COMMIT" : "ROLLBACK";
  if (sqlite3_exec(db, end, nullptr, nullptr, &err) != SQLITE_OK && status.ok()) {
    status = absl::InternalError(absl::StrCat("job store: commit: ", err ? err : ""));
  }
  sqlite3_free(err);
  return status;
}

absl::Status WriteStatus(sqlite3* db, const JobStatus& job, bool insert,
                         const std::string& request_id) {
  const char* sql = insert ? "INSERT INTO jobs (id, request_id, state, created_ms, status) "
                             "VALUES (?1, ?2, ?3, ?4, ?5)"
                           : "UPDATE jobs SET state = ?3, status = ?5 WHERE id = ?1";
  Statement stmt(db, sql);
  RETURN_IF_ERROR(stmt.status());
  stmt.BindText(1, job.job_id());
  if (insert) {
    stmt.BindText(2, request_id);
    stmt.Bind(4, job.created_unix_ms());
  }
  stmt.Bind(3, static_cast<int64_t>(job.state()));
  stmt.Bind(5, job.SerializeAsString());
  if (stmt.Step() != SQLITE_DONE) return stmt.Error("write job");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path, IdGenerator ids) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("job store ", path, ": cannot open: ", message));
  }
  sqlite3_busy_timeout(db, 5000);
  if (!ids) ids = NewJobId;
  auto store = std::unique_ptr<JobStore>(new JobStore(db, std::move(ids)));
  absl::MutexLock lock(&store->mu_);
  // Checks the file is a database before anything writes to it.
  {
    Statement probe(db, "SELECT count(*) FROM sqlite_master");
    if (!probe.status().ok() || probe.Step() != SQLITE_ROW) {
      return absl::DataLossError(absl::StrCat(
          "job store ", path, ": not a SQLite database or corrupt: ", sqlite3_errmsg(db)));
    }
  }
  RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(store->Exec(kSchema));
  std::string v;
  {
    Statement version(db, "SELECT value FROM meta WHERE key = 'schema_version'");
    RETURN_IF_ERROR(version.status());
    if (version.Step() == SQLITE_ROW) v = version.Blob(0);
  }
  if (!v.empty()) {
    if (v != std::to_string(kSchemaVersion)) {
      return absl::FailedPreconditionError(absl::StrCat("job store ", path, ": schema version ", v,
                                                        ", this learner reads ", kSchemaVersion));
    }
  } else {
    RETURN_IF_ERROR(
        store->Exec(absl::StrCat("INSERT INTO meta (key, value) VALUES ('schema_version', '",
                                 kSchemaVersion, "')")
                        .c_str()));
  }
  return store;
}

JobStore::~JobStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status JobStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return absl::InternalError(absl::StrCat("job store: ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobStatus> JobStore::GetLocked(const std::string& job_id) {
  Statement stmt(db_, "SELECT status FROM jobs WHERE id = ?1");
  RETURN_IF_ERROR(stmt.status());
  stmt.BindText(1, job_id);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  if (rc != SQLITE_ROW) return stmt.Error("read job");
  JobStatus job;
  if (!job.ParseFromString(stmt.Blob(0))) {
    return absl::DataLossError(absl::StrCat("job store: record of ", job_id, " is corrupt"));
  }
  return job;
}

absl::StatusOr<JobEvent> JobStore::AppendEventLocked(const std::string& job_id, JobEvent event) {
  Statement next(db_, "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = ?1");
  RETURN_IF_ERROR(next.status());
  next.BindText(1, job_id);
  if (next.Step() != SQLITE_ROW) return next.Error("next event sequence");
  event.set_job_id(job_id);
  event.set_sequence(next.Int(0));
  if (event.unix_ms() == 0) event.set_unix_ms(NowMs());
  Statement insert(db_, "INSERT INTO events (job_id, seq, event) VALUES (?1, ?2, ?3)");
  RETURN_IF_ERROR(insert.status());
  insert.BindText(1, job_id);
  insert.Bind(2, event.sequence());
  insert.Bind(3, event.SerializeAsString());
  if (insert.Step() != SQLITE_DONE) return insert.Error("append event");
  return event;
}

absl::StatusOr<JobStatus> JobStore::Create(const std::string& name, const std::string& spec_yaml,
                                           const std::string& request_id, int64_t total_steps,
                                           bool* created, int64_t max_queued) {
  absl::MutexLock lock(&mu_);
  if (created != nullptr) *created = false;
  if (!request_id.empty()) {
    Statement find(db_, "SELECT id FROM jobs WHERE request_id = ?1");
    RETURN_IF_ERROR(find.status());
    find.BindText(1, request_id);
    if (find.Step() == SQLITE_ROW) return GetLocked(find.Blob(0));
  }
  if (max_queued > 0) {
    Statement count(db_, "SELECT COUNT(*) FROM jobs WHERE state = ?1");
    RETURN_IF_ERROR(count.status());
    count.Bind(1, static_cast<int64_t>(chord::v1::JOB_STATE_QUEUED));
    if (count.Step() != SQLITE_ROW) return count.Error("count queued jobs");
    const int64_t queued = count.Int(0);
    if (queued >= max_queued) {
      return absl::ResourceExhaustedError(
          absl::StrCat("job queue full: ", queued, " jobs are queued, the limit is ", max_queued,
                       " (max_queued_jobs); submit again when one has started"));
    }
  }
  JobStatus job;
  ASSIGN_OR_RETURN(std::string job_id, NewIdLocked());
  job.set_job_id(job_id);
  job.set_name(name);
  job.set_state(chord::v1::JOB_STATE_QUEUED);
  job.set_created_unix_ms(NowMs());
  job.set_total_steps(total_steps);
  job.set_spec_yaml(spec_yaml);
  RETURN_IF_ERROR(InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    RETURN_IF_ERROR(WriteStatus(db_, job, /*insert=*/true, request_id));
    JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_STATE);
    event.set_state(job.state());
    event.set_total_steps(total_steps);
    event.set_message("queued");
    return AppendEventLocked(job.job_id(), event).status();
  }));
  if (created != nullptr) *created = true;
  return job;
}

absl::StatusOr<std::string> JobStore::NewIdLocked() {
  constexpr int kDraws = 16;
  for (int draw = 0; draw < kDraws; ++draw) {
    std::string id = ids_();
    Statement find(db_, "SELECT 1 FROM jobs WHERE id = ?1");
    RETURN_IF_ERROR(find.status());
    find.BindText(1, id);
    const int rc = find.Step();
    if (rc == SQLITE_DONE) return id;
    if (rc != SQLITE_ROW) return find.Error("look up a new job id");
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("no unused job id in ", kDraws, " draws; submit again"));
}

absl::StatusOr<JobStatus> JobStore::Get(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  return GetLocked(job_id);
}

absl::StatusOr<std::vector<JobStatus>> JobStore::List(int limit, JobState state) {
  absl::MutexLock lock(&mu_);
  const char* sql = state == chord::v1::JOB_STATE_UNSPECIFIED
                        ? "SELECT status FROM jobs ORDER BY created_ms DESC, rowid DESC LIMIT ?1"
                        : "SELECT status FROM jobs WHERE state = ?2 "
                          "ORDER BY created_ms DESC, rowid DESC LIMIT ?1";
  Statement stmt(db_, sql);
  RETURN_IF_ERROR(stmt.status());
  stmt.Bind(1, static_cast<int64_t>(limit > 0 ? limit : 100));
  if (state != chord::v1::JOB_STATE_UNSPECIFIED) stmt.Bind(2, static_cast<int64_t>(state));
  std::vector<JobStatus> jobs;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    JobStatus job;
    if (!job.ParseFromString(stmt.Blob(0))) return absl::DataLossError("job store: corrupt job");
    jobs.push_back(std::move(job));
  }
  if (rc != SQLITE_DONE) return stmt.Error("list jobs");
  return jobs;
}

absl::Status JobStore::SetState(const std::string& job_id, JobState state,
                                const std::string& reason) {
  absl::MutexLock lock(&mu_);
  return InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    ASSIGN_OR_RETURN(JobStatus job, GetLocked(job_id));
    if (job.state() == state) return absl::OkStatus();
    if (!TransitionAllowed(job.state(), state)) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " is ", chord::v1::JobState_Name(job.state()),
                       ", cannot become ", chord::v1::JobState_Name(state)));
    }
    job.set_state(state);
    job.set_reason(reason);
    int64_t now = NowMs();
    if (state == chord::v1::JOB_STATE_RUNNING && job.started_unix_ms() == 0) {
      job.set_started_unix_ms(now);
    }
    if (IsFinal(state)) job.set_finished_unix_ms(now);
    RETURN_IF_ERROR(WriteStatus(db_, job, /*insert=*/false, ""));
    JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_STATE);
    event.set_state(state);
    event.set_step(job.step());
    event.set_total_steps(job.total_steps());
    event.set_message(reason);
    event.set_unix_ms(now);
    return AppendEventLocked(job_id, event).status();
  });
}

absl::StatusOr<JobStatus> JobStore::Resume(const std::string& job_id, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  JobStatus job;
  RETURN_IF_ERROR(InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    ASSIGN_OR_RETURN(job, GetLocked(job_id));
    switch (job.state()) {
      case chord::v1::JOB_STATE_FAILED:
      case chord::v1::JOB_STATE_CANCELLED:
        break;
      case chord::v1::JOB_STATE_SUCCEEDED:
        return absl::FailedPreconditionError(absl::StrCat(
            "job ", job_id, " is ", chord::v1::JobState_Name(job.state()),
            ": only a FAILED or CANCELLED job can be resumed (submit a new job to train further)"));
      default:
        return absl::OkStatus();  // queued or running already
    }
    const int64_t now = NowMs();
    job.set_state(chord::v1::JOB_STATE_QUEUED);
    job.clear_reason();
    job.set_finished_unix_ms(0);
    job.set_resume_count(job.resume_count() + 1);
    RETURN_IF_ERROR(WriteStatus(db_, job, /*insert=*/false, ""));
    JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_STATE);
    event.set_state(job.state());
    event.set_step(job.step());
    event.set_total_steps(job.total_steps());
    event.set_message(reason.empty() ? std::string(kResumedByRequest)
                                     : absl::StrCat(kResumedByRequest, ": ", reason));
    event.set_unix_ms(now);
    return AppendEventLocked(job_id, event).status();
  }));
  return job;
}

absl::Status JobStore::RecordStep(const std::string& job_id, int64_t step,
                                  const std::map<std::string, double>& metrics) {
  absl::MutexLock lock(&mu_);
  return InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    ASSIGN_OR_RETURN(JobStatus job, GetLocked(job_id));
    job.set_step(step);
    job.mutable_metrics()->clear();
    for (const auto& [key, value] : metrics) (*job.mutable_metrics())[key] = value;
    RETURN_IF_ERROR(WriteStatus(db_, job, /*insert=*/false, ""));
    JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_STEP);
    event.set_step(step);
    event.set_total_steps(job.total_steps());
    event.set_state(job.state());
    for (const auto& [key, value] : metrics) (*event.mutable_metrics())[key] = value;
    return AppendEventLocked(job_id, event).status();
  });
}

absl::Status JobStore::RecordEval(const std::string& job_id, int64_t step,
                                  const std::map<std::string, double>& metrics) {
  absl::MutexLock lock(&mu_);
  return InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    ASSIGN_OR_RETURN(JobStatus job, GetLocked(job_id));
    job.mutable_eval_metrics()->clear();
    for (const auto& [key, value] : metrics) (*job.mutable_eval_metrics())[key] = value;
    RETURN_IF_ERROR(WriteStatus(db_, job, /*insert=*/false, ""));
    JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_EVAL);
    event.set_step(step);
    event.set_total_steps(job.total_steps());
    event.set_state(job.state());
    for (const auto& [key, value] : metrics) (*event.mutable_metrics())[key] = value;
    return AppendEventLocked(job_id, event).status();
  });
}

absl::Status JobStore::RecordCheckpoint(const std::string& job_id, int64_t step,
                                        const std::string& path,
                                        const std::vector<std::string>& kept) {
  absl::MutexLock lock(&mu_);
  return InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    ASSIGN_OR_RETURN(JobStatus job, GetLocked(job_id));
    job.clear_checkpoints();
    for (const std::string& dir : kept) job.add_checkpoints(dir);
    RETURN_IF_ERROR(WriteStatus(db_, job, /*insert=*/false, ""));
    JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_CHECKPOINT);
    event.set_step(step);
    event.set_total_steps(job.total_steps());
    event.set_state(job.state());
    event.set_message(path);
    return AppendEventLocked(job_id, event).status();
  });
}

absl::Status JobStore::AppendLog(const std::string& job_id, const std::string& message) {
  absl::MutexLock lock(&mu_);
  return InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    ASSIGN_OR_RETURN(JobStatus job, GetLocked(job_id));
    JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_LOG);
    event.set_step(job.step());
    event.set_total_steps(job.total_steps());
    event.set_state(job.state());
    event.set_message(message);
    return AppendEventLocked(job_id, event).status();
  });
}

absl::Status JobStore::SetOutputModel(const std::string& job_id, const std::string& path) {
  absl::MutexLock lock(&mu_);
  return InTransaction(db_, [&]() -> absl::Status {
    mu_.AssertHeld();  // held by the caller for the whole transaction
    ASSIGN_OR_RETURN(JobStatus job, GetLocked(job_id));
    job.set_output_model(path);
    return WriteStatus(db_, job, /*insert=*/false, "");
  });
}

absl::StatusOr<std::vector<JobEvent>> JobStore::Events(const std::string& job_id,
                                                       int64_t from_sequence, int limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(GetLocked(job_id).status());
  Statement stmt(db_,
                 "SELECT event FROM events WHERE job_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3");
  RETURN_IF_ERROR(stmt.status());
  stmt.BindText(1, job_id);
  stmt.Bind(2, from_sequence);
  stmt.Bind(3, static_cast<int64_t>(limit > 0 ? limit : -1));
  std::vector<JobEvent> events;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    JobEvent event;
    if (!event.ParseFromString(stmt.Blob(0))) {
      return absl::DataLossError(absl::StrCat("job store: corrupt event of ", job_id));
    }
    events.push_back(std::move(event));
  }
  if (rc != SQLITE_DONE) return stmt.Error("read events");
  return events;
}

}  // namespace chord::learner
