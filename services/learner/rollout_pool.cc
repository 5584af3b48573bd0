#include "services/learner/rollout_pool.h"

#include <algorithm>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/learner/seed_streams.h"
#include "spdlog/spdlog.h"

namespace chord::learner {

RolloutPool::RolloutPool(std::vector<Worker> workers, RolloutPoolOptions options)
    : workers_(std::move(workers)), options_(options) {
  absl::MutexLock lock(&mu_);
  quarantined_until_.assign(workers_.size(), absl::InfinitePast());
  canceller_ = std::make_shared<rollout_worker::CallCanceller>();
}

void RolloutPool::Cancel() {
  absl::MutexLock lock(&mu_);
  canceller_->Cancel();
}

void RolloutPool::Reset() {
  absl::MutexLock lock(&mu_);
  if (canceller_->cancelled()) canceller_ = std::make_shared<rollout_worker::CallCanceller>();
}

int RolloutPool::PickWorker(const std::vector<int>& avoid) {
  absl::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  int n = static_cast<int>(workers_.size());
  // Prefer a worker not failed in this round and not quarantined; then any not failed in this
  // round; then anyone (round robin).
  for (int pass = 0; pass < 3; ++pass) {
    for (int i = 0; i < n; ++i) {
      int w = (next_ + i) % n;
      bool avoided = std::find(avoid.begin(), avoid.end(), w) != avoid.end();
      bool quarantined = quarantined_until_[w] > now;
      if ((pass == 0 && (avoided || quarantined)) || (pass == 1 && avoided)) continue;
      next_ = (w + 1) % n;
      return w;
    }
  }
  return 0;
}

void RolloutPool::MarkFailed(int worker) {
  absl::MutexLock lock(&mu_);
  quarantined_until_[worker] = absl::Now() + options_.quarantine;
}

absl::StatusOr<std::vector<std::vector<chord::v1::Completion>>> RolloutPool::Generate(
    const std::vector<chord::v1::Prompt>& prompts, const chord::v1::SamplingParams& sampling,
    int samples_per_prompt, int64_t min_weight_version, RolloutStats* stats) {
  if (workers_.empty()) return absl::FailedPreconditionError("no rollout workers");
  std::shared_ptr<rollout_worker::CallCanceller> canceller;
  {
    absl::MutexLock lock(&mu_);
    canceller = canceller_;
  }
  if (canceller->cancelled()) return absl::CancelledError("generation cancelled");
  std::vector<std::vector<chord::v1::Completion>> results(prompts.size());
  if (prompts.empty()) return results;

  // One share per usable worker, balanced by prompt count, in prompt order.
  size_t num_shares = std::min(prompts.size(), workers_.size());
  struct Share {
    size_t begin = 0, end = 0;
    absl::Status status;
    std::vector<std::string> errors;
    int64_t calls = 0, resends = 0, tokens = 0;
    int64_t min_version = INT64_MAX;
  };
  std::vector<Share> shares(num_shares);
  for (size_t s = 0; s < num_shares; ++s) {
    shares[s].begin = prompts.size() * s / num_shares;
    shares[s].end = prompts.size() * (s + 1) / num_shares;
  }
  auto run_share = [&](Share& share, int first_worker) {
    chord::v1::GenerateRequest request;
    for (size_t i = share.begin; i < share.end; ++i) {
      chord::v1::Prompt* prompt = request.add_prompts();
      *prompt = prompts[i];
      prompt->set_id(std::to_string(i));  // unique, maps completions back
    }
    *request.mutable_sampling() = sampling;
    // Distinct random streams per share (the worker seeds by position within the request).
    if (sampling.seed() != 0) {
      request.mutable_sampling()->set_seed(ShareSamplingSeed(sampling.seed(), share.begin));
    }
    request.set_samples_per_prompt(samples_per_prompt);
    request.set_min_weight_version(min_weight_version);
    std::vector<int> failed;
    int worker = first_worker;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      if (attempt > 1) worker = PickWorker(failed);
      rollout_worker::CallOptions call;
      call.timeout = options_.call_timeout;
      call.canceller = canceller.get();
      ++share.calls;
      auto response = workers_[worker].client->Generate(request, call);
      if (response.ok()) {
        for (const chord::v1::Completion& c : response->completions()) {
          size_t index = 0;
          if (!absl::SimpleAtoi(c.prompt_id(), &index) || index < share.begin ||
              index >= share.end) {
            share.status = absl::InternalError(
                absl::StrCat(workers_[worker].address,
                             " returned a completion for unknown prompt \"", c.prompt_id(), "\""));
            return;
          }
          share.tokens += c.token_ids_size();
          share.min_version = std::min(share.min_version, c.weight_version());
          results[index].push_back(c);
        }
        share.status = absl::OkStatus();
        return;
      }
      if (canceller->cancelled()) {
        share.status = absl::CancelledError("generation cancelled");
        return;
      }
      share.errors.push_back(
          absl::StrCat(workers_[worker].address, ": ", response.status().ToString()));
      if (response.status().code() == absl::StatusCode::kInvalidArgument) {
        // The request itself is wrong: every worker would refuse it.
        share.status = response.status();
        return;
      }
      spdlog::warn("rollout share [{}, {}) failed on {} (attempt {}/{}): {}", share.begin,
                   share.end, workers_[worker].address, attempt, options_.max_attempts,
                   response.status().ToString());
      MarkFailed(worker);
      failed.push_back(worker);
      if (attempt < options_.max_attempts) ++share.resends;
    }
    share.status = absl::UnavailableError(
        absl::StrCat("generation failed on every attempt: ", absl::StrJoin(share.errors, "; ")));
  };

  std::vector<int> first(num_shares);
  for (size_t s = 0; s < num_shares; ++s) first[s] = PickWorker({});
  std::vector<std::thread> threads;
  for (size_t s = 1; s < num_shares; ++s) {
    threads.emplace_back(run_share, std::ref(shares[s]), first[s]);
  }
  run_share(shares[0], first[0]);
  for (auto& t : threads) t.join();

  RolloutStats total;
  total.min_weight_version = INT64_MAX;
  for (const Share& share : shares) {
    if (!share.status.ok()) return share.status;
    total.calls += share.calls;
    total.resends += share.resends;
    total.generated_tokens += share.tokens;
    total.min_weight_version = std::min(total.min_weight_version, share.min_version);
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (static_cast<int>(results[i].size()) != samples_per_prompt) {
      return absl::InternalError(absl::StrCat("prompt ", i, " got ", results[i].size(),
                                              " completions, expected ", samples_per_prompt));
    }
    std::sort(results[i].begin(), results[i].end(),
              [](const chord::v1::Completion& a, const chord::v1::Completion& b) {
                return a.sample_index() < b.sample_index();
              });
  }
  if (stats != nullptr) *stats = total;
  return results;
}

}  // namespace chord::learner
