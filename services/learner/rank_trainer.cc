#include "services/learner/rank_trainer.h"

#include <utility>

namespace chord::learner {

int64_t RankTrainer::max_sequence_length() const {
  LearnerRank& rank = ranks_->rank();
  return rank.has_model() ? rank.model().config().max_position_embeddings : 0;
}

absl::Status RankTrainer::PublishWeights(int64_t version) {
  weights::WeightSet set;
  set.version = version;
  set.tensors = ranks_->rank().NamedParameters();
  return publisher_->Publish(std::move(set));
}

}  // namespace chord::learner
