#pragma once

// Hands out weight versions that only ever increase, also across learner restarts (persisted in
// the state directory). Not thread-safe (the job runner's).

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace chord::learner {

class WeightVersionCounter {
 public:
  // Reads `path` (missing = start at 0). DATA_LOSS naming the file when it holds no version.
  static absl::StatusOr<std::unique_ptr<WeightVersionCounter>> Open(const std::string& path);
  // The next version (persisted atomically before it is returned).
  absl::StatusOr<int64_t> Next();
  int64_t last() const { return last_; }

 private:
  WeightVersionCounter(std::string path, int64_t last) : path_(std::move(path)), last_(last) {}
  std::string path_;
  int64_t last_;
};

}  // namespace chord::learner
