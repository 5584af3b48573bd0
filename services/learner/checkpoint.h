#pragma once

// The on-disk format of a learner checkpoint, independent of ranks and of LibTorch (the learner
// rank fills it; see learner_rank.h). docs/checkpoints.md is the user-facing description.
//
//   <dir>/model/             config.json, model.safetensors (HF names; or an index + shards),
//                            tokenizer.json, tokenizer_config.json, generation_config.json, ...
//                            (copied from the source model folder when present): a Hugging Face
//                            folder the rollout worker loads as is
//   <dir>/optimizer.pt       AdamW state (a torch::serialize archive of optimizer.save)
//   <dir>/trainer_state.json {"format":"chord-trainer-state-v1","step":N,"values":{...},
//                             "rng":"<base64 of the CPU generator state>"}
//   <dir>/MANIFEST.json      {"format":"chord-checkpoint-v1","step":N,
//                             "files":[{"path":"model/model.safetensors","bytes":B,"crc32c":C},...]}
//
// Crash safety: a checkpoint is staged in "<parent>/.<name>.tmp-<pid>"; every file is fsynced, the
// manifest (CRC-32C and size of every other file) is written LAST, the staging folder is fsynced
// and renamed to its final name, and the parent is fsynced. A folder without a valid manifest is
// not a checkpoint, so a crash at any point leaves either the previous checkpoints alone or a
// complete new one (plus a staging folder that PruneCheckpoints removes).
//
// One writer per parent folder at a time (the job's rank 0). Readers may run concurrently with a
// writer: they never see a staging folder under a checkpoint name.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::learner {

// Everything a checkpoint carries besides weights and optimizer state (opaque to this module
// except `step`): the driver puts its data cursors, stage index, weight version, job spec, etc.
struct TrainerState {
  // Last completed step (1-based; 0 = before the first step).
  int64_t step = 0;
  // Driver-owned key/values. Keys and values must be valid UTF-8 (they are JSON strings); binary
  // data must be encoded (e.g. base64) by the caller.
  std::map<std::string, std::string> values;
};

inline constexpr char kCheckpointFormat[] = "chord-checkpoint-v1";
inline constexpr char kTrainerStateFormat[] = "chord-trainer-state-v1";
inline constexpr char kManifestFile[] = "MANIFEST.json";
inline constexpr char kTrainerStateFile[] = "trainer_state.json";
inline constexpr char kOptimizerFile[] = "optimizer.pt";
inline constexpr char kModelFolder[] = "model";

// "step-00000042" (at least 8 digits; longer for steps >= 10^8). step >= 0.
std::string CheckpointName(int64_t step);
// The step of a checkpoint folder name ("step-" followed by 8 or more digits), or nullopt.
std::optional<int64_t> ParseCheckpointName(absl::string_view name);

// trainer_state.json text for `state` and the raw bytes of the CPU generator state.
// INVALID_ARGUMENT naming the key when a key or value is not valid UTF-8.
absl::StatusOr<std::string> EncodeTrainerState(const TrainerState& state,
                                               absl::string_view rng_state);

struct DecodedTrainerState {
  TrainerState state;
  // Raw bytes of the CPU generator state (empty when the file holds none).
  std::string rng_state;
};
// Parses trainer_state.json text; `source` names the file in errors (DATA_LOSS: malformed JSON,
// wrong format tag, missing or mistyped field, bad base64).
absl::StatusOr<DecodedTrainerState> DecodeTrainerState(absl::string_view json,
                                                       absl::string_view source);

// One file of a checkpoint as the manifest records it.
struct ManifestEntry {
  std::string path;  // relative to the checkpoint folder, '/'-separated, no "." or ".." parts
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};

struct Manifest {
  int64_t step = 0;
  std::vector<ManifestEntry> files;  // sorted by path
};

// Reads and parses `<dir>/MANIFEST.json` without checking the files. NOT_FOUND when `dir` does not
// exist; DATA_LOSS naming MANIFEST.json when it is missing (an incomplete checkpoint), malformed,
// of another format, or lists an unsafe path, a duplicate or none of trainer_state.json,
// optimizer.pt and model/config.json.
absl::StatusOr<Manifest> ReadManifest(const std::string& dir);

// Checks a checkpoint completely: the manifest (ReadManifest), then every listed file's presence,
// size and CRC-32C. DATA_LOSS naming the file ("<dir>/optimizer.pt: ...") for the first problem;
// NOT_FOUND when `dir` does not exist; the file's own error (INTERNAL, PERMISSION_DENIED) when a
// file could not be read, which says nothing about its content. Reads every byte.
absl::Status VerifyCheckpoint(const std::string& dir);

// The newest "step-NNNNNNNN" folder in `parent` that verifies (full path). Corrupt or partial ones
// are skipped with a warning in the log. NOT_FOUND when there is none (or `parent` is missing).
// A checkpoint that cannot be read (an I/O error, not DATA_LOSS) is that error, not skipped.
absl::StatusOr<std::string> FindLatestCheckpoint(const std::string& parent);

// Keeps the newest `keep` (>= 1) checkpoints of `parent` that verify and deletes the other
// "step-NNNNNNNN" folders (older valid ones and corrupt or partial ones), plus leftover staging
// folders (".step-NNNNNNNN.tmp-<pid>", ".step-NNNNNNNN.old-<pid>"). Nothing else in `parent` is
// touched. Must not run while a checkpoint of `parent` is being written. INVALID_ARGUMENT for
// keep < 1; INTERNAL naming the folder when a deletion fails. A missing `parent` is OK (nothing
// to prune). A checkpoint among the newest `keep` that cannot be read (not DATA_LOSS: an I/O
// error) is not deleted: then nothing is deleted this time, with a warning in the log.
absl::Status PruneCheckpoints(const std::string& parent, int keep);

// Writes one checkpoint folder with the crash-safety protocol above:
//   ASSIGN_OR_RETURN(auto writer, CheckpointWriter::Begin(dir));
//   RETURN_IF_ERROR(model.Save(writer->StagingPath("model")));      // any files, any way
//   RETURN_IF_ERROR(writer->WriteFile("trainer_state.json", text));
//   RETURN_IF_ERROR(writer->Commit(step));                         // manifest, fsync, rename
// Files may be produced by any means inside the staging folder; Commit fsyncs and checksums
// every regular file it finds there. Not thread-safe.
class CheckpointWriter {
 public:
  // Creates the staging folder "<parent>/.<basename(dir)>.tmp-<pid>" (a stale one of that name is
  // removed first; `parent` is created if missing). INVALID_ARGUMENT for an empty `dir` or one
  // ending in '/'; INTERNAL naming the folder on I/O errors.
  static absl::StatusOr<std::unique_ptr<CheckpointWriter>> Begin(const std::string& dir);
  // Removes the staging folder unless Commit succeeded.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& staging_dir() const { return staging_; }
  // staging_dir() + "/" + relative.
  std::string StagingPath(absl::string_view relative) const;

  // Writes `content` to `relative` inside the staging folder (parent folders created), fsynced.
  absl::Status WriteFile(absl::string_view relative, absl::string_view content);
  // Copies the file `source` to `relative` inside the staging folder, fsynced. NOT_FOUND naming
  // `source` when it does not exist.
  absl::Status CopyFile(const std::string& source, absl::string_view relative);

  // Finishes the checkpoint: fsyncs and checksums every regular file under the staging folder,
  // writes MANIFEST.json (fsynced) last, fsyncs every folder, renames the staging folder to
  // dir() and fsyncs the parent. An existing dir() is replaced: swapped atomically
  // (renameat2 RENAME_EXCHANGE) where the file system supports it, else moved aside first; the
  // old folder is then deleted. May be called once; FAILED_PRECONDITION after that.
  absl::Status Commit(int64_t step);

 private:
  CheckpointWriter(std::string dir, std::string staging) : dir_(dir), staging_(staging) {}

  std::string dir_;
  std::string staging_;
  bool committed_ = false;
};

}  // namespace chord::learner
