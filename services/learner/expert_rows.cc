#include "services/learner/expert_rows.h"

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "services/learner/batch_builder.h"

namespace chord::learner {

absl::StatusOr<std::vector<algorithm::TrainingRow>> ExpertRowSampler::Sample(int64_t count,
                                                                             std::string* cursor) {
  std::vector<algorithm::TrainingRow> rows;
  for (int draw = 0; draw < kMaxDraws && static_cast<int64_t>(rows.size()) < count; ++draw) {
    chord::v1::SampleRequest sample;
    sample.set_dataset(dataset_);
    sample.set_n(static_cast<int32_t>(count - static_cast<int64_t>(rows.size())));
    sample.set_cursor(*cursor);
    sample.set_seed(seed_);
    ASSIGN_OR_RETURN(chord::v1::SampleExpertResponse response,
                     expert_buffer_->SampleExpert(sample));
    *cursor = response.next_cursor();
    std::vector<chord::v1::ExpertSample> samples(response.samples().begin(),
                                                 response.samples().end());
    ASSIGN_OR_RETURN(ExpertRows built,
                     BuildExpertRows(*tokenizer_, chat_format_, samples, max_sequence_length_));
    if (!built.skipped.empty() && log_) {
      log_(absl::StrCat("skipped ", built.skipped.size(),
                        " expert samples longer than the model's ", max_sequence_length_,
                        " positions (e.g. ", built.skipped.front(), ")"));
    }
    for (auto& row : built.rows) rows.push_back(std::move(row));
  }
  if (static_cast<int64_t>(rows.size()) < count) {
    return absl::FailedPreconditionError(absl::StrCat("datasets.expert: could not draw ", count,
                                                      " expert rows that fit the model's ",
                                                      max_sequence_length_, " positions"));
  }
  return rows;
}

}  // namespace chord::learner
