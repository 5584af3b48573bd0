#pragma once

// Draws a step's expert rows: demonstrations from the expert buffer (SampleExpert from the expert
// cursor), chat-formatted into training rows with the loss on the last assistant turn
// (BuildExpertRows). Demonstrations longer than the model's positions are skipped (logged) and
// drawn again, a bounded number of times.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/algorithm/micro_batch.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "services/expert_buffer/client.h"

namespace chord::learner {

class ExpertRowSampler {
 public:
  // Draws of one Sample call at most (each after the previous one skipped samples).
  static constexpr int kMaxDraws = 8;

  // `expert_buffer` and `tokenizer` are not owned and must outlive the sampler. `seed` is the
  // SampleExpert seed (ExpertSamplingSeed of the job's); `log` (may be null) receives a line per
  // draw that skipped samples.
  ExpertRowSampler(expert_buffer::ExpertBufferClient* expert_buffer, std::string dataset,
                   uint64_t seed, const tokenizer::Tokenizer* tokenizer,
                   tokenizer::ChatFormat chat_format, int64_t max_sequence_length,
                   std::function<void(const std::string&)> log)
      : expert_buffer_(expert_buffer),
        dataset_(std::move(dataset)),
        seed_(seed),
        tokenizer_(tokenizer),
        chat_format_(chat_format),
        max_sequence_length_(max_sequence_length),
        log_(std::move(log)) {}

  // `count` rows drawn from `*cursor` on; *cursor is advanced past every sample drawn. The expert
  // buffer's errors unchanged; FAILED_PRECONDITION "datasets.expert: could not draw ..." when
  // kMaxDraws draws do not give `count` rows that fit.
  absl::StatusOr<std::vector<algorithm::TrainingRow>> Sample(int64_t count, std::string* cursor);

 private:
  expert_buffer::ExpertBufferClient* expert_buffer_;
  std::string dataset_;
  uint64_t seed_;
  const tokenizer::Tokenizer* tokenizer_;
  tokenizer::ChatFormat chat_format_;
  int64_t max_sequence_length_;
  std::function<void(const std::string&)> log_;
};

}  // namespace chord::learner
