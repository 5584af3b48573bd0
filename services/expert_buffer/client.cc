#include "services/expert_buffer/client.h"

#include "absl/strings/str_cat.h"
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

absl::StatusOr<std::unique_ptr<GrpcExpertBufferClient>> GrpcExpertBufferClient::Create(
    const std::string& target, const rpc::ClientOptions& options) {
  if (target.empty()) return absl::InvalidArgumentError("target: must not be empty");
  auto channel = rpc::MakeChannel(target, options);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("target: cannot make a channel to ", target));
  }
  return std::unique_ptr<GrpcExpertBufferClient>(
      new GrpcExpertBufferClient(target, options, std::move(channel)));
}

GrpcExpertBufferClient::GrpcExpertBufferClient(std::string target, rpc::ClientOptions options,
                                               std::shared_ptr<grpc::Channel> channel)
    : target_(std::move(target)),
      options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(chord::v1::ExpertBufferService::NewStub(channel_)) {}

absl::Status GrpcExpertBufferClient::WaitForServing(absl::Duration timeout) {
  return rpc::WaitForServing(channel_, target_, timeout);
}

absl::StatusOr<LoadDatasetResponse> GrpcExpertBufferClient::LoadDataset(
    const LoadDatasetRequest& request) {
  LoadDatasetResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "LoadDataset", [&](grpc::ClientContext* ctx) {
    response.Clear();
    return stub_->LoadDataset(ctx, request, &response);
  }));
  return response;
}

absl::StatusOr<SampleExpertResponse> GrpcExpertBufferClient::SampleExpert(
    const SampleRequest& request) {
  SampleExpertResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "SampleExpert", [&](grpc::ClientContext* ctx) {
    response.Clear();
    return stub_->SampleExpert(ctx, request, &response);
  }));
  return response;
}

absl::StatusOr<SampleTasksResponse> GrpcExpertBufferClient::SampleTasks(
    const SampleRequest& request) {
  SampleTasksResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "SampleTasks", [&](grpc::ClientContext* ctx) {
    response.Clear();
    return stub_->SampleTasks(ctx, request, &response);
  }));
  return response;
}

absl::StatusOr<ReadTasksResponse> GrpcExpertBufferClient::ReadTasks(
    const ReadTasksRequest& request) {
  ReadTasksResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "ReadTasks", [&](grpc::ClientContext* ctx) {
    response.Clear();
    return stub_->ReadTasks(ctx, request, &response);
  }));
  return response;
}

absl::StatusOr<StatsResponse> GrpcExpertBufferClient::Stats(const StatsRequest& request) {
  StatsResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "Stats", [&](grpc::ClientContext* ctx) {
    response.Clear();
    return stub_->Stats(ctx, request, &response);
  }));
  return response;
}

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
