#include "services/rollout_worker/fake_client.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

namespace chord::rollout_worker {

FakeRolloutClient::FakeRolloutClient(absl::Duration max_version_wait)
    : max_version_wait_(max_version_wait) {
  responder_ = [](const chord::v1::Prompt& /*prompt*/, int samples,
                  const chord::v1::SamplingParams& /*sampling*/) {
    std::vector<chord::v1::Completion> completions(static_cast<size_t>(samples));
    for (int i = 0; i < samples; ++i) {
      chord::v1::Completion& c = completions[static_cast<size_t>(i)];
      c.set_text(absl::StrCat("sample ", i));
      for (int32_t id : {5, 6, 7}) {
        c.add_token_ids(id);
        c.add_logprobs(-1.0f);
      }
      c.set_finish_reason("length");
    }
    return completions;
  };
}

void FakeRolloutClient::SetResponder(Responder responder) {
  absl::MutexLock lock(&mu_);
  responder_ = std::move(responder);
}

void FakeRolloutClient::SetWeightVersion(int64_t version) {
  absl::MutexLock lock(&mu_);
  version_ = version;
  changed_.SignalAll();
}

int64_t FakeRolloutClient::weight_version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

void FakeRolloutClient::Hold() {
  absl::MutexLock lock(&mu_);
  held_ = true;
}

void FakeRolloutClient::Release() {
  absl::MutexLock lock(&mu_);
  held_ = false;
  changed_.SignalAll();
}

std::vector<chord::v1::GenerateRequest> FakeRolloutClient::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

absl::StatusOr<chord::v1::GenerateResponse> FakeRolloutClient::Generate(
    const chord::v1::GenerateRequest& request, const CallOptions& options) {
  absl::Time start = absl::Now();
  absl::Time deadline =
      options.timeout > absl::ZeroDuration() ? start + options.timeout : absl::InfiniteFuture();
  absl::MutexLock lock(&mu_);
  requests_.push_back(request);
  // Waits as a real worker would: while held, or for the weight version the request needs.
  while (held_ || version_ < request.min_weight_version()) {
    if (options.canceller != nullptr && options.canceller->cancelled()) {
      return absl::CancelledError("Generate: cancelled by the caller");
    }
    absl::Time now = absl::Now();
    if (now >= deadline) return absl::DeadlineExceededError("Generate: deadline exceeded");
    if (!held_ && now - start >= max_version_wait_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "weight version ", version_, " is older than min_weight_version ",
          request.min_weight_version(), " after ", absl::FormatDuration(max_version_wait_)));
    }
    // Woken by a new version or Release(); the canceller is polled (it cannot wake this wait).
    changed_.WaitWithTimeout(&mu_, absl::Milliseconds(2));
  }
  if (options.canceller != nullptr && options.canceller->cancelled()) {
    return absl::CancelledError("Generate: cancelled by the caller");
  }
  RETURN_IF_ERROR(failures_.Take("Generate"));
  chord::v1::GenerateResponse response;
  int samples = request.samples_per_prompt() > 0 ? request.samples_per_prompt() : 1;
  int64_t tokens = 0;
  for (const chord::v1::Prompt& prompt : request.prompts()) {
    ASSIGN_OR_RETURN(std::vector<chord::v1::Completion> completions,
                     responder_(prompt, samples, request.sampling()));
    for (size_t i = 0; i < completions.size(); ++i) {
      chord::v1::Completion* out = response.add_completions();
      *out = std::move(completions[i]);
      out->set_prompt_id(prompt.id());
      out->set_sample_index(static_cast<int32_t>(i));
      out->set_weight_version(version_);
      tokens += out->token_ids_size();
    }
  }
  response.set_weight_version(version_);
  response.set_generated_tokens(tokens);
  return response;
}

absl::StatusOr<chord::v1::ComputeLogprobsResponse> FakeRolloutClient::ComputeLogprobs(
    const chord::v1::ComputeLogprobsRequest& request, const CallOptions& /*options*/) {
  RETURN_IF_ERROR(failures_.Take("ComputeLogprobs"));
  absl::MutexLock lock(&mu_);
  chord::v1::ComputeLogprobsResponse response;
  for (const chord::v1::ScoredSequence& sequence : request.sequences()) {
    chord::v1::SequenceLogprobs* out = response.add_results();
    for (int i = sequence.start(); i < sequence.token_ids_size(); ++i) out->add_logprobs(-1.0f);
  }
  response.set_weight_version(version_);
  return response;
}

absl::StatusOr<chord::v1::GetStatusResponse> FakeRolloutClient::GetStatus(
    const CallOptions& /*options*/) {
  RETURN_IF_ERROR(failures_.Take("GetStatus"));
  absl::MutexLock lock(&mu_);
  chord::v1::GetStatusResponse response;
  response.set_model_path("fake");
  response.set_weight_version(version_);
  return response;
}

}  // namespace chord::rollout_worker
