#include "services/reward/fake_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

namespace chord::reward {

FakeRewardClient::FakeRewardClient(std::vector<std::string> verifiers)
    : verifiers_(std::move(verifiers)) {
  std::sort(verifiers_.begin(), verifiers_.end());
  scorer_ = [](const chord::v1::ScoreItem& item) {
    chord::v1::ScoreResult result;
    bool match =
        absl::StripAsciiWhitespace(item.response()) == absl::StripAsciiWhitespace(item.reference());
    result.set_score(match ? 1.0f : 0.0f);
    result.set_correct(match);
    result.set_reason(match ? "match" : "mismatch");
    return result;
  };
}

void FakeRewardClient::SetScorer(Scorer scorer) {
  absl::MutexLock lock(&mu_);
  scorer_ = std::move(scorer);
}

std::vector<chord::v1::ScoreRequest> FakeRewardClient::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

absl::StatusOr<chord::v1::ScoreResponse> FakeRewardClient::Score(
    const chord::v1::ScoreRequest& request) {
  RETURN_IF_ERROR(failures_.Take("Score"));
  absl::MutexLock lock(&mu_);
  requests_.push_back(request);
  chord::v1::ScoreResponse response;
  for (int i = 0; i < request.items_size(); ++i) {
    const chord::v1::ScoreItem& item = request.items(i);
    if (std::find(verifiers_.begin(), verifiers_.end(), item.verifier()) == verifiers_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "].verifier: unknown verifier \"", item.verifier(), "\""));
    }
    chord::v1::ScoreResult result = scorer_(item);
    result.set_id(item.id());
    *response.add_results() = std::move(result);
  }
  return response;
}

absl::StatusOr<chord::v1::ListVerifiersResponse> FakeRewardClient::ListVerifiers() {
  RETURN_IF_ERROR(failures_.Take("ListVerifiers"));
  chord::v1::ListVerifiersResponse response;
  for (const std::string& name : verifiers_) {
    chord::v1::VerifierInfo* info = response.add_verifiers();
    info->set_name(name);
    info->set_description("fake verifier");
  }
  return response;
}

}  // namespace chord::reward
