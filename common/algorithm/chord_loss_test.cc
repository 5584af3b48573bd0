#include "common/algorithm/chord_loss.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <optional>
#include <tuple>

#include "common/algorithm/micro_batch.h"
#include "common/algorithm/tiny_policy_for_test.h"
#include "gtest/gtest.h"

namespace chord::algorithm {
namespace {

constexpr double kEps = 1e-8;  // the aggregation denominators' epsilon

at::Tensor D(std::vector<double> values, std::vector<int64_t> shape) {
  return at::tensor(values, at::kDouble).reshape(shape);
}

double Value(const at::Tensor& t) { return t.item<double>(); }

std::map<std::string, double> Metrics(const MicroBatchLoss& loss) {
  std::map<std::string, double> out;
  for (const auto& [name, value] : MetricsToPairs(loss.metrics)) out[name] = value;
  return out;
}

// The hand-computed batch. Rows 0, 1 on-policy (U), rows 2, 3 expert (E); 3 positions.
//   row 0: A = +1, mask [1 1 0], ratio [1.1 1.5 -]
//   row 1: A = -2, mask [1 1 1], ratio [0.5 1.0 4.0]
//   row 2: E, mask [1 1 0], p [0.5 0.25 -]
//   row 3: E, mask [1 0 0], p [0.8 - -]
// PG token losses with eps_low = eps_high = 0.2, c = 3:
//   row 0, r=1.1: l1 = -1.1, l2 = -1.1                       -> -1.1
//   row 0, r=1.5: l1 = -1.5, l2 = -1.2 (clipped above)       -> -1.2
//   row 1, r=0.5: l1 = 1.0, l2 = 2 * 0.8 = 1.6 (clipped below), dual min(1.6, 6) -> 1.6
//   row 1, r=1.0: l1 = l2 = 2                                 -> 2.0
//   row 1, r=4.0: l1 = 8, l2 = 2 * 1.2 = 2.4, max 8, dual min(8, 2 * 3 = 6)     -> 6.0
// SFT token losses with phi = p (1 - p):
//   row 2: -log(0.5) * 0.25, -log(0.25) * 0.1875; row 3: -log(0.8) * 0.16
struct HandBatch {
  LossInputs inputs;
  at::Tensor logp_leaf;
};

HandBatch MakeHandBatch() {
  const double pad = 0.0;
  const at::Tensor ratio = D({1.1, 1.5, 1.0, 0.5, 1.0, 4.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0}, {4, 3});
  // Current log-probs: U rows arbitrary, E rows the log of the probabilities above.
  const at::Tensor logp = D({-0.3, -1.2, pad, -0.7, -2.0, -0.1, std::log(0.5), std::log(0.25), pad,
                             std::log(0.8), pad, pad},
                            {4, 3});
  HandBatch b;
  b.logp_leaf = logp.clone().requires_grad_();
  b.inputs.logp = b.logp_leaf;
  b.inputs.old_logp = logp - at::log(ratio);
  b.inputs.advantages = D({1.0, -2.0, 0.0, 0.0}, {4});
  b.inputs.mask = D({1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0}, {4, 3});
  b.inputs.is_expert = at::tensor(std::vector<int64_t>{0, 0, 1, 1}).to(at::kBool);
  return b;
}

const double kPgTokens[] = {-1.1, -1.2, 1.6, 2.0, 6.0};
const double kSftRow2[] = {-std::log(0.5) * 0.25, -std::log(0.25) * 0.1875};
const double kSftRow3 = -std::log(0.8) * 0.16;

struct Expected {
  double pg;
  double sft;
};

Expected HandExpected(LossAggMode mode, double norm_length) {
  const double pg_row0 = kPgTokens[0] + kPgTokens[1];
  const double pg_row1 = kPgTokens[2] + kPgTokens[3] + kPgTokens[4];
  const double sft_row2 = kSftRow2[0] + kSftRow2[1];
  const double sft_row3 = kSftRow3;
  switch (mode) {
    case LossAggMode::kTokenMean:  // 5 U tokens, 3 E tokens
      return {(pg_row0 + pg_row1) / (5 + kEps), (sft_row2 + sft_row3) / (3 + kEps)};
    case LossAggMode::kSeqMeanTokenMean:  // row means, then mean over 2 rows
      return {(pg_row0 / (2 + kEps) + pg_row1 / (3 + kEps)) / (2 + kEps),
              (sft_row2 / (2 + kEps) + sft_row3 / (1 + kEps)) / (2 + kEps)};
    case LossAggMode::kSeqMeanTokenSum:  // row sums, then mean over 2 rows
      return {(pg_row0 + pg_row1) / (2 + kEps), (sft_row2 + sft_row3) / (2 + kEps)};
    case LossAggMode::kSeqMeanTokenSumNorm:  // total / (2 rows x L)
      return {(pg_row0 + pg_row1) / (2 * norm_length + kEps),
              (sft_row2 + sft_row3) / (2 * norm_length + kEps)};
  }
  return {0, 0};
}

class AggregationModeTest : public ::testing::TestWithParam<LossAggMode> {};

TEST_P(AggregationModeTest, HandComputedLoss) {
  HandBatch b = MakeHandBatch();
  LossSettings s;
  s.mu = 0.25;
  s.agg_mode = GetParam();
  s.sft_agg_mode = GetParam();
  s.norm_length = 4;
  const GlobalNormalizers n = ComputeLocalNormalizers(b.inputs.mask, b.inputs.is_expert);
  EXPECT_EQ(n.on_policy_tokens, 5);
  EXPECT_EQ(n.expert_tokens, 3);
  EXPECT_EQ(n.on_policy_rows, 2);
  EXPECT_EQ(n.expert_rows, 2);
  absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(b.inputs, s, n);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const Expected e = HandExpected(GetParam(), 4);
  std::map<std::string, double> m = Metrics(*loss);
  EXPECT_NEAR(m["pg_loss"], e.pg, 1e-12);
  EXPECT_NEAR(m["sft_loss"], e.sft, 1e-12);
  EXPECT_NEAR(Value(loss->loss), 0.75 * e.pg + 0.25 * e.sft, 1e-12);
  EXPECT_NEAR(m["loss"], 0.75 * e.pg + 0.25 * e.sft, 1e-12);
  // Token-level metrics do not depend on the aggregation mode.
  EXPECT_NEAR(m["clip_frac_upper"], 1 / (5 + kEps), 1e-12);  // row 0, r = 1.5
  EXPECT_NEAR(m["clip_frac_lower"], 1 / (5 + kEps), 1e-12);  // row 1, r = 0.5
  EXPECT_NEAR(m["clip_frac_dual"], 1 / (5 + kEps), 1e-12);   // row 1, r = 4
  EXPECT_NEAR(
      m["approx_kl"],
      -(std::log(1.1) + std::log(1.5) + std::log(0.5) + std::log(1.0) + std::log(4.0)) / (5 + kEps),
      1e-12);
  EXPECT_NEAR(m["phi_mean"], (0.25 + 0.1875 + 0.16) / (3 + kEps), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(AllModes, AggregationModeTest,
                         ::testing::Values(LossAggMode::kTokenMean, LossAggMode::kSeqMeanTokenMean,
                                           LossAggMode::kSeqMeanTokenSum,
                                           LossAggMode::kSeqMeanTokenSumNorm),
                         [](const ::testing::TestParamInfo<LossAggMode>& info) {
                           std::string name(LossAggModeName(info.param));
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

// One token per row; PG only (mu = 0), token-mean over one token: the loss is the token loss.
double SingleTokenPgLoss(double advantage, double ratio, double clip_low, double clip_high,
                         std::map<std::string, double>* metrics = nullptr) {
  LossInputs in;
  in.logp = D({-1.0}, {1, 1});
  in.old_logp = in.logp - std::log(ratio);
  in.advantages = D({advantage}, {1});
  in.mask = D({1}, {1, 1});
  in.is_expert = at::zeros({1}, at::kBool);
  LossSettings s;
  s.mu = 0;
  s.clip_low = clip_low;
  s.clip_high = clip_high;
  GlobalNormalizers n;
  n.on_policy_tokens = 1;
  n.on_policy_rows = 1;
  absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(in, s, n);
  EXPECT_TRUE(loss.ok()) << loss.status();
  if (metrics != nullptr) *metrics = Metrics(*loss);
  return Value(loss->loss) * (1 + kEps);
}

TEST(DualClipTest, PositiveAdvantage) {
  // A = 2: l = max(-2 r, -2 clamp(r, 0.8, 1.2)); the dual clip never applies.
  EXPECT_NEAR(SingleTokenPgLoss(2, 1.1, 0.2, 0.2), -2.2, 1e-12);   // inside the range
  EXPECT_NEAR(SingleTokenPgLoss(2, 1.5, 0.2, 0.2), -2.4, 1e-12);   // clipped at 1.2
  EXPECT_NEAR(SingleTokenPgLoss(2, 10.0, 0.2, 0.2), -2.4, 1e-12);  // far above: still 1.2
  EXPECT_NEAR(SingleTokenPgLoss(2, 0.5, 0.2, 0.2), -1.0, 1e-12);   // below: -A r is larger
}

TEST(DualClipTest, NegativeAdvantage) {
  // A = -2: l = max(2 r, 2 clamp(r, 0.8, 1.2)), then min(l, 2 * 3 = 6).
  EXPECT_NEAR(SingleTokenPgLoss(-2, 0.9, 0.2, 0.2), 1.8, 1e-12);  // inside
  EXPECT_NEAR(SingleTokenPgLoss(-2, 0.5, 0.2, 0.2), 1.6, 1e-12);  // clipped at 0.8
  EXPECT_NEAR(SingleTokenPgLoss(-2, 2.0, 0.2, 0.2), 4.0, 1e-12);  // above 1.2: -A r, below 6
  EXPECT_NEAR(SingleTokenPgLoss(-2, 5.0, 0.2, 0.2), 6.0, 1e-12);  // dual clip: -A c
  EXPECT_NEAR(SingleTokenPgLoss(-2, 1e6, 0.2, 0.2), 6.0, 1e-12);  // delta clamped at 20 too
}

TEST(DualClipTest, SeparateLowAndHighRanges) {
  // eps_low = 0.1, eps_high = 0.3.
  EXPECT_NEAR(SingleTokenPgLoss(1, 1.25, 0.1, 0.3), -1.25, 1e-12);  // inside [0.9, 1.3]
  EXPECT_NEAR(SingleTokenPgLoss(1, 1.5, 0.1, 0.3), -1.3, 1e-12);
  EXPECT_NEAR(SingleTokenPgLoss(-1, 0.85, 0.1, 0.3), 0.9, 1e-12);
  EXPECT_NEAR(SingleTokenPgLoss(-1, 0.95, 0.1, 0.3), 0.95, 1e-12);
}

TEST(DualClipTest, ClipFractionMetrics) {
  std::map<std::string, double> m;
  SingleTokenPgLoss(2, 1.5, 0.2, 0.2, &m);
  EXPECT_NEAR(m["clip_frac_upper"], 1, 1e-7);
  EXPECT_EQ(m["clip_frac_lower"], 0);
  EXPECT_EQ(m["clip_frac_dual"], 0);
  SingleTokenPgLoss(-2, 0.5, 0.2, 0.2, &m);
  EXPECT_EQ(m["clip_frac_upper"], 0);
  EXPECT_NEAR(m["clip_frac_lower"], 1, 1e-7);
  EXPECT_EQ(m["clip_frac_dual"], 0);
  SingleTokenPgLoss(-2, 5.0, 0.2, 0.2, &m);
  EXPECT_EQ(m["clip_frac_upper"], 0);
  EXPECT_EQ(m["clip_frac_lower"], 0);
  EXPECT_NEAR(m["clip_frac_dual"], 1, 1e-7);
  SingleTokenPgLoss(2, 1.0, 0.2, 0.2, &m);
  EXPECT_EQ(m["clip_frac_upper"] + m["clip_frac_lower"] + m["clip_frac_dual"], 0);
}

TEST(DualClipTest, GradientVanishesWhereClipped) {
  // d l / d logp = -A r inside the range, 0 where the clip (or dual clip) binds.
  for (const auto& [advantage, ratio, expected_grad] :
       std::vector<std::tuple<double, double, double>>{
           {2, 1.1, -2.2}, {2, 1.5, 0}, {-2, 0.9, 1.8}, {-2, 0.5, 0}, {-2, 2.0, 4.0}, {-2, 5, 0}}) {
    at::Tensor logp = D({-1.0}, {1, 1}).requires_grad_();
    LossInputs in;
    in.logp = logp;
    in.old_logp = logp.detach() - std::log(ratio);
    in.advantages = D({advantage}, {1});
    in.mask = D({1}, {1, 1});
    in.is_expert = at::zeros({1}, at::kBool);
    LossSettings s;
    s.mu = 0;
    GlobalNormalizers n;
    n.on_policy_tokens = 1;
    n.on_policy_rows = 1;
    absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(in, s, n);
    ASSERT_TRUE(loss.ok());
    loss->loss.backward();
    EXPECT_NEAR(Value(logp.grad()) * (1 + kEps), expected_grad, 1e-9)
        << "A=" << advantage << " r=" << ratio;
  }
}

// phi is detached: d SFT / d theta = -(1 / N) sum_t p_t (1 - p_t) d log p_t / d theta. With
// logp = log_softmax(z)[y], d log p / d z = onehot(y) - softmax(z).
TEST(SftWeightTest, PhiGradientIsMinusPhiTimesGradLogP) {
  const at::Tensor z = D({0.3, -1.2, 2.0, 0.5, 0.0, -0.4}, {2, 3}).requires_grad_();
  const std::vector<int64_t> targets = {2, 1};
  const at::Tensor target = at::tensor(targets).reshape({2, 1});
  const at::Tensor logp = at::log_softmax(z, -1).gather(1, target).reshape({1, 2});

  for (SftWeight weight : {SftWeight::kPhi, SftWeight::kImportanceSampling, SftWeight::kNone}) {
    if (z.grad().defined()) z.mutable_grad().zero_();
    LossInputs in;
    in.logp = logp;
    in.old_logp = at::zeros_like(logp);
    in.advantages = D({0.0}, {1});
    in.mask = D({1, 1}, {1, 2});
    in.is_expert = at::ones({1}, at::kBool);
    LossSettings s;
    s.mu = 1.0;
    s.sft_weight = weight;
    GlobalNormalizers n;
    n.expert_tokens = 2;
    n.expert_rows = 1;
    absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(in, s, n);
    ASSERT_TRUE(loss.ok());
    loss->loss.backward({}, /*retain_graph=*/true);

    const at::Tensor softmax = at::softmax(z.detach(), -1);
    const at::Tensor p = logp.detach().exp().reshape({2, 1});
    at::Tensor w;
    switch (weight) {
      case SftWeight::kPhi:
        w = p * (1 - p);
        break;
      case SftWeight::kImportanceSampling:
        w = p;
        break;
      case SftWeight::kNone:
        w = at::ones_like(p);
        break;
    }
    const at::Tensor onehot = at::zeros({2, 3}, at::kDouble).scatter_(1, target, 1.0);
    const at::Tensor expected = -w * (onehot - softmax) / (2 + kEps);
    EXPECT_TRUE(at::allclose(z.grad(), expected, 1e-12, 1e-14)) << SftWeightName(weight) << "\n"
                                                                << z.grad() << "\n"
                                                                << expected;
  }
}

TEST(SftWeightTest, LossValuesPerWeight) {
  // One expert token with p = 0.6: phi = 0.24, IS = 0.6, none = 1.
  for (const auto& [weight, w] : std::vector<std::pair<SftWeight, double>>{
           {SftWeight::kPhi, 0.24}, {SftWeight::kImportanceSampling, 0.6}, {SftWeight::kNone, 1}}) {
    LossInputs in;
    in.logp = D({std::log(0.6)}, {1, 1});
    in.old_logp = at::zeros_like(in.logp);
    in.advantages = D({0.0}, {1});
    in.mask = D({1}, {1, 1});
    in.is_expert = at::ones({1}, at::kBool);
    LossSettings s;
    s.mu = 1.0;
    s.sft_weight = weight;
    GlobalNormalizers n;
    n.expert_tokens = 1;
    n.expert_rows = 1;
    absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(in, s, n);
    ASSERT_TRUE(loss.ok());
    EXPECT_NEAR(Value(loss->loss), -std::log(0.6) * w / (1 + kEps), 1e-12);
  }
}

TEST(ChordLossTest, MaskedPositionsCannotLeak) {
  // NaN / inf at masked positions change neither the loss nor the gradient elsewhere.
  HandBatch clean = MakeHandBatch();
  HandBatch dirty = MakeHandBatch();
  at::Tensor logp = dirty.logp_leaf.detach().clone();
  logp.index_put_({0, 2}, -INFINITY);
  logp.index_put_({3, 1}, NAN);
  dirty.logp_leaf = logp.requires_grad_();
  dirty.inputs.logp = dirty.logp_leaf;
  at::Tensor old = dirty.inputs.old_logp.clone();
  old.index_put_({2, 2}, NAN);
  dirty.inputs.old_logp = old;
  LossSettings s;
  s.mu = 0.4;
  const GlobalNormalizers n = ComputeLocalNormalizers(clean.inputs.mask, clean.inputs.is_expert);
  absl::StatusOr<MicroBatchLoss> a = ComputeChordLoss(clean.inputs, s, n);
  absl::StatusOr<MicroBatchLoss> b = ComputeChordLoss(dirty.inputs, s, n);
  ASSERT_TRUE(a.ok() && b.ok());
  a->loss.backward();
  b->loss.backward();
  EXPECT_NEAR(Value(a->loss), Value(b->loss), 1e-15);
  EXPECT_TRUE(at::equal(clean.logp_leaf.grad(), dirty.logp_leaf.grad()));
  EXPECT_EQ(Value(dirty.logp_leaf.grad().index({0, 2})), 0.0);
}

TEST(ChordLossTest, EntropyBonusAndReferenceKl) {
  HandBatch b = MakeHandBatch();
  b.inputs.entropy = D({1, 2, 100, 3, 4, 5, 100, 100, 100, 100, 100, 100}, {4, 3});
  b.inputs.ref_logp = b.inputs.logp.detach() - 0.5;  // k2 = 0.5 * 0.25 on every token
  LossSettings s;
  s.mu = 0.25;
  s.entropy_coef = 0.01;
  s.kl_coef = 0.1;
  s.kl_rows = KlRows::kOnPolicy;
  const GlobalNormalizers n = ComputeLocalNormalizers(b.inputs.mask, b.inputs.is_expert);
  absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(b.inputs, s, n);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const Expected e = HandExpected(LossAggMode::kTokenMean, 0);
  // Entropy and k2 over the 5 U tokens.
  const double entropy = (1 + 2 + 3 + 4 + 5) / (5 + kEps);
  const double k2 = 5 * 0.125 / (5 + kEps);
  EXPECT_NEAR(Value(loss->loss), 0.75 * e.pg + 0.25 * e.sft - 0.01 * entropy + 0.1 * k2, 1e-12);
  std::map<std::string, double> m = Metrics(*loss);
  EXPECT_NEAR(m["entropy"], entropy, 1e-12);
  EXPECT_NEAR(m["kl_ref"], k2, 1e-12);
}

// ---- the reference implementation's options ------------------------------------------------

// The SFT part is aggregated with its own mode: token-mean by default whatever loss_agg_mode is,
// seq-mean-token-mean with use_token_level_loss_in_sft false (as Trinity-RFT's mix_chord).
TEST(SftAggregationTest, OwnModeIndependentOfThePgMode) {
  Config config;
  config.aggregation.loss_agg_mode = LossAggMode::kSeqMeanTokenSum;
  struct Case {
    bool token_level;
    std::optional<LossAggMode> explicit_mode;
    LossAggMode expected;
  };
  for (const Case& c :
       {Case{true, std::nullopt, LossAggMode::kTokenMean},
        Case{false, std::nullopt, LossAggMode::kSeqMeanTokenMean},
        Case{true, LossAggMode::kSeqMeanTokenSumNorm, LossAggMode::kSeqMeanTokenSumNorm}}) {
    config.sft.use_token_level_loss_in_sft = c.token_level;
    config.sft.sft_loss_agg_mode = c.explicit_mode;
    config.aggregation.loss_agg_norm_length = 4;
    LossSettings s = LossSettings::FromConfig(config, 0.25);
    EXPECT_EQ(s.agg_mode, LossAggMode::kSeqMeanTokenSum);
    EXPECT_EQ(s.sft_agg_mode, c.expected);
    HandBatch b = MakeHandBatch();
    const GlobalNormalizers n = ComputeLocalNormalizers(b.inputs.mask, b.inputs.is_expert);
    absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(b.inputs, s, n);
    ASSERT_TRUE(loss.ok()) << loss.status();
    const double pg = HandExpected(LossAggMode::kSeqMeanTokenSum, 4).pg;
    const double sft = HandExpected(c.expected, 4).sft;
    std::map<std::string, double> m = Metrics(*loss);
    EXPECT_NEAR(m["pg_loss"], pg, 1e-12);
    EXPECT_NEAR(m["sft_loss"], sft, 1e-12);
    EXPECT_NEAR(Value(loss->loss), 0.75 * pg + 0.25 * sft, 1e-12);
  }
  // Hand values of the two reference modes: token-mean over the 3 expert tokens, and the mean of
  // the two expert rows' token means.
  EXPECT_NEAR(HandExpected(LossAggMode::kTokenMean, 0).sft,
              (kSftRow2[0] + kSftRow2[1] + kSftRow3) / (3 + kEps), 1e-15);
  EXPECT_NEAR(HandExpected(LossAggMode::kSeqMeanTokenMean, 0).sft,
              ((kSftRow2[0] + kSftRow2[1]) / (2 + kEps) + kSftRow3 / (1 + kEps)) / (2 + kEps),
              1e-15);
}

// cutoff_prob (Trinity-RFT's sft_phi loss): logp is clamped at log(cutoff) before it is
// weighted, phi comes from the unclamped p, so a token above the cutoff adds -log(c) phi(p) and
// no gradient.
TEST(CutoffProbTest, TokensAboveTheCutoffAddAConstant) {
  auto run = [](SftWeight weight, double cutoff, at::Tensor* grad) {
    at::Tensor logp = D({std::log(0.9), std::log(0.5)}, {1, 2}).requires_grad_();
    LossInputs in;
    in.logp = logp;
    in.old_logp = at::zeros_like(logp);
    in.advantages = D({0.0}, {1});
    in.mask = D({1, 1}, {1, 2});
    in.is_expert = at::ones({1}, at::kBool);
    LossSettings s;
    s.mu = 1.0;
    s.sft_weight = weight;
    s.cutoff_prob = cutoff;
    GlobalNormalizers n;
    n.expert_tokens = 2;
    n.expert_rows = 1;
    absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(in, s, n);
    EXPECT_TRUE(loss.ok()) << loss.status();
    loss->loss.backward();
    *grad = logp.grad().clone();
    return Value(loss->loss);
  };
  at::Tensor grad;
  // p = 0.9 > 0.8: -log(0.8) * 0.9 * 0.1, no gradient; p = 0.5: -log(0.5) * 0.25, d/dlogp -0.25.
  EXPECT_NEAR(run(SftWeight::kPhi, 0.8, &grad),
              (-std::log(0.8) * 0.09 - std::log(0.5) * 0.25) / (2 + kEps), 1e-12);
  EXPECT_EQ(grad[0][0].item<double>(), 0.0);
  EXPECT_NEAR(grad[0][1].item<double>(), -0.25 / (2 + kEps), 1e-12);
  // 1 is no cutoff.
  EXPECT_NEAR(run(SftWeight::kPhi, 1.0, &grad),
              (-std::log(0.9) * 0.09 - std::log(0.5) * 0.25) / (2 + kEps), 1e-12);
  EXPECT_NEAR(grad[0][0].item<double>(), -0.09 / (2 + kEps), 1e-12);
  // The reference applies it to the phi-weighted loss only.
  EXPECT_NEAR(run(SftWeight::kNone, 0.8, &grad), (-std::log(0.9) - std::log(0.5)) / (2 + kEps),
              1e-12);
  // Out of (0, 1]: refused.
  LossSettings bad;
  bad.cutoff_prob = 0;
  HandBatch b = MakeHandBatch();
  EXPECT_EQ(
      ComputeChordLoss(b.inputs, bad, ComputeLocalNormalizers(b.inputs.mask, b.inputs.is_expert))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

// Trinity-RFT's kl_fn estimators, for logp - ref = d.
TEST(KlEstimatorTest, HandComputedValues) {
  const at::Tensor logp = D({-1.0, -2.0, -30.0, -1.0}, {1, 4});
  const at::Tensor ref = D({-1.5, -1.0, 0.0, -1.0}, {1, 4});  // d = 0.5, -1, -30, 0
  auto at_ = [](const at::Tensor& t, int i) { return t[0][i].item<double>(); };
  const at::Tensor k1 = KlEstimate(KlEstimator::kK1, logp, ref);
  const at::Tensor k2 = KlEstimate(KlEstimator::kK2, logp, ref);
  const at::Tensor k3 = KlEstimate(KlEstimator::kK3, logp, ref);
  const at::Tensor low = KlEstimate(KlEstimator::kLowVarKl, logp, ref);
  const at::Tensor abs = KlEstimate(KlEstimator::kAbs, logp, ref);
  EXPECT_NEAR(at_(k1, 0), 0.5, 1e-15);
  EXPECT_NEAR(at_(k1, 1), -1.0, 1e-15);
  EXPECT_NEAR(at_(k2, 0), 0.125, 1e-15);
  EXPECT_NEAR(at_(k2, 1), 0.5, 1e-15);
  // k3 = exp(ref - logp) - 1 - (ref - logp).
  EXPECT_NEAR(at_(k3, 0), std::exp(-0.5) - 1 + 0.5, 1e-15);
  EXPECT_NEAR(at_(k3, 1), std::exp(1.0) - 1 - 1.0, 1e-15);
  EXPECT_NEAR(at_(k3, 2), std::exp(30.0) - 1 - 30.0, std::exp(30.0) * 1e-12);
  // low_var_kl: the same, but ref - logp clamped to [-20, 20] and the result to [-10, 10].
  EXPECT_NEAR(at_(low, 0), std::exp(-0.5) - 1 + 0.5, 1e-15);
  EXPECT_NEAR(at_(low, 1), std::exp(1.0) - 1 - 1.0, 1e-15);
  EXPECT_EQ(at_(low, 2), 10.0);
  EXPECT_NEAR(at_(abs, 0), 0.5, 1e-15);
  EXPECT_NEAR(at_(abs, 1), 1.0, 1e-15);
  for (const at::Tensor& t : {k1, k2, k3, low, abs}) EXPECT_EQ(at_(t, 3), 0.0);  // d = 0
  EXPECT_EQ(KlEstimate(KlEstimator::kNone, logp, ref).abs().sum().item<double>(), 0.0);
}

// The KL loss covers every row by default (the reference applies its kl_loss_fn to the whole
// micro-batch, expert rows included), with loss_agg_mode, and is not scaled by mu.
TEST(KlLossTest, AllRowsByDefaultOrOnPolicyRows) {
  HandBatch b = MakeHandBatch();
  // d = logp - ref: 0.5 on the U rows, 1 on row 2, 2 on row 3.
  b.inputs.ref_logp = b.inputs.logp.detach() - D({0.5, 0.5, 1.0, 2.0}, {4, 1});
  const GlobalNormalizers n = ComputeLocalNormalizers(b.inputs.mask, b.inputs.is_expert);
  const Expected e = HandExpected(LossAggMode::kTokenMean, 0);
  LossSettings s;
  s.mu = 0.25;
  s.kl_coef = 0.1;
  for (const auto& [estimator, u_value, row2, row3] :
       std::vector<std::tuple<KlEstimator, double, double, double>>{
           {KlEstimator::kK2, 0.125, 0.5, 2.0},
           {KlEstimator::kK1, 0.5, 1.0, 2.0},
           {KlEstimator::kAbs, 0.5, 1.0, 2.0},
           {KlEstimator::kK3, std::exp(-0.5) - 0.5, std::exp(-1.0), std::exp(-2.0) + 1}}) {
    s.kl_estimator = estimator;
    s.kl_rows = KlRows::kAll;
    absl::StatusOr<MicroBatchLoss> all = ComputeChordLoss(b.inputs, s, n);
    ASSERT_TRUE(all.ok()) << all.status();
    // 5 U tokens, 2 tokens of row 2, 1 of row 3.
    const double kl_all = (5 * u_value + 2 * row2 + row3) / (8 + kEps);
    EXPECT_NEAR(Metrics(*all)["kl_loss"], kl_all, 1e-12) << KlEstimatorName(estimator);
    EXPECT_NEAR(Metrics(*all)["kl_ref"], kl_all, 1e-12);
    EXPECT_NEAR(Value(all->loss), 0.75 * e.pg + 0.25 * e.sft + 0.1 * kl_all, 1e-12);
    s.kl_rows = KlRows::kOnPolicy;
    absl::StatusOr<MicroBatchLoss> u = ComputeChordLoss(b.inputs, s, n);
    ASSERT_TRUE(u.ok());
    EXPECT_NEAR(Metrics(*u)["kl_loss"], 5 * u_value / (5 + kEps), 1e-12);
    EXPECT_NEAR(Value(u->loss), 0.75 * e.pg + 0.25 * e.sft + 0.1 * 5 * u_value / (5 + kEps), 1e-12);
  }
  // seq-mean-token-mean over all four rows.
  s.kl_estimator = KlEstimator::kK2;
  s.kl_rows = KlRows::kAll;
  s.agg_mode = LossAggMode::kSeqMeanTokenMean;
  absl::StatusOr<MicroBatchLoss> seq = ComputeChordLoss(b.inputs, s, n);
  ASSERT_TRUE(seq.ok());
  EXPECT_NEAR(
      Metrics(*seq)["kl_loss"],
      (0.125 * 2 / (2 + kEps) + 0.125 * 3 / (3 + kEps) + 0.5 * 2 / (2 + kEps) + 2.0 / (1 + kEps)) /
          (4 + kEps),
      1e-12);
  // kl_loss_fn none: no term and no need for the reference.
  s.kl_estimator = KlEstimator::kNone;
  LossInputs without = b.inputs;
  without.ref_logp = at::Tensor();
  absl::StatusOr<MicroBatchLoss> none = ComputeChordLoss(without, s, n);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(Metrics(*none)["kl_loss"], 0.0);
}

TEST(ChordLossTest, RejectsBadInputs) {
  HandBatch b = MakeHandBatch();
  LossSettings s;
  const GlobalNormalizers n = ComputeLocalNormalizers(b.inputs.mask, b.inputs.is_expert);
  LossInputs bad = b.inputs;
  bad.mask = at::ones({4, 2}, at::kDouble);
  absl::Status status = ComputeChordLoss(bad, s, n).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("mask"), absl::string_view::npos) << status;
  bad = b.inputs;
  bad.advantages = at::ones({3}, at::kDouble);
  EXPECT_EQ(ComputeChordLoss(bad, s, n).status().code(), absl::StatusCode::kInvalidArgument);
  s.kl_coef = 0.1;
  EXPECT_EQ(ComputeChordLoss(b.inputs, s, n).status().code(),
            absl::StatusCode::kFailedPrecondition);
  s.kl_coef = 0;
  s.agg_mode = LossAggMode::kSeqMeanTokenSumNorm;
  s.norm_length = 0;
  EXPECT_EQ(ComputeChordLoss(b.inputs, s, n).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- split invariance at the loss level -----------------------------------------------------

// Rows of unequal lengths, both kinds, partial loss masks, stale behaviour log-probs.
std::vector<TrainingRow> MixedRows() {
  std::vector<TrainingRow> rows;
  const int lengths[][2] = {{3, 5}, {2, 9}, {4, 2}, {1, 7}, {5, 3}, {2, 1}, {3, 11}, {2, 4}};
  for (int i = 0; i < 8; ++i) {
    TrainingRow row;
    for (int j = 0; j < lengths[i][0]; ++j) row.prompt_ids.push_back((i * 3 + j) % 13);
    for (int j = 0; j < lengths[i][1]; ++j) row.response_ids.push_back((i * 5 + j * 7 + 1) % 13);
    row.is_expert = (i % 3 == 1);
    if (!row.is_expert) {
      row.advantage = static_cast<float>((i % 2 == 0 ? 1.0 : -1.0) * (0.5 + 0.25 * i));
      row.reward = static_cast<float>(i % 2);
      for (int j = 0; j < lengths[i][1]; ++j) {
        row.old_logprobs.push_back(static_cast<float>(-2.6 + 0.3 * std::sin(3.0 * i + j)));
      }
    }
    if (i == 6) {  // a partially masked response
      row.loss_mask.assign(lengths[i][1], 1);
      row.loss_mask[0] = 0;
      row.loss_mask[4] = 0;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// Sum of gradients (and metric contributions) of `groups` (micro-batches) under `normalizers`.
std::pair<std::vector<at::Tensor>, at::Tensor> Gradients(
    const std::vector<TrainingRow>& rows, const std::vector<std::vector<size_t>>& groups,
    const LossSettings& s, const GlobalNormalizers& n) {
  testing::TinyPolicy policy;
  at::Tensor metrics = at::zeros({kNumLossMetrics}, at::kDouble);
  for (const std::vector<size_t>& group : groups) {
    std::vector<TrainingRow> subset;
    for (size_t i : group) subset.push_back(rows[i]);
    absl::StatusOr<std::vector<MicroBatch>> mbs = PackMicroBatches(subset, 1 << 20);
    EXPECT_TRUE(mbs.ok());
    EXPECT_EQ(mbs->size(), 1u);
    const MicroBatch& mb = (*mbs)[0];
    at::Tensor entropy;
    LossInputs in;
    in.logp = policy.TokenLogprobs(mb.input_ids, mb.attention_mask, &entropy);
    in.entropy = entropy;
    in.old_logp = mb.old_logp;
    in.advantages = mb.advantages;
    in.mask = mb.loss_mask;
    in.is_expert = mb.is_expert;
    absl::StatusOr<MicroBatchLoss> loss = ComputeChordLoss(in, s, n);
    EXPECT_TRUE(loss.ok()) << loss.status();
    loss->loss.backward();
    metrics += loss->metrics;
  }
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : policy.Parameters()) grads.push_back(p.grad().clone());
  return {grads, metrics};
}

class SplitInvarianceTest : public ::testing::TestWithParam<LossAggMode> {};

TEST_P(SplitInvarianceTest, OneMicroBatchEqualsTwoRanksTimesTwoMicroBatches) {
  const std::vector<TrainingRow> rows = MixedRows();
  LossSettings s;
  s.mu = 0.3;
  s.agg_mode = GetParam();
  s.norm_length = 16;
  s.entropy_coef = 0.01;

  const GlobalNormalizers all = ComputeLocalNormalizers(rows);
  const auto [grads_one, metrics_one] = Gradients(rows, {{0, 1, 2, 3, 4, 5, 6, 7}}, s, all);

  // Rank 0: micro-batches {0, 1, 2} and {3}; rank 1: {4, 5} and {6, 7} (unequal token counts).
  const std::vector<std::vector<std::vector<size_t>>> ranks = {{{0, 1, 2}, {3}}, {{4, 5}, {6, 7}}};
  // The normalisers are the sum of each rank's local ones (what the all-reduce computes).
  GlobalNormalizers summed;
  for (const auto& rank : ranks) {
    std::vector<TrainingRow> local;
    for (const auto& group : rank) {
      for (size_t i : group) local.push_back(rows[i]);
    }
    summed += ComputeLocalNormalizers(local);
  }
  EXPECT_EQ(summed.on_policy_tokens, all.on_policy_tokens);
  EXPECT_EQ(summed.expert_rows, all.expert_rows);

  std::vector<at::Tensor> grads_split;
  at::Tensor metrics_split = at::zeros({kNumLossMetrics}, at::kDouble);
  for (const auto& rank : ranks) {
    auto [grads, metrics] = Gradients(rows, rank, s, summed);
    if (grads_split.empty()) {
      grads_split = grads;
    } else {
      for (size_t i = 0; i < grads.size(); ++i) grads_split[i] += grads[i];  // all-reduce SUM
    }
    metrics_split += metrics;
  }
  for (size_t i = 0; i < grads_one.size(); ++i) {
    EXPECT_GT(grads_one[i].abs().max().item<double>(), 1e-6);  // not trivially zero
    EXPECT_LT((grads_one[i] - grads_split[i]).abs().max().item<double>(), 1e-12) << "param " << i;
  }
  EXPECT_LT((metrics_one - metrics_split).abs().max().item<double>(), 1e-12);
  // The stale behaviour log-probs exercise the clip.
  EXPECT_GT(metrics_one[kMetricClipFracUpper].item<double>() +
                metrics_one[kMetricClipFracLower].item<double>() +
                metrics_one[kMetricClipFracDual].item<double>(),
            0.0);
}

// Control: normalising each micro-batch by its own counts and averaging the micro-batches (the
// reference implementation's approximation) changes the gradient when token counts differ, so
// the test above can tell an exact split from an approximate one.
TEST(SplitInvarianceControlTest, PerMicroBatchNormalisationIsNotExact) {
  const std::vector<TrainingRow> rows = MixedRows();
  LossSettings s;
  s.mu = 0.3;
  const auto [grads_one, metrics_one] =
      Gradients(rows, {{0, 1, 2, 3, 4, 5, 6, 7}}, s, ComputeLocalNormalizers(rows));
  const std::vector<std::vector<size_t>> groups = {{0, 1, 2}, {3}, {4, 5}, {6, 7}};
  std::vector<at::Tensor> approx;
  for (const auto& group : groups) {
    std::vector<TrainingRow> local;
    for (size_t i : group) local.push_back(rows[i]);
    auto [grads, metrics] = Gradients(rows, {group}, s, ComputeLocalNormalizers(local));
    for (size_t i = 0; i < grads.size(); ++i) {
      if (approx.size() <= i) {
        approx.push_back(grads[i] / 4.0);
      } else {
        approx[i] += grads[i] / 4.0;
      }
    }
  }
  double largest = 0;
  for (size_t i = 0; i < grads_one.size(); ++i) {
    largest = std::max(largest, (grads_one[i] - approx[i]).abs().max().item<double>());
  }
  EXPECT_GT(largest, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(AllModes, SplitInvarianceTest,
                         ::testing::Values(LossAggMode::kTokenMean, LossAggMode::kSeqMeanTokenMean,
                                           LossAggMode::kSeqMeanTokenSum,
                                           LossAggMode::kSeqMeanTokenSumNorm),
                         [](const ::testing::TestParamInfo<LossAggMode>& info) {
                           std::string name(LossAggModeName(info.param));
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace chord::algorithm
