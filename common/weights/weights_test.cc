#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "chord/v1/weights.grpc.pb.h"
#include "common/checksum/crc32c.h"
#include "common/rpc/channel.h"
#include "common/rpc/server_runner.h"
#include "common/weights/grpc_service.h"
#include "common/weights/weight_fetcher.h"
#include "common/weights/weight_publisher.h"
#include "common/weights/weight_set.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "prometheus/registry.h"

namespace chord::weights {
namespace {

using chord::v1::WeightChunk;

// Fills a tensor's bytes with seeded random bits (every bit pattern, NaNs included: the stream
// must carry bytes exactly).
void FillRandomBytes(at::Tensor& t, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto* p = static_cast<uint8_t*>(t.data_ptr());
  size_t n = t.nbytes();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = rng();
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<uint8_t>(rng());
}

at::Tensor RandomTensor(std::vector<int64_t> shape, c10::ScalarType dtype, uint64_t seed) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  FillRandomBytes(t, seed);
  return t;
}

// A set with every wire dtype, a 0-dim and an empty tensor, and tensors larger than the smallest
// chunk (so they span chunks). About 450 KB.
WeightSet MakeSet(int64_t version, uint64_t seed = 1) {
  WeightSet set;
  set.version = version;
  seed = seed * 1000 + static_cast<uint64_t>(version);
  set.tensors = {
      {"model.embed_tokens.weight", RandomTensor({300, 257}, at::kFloat, seed + 1)},
      {"model.layers.0.mlp.up_proj.weight", RandomTensor({129, 511}, at::kBFloat16, seed + 2)},
      {"model.layers.0.self_attn.q_proj.bias", RandomTensor({33}, at::kHalf, seed + 3)},
      {"model.norm.weight", RandomTensor({}, at::kFloat, seed + 4)},
      {"empty", RandomTensor({0, 4}, at::kFloat, seed + 5)},
      {"position_ids", RandomTensor({7, 3}, at::kLong, seed + 6)},
      {"token_ids", RandomTensor({1001}, at::kInt, seed + 7)},
  };
  return set;
}

// A deep copy (the publisher must not depend on the caller's tensors after Publish).
WeightSet Clone(const WeightSet& set) {
  WeightSet copy;
  copy.version = set.version;
  for (const auto& [name, t] : set.tensors) copy.tensors.emplace_back(name, t.clone());
  return copy;
}

void ExpectSameSet(const WeightSet& actual, const WeightSet& expected) {
  EXPECT_EQ(actual.version, expected.version);
  ASSERT_EQ(actual.tensors.size(), expected.tensors.size());
  for (size_t i = 0; i < expected.tensors.size(); ++i) {
    const auto& [name, want] = expected.tensors[i];
    const auto& [got_name, got] = actual.tensors[i];
    EXPECT_EQ(got_name, name);
    EXPECT_EQ(got.scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_TRUE(got.device().is_cpu() && got.is_contiguous()) << name;
    ASSERT_EQ(got.nbytes(), want.nbytes()) << name;
    if (want.numel() == 0) continue;  // no data (and memcmp must not see null pointers)
    at::Tensor want_c = want.contiguous();
    EXPECT_EQ(std::memcmp(got.data_ptr(), want_c.data_ptr(), want_c.nbytes()), 0)
        << name << ": bytes differ";
  }
}

// The value of one sample of a metric family (counter, gauge, or histogram sample count).
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        default:
          return -1;
      }
    }
  }
  return -1;
}

// A WeightService that forwards to another server and lets a test tamper with the stream: the
// hook sees each message (0 = manifest) and may change it, drop it, or end the stream early.
class TamperingProxy final : public chord::v1::WeightService::Service {
 public:
  enum class Action { kForward, kDrop, kEnd };
  using Hook = std::function<Action(int index, WeightChunk* message, grpc::ServerContext* ctx)>;

  TamperingProxy(std::shared_ptr<grpc::Channel> upstream, Hook hook)
      : stub_(chord::v1::WeightService::NewStub(upstream)), hook_(std::move(hook)) {}

  grpc::Status GetVersion(grpc::ServerContext*, const chord::v1::GetVersionRequest* request,
                          chord::v1::GetVersionResponse* response) override {
    grpc::ClientContext ctx;
    return stub_->GetVersion(&ctx, *request, response);
  }

  grpc::Status FetchWeights(grpc::ServerContext* context,
                            const chord::v1::FetchWeightsRequest* request,
                            grpc::ServerWriter<WeightChunk>* writer) override {
    grpc::ClientContext ctx;
    auto reader = stub_->FetchWeights(&ctx, *request);
    WeightChunk message;
    for (int index = 0; reader->Read(&message); ++index) {
      Action action = hook_(index, &message, context);
      if (action == Action::kEnd) break;
      if (action == Action::kDrop) continue;
      if (!writer->Write(message)) break;
    }
    ctx.TryCancel();
    while (reader->Read(&message)) {
    }
    grpc::Status status = reader->Finish();
    return status.error_code() == grpc::StatusCode::CANCELLED ? grpc::Status::OK : status;
  }

 private:
  std::unique_ptr<chord::v1::WeightService::Stub> stub_;
  Hook hook_;
};

class WeightsTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(PublisherOptions()); }

  void StartServer(PublisherOptions options) {
    runner_.reset();
    service_.reset();
    publisher_.reset();
    registry_ = std::make_shared<prometheus::Registry>();
    options.registry = registry_.get();
    publisher_ = *WeightPublisher::Create(options);
    service_ = *WeightServiceImpl::Create(publisher_.get());
    runner_ = *rpc::ServerRunner::Start(ServerOptions("weights"), {service_.get()});
    channel_ = rpc::MakeChannel(runner_->address(), rpc::ClientOptions());
    stub_ = chord::v1::WeightService::NewStub(channel_);
  }

  static rpc::ServerOptions ServerOptions(const std::string& name) {
    rpc::ServerOptions options;
    options.service_name = name;
    options.host = "127.0.0.1";
    options.port = 0;
    options.shutdown_grace = absl::Seconds(1);
    return options;
  }

  // Starts a proxy in front of the weight server; returns a channel to it.
  std::shared_ptr<grpc::Channel> StartProxy(TamperingProxy::Hook hook) {
    proxy_ = std::make_unique<TamperingProxy>(channel_, std::move(hook));
    proxy_runner_ = *rpc::ServerRunner::Start(ServerOptions("proxy"), {proxy_.get()});
    return rpc::MakeChannel(proxy_runner_->address(), rpc::ClientOptions());
  }

  static FetchOptions SmallChunks() {
    FetchOptions options;
    options.chunk_bytes = kMinChunkBytes;
    return options;
  }

  void TearDown() override {
    if (proxy_runner_) proxy_runner_->Shutdown();
    if (runner_) runner_->Shutdown();
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<WeightPublisher> publisher_;
  std::unique_ptr<WeightServiceImpl> service_;
  std::unique_ptr<rpc::ServerRunner> runner_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<chord::v1::WeightService::Stub> stub_;
  std::unique_ptr<TamperingProxy> proxy_;
  std::unique_ptr<rpc::ServerRunner> proxy_runner_;
};

TEST(WeightSetTest, DTypeConversionsRoundTrip) {
  for (c10::ScalarType t : {at::kFloat, at::kBFloat16, at::kHalf, at::kLong, at::kInt}) {
    absl::StatusOr<chord::v1::DType> wire = ToWireDType(t);
    ASSERT_TRUE(wire.ok()) << c10::toString(t);
    EXPECT_EQ(*FromWireDType(*wire), t);
    EXPECT_EQ(WireDTypeSize(*wire), c10::elementSize(t));
  }
  EXPECT_EQ(ToWireDType(at::kDouble).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromWireDType(chord::v1::DTYPE_UNSPECIFIED).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WireDTypeSize(chord::v1::DTYPE_UNSPECIFIED), 0u);
  EXPECT_STREQ(WireDTypeName(chord::v1::DTYPE_BF16), "BF16");
}

TEST_F(WeightsTest, RoundTripOfEveryDtypeIsByteExact) {
  WeightSet set = MakeSet(0);
  ASSERT_TRUE(publisher_->Publish(set).ok());
  absl::StatusOr<WeightSet> fetched = FetchWeights(channel_, 0, FetchOptions());
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ExpectSameSet(*fetched, set);

  // -1 fetches the newest; the stub overload works the same.
  absl::StatusOr<WeightSet> latest = FetchWeights(*stub_, -1, SmallChunks());
  ASSERT_TRUE(latest.ok()) << latest.status();
  ExpectSameSet(*latest, set);
}

TEST_F(WeightsTest, PublishCopiesTheTensors) {
  WeightSet set = MakeSet(0);
  WeightSet original = Clone(set);
  ASSERT_TRUE(publisher_->Publish(set).ok());
  for (auto& [name, t] : set.tensors) t.zero_();  // the learner keeps training
  absl::StatusOr<WeightSet> fetched = FetchWeights(channel_, 0, FetchOptions());
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ExpectSameSet(*fetched, original);
}

TEST_F(WeightsTest, PublishesStridedTensorsAsContiguousBytes) {
  WeightSet set;
  set.version = 0;
  at::Tensor base = RandomTensor({64, 48}, at::kFloat, 9);
  set.tensors = {{"transposed", base.t()}, {"sliced", base.index({at::indexing::Slice(), 5})}};
  ASSERT_FALSE(set.tensors[0].second.is_contiguous());
  ASSERT_TRUE(publisher_->Publish(set).ok());
  absl::StatusOr<WeightSet> fetched = FetchWeights(channel_, 0, FetchOptions());
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ExpectSameSet(*fetched, set);
}

TEST_F(WeightsTest, StreamOfSmallChunksCarriesManifestAndCheckedChunks) {
  WeightSet set = MakeSet(7);
  ASSERT_TRUE(publisher_->Publish(set).ok());

  grpc::ClientContext ctx;
  chord::v1::FetchWeightsRequest request;
  request.set_version(7);
  request.set_chunk_bytes(1);  // clamped up to the smallest chunk
  auto reader = stub_->FetchWeights(&ctx, request);
  std::vector<WeightChunk> messages;
  WeightChunk message;
  while (reader->Read(&message)) messages.push_back(message);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(messages.empty());

  const chord::v1::WeightManifest& manifest = messages[0].manifest();
  EXPECT_TRUE(messages[0].data().empty());
  EXPECT_EQ(manifest.version(), 7);
  EXPECT_EQ(manifest.chunk_bytes(), kMinChunkBytes);
  ASSERT_EQ(manifest.tensors_size(), static_cast<int>(set.tensors.size()));
  std::string all_bytes;
  for (int i = 0; i < manifest.tensors_size(); ++i) {
    const chord::v1::TensorInfo& info = manifest.tensors(i);
    const at::Tensor& t = set.tensors[i].second;
    EXPECT_EQ(info.name(), set.tensors[i].first);
    EXPECT_EQ(std::vector<int64_t>(info.shape().begin(), info.shape().end()), t.sizes().vec());
    EXPECT_EQ(info.dtype(), *ToWireDType(t.scalar_type()));
    EXPECT_EQ(info.byte_size(), t.nbytes());
    EXPECT_EQ(info.offset(), all_bytes.size());
    EXPECT_EQ(info.crc32c(), checksum::Crc32c(t.data_ptr(), t.nbytes())) << info.name();
    all_bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  }
  EXPECT_EQ(manifest.total_bytes(), all_bytes.size());
  EXPECT_EQ(manifest.crc32c(), checksum::Crc32c(all_bytes.data(), all_bytes.size()));

  // Data chunks: in order, full size but the last, each with its CRC; together the whole set.
  size_t chunks = messages.size() - 1;
  EXPECT_EQ(chunks, (all_bytes.size() + kMinChunkBytes - 1) / kMinChunkBytes);
  EXPECT_GE(chunks, 5u);  // the 308 KB embedding alone spans several chunks
  std::string streamed;
  for (size_t i = 1; i < messages.size(); ++i) {
    const WeightChunk& chunk = messages[i];
    EXPECT_FALSE(chunk.has_manifest());
    EXPECT_EQ(chunk.index(), i - 1);
    EXPECT_EQ(chunk.offset(), streamed.size());
    if (i + 1 < messages.size()) {
      EXPECT_EQ(chunk.data().size(), kMinChunkBytes);
    }
    EXPECT_EQ(chunk.crc32c(), checksum::Crc32c(chunk.data().data(), chunk.data().size()));
    streamed += chunk.data();
  }
  EXPECT_TRUE(streamed == all_bytes);

  absl::StatusOr<WeightSet> fetched = FetchWeights(channel_, 7, SmallChunks());
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ExpectSameSet(*fetched, set);
}

TEST_F(WeightsTest, ChunkSizeIsClampedToTheServerLimits) {
  EXPECT_EQ(service_->ChunkBytesFor(0), kDefaultChunkBytes);
  EXPECT_EQ(service_->ChunkBytesFor(1), kMinChunkBytes);
  EXPECT_EQ(service_->ChunkBytesFor(1 << 20), 1u << 20);
  EXPECT_EQ(service_->ChunkBytesFor(uint64_t{1} << 40), (64u << 20) - kChunkOverheadBytes);

  WeightServiceOptions bad;
  bad.max_message_bytes = 32 << 10;
  EXPECT_EQ(WeightServiceImpl::Create(publisher_.get(), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = WeightServiceOptions();
  bad.default_chunk_bytes = 100;
  EXPECT_EQ(WeightServiceImpl::Create(publisher_.get(), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WeightServiceImpl::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WeightsTest, ChunksLargerThanTheChannelAcceptsGiveAHint) {
  WeightSet set;
  set.version = 0;
  set.tensors = {{"big", RandomTensor({600000}, at::kFloat, 12)}};  // 2.4 MB
  ASSERT_TRUE(publisher_->Publish(set).ok());
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(1 << 20);
  auto small =
      grpc::CreateCustomChannel(runner_->address(), grpc::InsecureChannelCredentials(), args);
  absl::StatusOr<WeightSet> fetched = FetchWeights(small, 0, FetchOptions());  // 4 MiB chunks
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(fetched.status().message().find("chunk_bytes"), std::string::npos) << fetched.status();
  FetchOptions options;
  options.chunk_bytes = 512 << 10;
  fetched = FetchWeights(small, 0, options);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ExpectSameSet(*fetched, set);
}

TEST_F(WeightsTest, CorruptedChunkIsDataLossNamingTheChunk) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  auto proxy = StartProxy([](int index, WeightChunk* message, grpc::ServerContext*) {
    if (index == 3) (*message->mutable_data())[100] ^= 0x01;  // data chunk 2
    return TamperingProxy::Action::kForward;
  });
  absl::StatusOr<WeightSet> fetched = FetchWeights(proxy, 0, SmallChunks());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(fetched.status().message().find("chunk 2 "), std::string::npos) << fetched.status();
  EXPECT_NE(fetched.status().message().find("CRC-32C"), std::string::npos) << fetched.status();
}

TEST_F(WeightsTest, ManifestCrcMismatchIsDataLossNamingTheTensor) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  auto proxy = StartProxy([](int index, WeightChunk* message, grpc::ServerContext*) {
    if (index == 0) {
      auto* info = message->mutable_manifest()->mutable_tensors(1);
      info->set_crc32c(info->crc32c() ^ 1);
    }
    return TamperingProxy::Action::kForward;
  });
  absl::StatusOr<WeightSet> fetched = FetchWeights(proxy, 0, SmallChunks());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(fetched.status().message().find("tensor 'model.layers.0.mlp.up_proj.weight'"),
            std::string::npos)
      << fetched.status();
}

TEST_F(WeightsTest, InconsistentManifestIsDataLoss) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  auto proxy = StartProxy([](int index, WeightChunk* message, grpc::ServerContext*) {
    if (index == 0) message->mutable_manifest()->mutable_tensors(2)->set_byte_size(1);
    return TamperingProxy::Action::kForward;
  });
  absl::StatusOr<WeightSet> fetched = FetchWeights(proxy, 0, SmallChunks());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(fetched.status().message().find("model.layers.0.self_attn.q_proj.bias"),
            std::string::npos)
      << fetched.status();
}

TEST_F(WeightsTest, TruncatedStreamIsDataLoss) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  auto proxy = StartProxy([](int index, WeightChunk*, grpc::ServerContext*) {
    return index == 3 ? TamperingProxy::Action::kEnd : TamperingProxy::Action::kForward;
  });
  absl::StatusOr<WeightSet> fetched = FetchWeights(proxy, 0, SmallChunks());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(fetched.status().message().find("truncated"), std::string::npos) << fetched.status();

  // A stream cut before the manifest is as bad.
  auto empty = StartProxy(
      [](int, WeightChunk*, grpc::ServerContext*) { return TamperingProxy::Action::kEnd; });
  EXPECT_EQ(FetchWeights(empty, 0, SmallChunks()).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(WeightsTest, MissingChunkIsDataLoss) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  auto proxy = StartProxy([](int index, WeightChunk*, grpc::ServerContext*) {
    return index == 2 ? TamperingProxy::Action::kDrop : TamperingProxy::Action::kForward;
  });
  absl::StatusOr<WeightSet> fetched = FetchWeights(proxy, 0, SmallChunks());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(fetched.status().message().find("chunk 1 "), std::string::npos) << fetched.status();
}

TEST_F(WeightsTest, FetchHonoursItsDeadline) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  auto proxy = StartProxy([](int index, WeightChunk*, grpc::ServerContext* ctx) {
    // Stalls after the manifest until the client gives up.
    while (index == 1 && !ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
    return TamperingProxy::Action::kForward;
  });
  FetchOptions options = SmallChunks();
  options.deadline = absl::Milliseconds(300);
  EXPECT_EQ(FetchWeights(proxy, 0, options).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(WeightsTest, OldVersionsAreNotFoundAfterKeepVersionsNewerOnes) {
  StartServer(PublisherOptions());  // keep_versions = 2
  EXPECT_EQ(FetchWeights(channel_, -1, FetchOptions()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*GetLatestVersion(channel_), -1);
  for (int64_t v : {0, 1, 2}) ASSERT_TRUE(publisher_->Publish(MakeSet(v)).ok());
  EXPECT_EQ(publisher_->held_versions(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(publisher_->Get(0).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<WeightSet> old = FetchWeights(channel_, 0, FetchOptions());
  EXPECT_EQ(old.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(old.status().message().find("version 0"), std::string::npos) << old.status();
  absl::StatusOr<WeightSet> previous = FetchWeights(channel_, 1, FetchOptions());
  ASSERT_TRUE(previous.ok()) << previous.status();
  ExpectSameSet(*previous, MakeSet(1));
  EXPECT_EQ(*GetLatestVersion(*stub_), 2);
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_fetches_total", {{"result", "not_found"}}), 2);
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_fetches_total", {{"result", "ok"}}), 1);
}

TEST_F(WeightsTest, VersionsMustIncrease) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(3)).ok());
  EXPECT_EQ(publisher_->Publish(MakeSet(3)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(publisher_->Publish(MakeSet(2)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(publisher_->latest_version(), 3);
  EXPECT_TRUE(publisher_->Publish(MakeSet(10)).ok());  // gaps are fine
  EXPECT_EQ(publisher_->latest_version(), 10);
}

TEST_F(WeightsTest, PublishRejectsBadSetsNamingTheTensor) {
  auto expect_invalid = [&](const WeightSet& set, const std::string& needle) {
    absl::Status status = publisher_->Publish(set);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find(needle), std::string::npos) << status;
  };
  WeightSet set = MakeSet(0);
  set.tensors[3].first = set.tensors[1].first;
  expect_invalid(set, "duplicate");
  set = MakeSet(0);
  set.tensors[2].second = at::zeros({2}, at::kDouble);
  expect_invalid(set, "model.layers.0.self_attn.q_proj.bias");
  set = MakeSet(0);
  set.tensors[1].second = at::Tensor();
  expect_invalid(set, "undefined");
  set = MakeSet(0);
  set.tensors[0].first = "";
  expect_invalid(set, "empty name");
  expect_invalid(WeightSet{0, {}}, "no tensors");
  expect_invalid(MakeSet(-2), "version");
  EXPECT_EQ(publisher_->latest_version(), -1);
  EXPECT_EQ(WeightPublisher::Create(PublisherOptions{0, nullptr}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(WeightsTest, SnapshotOutlivesItsVersionAndTheSourceTensors) {
  WeightSet set = MakeSet(1);
  WeightSet original = Clone(set);
  ASSERT_TRUE(publisher_->Publish(set).ok());
  std::shared_ptr<const WeightSnapshot> held = *publisher_->Get(1);
  for (auto& [name, t] : set.tensors) t.fill_(0);
  ASSERT_TRUE(publisher_->Publish(MakeSet(2)).ok());
  ASSERT_TRUE(publisher_->Publish(MakeSet(3)).ok());
  EXPECT_EQ(publisher_->Get(1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(held->version(), 1);
  EXPECT_EQ(held->manifest().crc32c(), checksum::Crc32c(held->data(), held->size()));
  const at::Tensor& first = original.tensors[0].second;
  EXPECT_EQ(std::memcmp(held->data(), first.data_ptr(), first.nbytes()), 0);
}

TEST_F(WeightsTest, FetchOfThePreviousVersionFinishesWhileNewOnesArePublished) {
  WeightSet set = MakeSet(1);
  WeightSet original = Clone(set);
  ASSERT_TRUE(publisher_->Publish(set).ok());
  absl::Notification streaming;
  absl::Notification published;
  // The proxy holds the stream after its second data chunk until newer versions are out.
  auto proxy = StartProxy([&](int index, WeightChunk*, grpc::ServerContext*) {
    if (index == 3) {
      streaming.Notify();
      published.WaitForNotification();
    }
    return TamperingProxy::Action::kForward;
  });
  absl::StatusOr<WeightSet> fetched;
  std::thread fetcher([&] { fetched = FetchWeights(proxy, 1, SmallChunks()); });
  streaming.WaitForNotification();
  for (auto& [name, t] : set.tensors) t.fill_(0);
  ASSERT_TRUE(publisher_->Publish(MakeSet(2)).ok());
  ASSERT_TRUE(publisher_->Publish(MakeSet(3)).ok());  // version 1 is no longer held
  published.Notify();
  fetcher.join();
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ExpectSameSet(*fetched, original);
  EXPECT_EQ(FetchWeights(channel_, 1, FetchOptions()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(WeightsTest, ServerStopsStreamingWhenTheClientCancels) {
  // 64 MiB: far more than gRPC buffers, so the server is mid-stream when the client leaves.
  WeightSet set;
  set.version = 0;
  set.tensors = {{"big", RandomTensor({16 << 20}, at::kFloat, 11)}};
  ASSERT_TRUE(publisher_->Publish(set).ok());
  {
    grpc::ClientContext ctx;
    chord::v1::FetchWeightsRequest request;
    request.set_chunk_bytes(kMinChunkBytes);
    auto reader = stub_->FetchWeights(&ctx, request);
    WeightChunk message;
    ASSERT_TRUE(reader->Read(&message));  // manifest
    ASSERT_TRUE(reader->Read(&message));  // chunk 0
    ctx.TryCancel();
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (MetricValue(*registry_, "chord_weights_fetches_total", {{"result", "cancelled"}}) < 1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_fetches_total", {{"result", "cancelled"}}), 1);
  EXPECT_LT(MetricValue(*registry_, "chord_weights_bytes_served_total"), 64 << 20);
}

TEST_F(WeightsTest, MetricsCountPublishesAndServedBytes) {
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_published_version"), -1);
  WeightSet set = MakeSet(4);
  ASSERT_TRUE(publisher_->Publish(set).ok());
  ASSERT_TRUE(FetchWeights(channel_, 4, SmallChunks()).ok());
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_published_version"), 4);
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_publish_seconds"), 1);
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_bytes_served_total"),
            static_cast<double>(publisher_->Latest()->size()));
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_fetches_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(MetricValue(*registry_, "chord_weights_fetches_total", {{"result", "failed"}}), 0);
}

TEST_F(WeightsTest, GetVersionLongPollAnswersWhenANewerVersionIsPublished) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  chord::v1::GetVersionResponse response;
  grpc::Status status;
  std::thread poll([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    chord::v1::GetVersionRequest request;
    request.set_wait_for_newer_than(0);
    request.set_include_manifest(true);
    status = stub_->GetVersion(&ctx, request, &response);
  });
  ASSERT_TRUE(publisher_->Publish(MakeSet(1)).ok());
  poll.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(response.manifest().version(), 1);
  EXPECT_EQ(response.manifest().tensors_size(), 7);

  // With nothing newer the poll ends at its timeout with the current version.
  grpc::ClientContext ctx;
  chord::v1::GetVersionRequest request;
  request.set_wait_for_newer_than(1);
  request.set_wait_timeout_ms(50);
  ASSERT_TRUE(stub_->GetVersion(&ctx, request, &response).ok());
  EXPECT_EQ(response.version(), 1);
}

TEST_F(WeightsTest, CloseEndsLongPolls) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  chord::v1::GetVersionResponse response;
  grpc::Status status;
  std::thread poll([&] {
    grpc::ClientContext ctx;
    chord::v1::GetVersionRequest request;
    request.set_wait_for_newer_than(0);
    status = stub_->GetVersion(&ctx, request, &response);  // the server caps the wait at 60 s
  });
  publisher_->Close();
  poll.join();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(response.version(), 0);
  EXPECT_EQ(publisher_->WaitForNewerThan(0, absl::Hours(1)), 0);  // returns at once once closed
}

class WeightFollowerTest : public WeightsTest, public ::testing::WithParamInterface<bool> {};

TEST_P(WeightFollowerTest, InstallsEachNewerVersionInOrderAndStopsCleanly) {
  absl::Mutex mu;
  std::vector<int64_t> installed;
  std::vector<std::string> mismatches;
  FollowerOptions options;
  options.long_poll = GetParam();
  options.poll_interval = absl::Milliseconds(10);
  options.fetch.chunk_bytes = kMinChunkBytes;
  absl::StatusOr<std::unique_ptr<WeightFollower>> follower =
      WeightFollower::Start(channel_, options, [&](WeightSet&& weights) {
        WeightSet expected = MakeSet(weights.version);
        const at::Tensor& got = weights.tensors[0].second;
        const at::Tensor& want = expected.tensors[0].second;
        absl::MutexLock lock(&mu);
        if (std::memcmp(got.data_ptr(), want.data_ptr(), want.nbytes()) != 0) {
          mismatches.push_back(absl::StrCat("version ", weights.version));
        }
        installed.push_back(weights.version);
        return absl::OkStatus();
      });
  ASSERT_TRUE(follower.ok()) << follower.status();
  EXPECT_EQ((*follower)->installed_version(), -1);

  // Nothing is published yet; the follower waits, then installs each version it sees.
  ASSERT_TRUE(publisher_->Publish(MakeSet(0)).ok());
  ASSERT_TRUE((*follower)->WaitForVersion(0, absl::Seconds(30)));
  ASSERT_TRUE(publisher_->Publish(MakeSet(1)).ok());
  ASSERT_TRUE((*follower)->WaitForVersion(1, absl::Seconds(30)));
  ASSERT_TRUE(publisher_->Publish(MakeSet(2)).ok());
  ASSERT_TRUE(publisher_->Publish(MakeSet(3)).ok());
  ASSERT_TRUE((*follower)->WaitForVersion(3, absl::Seconds(30)));
  (*follower)->Stop();
  (*follower)->Stop();  // idempotent
  EXPECT_EQ((*follower)->installed_version(), 3);
  EXPECT_TRUE((*follower)->last_error().ok()) << (*follower)->last_error();
  EXPECT_FALSE((*follower)->WaitForVersion(4, absl::Seconds(5)));  // stopped: returns at once

  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mismatches.empty()) << mismatches.front();
  ASSERT_GE(installed.size(), 3u);
  EXPECT_EQ(installed.front(), 0);
  EXPECT_EQ(installed.back(), 3);
  for (size_t i = 1; i < installed.size(); ++i) EXPECT_LT(installed[i - 1], installed[i]);
}

INSTANTIATE_TEST_SUITE_P(LongPollAndPlainPoll, WeightFollowerTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("LongPoll") : std::string("Poll");
                         });

TEST_F(WeightsTest, FollowerRetriesAFailedInstallAndSkipsKnownVersions) {
  ASSERT_TRUE(publisher_->Publish(MakeSet(5)).ok());
  ASSERT_TRUE(publisher_->Publish(MakeSet(6)).ok());
  std::atomic<int> calls{0};
  FollowerOptions options;
  options.after_version = 5;  // the caller already has 5
  options.poll_interval = absl::Milliseconds(10);
  auto follower = *WeightFollower::Start(channel_, options, [&](WeightSet&& weights) {
    EXPECT_EQ(weights.version, 6);
    return ++calls == 1 ? absl::InternalError("GPU busy") : absl::OkStatus();
  });
  EXPECT_EQ(follower->installed_version(), 5);
  ASSERT_TRUE(follower->WaitForVersion(6, absl::Seconds(30)));
  follower->Stop();
  EXPECT_EQ(calls.load(), 2);
  EXPECT_TRUE(follower->last_error().ok());
}

TEST_F(WeightsTest, FollowerStopsWhileTheServerIsUnreachable) {
  FollowerOptions options;
  options.poll_interval = absl::Milliseconds(10);
  auto channel = rpc::MakeChannel(runner_->address(), rpc::ClientOptions());
  runner_->Shutdown();
  auto follower = *WeightFollower::Start(channel, options, [](WeightSet&&) {
    ADD_FAILURE() << "nothing to install";
    return absl::OkStatus();
  });
  EXPECT_FALSE(follower->WaitForVersion(0, absl::Milliseconds(200)));
  follower->Stop();
  EXPECT_EQ(follower->installed_version(), -1);
  EXPECT_EQ(WeightFollower::Start(nullptr, options, [](WeightSet&&) { return absl::OkStatus(); })
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chord::weights
