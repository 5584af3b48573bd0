#pragma once

// Keeps a RolloutWorker on the newest published weights: a WeightFollower (common/weights) on a
// WeightService address, starting after the worker's current version, whose install callback is
// RolloutWorker::InstallWeights (so a fetched version is swapped in between requests, and the
// callback returns once it is installed or refused: at most one fetched copy is held besides the
// model). Every successful FetchWeights stream on its channel is timed into
// chord_rollout_weight_fetch_seconds.
//
//   WeightSyncOptions options;
//   options.address = "learner:7100";
//   ASSIGN_OR_RETURN(auto sync, WeightSync::Start(worker.get(), options, &metrics));
//   ...
//   worker->Shutdown(grace);   // releases an install callback that waits
//   sync->Stop();

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rpc/channel.h"
#include "common/weights/weight_fetcher.h"
#include "grpcpp/channel.h"
#include "services/rollout_worker/metrics.h"
#include "services/rollout_worker/rollout_worker.h"

namespace chord::rollout_worker {

struct WeightSyncOptions {
  // "host:port" of the WeightService to follow. Required.
  std::string address;
  // Long poll, poll interval, backoff and fetch options (chunk size, deadline, bearer token).
  // after_version is ignored: the worker's current version is used. Defaults: those of
  // weights::FollowerOptions.
  weights::FollowerOptions follower;
  // Message limits of the channel (max_message_bytes must admit the fetch's chunk size; the
  // default 64 MiB does). Only max_message_bytes is used.
  rpc::ClientOptions channel;
};

// A channel to `address` with rpc::MakeChannel's settings that calls `on_fetch(seconds)` after
// every FetchWeights stream that ends OK (from its first message to its final status).
std::shared_ptr<grpc::Channel> MakeTimedWeightChannel(const std::string& address,
                                                      const rpc::ClientOptions& options,
                                                      std::function<void(double)> on_fetch);

class WeightSync {
 public:
  // Starts following. `worker` (and `metrics`, which may be null) must outlive the WeightSync.
  // INVALID_ARGUMENT for an empty address or a null worker, and the follower's own checks.
  static absl::StatusOr<std::unique_ptr<WeightSync>> Start(RolloutWorker* worker,
                                                           const WeightSyncOptions& options,
                                                           RolloutMetrics* metrics);
  // Stop()s.
  ~WeightSync();

  // Cancels the fetch in flight and joins the follower (an install callback in progress returns
  // first: call RolloutWorker::Shutdown before, or let the generation thread finish it).
  // Idempotent.
  void Stop();

  // The follower's last GetVersion / fetch / install error; OK after a success.
  absl::Status last_error() const;

 private:
  explicit WeightSync(std::unique_ptr<weights::WeightFollower> follower)
      : follower_(std::move(follower)) {}

  std::unique_ptr<weights::WeightFollower> follower_;
};

}  // namespace chord::rollout_worker
