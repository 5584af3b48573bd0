#pragma once

// The serving side of weight streaming, free of gRPC: the learner publishes a WeightSet at a new
// version; the WeightService adapter (grpc_service.h) streams the held snapshots to followers.
//
//   PublisherOptions options;
//   options.registry = &host->registry();
//   ASSIGN_OR_RETURN(auto publisher, WeightPublisher::Create(options));
//   RETURN_IF_ERROR(publisher->Publish(WeightSet{step, named_parameters}));
//
// Publish() copies the tensors into one immutable buffer (the learner may go on training at once)
// and computes the manifest with per-tensor and whole-set CRC-32C. The newest `keep_versions`
// snapshots are held; a fetch in progress keeps its snapshot alive through its shared_ptr even
// after the publisher drops it, so publishing never disturbs a running stream.
//
// Peak memory is (keep_versions + 1) x the set's size while a new version is being published.

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/common.pb.h"
#include "common/weights/metrics.h"
#include "common/weights/weight_set.h"
#include "prometheus/registry.h"

namespace chord::weights {

// One published version: the tensors' bytes back to back in manifest order, and the manifest.
// Immutable and thread-safe once created.
class WeightSnapshot {
 public:
  // Copies `weights` (any device, any layout; CUDA tensors are copied to host) into a new
  // snapshot. INVALID_ARGUMENT naming the tensor for an empty or duplicate name, an undefined or
  // sparse tensor or an unsupported dtype, or for an empty set or a negative version;
  // RESOURCE_EXHAUSTED when the buffer cannot be allocated.
  static absl::StatusOr<std::shared_ptr<const WeightSnapshot>> Create(const WeightSet& weights);

  int64_t version() const { return manifest_.version(); }
  // Names, shapes, dtypes, byte sizes, offsets and CRC-32C of every tensor, total_bytes and the
  // whole-set CRC-32C. chunk_bytes is 0 (each stream sets its own).
  const chord::v1::WeightManifest& manifest() const { return manifest_; }
  // The concatenated tensor bytes (manifest().total_bytes() of them).
  const uint8_t* data() const { return bytes_.get(); }
  uint64_t size() const { return manifest_.total_bytes(); }

 private:
  WeightSnapshot() = default;

  chord::v1::WeightManifest manifest_;
  std::unique_ptr<uint8_t[]> bytes_;
};

struct PublisherOptions {
  // How many of the newest versions stay fetchable (>= 1). Default 2: the previous version stays
  // available while followers still stream it when the next one is published.
  int keep_versions = 2;
  // Metrics (metrics.h) are registered here when set; not owned, must outlive the publisher.
  // Default: no metrics.
  prometheus::Registry* registry = nullptr;
};

// Thread-safe.
class WeightPublisher {
 public:
  // INVALID_ARGUMENT when keep_versions < 1.
  static absl::StatusOr<std::unique_ptr<WeightPublisher>> Create(const PublisherOptions& options);

  // Snapshots `weights` at weights.version, which must be greater than every version published
  // before (FAILED_PRECONDITION otherwise). Errors of WeightSnapshot::Create. Drops the oldest
  // held snapshot beyond keep_versions and wakes WaitForNewerThan().
  absl::Status Publish(const WeightSet& weights);

  // The newest snapshot; null before the first Publish().
  std::shared_ptr<const WeightSnapshot> Latest() const;

  // The snapshot of `version` (-1 = the newest). NOT_FOUND when that version is not held (never
  // published, or dropped after keep_versions newer ones), or when nothing is published yet.
  absl::StatusOr<std::shared_ptr<const WeightSnapshot>> Get(int64_t version) const;

  // The newest version; -1 before the first Publish().
  int64_t latest_version() const;

  // The versions currently held, oldest first.
  std::vector<int64_t> held_versions() const;

  // Blocks until a version newer than `version` is published, `timeout` passes, or Close() is
  // called; returns the newest version then (which is <= `version` on timeout or close).
  int64_t WaitForNewerThan(int64_t version, absl::Duration timeout) const;

  // Ends waiting: current and later WaitForNewerThan() calls return at once. Publishing and
  // fetching keep working. Call before stopping the server so long polls do not delay shutdown.
  void Close();
  bool closed() const;

  // Null when no registry was given. Used by the gRPC adapter for serving metrics.
  WeightMetrics* metrics() const { return metrics_.get(); }

 private:
  explicit WeightPublisher(const PublisherOptions& options);

  const int keep_versions_;
  std::unique_ptr<WeightMetrics> metrics_;

  mutable absl::Mutex mu_;
  // Signalled on every Publish() and on Close().
  mutable absl::CondVar changed_;
  // Oldest first; versions strictly increase.
  std::deque<std::shared_ptr<const WeightSnapshot>> snapshots_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace chord::weights
