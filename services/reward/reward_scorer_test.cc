#include "services/reward/reward_scorer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "prometheus/text_serializer.h"
#include "services/reward/reason_text.h"

namespace chord::reward {
namespace {

std::unique_ptr<RewardScorer> MakeScorer(RewardScorerOptions options = {},
                                         RewardMetrics* metrics = nullptr) {
  auto scorer = RewardScorer::Create(options, VerifierRegistry::CreateDefault(), metrics);
  EXPECT_TRUE(scorer.ok()) << scorer.status();
  return std::move(*scorer);
}

ScoreItem MathItem(absl::string_view id, absl::string_view response, absl::string_view reference) {
  return ScoreItem{id, "math_boxed", "", response, reference, ""};
}

TEST(RewardScorerTest, ScoresABatchInOrderOnThePool) {
  RewardScorerOptions options;
  options.workers = 4;
  auto scorer = MakeScorer(options);
  std::vector<std::string> ids, responses;
  for (int i = 0; i < 2000; ++i) {
    ids.push_back(absl::StrCat("item-", i));
    responses.push_back(absl::StrCat("reasoning... \\boxed{", i % 7, "}"));
  }
  std::vector<ScoreItem> items;
  for (int i = 0; i < 2000; ++i) items.push_back(MathItem(ids[i], responses[i], "3"));
  auto results = scorer->Score(items, false);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), items.size());
  for (int i = 0; i < 2000; ++i) {
    EXPECT_EQ((*results)[i].id, ids[i]);
    EXPECT_EQ((*results)[i].correct, i % 7 == 3) << (*results)[i].reason;
    EXPECT_EQ((*results)[i].score, i % 7 == 3 ? 1.0 : 0.0);
  }
}

TEST(RewardScorerTest, MixesVerifiersInOneBatch) {
  auto scorer = MakeScorer();
  std::vector<ScoreItem> items = {
      MathItem("m", "\\boxed{\\frac{1}{2}}", "0.5"),
      {"a", "arithmetic", "", "#### 12", "12", ""},
      {"c", "countdown", "", "<answer>3*5+7</answer>", "", R"({"numbers":[3,5,7],"target":22})"},
      {"t", "tool_call", "", R"([{"name":"f","arguments":{}}])", R"([{"name":"f"}])", ""},
  };
  auto results = scorer->Score(items, false);
  ASSERT_TRUE(results.ok()) << results.status();
  for (const ScoreResult& result : *results) EXPECT_TRUE(result.correct) << result.reason;
}

TEST(RewardScorerTest, ConcurrentCallersShareThePool) {
  RewardScorerOptions options;
  options.workers = 2;
  auto scorer = MakeScorer(options);
  std::vector<std::thread> threads;
  std::vector<int> correct(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string response = absl::StrCat("\\boxed{", t, "}");
      std::string reference = absl::StrCat(t);
      std::vector<ScoreItem> items(100, MathItem("x", response, reference));
      auto results = scorer->Score(items, false);
      if (!results.ok()) return;
      for (const ScoreResult& result : *results) correct[t] += result.correct ? 1 : 0;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(correct[t], 100) << t;
}

TEST(RewardScorerTest, ValidationNamesTheField) {
  RewardScorerOptions options;
  options.max_batch = 3;
  options.max_field_bytes = 100;
  auto scorer = MakeScorer(options);
  auto message = [&](std::vector<ScoreItem> items) {
    absl::Status status = scorer->Score(items, false).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    return std::string(status.message());
  };
  EXPECT_EQ(message({}), "items: empty batch");
  EXPECT_EQ(message(std::vector<ScoreItem>(4, MathItem("", "\\boxed{1}", "1"))),
            "items: 4 items exceed the limit of 3 per batch");
  ScoreItem unknown = MathItem("", "", "1");
  unknown.verifier = "mathh";
  EXPECT_EQ(message({MathItem("", "", "1"), unknown}),
            "items[1].verifier: unknown verifier \"mathh\" (known: arithmetic, countdown, "
            "math_boxed, tool_call)");
  ScoreItem empty = MathItem("", "", "1");
  empty.verifier = "";
  EXPECT_EQ(message({empty}),
            "items[0].verifier: empty (known: arithmetic, countdown, math_boxed, tool_call)");
  EXPECT_EQ(message({MathItem("", "", "")}), "items[0].reference: empty answer");
  std::string long_prompt(101, 'p');
  ScoreItem big = MathItem("", "", "1");
  big.prompt = long_prompt;
  EXPECT_EQ(message({big}), "items[0].prompt: 101 bytes exceed the limit of 100");
  ScoreItem countdown{"", "countdown", "", "", "", "[1,2,3]"};
  EXPECT_EQ(message({countdown}), "items[0].meta_json: not a JSON object");
  EXPECT_TRUE(scorer->Validate({MathItem("", "", "1")}).ok());
}

TEST(RewardScorerTest, ThinkPenaltyWhenRequested) {
  auto scorer = MakeScorer();
  std::vector<ScoreItem> items = {
      MathItem("good", "<think>2+2</think> \\boxed{4}", "4"),
      MathItem("bad", "<think>2+2 \\boxed{4}", "4"),
      MathItem("bad-wrong", "</think> \\boxed{5}", "4"),
      MathItem("none", "\\boxed{4}", "4"),
  };
  auto results = scorer->Score(items, true);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].score, 1.0);
  EXPECT_NEAR((*results)[1].score, 0.9, 1e-12);
  EXPECT_TRUE((*results)[1].correct);
  EXPECT_TRUE(absl::EndsWith((*results)[1].reason, "; think format: </think> is missing (-0.1)"))
      << (*results)[1].reason;
  EXPECT_NEAR((*results)[2].score, -0.1, 1e-12);
  EXPECT_FALSE((*results)[2].correct);
  EXPECT_EQ((*results)[3].score, 1.0);

  auto unpenalised = scorer->Score(items, false);
  ASSERT_TRUE(unpenalised.ok());
  EXPECT_EQ((*unpenalised)[1].score, 1.0);

  RewardScorerOptions required;
  required.think_required = true;
  auto strict = MakeScorer(required)->Score(items, true);
  ASSERT_TRUE(strict.ok());
  EXPECT_NEAR((*strict)[3].score, 0.9, 1e-12);
  EXPECT_EQ((*strict)[0].score, 1.0);
}

TEST(RewardScorerTest, LongResponsesAreScoredOnTheirTail) {
  RewardScorerOptions options;
  options.max_response_bytes = 100;
  auto scorer = MakeScorer(options);
  std::string box_at_end = std::string(1000, 'x') + "\\boxed{7}";
  std::string box_at_start = "\\boxed{7}" + std::string(1000, 'x');
  auto results = scorer->Score(
      {MathItem("end", box_at_end, "7"), MathItem("start", box_at_start, "7")}, false);
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE((*results)[0].correct);
  EXPECT_TRUE(absl::EndsWith((*results)[0].reason, "(scored on the last 100 of 1009 bytes)"))
      << (*results)[0].reason;
  EXPECT_FALSE((*results)[1].correct);
  EXPECT_EQ((*results)[1].reason,
            "no \\boxed{} answer found (scored on the last 100 of 1009 bytes)");
}

TEST(RewardScorerTest, ResultsAreValidUtf8) {
  auto scorer = MakeScorer();
  auto results = scorer->Score({MathItem("", "\\boxed{\xFF\xC3}", "1")}, false);
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE(IsValidUtf8((*results)[0].reason));
  EXPECT_TRUE(IsValidUtf8((*results)[0].extracted));
  EXPECT_EQ((*results)[0].extracted, "??");
}

class ThrowingVerifier final : public Verifier {
 public:
  VerifierResult Score(const ScoreInput&) const override { throw std::runtime_error("boom"); }
  absl::string_view name() const override { return "throws"; }
  absl::string_view description() const override { return "always throws"; }
};

TEST(RewardScorerTest, AVerifierThatThrowsYieldsAReasonNotACrash) {
  auto registry = VerifierRegistry::CreateDefault();
  ASSERT_TRUE(registry->Register(std::make_unique<ThrowingVerifier>()).ok());
  auto scorer = RewardScorer::Create(RewardScorerOptions(), std::move(registry), nullptr);
  ASSERT_TRUE(scorer.ok());
  auto results = (*scorer)->Score({ScoreItem{"", "throws", "", "", "", ""}}, false);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].reason, "internal error: boom");
  EXPECT_EQ((*results)[0].score, 0.0);
}

TEST(RewardScorerTest, RecordsMetrics) {
  prometheus::Registry registry;
  RewardMetrics metrics(registry);
  RewardScorerOptions options;
  options.workers = 2;
  auto scorer = MakeScorer(options, &metrics);
  auto results = scorer->Score({MathItem("", "\\boxed{1}", "1"), MathItem("", "\\boxed{2}", "1"),
                                MathItem("", "\\boxed{1}", "1")},
                               false);
  ASSERT_TRUE(results.ok());
  std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_TRUE(absl::StrContains(
      text, "chord_reward_scored_total{outcome=\"correct\",verifier=\"math_boxed\"} 2"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "chord_reward_scored_total{outcome=\"wrong\",verifier=\"math_boxed\"} 1"));
  EXPECT_TRUE(
      absl::StrContains(text, "chord_reward_score_seconds_count{verifier=\"math_boxed\"} 3"));
  EXPECT_TRUE(absl::StrContains(text, "chord_reward_batch_items_count 1"));
  EXPECT_TRUE(absl::StrContains(text, "chord_reward_batch_items_sum 3"));
  EXPECT_TRUE(absl::StrContains(text, "chord_reward_pool_queue_depth 0"));
  // Every verifier has its series from the start (so dashboards see zeros, not gaps).
  EXPECT_TRUE(absl::StrContains(
      text, "chord_reward_scored_total{outcome=\"correct\",verifier=\"tool_call\"} 0"));
}

TEST(RewardScorerTest, CreateChecksOptions) {
  RewardScorerOptions options;
  options.workers = 0;
  EXPECT_EQ(
      RewardScorer::Create(options, VerifierRegistry::CreateDefault(), nullptr).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RewardScorer::Create(RewardScorerOptions(), nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = RewardScorerOptions();
  options.max_batch = 0;
  EXPECT_FALSE(RewardScorer::Create(options, VerifierRegistry::CreateDefault(), nullptr).ok());
}

}  // namespace
}  // namespace chord::reward

namespace chord::reward {
namespace {

// `count` arithmetic items; the returned strings back the views.
struct Batch {
  std::vector<std::string> ids;
  std::vector<ScoreItem> items;
  explicit Batch(int count) {
    ids.reserve(count);
    for (int i = 0; i < count; ++i) ids.push_back(absl::StrCat("item-", i));
    for (int i = 0; i < count; ++i) {
      items.push_back(ScoreItem{ids[i], "arithmetic", "", "#### 12", "12", ""});
    }
  }
};

TEST(RewardScorerLimitsTest, ACancelledCallStopsItsRemainingWork) {
  RewardScorerOptions options;
  options.workers = 1;
  auto scorer = MakeScorer(options);
  Batch batch(1000);
  std::atomic<int> polls{0};
  auto results = scorer->Score(batch.items, false, [&] { return ++polls >= 50; });
  EXPECT_EQ(results.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(results.status().message(), "cancelled by the caller after scoring 49 of 1000 items");
  // Nothing was polled (so nothing was scored) once the caller gave up: the queued chunks of the
  // batch were skipped.
  EXPECT_EQ(polls.load(), 50);
  // The pool is free for the next call.
  auto next = scorer->Score(Batch(10).items, false);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->size(), 10u);
}

TEST(RewardScorerLimitsTest, TheWorkQueueIsBoundedAcrossCalls) {
  RewardScorerOptions options;
  options.workers = 1;
  options.max_batch = 1000;
  options.max_queued_items = 1000;
  auto scorer = MakeScorer(options);
  EXPECT_EQ(RewardScorer::Create({1, 1000, 64, 64, false, 999}, VerifierRegistry::CreateDefault(),
                                 nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  // The first call's first item holds the only worker until released; its other 875 items (7 of
  // its 8 chunks) wait in the queue.
  Batch first(1000);
  absl::Notification busy, release;
  absl::StatusOr<std::vector<ScoreResult>> first_results;
  std::thread caller([&] {
    first_results = scorer->Score(first.items, false, [&] {
      if (!busy.HasBeenNotified()) busy.Notify();
      release.WaitForNotification();
      return false;
    });
  });
  busy.WaitForNotification();
  auto refused = scorer->Score(Batch(200).items, false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "reward queue full: 875 items are waiting and this batch of 200 would pass the limit "
            "of 1000 (max_queued_items); retry later");
  // A batch that fits is queued and answered.
  Batch small(100);
  absl::StatusOr<std::vector<ScoreResult>> small_results;
  std::thread second([&] { small_results = scorer->Score(small.items, false); });
  release.Notify();
  caller.join();
  second.join();
  ASSERT_TRUE(first_results.ok()) << first_results.status();
  EXPECT_EQ(first_results->size(), 1000u);
  ASSERT_TRUE(small_results.ok()) << small_results.status();
  EXPECT_EQ(small_results->size(), 100u);
}

}  // namespace
}  // namespace chord::reward
