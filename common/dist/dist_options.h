#pragma once

// How a learner rank joins its data-parallel group: torchrun's environment contract.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace chord::dist {

enum class Backend {
  kGloo,  // CPU tensors over TCP (always available).
  kNccl,  // CUDA tensors (builds with -DCHORD_WITH_CUDA=ON against a CUDA LibTorch 2.x).
};

struct DistOptions {
  // Address and port of rank 0's TCPStore (MASTER_ADDR / MASTER_PORT).
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // This process's rank in [0, world_size) (RANK) and the group size (WORLD_SIZE).
  int rank = 0;
  int world_size = 1;
  // GPU index for NCCL (LOCAL_RANK); unused for Gloo.
  int local_rank = 0;
  Backend backend = Backend::kGloo;
  // Address this rank's Gloo transport binds and advertises. Empty: 127.0.0.1 when master_addr is a
  // loopback address, else the address the host name resolves to (as torchrun does).
  std::string gloo_hostname;
  // Every collective and the rendezvous fail (DEADLINE_EXCEEDED) after this long, so a rank that
  // dies or hangs fails the step instead of blocking the group forever.
  absl::Duration timeout = absl::Seconds(300);
  // Build the store and the backends even for a world of one, so that collectives really run
  // through Gloo/NCCL (a single-GPU NCCL test, benchmarks). Needs a free master_port. Default
  // false: a world of one needs no store and every collective returns at once.
  bool single_rank_backend = false;
};

// Reads MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE and LOCAL_RANK from `env` (all optional: a
// missing WORLD_SIZE means a single rank). INVALID_ARGUMENT naming the variable for bad values
// (non-numbers, RANK outside [0, WORLD_SIZE), port outside 1..65535).
absl::StatusOr<DistOptions> DistOptionsFromEnv(const std::map<std::string, std::string>& env);

// The same over the process environment.
absl::StatusOr<DistOptions> DistOptionsFromProcessEnv();

absl::StatusOr<Backend> ParseBackend(absl::string_view name);

}  // namespace chord::dist
