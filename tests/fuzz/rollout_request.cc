// The rollout worker's request checks (services/rollout_worker/grpc_service.h: the proto checks
// of the adapter, then RolloutWorker's own): the input names a method on its first line
// (generate or logprobs) and gives the request in protobuf text format after it. The worker runs
// a small random-weight model of the tiny preset's architecture and vocabulary, with small
// limits (64 tokens a row, 8 rows a request, 4 new tokens by default) so that a valid request
// is answered quickly. Every refusal is INVALID_ARGUMENT or FAILED_PRECONDITION (a weight version
// this worker does not have) naming the field; every answer has the documented shape.

#include <google/protobuf/text_format.h>

#include <cmath>

#include "common/model/tiny_preset.h"
#include "services/rollout_worker/grpc_service.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

namespace v1 = chord::v1;
using chord::rollout_worker::RolloutWorker;

RolloutWorker& Worker() {
  static RolloutWorker* worker = [] {
    const std::string dir = chord::fuzz::ScratchDir() + "/tiny-model";
    chord::model::TinyPresetOptions preset;
    preset.hidden_size = 32;
    preset.num_layers = 1;
    preset.num_heads = 2;
    preset.num_kv_heads = 1;
    preset.intermediate_size = 64;
    preset.max_position_embeddings = 128;
    const absl::Status written = chord::model::WriteTinyModel(dir, preset);
    FUZZ_CHECK(written.ok(), written.ToString());
    chord::rollout_worker::RolloutWorkerOptions options;
    options.model_path = dir;
    options.max_batch_tokens = 64;
    options.max_batch_size = 8;
    options.default_max_new_tokens = 4;
    options.max_request_rows = 8;
    options.max_version_wait = absl::ZeroDuration();
    auto created = RolloutWorker::Create(options, nullptr);
    FUZZ_CHECK(created.ok(), created.status().ToString());
    return created->release();
  }();
  return *worker;
}

void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kFailedPrecondition,
             status.ToString());
  FUZZ_CHECK(!status.message().empty(), "empty message");
}

void CheckLogprob(float lp) {
  FUZZ_CHECK(std::isfinite(lp) && lp <= 0.0f, absl::StrCat("log-prob ", lp));
}

}  // namespace

CHORD_FUZZ_TARGET(rollout_request) {
  const absl::string_view text = chord::fuzz::AsText(data, size);
  const size_t newline = text.find('\n');
  const absl::string_view method = text.substr(0, newline);
  const std::string body(newline == absl::string_view::npos ? absl::string_view()
                                                            : text.substr(newline + 1));
  google::protobuf::TextFormat::Parser parser;
  chord::rollout_worker::CallControl control;
  control.deadline = absl::Now() + absl::Seconds(30);
  RolloutWorker& worker = Worker();
  if (method == "generate") {
    v1::GenerateRequest request;
    if (!parser.ParseFromString(body, &request)) return;
    v1::GenerateResponse response;
    const absl::Status status = HandleGenerate(worker, request, control, &response);
    if (!status.ok()) return CheckRefusal(status);
    const int samples = std::max(1, request.samples_per_prompt());
    FUZZ_CHECK(response.completions_size() == request.prompts_size() * samples,
               response.ShortDebugString());
    const int max_new =
        request.sampling().max_new_tokens() > 0 ? request.sampling().max_new_tokens() : 4;
    for (const v1::Completion& c : response.completions()) {
      FUZZ_CHECK(c.token_ids_size() <= max_new && c.logprobs_size() == c.token_ids_size(),
                 c.ShortDebugString());
      FUZZ_CHECK(c.finish_reason() == "stop" || c.finish_reason() == "stop_string" ||
                     c.finish_reason() == "length",
                 c.finish_reason());
      FUZZ_CHECK(c.weight_version() == response.weight_version(), "two weight versions");
      for (float lp : c.logprobs()) CheckLogprob(lp);
    }
  } else if (method == "logprobs") {
    v1::ComputeLogprobsRequest request;
    if (!parser.ParseFromString(body, &request)) return;
    v1::ComputeLogprobsResponse response;
    const absl::Status status = HandleComputeLogprobs(worker, request, control, &response);
    if (!status.ok()) return CheckRefusal(status);
    FUZZ_CHECK(response.results_size() == request.sequences_size(), response.ShortDebugString());
    for (int i = 0; i < request.sequences_size(); ++i) {
      const v1::ScoredSequence& seq = request.sequences(i);
      FUZZ_CHECK(response.results(i).logprobs_size() == seq.token_ids_size() - seq.start(),
                 response.ShortDebugString());
      for (float lp : response.results(i).logprobs()) CheckLogprob(lp);
    }
  }
}
