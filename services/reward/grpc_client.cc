#include "services/reward/grpc_client.h"

#include <utility>

#include "common/status/status_macros.h"

namespace chord::reward {

absl::StatusOr<std::unique_ptr<GrpcRewardClient>> GrpcRewardClient::Create(
    const std::string& address, const rpc::ClientOptions& options) {
  if (address.empty()) return absl::InvalidArgumentError("reward service address is empty");
  auto stub = v1::RewardService::NewStub(rpc::MakeChannel(address, options));
  return std::unique_ptr<GrpcRewardClient>(new GrpcRewardClient(options, std::move(stub)));
}

absl::StatusOr<v1::ScoreResponse> GrpcRewardClient::Score(const v1::ScoreRequest& request) {
  v1::ScoreResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "Score", [&](grpc::ClientContext* context) {
    response.Clear();
    return stub_->Score(context, request, &response);
  }));
  return response;
}

absl::StatusOr<v1::ListVerifiersResponse> GrpcRewardClient::ListVerifiers() {
  v1::ListVerifiersResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "ListVerifiers", [&](grpc::ClientContext* context) {
    response.Clear();
    return stub_->ListVerifiers(context, v1::ListVerifiersRequest(), &response);
  }));
  return response;
}

}  // namespace chord::reward
