#pragma once

// Clients of chord-rollout-worker, for the learner's driver, chordctl and tests:
//  - RolloutClient: the interface (one method per RPC, absl::StatusOr results, per-call options).
//  - GrpcRolloutClient: the real thing over gRPC. Every call has a deadline (the per-call timeout,
//    else the client's rpc::ClientOptions); only UNAVAILABLE (worker not reached, or shutting
//    down before it took the request) is retried (chord::rpc::CallWithRetry). A CallCanceller
//    cancels calls in flight.
//  - InProcessRolloutClient: a real RolloutWorker core in this process, answering exactly as the
//    service would (the same request handlers): the fake for other services' tests.
//
//   ASSIGN_OR_RETURN(auto client, GrpcRolloutClient::Create("127.0.0.1:7003"));
//   chord::v1::GenerateRequest request;
//   request.add_prompts()->set_text("12+7=");
//   request.set_samples_per_prompt(8);
//   request.set_min_weight_version(step);
//   CallCanceller canceller;           // canceller.Cancel() from another thread stops the call
//   CallOptions options;
//   options.timeout = absl::Minutes(5);
//   options.canceller = &canceller;
//   ASSIGN_OR_RETURN(chord::v1::GenerateResponse response, client->Generate(request, options));

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/rollout.grpc.pb.h"
#include "common/rpc/channel.h"
#include "grpcpp/client_context.h"
#include "services/rollout_worker/rollout_worker.h"

namespace chord::rollout_worker {

// Cancels the calls that use it: those in flight when Cancel() is called and every later one
// (they fail at once with CANCELLED). Share one per unit of work (e.g. a training job) and cancel
// it when that work is abandoned. Thread-safe.
class CallCanceller {
 public:
  CallCanceller() = default;
  CallCanceller(const CallCanceller&) = delete;
  CallCanceller& operator=(const CallCanceller&) = delete;

  void Cancel();
  bool cancelled() const;

  // For client implementations: registers a call's context so that Cancel() reaches it; false
  // (and nothing registered) when already cancelled. Unregister before the context dies.
  bool Register(grpc::ClientContext* context);
  void Unregister(grpc::ClientContext* context);

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

struct CallOptions {
  // Deadline of the call, retries included; zero (default) = the client's default (for
  // GrpcRolloutClient its rpc::ClientOptions, 30 s per attempt and 60 s in all by default; for
  // InProcessRolloutClient none).
  absl::Duration timeout = absl::ZeroDuration();
  // Cancels the call when cancelled (not owned; must outlive the call). Default: none.
  CallCanceller* canceller = nullptr;
};

// Thread-safe in every implementation. Error codes as RolloutWorker's (rollout_worker.h), plus
// the transport's (UNAVAILABLE, DEADLINE_EXCEEDED) for GrpcRolloutClient.
class RolloutClient {
 public:
  virtual ~RolloutClient() = default;

  virtual absl::StatusOr<chord::v1::GenerateResponse> Generate(
      const chord::v1::GenerateRequest& request, const CallOptions& options) = 0;
  virtual absl::StatusOr<chord::v1::ComputeLogprobsResponse> ComputeLogprobs(
      const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) = 0;
  virtual absl::StatusOr<chord::v1::GetStatusResponse> GetStatus(const CallOptions& options) = 0;
};

class GrpcRolloutClient final : public RolloutClient {
 public:
  // A client of the worker at `target` ("host:port"). INVALID_ARGUMENT when empty. Connects
  // lazily: an unreachable worker shows up as UNAVAILABLE on the calls (after the retries).
  static absl::StatusOr<std::unique_ptr<GrpcRolloutClient>> Create(
      const std::string& target, const rpc::ClientOptions& options = rpc::ClientOptions());

  // Waits until the worker reports SERVING (DEADLINE_EXCEEDED after `timeout`).
  absl::Status WaitForServing(absl::Duration timeout);

  absl::StatusOr<chord::v1::GenerateResponse> Generate(const chord::v1::GenerateRequest& request,
                                                       const CallOptions& options) override;
  absl::StatusOr<chord::v1::ComputeLogprobsResponse> ComputeLogprobs(
      const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) override;
  absl::StatusOr<chord::v1::GetStatusResponse> GetStatus(const CallOptions& options) override;

 private:
  GrpcRolloutClient(std::string target, rpc::ClientOptions options,
                    std::shared_ptr<grpc::Channel> channel);
  // The client's options with `call`'s timeout applied.
  rpc::ClientOptions OptionsFor(const CallOptions& call) const;

  std::string target_;
  rpc::ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<chord::v1::RolloutService::Stub> stub_;
};

class InProcessRolloutClient final : public RolloutClient {
 public:
  // Owns a fresh worker built with `options` (no metrics).
  static absl::StatusOr<std::unique_ptr<InProcessRolloutClient>> Create(
      const RolloutWorkerOptions& options);

  // Uses `worker`, shared with the caller (e.g. a test that also installs weights).
  explicit InProcessRolloutClient(std::shared_ptr<RolloutWorker> worker)
      : worker_(std::move(worker)) {}

  RolloutWorker& worker() { return *worker_; }

  absl::StatusOr<chord::v1::GenerateResponse> Generate(const chord::v1::GenerateRequest& request,
                                                       const CallOptions& options) override;
  absl::StatusOr<chord::v1::ComputeLogprobsResponse> ComputeLogprobs(
      const chord::v1::ComputeLogprobsRequest& request, const CallOptions& options) override;
  absl::StatusOr<chord::v1::GetStatusResponse> GetStatus(const CallOptions& options) override;

 private:
  std::shared_ptr<RolloutWorker> worker_;
};

}  // namespace chord::rollout_worker
