#pragma once

// The client side of weight streaming: fetch a version, verify it, and (WeightFollower) keep
// installing each newer version in the background.
//
// FetchWeights() checks, before returning anything:
//  - the manifest is consistent (unique names, known dtypes, byte sizes matching shapes, offsets
//    back to back, total_bytes the sum, the requested version);
//  - chunks arrive in order (index and offset) with the stream's chunk size;
//  - every chunk's CRC-32C, every tensor's CRC-32C, the whole set's CRC-32C and total size.
// Any mismatch is DATA_LOSS naming the chunk or the tensor (and a truncated stream is DATA_LOSS).
// Each byte is read once after arrival: it is checksummed while being copied into its tensor.
//
//   ASSIGN_OR_RETURN(WeightSet weights, FetchWeights(channel, /*version=*/-1, FetchOptions()));

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/weights.grpc.pb.h"
#include "common/weights/weight_set.h"
#include "grpcpp/channel.h"

namespace chord::weights {
namespace internal {
class CallCanceller;
}  // namespace internal

struct FetchOptions {
  // Requested chunk size in bytes; 0 lets the server choose (4 MiB by default). The server clamps
  // it to its limits. Must stay below the channel's receive limit (64 MiB for rpc::MakeChannel).
  uint64_t chunk_bytes = 0;
  // Deadline of the whole fetch, retries included. Default 10 minutes.
  absl::Duration deadline = absl::Minutes(10);
  // Attempts in all; only UNAVAILABLE (server not reached or restarting) is retried, from the
  // start. Default 3.
  int max_attempts = 3;
  // If set, sent as "authorization: Bearer <token>". Default: none.
  std::string bearer_token;
};

// Fetches `version` (-1 = the newest) and returns it verified, as CPU contiguous tensors in
// manifest order. NOT_FOUND when the server no longer holds that version; DATA_LOSS on any
// verification failure; RESOURCE_EXHAUSTED when the tensors cannot be allocated;
// DEADLINE_EXCEEDED past options.deadline; other codes as the server or transport reports them.
// Error messages start with "FetchWeights: ".
absl::StatusOr<WeightSet> FetchWeights(chord::v1::WeightService::StubInterface& stub,
                                       int64_t version, const FetchOptions& options);
absl::StatusOr<WeightSet> FetchWeights(const std::shared_ptr<grpc::Channel>& channel,
                                       int64_t version, const FetchOptions& options);

// The newest version the server holds; -1 when nothing is published yet. `timeout` bounds the
// call including retries of UNAVAILABLE.
absl::StatusOr<int64_t> GetLatestVersion(chord::v1::WeightService::StubInterface& stub,
                                         absl::Duration timeout = absl::Seconds(10));
absl::StatusOr<int64_t> GetLatestVersion(const std::shared_ptr<grpc::Channel>& channel,
                                         absl::Duration timeout = absl::Seconds(10));

struct FollowerOptions {
  // Only versions newer than this are delivered; -1 (default) delivers the server's current
  // version first.
  int64_t after_version = -1;
  // Use GetVersion long polls (wait_for_newer_than) so a new version is seen as soon as it is
  // published. Default true. When false, or against a server that answers at once, GetVersion is
  // polled every `poll_interval`.
  bool long_poll = true;
  // How long one long poll may wait on the server. Default 30 s.
  absl::Duration long_poll_timeout = absl::Seconds(30);
  // Least time between two GetVersion calls that found nothing new. Default 500 ms.
  absl::Duration poll_interval = absl::Milliseconds(500);
  // After a failed GetVersion, fetch or callback the follower waits `poll_interval`, doubling
  // per consecutive failure up to this. Default 30 s.
  absl::Duration max_backoff = absl::Seconds(30);
  // Options of every fetch (chunk size, deadline, token). The token also goes on GetVersion.
  FetchOptions fetch;
};

// Follows a WeightService: on a background thread, learns of each newer version, fetches and
// verifies it, and hands it to `install`. Versions may be skipped (it always fetches the newest),
// never repeated or delivered out of order. When `install` fails, the version is not counted as
// installed and is fetched again after a backoff. Thread-safe.
class WeightFollower {
 public:
  // Installs a fetched set (e.g. swaps weights between generation batches). Runs on the
  // follower's thread; may block.
  using InstallFn = std::function<absl::Status(WeightSet&&)>;

  // Starts following `channel`. INVALID_ARGUMENT for a null channel or callback or non-positive
  // intervals.
  static absl::StatusOr<std::unique_ptr<WeightFollower>> Start(
      std::shared_ptr<grpc::Channel> channel, const FollowerOptions& options, InstallFn install);

  // Stop()s.
  ~WeightFollower();

  // Cancels the RPC in flight, waits for a running `install` to return and for the thread to
  // end. Idempotent. Must not be called from `install`.
  void Stop();

  // The newest version installed successfully; options.after_version before the first.
  int64_t installed_version() const;

  // Waits until a version >= `version` is installed (true), the timeout passes or the follower
  // stops first (false).
  bool WaitForVersion(int64_t version, absl::Duration timeout) const;

  // The last error (GetVersion, fetch or install); OK when the last attempt succeeded.
  absl::Status last_error() const;

 private:
  WeightFollower(std::shared_ptr<grpc::Channel> channel, const FollowerOptions& options,
                 InstallFn install);
  void Run();
  // One GetVersion call (a long poll when enabled) asking for a version newer than `after`.
  absl::StatusOr<int64_t> PollVersion(int64_t after);
  // Delay after `failures` consecutive failures.
  absl::Duration Backoff(int failures) const;
  // Sleeps up to `d`; false when stopped meanwhile.
  bool SleepUnlessStopped(absl::Duration d);
  bool stopped() const;
  void RecordError(const absl::Status& status);

  const FollowerOptions options_;
  const InstallFn install_;
  std::unique_ptr<chord::v1::WeightService::Stub> stub_;
  std::unique_ptr<internal::CallCanceller> canceller_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t installed_version_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::weights
