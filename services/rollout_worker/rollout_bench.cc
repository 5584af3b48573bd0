// chord-bench-rollout: throughput of the rollout worker (Generate and ComputeLogprobs) on a model
// folder (default: the tiny preset written to a temporary folder), through the core and through
// the gRPC service on loopback, printed as a table. The default run takes a few seconds; raise
// --prompts / --samples / --max_new_tokens for bigger runs.
//
//   chord-bench-rollout [--model DIR] [--prompts 8] [--samples 8] [--max_new_tokens 64]
//                       [--repeats 3] [--torch_threads 0] [--max_batch_size 64]

#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model/tiny_preset.h"
#include "common/rpc/server_runner.h"
#include "services/rollout_worker/grpc_client.h"
#include "services/rollout_worker/grpc_service.h"
#include "services/rollout_worker/in_process_client.h"
#include "services/rollout_worker/rollout_worker.h"

ABSL_FLAG(std::string, model, "", "Model folder; empty: the tiny preset in a temporary folder");
ABSL_FLAG(int, prompts, 8, "Prompts per Generate request");
ABSL_FLAG(int, samples, 8, "Samples per prompt (GRPO's K)");
ABSL_FLAG(int, max_new_tokens, 64, "Most tokens generated per sample");
ABSL_FLAG(int, repeats, 3, "Requests per measurement; the best is reported");
ABSL_FLAG(int, torch_threads, 0, "LibTorch intra-op threads; 0 = LibTorch's default");
ABSL_FLAG(int, max_batch_size, 64, "Rows per generation batch");

namespace chord::rollout_worker {
namespace {

struct Timing {
  double seconds = 1e30;
  int64_t tokens = 0;
};

template <typename Fn>
Timing Best(int repeats, Fn&& run) {
  Timing best;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t tokens = run();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (tokens < 0) return Timing{0, -1};
    if (seconds < best.seconds) best = Timing{seconds, tokens};
  }
  return best;
}

int Run() {
  const int num_prompts = absl::GetFlag(FLAGS_prompts);
  const int samples = absl::GetFlag(FLAGS_samples);
  const int max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  if (absl::GetFlag(FLAGS_torch_threads) > 0)
    at::set_num_threads(absl::GetFlag(FLAGS_torch_threads));

  std::string model = absl::GetFlag(FLAGS_model);
  std::string temp;
  if (model.empty()) {
    temp =
        (std::filesystem::temp_directory_path() / absl::StrCat("chord-bench-rollout-", ::getpid()))
            .string();
    absl::Status written = model::WriteTinyModel(temp);
    if (!written.ok()) {
      std::fprintf(stderr, "chord-bench-rollout: %s\n", written.ToString().c_str());
      return 1;
    }
    model = temp;
  }
  RolloutWorkerOptions options;
  options.model_path = model;
  options.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.max_queue = 4;
  auto worker_or = RolloutWorker::Create(options, nullptr);
  if (!worker_or.ok()) {
    std::fprintf(stderr, "chord-bench-rollout: %s\n", worker_or.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<RolloutWorker> worker(std::move(*worker_or));
  RolloutGrpcService service(worker.get());
  rpc::ServerOptions server_options;
  server_options.host = "127.0.0.1";
  auto runner = rpc::ServerRunner::Start(server_options, {&service});
  if (!runner.ok()) {
    std::fprintf(stderr, "chord-bench-rollout: %s\n", runner.status().ToString().c_str());
    return 1;
  }
  auto remote = GrpcRolloutClient::Create((*runner)->address());
  InProcessRolloutClient local(worker);

  // Distinct arithmetic prompts. A sample ends at a stop token or at max_new_tokens; the table
  // counts the tokens actually generated.
  chord::v1::GenerateRequest request;
  for (int p = 0; p < num_prompts; ++p) {
    request.add_prompts()->set_text(absl::StrCat(17 * p + 3, "+", 29 * p + 11, "="));
  }
  request.set_samples_per_prompt(samples);
  request.mutable_sampling()->set_max_new_tokens(max_new_tokens);
  request.mutable_sampling()->set_seed(1);

  std::vector<chord::v1::Completion> last;
  auto generate = [&](RolloutClient& client) -> int64_t {
    CallOptions call;
    call.timeout = absl::Minutes(30);
    auto response = client.Generate(request, call);
    if (!response.ok()) {
      std::fprintf(stderr, "Generate: %s\n", response.status().ToString().c_str());
      return -1;
    }
    last.assign(response->completions().begin(), response->completions().end());
    return response->generated_tokens();
  };
  const Timing core = Best(repeats, [&] { return generate(local); });
  const Timing wire = Best(repeats, [&] { return generate(**remote); });

  chord::v1::ComputeLogprobsRequest scored;
  int64_t scored_tokens = 0;
  for (const chord::v1::Completion& c : last) {
    chord::v1::ScoredSequence* seq = scored.add_sequences();
    seq->mutable_token_ids()->Add(c.prompt_token_ids().begin(), c.prompt_token_ids().end());
    seq->mutable_token_ids()->Add(c.token_ids().begin(), c.token_ids().end());
    seq->set_start(c.prompt_token_ids_size());
    scored_tokens += c.token_ids_size();
  }
  const Timing logprobs = Best(repeats, [&]() -> int64_t {
    CallOptions call;
    call.timeout = absl::Minutes(30);
    auto response = (*remote)->ComputeLogprobs(scored, call);
    if (!response.ok()) {
      std::fprintf(stderr, "ComputeLogprobs: %s\n", response.status().ToString().c_str());
      return -1;
    }
    return scored_tokens;
  });
  if (core.tokens < 0 || wire.tokens < 0 || logprobs.tokens < 0) return 1;

  std::printf(
      "rollout worker: %s, %d prompts x %d samples, max_new_tokens %d, %d torch threads, "
      "best of %d\n\n",
      temp.empty() ? model.c_str() : "tiny preset", num_prompts, samples, max_new_tokens,
      at::get_num_threads(), repeats);
  std::printf("| path | rows | tokens | wall s | tokens/s |\n|---|---|---|---|---|\n");
  auto row = [&](const char* name, const Timing& t) {
    std::printf("| %s | %d | %lld | %.3f | %.0f |\n", name, num_prompts * samples,
                static_cast<long long>(t.tokens), t.seconds, t.tokens / t.seconds);
  };
  row("Generate (core, in-process client)", core);
  row("Generate (gRPC loopback)", wire);
  row("ComputeLogprobs (gRPC loopback)", logprobs);

  (*runner)->Shutdown();
  worker->Shutdown();
  if (!temp.empty()) std::filesystem::remove_all(temp);
  return 0;
}

}  // namespace
}  // namespace chord::rollout_worker

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return chord::rollout_worker::Run();
}
