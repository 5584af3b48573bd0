#pragma once

// The random streams of a job, each derived from the job spec's `seed` so that they are
// independent of each other and a resumed job draws exactly what the uninterrupted one would
// have (docs/job-spec.md, `seed`). The offsets are primes, far apart.

#include <cstdint>

namespace chord::learner {

// Step and share multiplier: seeds per (seed, index) pairs are seed * kSeedStride + index.
inline constexpr uint64_t kSeedStride = 1000003;
// Offsets of the expert-row sampling and the evaluation's decoding from the job seed.
inline constexpr uint64_t kExpertSeedOffset = 7919;
inline constexpr uint64_t kEvalSeedOffset = 104729;

// The tasks' sampling order (the expert buffer's SampleTasks).
inline uint64_t TaskSamplingSeed(uint64_t job_seed) { return job_seed; }
// The expert rows' sampling order (SampleExpert).
inline uint64_t ExpertSamplingSeed(uint64_t job_seed) { return job_seed + kExpertSeedOffset; }
// The evaluation's decoding (greedy by default, where the seed does not matter).
inline uint64_t EvalSamplingSeed(uint64_t job_seed) { return job_seed + kEvalSeedOffset; }
// The rollouts of `step`: a resumed job regenerates the same samples from the same weights.
inline uint64_t RolloutSamplingSeed(uint64_t job_seed, int64_t step) {
  return job_seed * kSeedStride + static_cast<uint64_t>(step);
}
// The share of a generation request that starts at prompt `first_prompt` (distinct streams per
// share: a worker seeds by position within its request).
inline uint64_t ShareSamplingSeed(uint64_t request_seed, uint64_t first_prompt) {
  return request_seed * kSeedStride + first_prompt;
}

}  // namespace chord::learner
