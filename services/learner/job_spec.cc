#include "services/learner/job_spec.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/config/yaml_reader.h"

namespace chord::learner {

int64_t JobSpec::ExpertRowsPerStep() const {
  return static_cast<int64_t>(
      std::ceil(algorithm.batch.expert_data_ratio * static_cast<double>(train_batch_size) - 1e-9));
}

int64_t JobSpec::OnPolicyRowsPerStep() const { return train_batch_size - ExpertRowsPerStep(); }

int64_t JobSpec::TasksPerStep() const {
  int64_t k = std::max<int64_t>(1, algorithm.batch.repeat_times);
  return OnPolicyRowsPerStep() / k;
}

namespace {

void ReadDataset(config::YamlReader& parent, const std::string& key, bool required,
                 DatasetRef* out) {
  if (!parent.Has(key)) {
    parent.Child(key, required);
    return;
  }
  config::YamlReader reader = parent.Child(key);
  reader.Read("path", &out->path, /*required=*/true);
  reader.Read("name", &out->name);
  reader.Finish();
  if (out->name.empty() && !out->path.empty()) {
    // Default name: the file name without directories and extension.
    std::string base = out->path.substr(out->path.find_last_of('/') + 1);
    out->name = base.substr(0, base.find('.'));
    if (out->name.empty()) out->name = key;
  }
}

}  // namespace

absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text, const std::string& source) {
  auto node = config::ParseYaml(yaml_text, source);
  if (!node.ok()) return node.status();
  std::vector<std::string> problems;
  config::YamlReader root(*node, source, &problems);
  JobSpec spec;
  root.Read("name", &spec.name, /*required=*/true);
  root.Read("model", &spec.model, /*required=*/true);
  bool steps_read = root.Read("steps", &spec.steps, /*required=*/true);
  root.Read("train_batch_size", &spec.train_batch_size);
  root.Read("verifier", &spec.verifier);
  root.Read("think_format_penalty", &spec.think_format_penalty);
  root.Read("save_interval", &spec.save_interval);
  root.Read("keep_checkpoints", &spec.keep_checkpoints);
  std::string mode(JobModeName(spec.mode));
  root.Read("mode", &mode);
  root.Read("max_staleness", &spec.max_staleness);
  root.Read("seed", &spec.seed);

  config::YamlReader datasets = root.Child("datasets", /*required=*/true);
  ReadDataset(datasets, "tasks", /*required=*/false, &spec.tasks);
  ReadDataset(datasets, "expert", /*required=*/false, &spec.expert);
  ReadDataset(datasets, "eval", /*required=*/false, &spec.eval);
  datasets.Finish();

  // Algorithm keys: the variant first, then every other key on top of it.
  config::YamlReader algo = root.Child("algorithm");
  if (algo.Has("variant")) {
    std::string variant = algo.ScalarText("variant");
    absl::Status status = algorithm::ApplyVariant(variant, &spec.algorithm);
    if (!status.ok()) algo.Problem("variant", std::string(status.message()));
  }
  for (const std::string& key : algo.Keys()) {
    if (key == "variant") continue;
    if (key == "mu_step_offset") {
      // Set for each stage by algorithm::PlanStages; the learner passes it to its ranks.
      algo.ScalarText(key);
      algo.Problem(key, "derived from mu_step_count and the stages; not a job spec key");
      continue;
    }
    std::string value = algo.ScalarText(key);
    absl::Status status = algorithm::SetConfigKey(key, value, &spec.algorithm);
    if (!status.ok()) {
      // SetConfigKey's message starts with the key; keep only the problem.
      std::string message(status.message());
      if (message.rfind(key + ": ", 0) == 0) message = message.substr(key.size() + 2);
      algo.Problem(key, message);
    }
  }
  // Asynchronous mode trains on rollouts up to max_staleness versions old: the PPO ratio must
  // use the behaviour log-probs of the rollout unless the spec asks for recomputation.
  absl::StatusOr<JobMode> parsed_mode = ParseJobMode(mode);
  if (parsed_mode.ok()) spec.mode = *parsed_mode;
  if (spec.mode == JobMode::kAsync && !algo.Has("strict_on_policy")) {
    spec.algorithm.batch.strict_on_policy = false;
  }
  const bool logprob_temperature_set = algo.Has("logprob_temperature");
  algo.Finish();

  config::YamlReader sampling = root.Child("sampling");
  sampling.Read("temperature", &spec.sampling.temperature);
  sampling.Read("top_p", &spec.sampling.top_p);
  sampling.Read("top_k", &spec.sampling.top_k);
  sampling.Read("max_new_tokens", &spec.sampling.max_new_tokens);
  sampling.Read("stop_strings", &spec.sampling.stop_strings);
  sampling.Finish();
  // Log-probs at the temperature the rollouts were sampled at (their behaviour log-probs are).
  if (!logprob_temperature_set) {
    spec.algorithm.batch.logprob_temperature =
        spec.sampling.temperature > 0 ? spec.sampling.temperature : 1.0;
  }

  config::YamlReader evaluation = root.Child("eval");
  evaluation.Read("interval", &spec.evaluation.interval);
  evaluation.Read("max_samples", &spec.evaluation.max_samples);
  evaluation.Read("temperature", &spec.evaluation.temperature);
  evaluation.Read("max_new_tokens", &spec.evaluation.max_new_tokens);
  evaluation.Finish();

  config::YamlReader services = root.Child("services");
  services.Read("expert_buffer", &spec.services.expert_buffer);
  services.Read("reward", &spec.services.reward);
  services.Read("rollout_workers", &spec.services.rollout_workers);
  services.Read("generation_timeout_s", &spec.services.generation_timeout_s);
  services.Read("call_timeout_s", &spec.services.call_timeout_s);
  services.Read("outage_timeout_s", &spec.services.outage_timeout_s);
  services.Finish();
  root.Finish();

  // Cross-field validation. Problems name the key path; lines come from the readers above.
  auto problem = [&](const std::string& path, const std::string& message) {
    problems.push_back(absl::StrCat(source, ": ", path, ": ", message));
  };
  if (steps_read && spec.steps < 1) problem("steps", "must be >= 1");
  if (spec.train_batch_size < 1) problem("train_batch_size", "must be >= 1");
  if (!parsed_mode.ok()) problem("mode", std::string(parsed_mode.status().message()));
  if (spec.max_staleness < 0 || spec.max_staleness > kMaxStaleness) {
    problem("max_staleness",
            absl::StrCat("must be in [0, ", kMaxStaleness, "], got ", spec.max_staleness));
  }
  if (spec.save_interval < 0) problem("save_interval", "must be >= 0");
  if (spec.keep_checkpoints < 1) problem("keep_checkpoints", "must be >= 1");
  if (!(spec.sampling.temperature >= 0)) problem("sampling.temperature", "must be >= 0");
  if (!(spec.sampling.top_p > 0 && spec.sampling.top_p <= 1)) {
    problem("sampling.top_p", "must be in (0, 1]");
  }
  if (spec.sampling.top_k < 0) problem("sampling.top_k", "must be >= 0");
  if (spec.sampling.max_new_tokens < 1) problem("sampling.max_new_tokens", "must be >= 1");
  if (spec.evaluation.interval < 0) problem("eval.interval", "must be >= 0");
  if (spec.evaluation.max_samples < 0) problem("eval.max_samples", "must be >= 0");
  if (!(spec.evaluation.temperature >= 0)) problem("eval.temperature", "must be >= 0");
  if (spec.evaluation.max_new_tokens < 0) problem("eval.max_new_tokens", "must be >= 0");
  if (spec.evaluation.max_new_tokens == 0) {
    spec.evaluation.max_new_tokens = spec.sampling.max_new_tokens;
  }
  if (!(spec.services.generation_timeout_s > 0)) {
    problem("services.generation_timeout_s", "must be > 0");
  }
  if (!(spec.services.call_timeout_s > 0)) problem("services.call_timeout_s", "must be > 0");
  if (!(spec.services.outage_timeout_s >= 0)) {
    problem("services.outage_timeout_s", "must be >= 0");
  }

  algorithm::ResolveJobDefaults(spec.sampling.max_new_tokens, &spec.algorithm);
  for (const std::string& p : algorithm::Validate(spec.algorithm, "algorithm.")) {
    problems.push_back(absl::StrCat(source, ": ", p));
  }
  {
    // With a missing or invalid step count, still check the datasets against the stages.
    auto stages =
        algorithm::PlanStages(spec.algorithm, spec.steps >= 1 ? spec.steps : 2, "algorithm.");
    if (!stages.ok()) {
      problems.push_back(absl::StrCat(source, ": ", stages.status().message()));
    } else {
      // Every stage must be able to form its batch from the datasets given.
      for (const algorithm::Stage& stage : *stages) {
        JobSpec staged = spec;
        staged.algorithm = stage.config;
        std::string where = stages->size() > 1 ? absl::StrCat(" (stage ", stage.name, ")") : "";
        if (staged.ExpertRowsPerStep() > 0 && spec.expert.path.empty()) {
          problem("datasets.expert", absl::StrCat("required: expert_data_ratio > 0", where));
        }
        int64_t on_policy = staged.OnPolicyRowsPerStep();
        if (on_policy > 0) {
          if (spec.tasks.path.empty()) {
            problem("datasets.tasks", absl::StrCat("required: on-policy rows per step > 0", where));
          }
          int64_t k = staged.algorithm.batch.repeat_times;
          if (k >= 1 && on_policy % k != 0) {
            problem("train_batch_size",
                    absl::StrCat("the ", on_policy, " on-policy rows per step", where,
                                 " (train_batch_size ", spec.train_batch_size,
                                 " minus ceil(expert_data_ratio x train_batch_size)) are not a "
                                 "multiple of repeat_times ",
                                 k));
          }
        }
      }
    }
  }
  if (!problems.empty()) return config::ProblemsToStatus(problems, "invalid job spec");
  return spec;
}

}  // namespace chord::learner
