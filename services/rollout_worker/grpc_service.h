#pragma once

// chord.v1.RolloutService over the RolloutWorker core: validate the request's proto-only rules,
// convert it, call the core, convert the result; the adapter turns the RPC deadline into the
// core's deadline and client cancellation into its stop flag, and maps the status once with
// chord::rpc::ToGrpcStatus.
//
// The request handlers are plain functions over protos (no gRPC types), shared by the gRPC
// adapter and InProcessRolloutClient (in_process_client.h), so both answer every request the same
// way. Errors name the offending field: "prompts[2]: exactly one of token_ids, text, messages must
// be set (got none)", "sampling.top_p: 1.5 must be in (0, 1]", "samples_per_prompt: ...",
// "sequences[0].start: ...".
//
// Proto defaults applied here: sampling.temperature is 1.0 unless has_temperature is set or the
// value is non-zero (0 with has_temperature = greedy); top_p 0 means 1.0; max_new_tokens 0 means
// the worker's default; samples_per_prompt 0 means 1; ComputeLogprobs temperature 0 means 1.0.
// A chat message's `name` is not rendered (the built-in chat formats have no place for it).

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chord/v1/rollout.grpc.pb.h"
#include "common/rpc/security.h"
#include "services/rollout_worker/rollout_worker.h"

namespace chord::rollout_worker {

// Proto -> core conversions (INVALID_ARGUMENT naming the field for what the proto allows but the
// contract does not, e.g. a prompt with two forms).
absl::StatusOr<GenerateCall> GenerateCallFromProto(const chord::v1::GenerateRequest& request);
absl::StatusOr<LogprobsCall> LogprobsCallFromProto(
    const chord::v1::ComputeLogprobsRequest& request);

absl::Status HandleGenerate(RolloutWorker& worker, const chord::v1::GenerateRequest& request,
                            const CallControl& control, chord::v1::GenerateResponse* response);
absl::Status HandleComputeLogprobs(RolloutWorker& worker,
                                   const chord::v1::ComputeLogprobsRequest& request,
                                   const CallControl& control,
                                   chord::v1::ComputeLogprobsResponse* response);
void HandleGetStatus(const RolloutWorker& worker, chord::v1::GetStatusResponse* response);

// The gRPC service. `worker` is not owned and must outlive it. Thread-safe.
class RolloutGrpcService final : public chord::v1::RolloutService::Service {
 public:
  explicit RolloutGrpcService(RolloutWorker* worker) : worker_(worker) {}

  grpc::Status Generate(grpc::ServerContext* context, const chord::v1::GenerateRequest* request,
                        chord::v1::GenerateResponse* response) override;
  grpc::Status ComputeLogprobs(grpc::ServerContext* context,
                               const chord::v1::ComputeLogprobsRequest* request,
                               chord::v1::ComputeLogprobsResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const chord::v1::GetStatusRequest* request,
                         chord::v1::GetStatusResponse* response) override;

 private:
  RolloutWorker* worker_;
};

// Roles of the RolloutService's methods for the token check (common/rpc/security.h): every method
// is internal (the learner generates and scores log-probs).
inline rpc::MethodRoles RolloutMethodRoles() {
  return {{std::string("/") + chord::v1::RolloutService::service_full_name() + "/",
           rpc::Role::kInternal}};
}

}  // namespace chord::rollout_worker
