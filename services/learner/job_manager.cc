#include "services/learner/job_manager.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "services/learner/job_spec.h"
#include "services/learner/metrics.h"
#include "services/learner/outage.h"
#include "spdlog/spdlog.h"

namespace chord::learner {

using chord::v1::JobState;
using chord::v1::JobStatus;

namespace {

// A job interrupted by a crash (found RUNNING when rank 0 starts) or a broken rank group; these
// count against --max_resumes.
constexpr char kResumeReason[] = "learner restarted: resuming from the last checkpoint";
// A job checkpointed by a graceful learner stop; it resumes when the learner restarts and does
// not count against --max_resumes.
constexpr char kStoppedReason[] =
    "learner stopped: checkpointed, resumes from the checkpoint when the learner restarts";

bool IsFinal(JobState state) {
  return state == chord::v1::JOB_STATE_SUCCEEDED || state == chord::v1::JOB_STATE_FAILED ||
         state == chord::v1::JOB_STATE_CANCELLED;
}

}  // namespace

JobManager::JobManager(JobManagerOptions options, DriverContext context, ClientFactory clients)
    : options_(std::move(options)), context_(std::move(context)), clients_(std::move(clients)) {
  context_.on_event = [this] { NotifyEvents(); };
  context_.state_dir = options_.state_dir;
}

JobOutcome JobManager::RunOne(const JobStatus& job, const JobSpec& spec, JobControl* control) {
  JobLog log(context_.store, job.job_id(), context_.on_event);
  // Loading the datasets may take minutes for big ones: the other ranks get heartbeats meanwhile.
  // An expert buffer or reward service that is away is waited for (services.outage_timeout_s).
  absl::StatusOr<PreparedJob> prepared = absl::UnknownError("not prepared");
  const OutageWaiter outages(
      JobOutageOptions(spec.services.outage_timeout_s, &log, control, context_.metrics));
  absl::Status status = context_.trainer->HeartbeatWhile(
      context_.heartbeat_interval,
      [&] {
        return outages.Run("datasets", [&] {
          prepared = PrepareJob(spec, options_.defaults, clients_, log);
          return prepared.status();
        });
      },
      nullptr);
  if (!status.ok()) return PreparationFailed(status, *control, log);
  return RunJob(context_, job, spec, *std::move(prepared), control);
}

void JobManager::NotifyEvents() {
  absl::MutexLock lock(&mu_);
  ++event_epoch_;
  events_changed_.SignalAll();
}

void JobManager::UpdateJobCounts() {
  if (context_.metrics == nullptr) return;
  for (JobState state :
       {chord::v1::JOB_STATE_QUEUED, chord::v1::JOB_STATE_RUNNING, chord::v1::JOB_STATE_SUCCEEDED,
        chord::v1::JOB_STATE_FAILED, chord::v1::JOB_STATE_CANCELLED}) {
    auto jobs = context_.store->List(kListAllJobs, state);
    if (!jobs.ok()) return;
    std::string name = chord::v1::JobState_Name(state).substr(strlen("JOB_STATE_"));
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    context_.metrics->SetJobCount(name, static_cast<int64_t>(jobs->size()));
  }
}

absl::StatusOr<JobStatus> JobManager::Submit(const std::string& spec_yaml,
                                             const std::string& request_id,
                                             const std::string& source) {
  ASSIGN_OR_RETURN(JobSpec spec, ParseJobSpec(spec_yaml, source.empty() ? "spec" : source));
  RETURN_IF_ERROR(CheckAllowed(spec));
  bool created = false;
  ASSIGN_OR_RETURN(JobStatus job,
                   context_.store->Create(spec.name, spec_yaml, request_id, spec.steps, &created,
                                          options_.max_queued_jobs));
  if (created) spdlog::info("job {} ({}) queued", job.job_id(), spec.name);
  UpdateJobCounts();
  NotifyEvents();
  absl::MutexLock lock(&mu_);
  wake_runner_.SignalAll();
  return job;
}

absl::Status JobManager::CheckAllowed(const JobSpec& spec) const {
  if (options_.model_roots.has_value()) {
    // The ranks load a relative model path from their working directory: check that folder.
    std::error_code error;
    std::string loaded = std::filesystem::path(spec.model).is_relative()
                             ? std::filesystem::absolute(spec.model, error).string()
                             : spec.model;
    absl::StatusOr<std::string> model = options_.model_roots->Resolve(loaded);
    if (!model.ok()) {
      // The learner's own outputs (a finished job's model, a checkpoint) may be trained further.
      auto outputs = files::ConfinedRoots::Create({options_.state_dir + "/jobs"}, "");
      if (!outputs.ok() || !outputs->Resolve(loaded).ok()) {
        if (loaded != spec.model) {
          return Annotate(model.status(), absl::StrCat("model: ", spec.model));
        }
        return Annotate(model.status(), "model");
      }
    }
  }
  if (!options_.allow_service_overrides) {
    auto refuse = [](absl::string_view key) {
      return absl::PermissionDeniedError(absl::StrCat(
          "services.", key,
          ": this learner does not accept service addresses from job specs (its operator can "
          "allow them with --allow_service_overrides)"));
    };
    if (!spec.services.expert_buffer.empty()) return refuse("expert_buffer");
    if (!spec.services.reward.empty()) return refuse("reward");
    if (!spec.services.rollout_workers.empty()) return refuse("rollout_workers");
  }
  return absl::OkStatus();
}

absl::StatusOr<JobStatus> JobManager::Get(const std::string& job_id) {
  return context_.store->Get(job_id);
}

absl::StatusOr<std::vector<JobStatus>> JobManager::List(int limit, JobState state) {
  return context_.store->List(limit, state);
}

absl::StatusOr<JobStatus> JobManager::Cancel(const std::string& job_id, const std::string& reason) {
  ASSIGN_OR_RETURN(JobStatus job, context_.store->Get(job_id));
  std::string why = reason.empty() ? "cancelled by user" : reason;
  if (IsFinal(job.state())) return job;
  {
    absl::MutexLock lock(&mu_);
    if (running_job_ == job_id && running_control_) {
      running_control_->RequestCancel(why);
      return job;
    }
  }
  // Queued: nothing runs it yet. (If the runner picks it up in between, SetState refuses the
  // QUEUED -> CANCELLED race only when it is already RUNNING; then cancel the run instead.)
  absl::Status status = context_.store->SetState(job_id, chord::v1::JOB_STATE_CANCELLED, why);
  if (!status.ok()) {
    absl::MutexLock lock(&mu_);
    if (running_job_ == job_id && running_control_) {
      running_control_->RequestCancel(why);
    } else {
      return status;
    }
  }
  UpdateJobCounts();
  NotifyEvents();
  return context_.store->Get(job_id);
}

absl::StatusOr<JobStatus> JobManager::Resume(const std::string& job_id, const std::string& reason) {
  ASSIGN_OR_RETURN(JobStatus job, context_.store->Get(job_id));
  if (job.state() == chord::v1::JOB_STATE_FAILED || job.state() == chord::v1::JOB_STATE_CANCELLED) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(job.spec_yaml(), job.name());
    if (!spec.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", job_id,
          " cannot be resumed: its stored spec no longer parses: ", spec.status().message()));
    }
    RETURN_IF_ERROR(Annotate(CheckAllowed(*spec), absl::StrCat("job ", job_id)));
  }
  ASSIGN_OR_RETURN(JobStatus resumed, context_.store->Resume(job_id, reason));
  if (resumed.resume_count() == job.resume_count()) return resumed;  // was queued or running
  spdlog::info("job {} ({}) resumed by request (resume {}): {}", job_id, resumed.name(),
               resumed.resume_count(), reason.empty() ? "no reason given" : reason);
  UpdateJobCounts();
  NotifyEvents();
  absl::MutexLock lock(&mu_);
  wake_runner_.SignalAll();
  return resumed;
}

absl::Status JobManager::Watch(const std::string& job_id, int64_t from_sequence,
                               const std::function<bool(const chord::v1::JobEvent&)>& emit,
                               const std::function<bool()>& stopped) {
  {
    absl::MutexLock lock(&mu_);
    if (options_.max_watch_streams > 0 && watch_streams_ >= options_.max_watch_streams) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many watchers: ", watch_streams_, " Watch streams are open, the limit is ",
          options_.max_watch_streams, " (max_watch_streams); try again later"));
    }
    ++watch_streams_;
  }
  struct Release {
    JobManager* manager;
    ~Release() {
      absl::MutexLock lock(&manager->mu_);
      --manager->watch_streams_;
    }
  } release{this};
  RETURN_IF_ERROR(context_.store->Get(job_id).status());
  int64_t next = std::max<int64_t>(from_sequence, 1);
  while (true) {
    int64_t epoch;
    {
      absl::MutexLock lock(&mu_);
      epoch = event_epoch_;
    }
    ASSIGN_OR_RETURN(auto events, context_.store->Events(job_id, next));
    for (const chord::v1::JobEvent& event : events) {
      if (!emit(event)) return absl::CancelledError("watcher went away");
      next = event.sequence() + 1;
    }
    ASSIGN_OR_RETURN(JobStatus job, context_.store->Get(job_id));
    if (IsFinal(job.state())) {
      // Events written between the read above and the state check are sent before ending.
      ASSIGN_OR_RETURN(auto tail, context_.store->Events(job_id, next));
      for (const chord::v1::JobEvent& event : tail) {
        if (!emit(event)) return absl::CancelledError("watcher went away");
      }
      return absl::OkStatus();
    }
    if (shutting_down_) return absl::UnavailableError("learner shutting down");
    if (stopped && stopped()) return absl::CancelledError("watcher went away");
    absl::MutexLock lock(&mu_);
    if (event_epoch_ == epoch) {
      events_changed_.WaitWithTimeout(&mu_, absl::Seconds(1));
    }
  }
}

absl::Status JobManager::RequeueInterruptedJob(const std::string& job_id,
                                               const std::string& reason) {
  ASSIGN_OR_RETURN(auto events, context_.store->Events(job_id, 0));
  int resumes = 0;
  for (const auto& event : events) {
    if (event.type() == chord::v1::JOB_EVENT_STATE &&
        absl::StrContains(event.message(), kResumeReason)) {
      ++resumes;
    }
  }
  if (resumes >= options_.max_resumes) {
    return context_.store->SetState(
        job_id, chord::v1::JOB_STATE_FAILED,
        absl::StrCat("interrupted ", resumes + 1, " times (last: ", reason,
                     "); not resuming again (--max_resumes ", options_.max_resumes, ")"));
  }
  spdlog::info("job {} was interrupted ({}): re-queued to resume", job_id, reason);
  return context_.store->SetState(job_id, chord::v1::JOB_STATE_QUEUED,
                                  absl::StrCat(reason, "; ", kResumeReason));
}

absl::Status JobManager::RequeueInterrupted() {
  ASSIGN_OR_RETURN(auto running, context_.store->List(kListAllJobs, chord::v1::JOB_STATE_RUNNING));
  for (const JobStatus& job : running) {
    RETURN_IF_ERROR(RequeueInterruptedJob(job.job_id(), "running when the learner stopped"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> JobManager::NextQueuedJob() {
  ASSIGN_OR_RETURN(auto queued, context_.store->List(kListAllJobs, chord::v1::JOB_STATE_QUEUED));
  if (queued.empty()) return std::string();
  // List is newest first: run the oldest.
  return queued.back().job_id();
}

absl::Status JobManager::RunLoop() {
  RETURN_IF_ERROR(RequeueInterrupted());
  UpdateJobCounts();
  while (!shutting_down_) {
    ASSIGN_OR_RETURN(std::string job_id, NextQueuedJob());
    if (job_id.empty()) {
      {
        absl::MutexLock lock(&mu_);
        if (!shutting_down_) wake_runner_.WaitWithTimeout(&mu_, options_.heartbeat_interval);
      }
      if (context_.trainer->world_size() > 1 && !shutting_down_) {
        RETURN_IF_ERROR(context_.trainer->Heartbeat());
      }
      continue;
    }
    ASSIGN_OR_RETURN(JobStatus job, context_.store->Get(job_id));
    auto spec = ParseJobSpec(job.spec_yaml(), job.name());
    if (!spec.ok()) {
      // Specs are validated at Submit; a store written by another version may still disagree.
      RETURN_IF_ERROR(context_.store->SetState(job_id, chord::v1::JOB_STATE_FAILED,
                                               std::string(spec.status().message())));
      continue;
    }
    RETURN_IF_ERROR(context_.store->SetState(job_id, chord::v1::JOB_STATE_RUNNING, ""));
    auto control = std::make_shared<JobControl>();
    {
      absl::MutexLock lock(&mu_);
      running_job_ = job_id;
      running_control_ = control;
    }
    UpdateJobCounts();
    NotifyEvents();
    ASSIGN_OR_RETURN(job, context_.store->Get(job_id));
    JobOutcome outcome = RunOne(job, *spec, control.get());
    {
      absl::MutexLock lock(&mu_);
      running_job_.clear();
      running_control_.reset();
    }
    if (shutting_down_ && outcome.state == chord::v1::JOB_STATE_CANCELLED &&
        control->reason() == kStoppedReason) {
      // Stopped by Shutdown(): leave it resumable.
      RETURN_IF_ERROR(
          context_.store->SetState(job_id, chord::v1::JOB_STATE_QUEUED, kStoppedReason));
    } else if (outcome.state == chord::v1::JOB_STATE_FAILED && context_.trainer->world_size() > 1 &&
               !context_.trainer->Heartbeat().ok()) {
      // The failure broke the rank group: the job resumes when the learner restarts (up to
      // --max_resumes times).
      RETURN_IF_ERROR(
          RequeueInterruptedJob(job_id, absl::StrCat("rank group failed: ", outcome.reason)));
      NotifyEvents();
      return absl::UnavailableError(absl::StrCat("rank group broken: ", outcome.reason));
    } else {
      RETURN_IF_ERROR(context_.store->SetState(job_id, outcome.state, outcome.reason));
    }
    UpdateJobCounts();
    NotifyEvents();
  }
  if (context_.trainer->world_size() > 1) {
    absl::Status status = context_.trainer->Shutdown();
    if (!status.ok()) spdlog::warn("telling ranks to stop: {}", status.ToString());
  }
  return absl::OkStatus();
}

void JobManager::Shutdown() {
  shutting_down_ = true;
  absl::MutexLock lock(&mu_);
  if (running_control_) running_control_->RequestCancel(kStoppedReason, /*checkpoint_first=*/true);
  wake_runner_.SignalAll();
  events_changed_.SignalAll();
}

}  // namespace chord::learner
