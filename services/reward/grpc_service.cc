#include "services/reward/grpc_service.h"

#include <string>
#include <vector>

#include "common/rpc/grpc_status.h"

namespace chord::reward {

grpc::Status RewardGrpcService::Score(grpc::ServerContext* context,
                                      const chord::v1::ScoreRequest* request,
                                      chord::v1::ScoreResponse* response) {
  std::vector<ScoreItem> items;
  items.reserve(request->items_size());
  for (const chord::v1::ScoreItem& item : request->items()) {
    items.push_back(ScoreItem{item.id(), item.verifier(), item.prompt(), item.response(),
                              item.reference(), item.meta_json()});
  }
  // A client that gave up (cancelled, or its deadline passed) stops the rest of the work.
  absl::StatusOr<std::vector<ScoreResult>> results = scorer_->Score(
      items, request->think_format_penalty(), [context] { return context->IsCancelled(); });
  if (!results.ok()) return rpc::ToGrpcStatus(results.status());
  response->mutable_results()->Reserve(static_cast<int>(results->size()));
  for (ScoreResult& result : *results) {
    chord::v1::ScoreResult* out = response->add_results();
    out->set_id(std::move(result.id));
    out->set_score(static_cast<float>(result.score));
    out->set_correct(result.correct);
    out->set_reason(std::move(result.reason));
    out->set_extracted(std::move(result.extracted));
  }
  return grpc::Status::OK;
}

grpc::Status RewardGrpcService::ListVerifiers(grpc::ServerContext* /*context*/,
                                              const chord::v1::ListVerifiersRequest* /*request*/,
                                              chord::v1::ListVerifiersResponse* response) {
  for (const Verifier* verifier : scorer_->registry().List()) {
    chord::v1::VerifierInfo* info = response->add_verifiers();
    info->set_name(std::string(verifier->name()));
    info->set_description(std::string(verifier->description()));
  }
  return grpc::Status::OK;
}

}  // namespace chord::reward
