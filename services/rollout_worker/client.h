#pragma once

// The client interface of chord-rollout-worker, for the learner's driver, chordctl and tests. It
// speaks the wire messages (proto/chord/v1/rollout.proto): one method per RPC, the request message
// and per-call options in, absl::StatusOr of the response message out (docs/design.md,
// "Clients").
//
// Implementations:
//  - GrpcRolloutClient (grpc_client.h): the worker over gRPC. Every call has a deadline (the
//    per-call timeout, else the client's rpc::ClientOptions); only UNAVAILABLE (worker not
//    reached, or shutting down before it took the request) is retried (chord::rpc::CallWithRetry).
//  - FakeRolloutClient (fake_client.h): completions from a function the test gives, a weight
//    version the test moves, scripted failures; the fake for other services' unit tests.
//  - InProcessRolloutClient (in_process_client.h): a real RolloutWorker core in this process
//    behind the same request handlers as the service.
// A CallCanceller cancels calls in flight in every implementation.
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

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/rollout.pb.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

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

  // For gRPC client implementations: registers a call's context so that Cancel() reaches it;
  // false (and nothing registered) when already cancelled. Unregister before the context dies.
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
  // the in-process clients none).
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

}  // namespace chord::rollout_worker
