// The reward service's request checks (services/reward/reward_scorer.h, RewardScorer::Validate,
// then Score as the gRPC adapter calls it): the input is a chord.v1.ScoreRequest in protobuf text
// format. A refused batch is INVALID_ARGUMENT naming "items..."; a valid one is scored item by
// item: one result per item, in order, with the item's id, a score of 0 or 1 (minus the 0.1
// think penalty when asked for), and reasons that are valid UTF-8 of at most kMaxReasonBytes.

#include <google/protobuf/text_format.h>

#include "chord/v1/reward.pb.h"
#include "services/reward/reward_scorer.h"
#include "services/reward/think_format.h"
#include "services/reward/verifier_registry.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(reward_request) {
  static const chord::reward::RewardScorer* scorer = [] {
    chord::reward::RewardScorerOptions options;
    options.workers = 2;
    options.max_batch = 64;
    options.max_field_bytes = 4096;
    options.max_response_bytes = 4096;
    options.max_queued_items = 64;
    auto created = chord::reward::RewardScorer::Create(
        options, chord::reward::VerifierRegistry::CreateDefault(), nullptr);
    FUZZ_CHECK(created.ok(), created.status().ToString());
    return created->release();
  }();
  chord::v1::ScoreRequest request;
  google::protobuf::TextFormat::Parser parser;
  if (!parser.ParseFromString(std::string(chord::fuzz::AsText(data, size)), &request)) return;
  std::vector<chord::reward::ScoreItem> items;
  for (const chord::v1::ScoreItem& item : request.items()) {
    items.push_back(chord::reward::ScoreItem{item.id(), item.verifier(), item.prompt(),
                                             item.response(), item.reference(), item.meta_json()});
  }
  const absl::Status valid = scorer->Validate(items);
  absl::StatusOr<std::vector<chord::reward::ScoreResult>> results =
      scorer->Score(items, request.think_format_penalty());
  if (!valid.ok()) {
    FUZZ_CHECK(valid.code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(valid.message(), "items"),
               valid.ToString());
    FUZZ_CHECK(!results.ok() && results.status() == valid, "Score and Validate disagree");
    return;
  }
  FUZZ_CHECK(results.ok(), results.status().ToString());
  FUZZ_CHECK(results->size() == items.size(), "one result per item");
  for (size_t i = 0; i < items.size(); ++i) {
    const chord::reward::ScoreResult& r = (*results)[i];
    FUZZ_CHECK(r.id == items[i].id, "results out of order");
    const bool plain = r.score == 0.0 || r.score == 1.0;
    const bool penalised =
        request.think_format_penalty() && (r.score == chord::reward::kThinkFormatPenalty ||
                                           r.score == 1.0 + chord::reward::kThinkFormatPenalty);
    FUZZ_CHECK(plain || penalised, absl::StrCat("score ", r.score));
    FUZZ_CHECK(r.correct == (r.score > 0.5),
               absl::StrCat("score ", r.score, " correct ", r.correct));
    FUZZ_CHECK(chord::fuzz::IsValidUtf8(r.reason) && chord::fuzz::IsValidUtf8(r.extracted),
               "reason or extracted answer not valid UTF-8");
    FUZZ_CHECK(r.reason.size() <= chord::reward::kMaxReasonBytes &&
                   r.extracted.size() <= chord::reward::kMaxReasonBytes,
               "reason or extracted answer too long");
  }
}
