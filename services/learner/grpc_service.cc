#include "services/learner/grpc_service.h"

#include "absl/strings/str_cat.h"
#include "common/rpc/grpc_status.h"

namespace chord::learner {
namespace {

grpc::Status InvalidArgument(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

}  // namespace

grpc::Status JobServiceImpl::Admit() const {
  if (manager_ == nullptr) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("this is learner rank ", rank_, "; the job service runs on rank 0"));
  }
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::Submit(grpc::ServerContext* /*context*/,
                                    const chord::v1::SubmitJobRequest* request,
                                    chord::v1::SubmitJobResponse* response) {
  if (grpc::Status admit = Admit(); !admit.ok()) return admit;
  if (request->spec_yaml().empty()) return InvalidArgument("spec_yaml: empty job spec");
  if (request->spec_yaml().size() > kMaxSpecBytes) {
    return InvalidArgument(absl::StrCat("spec_yaml: larger than ", kMaxSpecBytes >> 20, " MiB"));
  }
  if (request->request_id().size() > kMaxRequestIdBytes) {
    return InvalidArgument(absl::StrCat("request_id: longer than ", kMaxRequestIdBytes));
  }
  auto job = manager_->Submit(request->spec_yaml(), request->request_id(), request->spec_source());
  if (!job.ok()) return rpc::ToGrpcStatus(job.status());
  response->set_job_id(job->job_id());
  *response->mutable_status() = *job;
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::Get(grpc::ServerContext* /*context*/,
                                 const chord::v1::GetJobRequest* request,
                                 chord::v1::JobStatus* response) {
  if (grpc::Status admit = Admit(); !admit.ok()) return admit;
  if (request->job_id().empty()) return InvalidArgument("job_id: required");
  auto job = manager_->Get(request->job_id());
  if (!job.ok()) return rpc::ToGrpcStatus(job.status());
  *response = *job;
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::List(grpc::ServerContext* /*context*/,
                                  const chord::v1::ListJobsRequest* request,
                                  chord::v1::ListJobsResponse* response) {
  if (grpc::Status admit = Admit(); !admit.ok()) return admit;
  if (request->limit() < 0) return InvalidArgument("limit: must be >= 0");
  auto jobs = manager_->List(request->limit(), request->state());
  if (!jobs.ok()) return rpc::ToGrpcStatus(jobs.status());
  for (auto& job : *jobs) *response->add_jobs() = std::move(job);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::Cancel(grpc::ServerContext* /*context*/,
                                    const chord::v1::CancelJobRequest* request,
                                    chord::v1::JobStatus* response) {
  if (grpc::Status admit = Admit(); !admit.ok()) return admit;
  if (request->job_id().empty()) return InvalidArgument("job_id: required");
  auto job = manager_->Cancel(request->job_id(), request->reason());
  if (!job.ok()) return rpc::ToGrpcStatus(job.status());
  *response = *job;
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::Resume(grpc::ServerContext* /*context*/,
                                    const chord::v1::ResumeJobRequest* request,
                                    chord::v1::JobStatus* response) {
  if (grpc::Status admit = Admit(); !admit.ok()) return admit;
  if (request->job_id().empty()) return InvalidArgument("job_id: required");
  if (request->reason().size() > kMaxResumeReasonBytes) {
    return InvalidArgument(absl::StrCat("reason: longer than ", kMaxResumeReasonBytes));
  }
  auto job = manager_->Resume(request->job_id(), request->reason());
  if (!job.ok()) return rpc::ToGrpcStatus(job.status());
  *response = *job;
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::Watch(grpc::ServerContext* context,
                                   const chord::v1::WatchJobRequest* request,
                                   grpc::ServerWriter<chord::v1::JobEvent>* writer) {
  if (grpc::Status admit = Admit(); !admit.ok()) return admit;
  if (request->job_id().empty()) return InvalidArgument("job_id: required");
  if (request->from_sequence() < 0) return InvalidArgument("from_sequence: must be >= 0");
  absl::Status status = manager_->Watch(
      request->job_id(), request->from_sequence(),
      [writer](const chord::v1::JobEvent& event) { return writer->Write(event); },
      [context] { return context->IsCancelled(); });
  return rpc::ToGrpcStatus(status);
}

}  // namespace chord::learner
