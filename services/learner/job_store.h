#pragma once

// Durable record of the learner's jobs in SQLite (one file in the learner's state directory):
// each job's spec, state and reason, progress, latest metrics, checkpoints, and its event log
// (state changes, steps, evaluations, checkpoints, log lines) in sequence order. A restarted
// learner reopens the file, lists past jobs and finds the running ones to resume.
//
// Records are the wire messages chord.v1.JobStatus and chord.v1.JobEvent (plain data, no gRPC).
// Thread-safe: one connection guarded by a mutex; every mutation is one transaction.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "chord/v1/learner.pb.h"

struct sqlite3;

namespace chord::learner {

// The `limit` of List that lists every job (more than any store holds).
inline constexpr int kListAllJobs = 1 << 20;

// The start of the message of the STATE event that JobStore::Resume appends.
inline constexpr char kResumedByRequest[] = "resumed by request";

class JobStore {
 public:
  // Makes the id of a new job. The default: "job-<UTC time>-<32 random bits, hex>".
  using IdGenerator = std::function<std::string()>;

  // Opens or creates the database at `path` (its directory must exist). DATA_LOSS when the file
  // is not a Chord job store or is corrupt; the file is left untouched then. `ids` (empty: the
  // default) names new jobs; an id already in the store is drawn again.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path,
                                                        IdGenerator ids = {});

  ~JobStore();

  // Creates a QUEUED job. With a non-empty `request_id` that was used before, returns the job
  // created then (idempotent submit) and `*created` is false. With `max_queued` > 0, a new job
  // is refused with RESOURCE_EXHAUSTED while `max_queued` jobs are QUEUED already (checked
  // atomically with the insertion; a repeated request_id still returns its job).
  absl::StatusOr<chord::v1::JobStatus> Create(const std::string& name, const std::string& spec_yaml,
                                              const std::string& request_id, int64_t total_steps,
                                              bool* created = nullptr, int64_t max_queued = 0);

  // NOT_FOUND naming the id when there is no such job.
  absl::StatusOr<chord::v1::JobStatus> Get(const std::string& job_id);

  // Newest first (creation order breaks ties within a millisecond); `state` UNSPECIFIED means all
  // states.
  absl::StatusOr<std::vector<chord::v1::JobStatus>> List(int limit, chord::v1::JobState state);

  // Moves a job to `state` and appends a STATE event. Allowed: QUEUED -> RUNNING | CANCELLED |
  // FAILED; RUNNING -> SUCCEEDED | FAILED | CANCELLED | QUEUED (re-queued for resume after a
  // restart). Anything else is FAILED_PRECONDITION (a finished job never changes here; Resume
  // below re-queues a failed or cancelled one). Setting the current state again is a no-op
  // returning OK (idempotent).
  absl::Status SetState(const std::string& job_id, chord::v1::JobState state,
                        const std::string& reason);

  // The only way out of FAILED and CANCELLED: the job becomes QUEUED again, its reason and
  // finished time are cleared, resume_count grows by one and a STATE event "resumed by request:
  // <reason>" ("resumed by request" for an empty `reason`) is appended, atomically; the earlier
  // STATE events keep the failure's reason. Returns the job after the call. A QUEUED or RUNNING
  // job is returned unchanged (idempotent); a SUCCEEDED one is FAILED_PRECONDITION naming its
  // state; NOT_FOUND for an unknown id.
  absl::StatusOr<chord::v1::JobStatus> Resume(const std::string& job_id, const std::string& reason);

  // Records a completed training step: updates the job's step and latest metrics and appends a
  // STEP event, atomically.
  absl::Status RecordStep(const std::string& job_id, int64_t step,
                          const std::map<std::string, double>& metrics);

  // Records an evaluation: latest eval metrics + an EVAL event.
  absl::Status RecordEval(const std::string& job_id, int64_t step,
                          const std::map<std::string, double>& metrics);

  // Records a checkpoint directory: appended to the job's checkpoint list (pruned to the
  // directories in `kept`, oldest first) + a CHECKPOINT event.
  absl::Status RecordCheckpoint(const std::string& job_id, int64_t step, const std::string& path,
                                const std::vector<std::string>& kept);

  // Appends a LOG event.
  absl::Status AppendLog(const std::string& job_id, const std::string& message);

  // Sets the final model directory.
  absl::Status SetOutputModel(const std::string& job_id, const std::string& path);

  // Events with sequence >= from_sequence, in order (at most `limit`, 0 = all).
  absl::StatusOr<std::vector<chord::v1::JobEvent>> Events(const std::string& job_id,
                                                          int64_t from_sequence, int limit = 0);

 private:
  JobStore(sqlite3* db, IdGenerator ids) : ids_(std::move(ids)), db_(db) {}

  // A fresh id no job in the store has.
  absl::StatusOr<std::string> NewIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<chord::v1::JobEvent> AppendEventLocked(const std::string& job_id,
                                                        chord::v1::JobEvent event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<chord::v1::JobStatus> GetLocked(const std::string& job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const IdGenerator ids_;
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::learner
