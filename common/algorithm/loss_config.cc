#include "common/algorithm/loss_config.h"

#include <cmath>
#include <cstdlib>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/algorithm/mu_schedule.h"

namespace chord::algorithm {
namespace {

// ---- text forms ---------------------------------------------------------------------------

// Shortest decimal form that reads back as the same double.
std::string FormatDouble(double value) {
  for (int precision = 6; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    if (std::strtod(text.c_str(), nullptr) == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

std::string FormatBool(bool value) { return value ? "true" : "false"; }

absl::Status KeyError(absl::string_view key, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", problem));
}

absl::StatusOr<bool> ParseBool(absl::string_view key, absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  return KeyError(key, absl::StrCat("expected true or false, got \"", text, "\""));
}

absl::StatusOr<int64_t> ParseInt(absl::string_view key, absl::string_view text) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
    return KeyError(key, absl::StrCat("expected an integer, got \"", text, "\""));
  }
  return value;
}

absl::StatusOr<double> ParseDouble(absl::string_view key, absl::string_view text) {
  double value = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(text), &value)) {
    return KeyError(key, absl::StrCat("expected a number, got \"", text, "\""));
  }
  return value;
}

// "" / "auto" / "null" / "~" unset an optional setting (it then follows its default rule).
bool IsUnsetText(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  return lower.empty() || lower == "auto" || lower == "null" || lower == "~";
}

absl::Status AnnotateKey(absl::string_view key, const absl::Status& status) {
  if (status.ok()) return status;
  return KeyError(key, status.message());
}

// ---- the key table ------------------------------------------------------------------------

struct KeyEntry {
  const char* key;
  std::function<absl::Status(absl::string_view key, absl::string_view value, Config*)> set;
  std::function<std::string(const Config&)> get;
};

KeyEntry BoolKey(const char* key, std::function<bool*(Config*)> field) {
  return {key,
          [field](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
            absl::StatusOr<bool> parsed = ParseBool(k, v);
            if (!parsed.ok()) return parsed.status();
            *field(c) = *parsed;
            return absl::OkStatus();
          },
          [field](const Config& c) {
            Config copy = c;
            return FormatBool(*field(&copy));
          }};
}

KeyEntry IntKey(const char* key, std::function<int64_t*(Config*)> field) {
  return {key,
          [field](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
            absl::StatusOr<int64_t> parsed = ParseInt(k, v);
            if (!parsed.ok()) return parsed.status();
            *field(c) = *parsed;
            return absl::OkStatus();
          },
          [field](const Config& c) {
            Config copy = c;
            return absl::StrCat(*field(&copy));
          }};
}

KeyEntry DoubleKey(const char* key, std::function<double*(Config*)> field) {
  return {key,
          [field](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
            absl::StatusOr<double> parsed = ParseDouble(k, v);
            if (!parsed.ok()) return parsed.status();
            *field(c) = *parsed;
            return absl::OkStatus();
          },
          [field](const Config& c) {
            Config copy = c;
            return FormatDouble(*field(&copy));
          }};
}

KeyEntry OptionalDoubleKey(const char* key, std::function<std::optional<double>*(Config*)> field) {
  return {key,
          [field](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
            if (IsUnsetText(v) || absl::AsciiStrToLower(absl::StripAsciiWhitespace(v)) == "none") {
              field(c)->reset();
              return absl::OkStatus();
            }
            absl::StatusOr<double> parsed = ParseDouble(k, v);
            if (!parsed.ok()) return parsed.status();
            *field(c) = *parsed;
            return absl::OkStatus();
          },
          [field](const Config& c) -> std::string {
            Config copy = c;
            const std::optional<double>& value = *field(&copy);
            return value.has_value() ? FormatDouble(*value) : "auto";
          }};
}

// A key whose value is one of an enum's names (`parse` / `name` convert).
template <typename Enum>
KeyEntry EnumKey(const char* key, std::function<Enum*(Config*)> field,
                 absl::StatusOr<Enum> (*parse)(absl::string_view),
                 absl::string_view (*name)(Enum)) {
  return {key,
          [field, parse](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
            absl::StatusOr<Enum> parsed = parse(absl::StripAsciiWhitespace(v));
            if (!parsed.ok()) return AnnotateKey(k, parsed.status());
            *field(c) = *parsed;
            return absl::OkStatus();
          },
          [field, name](const Config& c) {
            Config copy = c;
            return std::string(name(*field(&copy)));
          }};
}

const std::vector<KeyEntry>& KeyTable() {
  static const std::vector<KeyEntry>* const table = new std::vector<KeyEntry>{
      {"variant",
       [](absl::string_view k, absl::string_view v, Config* c) {
         return AnnotateKey(k, ApplyVariant(absl::StripAsciiWhitespace(v), c));
       },
       [](const Config& c) { return c.variant; }},
      // SFT part.
      BoolKey("enable_phi_function", [](Config* c) { return &c->sft.enable_phi_function; }),
      {"sft_weight",
       [](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
         if (IsUnsetText(v)) {
           c->sft.sft_weight.reset();
           return absl::OkStatus();
         }
         absl::StatusOr<SftWeight> parsed = ParseSftWeight(absl::StripAsciiWhitespace(v));
         if (!parsed.ok()) return AnnotateKey(k, parsed.status());
         c->sft.sft_weight = *parsed;
         return absl::OkStatus();
       },
       [](const Config& c) -> std::string {
         return c.sft.sft_weight.has_value() ? std::string(SftWeightName(*c.sft.sft_weight))
                                             : "auto";
       }},
      BoolKey("use_token_level_loss_in_sft",
              [](Config* c) { return &c->sft.use_token_level_loss_in_sft; }),
      {"sft_loss_agg_mode",
       [](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
         if (IsUnsetText(v)) {
           c->sft.sft_loss_agg_mode.reset();
           return absl::OkStatus();
         }
         absl::StatusOr<LossAggMode> parsed = ParseLossAggMode(absl::StripAsciiWhitespace(v));
         if (!parsed.ok()) return AnnotateKey(k, parsed.status());
         c->sft.sft_loss_agg_mode = *parsed;
         return absl::OkStatus();
       },
       [](const Config& c) -> std::string {
         return c.sft.sft_loss_agg_mode.has_value()
                    ? std::string(LossAggModeName(*c.sft.sft_loss_agg_mode))
                    : "auto";
       }},
      DoubleKey("cutoff_prob", [](Config* c) { return &c->sft.cutoff_prob; }),
      // mu.
      IntKey("mu_warmup_steps", [](Config* c) { return &c->mu.mu_warmup_steps; }),
      IntKey("mu_decay_steps", [](Config* c) { return &c->mu.mu_decay_steps; }),
      DoubleKey("mu_peak", [](Config* c) { return &c->mu.mu_peak; }),
      DoubleKey("mu_valley", [](Config* c) { return &c->mu.mu_valley; }),
      BoolKey("adaptive_mu", [](Config* c) { return &c->mu.adaptive_mu; }),
      DoubleKey("adaptive_mu_tau", [](Config* c) { return &c->mu.adaptive_mu_tau; }),
      EnumKey<MuStepCount>(
          "mu_step_count", [](Config* c) { return &c->mu.mu_step_count; }, ParseMuStepCount,
          MuStepCountName),
      IntKey("mu_step_offset", [](Config* c) { return &c->mu.mu_step_offset; }),
      // PG part.
      DoubleKey("clip_range", [](Config* c) { return &c->policy_loss.clip_range; }),
      OptionalDoubleKey("clip_range_low", [](Config* c) { return &c->policy_loss.clip_range_low; }),
      OptionalDoubleKey("clip_range_high",
                        [](Config* c) { return &c->policy_loss.clip_range_high; }),
      DoubleKey("clip_ratio_c", [](Config* c) { return &c->policy_loss.clip_ratio_c; }),
      // Aggregation.
      {"loss_agg_mode",
       [](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
         absl::StatusOr<LossAggMode> parsed = ParseLossAggMode(absl::StripAsciiWhitespace(v));
         if (!parsed.ok()) return AnnotateKey(k, parsed.status());
         c->aggregation.loss_agg_mode = *parsed;
         return absl::OkStatus();
       },
       [](const Config& c) { return std::string(LossAggModeName(c.aggregation.loss_agg_mode)); }},
      IntKey("loss_agg_norm_length",
             [](Config* c) { return &c->aggregation.loss_agg_norm_length; }),
      // Regularisers.
      DoubleKey("entropy_coef", [](Config* c) { return &c->regularizer.entropy_coef; }),
      DoubleKey("kl_coef", [](Config* c) { return &c->regularizer.kl_coef; }),
      EnumKey<KlEstimator>(
          "kl_loss_fn", [](Config* c) { return &c->regularizer.kl_loss_fn; }, ParseKlEstimator,
          KlEstimatorName),
      EnumKey<KlRows>(
          "kl_loss_rows", [](Config* c) { return &c->regularizer.kl_loss_rows; }, ParseKlRows,
          KlRowsName),
      EnumKey<KlEstimator>(
          "kl_penalty_fn", [](Config* c) { return &c->regularizer.kl_penalty_fn; },
          ParseKlEstimator, KlEstimatorName),
      DoubleKey("kl_penalty_coef", [](Config* c) { return &c->regularizer.kl_penalty_coef; }),
      // Batch.
      DoubleKey("expert_data_ratio", [](Config* c) { return &c->batch.expert_data_ratio; }),
      IntKey("repeat_times", [](Config* c) { return &c->batch.repeat_times; }),
      BoolKey("drop_zero_advantage_groups",
              [](Config* c) { return &c->batch.drop_zero_advantage_groups; }),
      BoolKey("strict_on_policy", [](Config* c) { return &c->batch.strict_on_policy; }),
      IntKey("ppo_epochs", [](Config* c) { return &c->batch.ppo_epochs; }),
      IntKey("ppo_mini_batch_size", [](Config* c) { return &c->batch.ppo_mini_batch_size; }),
      IntKey("micro_batch_token_budget",
             [](Config* c) { return &c->batch.micro_batch_token_budget; }),
      DoubleKey("logprob_temperature", [](Config* c) { return &c->batch.logprob_temperature; }),
      // Optimizer.
      DoubleKey("lr", [](Config* c) { return &c->optimizer.lr; }),
      {"betas",
       [](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
         absl::string_view text = absl::StripAsciiWhitespace(v);
         absl::ConsumePrefix(&text, "[");
         absl::ConsumeSuffix(&text, "]");
         std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
         if (parts.size() != 2) {
           return KeyError(k,
                           absl::StrCat("expected two numbers \"beta1,beta2\", got \"", v, "\""));
         }
         std::array<double, 2> betas{};
         for (int i = 0; i < 2; ++i) {
           absl::StatusOr<double> parsed = ParseDouble(k, parts[i]);
           if (!parsed.ok()) return parsed.status();
           betas[i] = *parsed;
         }
         c->optimizer.betas = betas;
         return absl::OkStatus();
       },
       [](const Config& c) {
         return absl::StrCat("[", FormatDouble(c.optimizer.betas[0]), ", ",
                             FormatDouble(c.optimizer.betas[1]), "]");
       }},
      DoubleKey("adam_eps", [](Config* c) { return &c->optimizer.adam_eps; }),
      DoubleKey("weight_decay", [](Config* c) { return &c->optimizer.weight_decay; }),
      DoubleKey("grad_clip", [](Config* c) { return &c->optimizer.grad_clip; }),
      IntKey("lr_warmup_steps", [](Config* c) { return &c->optimizer.lr_warmup_steps; }),
      {"lr_decay",
       [](absl::string_view k, absl::string_view v, Config* c) -> absl::Status {
         absl::StatusOr<LrDecay> parsed = ParseLrDecay(absl::StripAsciiWhitespace(v));
         if (!parsed.ok()) return AnnotateKey(k, parsed.status());
         c->optimizer.lr_decay = *parsed;
         return absl::OkStatus();
       },
       [](const Config& c) { return std::string(LrDecayName(c.optimizer.lr_decay)); }},
      DoubleKey("lr_min_ratio", [](Config* c) { return &c->optimizer.lr_min_ratio; }),
      // Stages.
      IntKey("sft_stage_steps", [](Config* c) { return &c->sft_stage_steps; }),
      IntKey("sft_warmup_steps", [](Config* c) { return &c->sft_warmup_steps; }),
      DoubleKey("sft_warmup_lr", [](Config* c) { return &c->sft_warmup_lr; }),
  };
  return *table;
}

// ---- presets ------------------------------------------------------------------------------

void SetFixedMu(double mu, Config* config) {
  config->mu.mu_warmup_steps = 0;
  config->mu.mu_decay_steps = 0;
  config->mu.mu_peak = mu;
  config->mu.mu_valley = mu;
  config->mu.adaptive_mu = false;
}

// ---- validation ---------------------------------------------------------------------------

class Problems {
 public:
  explicit Problems(absl::string_view prefix) : prefix_(prefix) {}

  void Add(absl::string_view key, absl::string_view problem) {
    list_.push_back(absl::StrCat(prefix_, key, ": ", problem));
  }
  // Checks lo <= value <= hi (open ends when the flags say so) and finiteness.
  void Range(absl::string_view key, double value, double lo, bool lo_open, double hi,
             bool hi_open) {
    const bool ok = std::isfinite(value) && (lo_open ? value > lo : value >= lo) &&
                    (hi_open ? value < hi : value <= hi);
    if (!ok) {
      Add(key, absl::StrCat("must be in ", lo_open ? "(" : "[", FormatDouble(lo), ", ",
                            std::isinf(hi) ? "inf" : FormatDouble(hi), hi_open ? ")" : "]",
                            ", got ", FormatDouble(value)));
    }
  }
  void AtLeast(absl::string_view key, double value, double lo) {
    Range(key, value, lo, false, INFINITY, true);
  }
  void Above(absl::string_view key, double value, double lo) {
    Range(key, value, lo, true, INFINITY, true);
  }
  void IntAtLeast(absl::string_view key, int64_t value, int64_t lo) {
    if (value < lo) Add(key, absl::StrCat("must be >= ", lo, ", got ", value));
  }

  std::vector<std::string> Take() { return std::move(list_); }

 private:
  std::string prefix_;
  std::vector<std::string> list_;
};

}  // namespace

absl::string_view LossAggModeName(LossAggMode mode) {
  switch (mode) {
    case LossAggMode::kTokenMean:
      return "token-mean";
    case LossAggMode::kSeqMeanTokenMean:
      return "seq-mean-token-mean";
    case LossAggMode::kSeqMeanTokenSum:
      return "seq-mean-token-sum";
    case LossAggMode::kSeqMeanTokenSumNorm:
      return "seq-mean-token-sum-norm";
  }
  return "unknown";
}

absl::StatusOr<LossAggMode> ParseLossAggMode(absl::string_view name) {
  for (LossAggMode mode : {LossAggMode::kTokenMean, LossAggMode::kSeqMeanTokenMean,
                           LossAggMode::kSeqMeanTokenSum, LossAggMode::kSeqMeanTokenSumNorm}) {
    if (name == LossAggModeName(mode)) return mode;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown aggregation mode \"", name,
                   "\" (expected token-mean, seq-mean-token-mean, seq-mean-token-sum or "
                   "seq-mean-token-sum-norm)"));
}

absl::string_view SftWeightName(SftWeight weight) {
  switch (weight) {
    case SftWeight::kPhi:
      return "phi";
    case SftWeight::kImportanceSampling:
      return "is";
    case SftWeight::kNone:
      return "none";
  }
  return "unknown";
}

absl::StatusOr<SftWeight> ParseSftWeight(absl::string_view name) {
  if (name == "phi") return SftWeight::kPhi;
  if (name == "is") return SftWeight::kImportanceSampling;
  if (name == "none") return SftWeight::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown SFT weight \"", name, "\" (expected phi, is or none)"));
}

absl::string_view LrDecayName(LrDecay decay) {
  switch (decay) {
    case LrDecay::kConstant:
      return "constant";
    case LrDecay::kCosine:
      return "cosine";
  }
  return "unknown";
}

absl::StatusOr<LrDecay> ParseLrDecay(absl::string_view name) {
  if (name == "constant") return LrDecay::kConstant;
  if (name == "cosine") return LrDecay::kCosine;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown learning-rate decay \"", name, "\" (expected constant or cosine)"));
}

namespace {

// One named preset: the keys it sets (ApplyVariant's contract in loss_config.h).
struct VariantPreset {
  const char* name;
  void (*apply)(Config* c);
};

void ApplyChordMu(bool tools, Config* c) {
  c->sft.enable_phi_function = false;
  c->mu.mu_warmup_steps = 0;
  c->mu.mu_decay_steps = tools ? 20 : 200;
  c->mu.mu_peak = tools ? 0.6 : 0.9;
  c->mu.mu_valley = tools ? 0.0 : 0.05;
  c->mu.adaptive_mu = false;
}

// The presets in documentation order: VariantNames and ApplyVariant both read this table, so a
// name cannot exist without its settings or the other way round.
constexpr VariantPreset kVariantPresets[] = {
    {"chord-phi",
     [](Config* c) {
       c->sft.enable_phi_function = true;
       SetFixedMu(0.1, c);
     }},
    {"chord-mu", [](Config* c) { ApplyChordMu(/*tools=*/false, c); }},
    {"chord-mu-tools", [](Config* c) { ApplyChordMu(/*tools=*/true, c); }},
    {"mix",
     [](Config* c) {
       c->sft.enable_phi_function = false;
       SetFixedMu(0.1, c);
     }},
    {"grpo",
     [](Config* c) {
       c->batch.expert_data_ratio = 0.0;
       SetFixedMu(0.0, c);
     }},
    {"sft",
     [](Config* c) {
       c->sft.enable_phi_function = false;
       c->batch.expert_data_ratio = 1.0;
       SetFixedMu(1.0, c);
     }},
    {"sft-then-rl",
     [](Config* c) {
       c->sft.enable_phi_function = false;
       c->mu.adaptive_mu = false;
     }},
    {"is-sft",
     [](Config* c) {
       c->sft.sft_weight = SftWeight::kImportanceSampling;
       SetFixedMu(0.1, c);
     }},
    {"adaptive-mu",
     [](Config* c) {
       c->sft.enable_phi_function = false;
       c->mu.adaptive_mu = true;
       c->mu.adaptive_mu_tau = 0.5;
     }},
};

}  // namespace

absl::string_view KlEstimatorName(KlEstimator estimator) {
  switch (estimator) {
    case KlEstimator::kNone:
      return "none";
    case KlEstimator::kK1:
      return "k1";
    case KlEstimator::kK2:
      return "k2";
    case KlEstimator::kK3:
      return "k3";
    case KlEstimator::kLowVarKl:
      return "low_var_kl";
    case KlEstimator::kAbs:
      return "abs";
  }
  return "unknown";
}

absl::StatusOr<KlEstimator> ParseKlEstimator(absl::string_view name) {
  for (KlEstimator e : {KlEstimator::kNone, KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3,
                        KlEstimator::kLowVarKl, KlEstimator::kAbs}) {
    if (name == KlEstimatorName(e)) return e;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown KL estimator \"", name, "\" (expected none, k1, k2, k3, low_var_kl or abs)"));
}

absl::string_view KlRowsName(KlRows rows) {
  switch (rows) {
    case KlRows::kAll:
      return "all";
    case KlRows::kOnPolicy:
      return "on-policy";
  }
  return "unknown";
}

absl::StatusOr<KlRows> ParseKlRows(absl::string_view name) {
  if (name == "all") return KlRows::kAll;
  if (name == "on-policy") return KlRows::kOnPolicy;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown KL rows \"", name, "\" (expected all or on-policy)"));
}

absl::string_view MuStepCountName(MuStepCount count) {
  switch (count) {
    case MuStepCount::kJob:
      return "job";
    case MuStepCount::kStage:
      return "stage";
  }
  return "unknown";
}

absl::StatusOr<MuStepCount> ParseMuStepCount(absl::string_view name) {
  if (name == "job") return MuStepCount::kJob;
  if (name == "stage") return MuStepCount::kStage;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown mu step count \"", name, "\" (expected job or stage)"));
}

const std::vector<std::string>& VariantNames() {
  static const std::vector<std::string>* const names = [] {
    auto* list = new std::vector<std::string>();
    for (const VariantPreset& preset : kVariantPresets) list->push_back(preset.name);
    return list;
  }();
  return *names;
}

absl::Status ApplyVariant(absl::string_view name, Config* config) {
  for (const VariantPreset& preset : kVariantPresets) {
    if (name != preset.name) continue;
    Config c = *config;
    c.sft.sft_weight.reset();
    preset.apply(&c);
    c.variant = std::string(name);
    *config = std::move(c);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown variant \"", name, "\" (expected one of ",
                                                 absl::StrJoin(VariantNames(), ", "), ")"));
}

absl::Status SetConfigKey(absl::string_view key, absl::string_view value, Config* config) {
  for (const KeyEntry& entry : KeyTable()) {
    if (key == entry.key) return entry.set(key, value, config);
  }
  return KeyError(key, "unknown key");
}

std::vector<std::pair<std::string, std::string>> DescribeConfig(const Config& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const KeyEntry& entry : KeyTable()) out.emplace_back(entry.key, entry.get(config));
  return out;
}

void ResolveJobDefaults(int64_t max_response_length, Config* config) {
  if (config->aggregation.loss_agg_norm_length == 0) {
    config->aggregation.loss_agg_norm_length = max_response_length;
  }
}

std::vector<std::string> Validate(const Config& config, absl::string_view key_prefix) {
  Problems p(key_prefix);
  bool known_variant = false;
  for (const std::string& name : VariantNames()) known_variant |= (name == config.variant);
  if (!known_variant) {
    p.Add("variant", absl::StrCat("unknown variant \"", config.variant, "\" (expected one of ",
                                  absl::StrJoin(VariantNames(), ", "), ")"));
  }
  // mu.
  p.IntAtLeast("mu_warmup_steps", config.mu.mu_warmup_steps, 0);
  p.IntAtLeast("mu_decay_steps", config.mu.mu_decay_steps, 0);
  p.Range("mu_peak", config.mu.mu_peak, 0, false, 1, false);
  p.Range("mu_valley", config.mu.mu_valley, 0, false, 1, false);
  p.Range("adaptive_mu_tau", config.mu.adaptive_mu_tau, 0, false, 1, false);
  p.IntAtLeast("mu_step_offset", config.mu.mu_step_offset, 0);
  // SFT part.
  p.Range("cutoff_prob", config.sft.cutoff_prob, 0, true, 1, false);
  // PG.
  p.Range("clip_range", config.policy_loss.clip_range, 0, true, 1, true);
  if (config.policy_loss.clip_range_low.has_value()) {
    p.Range("clip_range_low", *config.policy_loss.clip_range_low, 0, true, 1, true);
  }
  if (config.policy_loss.clip_range_high.has_value()) {
    p.Above("clip_range_high", *config.policy_loss.clip_range_high, 0);
  }
  p.Above("clip_ratio_c", config.policy_loss.clip_ratio_c, 1);
  // Aggregation (of the PG part, or of the SFT part on its own).
  const bool pg_norm = config.aggregation.loss_agg_mode == LossAggMode::kSeqMeanTokenSumNorm;
  const bool sft_norm = config.sft.EffectiveAggMode() == LossAggMode::kSeqMeanTokenSumNorm;
  if (pg_norm || sft_norm) {
    if (config.aggregation.loss_agg_norm_length <= 0) {
      p.Add("loss_agg_norm_length",
            absl::StrCat("must be > 0 with ", pg_norm ? "loss_agg_mode" : "sft_loss_agg_mode",
                         " seq-mean-token-sum-norm (unset, it defaults to the job's maximum "
                         "response length), got ",
                         config.aggregation.loss_agg_norm_length));
    }
  } else {
    p.IntAtLeast("loss_agg_norm_length", config.aggregation.loss_agg_norm_length, 0);
  }
  // Regularisers.
  p.AtLeast("entropy_coef", config.regularizer.entropy_coef, 0);
  p.AtLeast("kl_coef", config.regularizer.kl_coef, 0);
  p.AtLeast("kl_penalty_coef", config.regularizer.kl_penalty_coef, 0);
  // Batch.
  p.Range("expert_data_ratio", config.batch.expert_data_ratio, 0, false, 1, false);
  p.IntAtLeast("repeat_times", config.batch.repeat_times, 1);
  p.IntAtLeast("ppo_epochs", config.batch.ppo_epochs, 1);
  p.IntAtLeast("ppo_mini_batch_size", config.batch.ppo_mini_batch_size, 0);
  p.IntAtLeast("micro_batch_token_budget", config.batch.micro_batch_token_budget, 1);
  p.Above("logprob_temperature", config.batch.logprob_temperature, 0);
  // Optimizer.
  p.Above("lr", config.optimizer.lr, 0);
  p.Range("betas", config.optimizer.betas[0], 0, false, 1, true);
  p.Range("betas", config.optimizer.betas[1], 0, false, 1, true);
  p.Above("adam_eps", config.optimizer.adam_eps, 0);
  p.AtLeast("weight_decay", config.optimizer.weight_decay, 0);
  p.AtLeast("grad_clip", config.optimizer.grad_clip, 0);
  p.IntAtLeast("lr_warmup_steps", config.optimizer.lr_warmup_steps, 0);
  p.Range("lr_min_ratio", config.optimizer.lr_min_ratio, 0, false, 1, false);
  // Stages.
  p.IntAtLeast("sft_stage_steps", config.sft_stage_steps, 0);
  p.IntAtLeast("sft_warmup_steps", config.sft_warmup_steps, 0);
  p.AtLeast("sft_warmup_lr", config.sft_warmup_lr, 0);
  return p.Take();
}

bool NeedsReferencePolicy(const Config& config) {
  return config.regularizer.KlLossActive() || config.regularizer.KlPenaltyActive();
}

namespace {

// Sets each stage's mu_step_offset from the steps of the stages before it.
std::vector<Stage> WithMuStepOffsets(std::vector<Stage> stages) {
  int64_t before = 0;
  for (Stage& stage : stages) {
    // The schedule's step at the stage's first step, less that step's number within the stage.
    stage.config.mu.mu_step_offset =
        MuScheduleStep(before + 1, before, stage.config.mu.mu_step_count) - 1;
    before += stage.steps;
  }
  return stages;
}

}  // namespace

absl::StatusOr<std::vector<Stage>> PlanStages(const Config& config, int64_t total_steps,
                                              absl::string_view key_prefix) {
  if (total_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("total_steps: must be >= 1, got ", total_steps));
  }
  std::vector<Stage> stages;
  if (config.sft_warmup_steps > 0) {
    if (config.sft_warmup_steps >= total_steps) {
      return absl::InvalidArgumentError(
          absl::StrCat(key_prefix, "sft_warmup_steps: the warm-up (", config.sft_warmup_steps,
                       " steps) leaves no step of the job's ", total_steps, " for training"));
    }
    Stage warmup{"sft-warmup", config, config.sft_warmup_steps};
    warmup.config.batch.expert_data_ratio = 1.0;
    SetFixedMu(1.0, &warmup.config);
    warmup.config.sft.sft_weight = SftWeight::kNone;
    if (config.sft_warmup_lr > 0) warmup.config.optimizer.lr = config.sft_warmup_lr;
    stages.push_back(std::move(warmup));
    total_steps -= config.sft_warmup_steps;
  }
  if (config.variant != "sft-then-rl") {
    stages.push_back({"train", config, total_steps});
    return WithMuStepOffsets(std::move(stages));
  }
  const int64_t sft_steps =
      config.sft_stage_steps > 0 ? config.sft_stage_steps : (total_steps + 1) / 2;
  const int64_t rl_steps = total_steps - sft_steps;
  if (rl_steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_prefix, "sft_stage_steps: the SFT stage (", sft_steps,
                     " steps) leaves no step of the job's ", total_steps, " for the RL stage"));
  }
  Stage sft{"sft", config, sft_steps};
  sft.config.batch.expert_data_ratio = 1.0;
  SetFixedMu(1.0, &sft.config);
  sft.config.sft.sft_weight = SftWeight::kNone;
  Stage rl{"rl", config, rl_steps};
  rl.config.batch.expert_data_ratio = 0.0;
  SetFixedMu(0.0, &rl.config);
  stages.push_back(std::move(sft));
  stages.push_back(std::move(rl));
  return WithMuStepOffsets(std::move(stages));
}

}  // namespace chord::algorithm
