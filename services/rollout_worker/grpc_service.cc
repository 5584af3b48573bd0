#include "services/rollout_worker/grpc_service.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/rpc/grpc_status.h"
#include "common/status/status_macros.h"

namespace chord::rollout_worker {
namespace {

// The core's view of an RPC: its deadline and the client's cancellation.
CallControl ControlFor(grpc::ServerContext* context) {
  CallControl control;
  const std::chrono::system_clock::time_point deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max() &&
      deadline < std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
    control.deadline = absl::FromChrono(deadline);
  }
  control.cancelled = [context] { return context->IsCancelled(); };
  return control;
}

}  // namespace

absl::StatusOr<GenerateCall> GenerateCallFromProto(const chord::v1::GenerateRequest& request) {
  GenerateCall call;
  call.prompts.reserve(request.prompts_size());
  for (int i = 0; i < request.prompts_size(); ++i) {
    const chord::v1::Prompt& p = request.prompts(i);
    std::vector<std::string> forms;
    if (p.token_ids_size() > 0) forms.push_back("token_ids");
    if (!p.text().empty()) forms.push_back("text");
    if (p.messages_size() > 0) forms.push_back("messages");
    if (forms.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompts[", i, "]: exactly one of token_ids, text, messages must be set (got ",
          forms.empty() ? std::string("none") : absl::StrJoin(forms, " and "), ")"));
    }
    if (p.token_ids_size() > 0) {
      call.prompts.push_back(PromptSpec::TokenIds(
          p.id(), std::vector<int32_t>(p.token_ids().begin(), p.token_ids().end())));
    } else if (!p.text().empty()) {
      call.prompts.push_back(PromptSpec::Text(p.id(), p.text()));
    } else {
      std::vector<tokenizer::ChatMessage> messages;
      messages.reserve(p.messages_size());
      for (const chord::v1::ChatMessage& m : p.messages()) {
        messages.push_back(tokenizer::ChatMessage{m.role(), m.content()});
      }
      call.prompts.push_back(PromptSpec::Messages(p.id(), std::move(messages)));
    }
  }
  const chord::v1::SamplingParams& s = request.sampling();
  call.sampling.temperature =
      (s.has_temperature() || s.temperature() != 0.0f) ? s.temperature() : 1.0f;
  call.sampling.top_p = s.top_p() == 0.0f ? 1.0f : s.top_p();
  call.sampling.top_k = s.top_k();
  call.sampling.max_new_tokens = s.max_new_tokens();
  call.sampling.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  call.sampling.stop_strings.assign(s.stop_strings().begin(), s.stop_strings().end());
  call.sampling.seed = s.seed();
  call.samples_per_prompt = request.samples_per_prompt();
  call.min_weight_version = request.min_weight_version();
  return call;
}

absl::StatusOr<LogprobsCall> LogprobsCallFromProto(
    const chord::v1::ComputeLogprobsRequest& request) {
  LogprobsCall call;
  call.sequences.reserve(request.sequences_size());
  call.starts.reserve(request.sequences_size());
  for (const chord::v1::ScoredSequence& seq : request.sequences()) {
    call.sequences.emplace_back(seq.token_ids().begin(), seq.token_ids().end());
    call.starts.push_back(seq.start());
  }
  call.temperature = request.temperature() == 0.0f ? 1.0f : request.temperature();
  return call;
}

absl::Status HandleGenerate(RolloutWorker& worker, const chord::v1::GenerateRequest& request,
                            const CallControl& control, chord::v1::GenerateResponse* response) {
  ASSIGN_OR_RETURN(GenerateCall call, GenerateCallFromProto(request));
  ASSIGN_OR_RETURN(GenerateResult result, worker.Generate(call, control));
  response->mutable_completions()->Reserve(static_cast<int>(result.completions.size()));
  for (Completion& c : result.completions) {
    chord::v1::Completion* out = response->add_completions();
    out->set_prompt_id(std::move(c.prompt_id));
    out->set_sample_index(c.sample_index);
    out->mutable_prompt_token_ids()->Add(c.prompt_token_ids.begin(), c.prompt_token_ids.end());
    out->mutable_token_ids()->Add(c.token_ids.begin(), c.token_ids.end());
    out->set_text(std::move(c.text));
    out->mutable_logprobs()->Add(c.logprobs.begin(), c.logprobs.end());
    out->set_finish_reason(std::move(c.finish_reason));
    out->set_weight_version(c.weight_version);
  }
  response->set_weight_version(result.weight_version);
  response->set_generated_tokens(result.generated_tokens);
  return absl::OkStatus();
}

absl::Status HandleComputeLogprobs(RolloutWorker& worker,
                                   const chord::v1::ComputeLogprobsRequest& request,
                                   const CallControl& control,
                                   chord::v1::ComputeLogprobsResponse* response) {
  ASSIGN_OR_RETURN(LogprobsCall call, LogprobsCallFromProto(request));
  ASSIGN_OR_RETURN(LogprobsResult result, worker.ComputeLogprobs(call, control));
  response->mutable_results()->Reserve(static_cast<int>(result.logprobs.size()));
  for (const std::vector<float>& lp : result.logprobs) {
    response->add_results()->mutable_logprobs()->Add(lp.begin(), lp.end());
  }
  response->set_weight_version(result.weight_version);
  return absl::OkStatus();
}

void HandleGetStatus(const RolloutWorker& worker, chord::v1::GetStatusResponse* response) {
  WorkerStatus status = worker.Status();
  response->set_model_path(std::move(status.model_path));
  response->set_weight_version(status.weight_version);
  response->set_weight_source(std::move(status.weight_source));
  response->set_queue_depth(status.queue_depth);
  response->set_queue_capacity(status.queue_capacity);
  response->set_generated_tokens_total(status.generated_tokens_total);
}

grpc::Status RolloutGrpcService::Generate(grpc::ServerContext* context,
                                          const chord::v1::GenerateRequest* request,
                                          chord::v1::GenerateResponse* response) {
  return rpc::ToGrpcStatus(HandleGenerate(*worker_, *request, ControlFor(context), response));
}

grpc::Status RolloutGrpcService::ComputeLogprobs(grpc::ServerContext* context,
                                                 const chord::v1::ComputeLogprobsRequest* request,
                                                 chord::v1::ComputeLogprobsResponse* response) {
  return rpc::ToGrpcStatus(
      HandleComputeLogprobs(*worker_, *request, ControlFor(context), response));
}

grpc::Status RolloutGrpcService::GetStatus(grpc::ServerContext* /*context*/,
                                           const chord::v1::GetStatusRequest* /*request*/,
                                           chord::v1::GetStatusResponse* response) {
  HandleGetStatus(*worker_, response);
  return grpc::Status::OK;
}

}  // namespace chord::rollout_worker
