// Weight swaps under steady traffic. An in-test WeightPublisher + WeightServiceImpl (the learner's
// side) publishes several versions with different weights while client threads keep calling
// Generate greedily through the worker's gRPC service; the worker follows with WeightSync. Every
// response names one version v, and regenerating its prompts greedily on a reference model
// holding version v's weights must give identical tokens: a response that mixed two versions
// would match neither. Also: a published version that does not fit the model is refused and the
// worker keeps serving the old one.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "common/model/causal_lm.h"
#include "common/model/generation.h"
#include "common/model/tiny_preset.h"
#include "common/rpc/server_runner.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/weights/grpc_service.h"
#include "common/weights/weight_publisher.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "services/rollout_worker/grpc_client.h"
#include "services/rollout_worker/grpc_service.h"
#include "services/rollout_worker/weight_sync.h"
#include "tests/support/child_process.h"

namespace chord::rollout_worker {
namespace {

using ::testing::HasSubstr;

constexpr int kMaxNewTokens = 16;

using chord::testing::WaitFor;

// Seed of the weights published as `version` (version 0 is the model folder, seed 1).
uint64_t SeedOf(int64_t version) { return version == 0 ? 1 : 100 + version; }

std::unique_ptr<model::CausalLM> ModelAt(int64_t version) {
  auto config = model::TinyModelConfig();
  EXPECT_TRUE(config.ok());
  auto lm = model::CausalLM::CreateRandom(*config, SeedOf(version));
  EXPECT_TRUE(lm.ok());
  return std::move(*lm);
}

weights::WeightSet WeightsAt(int64_t version) {
  weights::WeightSet set;
  set.version = version;
  for (auto& [name, tensor] : ModelAt(version)->NamedParameters()) {
    set.tensors.emplace_back(name, tensor.clone());
  }
  return set;
}

class WeightSwapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(model::WriteTinyModel(dir_.path()).ok());  // seed 1 = SeedOf(0)
    // The learner's side.
    auto publisher = weights::WeightPublisher::Create(weights::PublisherOptions());
    ASSERT_TRUE(publisher.ok());
    publisher_ = std::move(*publisher);
    auto weight_service = weights::WeightServiceImpl::Create(publisher_.get());
    ASSERT_TRUE(weight_service.ok());
    weight_service_ = std::move(*weight_service);
    rpc::ServerOptions server_options;
    server_options.host = "127.0.0.1";
    server_options.shutdown_grace = absl::Seconds(1);
    auto weight_runner = rpc::ServerRunner::Start(server_options, {weight_service_.get()});
    ASSERT_TRUE(weight_runner.ok());
    weight_runner_ = std::move(*weight_runner);

    // The worker, following it.
    RolloutWorkerOptions options;
    options.model_path = dir_.path();
    options.weight_source = weight_runner_->address();
    metrics_ = std::make_unique<RolloutMetrics>(registry_);
    auto worker = RolloutWorker::Create(options, metrics_.get());
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = std::move(*worker);
    WeightSyncOptions sync_options;
    sync_options.address = weight_runner_->address();
    sync_options.follower.poll_interval = absl::Milliseconds(20);
    sync_options.follower.max_backoff = absl::Milliseconds(100);
    auto sync = WeightSync::Start(worker_.get(), sync_options, metrics_.get());
    ASSERT_TRUE(sync.ok()) << sync.status();
    sync_ = std::move(*sync);
    service_ = std::make_unique<RolloutGrpcService>(worker_.get());
    auto runner = rpc::ServerRunner::Start(server_options, {service_.get()});
    ASSERT_TRUE(runner.ok());
    runner_ = std::move(*runner);
  }

  void TearDown() override {
    if (runner_) runner_->Shutdown();
    if (publisher_) publisher_->Close();
    if (worker_) worker_->Shutdown();
    if (sync_) sync_->Stop();
    if (weight_runner_) weight_runner_->Shutdown();
  }

  std::string MetricsText() {
    std::ostringstream text;
    prometheus::TextSerializer().Serialize(text, registry_.Collect());
    return text.str();
  }

  chord::testing::TempDir dir_;
  std::unique_ptr<weights::WeightPublisher> publisher_;
  std::unique_ptr<weights::WeightServiceImpl> weight_service_;
  std::unique_ptr<rpc::ServerRunner> weight_runner_;
  prometheus::Registry registry_;
  std::unique_ptr<RolloutMetrics> metrics_;
  std::unique_ptr<RolloutWorker> worker_;
  std::unique_ptr<WeightSync> sync_;
  std::unique_ptr<RolloutGrpcService> service_;
  std::unique_ptr<rpc::ServerRunner> runner_;
};

struct Observed {
  int thread = 0;
  int64_t version = 0;
  std::vector<std::vector<int32_t>> tokens;  // per prompt
};

TEST_F(WeightSwapTest, NoResponseMixesVersionsDuringSwapsUnderSteadyTraffic) {
  constexpr int kThreads = 3;
  constexpr int64_t kLastVersion = 4;
  // Each thread asks for its own prompts (of different lengths: they share a batch).
  std::vector<std::vector<std::string>> prompts(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    prompts[t] = {std::to_string(t) + "+1=", "compute " + std::to_string(13 * (t + 1)) + "*7"};
  }

  absl::Mutex mu;
  std::vector<Observed> observed;
  std::map<int64_t, int> responses_at;  // version -> responses seen
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = GrpcRolloutClient::Create(runner_->address());
      if (!client.ok()) {
        ++failures;
        return;
      }
      chord::v1::GenerateRequest request;
      for (const std::string& text : prompts[t]) request.add_prompts()->set_text(text);
      request.mutable_sampling()->set_has_temperature(true);
      request.mutable_sampling()->set_temperature(0);
      request.mutable_sampling()->set_max_new_tokens(kMaxNewTokens);
      while (!stop.load()) {
        auto response = (*client)->Generate(request, {});
        if (!response.ok()) {
          ADD_FAILURE() << response.status();
          ++failures;
          return;
        }
        Observed o;
        o.thread = t;
        o.version = response->weight_version();
        for (const chord::v1::Completion& c : response->completions()) {
          EXPECT_EQ(c.weight_version(), o.version);
          o.tokens.emplace_back(c.token_ids().begin(), c.token_ids().end());
        }
        absl::MutexLock lock(&mu);
        ++responses_at[o.version];
        observed.push_back(std::move(o));
      }
    });
  }
  // Stops and joins the traffic however the test ends.
  absl::Cleanup join_threads = [&] {
    stop = true;
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  };
  auto seen_at = [&](int64_t version) {
    absl::MutexLock lock(&mu);
    return responses_at[version];
  };

  // Publish versions one by one while the traffic runs; move on once each has served a few
  // responses, so that every swap happens between requests of a busy worker.
  ASSERT_TRUE(WaitFor([&] { return seen_at(0) >= 3 || failures > 0; }));
  for (int64_t version = 1; version <= kLastVersion; ++version) {
    ASSERT_TRUE(publisher_->Publish(WeightsAt(version)).ok());
    ASSERT_TRUE(WaitFor([&] { return seen_at(version) >= 3 || failures > 0; }))
        << "version " << version << " never served; follower: " << sync_->last_error();
  }
  std::move(join_threads).Invoke();
  ASSERT_EQ(failures.load(), 0);

  // Reference outputs: the same prompts, greedily, on a model holding each version's weights.
  auto tok = tokenizer::Tokenizer::FromFile(dir_.File("tokenizer.json"));
  ASSERT_TRUE(tok.ok());
  model::SamplingOptions sampling;
  sampling.temperature = 0;
  sampling.max_new_tokens = kMaxNewTokens;
  sampling.stop_token_ids = tokenizer::StopTokenIds(**tok, tokenizer::ChatFormat::kChatML);
  std::map<std::pair<int64_t, int>, std::vector<std::vector<int32_t>>> reference;
  for (int64_t version = 0; version <= kLastVersion; ++version) {
    std::unique_ptr<model::CausalLM> lm;
    if (version == 0) {
      auto loaded = model::CausalLM::Load(dir_.path());
      ASSERT_TRUE(loaded.ok());
      lm = std::move(*loaded);
    } else {
      lm = ModelAt(version);
    }
    for (int t = 0; t < kThreads; ++t) {
      std::vector<std::vector<int32_t>> ids;
      for (const std::string& text : prompts[t]) ids.push_back((*tok)->Encode(text));
      auto generated = model::Generate(*lm, ids, 1, sampling, model::GenerationOptions());
      ASSERT_TRUE(generated.ok()) << generated.status();
      for (const model::GeneratedSequence& seq : *generated) {
        reference[{version, t}].push_back(seq.tokens);
      }
    }
  }
  // The versions really differ, so a mixed response could not pass.
  EXPECT_NE((reference[{0, 0}]), (reference[{1, 0}]));

  std::map<int64_t, int> checked;
  for (const Observed& o : observed) {
    ASSERT_GE(o.version, 0);
    ASSERT_LE(o.version, kLastVersion);
    EXPECT_EQ(o.tokens, (reference[{o.version, o.thread}]))
        << "thread " << o.thread << " version " << o.version;
    ++checked[o.version];
  }
  for (int64_t version = 0; version <= kLastVersion; ++version) {
    EXPECT_GE(checked[version], 3) << "version " << version;
  }
  const std::string metrics = MetricsText();
  EXPECT_THAT(metrics, HasSubstr("chord_rollout_weight_swaps_total 4"));
  EXPECT_THAT(metrics, HasSubstr("chord_rollout_weight_version 4"));
  EXPECT_THAT(metrics, HasSubstr("chord_rollout_weight_fetch_seconds_count 4"));
  EXPECT_THAT(metrics, HasSubstr("chord_rollout_weight_install_seconds_count 4"));
}

TEST_F(WeightSwapTest, AVersionThatDoesNotFitIsRefusedAndTheOldOneKeepsServing) {
  ASSERT_TRUE(publisher_->Publish(WeightsAt(1)).ok());
  ASSERT_TRUE(WaitFor([&] { return worker_->weight_version() == 1; }));

  weights::WeightSet bad = WeightsAt(2);
  const std::string bad_name = bad.tensors[2].first;
  bad.tensors[2].second = at::zeros({7});
  ASSERT_TRUE(publisher_->Publish(bad).ok());
  ASSERT_TRUE(WaitFor([&] { return !sync_->last_error().ok(); }));
  EXPECT_THAT(std::string(sync_->last_error().message()), HasSubstr(bad_name));
  EXPECT_EQ(worker_->weight_version(), 1);
  EXPECT_THAT(MetricsText(),
              ::testing::ContainsRegex("chord_rollout_weight_rejections_total [1-9]"));

  auto client = GrpcRolloutClient::Create(runner_->address());
  ASSERT_TRUE(client.ok());
  chord::v1::GenerateRequest request;
  request.add_prompts()->set_text("4*4=");
  request.mutable_sampling()->set_max_new_tokens(4);
  auto response = (*client)->Generate(request, {});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->weight_version(), 1);

  // A good newer version is taken as usual; a request asking for it waits until it is in.
  ASSERT_TRUE(publisher_->Publish(WeightsAt(3)).ok());
  request.set_min_weight_version(3);
  response = (*client)->Generate(request, {});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->weight_version(), 3);
}

}  // namespace
}  // namespace chord::rollout_worker
