#pragma once

// One data-parallel learner rank: a replica of the policy (model::CausalLM), its AdamW optimizer,
// and the CHORD training step over a c10d process group (common/dist: Gloo on CPU, NCCL on CUDA).
// docs/learner.md describes the architecture; docs/checkpoints.md the checkpoint format.
//
// A job's ranks (one process each, started by torchrun or the Helm StatefulSet) run the same
// sequence of COLLECTIVE calls in the same order:
//   ASSIGN_OR_RETURN(auto rank, LearnerRank::Create(options, group));
//   RETURN_IF_ERROR(rank->LoadModel(model_dir));           // rank 0's weights broadcast
//   RETURN_IF_ERROR(rank->ResetOptimizer(stage.config));   // fresh AdamW per stage
//   [ASSIGN_OR_RETURN(TrainerState s, rank->LoadCheckpoint(ckpt, stage.config));]  // resume
//   for each step: ASSIGN_OR_RETURN(StepMetrics m, rank->TrainStep(step, rows, stage.config));
//   every save_interval: RETURN_IF_ERROR(rank->SaveCheckpoint(dir, state));
// Replicas stay bit-identical: they start from rank 0's weights (and optimizer state after a
// checkpoint load), every rank sums the same gradients in the same order, and the optimizer step
// is deterministic.
//
// Errors: LibTorch exceptions become INTERNAL (or the code named below) with context; collective
// failures (a peer rank that died or hung) are returned as the process group reports them:
// UNAVAILABLE or DEADLINE_EXCEEDED naming the operation and the rank, within the group's timeout.
// After a collective failure the group is unusable and the job must fail (or restart from its
// last checkpoint). Input problems that every rank sees alike (bad rows, bad config, a missing
// model) are reported on every rank before any collective call, so no rank is left waiting.
//
// Thread safety: none; one thread drives a rank (and its process group).

#include <torch/optim/adamw.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/algorithm/loss_config.h"
#include "common/algorithm/micro_batch.h"
#include "common/algorithm/train_step.h"
#include "common/dist/process_group.h"
#include "common/model/causal_lm.h"
#include "services/learner/checkpoint.h"
#include "services/learner/collective_adapter.h"

namespace chord::learner {

struct LearnerRankOptions {
  // Where the replica lives: CPU (Gloo) or cuda:LOCAL_RANK (NCCL). Default CPU.
  torch::Device device = torch::kCPU;
  // Compute and master dtype of the parameters and optimizer state. Default float32 (training in
  // bf16/fp16 master weights loses updates below their precision; keep float32).
  torch::Dtype dtype = torch::kFloat32;
  // Bucket size of the gradient all-reduce and of the parameter/optimizer-state broadcasts.
  // Default 25 MiB (as PyTorch DDP).
  int64_t bucket_bytes = int64_t{25} << 20;
  // Compute the policy entropy on every step for the `entropy` metric even when entropy_coef is 0
  // (an extra elementwise pass over each logit chunk). Default true.
  bool entropy_metric = true;
};

class LearnerRank {
 public:
  // `group` (not owned, must outlive the rank) may be a world of size 1. INVALID_ARGUMENT for a
  // non-floating dtype, a CUDA device in a CPU-only LibTorch, or bucket_bytes < 1.
  static absl::StatusOr<std::unique_ptr<LearnerRank>> Create(const LearnerRankOptions& options,
                                                             dist::ProcessGroup* group);
  ~LearnerRank();
  LearnerRank(const LearnerRank&) = delete;
  LearnerRank& operator=(const LearnerRank&) = delete;

  // COLLECTIVE. Every rank loads `model_dir` (a Hugging Face folder; errors as
  // model::CausalLM::Load, naming the file), then rank 0's parameters are broadcast so all
  // replicas start identical. `model_dir` is remembered as the source of the tokenizer files that
  // checkpoints and SaveModel copy. Drops the optimizer (call ResetOptimizer next) and the KL
  // reference (LoadReference).
  absl::Status LoadModel(const std::string& model_dir);
  // COLLECTIVE. As LoadModel for a model already in memory (each rank passes its own; rank 0's
  // weights win). `source_dir` is the folder tokenizer files are copied from ("" = none).
  // INVALID_ARGUMENT when the model's device or dtype differs from the options'.
  absl::Status AdoptModel(std::unique_ptr<model::CausalLM> lm, const std::string& source_dir = "");

  // COLLECTIVE. Loads `model_dir` as the frozen reference policy of the KL loss term and the KL
  // reward penalty, as LoadModel does (rank 0's weights broadcast; errors name the file).
  // TrainStep needs it when algorithm::NeedsReferencePolicy(config).
  // It holds a second copy of the weights and takes no gradient. Checkpoints do not store it: a
  // resumed job loads it again from the same folder.
  absl::Status LoadReference(const std::string& model_dir);
  bool has_reference() const { return reference_ != nullptr; }

  // COLLECTIVE (cheap: no communication). A fresh AdamW (lr, betas, adam_eps, weight_decay of
  // `config`) for a stage: stages restart the optimizer. FAILED_PRECONDITION without a model;
  // INVALID_ARGUMENT for an invalid optimizer config.
  absl::Status ResetOptimizer(const algorithm::Config& config);

  // COLLECTIVE. One training step (1-based `step` within the stage: the learning-rate schedule's
  // step; mu reads step + config.mu.mu_step_offset). Every rank passes the SAME full step batch
  // `rows`; algorithm::RunTrainUpdates takes ppo_epochs x mini-batches optimizer updates, the
  // rank training on its algorithm::ShardRows share of each mini-batch; normalisers and gradients
  // are all-reduced per update. Returns the step's metrics (identical on every rank; the
  // local_micro_batches field is this rank's). `total_steps` is the stage's number of steps,
  // needed by the cosine learning-rate decay (INVALID_ARGUMENT when that decay is configured and
  // it is 0; otherwise 0 is fine). Bad rows or config: INVALID_ARGUMENT on every rank naming the
  // row and field, before any communication; FAILED_PRECONDITION without a model or optimizer;
  // a non-finite gradient norm: INTERNAL, no update; a peer that dies or hangs: the group's error
  // within its timeout.
  absl::StatusOr<algorithm::StepMetrics> TrainStep(int64_t step,
                                                   const std::vector<algorithm::TrainingRow>& rows,
                                                   const algorithm::Config& config,
                                                   int64_t total_steps = 0);

  // COLLECTIVE. Rank 0 writes the checkpoint folder `dir` (format and crash safety: checkpoint.h)
  // with the weights, the optimizer state, `state` and the CPU generator state, plus a copy of the
  // tokenizer/config files of the source model folder so `dir/model` loads in the rollout worker;
  // the other ranks wait for rank 0's result and return it (so nobody races ahead or waits
  // forever). An existing `dir` is replaced. FAILED_PRECONDITION without a model or optimizer.
  absl::Status SaveCheckpoint(const std::string& dir, const TrainerState& state);

  // COLLECTIVE. Rank 0 reads and VERIFIES `dir` (manifest + CRC-32C of every file: DATA_LOSS
  // naming the file otherwise; NOT_FOUND when absent), loads the weights and the optimizer state
  // into a fresh AdamW for `config` (as ResetOptimizer), and broadcasts both to all ranks so
  // every replica continues bit-identically; the CPU generator state is restored on every rank.
  // Returns the TrainerState on every rank; on any rank-0 error every rank returns that error
  // and keeps its previous weights and optimizer. Only rank 0 needs to see `dir`. Requires a
  // model of the same architecture (LoadModel first): INVALID_ARGUMENT naming the tensor
  // otherwise.
  absl::StatusOr<TrainerState> LoadCheckpoint(const std::string& dir,
                                              const algorithm::Config& config);

  // Named parameters (HF names, shared storage: the live weights, no copy), for publishing to
  // rollout workers (WeightPublisher copies them). Meaningful on rank 0 (all replicas are equal).
  // Empty without a model.
  std::vector<std::pair<std::string, torch::Tensor>> NamedParameters() const;

  // Writes the current weights as a Hugging Face model folder (config.json, model.safetensors,
  // and the source folder's tokenizer files): the final output of a job. Not collective (call it
  // on rank 0). FAILED_PRECONDITION without a model.
  absl::Status SaveModel(const std::string& dir) const;

  // The replica. Precondition: a model is loaded (has_model()).
  model::CausalLM& model();
  bool has_model() const { return lm_ != nullptr; }
  // The optimizer, or nullptr before ResetOptimizer / LoadCheckpoint (tests compare its state).
  torch::optim::AdamW* optimizer() { return optimizer_.get(); }

  int rank() const { return group_->rank(); }
  int world_size() const { return group_->world_size(); }
  const LearnerRankOptions& options() const { return options_; }

 private:
  class Policy;

  LearnerRank(const LearnerRankOptions& options, dist::ProcessGroup* group);

  // Rank 0's part of LoadCheckpoint: verify, decode, load weights and optimizer state into
  // `optimizer` (fresh). Weights are only changed when everything else succeeded.
  absl::Status LoadCheckpointOnRoot(const std::string& dir, torch::optim::AdamW& optimizer,
                                    std::string* trainer_state_json);
  // Rank 0's part of SaveCheckpoint.
  absl::Status WriteCheckpoint(const std::string& dir, const TrainerState& state);
  // Copies the tokenizer/config files of source_dir_ (those present) into `dir`.
  absl::Status CopySourceFiles(const std::string& dir, CheckpointWriter* writer) const;
  // Broadcasts rank 0's optimizer state (steps, exp_avg, exp_avg_sq) into every rank's
  // `optimizer`, creating missing per-parameter state on the other ranks.
  absl::Status BroadcastOptimizerState(torch::optim::AdamW& optimizer);
  std::vector<torch::Tensor> Parameters() const;

  const LearnerRankOptions options_;
  dist::ProcessGroup* const group_;
  ProcessGroupCollective collective_;
  std::unique_ptr<model::CausalLM> lm_;
  std::unique_ptr<Policy> policy_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::string source_dir_;
  // The KL terms' frozen reference (LoadReference), or null.
  std::unique_ptr<model::CausalLM> reference_lm_;
  std::unique_ptr<Policy> reference_;
};

}  // namespace chord::learner
