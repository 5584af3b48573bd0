#pragma once

// Converts a Trinity-RFT configuration (the paper's reference implementation of CHORD) into a
// Chord job spec: the YAML that `chordctl submit` sends and the learner's ParseJobSpec reads.
//
// Algorithms: `mix_chord` (CHORD: variant chord-phi, chord-mu or mix, by its
// policy_loss_fn_args), `sft` (variant sft; policy_loss_fn sft_phi / sft_is give the phi / IS
// weight) and `grpo` (variant grpo). Every other algorithm_type is refused.
//
// Mapped: algorithm (repeat_times, sample_strategy_args, policy_loss_fn_args, kl_loss_fn and its
// kl_coef, entropy_coef), buffer (batch sizes, total_steps, the task, expert and first eval
// dataset with their rollout args), model (model_path, max_response_tokens), explorer
// (eval_interval, rollout_model.seed), synchronizer (sync_interval, sync_offset -> mode) and
// trainer (save_interval, actor_grad_clip, sft_warmup_steps). Where Trinity-RFT has a default
// that Chord does not share (kl_loss_fn k2 with kl_coef 0.001, repeat_times 2 for grpo), the
// spec states the Trinity-RFT value.
//
// No key is dropped silently: every leaf of the document is either mapped, or listed in
// `unmapped` with the reason (no Chord counterpart, a value Chord does not support, or a key
// this converter does not know). docs/chordctl.md has the table.
//
// No LibTorch, no gRPC: yaml-cpp and Abseil only.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace chord::chordctl {

struct TrinityConversionOptions {
  // Training steps of the job. 0: buffer.total_steps of the config; when that is absent too the
  // spec has no `steps` (the learner then refuses it: "steps: required") and
  // buffer.total_epochs is listed as unmapped, since the task count per epoch is not known here.
  int64_t steps = 0;
};

struct UnmappedKey {
  // Dotted path in the Trinity-RFT document (`buffer.explorer_input.taskset.format.prompt_key`,
  // `buffer.explorer_input.eval_tasksets[1]`); a whole section when none of it maps.
  std::string path;
  std::string reason;
};

struct TrinityConversion {
  // mix_chord, sft or grpo.
  std::string algorithm_type;
  // The Chord job spec (YAML, without comments).
  std::string spec_yaml;
  // In document order.
  std::vector<UnmappedKey> unmapped;
  // One line each: a value derived from several keys, a Trinity-RFT default made explicit, or a
  // mapped key whose meaning differs in Chord.
  std::vector<std::string> notes;
};

// Converts `yaml_text` (`source` names it in errors). INVALID_ARGUMENT listing every problem as
// "<source>:<line>: <path>: <problem>": invalid YAML, a document that is not a mapping, an
// unsupported or missing algorithm_type, a mode other than `both` (`train` for sft), a missing
// model.model_path or dataset path, or a mapped key whose value has the wrong type.
absl::StatusOr<TrinityConversion> ConvertTrinityConfig(
    const std::string& yaml_text, const std::string& source,
    const TrinityConversionOptions& options = {});

// The text `chordctl convert` prints: a comment naming the source, the spec, then comment lines
// with the notes and the unmapped keys ("#   path: reason"). The comments keep the text a valid
// job spec.
std::string FormatTrinityConversion(const TrinityConversion& conversion, const std::string& source);

}  // namespace chord::chordctl
