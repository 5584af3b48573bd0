#pragma once

// The client interface of chord-reward, for the learner's driver, chordctl and tests. It speaks
// the wire messages (proto/chord/v1/reward.proto): one method per RPC, the request message in,
// absl::StatusOr of the response message out (docs/design.md, "Clients").
//
// Implementations:
//  - GrpcRewardClient (grpc_client.h): a running chord-reward over gRPC.
//  - FakeRewardClient (fake_client.h): scores with a function the test gives, scripted failures;
//    the fake for other services' unit tests (no verifier, no server).
//  - InProcessRewardClient (in_process_client.h): a real RewardScorer in this process behind the
//    same request handlers as the service (chordctl's `reward score` without --address).
//
//   chord::v1::ScoreRequest request;
//   chord::v1::ScoreItem* item = request.add_items();
//   item->set_id("t1#0");
//   item->set_verifier("math_boxed");
//   item->set_response("... \\boxed{42}");
//   item->set_reference("42");
//   ASSIGN_OR_RETURN(chord::v1::ScoreResponse scores, client->Score(request));

#include "absl/status/statusor.h"
#include "chord/v1/reward.pb.h"

namespace chord::reward {

// Thread-safe in every implementation.
class RewardClient {
 public:
  virtual ~RewardClient() = default;

  // Scores `request.items` (results in item order), with the think-format penalty when
  // `request.think_format_penalty`. INVALID_ARGUMENT naming the field for a bad batch
  // ("items[3].verifier: unknown ..."; see RewardScorer::Validate); UNAVAILABLE or
  // DEADLINE_EXCEEDED when the service cannot be reached in time.
  virtual absl::StatusOr<chord::v1::ScoreResponse> Score(
      const chord::v1::ScoreRequest& request) = 0;

  // The registered verifiers, sorted by name.
  virtual absl::StatusOr<chord::v1::ListVerifiersResponse> ListVerifiers() = 0;
};

}  // namespace chord::reward
