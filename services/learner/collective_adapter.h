#pragma once

// The learner rank's collectives over a c10d process group (common/dist):
//   - ProcessGroupCollective: algorithm::Collective (what RunTrainStep all-reduces through);
//   - BroadcastTensorsInBuckets: rank `root`'s tensors copied into every rank's (parameters at
//     start, parameters and optimizer state after a checkpoint load);
//   - ShareStatus: one rank's outcome of a local action (e.g. writing a checkpoint) made every
//     rank's, so a failure on the root fails all ranks at once instead of leaving them waiting.
// Every function here is collective (see process_group.h): all ranks call it in the same order
// with tensors of the same number, shapes and dtypes. Errors of the group (a peer that died or
// hung) are returned as the group reports them (UNAVAILABLE / DEADLINE_EXCEEDED naming the
// operation and the rank).

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "common/algorithm/collective.h"
#include "common/dist/process_group.h"

namespace chord::learner {

// algorithm::Collective over a dist::ProcessGroup (not owned; must outlive this object).
class ProcessGroupCollective final : public algorithm::Collective {
 public:
  explicit ProcessGroupCollective(dist::ProcessGroup* group) : group_(group) {}

  absl::Status AllReduceSum(std::vector<at::Tensor>& tensors) override;
  int rank() const override { return group_->rank(); }
  int world_size() const override { return group_->world_size(); }

 private:
  dist::ProcessGroup* const group_;
};

// Copies `root`'s tensors into the same tensors of every other rank, in place. Consecutive tensors
// of one dtype and device are packed into flat buffers of about `bucket_bytes` (a tensor larger
// than that travels alone), so a model of many small tensors needs few collective calls and
// little extra memory. Tensors may be non-contiguous (they are copied through the buffer). A no-op
// for a world of one. INTERNAL with context for a LibTorch error.
absl::Status BroadcastTensorsInBuckets(dist::ProcessGroup& group,
                                       const std::vector<at::Tensor>& tensors, int root,
                                       int64_t bucket_bytes);

// Returns `root`'s `status` on every rank (the other ranks' argument is ignored), after a
// collective exchange that doubles as a barrier. A failure of the exchange itself is returned
// instead.
absl::Status ShareStatus(dist::ProcessGroup& group, const absl::Status& status, int root);

}  // namespace chord::learner
