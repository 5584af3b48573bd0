#include "services/learner/grpc_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace chord::learner {
namespace {

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcJobClient>> GrpcJobClient::Create(
    const std::string& address, const rpc::ClientOptions& options) {
  if (address.empty()) return absl::InvalidArgumentError("learner address: empty");
  auto stub = chord::v1::JobService::NewStub(rpc::MakeChannel(address, options));
  return std::unique_ptr<GrpcJobClient>(new GrpcJobClient(options, std::move(stub)));
}

absl::StatusOr<chord::v1::SubmitJobResponse> GrpcJobClient::Submit(
    const chord::v1::SubmitJobRequest& request) {
  chord::v1::SubmitJobResponse response;
  absl::Status status = rpc::CallWithRetry(options_, "Submit", [&](grpc::ClientContext* ctx) {
    return stub_->Submit(ctx, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<chord::v1::JobStatus> GrpcJobClient::Get(const chord::v1::GetJobRequest& request) {
  chord::v1::JobStatus response;
  absl::Status status = rpc::CallWithRetry(options_, "Get", [&](grpc::ClientContext* ctx) {
    return stub_->Get(ctx, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<chord::v1::ListJobsResponse> GrpcJobClient::List(
    const chord::v1::ListJobsRequest& request) {
  chord::v1::ListJobsResponse response;
  absl::Status status = rpc::CallWithRetry(options_, "List", [&](grpc::ClientContext* ctx) {
    return stub_->List(ctx, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<chord::v1::JobStatus> GrpcJobClient::Cancel(
    const chord::v1::CancelJobRequest& request) {
  chord::v1::JobStatus response;
  absl::Status status = rpc::CallWithRetry(options_, "Cancel", [&](grpc::ClientContext* ctx) {
    return stub_->Cancel(ctx, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<chord::v1::JobStatus> GrpcJobClient::Resume(
    const chord::v1::ResumeJobRequest& request) {
  chord::v1::JobStatus response;
  absl::Status status = rpc::CallWithRetry(options_, "Resume", [&](grpc::ClientContext* ctx) {
    return stub_->Resume(ctx, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::Status GrpcJobClient::WatchOnce(
    const std::string& job_id, int64_t from_sequence, absl::Duration idle_stop,
    const std::function<bool(const chord::v1::JobEvent&)>& on_event, int64_t* last_sequence,
    bool* stopped) {
  grpc::ClientContext ctx;  // no deadline: the stream lasts as long as the job
  if (!options_.bearer_token.empty()) {
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
  }
  chord::v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_from_sequence(from_sequence);

  // The idle watchdog: cancels the stream once no event arrived for `idle_stop` (the first event
  // may take longer: connecting).
  absl::Mutex mu;
  absl::Time idle_deadline = absl::Now() + std::max(idle_stop * 4, absl::Seconds(3));
  bool done = false;
  bool idle_fired = false;
  std::thread watchdog;
  if (idle_stop > absl::ZeroDuration()) {
    watchdog = std::thread([&] {
      absl::MutexLock lock(&mu);
      while (!done) {
        absl::Time deadline = idle_deadline;
        auto wake = [&] { return done || idle_deadline != deadline; };
        if (!mu.AwaitWithDeadline(absl::Condition(&wake), deadline) && !done) {
          idle_fired = true;
          ctx.TryCancel();
          return;
        }
      }
    });
  }

  std::unique_ptr<grpc::ClientReader<chord::v1::JobEvent>> reader = stub_->Watch(&ctx, request);
  chord::v1::JobEvent event;
  bool user_stopped = false;
  while (reader->Read(&event)) {
    {
      absl::MutexLock lock(&mu);
      idle_deadline = absl::Now() + idle_stop;
    }
    if (event.sequence() <= *last_sequence) continue;  // replayed after a reconnect
    *last_sequence = event.sequence();
    if (!on_event(event)) {
      user_stopped = true;
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  if (watchdog.joinable()) watchdog.join();
  if (user_stopped || idle_fired) {
    *stopped = true;
    return absl::OkStatus();
  }
  return FromGrpc(status, "Watch");
}

absl::Status GrpcJobClient::Watch(const chord::v1::WatchJobRequest& request,
                                  const WatchOptions& options,
                                  const std::function<bool(const chord::v1::JobEvent&)>& on_event) {
  const std::string& job_id = request.job_id();
  int64_t last_sequence = request.from_sequence() > 0 ? request.from_sequence() - 1 : 0;
  absl::Duration backoff = absl::Milliseconds(200);
  absl::Time give_up = absl::InfiniteFuture();
  while (true) {
    int64_t before = last_sequence;
    bool stopped = false;
    absl::Status status =
        WatchOnce(job_id, last_sequence + 1, options.idle_stop, on_event, &last_sequence, &stopped);
    if (status.ok() || stopped) return status;
    if (status.code() != absl::StatusCode::kUnavailable) return status;
    // The learner went away (or is restarting): reconnect after the last delivered event.
    if (last_sequence != before || give_up == absl::InfiniteFuture()) {
      give_up = absl::Now() + options.reconnect_window;
      backoff = absl::Milliseconds(200);
    }
    if (absl::Now() + backoff >= give_up) return status;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(3));
  }
}

}  // namespace chord::learner
