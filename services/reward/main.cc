// chord-reward: scores model responses with named verifiers (math_boxed, arithmetic, countdown,
// tool_call) over gRPC. Flags: the shared service flags (common/service/service_host.h) plus the
// ones below; docs/reward.md describes them.

#include <algorithm>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/config/flag_config.h"
#include "common/rpc/server_runner.h"
#include "common/service/service_host.h"
#include "common/status/status_macros.h"
#include "services/reward/grpc_service.h"
#include "services/reward/math_boxed_verifier.h"
#include "services/reward/metrics.h"
#include "services/reward/reward_scorer.h"
#include "services/reward/verifier_registry.h"
#include "spdlog/spdlog.h"

// Defaults are the options structs' own (options.h, math_boxed_verifier.h), except --workers.
ABSL_FLAG(int, workers, 0, "Scoring worker threads; 0 = the machine's hardware concurrency");
ABSL_FLAG(int, max_batch, chord::reward::RewardScorerOptions().max_batch,
          "Most items per Score call (larger batches: INVALID_ARGUMENT)");
ABSL_FLAG(int64_t, max_response_bytes,
          static_cast<int64_t>(chord::reward::RewardScorerOptions().max_response_bytes),
          "Longer responses are scored on their last max_response_bytes only");
ABSL_FLAG(int64_t, max_field_bytes,
          static_cast<int64_t>(chord::reward::RewardScorerOptions().max_field_bytes),
          "Largest id/prompt/reference/meta_json accepted (larger: INVALID_ARGUMENT)");
ABSL_FLAG(int64_t, max_queued_items,
          static_cast<int64_t>(chord::reward::RewardScorerOptions().max_queued_items),
          "Most items waiting for a worker over all Score calls; a call that does not fit gets "
          "RESOURCE_EXHAUSTED (must be >= --max_batch)");
ABSL_FLAG(bool, think_required, chord::reward::RewardScorerOptions().think_required,
          "With the think penalty requested, also penalise responses without <think> tags");
ABSL_FLAG(double, math_tolerance, chord::reward::MathBoxedOptions().rel_tolerance,
          "Relative tolerance of math_boxed for decimal and irrational answers");
ABSL_FLAG(bool, math_symbolic, chord::reward::MathBoxedOptions().symbolic,
          "math_boxed: answers the fast comparison cannot decide go to the computer algebra "
          "comparison (false: they are wrong)");
ABSL_FLAG(int, math_symbolic_budget_ms,
          static_cast<int>(
              absl::ToInt64Milliseconds(chord::reward::MathBoxedOptions().symbolic_time_budget)),
          "math_boxed: most milliseconds one symbolic comparison may take");
ABSL_FLAG(std::string, math_units, "ignore",
          "math_boxed: units after a value: ignore (dropped from both sides) or match (the same "
          "unit text is required)");

namespace {

absl::Status Run(int argc, char** argv) {
  chord::rpc::BlockTerminationSignals();
  ASSIGN_OR_RETURN(auto positional,
                   chord::config::ParseFlagsWithConfig(
                       argc, argv, "chord-reward: scores responses with named verifiers"));
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[1], "\" (flags only)"));
  }
  chord::reward::RewardScorerOptions options;
  options.workers = absl::GetFlag(FLAGS_workers);
  if (options.workers == 0) {
    options.workers = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
  int64_t max_response_bytes = absl::GetFlag(FLAGS_max_response_bytes);
  int64_t max_field_bytes = absl::GetFlag(FLAGS_max_field_bytes);
  if (options.workers < 0 || options.max_batch < 1 || max_response_bytes < 1 ||
      max_field_bytes < 1) {
    return absl::InvalidArgumentError(
        "--workers must be >= 0; --max_batch, --max_response_bytes and --max_field_bytes >= 1");
  }
  options.max_response_bytes = static_cast<size_t>(max_response_bytes);
  options.max_field_bytes = static_cast<size_t>(max_field_bytes);
  options.think_required = absl::GetFlag(FLAGS_think_required);
  int64_t max_queued_items = absl::GetFlag(FLAGS_max_queued_items);
  if (max_queued_items < options.max_batch) {
    return absl::InvalidArgumentError(absl::StrCat("--max_queued_items: must be >= --max_batch (",
                                                   options.max_batch, "), got ", max_queued_items));
  }
  options.max_queued_items = static_cast<size_t>(max_queued_items);
  chord::reward::DefaultVerifierOptions verifier_options;
  verifier_options.math_boxed.rel_tolerance = absl::GetFlag(FLAGS_math_tolerance);
  if (!(verifier_options.math_boxed.rel_tolerance >= 0 &&
        verifier_options.math_boxed.rel_tolerance < 1)) {
    return absl::InvalidArgumentError("--math_tolerance must be in [0, 1)");
  }
  verifier_options.math_boxed.symbolic = absl::GetFlag(FLAGS_math_symbolic);
  const int budget_ms = absl::GetFlag(FLAGS_math_symbolic_budget_ms);
  if (budget_ms < 1 || budget_ms > 60000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--math_symbolic_budget_ms must be in [1, 60000], got ", budget_ms));
  }
  verifier_options.math_boxed.symbolic_time_budget = absl::Milliseconds(budget_ms);
  const std::string units = absl::GetFlag(FLAGS_math_units);
  if (units == "ignore") {
    verifier_options.math_boxed.units = chord::reward::UnitsPolicy::kIgnore;
  } else if (units == "match") {
    verifier_options.math_boxed.units = chord::reward::UnitsPolicy::kMustMatch;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--math_units must be \"ignore\" or \"match\", got \"", units, "\""));
  }

  ASSIGN_OR_RETURN(auto host, chord::service::ServiceHost::Create("reward"));
  chord::reward::RewardMetrics metrics(host->registry());
  ASSIGN_OR_RETURN(
      auto scorer,
      chord::reward::RewardScorer::Create(
          options, chord::reward::VerifierRegistry::CreateDefault(verifier_options), &metrics));
  chord::reward::RewardGrpcService service(scorer.get());
  spdlog::info(
      "verifiers: {}; {} workers, max batch {}, at most {} items queued, responses cut to the "
      "last {} bytes",
      scorer->registry().KnownNames(), options.workers, options.max_batch, options.max_queued_items,
      options.max_response_bytes);
  return host->ServeUntilSignal({&service}, chord::reward::RewardMethodRoles());
}

}  // namespace

int main(int argc, char** argv) {
  return chord::service::ExitCode(Run(argc, argv), "chord-reward");
}
