// The job spec at Submit (services/learner/job_manager.h, JobManager::Submit): the input is a job
// spec, submitted to a job manager whose store lives in the scratch directory, whose models must
// lie under <scratch>/models and which refuses service address overrides. A refusal is
// INVALID_ARGUMENT (the spec), PERMISSION_DENIED (model path, service override) or
// RESOURCE_EXHAUSTED, never anything else; an accepted job is QUEUED, is found again, and a
// second Submit with the same request id returns the same job. Each accepted job is cancelled,
// so the queue never fills up.

#include <filesystem>

#include "services/learner/job_manager.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

chord::learner::JobManager& Manager() {
  static chord::learner::JobManager* manager = [] {
    const std::string state = chord::fuzz::ScratchDir() + "/learner";
    const std::string models = chord::fuzz::ScratchDir() + "/models";
    std::filesystem::create_directories(state);
    std::filesystem::create_directories(models + "/tiny");
    auto store = chord::learner::JobStore::Open(state + "/jobs.db");
    FUZZ_CHECK(store.ok(), store.status().ToString());
    chord::learner::JobManagerOptions options;
    options.state_dir = state;
    auto roots = chord::files::ConfinedRoots::Create({models}, "--model_root");
    FUZZ_CHECK(roots.ok(), roots.status().ToString());
    options.model_roots = *roots;
    options.allow_service_overrides = false;
    chord::learner::DriverContext context;
    context.store = store->release();  // lives as long as the process
    // Submit, Get and Cancel of a queued job build no clients (no RunLoop runs here).
    chord::learner::ClientFactory no_clients =
        [](const chord::learner::ServiceAddresses&,
           const chord::learner::ServicesSpec&) -> absl::StatusOr<chord::learner::JobClients> {
      return absl::FailedPreconditionError("no services in the fuzz target");
    };
    return new chord::learner::JobManager(options, context, no_clients);
  }();
  return *manager;
}

}  // namespace

CHORD_FUZZ_TARGET(job_submit) {
  static int64_t submissions = 0;
  const std::string spec(chord::fuzz::AsText(data, size));
  const std::string request_id = absl::StrCat("fuzz-", ++submissions);
  chord::learner::JobManager& manager = Manager();
  absl::StatusOr<chord::v1::JobStatus> job = manager.Submit(spec, request_id, "fuzz.yaml");
  if (!job.ok()) {
    const absl::StatusCode code = job.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
                   code == absl::StatusCode::kPermissionDenied ||
                   code == absl::StatusCode::kResourceExhausted,
               job.status().ToString());
    return;
  }
  FUZZ_CHECK(job->state() == chord::v1::JOB_STATE_QUEUED, job->ShortDebugString());
  absl::StatusOr<chord::v1::JobStatus> again = manager.Submit(spec, request_id, "fuzz.yaml");
  FUZZ_CHECK(again.ok() && again->job_id() == job->job_id(),
             absl::StrCat("Submit is not idempotent: ", again.status().ToString()));
  absl::StatusOr<chord::v1::JobStatus> found = manager.Get(job->job_id());
  FUZZ_CHECK(found.ok() && found->job_id() == job->job_id(), found.status().ToString());
  absl::StatusOr<chord::v1::JobStatus> cancelled = manager.Cancel(job->job_id(), "fuzz");
  FUZZ_CHECK(cancelled.ok() && cancelled->state() == chord::v1::JOB_STATE_CANCELLED,
             cancelled.status().ToString());
}
