#pragma once

// The expert buffer core: named datasets of expert demonstrations and RL tasks, loaded and
// validated from JSONL (dataset.h), served by deterministic, resumable sampling (sampler.h).
// Knows nothing of gRPC; grpc_service.h adapts it to chord.v1.ExpertBufferService.
//
// Loading builds the new version of a dataset fully aside; it replaces the served version (under
// the lock, atomically for readers) only when every record validated, so a failed load leaves the
// old version served. A version is named by a fingerprint of the content and kind; loading the
// same content again is a no-op (replaced = false). Calls that already hold a version (a batch
// being built) keep it alive until they finish.
//
// With `state_dir` set, the buffer records what is loaded in <state_dir>/manifest.json (written
// atomically, together with copies of inline content under <state_dir>/inline/) and Create()
// reloads it, so a restarted service serves the same datasets and cursors issued before the
// restart continue exactly (if a file loaded by path has changed meanwhile, its new content is a
// new version and old cursors get FAILED_PRECONDITION).
//
// Thread-safe: every method may be called concurrently.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chord/v1/common.pb.h"
#include "common/dataset/dataset.h"
#include "common/files/confined_path.h"
#include "prometheus/registry.h"
#include "services/expert_buffer/metrics.h"
#include "services/expert_buffer/options.h"

namespace chord::expert_buffer {

// Checks a dataset name against [A-Za-z0-9_.-]{1,128}; errors are INVALID_ARGUMENT naming
// `field` ("name", "dataset").
absl::Status ValidateDatasetName(absl::string_view name, absl::string_view field);

// One loaded version of a dataset. Immutable; shared by the buffer and in-flight calls.
class Dataset {
 public:
  Dataset(std::string name, uint64_t fingerprint, std::string source_path, int64_t source_bytes,
          int64_t loaded_at_unix, dataset::Records records)
      : name_(std::move(name)),
        fingerprint_(fingerprint),
        source_path_(std::move(source_path)),
        source_bytes_(source_bytes),
        loaded_at_unix_(loaded_at_unix),
        records_(std::move(records)) {}

  const std::string& name() const { return name_; }
  dataset::DatasetKind kind() const { return records_.kind; }
  // Content fingerprint; version() is its hex form (what the wire calls the version).
  uint64_t fingerprint() const { return fingerprint_; }
  std::string version() const;
  // Path it was loaded from ("" for inline content).
  const std::string& source_path() const { return source_path_; }
  int64_t source_bytes() const { return source_bytes_; }
  int64_t loaded_at_unix() const { return loaded_at_unix_; }
  int64_t size() const { return records_.size(); }
  // Record `i` in file order, 0 <= i < size(); expert() for kExpert, task() for kTasks.
  const chord::v1::ExpertSample& expert(int64_t i) const {
    return records_.expert[static_cast<size_t>(i)];
  }
  const chord::v1::Task& task(int64_t i) const { return records_.tasks[static_cast<size_t>(i)]; }

 private:
  std::string name_;
  uint64_t fingerprint_;
  std::string source_path_;
  int64_t source_bytes_;
  int64_t loaded_at_unix_;
  dataset::Records records_;
};

struct LoadResult {
  std::string name;
  dataset::DatasetKind kind = dataset::DatasetKind::kExpert;
  int64_t num_records = 0;
  // Hex fingerprint of the served version.
  std::string version;
  // False when the same content was already served (nothing changed).
  bool replaced = false;
};

struct SampleResult {
  // The version the records were drawn from (keeps them alive while the caller copies them).
  std::shared_ptr<const Dataset> dataset;
  // Indices into `dataset`, in draw order.
  std::vector<int64_t> indices;
  // Opaque cursor continuing right after the last index.
  std::string next_cursor;
  // Epoch of the next draw (0-based).
  int64_t epoch = 0;
};

struct TaskSlice {
  std::shared_ptr<const Dataset> dataset;
  // dataset::Records [begin, end) in file order.
  int64_t begin = 0;
  int64_t end = 0;
};

struct DatasetStats {
  std::string name;
  dataset::DatasetKind kind = dataset::DatasetKind::kExpert;
  int64_t num_records = 0;
  std::string version;
  std::string source_path;
  int64_t source_bytes = 0;
  // Highest epoch drawn from since this version was loaded (0-based).
  int64_t max_epoch = 0;
  // dataset::Records returned by Sample for this name since the service started.
  int64_t samples_served = 0;
  int64_t loaded_at_unix = 0;
};

class ExpertBuffer {
 public:
  // Builds a buffer; with options.state_dir set, reloads the datasets its manifest names (an
  // error naming the manifest and dataset when one of them no longer loads). `registry` (may be
  // null: no metrics) receives the families of metrics.h and must outlive the buffer.
  static absl::StatusOr<std::unique_ptr<ExpertBuffer>> Create(ExpertBufferOptions options,
                                                              prometheus::Registry* registry);

  // Loads (or reloads) dataset `name` from the JSONL file at `path` (read by this process; a
  // relative path is taken relative to the first data root). Errors (messages start with
  // "path: <path>: " unless they name a record):
  //   PERMISSION_DENIED  `path` resolves outside options.data_roots, or cannot be read;
  //   INVALID_ARGUMENT   a bad name or record ("<path>:<line>: <field>: <what>"), a path that is
  //                      not a regular file (directory, FIFO, device), a file larger than
  //                      options.max_dataset_bytes;
  //   NOT_FOUND          no such file;
  //   INTERNAL           the state directory cannot be written.
  // On any error the previous version stays served.
  absl::StatusOr<LoadResult> LoadFile(absl::string_view name, dataset::DatasetKind kind,
                                      const std::string& path);

  // Same with the JSONL text itself; errors call it "<inline:NAME>". INVALID_ARGUMENT naming
  // "content" when it is larger than options.max_dataset_bytes.
  absl::StatusOr<LoadResult> LoadContent(absl::string_view name, dataset::DatasetKind kind,
                                         std::string content);

  // Draws `n` records of `dataset`, which must be of `kind`, continuing from `cursor` (empty:
  // start at epoch 0, position 0 of `seed`; `seed` is ignored otherwise). Errors:
  // INVALID_ARGUMENT naming "dataset", "n" (outside [1, max_sample]) or "cursor" (malformed,
  // corrupted, issued for another dataset); NOT_FOUND for an unknown dataset; FAILED_PRECONDITION
  // when the dataset is of the other kind or changed since the cursor was issued.
  absl::StatusOr<SampleResult> Sample(absl::string_view dataset, dataset::DatasetKind kind,
                                      int64_t n, absl::string_view cursor, uint64_t seed);

  // Tasks [offset, offset + limit) of `dataset` in file order (limit 0: to the end).
  // INVALID_ARGUMENT for negative offset/limit, OUT_OF_RANGE for offset > size, NOT_FOUND,
  // FAILED_PRECONDITION for an expert dataset.
  absl::StatusOr<TaskSlice> ReadTasks(absl::string_view dataset, int64_t offset, int64_t limit);

  // Stats of one dataset, or of all (sorted by name) when `dataset` is empty. INVALID_ARGUMENT
  // for a name no dataset can have ("dataset: must match ..."), NOT_FOUND for an unknown name.
  absl::StatusOr<std::vector<DatasetStats>> Stats(absl::string_view dataset) const;

  // The served version of `name`, or null.
  std::shared_ptr<const Dataset> Find(absl::string_view name) const;

  const ExpertBufferOptions& options() const { return options_; }

 private:
  // Where a load's content came from.
  struct Source {
    // Path of a file loaded by path ("" for inline content).
    std::string path;
    // For inline content reloaded from the state directory: the saved copy (relative to it).
    std::string saved_copy;
  };

  struct Entry {
    std::shared_ptr<const Dataset> current;
    // File under state_dir holding inline content ("" for datasets loaded by path).
    std::string saved_copy;
    int64_t samples_served = 0;
    int64_t max_epoch = 0;
  };

  ExpertBuffer(ExpertBufferOptions options, files::ConfinedRoots roots,
               prometheus::Registry* registry);

  absl::Status Restore();
  // Validates `content`, and serves it as `name` unless it is the version already served.
  // `persist`: record it in the state dir's manifest. `start`: when the load began (metrics).
  absl::StatusOr<LoadResult> Load(absl::string_view name, dataset::DatasetKind kind,
                                  const Source& source, const std::string& content, bool persist,
                                  absl::Time start);
  // Writes the manifest: the served datasets, with `entry` as dataset `name` (none when `name` is
  // empty). Caller holds commit_mu_.
  absl::Status Persist(const std::string& name, const Entry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  std::string StatePath(absl::string_view relative) const;

  const ExpertBufferOptions options_;
  // options_.data_roots resolved ("/" when none are given).
  const files::ConfinedRoots roots_;
  std::unique_ptr<ExpertBufferMetrics> metrics_;

  // Serializes the commit phase of loads (persisting, swapping); parsing runs outside it.
  absl::Mutex commit_mu_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> datasets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chord::expert_buffer
