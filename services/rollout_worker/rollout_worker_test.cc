// The rollout worker's core with the tiny preset model: prompt forms, stop handling, the bounded
// FIFO queue, weight versions (installs, refusals, min_weight_version waits), cancellation,
// deadlines and shutdown; plus the cancellation hooks it added to model::Generate.

#include "services/rollout_worker/rollout_worker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "common/model/causal_lm.h"
#include "common/model/generation.h"
#include "common/model/tiny_preset.h"
#include "common/tokenizer/chat_template.h"
#include "common/weights/weight_set.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/support/child_process.h"

namespace chord::rollout_worker {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using chord::testing::WaitFor;

// Records which requests the generation thread starts, in order, and can hold the generation
// thread inside a request until released: the generation thread polls a request's `cancelled`
// callback before running it and between decode steps.
class GenerationThreadProbe {
 public:
  // A control for a request named `name`, to be created on the calling (requesting) thread.
  CallControl Control(const std::string& name, bool hold) {
    CallControl control;
    const std::thread::id caller = std::this_thread::get_id();
    auto seen = std::make_shared<std::atomic<bool>>(false);
    control.cancelled = [this, caller, seen, name, hold] {
      if (std::this_thread::get_id() == caller) return false;
      if (!seen->exchange(true)) {
        {
          absl::MutexLock lock(&mu_);
          started_.push_back(name);
        }
        if (hold) release_.WaitForNotification();
      }
      return false;
    };
    return control;
  }
  std::vector<std::string> started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  void Release() { release_.Notify(); }

 private:
  absl::Mutex mu_;
  std::vector<std::string> started_ ABSL_GUARDED_BY(mu_);
  absl::Notification release_;
};

class RolloutWorkerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new chord::testing::TempDir();
    ASSERT_TRUE(model::WriteTinyModel(dir_->path()).ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  std::unique_ptr<RolloutWorker> MakeWorker(RolloutWorkerOptions options = {},
                                            RolloutMetrics* metrics = nullptr) {
    options.model_path = dir_->path();
    auto worker = RolloutWorker::Create(options, metrics);
    EXPECT_TRUE(worker.ok()) << worker.status();
    return worker.ok() ? std::move(*worker) : nullptr;
  }

  // A weight set for `version`: the tiny model's parameters re-initialised with `seed`.
  static weights::WeightSet RandomWeights(int64_t version, uint64_t seed) {
    auto config = model::TinyModelConfig();
    EXPECT_TRUE(config.ok());
    auto lm = model::CausalLM::CreateRandom(*config, seed);
    EXPECT_TRUE(lm.ok());
    weights::WeightSet set;
    set.version = version;
    for (auto& [name, tensor] : (*lm)->NamedParameters()) {
      set.tensors.emplace_back(name, tensor.clone());
    }
    return set;
  }

  static GenerateCall GreedyCall(const std::string& text, int max_new_tokens) {
    GenerateCall call;
    call.prompts.push_back(PromptSpec::Text("p", text));
    call.sampling.temperature = 0;
    call.sampling.max_new_tokens = max_new_tokens;
    return call;
  }

  static chord::testing::TempDir* dir_;
};

chord::testing::TempDir* RolloutWorkerTest::dir_ = nullptr;

TEST_F(RolloutWorkerTest, GeneratesFromEveryPromptForm) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  const tokenizer::Tokenizer& tok = worker->tokenizer();
  ASSERT_NE(worker->chat_format(), nullptr);
  std::vector<tokenizer::ChatMessage> chat = {{"user", "What is 12+7?"}};

  GenerateCall call;
  call.prompts.push_back(PromptSpec::TokenIds("ids", tok.Encode("3*4=")));
  call.prompts.push_back(PromptSpec::Text("text", "12+7="));
  call.prompts.push_back(PromptSpec::Messages("chat", chat));
  call.samples_per_prompt = 3;
  call.sampling.max_new_tokens = 12;
  call.sampling.seed = 11;
  auto result = worker->Generate(call);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->completions.size(), 9u);
  EXPECT_EQ(result->weight_version, 0);

  auto rendered = tokenizer::RenderChat(tok, *worker->chat_format(), chat, true);
  ASSERT_TRUE(rendered.ok());
  const std::vector<std::vector<int32_t>> prompts = {tok.Encode("3*4="), tok.Encode("12+7="),
                                                     rendered->ids};
  const char* ids[] = {"ids", "text", "chat"};
  int64_t tokens = 0;
  for (size_t i = 0; i < result->completions.size(); ++i) {
    const Completion& c = result->completions[i];
    EXPECT_EQ(c.prompt_id, ids[i / 3]);
    EXPECT_EQ(c.sample_index, static_cast<int>(i % 3));
    EXPECT_EQ(c.prompt_token_ids, prompts[i / 3]);
    EXPECT_FALSE(c.token_ids.empty());
    EXPECT_LE(c.token_ids.size(), 12u);
    EXPECT_EQ(c.logprobs.size(), c.token_ids.size());
    for (float lp : c.logprobs) EXPECT_LE(lp, 0.0f);
    EXPECT_THAT(c.finish_reason, ::testing::AnyOf("stop", "length"));
    if (c.finish_reason == "length") {
      EXPECT_EQ(c.token_ids.size(), 12u);
      EXPECT_EQ(c.text, tok.Decode(c.token_ids));
    }
    EXPECT_EQ(c.weight_version, 0);
    tokens += static_cast<int64_t>(c.token_ids.size());
  }
  EXPECT_EQ(result->generated_tokens, tokens);
  EXPECT_EQ(worker->Status().generated_tokens_total, tokens);
}

TEST_F(RolloutWorkerTest, GreedyAndFixedSeedsAreReproducible) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  GenerateCall call = GreedyCall("7+8=", 16);
  call.samples_per_prompt = 2;
  auto a = worker->Generate(call);
  auto b = worker->Generate(call);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->completions[0].token_ids, b->completions[0].token_ids);
  EXPECT_EQ(a->completions[0].token_ids, a->completions[1].token_ids);  // greedy: same samples

  call.sampling.temperature = 1.0f;
  call.sampling.seed = 1234;
  call.samples_per_prompt = 4;
  a = worker->Generate(call);
  b = worker->Generate(call);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a->completions[i].token_ids, b->completions[i].token_ids) << i;
    EXPECT_EQ(a->completions[i].logprobs, b->completions[i].logprobs) << i;
  }
}

TEST_F(RolloutWorkerTest, StopTokenIsKeptInTokensAndLeftOutOfText) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  auto free_run = worker->Generate(GreedyCall("hello", 8));
  ASSERT_TRUE(free_run.ok());
  const Completion& free = free_run->completions[0];
  ASSERT_FALSE(free.token_ids.empty());
  // Make a token the free run produced a stop token: the last one that first appears latest.
  size_t k = 0;
  for (size_t i = 1; i < free.token_ids.size(); ++i) {
    if (std::find(free.token_ids.begin(), free.token_ids.begin() + i, free.token_ids[i]) ==
        free.token_ids.begin() + i) {
      k = i;
    }
  }
  GenerateCall call = GreedyCall("hello", 8);
  call.sampling.stop_token_ids = {free.token_ids[k]};
  auto stopped = worker->Generate(call);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  const Completion& c = stopped->completions[0];
  const std::vector<int32_t> kept(free.token_ids.begin(), free.token_ids.begin() + k + 1);
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_EQ(c.token_ids, kept);
  EXPECT_EQ(c.text, worker->tokenizer().Decode(std::vector<int32_t>(kept.begin(), kept.end() - 1)));
  EXPECT_EQ(c.logprobs, std::vector<float>(free.logprobs.begin(), free.logprobs.begin() + k + 1));
}

TEST_F(RolloutWorkerTest, StopStringCutsTheTextBeforeIt) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  // A prompt whose greedy continuation is at least 6 characters long.
  Completion free;
  std::string prompt;
  for (char first = 'a'; first <= 'z' && free.text.size() < 6; ++first) {
    prompt = std::string(1, first) + "=";
    auto run = worker->Generate(GreedyCall(prompt, 12));
    ASSERT_TRUE(run.ok());
    free = run->completions[0];
  }
  ASSERT_GE(free.text.size(), 6u);
  const std::string stop_string = free.text.substr(2, 3);
  GenerateCall call = GreedyCall(prompt, 12);
  call.sampling.stop_strings = {"never appears \x01", stop_string};
  auto stopped = worker->Generate(call);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  const Completion& c = stopped->completions[0];
  EXPECT_EQ(c.finish_reason, "stop_string");
  EXPECT_EQ(c.text, free.text.substr(0, free.text.find(stop_string)));
  ASSERT_LE(c.token_ids.size(), free.token_ids.size());
  EXPECT_EQ(c.token_ids, std::vector<int32_t>(free.token_ids.begin(),
                                              free.token_ids.begin() + c.token_ids.size()));
  // The token that completed the stop string is kept.
  EXPECT_TRUE(absl::StrContains(worker->tokenizer().Decode(c.token_ids), stop_string));
}

TEST_F(RolloutWorkerTest, BadRequestsAreInvalidArgumentNamingTheField) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  struct Case {
    std::function<void(GenerateCall*)> mutate;
    std::string prefix;
  };
  const std::vector<Case> cases = {
      {[](GenerateCall* c) { c->prompts.clear(); }, "prompts: empty"},
      {[](GenerateCall* c) {
         c->prompts.push_back(PromptSpec::TokenIds("x", {5, 100}));
       },
       "prompts[1].token_ids: token 1 has id 100 outside the vocabulary [0, 100)"},
      {[](GenerateCall* c) { c->prompts.push_back(PromptSpec::TokenIds("x", {})); },
       "prompts[1].token_ids: empty"},
      {[](GenerateCall* c) {
         c->prompts.push_back(PromptSpec::Messages("x", {{"", "hi"}}));
       },
       "prompts[1].messages[0].role"},
      {[](GenerateCall* c) { c->samples_per_prompt = -2; }, "samples_per_prompt: -2 must be >= 0"},
      {[](GenerateCall* c) { c->samples_per_prompt = 5000; }, "samples_per_prompt: 5000 x 1"},
      {[](GenerateCall* c) { c->sampling.top_p = 1.5f; }, "sampling.top_p: 1.5 must be in (0, 1]"},
      {[](GenerateCall* c) { c->sampling.temperature = -1; }, "sampling.temperature: -1"},
      {[](GenerateCall* c) { c->sampling.top_k = -1; }, "sampling.top_k: -1"},
      {[](GenerateCall* c) { c->sampling.max_new_tokens = -1; }, "sampling.max_new_tokens: -1"},
      {[](GenerateCall* c) {
         c->sampling.stop_token_ids = {2, 300};
       },
       "sampling.stop_token_ids[1]: 300 is outside the vocabulary"},
      {[](GenerateCall* c) { c->sampling.stop_strings = {""}; }, "sampling.stop_strings[0]: empty"},
      {[](GenerateCall* c) { c->sampling.max_new_tokens = 70000; },
       "prompts[0]: 4 tokens + max_new_tokens 70000 exceed the worker's max_batch_tokens 65536"},
      {[](GenerateCall* c) { c->min_weight_version = -1; }, "min_weight_version: -1"},
  };
  for (const Case& c : cases) {
    GenerateCall call = GreedyCall("1+1=", 4);
    c.mutate(&call);
    auto result = worker->Generate(call);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << c.prefix;
    EXPECT_THAT(std::string(result.status().message()), StartsWith(c.prefix));
  }

  LogprobsCall lp;
  lp.sequences = {{5, 6, 7}, {5, 6}};
  lp.starts = {1, 0};
  auto scored = worker->ComputeLogprobs(lp);
  EXPECT_EQ(scored.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(scored.status().message()),
              StartsWith("sequences[1].start: 0 must be in [1, 2]"));
  lp.starts = {1, 1};
  lp.sequences[0][1] = -4;
  scored = worker->ComputeLogprobs(lp);
  EXPECT_THAT(std::string(scored.status().message()),
              StartsWith("sequences[0].token_ids: token 1 has id -4"));
  lp.sequences[0][1] = 6;
  lp.temperature = -2;
  scored = worker->ComputeLogprobs(lp);
  EXPECT_THAT(std::string(scored.status().message()), StartsWith("temperature: -2"));
  lp.sequences.clear();
  lp.starts.clear();
  scored = worker->ComputeLogprobs(lp);
  EXPECT_THAT(std::string(scored.status().message()), StartsWith("sequences: empty"));
}

TEST_F(RolloutWorkerTest, BadOptionsAndFoldersFailCreate) {
  RolloutWorkerOptions options;
  options.model_path = dir_->path();
  options.max_queue = 0;
  EXPECT_THAT(std::string(RolloutWorker::Create(options, nullptr).status().message()),
              StartsWith("max_queue: 0 must be >= 1"));
  options.max_queue = 1;
  options.dtype = "float64";
  EXPECT_THAT(std::string(RolloutWorker::Create(options, nullptr).status().message()),
              StartsWith("dtype: \"float64\""));
  options.dtype = "float32";
  options.model_path = dir_->path() + "/missing";
  EXPECT_EQ(RolloutWorker::Create(options, nullptr).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RolloutWorkerTest, QueueServesInOrderAndRefusesBeyondItsCapacity) {
  RolloutWorkerOptions options;
  options.max_queue = 4;
  auto worker = MakeWorker(options);
  ASSERT_NE(worker, nullptr);
  GenerationThreadProbe probe;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  const std::vector<std::string> names = {"blocker", "a", "b", "c"};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      CallControl control = probe.Control(names[i], /*hold=*/i == 0);
      results[i] = worker->Generate(GreedyCall("2+2=", 4), control).status();
    });
    if (i == 0) {
      ASSERT_TRUE(WaitFor([&] { return probe.started().size() == 1; }));
    } else {
      ASSERT_TRUE(WaitFor([&] { return worker->Status().queue_depth == i + 1; }));
    }
  }
  // Full: one more request is refused at once, saying why.
  auto refused = worker->Generate(GreedyCall("2+2=", 4));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("4 requests held of a capacity of 4"));
  EXPECT_EQ(worker->Status().queue_capacity, 4);

  probe.Release();
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(probe.started(), names);
  EXPECT_EQ(worker->Status().queue_depth, 0);
}

TEST_F(RolloutWorkerTest, InstalledVersionsAreCarriedAndBadSetsAreRefused) {
  prometheus::Registry registry;
  RolloutMetrics metrics(registry);
  auto worker = MakeWorker({}, &metrics);
  ASSERT_NE(worker, nullptr);
  auto before = worker->Generate(GreedyCall("9-3=", 12));
  ASSERT_TRUE(before.ok());

  weights::WeightSet missing = RandomWeights(1, 77);
  missing.tensors.erase(missing.tensors.begin() + 1);
  const std::string missing_name = RandomWeights(1, 77).tensors[1].first;
  absl::Status status = worker->InstallWeights(std::move(missing));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(missing_name));
  EXPECT_THAT(std::string(status.message()), StartsWith("weight version 1 refused"));

  weights::WeightSet misshapen = RandomWeights(1, 77);
  const std::string bad_name = misshapen.tensors.back().first;
  misshapen.tensors.back().second = at::zeros({3, 3});
  status = worker->InstallWeights(std::move(misshapen));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(bad_name));
  EXPECT_EQ(worker->weight_version(), 0);
  auto still = worker->Generate(GreedyCall("9-3=", 12));
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->completions[0].token_ids, before->completions[0].token_ids);

  ASSERT_TRUE(worker->InstallWeights(RandomWeights(1, 77)).ok());
  EXPECT_EQ(worker->weight_version(), 1);
  EXPECT_TRUE(worker->InstallWeights(RandomWeights(1, 78)).ok());  // not newer: ignored
  auto after = worker->Generate(GreedyCall("9-3=", 12));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->weight_version, 1);
  EXPECT_EQ(after->completions[0].weight_version, 1);
  EXPECT_NE(after->completions[0].logprobs, before->completions[0].logprobs);

  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, registry.Collect());
  EXPECT_THAT(text.str(), HasSubstr("chord_rollout_weight_rejections_total 2"));
  EXPECT_THAT(text.str(), HasSubstr("chord_rollout_weight_swaps_total 1"));
  EXPECT_THAT(text.str(), HasSubstr("chord_rollout_weight_version 1"));
  EXPECT_THAT(text.str(),
              HasSubstr("chord_rollout_requests_total{result=\"OK\",rpc=\"Generate\"} 3"));
}

TEST_F(RolloutWorkerTest, MinWeightVersionWaitsForTheVersionOrFails) {
  RolloutWorkerOptions options;
  options.weight_source = "in-test";
  options.max_version_wait = absl::Milliseconds(100);
  auto worker = MakeWorker(options);
  ASSERT_NE(worker, nullptr);

  GenerateCall call = GreedyCall("5*5=", 6);
  call.min_weight_version = 3;
  auto late = worker->Generate(call);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.status().message()),
              StartsWith("weight version 0 is older than min_weight_version 3"));

  // With a longer allowance the request waits until the version is installed.
  options.max_version_wait = absl::Seconds(60);
  worker = MakeWorker(options);
  ASSERT_NE(worker, nullptr);
  call.min_weight_version = 2;
  absl::StatusOr<GenerateResult> waited;
  std::thread caller([&] { waited = worker->Generate(call); });
  ASSERT_TRUE(WaitFor([&] { return worker->Status().queue_depth == 1; }));
  ASSERT_TRUE(worker->InstallWeights(RandomWeights(1, 5)).ok());
  ASSERT_TRUE(worker->InstallWeights(RandomWeights(2, 6)).ok());
  caller.join();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(waited->weight_version, 2);
  EXPECT_EQ(waited->completions[0].weight_version, 2);

  // The call's deadline bounds the wait too.
  call.min_weight_version = 9;
  CallControl control;
  control.deadline = absl::Now() + absl::Milliseconds(50);
  late = worker->Generate(call, control);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.status().message()),
              StartsWith("weight version 2 is older than min_weight_version 9"));

  // A worker that follows nothing fails at once.
  auto lonely = MakeWorker();
  ASSERT_NE(lonely, nullptr);
  late = lonely->Generate(call);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("follows no weight source"));
}

TEST_F(RolloutWorkerTest, CancellationAndDeadlinesStopWork) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  // Running: the generation thread polls between decode steps and stops at once.
  std::atomic<int> polls{0};
  CallControl control;
  const std::thread::id caller = std::this_thread::get_id();
  control.cancelled = [&] {
    if (std::this_thread::get_id() == caller) return false;
    return ++polls > 5;
  };
  auto cancelled = worker->Generate(GreedyCall("1", 5000), control);
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_LE(polls.load(), 7);

  // Queued: dropped without running.
  GenerationThreadProbe probe;
  absl::Status blocker_status;
  std::thread blocker([&] {
    blocker_status = worker->Generate(GreedyCall("2", 4), probe.Control("blocker", true)).status();
  });
  ASSERT_TRUE(WaitFor([&] { return probe.started().size() == 1; }));
  std::atomic<bool> give_up{false};
  absl::Status queued_status;
  std::thread queued([&] {
    CallControl c = probe.Control("queued", false);
    auto inner = c.cancelled;
    c.cancelled = [&give_up, inner] { return give_up.load() || inner(); };
    queued_status = worker->Generate(GreedyCall("3", 4), c).status();
  });
  ASSERT_TRUE(WaitFor([&] { return worker->Status().queue_depth == 2; }));
  give_up = true;
  queued.join();
  EXPECT_EQ(queued_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(worker->Status().queue_depth, 1);
  probe.Release();
  blocker.join();
  EXPECT_TRUE(blocker_status.ok());
  EXPECT_EQ(probe.started(), std::vector<std::string>{"blocker"});

  // A passed deadline.
  CallControl expired;
  expired.deadline = absl::Now() - absl::Seconds(1);
  auto late = worker->Generate(GreedyCall("4", 4), expired);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  LogprobsCall lp;
  lp.sequences = {{5, 6, 7}};
  lp.starts = {1};
  EXPECT_EQ(worker->ComputeLogprobs(lp, expired).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(RolloutWorkerTest, ShutdownDropsQueuedWorkAndRefusesNewWork) {
  auto worker = MakeWorker();
  ASSERT_NE(worker, nullptr);
  GenerationThreadProbe probe;
  absl::Status running_status, queued_status;
  std::thread running([&] {
    running_status = worker->Generate(GreedyCall("6", 64), probe.Control("running", true)).status();
  });
  ASSERT_TRUE(WaitFor([&] { return probe.started().size() == 1; }));
  std::thread queued([&] { queued_status = worker->Generate(GreedyCall("7", 4)).status(); });
  ASSERT_TRUE(WaitFor([&] { return worker->Status().queue_depth == 2; }));

  std::thread stopper([&] { worker->Shutdown(absl::ZeroDuration()); });
  queued.join();
  EXPECT_EQ(queued_status.code(), absl::StatusCode::kUnavailable);
  probe.Release();
  stopper.join();
  running.join();
  EXPECT_EQ(running_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(worker->Generate(GreedyCall("8", 4)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(worker->InstallWeights(RandomWeights(5, 1)).code(), absl::StatusCode::kUnavailable);
}

// The hooks the worker added to model::GenerationOptions.
TEST_F(RolloutWorkerTest, GenerationStopsWhenAskedAndReportsItsBatches) {
  auto lm = model::CausalLM::Load(dir_->path());
  ASSERT_TRUE(lm.ok()) << lm.status();
  model::SamplingOptions sampling;
  sampling.temperature = 0;
  sampling.max_new_tokens = 3;
  model::GenerationOptions options;
  options.max_batch_size = 2;
  std::vector<int> batches;
  options.on_batch = [&](int rows) { batches.push_back(rows); };
  const std::vector<std::vector<int32_t>> prompts = {{5, 6}, {7, 8}, {9, 10}};
  auto generated = model::Generate(**lm, prompts, 1, sampling, options);
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(batches, (std::vector<int>{2, 1}));
  batches.clear();
  auto scored = model::ComputeLogprobs(**lm, prompts, {1, 1, 1}, 1.0f, options);
  ASSERT_TRUE(scored.ok());
  EXPECT_EQ(batches, (std::vector<int>{2, 1}));

  int polls = 0;
  options.should_stop = [&] { return ++polls > 4; };
  sampling.max_new_tokens = 1000;
  generated = model::Generate(**lm, prompts, 1, sampling, options);
  EXPECT_EQ(generated.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(polls, 5);
  options.should_stop = [] { return true; };
  EXPECT_EQ(model::ComputeLogprobs(**lm, prompts, {1, 1, 1}, 1.0f, options).status().code(),
            absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace chord::rollout_worker
