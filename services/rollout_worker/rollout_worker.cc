#include "services/rollout_worker/rollout_worker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model/causal_lm.h"
#include "common/model/generation.h"
#include "common/status/status_macros.h"
#include "common/weights/weight_set.h"
#include "spdlog/spdlog.h"

namespace chord::rollout_worker {
namespace {

constexpr absl::string_view kGenerateRpc = "Generate";
constexpr absl::string_view kLogprobsRpc = "ComputeLogprobs";

// The options of a job's batches: the token and row budgets, the stop check, the batch-size metric.
model::GenerationOptions BatchOptions(const RolloutWorkerOptions& worker, RolloutMetrics* metrics,
                                      std::function<bool()> should_stop) {
  model::GenerationOptions options;
  options.max_batch_tokens = worker.max_batch_tokens;
  options.max_batch_size = worker.max_batch_size;
  options.should_stop = std::move(should_stop);
  if (metrics != nullptr) {
    options.on_batch = [metrics](int rows) { metrics->ObserveBatchRows(rows); };
  }
  return options;
}

// How often a waiting caller checks its cancellation callback.
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status CheckIds(const std::vector<int32_t>& ids, int64_t vocab, absl::string_view field) {
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty"));
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] < 0 || ids[t] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": token ", t, " has id ", ids[t],
                                                     " outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOptions(const RolloutWorkerOptions& o) {
  auto at_least_one = [](absl::string_view name, int64_t value) -> absl::Status {
    if (value >= 1) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", value, " must be >= 1"));
  };
  if (o.model_path.empty()) return absl::InvalidArgumentError("model_path: empty");
  RETURN_IF_ERROR(at_least_one("max_queue", o.max_queue));
  RETURN_IF_ERROR(at_least_one("max_batch_tokens", o.max_batch_tokens));
  RETURN_IF_ERROR(at_least_one("max_batch_size", o.max_batch_size));
  RETURN_IF_ERROR(at_least_one("default_max_new_tokens", o.default_max_new_tokens));
  RETURN_IF_ERROR(at_least_one("max_request_rows", o.max_request_rows));
  if (o.max_version_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_version_wait: must be >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Dtype> ParseDtype(absl::string_view name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  return absl::InvalidArgumentError(
      absl::StrCat("dtype: \"", name, "\" is not supported (float32 or bfloat16)"));
}

uint64_t PickSeed() {
  std::random_device device;
  uint64_t seed = (static_cast<uint64_t>(device()) << 32) ^ device() ^
                  static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  return seed == 0 ? 1 : seed;
}

}  // namespace

PromptSpec PromptSpec::TokenIds(std::string id, std::vector<int32_t> ids) {
  PromptSpec p;
  p.id = std::move(id);
  p.kind = Kind::kTokenIds;
  p.token_ids = std::move(ids);
  return p;
}

PromptSpec PromptSpec::Text(std::string id, std::string text) {
  PromptSpec p;
  p.id = std::move(id);
  p.kind = Kind::kText;
  p.text = std::move(text);
  return p;
}

PromptSpec PromptSpec::Messages(std::string id, std::vector<tokenizer::ChatMessage> messages) {
  PromptSpec p;
  p.id = std::move(id);
  p.kind = Kind::kMessages;
  p.messages = std::move(messages);
  return p;
}

// A request on its way through the queue. Lives on the caller's stack: the caller leaves only
// once the generation thread is done with it (or never took it).
struct RolloutWorker::Job {
  absl::string_view rpc;
  int64_t min_version = 0;
  const CallControl* control = nullptr;

  // Generate.
  const GenerateCall* generate = nullptr;
  std::vector<std::vector<int32_t>> prompt_ids;
  model::SamplingOptions sampling;
  int samples = 1;
  GenerateResult generate_result;

  // ComputeLogprobs.
  const LogprobsCall* logprobs = nullptr;
  LogprobsResult logprobs_result;

  // Guarded by mu_.
  bool started = false;
  bool done = false;
  absl::Status status;
};

// A weight set handed over by InstallWeights; lives on that caller's stack until `done`.
struct RolloutWorker::StagedWeights {
  weights::WeightSet* weights = nullptr;
  // Guarded by mu_.
  bool done = false;
  absl::Status status;
};

RolloutWorker::RolloutWorker(const RolloutWorkerOptions& options, RolloutMetrics* metrics)
    : options_(options), metrics_(metrics) {}

absl::StatusOr<std::unique_ptr<RolloutWorker>> RolloutWorker::Create(
    const RolloutWorkerOptions& options, RolloutMetrics* metrics) {
  RETURN_IF_ERROR(CheckOptions(options));
  model::LoadOptions load_options;
  ASSIGN_OR_RETURN(load_options.dtype, ParseDtype(options.dtype));
  std::unique_ptr<RolloutWorker> worker(new RolloutWorker(options, metrics));
  const auto started = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(worker->model_, model::CausalLM::Load(options.model_path, load_options));
  ASSIGN_OR_RETURN(worker->tokenizer_,
                   tokenizer::Tokenizer::FromFile(options.model_path + "/tokenizer.json"));
  const model::ModelConfig& config = worker->model_->config();
  worker->vocab_size_ = config.vocab_size;
  if (worker->tokenizer_->vocab_size() > config.vocab_size) {
    spdlog::warn(
        "{}/tokenizer.json has ids up to {} but config.json's vocab_size is {}: prompts that "
        "encode to larger ids are refused",
        options.model_path, worker->tokenizer_->vocab_size() - 1, config.vocab_size);
  }
  absl::StatusOr<tokenizer::ChatFormat> format = tokenizer::DetectChatFormat(options.model_path);
  if (format.ok()) {
    worker->has_chat_format_ = true;
    worker->chat_format_ = *format;
    for (int32_t id : tokenizer::StopTokenIds(*worker->tokenizer_, *format)) {
      if (id < config.vocab_size) worker->base_stop_ids_.push_back(id);
    }
  } else {
    worker->chat_format_error_ = std::string(format.status().message());
    spdlog::warn("no chat format ({}): prompts given as messages will be refused",
                 worker->chat_format_error_);
  }
  for (int64_t eos : config.eos_token_ids) {
    const int32_t id = static_cast<int32_t>(eos);
    if (eos >= 0 && eos < config.vocab_size &&
        std::find(worker->base_stop_ids_.begin(), worker->base_stop_ids_.end(), id) ==
            worker->base_stop_ids_.end()) {
      worker->base_stop_ids_.push_back(id);
    }
  }
  spdlog::info(
      "loaded {} in {:.2f} s: {} {} layers, {:.2f} M parameters ({:.1f} MB as {}), vocab {}, "
      "chat format {}, stop ids [{}]",
      options.model_path, SecondsSince(started), config.model_type, config.num_hidden_layers,
      config.NumParameters() / 1e6, worker->model_->ParameterBytes() / 1e6, options.dtype,
      config.vocab_size,
      worker->has_chat_format_ ? std::string(tokenizer::ChatFormatName(worker->chat_format_))
                               : std::string("none"),
      absl::StrJoin(worker->base_stop_ids_, ", "));
  if (metrics != nullptr) {
    metrics->SetWeightVersion(0);
    metrics->SetQueueDepth(0);
  }
  worker->thread_ = std::thread([w = worker.get()] { w->Loop(); });
  return worker;
}

RolloutWorker::~RolloutWorker() { Shutdown(); }

int64_t RolloutWorker::weight_version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

WorkerStatus RolloutWorker::Status() const {
  WorkerStatus status;
  status.model_path = options_.model_path;
  status.weight_source = options_.weight_source;
  status.queue_capacity = options_.max_queue;
  status.generated_tokens_total = generated_tokens_total_.load();
  absl::MutexLock lock(&mu_);
  status.weight_version = version_;
  status.queue_depth = held_;
  return status;
}

absl::Status RolloutWorker::PrepareGenerate(const GenerateCall& call, Job* job) const {
  if (call.prompts.empty()) {
    return absl::InvalidArgumentError("prompts: empty (give at least one prompt)");
  }
  if (call.samples_per_prompt < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples_per_prompt: ", call.samples_per_prompt, " must be >= 0 (0 means 1)"));
  }
  const int samples = std::max(1, call.samples_per_prompt);
  const int64_t rows = static_cast<int64_t>(call.prompts.size()) * samples;
  if (rows > options_.max_request_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples_per_prompt: ", samples, " x ", call.prompts.size(),
                     " prompts = ", rows, " completions exceed the worker's limit of ",
                     options_.max_request_rows, " per request (max_request_rows)"));
  }
  if (call.min_weight_version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_weight_version: ", call.min_weight_version, " must be >= 0"));
  }
  const SamplingSpec& s = call.sampling;
  if (!(s.temperature >= 0) || !std::isfinite(s.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.temperature: ", s.temperature, " must be >= 0 (0 = greedy)"));
  }
  if (!(s.top_p > 0 && s.top_p <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_p: ", s.top_p, " must be in (0, 1]"));
  }
  if (s.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_k: ", s.top_k, " must be >= 0 (0 = off)"));
  }
  if (s.max_new_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampling.max_new_tokens: ", s.max_new_tokens,
                                                   " must be >= 0 (0 = the worker's default)"));
  }
  for (size_t i = 0; i < s.stop_token_ids.size(); ++i) {
    const int32_t id = s.stop_token_ids[i];
    if (id < 0 || id >= vocab_size_) {
      return absl::InvalidArgumentError(absl::StrCat("sampling.stop_token_ids[", i, "]: ", id,
                                                     " is outside the vocabulary [0, ", vocab_size_,
                                                     ")"));
    }
  }
  for (size_t i = 0; i < s.stop_strings.size(); ++i) {
    if (s.stop_strings[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sampling.stop_strings[", i, "]: empty"));
    }
  }
  const int max_new_tokens =
      s.max_new_tokens > 0 ? s.max_new_tokens : options_.default_max_new_tokens;

  job->prompt_ids.clear();
  job->prompt_ids.reserve(call.prompts.size());
  for (size_t i = 0; i < call.prompts.size(); ++i) {
    const PromptSpec& prompt = call.prompts[i];
    const std::string field = absl::StrCat("prompts[", i, "]");
    std::vector<int32_t> ids;
    switch (prompt.kind) {
      case PromptSpec::Kind::kTokenIds:
        RETURN_IF_ERROR(CheckIds(prompt.token_ids, vocab_size_, field + ".token_ids"));
        ids = prompt.token_ids;
        break;
      case PromptSpec::Kind::kText:
        if (prompt.text.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(field, ".text: empty"));
        }
        ids = tokenizer_->Encode(prompt.text);
        RETURN_IF_ERROR(CheckIds(ids, vocab_size_, field + ".text (tokenised)"));
        break;
      case PromptSpec::Kind::kMessages: {
        if (prompt.messages.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(field, ".messages: empty"));
        }
        if (!has_chat_format_) {
          return absl::FailedPreconditionError(
              absl::StrCat(field, ".messages: the model folder has no chat format (",
                           chat_format_error_, "); send token_ids or text"));
        }
        absl::StatusOr<tokenizer::RenderedChat> rendered =
            tokenizer::RenderChat(*tokenizer_, chat_format_, prompt.messages,
                                  /*add_generation_prompt=*/true);
        if (!rendered.ok()) {
          return absl::Status(rendered.status().code(),
                              absl::StrCat(field, ".", rendered.status().message()));
        }
        ids = std::move(rendered->ids);
        RETURN_IF_ERROR(CheckIds(ids, vocab_size_, field + ".messages (rendered)"));
        break;
      }
    }
    const int64_t need = static_cast<int64_t>(ids.size()) + max_new_tokens;
    if (need > options_.max_batch_tokens) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", ids.size(), " tokens + max_new_tokens ", max_new_tokens,
                       " exceed the worker's max_batch_tokens ", options_.max_batch_tokens));
    }
    job->prompt_ids.push_back(std::move(ids));
  }

  job->samples = samples;
  job->min_version = call.min_weight_version;
  model::SamplingOptions& out = job->sampling;
  out.temperature = s.temperature;
  out.top_p = s.top_p;
  out.top_k = s.top_k;
  out.max_new_tokens = max_new_tokens;
  out.stop_token_ids = base_stop_ids_;
  for (int32_t id : s.stop_token_ids) {
    if (std::find(out.stop_token_ids.begin(), out.stop_token_ids.end(), id) ==
        out.stop_token_ids.end()) {
      out.stop_token_ids.push_back(id);
    }
  }
  out.stop_strings = s.stop_strings;
  out.seed = s.seed;
  if (out.seed == 0 && out.temperature > 0) {  // greedy decoding draws nothing
    out.seed = PickSeed();
    spdlog::info("Generate: {} prompts x {} samples with seed 0: picked seed {}",
                 call.prompts.size(), samples, out.seed);
  }
  return absl::OkStatus();
}

absl::Status RolloutWorker::PrepareLogprobs(const LogprobsCall& call) const {
  if (call.sequences.empty()) {
    return absl::InvalidArgumentError("sequences: empty (give at least one sequence)");
  }
  if (call.sequences.size() != call.starts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("starts: ", call.starts.size(), " entries for ",
                                                   call.sequences.size(), " sequences"));
  }
  if (static_cast<int64_t>(call.sequences.size()) > options_.max_request_rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequences: ", call.sequences.size(), " sequences exceed the worker's limit of ",
        options_.max_request_rows, " per request (max_request_rows)"));
  }
  if (!(call.temperature >= 0) || !std::isfinite(call.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature: ", call.temperature, " must be >= 0 (0 means 1)"));
  }
  for (size_t i = 0; i < call.sequences.size(); ++i) {
    const std::vector<int32_t>& seq = call.sequences[i];
    const std::string field = absl::StrCat("sequences[", i, "]");
    RETURN_IF_ERROR(CheckIds(seq, vocab_size_, field + ".token_ids"));
    const int len = static_cast<int>(seq.size());
    if (call.starts[i] < 1 || call.starts[i] > len) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".start: ", call.starts[i], " must be in [1, ", len,
                       "] (the first token has no log-prob; start == length gives none)"));
    }
    if (len > options_.max_batch_tokens) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".token_ids: ", len, " tokens exceed the worker's max_batch_tokens ",
                       options_.max_batch_tokens));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<GenerateResult> RolloutWorker::Generate(const GenerateCall& call,
                                                       const CallControl& control) {
  Job job;
  job.rpc = kGenerateRpc;
  job.generate = &call;
  job.control = &control;
  absl::Status status = PrepareGenerate(call, &job);
  if (status.ok()) status = Submit(&job, control);
  if (metrics_ != nullptr) {
    metrics_->CountRequest(kGenerateRpc, absl::StatusCodeToString(status.code()));
  }
  if (!status.ok()) return status;
  return std::move(job.generate_result);
}

absl::StatusOr<LogprobsResult> RolloutWorker::ComputeLogprobs(const LogprobsCall& call,
                                                              const CallControl& control) {
  Job job;
  job.rpc = kLogprobsRpc;
  job.logprobs = &call;
  job.control = &control;
  absl::Status status = PrepareLogprobs(call);
  if (status.ok()) status = Submit(&job, control);
  if (metrics_ != nullptr) {
    metrics_->CountRequest(kLogprobsRpc, absl::StatusCodeToString(status.code()));
  }
  if (!status.ok()) return status;
  return std::move(job.logprobs_result);
}

void RolloutWorker::ReleaseSlot() {
  --held_;
  if (metrics_ != nullptr) metrics_->SetQueueDepth(held_);
  changed_.SignalAll();
}

absl::Status RolloutWorker::Submit(Job* job, const CallControl& control) {
  absl::MutexLock lock(&mu_);
  if (!accepting_) {
    return absl::UnavailableError(
        "the rollout worker is shutting down: send the request elsewhere");
  }
  if (held_ >= options_.max_queue) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request queue is full: ", held_, " requests held of a capacity of ",
                     options_.max_queue, " (max_queue); retry later or use another worker"));
  }
  ++held_;
  if (metrics_ != nullptr) metrics_->SetQueueDepth(held_);
  auto leave = [&](absl::Status status) {
    mu_.AssertHeld();  // called only under the lock taken above
    ReleaseSlot();
    return status;
  };
  auto caller_gave_up = [&]() -> absl::Status {
    if (absl::Now() >= control.deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(job->rpc, ": the deadline passed before the request ran"));
    }
    if (control.cancelled && control.cancelled()) {
      return absl::CancelledError(absl::StrCat(job->rpc, ": cancelled by the caller"));
    }
    return absl::OkStatus();
  };

  // min_weight_version: wait for the follower to deliver it (the generation thread installs a
  // fetched version at once while idle, otherwise after the running request).
  if (version_ < job->min_version) {
    if (options_.weight_source.empty()) {
      return leave(absl::FailedPreconditionError(
          absl::StrCat("weight version ", version_, " is older than min_weight_version ",
                       job->min_version, ", and this worker follows no weight source")));
    }
    const absl::Time limit = std::min(control.deadline, absl::Now() + options_.max_version_wait);
    while (version_ < job->min_version) {
      if (!accepting_) {
        return leave(absl::UnavailableError(
            "the rollout worker is shutting down: send the request elsewhere"));
      }
      if (control.cancelled && control.cancelled()) {
        return leave(absl::CancelledError(absl::StrCat(job->rpc, ": cancelled by the caller")));
      }
      const absl::Time now = absl::Now();
      if (now >= limit) {
        return leave(absl::FailedPreconditionError(absl::StrCat(
            "weight version ", version_, " is older than min_weight_version ", job->min_version,
            ": no such version arrived from ", options_.weight_source, " within ",
            absl::FormatDuration(options_.max_version_wait), " or the call's deadline")));
      }
      changed_.WaitWithDeadline(&mu_, std::min(limit, now + kPollInterval));
    }
  }

  queue_.push_back(job);
  changed_.SignalAll();
  while (!job->done) {
    if (job->started) {  // running: the generation thread checks `control` itself
      changed_.Wait(&mu_);
      continue;
    }
    absl::Status gave_up = caller_gave_up();
    if (!gave_up.ok()) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), job));
      return leave(gave_up);
    }
    if (control.cancelled || control.deadline != absl::InfiniteFuture()) {
      changed_.WaitWithDeadline(&mu_, std::min(control.deadline, absl::Now() + kPollInterval));
    } else {
      changed_.Wait(&mu_);
    }
  }
  return leave(job->status);
}

absl::Status RolloutWorker::StopReason(const Job& job) const {
  if (abort_.load()) {
    return absl::UnavailableError(
        absl::StrCat(job.rpc, ": stopped, the rollout worker is shutting down"));
  }
  if (absl::Now() >= job.control->deadline) {
    return absl::DeadlineExceededError(absl::StrCat(job.rpc, ": the deadline passed"));
  }
  if (job.control->cancelled && job.control->cancelled()) {
    return absl::CancelledError(absl::StrCat(job.rpc, ": cancelled by the caller"));
  }
  return absl::OkStatus();
}

absl::Status RolloutWorker::InstallWeights(weights::WeightSet&& weights) {
  StagedWeights staged;
  staged.weights = &weights;
  absl::MutexLock lock(&mu_);
  if (!accepting_) {
    return absl::UnavailableError("the rollout worker is shutting down: no weights installed");
  }
  if (weights.version <= version_) return absl::OkStatus();
  if (staged_ != nullptr) {
    staged_->done = true;
    staged_->status = absl::AbortedError(absl::StrCat("weight version ", staged_->weights->version,
                                                      " was superseded by version ",
                                                      weights.version, " before installation"));
  }
  staged_ = &staged;
  changed_.SignalAll();
  while (!staged.done) changed_.Wait(&mu_);
  return staged.status;
}

void RolloutWorker::InstallStaged(StagedWeights* staged) {
  weights::WeightSet& set = *staged->weights;
  int64_t current;
  {
    absl::MutexLock lock(&mu_);
    current = version_;
  }
  absl::Status status;
  if (set.version > current) {
    const auto started = std::chrono::steady_clock::now();
    status = model_->LoadNamedTensors(set.tensors);
    const double seconds = SecondsSince(started);
    if (status.ok()) {
      spdlog::info("installed weight version {} (was {}) in {:.3f} s", set.version, current,
                   seconds);
      if (metrics_ != nullptr) {
        metrics_->ObserveWeightInstallSeconds(seconds);
        metrics_->CountWeightSwap();
        metrics_->SetWeightVersion(static_cast<double>(set.version));
      }
    } else {
      status = Annotate(status, absl::StrCat("weight version ", set.version, " refused"));
      spdlog::error("{}; still serving version {}", std::string(status.message()), current);
      if (metrics_ != nullptr) metrics_->CountWeightRejection();
    }
  }
  set.tensors.clear();  // free the fetched copy now
  absl::MutexLock lock(&mu_);
  if (status.ok() && set.version > version_) version_ = set.version;
  staged->done = true;
  staged->status = status;
  changed_.SignalAll();
}

void RolloutWorker::Loop() {
  for (;;) {
    Job* job = nullptr;
    StagedWeights* staged = nullptr;
    {
      absl::MutexLock lock(&mu_);
      while (staged_ == nullptr && queue_.empty() && !stop_thread_) changed_.Wait(&mu_);
      if (staged_ != nullptr) {
        staged = staged_;
        staged_ = nullptr;
      } else if (!queue_.empty()) {
        job = queue_.front();
        queue_.pop_front();
        job->started = true;
      } else {
        return;  // stop_thread_ and nothing left
      }
    }
    if (staged != nullptr) {
      InstallStaged(staged);
      continue;
    }
    RunJob(job);
  }
}

void RolloutWorker::RunJob(Job* job) {
  absl::Status status = StopReason(*job);
  if (status.ok()) {
    if (job->generate != nullptr) {
      RunGenerate(job);
    } else {
      RunLogprobs(job);
    }
    status = job->status;
  }
  absl::MutexLock lock(&mu_);
  job->status = status;
  job->done = true;
  changed_.SignalAll();
}

int64_t RolloutWorker::ServedVersion() {
  absl::MutexLock lock(&mu_);
  return version_;
}

absl::Status RolloutWorker::FailureOf(const Job& job, absl::Status status) const {
  // A run stopped by should_stop reports why it was stopped (deadline, cancel, shutdown).
  if (status.code() == absl::StatusCode::kCancelled) {
    absl::Status reason = StopReason(job);
    if (!reason.ok()) return reason;
  }
  return status;
}

void RolloutWorker::RunGenerate(Job* job) {
  const int64_t version = ServedVersion();
  model::GenerationOptions options =
      BatchOptions(options_, metrics_, [this, job] { return !StopReason(*job).ok(); });
  std::function<std::string(const std::vector<int32_t>&)> decode;
  if (!job->sampling.stop_strings.empty()) {
    decode = [this](const std::vector<int32_t>& ids) { return tokenizer_->Decode(ids); };
  }
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<model::GeneratedSequence>> sequences =
      model::Generate(*model_, job->prompt_ids, job->samples, job->sampling, options, decode);
  if (metrics_ != nullptr) metrics_->ObserveGenerationSeconds(kGenerateRpc, SecondsSince(started));
  if (!sequences.ok()) {
    job->status = FailureOf(*job, sequences.status());
    return;
  }

  GenerateResult& result = job->generate_result;
  result.weight_version = version;
  result.completions.reserve(sequences->size());
  const GenerateCall& call = *job->generate;
  for (model::GeneratedSequence& seq : *sequences) {
    Completion c;
    c.prompt_id = call.prompts[seq.prompt_index].id;
    c.sample_index = seq.sample_index;
    c.prompt_token_ids = job->prompt_ids[seq.prompt_index];
    std::vector<int32_t> body = seq.tokens;
    if (seq.finish_reason == "stop" && !body.empty()) body.pop_back();
    c.text = tokenizer_->Decode(body);
    if (seq.finish_reason == "stop_string") {
      size_t cut = c.text.size();
      for (const std::string& stop : job->sampling.stop_strings) {
        cut = std::min(cut, c.text.find(stop));
      }
      c.text.resize(cut);
    }
    result.generated_tokens += static_cast<int64_t>(seq.tokens.size());
    c.token_ids = std::move(seq.tokens);
    c.logprobs = std::move(seq.logprobs);
    c.finish_reason = std::move(seq.finish_reason);
    c.weight_version = version;
    result.completions.push_back(std::move(c));
  }
  generated_tokens_total_ += result.generated_tokens;
  if (metrics_ != nullptr)
    metrics_->AddGeneratedTokens(static_cast<double>(result.generated_tokens));
  job->status = absl::OkStatus();
}

void RolloutWorker::RunLogprobs(Job* job) {
  const int64_t version = ServedVersion();
  model::GenerationOptions options =
      BatchOptions(options_, metrics_, [this, job] { return !StopReason(*job).ok(); });
  const LogprobsCall& call = *job->logprobs;
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<std::vector<float>>> logprobs =
      model::ComputeLogprobs(*model_, call.sequences, call.starts, call.temperature, options);
  if (metrics_ != nullptr) metrics_->ObserveGenerationSeconds(kLogprobsRpc, SecondsSince(started));
  if (!logprobs.ok()) {
    job->status = FailureOf(*job, logprobs.status());
    return;
  }
  job->logprobs_result.logprobs = *std::move(logprobs);
  job->logprobs_result.weight_version = version;
  job->status = absl::OkStatus();
}

void RolloutWorker::StopAccepting() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
  changed_.SignalAll();
}

void RolloutWorker::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    accepting_ = false;
    changed_.SignalAll();
    const absl::Time until = absl::Now() + grace;
    while (held_ > 0 && absl::Now() < until) changed_.WaitWithDeadline(&mu_, until);
    for (Job* job : queue_) {
      job->done = true;
      job->status = absl::UnavailableError(
          absl::StrCat(job->rpc, ": dropped, the rollout worker is shutting down"));
    }
    queue_.clear();
    abort_ = true;
    stop_thread_ = true;
    changed_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  if (staged_ != nullptr) {
    staged_->done = true;
    staged_->status = absl::UnavailableError("the rollout worker shut down before installing");
    staged_ = nullptr;
  }
  // Callers still inside Generate/ComputeLogprobs leave promptly now; wait for them so that the
  // worker may be destroyed after Shutdown returns.
  changed_.SignalAll();
  while (held_ > 0) changed_.Wait(&mu_);
  shut_down_ = true;
}

}  // namespace chord::rollout_worker
