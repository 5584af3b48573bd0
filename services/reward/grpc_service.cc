#include "services/reward/grpc_service.h"

#include <string>
#include <utility>
#include <vector>

#include "common/rpc/grpc_status.h"

namespace chord::reward {

absl::Status HandleScore(const RewardScorer& scorer, const chord::v1::ScoreRequest& request,
                         const std::function<bool()>& cancelled,
                         chord::v1::ScoreResponse* response) {
  std::vector<ScoreItem> items;
  items.reserve(request.items_size());
  for (const chord::v1::ScoreItem& item : request.items()) {
    items.push_back(ScoreItem{item.id(), item.verifier(), item.prompt(), item.response(),
                              item.reference(), item.meta_json()});
  }
  absl::StatusOr<std::vector<ScoreResult>> results =
      scorer.Score(items, request.think_format_penalty(), cancelled);
  if (!results.ok()) return results.status();
  response->mutable_results()->Reserve(static_cast<int>(results->size()));
  for (ScoreResult& result : *results) {
    chord::v1::ScoreResult* out = response->add_results();
    out->set_id(std::move(result.id));
    out->set_score(static_cast<float>(result.score));
    out->set_correct(result.correct);
    out->set_reason(std::move(result.reason));
    out->set_extracted(std::move(result.extracted));
  }
  return absl::OkStatus();
}

void HandleListVerifiers(const RewardScorer& scorer, chord::v1::ListVerifiersResponse* response) {
  for (const Verifier* verifier : scorer.registry().List()) {
    chord::v1::VerifierInfo* info = response->add_verifiers();
    info->set_name(std::string(verifier->name()));
    info->set_description(std::string(verifier->description()));
  }
}

grpc::Status RewardGrpcService::Score(grpc::ServerContext* context,
                                      const chord::v1::ScoreRequest* request,
                                      chord::v1::ScoreResponse* response) {
  // A client that gave up (cancelled, or its deadline passed) stops the rest of the work.
  return rpc::ToGrpcStatus(HandleScore(
      *scorer_, *request, [context] { return context->IsCancelled(); }, response));
}

grpc::Status RewardGrpcService::ListVerifiers(grpc::ServerContext* /*context*/,
                                              const chord::v1::ListVerifiersRequest* /*request*/,
                                              chord::v1::ListVerifiersResponse* response) {
  HandleListVerifiers(*scorer_, response);
  return grpc::Status::OK;
}

}  // namespace chord::reward
