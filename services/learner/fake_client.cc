#include "services/learner/fake_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/status_macros.h"

namespace chord::learner {
namespace {

bool IsFinal(chord::v1::JobState state) {
  return state == chord::v1::JOB_STATE_SUCCEEDED || state == chord::v1::JOB_STATE_FAILED ||
         state == chord::v1::JOB_STATE_CANCELLED;
}

absl::Status UnknownJob(absl::string_view method, absl::string_view job_id) {
  return absl::NotFoundError(absl::StrCat(method, ": job ", job_id, " not found"));
}

}  // namespace

void FakeJobClient::Record(Job& job, chord::v1::JobEvent event) {
  event.set_job_id(job.status.job_id());
  event.set_sequence(static_cast<int64_t>(job.events.size()) + 1);
  event.set_unix_ms(absl::ToUnixMillis(absl::Now()));
  if (event.type() == chord::v1::JOB_EVENT_STEP) {
    job.status.set_step(event.step());
    for (const auto& [name, value] : event.metrics()) (*job.status.mutable_metrics())[name] = value;
  }
  if (event.type() == chord::v1::JOB_EVENT_CHECKPOINT) job.status.add_checkpoints(event.message());
  job.events.push_back(std::move(event));
}

absl::Status FakeJobClient::AppendEvent(const std::string& job_id, chord::v1::JobEvent event) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return UnknownJob("AppendEvent", job_id);
  Record(it->second, std::move(event));
  return absl::OkStatus();
}

absl::Status FakeJobClient::SetState(const std::string& job_id, chord::v1::JobState state,
                                     const std::string& reason) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return UnknownJob("SetState", job_id);
  it->second.status.set_state(state);
  it->second.status.set_reason(reason);
  chord::v1::JobEvent event;
  event.set_type(chord::v1::JOB_EVENT_STATE);
  event.set_state(state);
  event.set_message(reason);
  Record(it->second, std::move(event));
  return absl::OkStatus();
}

absl::StatusOr<chord::v1::SubmitJobResponse> FakeJobClient::Submit(
    const chord::v1::SubmitJobRequest& request) {
  RETURN_IF_ERROR(failures_.Take("Submit"));
  absl::MutexLock lock(&mu_);
  chord::v1::SubmitJobResponse response;
  if (!request.request_id().empty()) {
    auto seen = by_request_.find(request.request_id());
    if (seen != by_request_.end()) {
      response.set_job_id(seen->second);
      *response.mutable_status() = jobs_[seen->second].status;
      return response;
    }
  }
  std::string id = absl::StrCat("job-", order_.size() + 1);
  Job& job = jobs_[id];
  job.status.set_job_id(id);
  job.status.set_name(request.spec_source().empty() ? "fake" : request.spec_source());
  job.status.set_state(chord::v1::JOB_STATE_QUEUED);
  job.status.set_spec_yaml(request.spec_yaml());
  job.status.set_created_unix_ms(absl::ToUnixMillis(absl::Now()));
  chord::v1::JobEvent queued;
  queued.set_type(chord::v1::JOB_EVENT_STATE);
  queued.set_state(chord::v1::JOB_STATE_QUEUED);
  Record(job, std::move(queued));
  order_.push_back(id);
  if (!request.request_id().empty()) by_request_[request.request_id()] = id;
  response.set_job_id(id);
  *response.mutable_status() = job.status;
  return response;
}

absl::StatusOr<chord::v1::JobStatus> FakeJobClient::Get(const chord::v1::GetJobRequest& request) {
  RETURN_IF_ERROR(failures_.Take("Get"));
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end()) return UnknownJob("Get", request.job_id());
  return it->second.status;
}

absl::StatusOr<chord::v1::ListJobsResponse> FakeJobClient::List(
    const chord::v1::ListJobsRequest& request) {
  RETURN_IF_ERROR(failures_.Take("List"));
  absl::MutexLock lock(&mu_);
  chord::v1::ListJobsResponse response;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    if (request.limit() > 0 && response.jobs_size() >= request.limit()) break;
    const chord::v1::JobStatus& status = jobs_[*it].status;
    if (request.state() != chord::v1::JOB_STATE_UNSPECIFIED && status.state() != request.state()) {
      continue;
    }
    *response.add_jobs() = status;
  }
  return response;
}

absl::StatusOr<chord::v1::JobStatus> FakeJobClient::Cancel(
    const chord::v1::CancelJobRequest& request) {
  RETURN_IF_ERROR(failures_.Take("Cancel"));
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end()) return UnknownJob("Cancel", request.job_id());
  Job& job = it->second;
  if (!IsFinal(job.status.state())) {
    std::string reason = request.reason().empty() ? "cancelled by user" : request.reason();
    job.status.set_state(chord::v1::JOB_STATE_CANCELLED);
    job.status.set_reason(reason);
    chord::v1::JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_STATE);
    event.set_state(chord::v1::JOB_STATE_CANCELLED);
    event.set_message(reason);
    Record(job, std::move(event));
  }
  return job.status;
}

absl::StatusOr<chord::v1::JobStatus> FakeJobClient::Resume(
    const chord::v1::ResumeJobRequest& request) {
  RETURN_IF_ERROR(failures_.Take("Resume"));
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end()) return UnknownJob("Resume", request.job_id());
  Job& job = it->second;
  const chord::v1::JobState state = job.status.state();
  if (state == chord::v1::JOB_STATE_SUCCEEDED) {
    return absl::FailedPreconditionError(
        absl::StrCat("Resume: job ", request.job_id(), " is ", chord::v1::JobState_Name(state),
                     ": only a FAILED or CANCELLED job can be resumed (submit a new job to train "
                     "further)"));
  }
  if (state == chord::v1::JOB_STATE_FAILED || state == chord::v1::JOB_STATE_CANCELLED) {
    job.status.set_state(chord::v1::JOB_STATE_QUEUED);
    job.status.clear_reason();
    job.status.set_finished_unix_ms(0);
    job.status.set_resume_count(job.status.resume_count() + 1);
    chord::v1::JobEvent event;
    event.set_type(chord::v1::JOB_EVENT_STATE);
    event.set_state(chord::v1::JOB_STATE_QUEUED);
    event.set_step(job.status.step());
    event.set_message(request.reason().empty()
                          ? std::string("resumed by request")
                          : absl::StrCat("resumed by request: ", request.reason()));
    Record(job, std::move(event));
  }
  return job.status;
}

absl::Status FakeJobClient::Watch(const chord::v1::WatchJobRequest& request,
                                  const WatchOptions& options,
                                  const std::function<bool(const chord::v1::JobEvent&)>& on_event) {
  RETURN_IF_ERROR(failures_.Take("Watch"));
  size_t next = static_cast<size_t>(std::max<int64_t>(request.from_sequence(), 1) - 1);
  absl::Time idle_since = absl::Now();
  while (true) {
    std::vector<chord::v1::JobEvent> batch;
    bool final = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = jobs_.find(request.job_id());
      if (it == jobs_.end()) return UnknownJob("Watch", request.job_id());
      auto has_news = [&] { return it->second.events.size() > next; };
      if (!has_news()) {
        mu_.AwaitWithTimeout(absl::Condition(&has_news), absl::Milliseconds(20));
      }
      const Job& job = it->second;
      batch.assign(
          job.events.begin() + static_cast<std::ptrdiff_t>(std::min(next, job.events.size())),
          job.events.end());
      next = job.events.size();
      final = IsFinal(job.status.state());
    }
    for (const chord::v1::JobEvent& event : batch) {
      if (!on_event(event)) return absl::OkStatus();
    }
    if (final) return absl::OkStatus();
    if (!batch.empty()) idle_since = absl::Now();
    if (options.idle_stop > absl::ZeroDuration() && absl::Now() - idle_since >= options.idle_stop) {
      return absl::OkStatus();
    }
  }
}

}  // namespace chord::learner
