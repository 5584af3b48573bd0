#pragma once

// A data-parallel group of learner ranks over PyTorch's c10d: ProcessGroupGloo for CPU tensors
// and, in builds with -DCHORD_WITH_CUDA=ON, ProcessGroupNCCL for CUDA tensors. Ranks meet through
// a c10d TCPStore hosted by rank 0 at MASTER_ADDR:MASTER_PORT (torchrun's contract).
//
// Every call is collective: all ranks must make the same calls in the same order with tensors of
// the same shapes and dtypes. Every call fails with DEADLINE_EXCEEDED after `timeout` when a peer
// hangs, and with UNAVAILABLE soon after a peer dies, naming the operation and the rank; after a
// failure the group is unusable (the caller fails the step and the job).
//
// Not thread-safe: one thread drives the group.

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dist/dist_options.h"

namespace chord::dist {

class ProcessGroup {
 public:
  // Rendezvous with the other ranks (blocks until all `world_size` ranks joined or `timeout`).
  // A world of size 1 needs no store and no peers.
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> Create(const DistOptions& options);

  ~ProcessGroup();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  const DistOptions& options() const { return options_; }

  // Replaces each tensor with the elementwise sum over ranks. Tensors must be contiguous; CPU
  // tensors go through Gloo, CUDA tensors through NCCL.
  absl::Status AllReduceSum(std::vector<at::Tensor>& tensors);

  // Copies `root`'s tensors into every rank's tensors (same shapes on all ranks).
  absl::Status Broadcast(std::vector<at::Tensor>& tensors, int root);

  // Sends `root`'s bytes to every rank (any length; other ranks' input is replaced).
  absl::Status BroadcastBytes(std::string* bytes, int root);

  // Returns when every rank has called it.
  absl::Status Barrier();

 private:
  struct Impl;
  ProcessGroup(DistOptions options, std::unique_ptr<Impl> impl);

  DistOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chord::dist
