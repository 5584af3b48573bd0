#include "services/rollout_worker/in_process_client.h"

#include <utility>

#include "common/status/status_macros.h"
#include "services/rollout_worker/grpc_service.h"

namespace chord::rollout_worker {
namespace {

CallControl InProcessControl(const CallOptions& options) {
  CallControl control;
  if (options.timeout > absl::ZeroDuration()) control.deadline = absl::Now() + options.timeout;
  if (options.canceller != nullptr) {
    CallCanceller* canceller = options.canceller;
    control.cancelled = [canceller] { return canceller->cancelled(); };
  }
  return control;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InProcessRolloutClient>> InProcessRolloutClient::Create(
    const RolloutWorkerOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<RolloutWorker> worker, RolloutWorker::Create(options, nullptr));
  return std::make_unique<InProcessRolloutClient>(
      std::shared_ptr<RolloutWorker>(std::move(worker)));
}

absl::StatusOr<chord::v1::GenerateResponse> InProcessRolloutClient::Generate(
    const chord::v1::GenerateRequest& request, const CallOptions& options) {
  chord::v1::GenerateResponse response;
  RETURN_IF_ERROR(HandleGenerate(*worker_, request, InProcessControl(options), &response));
  return response;
}

absl::StatusOr<chord::v1::ComputeLogprobsResponse> InProcessRolloutClient::ComputeLogprobs(
    const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) {
  chord::v1::ComputeLogprobsResponse response;
  RETURN_IF_ERROR(HandleComputeLogprobs(*worker_, request, InProcessControl(options), &response));
  return response;
}

absl::StatusOr<chord::v1::GetStatusResponse> InProcessRolloutClient::GetStatus(
    const CallOptions& /*options*/) {
  chord::v1::GetStatusResponse response;
  HandleGetStatus(*worker_, &response);
  return response;
}

}  // namespace chord::rollout_worker
