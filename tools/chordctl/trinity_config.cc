#include "tools/chordctl/trinity_config.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config/yaml_reader.h"
#include "yaml-cpp/yaml.h"

namespace chord::chordctl {
namespace {

// The order of the spec's top-level keys (docs/job-spec.md).
constexpr const char* kSpecOrder[] = {"name",     "model",         "steps",     "train_batch_size",
                                      "verifier", "datasets",      "algorithm", "sampling",
                                      "eval",     "save_interval", "mode",      "max_staleness",
                                      "seed"};

// Reasons shared by several keys.
constexpr char kNoRay[] = "Chord runs no Ray cluster: the services are separate processes";
constexpr char kRolloutEngine[] =
    "rollout engines are chord-rollout-worker processes; their flags and the Helm values set "
    "engines, devices and dtypes (docs/rollout-worker.md)";
constexpr char kDeployment[] =
    "ranks and rollout workers come from the deployment (chordctl up, the Helm chart), not from "
    "the job";
constexpr char kMicroBatches[] =
    "micro-batches are packed by micro_batch_token_budget, and Chord's loss is exact for any "
    "packing and rank count";
constexpr char kNormaliser[] =
    "a normaliser input of the reference: Chord derives every normaliser from the actual batch";
constexpr char kUnknown[] = "not a Trinity-RFT key this converter knows";

std::string FormatNumber(double value) {
  for (int precision = 6; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

// "a.b[2].c" -> {"a", "b", "[2]", "c"}.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  for (absl::string_view piece : absl::StrSplit(path, '.')) {
    size_t bracket = piece.find('[');
    if (bracket == absl::string_view::npos) {
      parts.emplace_back(piece);
      continue;
    }
    parts.emplace_back(piece.substr(0, bracket));
    for (absl::string_view rest = piece.substr(bracket); !rest.empty();) {
      size_t close = rest.find(']');
      if (close == absl::string_view::npos) break;
      parts.emplace_back(rest.substr(0, close + 1));
      rest.remove_prefix(close + 1);
    }
  }
  return parts;
}

// Looks a path up without creating anything (const access).
YAML::Node Lookup(const YAML::Node& node, const std::vector<std::string>& parts, size_t i) {
  if (i == parts.size()) return node;
  if (!node.IsDefined() || node.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  const std::string& part = parts[i];
  if (!part.empty() && part.front() == '[') {
    if (!node.IsSequence()) return YAML::Node(YAML::NodeType::Undefined);
    size_t index = 0;
    if (!absl::SimpleAtoi(part.substr(1, part.size() - 2), &index) || index >= node.size()) {
      return YAML::Node(YAML::NodeType::Undefined);
    }
    const YAML::Node child = node[index];
    if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    return Lookup(child, parts, i + 1);
  }
  if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  // A missing key gives an invalid node, which throws on use: return a valid undefined one.
  const YAML::Node child = node[part];
  if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return Lookup(child, parts, i + 1);
}

bool IsPresent(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

class Converter {
 public:
  Converter(YAML::Node root, std::string source, TrinityConversionOptions options)
      : root_(std::move(root)), source_(std::move(source)), options_(options) {}

  absl::StatusOr<TrinityConversion> Run();

 private:
  // ---- reading the Trinity-RFT document ----
  YAML::Node Find(const std::string& path) const { return Lookup(root_, SplitPath(path), 0); }
  bool Has(const std::string& path) const { return IsPresent(Find(path)); }
  // Marks `path` and everything under it as accounted for.
  void Accept(const std::string& path) { accounted_.insert(path); }
  // Lists `path` (when present) as unmapped with `reason`; accounts for its subtree.
  void Skip(const std::string& path, const std::string& reason) {
    if (!Find(path).IsDefined() || IsAccounted(path)) return;
    Accept(path);
    Unmapped(path, reason);
  }
  // Lists `path` as unmapped with `reason` whatever it holds; accounts for its subtree.
  void Unmapped(const std::string& path, const std::string& reason) {
    Accept(path);
    unmapped_.push_back({path, reason});
  }
  // Skips every child of the mapping at `path` that is not yet accounted for.
  void SkipChildren(const std::string& path, const std::string& reason) {
    const YAML::Node node = Find(path);
    if (!node.IsMap()) return Skip(path, reason);
    for (const auto& entry : node) Skip(absl::StrCat(path, ".", entry.first.Scalar()), reason);
  }
  bool IsAccounted(const std::string& path) const;
  void Error(const std::string& path, const std::string& problem);
  // Typed values of present keys (accounted for); nullopt when absent, null or of the wrong type
  // (then an error).
  std::optional<std::string> Scalar(const std::string& path);
  std::optional<std::string> String(const std::string& path) { return Scalar(path); }
  std::optional<int64_t> Int(const std::string& path);
  std::optional<double> Double(const std::string& path);
  std::optional<bool> Bool(const std::string& path);

  // ---- writing the spec ----
  void Set(const std::string& spec_path, const std::string& text);
  void SetNumber(const std::string& spec_path, double value) {
    Set(spec_path, FormatNumber(value));
  }
  void SetInt(const std::string& spec_path, int64_t value) { Set(spec_path, absl::StrCat(value)); }
  void SetBool(const std::string& spec_path, bool value) {
    Set(spec_path, value ? "true" : "false");
  }
  void Note(std::string note) { notes_.push_back(std::move(note)); }
  std::string EmitSpec() const;

  // ---- the sections ----
  void TopLevel();
  void Algorithm();
  void MixChordLoss(const std::string& args);
  void PpoLoss(const std::string& args);
  void SftLoss(const std::string& args);
  void KlAndEntropy();
  void Buffer();
  void TaskDataset(const std::string& path, const std::string& spec_dataset, bool eval);
  void ExpertDataset(const std::string& path);
  void Verifier();
  void Model();
  void Explorer();
  void Synchronizer();
  void Trainer();
  void BatchNotes();
  void ListUnaccountedLeaves(const YAML::Node& node, const std::string& path);

  YAML::Node root_;
  std::string source_;
  TrinityConversionOptions options_;
  std::string type_;
  std::set<std::string> accounted_;
  std::vector<UnmappedKey> unmapped_;
  std::vector<std::string> notes_;
  std::vector<std::string> errors_;
  // The spec as (dotted path, scalar text), in insertion order within each section.
  std::vector<std::pair<std::string, std::string>> spec_;

  // Values several sections need.
  int64_t repeat_times_ = 1;
  double expert_data_ratio_ = 0.0;
  int64_t train_batch_size_ = 0;
  int64_t batch_size_ = 1;
  std::optional<int64_t> mini_batch_size_;
  std::optional<bool> token_level_sft_;
};

bool Converter::IsAccounted(const std::string& path) const {
  if (accounted_.count(path) > 0) return true;
  for (size_t i = path.size(); i > 0; --i) {
    const char c = path[i - 1];
    if ((c == '.' || c == '[') && accounted_.count(path.substr(0, i - 1)) > 0) return true;
  }
  return false;
}

void Converter::Error(const std::string& path, const std::string& problem) {
  const YAML::Node node = Find(path);
  if (node.IsDefined() && node.Mark().line >= 0) {
    errors_.push_back(absl::StrCat(source_, ":", node.Mark().line + 1, ": ", path, ": ", problem));
  } else {
    errors_.push_back(absl::StrCat(source_, ": ", path, ": ", problem));
  }
}

std::optional<std::string> Converter::Scalar(const std::string& path) {
  const YAML::Node node = Find(path);
  if (!node.IsDefined()) return std::nullopt;
  Accept(path);
  if (node.IsNull()) return std::nullopt;
  if (!node.IsScalar()) {
    Error(path, "expected a single value");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<int64_t> Converter::Int(const std::string& path) {
  std::optional<std::string> text = Scalar(path);
  if (!text.has_value()) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value)) {
    Error(path, absl::StrCat("expected an integer, got \"", *text, "\""));
    return std::nullopt;
  }
  return value;
}

std::optional<double> Converter::Double(const std::string& path) {
  std::optional<std::string> text = Scalar(path);
  if (!text.has_value()) return std::nullopt;
  double value = 0;
  if (!absl::SimpleAtod(*text, &value) || !std::isfinite(value)) {
    Error(path, absl::StrCat("expected a number, got \"", *text, "\""));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Converter::Bool(const std::string& path) {
  std::optional<std::string> text = Scalar(path);
  if (!text.has_value()) return std::nullopt;
  const std::string lower = absl::AsciiStrToLower(*text);
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  Error(path, absl::StrCat("expected true or false, got \"", *text, "\""));
  return std::nullopt;
}

void Converter::Set(const std::string& spec_path, const std::string& text) {
  for (auto& [path, value] : spec_) {
    if (path == spec_path) {
      value = text;
      return;
    }
  }
  spec_.emplace_back(spec_path, text);
}

std::string Converter::EmitSpec() const {
  // Insert in the documented top-level order, each section's keys in insertion order.
  YAML::Node spec(YAML::NodeType::Map);
  for (const char* top : kSpecOrder) {
    for (const auto& [path, text] : spec_) {
      std::vector<std::string> parts = absl::StrSplit(path, '.');
      if (parts.front() != top) continue;
      YAML::Node node = spec;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        YAML::Node child = node[parts[i]];
        node.reset(child);
      }
      node[parts.back()] = text;
    }
  }
  YAML::Emitter out;
  out << spec;
  return std::string(out.c_str()) + "\n";
}

// ---- the sections --------------------------------------------------------------------------

void Converter::TopLevel() {
  std::optional<std::string> name = String("name");
  if (name.has_value() && !name->empty()) {
    Set("name", *name);
  } else {
    Set("name", "rft");
    Note("name: absent; the job takes Trinity-RFT's default name, rft");
  }
  Skip("project", "Chord jobs have one name (`name`), no project grouping");
  Skip("group", "Chord jobs have one name (`name`), no group");
  Skip("checkpoint_root_dir",
       "checkpoints go under the learner's --state_dir (jobs/<id>/checkpoints, "
       "docs/checkpoints.md)");
  Skip("checkpoint_job_dir", "checkpoints go under the learner's --state_dir");
  Skip("continue_from_checkpoint",
       "a Chord learner always resumes a job from its newest checkpoint after a restart");
  Skip("ray_namespace", kNoRay);
  Skip("cluster", kDeployment);
  Skip("monitor",
       "Chord exports Prometheus metrics (docs/metrics.md); `chordctl plot` draws a job's curves");
  Skip("data_processor", "Chord has no data-processing pipeline: datasets are JSONL files");
  Skip("service", "Chord uses no outside service (Data-Juicer)");
  Skip("log", "the services log to stderr (docs/operations.md)");
  std::optional<std::string> mode = String("mode");
  if (mode.has_value() && *mode != "both" && !(*mode == "train" && type_ == "sft")) {
    Error("mode", absl::StrCat("\"", *mode,
                               "\" is not supported: a Chord job generates its own "
                               "rollouts and trains on them (mode both; train only for sft)"));
  }
}

void Converter::Algorithm() {
  Accept("algorithm.algorithm_type");
  const bool sft = type_ == "sft";
  // First in the spec's algorithm map; MixChordLoss refines it.
  Set("algorithm.variant", type_ == "mix_chord" ? "chord-phi" : type_);
  // Rollouts per task: Trinity-RFT's default of the algorithm when absent.
  if (sft) {
    Skip("algorithm.repeat_times", "an sft job generates no rollouts");
  } else {
    std::optional<int64_t> k = Int("algorithm.repeat_times");
    repeat_times_ = k.value_or(type_ == "mix_chord" ? 8 : 2);
    if (!k.has_value()) {
      Note(absl::StrCat("algorithm.repeat_times: absent; Trinity-RFT's default for ", type_, ", ",
                        repeat_times_, ", is written"));
    }
    SetInt("algorithm.repeat_times", repeat_times_);
  }

  // Sample strategy: the expert share of a step.
  std::optional<std::string> strategy = String("algorithm.sample_strategy");
  const std::string expected_strategy = type_ == "mix_chord" ? "mix" : "default";
  if (strategy.has_value() && *strategy != expected_strategy && *strategy != "warmup") {
    Skip("algorithm.sample_strategy", absl::StrCat("Chord forms a step's batch as Trinity-RFT's ",
                                                   expected_strategy, " strategy does"));
  }
  if (type_ == "mix_chord") {
    std::optional<double> ratio = Double("algorithm.sample_strategy_args.expert_data_ratio");
    expert_data_ratio_ = ratio.value_or(0.5);
    if (!ratio.has_value()) {
      Note(
          "algorithm.sample_strategy_args.expert_data_ratio: absent; the mix strategy's "
          "default, 0.5, is written");
    }
    SetNumber("algorithm.expert_data_ratio", expert_data_ratio_);
  } else {
    expert_data_ratio_ = sft ? 1.0 : 0.0;
    Skip("algorithm.sample_strategy_args.expert_data_ratio",
         absl::StrCat(type_, " has no ", sft ? "rollouts" : "expert rows", " to mix"));
  }

  // Advantages: GRPO with epsilon 1e-6.
  std::optional<std::string> advantage = String("algorithm.advantage_fn");
  if (advantage.has_value() && *advantage != "grpo") {
    Skip("algorithm.advantage_fn", "Chord's advantages are GRPO's (group mean and std)");
  }
  std::optional<double> epsilon = Double("algorithm.advantage_fn_args.epsilon");
  if (epsilon.has_value() && *epsilon != 1e-6) {
    Unmapped("algorithm.advantage_fn_args.epsilon", "Chord's GRPO epsilon is fixed at 1e-6");
  }
  if (sft) SkipChildren("algorithm.advantage_fn_args", "an sft job has no advantages");

  // The policy loss and its arguments.
  const std::string expected_loss = type_ == "mix_chord" ? "mix_chord" : sft ? "sft" : "ppo";
  std::optional<std::string> loss = String("algorithm.policy_loss_fn");
  const std::string loss_name = loss.value_or(expected_loss);
  const std::string args = "algorithm.policy_loss_fn_args";
  if (type_ == "mix_chord" && loss_name == "mix_chord") {
    MixChordLoss(args);
  } else if (type_ == "grpo" && loss_name == "ppo") {
    PpoLoss(args);
  } else if (sft && (loss_name == "sft" || loss_name == "sft_phi" || loss_name == "sft_is")) {
    if (loss_name == "sft_phi") Set("algorithm.sft_weight", "phi");
    if (loss_name == "sft_is") Set("algorithm.sft_weight", "is");
    SftLoss(args);
  } else {
    Skip("algorithm.policy_loss_fn",
         absl::StrCat("Chord's ", type_, " loss is ", expected_loss,
                      "'s; another policy loss has no Chord counterpart"));
    SkipChildren(args, "arguments of a policy loss Chord does not have");
  }
  KlAndEntropy();

  // The SFT warm-up's aggregation (Trinity-RFT's algorithm.use_token_level_loss).
  std::optional<bool> warmup_token_level = Bool("algorithm.use_token_level_loss");
  if (warmup_token_level.has_value()) {
    if (!token_level_sft_.has_value()) {
      token_level_sft_ = warmup_token_level;
      SetBool("algorithm.use_token_level_loss_in_sft", *warmup_token_level);
    } else if (*token_level_sft_ != *warmup_token_level) {
      Unmapped("algorithm.use_token_level_loss",
               "Chord's SFT warm-up stage aggregates as the SFT part does "
               "(use_token_level_loss_in_sft, set from policy_loss_fn_args)");
    }
  }
}

void Converter::MixChordLoss(const std::string& args) {
  const bool given = Has(args);
  // mix_chord's constructor defaults (the same as its default_args, clip_range aside).
  const int64_t w = Int(args + ".mu_warmup_steps").value_or(0);
  const int64_t d = Int(args + ".mu_decay_steps").value_or(0);
  const double peak = Double(args + ".mu_peak").value_or(0.1);
  const double valley = Double(args + ".mu_valley").value_or(0.1);
  const bool phi = Bool(args + ".enable_phi_function").value_or(true);
  const char* variant = phi ? "chord-phi" : (w > 0 || d > 0 || peak != valley) ? "chord-mu" : "mix";
  Set("algorithm.variant", variant);
  SetInt("algorithm.mu_warmup_steps", w);
  SetInt("algorithm.mu_decay_steps", d);
  SetNumber("algorithm.mu_peak", peak);
  SetNumber("algorithm.mu_valley", valley);
  SetBool("algorithm.enable_phi_function", phi);
  if (!given) {
    Note(
        "algorithm.policy_loss_fn_args: absent; mix_chord's default_args are written (mu fixed "
        "0.1, phi on, clip_range 0.2)");
  }
  Note(
      "mu runs on the job's step across stages (mu_step_count job), as Trinity-RFT's trainer "
      "step does");
  std::optional<double> clip = Double(args + ".clip_range");
  if (clip.has_value()) SetNumber("algorithm.clip_range", *clip);
  if (auto low = Double(args + ".clip_range_low")) SetNumber("algorithm.clip_range_low", *low);
  if (auto high = Double(args + ".clip_range_high")) SetNumber("algorithm.clip_range_high", *high);
  if (auto token_level = Bool(args + ".use_token_level_loss_in_sft")) {
    token_level_sft_ = token_level;
    SetBool("algorithm.use_token_level_loss_in_sft", *token_level);
  }
  if (auto mode = String(args + ".grpo_loss_agg_mode")) Set("algorithm.loss_agg_mode", *mode);
  mini_batch_size_ = Int(args + ".ppo_mini_batch_size");
  Skip(args + ".use_dynamic_bsz", kMicroBatches);
  Skip(args + ".ppo_micro_batch_size_per_gpu", kMicroBatches);
  Skip(args + ".ngpus_trainer", kDeployment);
  Skip(args + ".train_batch_size_usual", kNormaliser);
  Skip(args + ".train_batch_size_expert", kNormaliser);
}

void Converter::PpoLoss(const std::string& args) {
  Set("algorithm.variant", "grpo");
  if (!Has(args)) {
    SetNumber("algorithm.clip_range", 0.2);
    Note(
        "algorithm.policy_loss_fn_args: absent; the ppo loss's default_args are written "
        "(clip_range 0.2, clip_ratio_c 3, token-mean)");
  }
  if (auto clip = Double(args + ".clip_range")) SetNumber("algorithm.clip_range", *clip);
  if (auto low = Double(args + ".clip_range_low")) SetNumber("algorithm.clip_range_low", *low);
  if (auto high = Double(args + ".clip_range_high")) SetNumber("algorithm.clip_range_high", *high);
  if (auto c = Double(args + ".clip_ratio_c")) SetNumber("algorithm.clip_ratio_c", *c);
  if (auto mode = String(args + ".loss_agg_mode")) Set("algorithm.loss_agg_mode", *mode);
  std::optional<bool> masking = Bool(args + ".enable_sequence_masking");
  if (masking.value_or(false)) {
    Unmapped(args + ".enable_sequence_masking", "Chord has no sequence masking");
  }
  Skip(args + ".delta", "used only by enable_sequence_masking, which Chord does not have");
}

void Converter::SftLoss(const std::string& args) {
  Set("algorithm.variant", "sft");
  if (auto token_level = Bool(args + ".use_token_level_loss")) {
    token_level_sft_ = token_level;
    SetBool("algorithm.use_token_level_loss_in_sft", *token_level);
  }
  if (auto cutoff = Double(args + ".cutoff_prob")) SetNumber("algorithm.cutoff_prob", *cutoff);
}

void Converter::KlAndEntropy() {
  const bool sft = type_ == "sft";
  // The KL loss: Trinity-RFT's default is k2 with kl_coef 0.001 (none for sft).
  std::optional<std::string> kl = String("algorithm.kl_loss_fn");
  std::string kl_name = kl.value_or(sft ? "none" : "k2");
  static const std::set<std::string> kEstimators = {"none", "k1", "k2", "k3", "low_var_kl", "abs"};
  if (kEstimators.count(kl_name) == 0) {
    Skip("algorithm.kl_loss_fn", "not one of Chord's KL estimators (k1, k2, k3, low_var_kl, abs)");
    SkipChildren("algorithm.kl_loss_fn_args", "arguments of a KL estimator Chord does not have");
    kl_name = "none";
  }
  if (sft && kl_name != "none") {
    Skip("algorithm.kl_loss_fn", "Trinity-RFT's sft uses no reference model, so no KL term");
    SkipChildren("algorithm.kl_loss_fn_args", "Trinity-RFT's sft uses no reference model");
    kl_name = "none";
  }
  if (kl_name != "none") {
    std::optional<double> coef = Double("algorithm.kl_loss_fn_args.kl_coef");
    Set("algorithm.kl_loss_fn", kl_name);
    SetNumber("algorithm.kl_coef", coef.value_or(0.001));
    if (!coef.has_value()) {
      Note(
          absl::StrCat("algorithm.kl_loss_fn_args.kl_coef: absent; Trinity-RFT's default KL loss "
                       "(",
                       kl_name,
                       ", kl_coef 0.001) is written, so the job loads its model a second time "
                       "as the frozen reference"));
    }
    std::optional<bool> adaptive = Bool("algorithm.kl_loss_fn_args.adaptive");
    if (adaptive.value_or(false)) {
      Unmapped("algorithm.kl_loss_fn_args.adaptive",
               "Chord's kl_coef is constant (no adaptive KL controller)");
    }
    Skip("algorithm.kl_loss_fn_args.target_kl", "Chord has no adaptive KL controller");
    Skip("algorithm.kl_loss_fn_args.horizon", "Chord has no adaptive KL controller");
    SkipChildren("algorithm.kl_loss_fn_args", kUnknown);
  }
  SkipChildren("algorithm.kl_loss_fn_args", "unused with kl_loss_fn none");
  // The reward penalty: Trinity-RFT applies it only where it computes advantages in the trainer.
  std::optional<std::string> penalty = String("algorithm.kl_penalty_fn");
  if (penalty.has_value() && *penalty != "none") {
    Unmapped("algorithm.kl_penalty_fn",
             absl::StrCat("Trinity-RFT applies kl_penalty_fn only for algorithms whose advantages "
                          "its trainer computes, not ",
                          type_,
                          ", so this config never used it; Chord's algorithm.kl_penalty_fn "
                          "applies it"));
  }
  SkipChildren("algorithm.kl_penalty_fn_args",
               absl::StrCat("the reward penalty is not applied by Trinity-RFT's ", type_));
  // Entropy bonus.
  std::optional<std::string> entropy = String("algorithm.entropy_loss_fn");
  if (entropy.has_value() && *entropy == "none") {
    SkipChildren("algorithm.entropy_loss_fn_args", "unused with entropy_loss_fn none");
  } else if (entropy.has_value() && *entropy != "default" && *entropy != "mix" &&
             *entropy != "basic") {
    Skip("algorithm.entropy_loss_fn", "Chord's entropy bonus is entropy_coef x the mean entropy");
    SkipChildren("algorithm.entropy_loss_fn_args", "arguments of an entropy loss Chord lacks");
  } else if (auto coef = Double("algorithm.entropy_loss_fn_args.entropy_coef")) {
    SetNumber("algorithm.entropy_coef", *coef);
    if (*coef != 0) {
      Note("algorithm.entropy_coef: Chord's entropy bonus covers the on-policy rows");
    }
  }
}

void Converter::Buffer() {
  const bool sft = type_ == "sft";
  if (sft) {
    Skip("buffer.batch_size",
         "the explorer's tasks per step: an sft job's rows per step are buffer.train_batch_size");
  } else {
    batch_size_ = Int("buffer.batch_size").value_or(1);
  }
  std::optional<int64_t> train = Int("buffer.train_batch_size");
  if (train.has_value() && *train > 0) {
    train_batch_size_ = *train;
  } else if (sft) {
    errors_.push_back(absl::StrCat(source_,
                                   ": buffer.train_batch_size: required for sft (as in "
                                   "Trinity-RFT)"));
  } else {
    train_batch_size_ = batch_size_ * repeat_times_;
    Note(absl::StrCat("train_batch_size ", train_batch_size_,
                      ": Trinity-RFT's default, buffer.batch_size x algorithm.repeat_times"));
  }
  if (train_batch_size_ > 0) SetInt("train_batch_size", train_batch_size_);

  // Steps.
  std::optional<int64_t> total_steps = Int("buffer.total_steps");
  if (options_.steps > 0) {
    SetInt("steps", options_.steps);
    if (total_steps.has_value() && *total_steps != options_.steps) {
      Note(absl::StrCat("steps ", options_.steps, " (given) replace buffer.total_steps ",
                        *total_steps));
    }
    Skip("buffer.total_epochs", "Chord counts training in steps; the steps were given");
  } else if (total_steps.has_value()) {
    SetInt("steps", *total_steps);
    Skip("buffer.total_epochs", "Chord counts training in steps: buffer.total_steps gives them");
  } else {
    Skip("buffer.total_epochs",
         "Chord counts training in steps and the tasks per epoch are not known here: give the "
         "steps (chordctl convert --steps N, or chordctl submit --from-trinity ... --set "
         "steps=N)");
    if (!Find("buffer.total_epochs").IsDefined()) {
      Note("steps: neither buffer.total_steps nor --steps; the spec has no steps yet");
    }
  }
  Skip("buffer.max_retry_times", "Chord's clients retry UNAVAILABLE calls themselves");
  Skip("buffer.max_retry_interval", "Chord's clients retry UNAVAILABLE calls themselves");
  for (const char* automatic : {"explorer_output", "tokenizer_path", "pad_token_id", "cache_dir"}) {
    Skip(absl::StrCat("buffer.", automatic), "set by Trinity-RFT itself");
  }

  // Datasets.
  const std::string input = "buffer.explorer_input";
  Verifier();
  if (sft) {
    Skip(input + ".taskset", "an sft job generates no rollouts");
  } else {
    TaskDataset(input + ".taskset", "tasks", /*eval=*/false);
  }
  const YAML::Node evals = Find(input + ".eval_tasksets");
  if (evals.IsDefined()) {
    if (evals.IsNull() || (evals.IsSequence() && evals.size() == 0)) {
      Accept(input + ".eval_tasksets");  // no evaluation, as in Chord without datasets.eval
    } else if (evals.IsSequence()) {
      TaskDataset(input + ".eval_tasksets[0]", "eval", /*eval=*/true);
      for (size_t i = 1; i < evals.size(); ++i) {
        Unmapped(absl::StrCat(input, ".eval_tasksets[", i, "]"),
                 "Chord evaluates on one dataset (datasets.eval)");
      }
    } else {
      Accept(input + ".eval_tasksets");
      Error(input + ".eval_tasksets", "expected a list");
    }
  }
  Skip(input + ".default_eval_workflow_type",
       "Chord evaluates with the task's verifier (its `kind`, else `verifier`)");
  Skip(input + ".system_prompt", "a Chord task carries its own messages (docs/expert-buffer.md)");
  Skip(input + ".reply_prefix", "Chord has no reply prefix");

  const std::string trainer = "buffer.trainer_input";
  std::optional<int64_t> warmup = Int(trainer + ".sft_warmup_steps");
  if (sft) {
    ExpertDataset(trainer + ".experience_buffer");
    Skip(trainer + ".sft_warmup_dataset",
         "an sft job trains on buffer.trainer_input.experience_buffer");
  } else {
    Skip(trainer + ".experience_buffer",
         "Chord passes rollouts to the learner directly; there is no experience buffer");
    if (type_ == "mix_chord" || warmup.value_or(0) > 0) {
      ExpertDataset(trainer + ".sft_warmup_dataset");
    } else {
      Skip(trainer + ".sft_warmup_dataset", "unused by grpo without sft_warmup_steps");
    }
  }
  if (warmup.value_or(0) > 0) SetInt("algorithm.sft_warmup_steps", *warmup);
}

void Converter::TaskDataset(const std::string& path, const std::string& spec_dataset, bool eval) {
  if (!Has(path)) {
    if (!eval) {
      errors_.push_back(absl::StrCat(source_, ": ", path, ": required (the RL tasks)"));
    }
    return;
  }
  const std::string spec = absl::StrCat("datasets.", spec_dataset);
  if (auto name = String(path + ".name"); name.has_value() && !name->empty()) {
    Set(spec + ".name", *name);
  }
  std::optional<std::string> file = String(path + ".path");
  if (file.has_value() && !file->empty()) {
    Set(spec + ".path", *file);
    Note(absl::StrCat(spec,
                      ".path: Chord reads a JSONL file of task records (prompt or question, "
                      "answer; docs/expert-buffer.md): ",
                      *file));
  } else {
    Error(path + ".path", "required");
  }
  std::optional<std::string> storage = String(path + ".storage_type");
  if (storage.has_value() && *storage != "file") {
    Unmapped(path + ".storage_type", "Chord reads datasets from JSONL files");
  }
  Skip(path + ".split", "Chord reads one JSONL file: the path names it");
  Skip(path + ".subset_name", "Chord reads one JSONL file: the path names it");
  std::optional<std::string> prompt_key = String(path + ".format.prompt_key");
  if (prompt_key.has_value() && *prompt_key != "prompt" && *prompt_key != "question") {
    Unmapped(path + ".format.prompt_key",
             absl::StrCat("Chord's task records read `prompt` (or `question`, "
                          "`messages`): rename the field \"",
                          *prompt_key, "\" in the dataset"));
  }
  std::optional<std::string> answer_key = String(path + ".format.response_key");
  if (answer_key.has_value() && *answer_key != "answer") {
    Unmapped(path + ".format.response_key",
             absl::StrCat("Chord's task records read `answer`: rename the field \"", *answer_key,
                          "\" in the dataset"));
  }
  SkipChildren(path + ".format", "Chord's task records have fixed fields (docs/expert-buffer.md)");
  const std::string rollout = path + ".rollout_args";
  if (eval) {
    if (auto t = Double(rollout + ".temperature")) SetNumber("eval.temperature", *t);
    SkipChildren(rollout, "Chord's evaluation decodes with eval.temperature only");
  } else {
    if (auto t = Double(rollout + ".temperature")) SetNumber("sampling.temperature", *t);
    if (auto p = Double(rollout + ".top_p")) SetNumber("sampling.top_p", *p);
    if (auto k = Int(rollout + ".top_k")) SetInt("sampling.top_k", *k < 0 ? 0 : *k);
    Skip(rollout + ".logprobs",
         "Chord's rollout workers always return the sampled tokens' log-probabilities");
    Skip(rollout + ".n", "algorithm.repeat_times sets the rollouts per task");
    SkipChildren(rollout, kUnknown);
  }
  Skip(path + ".workflow_args",
       "Chord's workflows are its verifiers (`verifier`); workflow arguments such as with_think "
       "have no counterpart");
  Skip(path + ".reward_fn_args", "Chord's verifiers take no arguments from the job");
  Skip(path + ".repeat_times", "set from algorithm.repeat_times");
  Skip(path + ".default_workflow_type",
       "Chord's verifier is one per job (`verifier`), from buffer.explorer_input");
  Skip(path + ".default_eval_workflow_type", "Chord evaluates with the task's verifier");
  Skip(path + ".default_reward_fn_type", "Chord's verifier is one per job (`verifier`)");
}

void Converter::ExpertDataset(const std::string& path) {
  if (!Has(path)) {
    errors_.push_back(absl::StrCat(source_, ": ", path, ": required (the expert demonstrations)"));
    return;
  }
  if (auto name = String(path + ".name"); name.has_value() && !name->empty()) {
    Set("datasets.expert.name", *name);
  }
  std::optional<std::string> file = String(path + ".path");
  if (file.has_value() && !file->empty()) {
    Set("datasets.expert.path", *file);
    Note(
        absl::StrCat("datasets.expert.path: Chord reads a JSONL file of demonstrations "
                     "(messages, or prompt and response; docs/expert-buffer.md): ",
                     *file));
  } else {
    Error(path + ".path", "required");
  }
  std::optional<std::string> storage = String(path + ".storage_type");
  if (storage.has_value() && *storage != "file") {
    Unmapped(path + ".storage_type", "Chord reads datasets from JSONL files");
  }
  Skip(path + ".split", "Chord reads one JSONL file: the path names it");
  Skip(path + ".subset_name", "Chord reads one JSONL file: the path names it");
  std::optional<std::string> schema = String(path + ".algorithm_type");
  if (schema.has_value() && *schema != "sft") {
    Unmapped(path + ".algorithm_type", "Chord's expert records are SFT records");
  }
  std::optional<std::string> prompt_type = String(path + ".format.prompt_type");
  const std::string type = prompt_type.value_or("messages");
  if (type == "messages") {
    std::optional<std::string> key = String(path + ".format.messages_key");
    if (key.value_or("message") != "messages") {
      Unmapped(
          path + ".format.messages_key",
          absl::StrCat("Chord's demonstrations read `messages`: rename the "
                       "field \"",
                       key.value_or("message"), "\" (Trinity-RFT's default key is `message`)"));
    }
  } else if (type == "plaintext") {
    std::optional<std::string> prompt = String(path + ".format.prompt_key");
    std::optional<std::string> response = String(path + ".format.response_key");
    if (prompt.value_or("prompt") != "prompt" || response.value_or("response") != "response") {
      Unmapped(path + ".format",
               "Chord's prompt/response demonstrations read `prompt` and `response`: "
               "rename the fields in the dataset");
    }
  } else {
    Unmapped(path + ".format.prompt_type",
             "Chord's demonstrations are messages or prompt/response pairs");
  }
  SkipChildren(path + ".format", "Chord's demonstration records have fixed fields");
}

void Converter::Verifier() {
  // Trinity-RFT workflows and reward functions that Chord's verifiers reproduce.
  static const std::map<std::string, std::string> kVerifiers = {
      {"math_boxed_workflow", "math_boxed"}, {"math_workflow", "math_boxed"},
      {"math_reward", "math_boxed"},         {"math_boxed_reward", "math_boxed"},
      {"countdown_reward", "countdown"},     {"countdown_workflow", "countdown"}};
  const std::string input = "buffer.explorer_input";
  std::string mapped;
  std::string mapped_from;
  for (const std::string& key :
       {input + ".taskset.default_reward_fn_type", input + ".taskset.default_workflow_type",
        input + ".default_reward_fn_type", input + ".default_workflow_type"}) {
    if (!Has(key)) continue;
    std::optional<std::string> name = String(key);
    if (!name.has_value()) continue;
    auto it = kVerifiers.find(*name);
    if (it == kVerifiers.end()) {
      Unmapped(key, absl::StrCat("no Chord verifier reproduces \"", *name,
                                 "\": set `verifier` (math_boxed, arithmetic, "
                                 "countdown, tool_call)"));
    } else if (mapped.empty()) {
      mapped = it->second;
      mapped_from = key;
      Set("verifier", mapped);
      Note(absl::StrCat("verifier ", mapped, ": from ", key, " ", *name,
                        mapped == "math_boxed"
                            ? " (Chord's math verifier compares the last \\boxed{} answer)"
                            : ""));
    } else if (it->second != mapped) {
      Unmapped(key, absl::StrCat("a job has one verifier: ", mapped, " (from ", mapped_from, ")"));
    }
  }
}

void Converter::Model() {
  std::optional<std::string> path = String("model.model_path");
  if (path.has_value() && !path->empty()) {
    Set("model", *path);
  } else {
    errors_.push_back(absl::StrCat(source_, ": model.model_path: required"));
  }
  if (auto tokens = Int("model.max_response_tokens")) SetInt("sampling.max_new_tokens", *tokens);
  Skip("model.max_model_len",
       "Chord's length limit is the model's max_position_embeddings (longer demonstrations are "
       "skipped)");
  Skip("model.max_prompt_tokens", "Chord does not truncate prompts");
  Skip("model.min_response_tokens", "Chord sets no minimum response length");
  Skip("model.critic_model_path", "Chord's algorithms have no critic");
  Skip("model.custom_chat_template",
       "Chord detects the chat format (ChatML, Llama-3) from the model folder");
}

void Converter::Explorer() {
  if (auto interval = Int("explorer.eval_interval")) SetInt("eval.interval", *interval);
  std::optional<bool> startup = Bool("explorer.eval_on_startup");
  if (!startup.value_or(true)) {
    Unmapped("explorer.eval_on_startup", "a Chord job always evaluates at step 0 (with eval data)");
  }
  if (auto seed = Int("explorer.rollout_model.seed")) {
    if (*seed < 0) {
      Error("explorer.rollout_model.seed", "Chord's seed is a non-negative integer");
    } else {
      SetInt("seed", *seed);
    }
  }
  SkipChildren("explorer.rollout_model", kRolloutEngine);
  Skip("explorer.auxiliary_models", kRolloutEngine);
  for (const char* key : {"runner_num", "runner_per_model", "max_timeout", "max_retry_times",
                          "env_vars", "max_repeat_times_per_runner", "name"}) {
    Skip(absl::StrCat("explorer.", key),
         "Chord has no workflow runners: the learner fans generation out to the rollout workers "
         "(services.generation_timeout_s bounds each call)");
  }
  Skip("explorer.bench_on_latest_checkpoint", "Chord has no bench mode (see chordctl eval)");
}

void Converter::Synchronizer() {
  const int64_t interval = Int("synchronizer.sync_interval").value_or(1);
  const int64_t offset = Int("synchronizer.sync_offset").value_or(0);
  if (interval <= 1 && offset <= 0) {
    Set("mode", "sync");
  } else {
    const int64_t staleness = std::min<int64_t>(16, interval - 1 + offset);
    Set("mode", "async");
    SetInt("max_staleness", staleness);
    Note(absl::StrCat("mode async, max_staleness ", staleness, ": from sync_interval ", interval,
                      " and sync_offset ", offset,
                      " (rollouts at most that many versions behind)"));
  }
  SkipChildren("synchronizer",
               "weights reach the rollout workers over the learner's WeightService (chunked "
               "gRPC) after every step");
}

void Converter::Trainer() {
  if (auto interval = Int("trainer.save_interval")) SetInt("save_interval", *interval);
  if (auto clip = Double("trainer.actor_grad_clip")) SetNumber("algorithm.grad_clip", *clip);
  if (auto warmup = Int("trainer.sft_warmup_steps"); warmup.has_value() && *warmup > 0) {
    SetInt("algorithm.sft_warmup_steps", *warmup);
  }
  Skip("trainer.trainer_type", "Chord has its own learner");
  const char* settings =
      "the veRL trainer settings are not read: put its learning rate (Chord's default lr is "
      "1e-6, the paper's), ppo_epochs and optimizer settings under `algorithm` in the Chord spec";
  Skip("trainer.trainer_config_path", settings);
  Skip("trainer.trainer_config", settings);
  Skip("trainer.enable_preview", "Chord's job events carry no rollout previews");
  Skip("trainer.name", "Chord's learner has no name setting");
}

void Converter::BatchNotes() {
  if (type_ == "sft" || train_batch_size_ <= 0) return;
  const int64_t expert = static_cast<int64_t>(
      std::ceil(expert_data_ratio_ * static_cast<double>(train_batch_size_) - 1e-9));
  const int64_t on_policy = train_batch_size_ - expert;
  const int64_t tasks = repeat_times_ > 0 ? on_policy / repeat_times_ : 0;
  Accept("buffer.batch_size");
  if (on_policy % repeat_times_ != 0) {
    Note(absl::StrCat("train_batch_size ", train_batch_size_, " leaves ", on_policy,
                      " on-policy rows, not a multiple of repeat_times ", repeat_times_,
                      ": the learner refuses the spec until one of them changes"));
  } else if (tasks != batch_size_) {
    Note(absl::StrCat("buffer.batch_size ", batch_size_, ": Trinity-RFT's explorer generates ",
                      batch_size_, " tasks per step, a Chord step generates the ", tasks,
                      " whose rollouts it trains on (", on_policy, " on-policy rows + ", expert,
                      " expert rows)"));
  }
  const std::string args = "algorithm.policy_loss_fn_args";
  if (auto usual = Find(args + ".train_batch_size_usual"); IsPresent(usual)) {
    int64_t value = 0;
    if (absl::SimpleAtoi(usual.Scalar(), &value) && value != on_policy) {
      Note(absl::StrCat(args, ".train_batch_size_usual ", value, " differs from the ", on_policy,
                        " on-policy rows of a step (Trinity-RFT would mis-normalise; Chord "
                        "counts the rows)"));
    }
  }
  if (auto expert_rows = Find(args + ".train_batch_size_expert"); IsPresent(expert_rows)) {
    int64_t value = 0;
    if (absl::SimpleAtoi(expert_rows.Scalar(), &value) && value != expert) {
      Note(absl::StrCat(args, ".train_batch_size_expert ", value, " differs from the ", expert,
                        " expert rows of a step (Trinity-RFT would mis-normalise; Chord counts "
                        "the rows)"));
    }
  }
  if (mini_batch_size_.has_value()) {
    if (*mini_batch_size_ > 0 && *mini_batch_size_ < train_batch_size_) {
      SetInt("algorithm.ppo_mini_batch_size", *mini_batch_size_);
    } else {
      Note(absl::StrCat("algorithm.policy_loss_fn_args.ppo_mini_batch_size ", *mini_batch_size_,
                        ": at least the step's ", train_batch_size_,
                        " rows, so one optimizer update per step (Chord's default)"));
    }
  }
}

void Converter::ListUnaccountedLeaves(const YAML::Node& node, const std::string& path) {
  if (!path.empty() && IsAccounted(path)) return;
  if (node.IsMap() && node.size() > 0) {
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      ListUnaccountedLeaves(entry.second, path.empty() ? key : absl::StrCat(path, ".", key));
    }
    return;
  }
  if (node.IsSequence() && node.size() > 0) {
    for (size_t i = 0; i < node.size(); ++i) {
      ListUnaccountedLeaves(node[i], absl::StrCat(path, "[", i, "]"));
    }
    return;
  }
  if (!path.empty()) Unmapped(path, kUnknown);
}

absl::StatusOr<TrinityConversion> Converter::Run() {
  if (!root_.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": document: expected a mapping of keys to values"));
  }
  std::optional<std::string> type = Scalar("algorithm.algorithm_type");
  if (!type.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_,
        ": algorithm.algorithm_type: missing (Trinity-RFT's default is ppo, which this "
        "converter does not map; it maps mix_chord, sft and grpo)"));
  }
  if (*type != "mix_chord" && *type != "sft" && *type != "grpo") {
    Error("algorithm.algorithm_type",
          absl::StrCat("\"", *type,
                       "\" is not supported (the converter maps mix_chord, sft and "
                       "grpo)"));
    return absl::InvalidArgumentError(errors_.front());
  }
  type_ = *type;
  TopLevel();
  Algorithm();
  Model();
  Buffer();
  BatchNotes();
  Explorer();
  Synchronizer();
  Trainer();
  ListUnaccountedLeaves(root_, "");
  if (!errors_.empty()) return config::ProblemsToStatus(errors_, "cannot convert");
  TrinityConversion out;
  out.algorithm_type = type_;
  out.spec_yaml = EmitSpec();
  out.unmapped = std::move(unmapped_);
  out.notes = std::move(notes_);
  return out;
}

}  // namespace

absl::StatusOr<TrinityConversion> ConvertTrinityConfig(const std::string& yaml_text,
                                                       const std::string& source,
                                                       const TrinityConversionOptions& options) {
  absl::StatusOr<YAML::Node> root = config::ParseYaml(yaml_text, source);
  if (!root.ok()) return root.status();
  try {
    return Converter(*root, source, options).Run();
  } catch (const std::exception& e) {
    // yaml-cpp throws on malformed nodes (e.g. a key that is not a scalar).
    return absl::InvalidArgumentError(absl::StrCat(source, ": cannot convert: ", e.what()));
  }
}

std::string FormatTrinityConversion(const TrinityConversion& conversion,
                                    const std::string& source) {
  std::string out = absl::StrCat("# Chord job spec converted from ", source, " (Trinity-RFT ",
                                 conversion.algorithm_type, ") by chordctl convert.\n");
  absl::StrAppend(&out, conversion.spec_yaml);
  if (!conversion.notes.empty()) {
    absl::StrAppend(&out, "\n# Notes (", conversion.notes.size(), "):\n");
    for (const std::string& note : conversion.notes) absl::StrAppend(&out, "#   ", note, "\n");
  }
  absl::StrAppend(&out, "\n# Not mapped (", conversion.unmapped.size(), " keys):\n");
  for (const UnmappedKey& key : conversion.unmapped) {
    absl::StrAppend(&out, "#   ", key.path, ": ", key.reason, "\n");
  }
  return out;
}

}  // namespace chord::chordctl
