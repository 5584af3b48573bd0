#pragma once

// The one collective the training step needs: an in-place elementwise sum over data-parallel
// ranks. The learner adapts its c10d process group (common/dist) to this interface; this library
// ships a world-of-one implementation and an in-process group of threads (for tests and
// single-process simulations of several ranks).
//
// Contract (as c10d's): every rank makes the same calls in the same order with tensors of the same
// number, shapes and dtypes; after AllReduceSum returns OK every rank holds the same sums. Tensors
// must be contiguous.

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace chord::algorithm {

class Collective {
 public:
  virtual ~Collective() = default;

  // Replaces each tensor with the elementwise sum of that tensor over all ranks.
  virtual absl::Status AllReduceSum(std::vector<at::Tensor>& tensors) = 0;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
};

// A world of one rank: AllReduceSum leaves the tensors as they are.
class LocalCollective final : public Collective {
 public:
  absl::Status AllReduceSum(std::vector<at::Tensor>& tensors) override;
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
};

// `world_size` ranks in one process, one thread per rank: member(r) is rank r's Collective.
// AllReduceSum blocks until every rank has called it, then sums in rank order (0, 1, ...), so all
// ranks get bit-identical results. A call that waits longer than `timeout` for its peers fails
// with DEADLINE_EXCEEDED, and a mismatch in tensor count or shape fails with INVALID_ARGUMENT;
// either breaks the group (every later call fails with FAILED_PRECONDITION).
// Thread-safe across members; each member is driven by one thread at a time. The group must
// outlive its members' use.
class InProcessCollectiveGroup {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessCollectiveGroup>> Create(
      int world_size, absl::Duration timeout = absl::Seconds(60));

  InProcessCollectiveGroup(const InProcessCollectiveGroup&) = delete;
  InProcessCollectiveGroup& operator=(const InProcessCollectiveGroup&) = delete;
  ~InProcessCollectiveGroup();

  int world_size() const { return world_size_; }
  // 0 <= rank < world_size.
  Collective& member(int rank);

 private:
  class Member;

  InProcessCollectiveGroup(int world_size, absl::Duration timeout);
  absl::Status AllReduceSum(int rank, std::vector<at::Tensor>& tensors);

  const int world_size_;
  const absl::Duration timeout_;
  std::vector<std::unique_ptr<Member>> members_;

  absl::Mutex mu_;
  // Tensors deposited by each rank in the current round (empty vector: not yet arrived).
  std::vector<std::vector<at::Tensor>> deposits_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> arrived_ ABSL_GUARDED_BY(mu_);
  int num_arrived_ ABSL_GUARDED_BY(mu_) = 0;
  // The sums of the current round, once every rank arrived.
  std::vector<at::Tensor> result_ ABSL_GUARDED_BY(mu_);
  bool result_ready_ ABSL_GUARDED_BY(mu_) = false;
  int num_collected_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::algorithm
