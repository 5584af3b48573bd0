#pragma once

// Clients of chord-reward. RewardClient is the interface other services (the learner's driver)
// and chordctl use; GrpcRewardClient talks to a running chord-reward; InProcessRewardClient
// scores with a real RewardScorer in the calling process (the fake for other services' tests,
// and chordctl's mode without --address).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "chord/v1/reward.grpc.pb.h"
#include "common/rpc/channel.h"
#include "services/reward/reward_scorer.h"

namespace chord::reward {

// One item to score, owning its strings.
struct RewardItem {
  std::string id;
  std::string verifier;
  std::string prompt;
  std::string response;
  std::string reference;
  std::string meta_json;
};

struct VerifierInfo {
  std::string name;
  std::string description;
};

class RewardClient {
 public:
  virtual ~RewardClient() = default;

  // Scores `items` (results in item order), applying the think-format penalty when asked.
  // INVALID_ARGUMENT naming the field for a bad batch (see RewardScorer::Validate); UNAVAILABLE
  // or DEADLINE_EXCEEDED when the service cannot be reached in time.
  virtual absl::StatusOr<std::vector<ScoreResult>> Score(const std::vector<RewardItem>& items,
                                                         bool think_penalty) = 0;

  // The registered verifiers, sorted by name.
  virtual absl::StatusOr<std::vector<VerifierInfo>> ListVerifiers() = 0;
};

// Calls RewardService over gRPC with Chord's retry policy (common/rpc/channel.h: every call has a
// deadline; only UNAVAILABLE is retried, Score being idempotent). Thread-safe.
class GrpcRewardClient final : public RewardClient {
 public:
  // A client for "host:port". INVALID_ARGUMENT when `address` is empty. Connects lazily.
  static absl::StatusOr<std::unique_ptr<GrpcRewardClient>> Create(
      const std::string& address, const rpc::ClientOptions& options = {});

  absl::StatusOr<std::vector<ScoreResult>> Score(const std::vector<RewardItem>& items,
                                                 bool think_penalty) override;
  absl::StatusOr<std::vector<VerifierInfo>> ListVerifiers() override;

 private:
  GrpcRewardClient(rpc::ClientOptions options, std::unique_ptr<v1::RewardService::Stub> stub)
      : options_(std::move(options)), stub_(std::move(stub)) {}

  rpc::ClientOptions options_;
  std::unique_ptr<v1::RewardService::Stub> stub_;
};

// Scores in-process with a real RewardScorer. Thread-safe.
class InProcessRewardClient final : public RewardClient {
 public:
  // Owns a scorer with the default verifiers and `options` (no metrics).
  static absl::StatusOr<std::unique_ptr<InProcessRewardClient>> Create(
      const RewardScorerOptions& options = {});

  // Uses `scorer`, which is not owned and must outlive the client.
  explicit InProcessRewardClient(const RewardScorer* scorer) : scorer_(scorer) {}

  absl::StatusOr<std::vector<ScoreResult>> Score(const std::vector<RewardItem>& items,
                                                 bool think_penalty) override;
  absl::StatusOr<std::vector<VerifierInfo>> ListVerifiers() override;

 private:
  std::unique_ptr<RewardScorer> owned_;
  const RewardScorer* scorer_ = nullptr;
};

}  // namespace chord::reward
