// chord-rollout-worker: holds one copy of the policy, generates completions (token ids, text,
// log-probs, finish reason, weight version) and scores sequences over gRPC, following the
// learner's WeightService for newer weights. Flags: the shared service flags
// (common/service/service_host.h) plus the ones below; docs/rollout-worker.md describes them.

#include <ATen/Parallel.h>

#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/config/flag_config.h"
#include "common/rpc/server_runner.h"
#include "common/service/openmp_policy.h"
#include "common/service/service_host.h"
#include "common/status/status_macros.h"
#include "services/rollout_worker/grpc_service.h"
#include "services/rollout_worker/metrics.h"
#include "services/rollout_worker/rollout_worker.h"
#include "services/rollout_worker/weight_sync.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, model, "",
          "Hugging Face model folder to load (config.json, *.safetensors, tokenizer.json); "
          "required. It is weight version 0");
ABSL_FLAG(std::string, weight_source, "",
          "host:port of a WeightService (the learner) to follow for newer weights; empty: none");
// Defaults are RolloutWorkerOptions' own (options.h).
ABSL_FLAG(int, max_queue, chord::rollout_worker::RolloutWorkerOptions().max_queue,
          "Requests held at once (waiting, queued or running); more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_batch_tokens, chord::rollout_worker::RolloutWorkerOptions().max_batch_tokens,
          "KV-cache positions of one generation batch: rows x (longest prompt + max_new_tokens)");
ABSL_FLAG(int, max_batch_size, chord::rollout_worker::RolloutWorkerOptions().max_batch_size,
          "Rows (samples) per generation batch at most");
ABSL_FLAG(int, default_max_new_tokens,
          chord::rollout_worker::RolloutWorkerOptions().default_max_new_tokens,
          "max_new_tokens of requests that leave it at 0");
ABSL_FLAG(int, max_request_rows, chord::rollout_worker::RolloutWorkerOptions().max_request_rows,
          "Most completions (prompts x samples) or sequences per request");
ABSL_FLAG(double, max_version_wait_s,
          absl::ToDoubleSeconds(chord::rollout_worker::RolloutWorkerOptions().max_version_wait),
          "Longest a request with min_weight_version waits for that version, in seconds");
ABSL_FLAG(int, torch_threads, 0,
          "LibTorch intra-op threads; 0 = LibTorch's default (one per core)");
ABSL_FLAG(std::string, dtype, chord::rollout_worker::RolloutWorkerOptions().dtype,
          "Compute dtype of the model: float32 or bfloat16");

namespace chord::rollout_worker {
namespace {

absl::Status Run(int argc, char** argv) {
  ASSIGN_OR_RETURN(std::vector<std::string> positional,
                   config::ParseFlagsWithConfig(
                       argc, argv,
                       "chord-rollout-worker: generates completions and log-probs with a policy "
                       "that follows the learner's weights.\nUsage: chord-rollout-worker "
                       "--model DIR [--weight_source HOST:PORT] [flags]"));
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[1], "\" (all settings are flags)"));
  }
  RolloutWorkerOptions options;
  options.model_path = absl::GetFlag(FLAGS_model);
  if (options.model_path.empty()) {
    return absl::InvalidArgumentError("--model: required (a Hugging Face model folder)");
  }
  options.weight_source = absl::GetFlag(FLAGS_weight_source);
  options.dtype = absl::GetFlag(FLAGS_dtype);
  options.max_queue = absl::GetFlag(FLAGS_max_queue);
  options.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  options.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.default_max_new_tokens = absl::GetFlag(FLAGS_default_max_new_tokens);
  options.max_request_rows = absl::GetFlag(FLAGS_max_request_rows);
  const double wait_s = absl::GetFlag(FLAGS_max_version_wait_s);
  if (!(wait_s >= 0 && wait_s <= 86400)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_version_wait_s: ", wait_s, " must be in [0, 86400]"));
  }
  options.max_version_wait = absl::Seconds(wait_s);
  const int torch_threads = absl::GetFlag(FLAGS_torch_threads);
  if (torch_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--torch_threads: ", torch_threads, " must be >= 0 (0 = LibTorch's default)"));
  }

  ASSIGN_OR_RETURN(auto host, service::ServiceHost::Create("rollout-worker"));
  if (torch_threads > 0) at::set_num_threads(torch_threads);
  RolloutMetrics metrics(host->registry());
  absl::StatusOr<std::unique_ptr<RolloutWorker>> worker = RolloutWorker::Create(options, &metrics);
  if (!worker.ok()) {
    // Flag names for option errors; model errors already name the file and the tensor.
    return worker.status();
  }
  spdlog::info(
      "serving {} (max_queue {}, max_batch_tokens {}, max_batch_size {}, {} torch "
      "threads)",
      options.model_path, options.max_queue, options.max_batch_tokens, options.max_batch_size,
      at::get_num_threads());

  std::unique_ptr<WeightSync> sync;
  if (!options.weight_source.empty()) {
    WeightSyncOptions sync_options;
    sync_options.address = options.weight_source;
    sync_options.channel = host->client_options();
    ASSIGN_OR_RETURN(sync, WeightSync::Start(worker->get(), sync_options, &metrics));
    spdlog::info("following weights at {}", options.weight_source);
  }

  RolloutGrpcService service(worker->get());
  // On SIGTERM: refuse new requests (UNAVAILABLE) at once; the server then gives the held ones
  // --shutdown_grace_s to finish and cancels the rest, which stops their generation.
  absl::Status served =
      host->ServeUntilSignal({&service}, RolloutMethodRoles(), [&] { (*worker)->StopAccepting(); });
  (*worker)->Shutdown();  // anything left is ended; releases an install callback that waits
  if (sync != nullptr) sync->Stop();
  spdlog::info("stopped; {} tokens generated", (*worker)->Status().generated_tokens_total);
  return served;
}

}  // namespace
}  // namespace chord::rollout_worker

int main(int argc, char** argv) {
  chord::service::PreferPassiveOpenMp(argc, argv);
  chord::rpc::BlockTerminationSignals();
  return chord::service::ExitCode(chord::rollout_worker::Run(argc, argv), "chord-rollout-worker");
}
