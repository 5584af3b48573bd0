#pragma once

// chord.v1.ExpertBufferService over the ExpertBuffer core: validate the request, convert it, call
// the core, convert the result, map the status with chord::rpc::ToGrpcStatus.
//
// The request handlers are plain functions over protos (no gRPC types), shared by the gRPC
// adapter and InProcessExpertBufferClient (in_process_client.h) so that both answer every request
// the same way. Errors name the offending field ("kind: ...", "n: ...", "cursor: ...").

#include "absl/status/status.h"
#include "chord/v1/expert_buffer.grpc.pb.h"
#include "common/rpc/security.h"
#include "services/expert_buffer/expert_buffer.h"

namespace chord::expert_buffer {

absl::Status HandleLoadDataset(ExpertBuffer& core, const chord::v1::LoadDatasetRequest& request,
                               chord::v1::LoadDatasetResponse* response);
absl::Status HandleSampleExpert(ExpertBuffer& core, const chord::v1::SampleRequest& request,
                                chord::v1::SampleExpertResponse* response);
absl::Status HandleSampleTasks(ExpertBuffer& core, const chord::v1::SampleRequest& request,
                               chord::v1::SampleTasksResponse* response);
absl::Status HandleReadTasks(ExpertBuffer& core, const chord::v1::ReadTasksRequest& request,
                             chord::v1::ReadTasksResponse* response);
absl::Status HandleStats(ExpertBuffer& core, const chord::v1::StatsRequest& request,
                         chord::v1::StatsResponse* response);

// The gRPC service. `core` is not owned and must outlive it. Thread-safe.
class ExpertBufferGrpcService final : public chord::v1::ExpertBufferService::Service {
 public:
  explicit ExpertBufferGrpcService(ExpertBuffer* core) : core_(core) {}

  grpc::Status LoadDataset(grpc::ServerContext* context,
                           const chord::v1::LoadDatasetRequest* request,
                           chord::v1::LoadDatasetResponse* response) override;
  grpc::Status SampleExpert(grpc::ServerContext* context, const chord::v1::SampleRequest* request,
                            chord::v1::SampleExpertResponse* response) override;
  grpc::Status SampleTasks(grpc::ServerContext* context, const chord::v1::SampleRequest* request,
                           chord::v1::SampleTasksResponse* response) override;
  grpc::Status ReadTasks(grpc::ServerContext* context, const chord::v1::ReadTasksRequest* request,
                         chord::v1::ReadTasksResponse* response) override;
  grpc::Status Stats(grpc::ServerContext* context, const chord::v1::StatsRequest* request,
                     chord::v1::StatsResponse* response) override;

 private:
  ExpertBuffer* core_;
};

// Roles of the ExpertBufferService's methods for the token check (common/rpc/security.h): every
// method is internal: the learner samples, and (re)loading a dataset changes what every job trains
// on.
inline rpc::MethodRoles ExpertBufferMethodRoles() {
  return {{std::string("/") + chord::v1::ExpertBufferService::service_full_name() + "/",
           rpc::Role::kInternal}};
}

}  // namespace chord::expert_buffer
