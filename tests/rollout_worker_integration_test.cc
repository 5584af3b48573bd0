// chord-rollout-worker end to end: the real binary on 127.0.0.1 port 0 with the tiny preset
// model, following a WeightService hosted in this test; the generated client; min_weight_version;
// RESOURCE_EXHAUSTED under overload; /metrics through promtool; SIGTERM; malformed model folders
// that fail the start with a one-line error naming the file and the tensor; and
// `chordctl init-model` as a process.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "chord/v1/rollout.grpc.pb.h"
#include "common/files/file_io.h"
#include "common/model/causal_lm.h"
#include "common/model/safetensors.h"
#include "common/model/tiny_preset.h"
#include "common/rpc/channel.h"
#include "common/rpc/server_runner.h"
#include "common/weights/grpc_service.h"
#include "common/weights/weight_publisher.h"
#include "tests/support/child_process.h"

namespace chord {
namespace {

using ::chord::testing::BinaryPath;
using ::chord::testing::RunCommand;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using chord::testing::WaitFor;

std::unique_ptr<model::CausalLM> TinyModel(uint64_t seed) {
  auto config = model::TinyModelConfig();
  EXPECT_TRUE(config.ok());
  auto lm = model::CausalLM::CreateRandom(*config, seed);
  EXPECT_TRUE(lm.ok());
  return std::move(*lm);
}

weights::WeightSet WeightsAt(int64_t version, uint64_t seed) {
  weights::WeightSet set;
  set.version = version;
  for (auto& [name, tensor] : TinyModel(seed)->NamedParameters()) {
    set.tensors.emplace_back(name, tensor.clone());
  }
  return set;
}

std::string ReadText(const std::string& path) {
  auto text = files::ReadFile(path);
  return text.ok() ? *text : "";
}

class RolloutWorkerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(model::WriteTinyModel(dir_.File("model")).ok());
    auto publisher = weights::WeightPublisher::Create(weights::PublisherOptions());
    ASSERT_TRUE(publisher.ok());
    publisher_ = std::move(*publisher);
    auto service = weights::WeightServiceImpl::Create(publisher_.get());
    ASSERT_TRUE(service.ok());
    weight_service_ = std::move(*service);
    rpc::ServerOptions options;
    options.host = "127.0.0.1";
    options.shutdown_grace = absl::Seconds(1);
    auto runner = rpc::ServerRunner::Start(options, {weight_service_.get()});
    ASSERT_TRUE(runner.ok());
    weight_runner_ = std::move(*runner);

    auto worker = chord::testing::StartService(
        "chord-rollout-worker",
        {"--model=" + dir_.File("model"), "--weight_source=" + weight_runner_->address(),
         "--max_queue=2", "--torch_threads=1", "--shutdown_grace_s=2"},
        dir_.path());
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = std::move(*worker);
    stub_ = v1::RolloutService::NewStub(rpc::MakeChannel(worker_.address(), {}));
  }

  void TearDown() override {
    publisher_->Close();
    if (worker_.process) worker_.process->Stop();
    weight_runner_->Shutdown();
  }

  grpc::Status Generate(const v1::GenerateRequest& request, v1::GenerateResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->Generate(&context, request, response);
  }

  v1::GetStatusResponse Status() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::GetStatusResponse response;
    EXPECT_TRUE(stub_->GetStatus(&context, v1::GetStatusRequest(), &response).ok());
    return response;
  }

  static v1::GenerateRequest SmallRequest(int64_t min_version = 0) {
    v1::GenerateRequest request;
    v1::Prompt* text = request.add_prompts();
    text->set_id("sum");
    text->set_text("12+7=");
    v1::Prompt* chat = request.add_prompts();
    chat->set_id("chat");
    v1::ChatMessage* user = chat->add_messages();
    user->set_role("user");
    user->set_content("What is 3*4?");
    request.set_samples_per_prompt(2);
    request.mutable_sampling()->set_max_new_tokens(8);
    request.mutable_sampling()->set_seed(5);
    request.set_min_weight_version(min_version);
    return request;
  }

  chord::testing::TempDir dir_;
  std::unique_ptr<weights::WeightPublisher> publisher_;
  std::unique_ptr<weights::WeightServiceImpl> weight_service_;
  std::unique_ptr<rpc::ServerRunner> weight_runner_;
  chord::testing::ServiceProcess worker_;
  std::unique_ptr<v1::RolloutService::Stub> stub_;
};

TEST_F(RolloutWorkerIntegrationTest, GeneratesFollowsPublishedWeightsAndExportsMetrics) {
  v1::GenerateResponse response;
  grpc::Status status = Generate(SmallRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.completions_size(), 4);
  EXPECT_EQ(response.weight_version(), 0);
  for (const v1::Completion& c : response.completions()) {
    EXPECT_EQ(c.weight_version(), 0);
    EXPECT_EQ(c.logprobs_size(), c.token_ids_size());
    EXPECT_FALSE(c.prompt_token_ids().empty());
  }
  EXPECT_EQ(response.completions(2).prompt_id(), "chat");

  ASSERT_TRUE(publisher_->Publish(WeightsAt(1, 7)).ok());
  status = Generate(SmallRequest(/*min_version=*/1), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.weight_version(), 1);
  v1::GetStatusResponse worker = Status();
  EXPECT_EQ(worker.model_path(), dir_.File("model"));
  EXPECT_EQ(worker.weight_version(), 1);
  EXPECT_EQ(worker.weight_source(), weight_runner_->address());
  EXPECT_EQ(worker.queue_capacity(), 2);
  EXPECT_GT(worker.generated_tokens_total(), 0);

  auto text = chord::testing::HttpGet(worker_.metrics_port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::Status promtool = chord::testing::PromtoolCheckMetrics(*text);
  EXPECT_TRUE(promtool.ok()) << promtool;
  for (const std::string& needle :
       {std::string("chord_rollout_requests_total{result=\"OK\",rpc=\"Generate\"} 2"),
        absl::StrCat("chord_rollout_generated_tokens_total ", worker.generated_tokens_total()),
        std::string("chord_rollout_queue_depth 0"), std::string("chord_rollout_batch_rows_bucket"),
        std::string("chord_rollout_generation_seconds_count{rpc=\"Generate\"} 2"),
        std::string("chord_rollout_weight_version 1"),
        std::string("chord_rollout_weight_fetch_seconds_count 1"),
        std::string("chord_rollout_weight_install_seconds_count 1"),
        std::string("chord_rollout_weight_swaps_total 1"),
        std::string("chord_rollout_weight_rejections_total 0"),
        std::string("chord_build_info{service=\"rollout-worker\""),
        std::string("chord_rpc_server_handled_total{code=\"OK\",method=\"/chord.v1.RolloutService/"
                    "Generate\"} 2")}) {
    EXPECT_THAT(*text, HasSubstr(needle));
  }
}

TEST_F(RolloutWorkerIntegrationTest, OverloadIsResourceExhaustedNeverUnboundedQueueing) {
  // Two requests wait for a version nobody has published yet: the queue (--max_queue=2) is full.
  std::vector<grpc::Status> held(2);
  std::vector<v1::GenerateResponse> held_responses(2);
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&, i] { held[i] = Generate(SmallRequest(5), &held_responses[i]); });
  }
  ASSERT_TRUE(WaitFor([&] { return Status().queue_depth() == 2; }));

  // Many concurrent requests beyond capacity: every one is refused at once.
  constexpr int kBurst = 8;
  std::vector<grpc::Status> burst(kBurst);
  std::vector<std::thread> senders;
  for (int i = 0; i < kBurst; ++i) {
    senders.emplace_back([&, i] {
      v1::GenerateResponse response;
      burst[i] = Generate(SmallRequest(), &response);
    });
  }
  for (auto& t : senders) t.join();
  for (const grpc::Status& s : burst) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_THAT(s.error_message(),
                StartsWith("request queue is full: 2 requests held of a capacity of 2"));
  }

  // The version arrives: the held requests are served with it.
  ASSERT_TRUE(publisher_->Publish(WeightsAt(5, 11)).ok());
  for (auto& t : holders) t.join();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(held[i].ok()) << held[i].error_message();
    EXPECT_EQ(held_responses[i].weight_version(), 5);
  }
  auto text = chord::testing::HttpGet(worker_.metrics_port, "/metrics");
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr(absl::StrCat(
                         "chord_rollout_requests_total{result=\"RESOURCE_EXHAUSTED\",rpc="
                         "\"Generate\"} ",
                         kBurst)));
}

TEST_F(RolloutWorkerIntegrationTest, SigtermRefusesNewWorkAndExitsZero) {
  grpc::Status waiting;
  std::thread holder([&] {
    v1::GenerateResponse response;
    waiting = Generate(SmallRequest(9), &response);
  });
  ASSERT_TRUE(WaitFor([&] { return Status().queue_depth() == 1; }));
  worker_.process->Signal(SIGTERM);
  holder.join();
  EXPECT_EQ(waiting.error_code(), grpc::StatusCode::UNAVAILABLE) << waiting.error_message();
  auto code = worker_.process->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << ReadText(dir_.File("chord-rollout-worker.log"));
}

// Starts the worker on `model_dir` and expects it to exit 1 with a last stderr line
// "chord-rollout-worker: error: ..." containing every one of `needles`.
void ExpectStartFails(const std::string& model_dir, const std::vector<std::string>& needles,
                      const std::string& log) {
  auto process = chord::testing::ChildProcess::Start(
      {BinaryPath("chord-rollout-worker"), "--model=" + model_dir, "--host=127.0.0.1", "--port=0"},
      log);
  ASSERT_TRUE(process.ok()) << process.status();
  auto code = (*process)->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1);
  std::vector<std::string> lines = absl::StrSplit(ReadText(log), '\n', absl::SkipWhitespace());
  ASSERT_FALSE(lines.empty());
  const std::string& error = lines.back();
  EXPECT_THAT(error, StartsWith("chord-rollout-worker: error: ")) << ReadText(log);
  for (const std::string& needle : needles) EXPECT_THAT(error, HasSubstr(needle));
}

TEST(RolloutWorkerStartTest, MalformedModelFoldersFailTheStartNamingTheFileAndTheTensor) {
  chord::testing::TempDir dir;
  model::NamedTensors good;
  for (auto& [name, tensor] : TinyModel(1)->NamedParameters()) good.emplace_back(name, tensor);
  auto folder = [&](const std::string& name) {
    const std::string path = dir.File(name);
    EXPECT_TRUE(model::WriteTinyModel(path).ok());
    return path;
  };

  {
    const std::string path = folder("missing_tensor");
    model::NamedTensors tensors;
    for (const auto& [name, tensor] : good) {
      if (name != "model.layers.1.mlp.up_proj.weight") tensors.emplace_back(name, tensor);
    }
    ASSERT_TRUE(model::WriteSafetensors(path + "/model.safetensors", tensors).ok());
    ExpectStartFails(path, {"model.safetensors", "model.layers.1.mlp.up_proj.weight"},
                     dir.File("missing_tensor.log"));
  }
  {
    const std::string path = folder("wrong_shape");
    model::NamedTensors tensors = good;
    for (auto& [name, tensor] : tensors) {
      if (name == "model.layers.0.self_attn.k_proj.weight") tensor = at::zeros({3, 3});
    }
    ASSERT_TRUE(model::WriteSafetensors(path + "/model.safetensors", tensors).ok());
    ExpectStartFails(path, {"model.safetensors", "model.layers.0.self_attn.k_proj.weight"},
                     dir.File("wrong_shape.log"));
  }
  {
    const std::string path = folder("truncated");
    const std::string file = path + "/model.safetensors";
    std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
    ExpectStartFails(path, {"model.safetensors", "DATA_LOSS", "tensor model."},
                     dir.File("truncated.log"));
  }
  {
    const std::string path = folder("bad_config");
    std::string config = ReadText(path + "/config.json");
    const size_t at = config.find("\"hidden_size\"");
    ASSERT_NE(at, std::string::npos);
    config.replace(at, config.find(',', at) - at, "\"hidden_size\": \"wide\"");
    ASSERT_TRUE(files::WriteFileAtomically(path + "/config.json", config).ok());
    ExpectStartFails(path, {"config.json", "hidden_size"}, dir.File("bad_config.log"));
  }
  {
    const std::string path = folder("no_tokenizer");
    std::filesystem::remove(path + "/tokenizer.json");
    ExpectStartFails(path, {"tokenizer.json"}, dir.File("no_tokenizer.log"));
  }
  ExpectStartFails(dir.File("nowhere"), {"nowhere"}, dir.File("nowhere.log"));
}

TEST(ChordctlInitModelTest, WritesALoadableFolderWithTheSameBytesForASeed) {
  chord::testing::TempDir dir;
  const std::string chordctl = BinaryPath("chordctl");
  auto a = RunCommand(chordctl + " init-model --preset tiny --out " + dir.File("a") + " --seed 3");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_THAT(a.output, StartsWith("wrote the tiny model to " + dir.File("a") + "\n"));
  auto config = model::TinyModelConfig();
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(a.output, HasSubstr(absl::StrCat("  parameters  ", config->NumParameters())));
  EXPECT_THAT(a.output, HasSubstr("  vocab size  100\n"));
  EXPECT_THAT(a.output, HasSubstr("model.safetensors"));
  auto b = RunCommand(chordctl + " init-model --out " + dir.File("b") + " --seed 3");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  auto c = RunCommand(chordctl + " init-model --out " + dir.File("c") + " --seed 4");
  ASSERT_EQ(c.exit_code, 0) << c.output;
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json", "generation_config.json"}) {
    const std::string bytes = ReadText(dir.File("a") + "/" + file);
    EXPECT_FALSE(bytes.empty()) << file;
    EXPECT_EQ(bytes, ReadText(dir.File("b") + "/" + file)) << file;
  }
  EXPECT_NE(ReadText(dir.File("a") + "/model.safetensors"),
            ReadText(dir.File("c") + "/model.safetensors"));
  auto loaded = model::CausalLM::Load(dir.File("a"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->config().vocab_size, 100);

  // A non-empty folder needs --force.
  auto again = RunCommand(chordctl + " init-model --out " + dir.File("a") + " --seed 5");
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_THAT(again.output, HasSubstr("--force"));
  EXPECT_EQ(ReadText(dir.File("a") + "/model.safetensors"),
            ReadText(dir.File("b") + "/model.safetensors"));
  auto forced = RunCommand(chordctl + " init-model --out " + dir.File("a") + " --seed 4 --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_EQ(ReadText(dir.File("a") + "/model.safetensors"),
            ReadText(dir.File("c") + "/model.safetensors"));

  // Size overrides and JSON output.
  auto small = RunCommand(chordctl + " init-model --out " + dir.File("small") +
                          " --hidden-size 64 --layers 2 --intermediate-size 128 --json");
  ASSERT_EQ(small.exit_code, 0) << small.output;
  EXPECT_THAT(small.output, HasSubstr("\"hidden_size\":64"));
  EXPECT_THAT(small.output, HasSubstr("\"num_hidden_layers\":2"));
  auto small_model = model::CausalLM::Load(dir.File("small"));
  ASSERT_TRUE(small_model.ok()) << small_model.status();
  EXPECT_EQ((*small_model)->config().hidden_size, 64);

  // Usage errors: exit 2.
  auto unknown = RunCommand(chordctl + " init-model --preset huge --out " + dir.File("d"));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_THAT(unknown.output, StartsWith("chordctl: usage error: "));
  EXPECT_THAT(unknown.output, HasSubstr("unknown preset \"huge\" (presets: tiny)"));
  EXPECT_FALSE(std::filesystem::exists(dir.File("d")));
  auto no_out = RunCommand(chordctl + " init-model");
  EXPECT_EQ(no_out.exit_code, 2) << no_out.output;
  auto bad_heads = RunCommand(chordctl + " init-model --out " + dir.File("e") + " --heads 3");
  EXPECT_EQ(bad_heads.exit_code, 2) << bad_heads.output;
}

}  // namespace
}  // namespace chord
