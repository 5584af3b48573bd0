#include "services/expert_buffer/in_process_client.h"

#include "common/status/status_macros.h"
#include "services/expert_buffer/grpc_service.h"

namespace chord::expert_buffer {

using chord::v1::LoadDatasetRequest;
using chord::v1::LoadDatasetResponse;
using chord::v1::ReadTasksRequest;
using chord::v1::ReadTasksResponse;
using chord::v1::SampleExpertResponse;
using chord::v1::SampleRequest;
using chord::v1::SampleTasksResponse;
using chord::v1::StatsRequest;
using chord::v1::StatsResponse;

absl::StatusOr<std::unique_ptr<InProcessExpertBufferClient>> InProcessExpertBufferClient::Create(
    const ExpertBufferOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<ExpertBuffer> core, ExpertBuffer::Create(options, nullptr));
  return std::make_unique<InProcessExpertBufferClient>(
      std::shared_ptr<ExpertBuffer>(std::move(core)));
}

absl::StatusOr<LoadDatasetResponse> InProcessExpertBufferClient::LoadDataset(
    const LoadDatasetRequest& request) {
  LoadDatasetResponse response;
  RETURN_IF_ERROR(HandleLoadDataset(*core_, request, &response));
  return response;
}

absl::StatusOr<SampleExpertResponse> InProcessExpertBufferClient::SampleExpert(
    const SampleRequest& request) {
  SampleExpertResponse response;
  RETURN_IF_ERROR(HandleSampleExpert(*core_, request, &response));
  return response;
}

absl::StatusOr<SampleTasksResponse> InProcessExpertBufferClient::SampleTasks(
    const SampleRequest& request) {
  SampleTasksResponse response;
  RETURN_IF_ERROR(HandleSampleTasks(*core_, request, &response));
  return response;
}

absl::StatusOr<ReadTasksResponse> InProcessExpertBufferClient::ReadTasks(
    const ReadTasksRequest& request) {
  ReadTasksResponse response;
  RETURN_IF_ERROR(HandleReadTasks(*core_, request, &response));
  return response;
}

absl::StatusOr<StatsResponse> InProcessExpertBufferClient::Stats(const StatsRequest& request) {
  StatsResponse response;
  RETURN_IF_ERROR(HandleStats(*core_, request, &response));
  return response;
}

}  // namespace chord::expert_buffer
