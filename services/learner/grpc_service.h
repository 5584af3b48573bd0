#pragma once

// JobService over gRPC: a thin adapter over JobManager (validate, call, map the status once).
// Tokens are checked before a call reaches it (common/rpc/security.h, JobServiceMethodRoles).
// On ranks > 0 there is no manager and every call answers
// FAILED_PRECONDITION pointing at rank 0.

#include <string>

#include "chord/v1/learner.grpc.pb.h"
#include "common/rpc/security.h"
#include "services/learner/job_manager.h"

namespace chord::learner {

class JobServiceImpl final : public chord::v1::JobService::Service {
 public:
  // `manager` may be null (a rank > 0); not owned.
  JobServiceImpl(JobManager* manager, int rank) : manager_(manager), rank_(rank) {}

  grpc::Status Submit(grpc::ServerContext* context, const chord::v1::SubmitJobRequest* request,
                      chord::v1::SubmitJobResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const chord::v1::GetJobRequest* request,
                   chord::v1::JobStatus* response) override;
  grpc::Status List(grpc::ServerContext* context, const chord::v1::ListJobsRequest* request,
                    chord::v1::ListJobsResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const chord::v1::CancelJobRequest* request,
                      chord::v1::JobStatus* response) override;
  grpc::Status Resume(grpc::ServerContext* context, const chord::v1::ResumeJobRequest* request,
                      chord::v1::JobStatus* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const chord::v1::WatchJobRequest* request,
                     grpc::ServerWriter<chord::v1::JobEvent>* writer) override;

 private:
  // OK when the call may proceed (this is rank 0).
  grpc::Status Admit() const;

  JobManager* manager_;
  int rank_;
};

// Roles of the JobService's methods for the token check (common/rpc/security.h): every method
// is a user method (chordctl submits, watches, cancels and resumes jobs with the user token).
inline rpc::MethodRoles JobServiceMethodRoles() {
  return {{std::string("/") + chord::v1::JobService::service_full_name() + "/", rpc::Role::kUser}};
}

}  // namespace chord::learner
