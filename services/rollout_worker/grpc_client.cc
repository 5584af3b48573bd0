#include "services/rollout_worker/grpc_client.h"

#include <functional>
#include <utility>

#include "common/status/status_macros.h"

namespace chord::rollout_worker {
namespace {

// Runs one RPC attempt with `canceller` reaching its context.
grpc::Status Attempt(CallCanceller* canceller, grpc::ClientContext* context,
                     const std::function<grpc::Status()>& call) {
  if (canceller == nullptr) return call();
  if (!canceller->Register(context)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  }
  grpc::Status status = call();
  canceller->Unregister(context);
  return status;
}

}  // namespace

GrpcRolloutClient::GrpcRolloutClient(std::string target, rpc::ClientOptions options,
                                     std::shared_ptr<grpc::Channel> channel)
    : target_(std::move(target)),
      options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(chord::v1::RolloutService::NewStub(channel_)) {}

absl::StatusOr<std::unique_ptr<GrpcRolloutClient>> GrpcRolloutClient::Create(
    const std::string& target, const rpc::ClientOptions& options) {
  if (target.empty()) return absl::InvalidArgumentError("rollout worker address is empty");
  return std::unique_ptr<GrpcRolloutClient>(
      new GrpcRolloutClient(target, options, rpc::MakeChannel(target, options)));
}

absl::Status GrpcRolloutClient::WaitForServing(absl::Duration timeout) {
  return rpc::WaitForServing(channel_, target_, timeout);
}

rpc::ClientOptions GrpcRolloutClient::OptionsFor(const CallOptions& call) const {
  rpc::ClientOptions options = options_;
  if (call.timeout > absl::ZeroDuration()) {
    options.attempt_deadline = call.timeout;
    options.total_deadline = call.timeout;
  }
  return options;
}

absl::StatusOr<chord::v1::GenerateResponse> GrpcRolloutClient::Generate(
    const chord::v1::GenerateRequest& request, const CallOptions& options) {
  chord::v1::GenerateResponse response;
  RETURN_IF_ERROR(
      rpc::CallWithRetry(OptionsFor(options), "Generate", [&](grpc::ClientContext* context) {
        response.Clear();
        return Attempt(options.canceller, context,
                       [&] { return stub_->Generate(context, request, &response); });
      }));
  return response;
}

absl::StatusOr<chord::v1::ComputeLogprobsResponse> GrpcRolloutClient::ComputeLogprobs(
    const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) {
  chord::v1::ComputeLogprobsResponse response;
  RETURN_IF_ERROR(
      rpc::CallWithRetry(OptionsFor(options), "ComputeLogprobs", [&](grpc::ClientContext* context) {
        response.Clear();
        return Attempt(options.canceller, context,
                       [&] { return stub_->ComputeLogprobs(context, request, &response); });
      }));
  return response;
}

absl::StatusOr<chord::v1::GetStatusResponse> GrpcRolloutClient::GetStatus(
    const CallOptions& options) {
  chord::v1::GetStatusResponse response;
  RETURN_IF_ERROR(
      rpc::CallWithRetry(OptionsFor(options), "GetStatus", [&](grpc::ClientContext* context) {
        response.Clear();
        return Attempt(options.canceller, context, [&] {
          return stub_->GetStatus(context, chord::v1::GetStatusRequest(), &response);
        });
      }));
  return response;
}

}  // namespace chord::rollout_worker
