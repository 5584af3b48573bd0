#include "services/expert_buffer/grpc_client.h"

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

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

}  // namespace chord::expert_buffer
