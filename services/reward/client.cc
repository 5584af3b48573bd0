#include "services/reward/client.h"

#include <utility>

#include "common/status/status_macros.h"

namespace chord::reward {

absl::StatusOr<std::unique_ptr<GrpcRewardClient>> GrpcRewardClient::Create(
    const std::string& address, const rpc::ClientOptions& options) {
  if (address.empty()) return absl::InvalidArgumentError("reward service address is empty");
  auto stub = v1::RewardService::NewStub(rpc::MakeChannel(address, options));
  return std::unique_ptr<GrpcRewardClient>(new GrpcRewardClient(options, std::move(stub)));
}

absl::StatusOr<std::vector<ScoreResult>> GrpcRewardClient::Score(
    const std::vector<RewardItem>& items, bool think_penalty) {
  v1::ScoreRequest request;
  request.set_think_format_penalty(think_penalty);
  request.mutable_items()->Reserve(static_cast<int>(items.size()));
  for (const RewardItem& item : items) {
    v1::ScoreItem* out = request.add_items();
    out->set_id(item.id);
    out->set_verifier(item.verifier);
    out->set_prompt(item.prompt);
    out->set_response(item.response);
    out->set_reference(item.reference);
    out->set_meta_json(item.meta_json);
  }
  v1::ScoreResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "Score", [&](grpc::ClientContext* context) {
    response.Clear();
    return stub_->Score(context, request, &response);
  }));
  std::vector<ScoreResult> results;
  results.reserve(response.results_size());
  for (v1::ScoreResult& result : *response.mutable_results()) {
    results.push_back(ScoreResult{std::move(*result.mutable_id()), result.score(), result.correct(),
                                  std::move(*result.mutable_reason()),
                                  std::move(*result.mutable_extracted())});
  }
  return results;
}

absl::StatusOr<std::vector<VerifierInfo>> GrpcRewardClient::ListVerifiers() {
  v1::ListVerifiersResponse response;
  RETURN_IF_ERROR(rpc::CallWithRetry(options_, "ListVerifiers", [&](grpc::ClientContext* context) {
    response.Clear();
    return stub_->ListVerifiers(context, v1::ListVerifiersRequest(), &response);
  }));
  std::vector<VerifierInfo> verifiers;
  for (const v1::VerifierInfo& info : response.verifiers()) {
    verifiers.push_back({info.name(), info.description()});
  }
  return verifiers;
}

absl::StatusOr<std::unique_ptr<InProcessRewardClient>> InProcessRewardClient::Create(
    const RewardScorerOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<RewardScorer> scorer,
                   RewardScorer::Create(options, VerifierRegistry::CreateDefault(), nullptr));
  auto client = std::make_unique<InProcessRewardClient>(scorer.get());
  client->owned_ = std::move(scorer);
  return client;
}

absl::StatusOr<std::vector<ScoreResult>> InProcessRewardClient::Score(
    const std::vector<RewardItem>& items, bool think_penalty) {
  std::vector<ScoreItem> views;
  views.reserve(items.size());
  for (const RewardItem& item : items) {
    views.push_back(ScoreItem{item.id, item.verifier, item.prompt, item.response, item.reference,
                              item.meta_json});
  }
  ASSIGN_OR_RETURN(std::vector<ScoreResult> results, scorer_->Score(views, think_penalty));
  // Same precision as the wire (ScoreResult.score is a float there).
  for (ScoreResult& result : results) result.score = static_cast<float>(result.score);
  return results;
}

absl::StatusOr<std::vector<VerifierInfo>> InProcessRewardClient::ListVerifiers() {
  std::vector<VerifierInfo> verifiers;
  for (const Verifier* verifier : scorer_->registry().List()) {
    verifiers.push_back({std::string(verifier->name()), std::string(verifier->description())});
  }
  return verifiers;
}

}  // namespace chord::reward
