// Weight streaming from a Hugging Face model folder written by the model library: what a learner
// does at start-up (version 0 = the initial model folder).

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "common/model/safetensors.h"
#include "common/rpc/channel.h"
#include "common/rpc/server_runner.h"
#include "common/weights/grpc_service.h"
#include "common/weights/weight_fetcher.h"
#include "common/weights/weight_publisher.h"
#include "tests/support/child_process.h"

namespace chord::weights {
namespace {

TEST(ModelFolderTest, PublishesAndFetchesTheTensorsOfAModelFolder) {
  // A small Qwen2-shaped set, sharded so the folder has an index and several files.
  at::manual_seed(3);
  model::NamedTensors written = {
      {"model.embed_tokens.weight", at::randn({97, 64}).to(at::kBFloat16)},
      {"model.layers.0.input_layernorm.weight", at::ones({64})},
      {"model.layers.0.self_attn.q_proj.weight", at::randn({64, 64}).to(at::kBFloat16)},
      {"model.layers.0.self_attn.q_proj.bias", at::randn({64}).to(at::kBFloat16)},
      {"model.layers.0.mlp.down_proj.weight", at::randn({64, 192}).to(at::kBFloat16)},
      {"model.norm.weight", at::ones({64})},
  };
  testing::TempDir dir;
  model::WriteFolderOptions write_options;
  write_options.max_shard_bytes = 16 << 10;
  ASSERT_TRUE(model::WriteModelFolder(dir.path(), written, write_options).ok());
  ASSERT_TRUE(std::filesystem::exists(dir.File("model.safetensors.index.json")));

  // The learner's start-up: every tensor of the folder, as mapped views, published as version 0.
  absl::StatusOr<std::unique_ptr<model::SafetensorsFolder>> folder =
      model::SafetensorsFolder::Open(dir.path());
  ASSERT_TRUE(folder.ok()) << folder.status();
  WeightSet set;
  set.version = 0;
  for (const std::string& name : (*folder)->TensorNames()) {
    absl::StatusOr<at::Tensor> view = (*folder)->FileOf(name)->View(name);
    ASSERT_TRUE(view.ok()) << view.status();
    set.tensors.emplace_back(name, *view);
  }
  auto publisher = *WeightPublisher::Create(PublisherOptions());
  ASSERT_TRUE(publisher->Publish(set).ok());
  set.tensors.clear();  // the snapshot does not need the mapping
  folder->reset();

  auto service = *WeightServiceImpl::Create(publisher.get());
  rpc::ServerOptions server_options;
  server_options.host = "127.0.0.1";
  server_options.shutdown_grace = absl::Seconds(1);
  auto runner = *rpc::ServerRunner::Start(server_options, {service.get()});
  FetchOptions fetch_options;
  fetch_options.chunk_bytes = kMinChunkBytes;
  absl::StatusOr<WeightSet> fetched =
      FetchWeights(rpc::MakeChannel(runner->address(), rpc::ClientOptions()), -1, fetch_options);
  ASSERT_TRUE(fetched.ok()) << fetched.status();

  EXPECT_EQ(fetched->version, 0);
  std::map<std::string, at::Tensor> by_name(written.begin(), written.end());
  ASSERT_EQ(fetched->tensors.size(), written.size());
  for (const auto& [name, tensor] : fetched->tensors) {
    ASSERT_EQ(by_name.count(name), 1u) << name;
    const at::Tensor& want = by_name[name];
    EXPECT_EQ(tensor.scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(tensor.sizes(), want.sizes()) << name;
    EXPECT_EQ(std::memcmp(tensor.data_ptr(), want.data_ptr(), want.nbytes()), 0) << name;
  }
  runner->Shutdown();
}

}  // namespace
}  // namespace chord::weights
