#pragma once

// JobService over gRPC: a thin adapter over JobManager (validate, call, map the status once).
// With an auth token configured every call must carry "authorization: Bearer <token>"
// (UNAUTHENTICATED otherwise). On ranks > 0 there is no manager and every call answers
// FAILED_PRECONDITION pointing at rank 0.

#include <string>

#include "chord/v1/learner.grpc.pb.h"
#include "services/learner/job_manager.h"

namespace chord::learner {

class JobServiceImpl final : public chord::v1::JobService::Service {
 public:
  // `manager` may be null (a rank > 0); not owned.
  JobServiceImpl(JobManager* manager, std::string auth_token, int rank)
      : manager_(manager), auth_token_(std::move(auth_token)), rank_(rank) {}

  grpc::Status Submit(grpc::ServerContext* context, const chord::v1::SubmitJobRequest* request,
                      chord::v1::SubmitJobResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const chord::v1::GetJobRequest* request,
                   chord::v1::JobStatus* response) override;
  grpc::Status List(grpc::ServerContext* context, const chord::v1::ListJobsRequest* request,
                    chord::v1::ListJobsResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const chord::v1::CancelJobRequest* request,
                      chord::v1::JobStatus* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const chord::v1::WatchJobRequest* request,
                     grpc::ServerWriter<chord::v1::JobEvent>* writer) override;

 private:
  // OK when the call may proceed (authorized, and this is rank 0).
  grpc::Status Admit(grpc::ServerContext* context) const;

  JobManager* manager_;
  std::string auth_token_;
  int rank_;
};

}  // namespace chord::learner
