#include "services/expert_buffer/grpc_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/rpc/message_limits.h"
#include "common/rpc/server_runner.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/expert_buffer/grpc_client.h"
#include "services/expert_buffer/in_process_client.h"

namespace chord::expert_buffer {
namespace {

using chord::v1::LoadDatasetRequest;
using chord::v1::SampleRequest;
using ::testing::HasSubstr;

std::string TaskLines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "{\"question\":\"q", i, "\",\"answer\":", i,
                    ",\"kind\":\"arithmetic\",\"meta\":{\"i\":", i, "}}\n");
  }
  return text;
}

std::string ExpertLines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "{\"messages\":[{\"role\":\"user\",\"content\":\"u", i,
                    "\"},{\"role\":\"assistant\",\"content\":\"a", i, "\"}]}\n");
  }
  return text;
}

LoadDatasetRequest Load(const std::string& name, chord::v1::DatasetKind kind,
                        const std::string& content) {
  LoadDatasetRequest request;
  request.set_name(name);
  request.set_kind(kind);
  request.set_content(content);
  return request;
}

SampleRequest Sample(const std::string& dataset, int n, const std::string& cursor = "",
                     uint64_t seed = 0) {
  SampleRequest request;
  request.set_dataset(dataset);
  request.set_n(n);
  request.set_cursor(cursor);
  request.set_seed(seed);
  return request;
}

// The real adapter behind a real gRPC server on 127.0.0.1:0, reached through the real client.
class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ExpertBufferOptions options;
    options.max_sample = 1000;
    auto core = ExpertBuffer::Create(options, nullptr);
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = std::shared_ptr<ExpertBuffer>(std::move(*core));
    service_ = std::make_unique<ExpertBufferGrpcService>(core_.get());
    rpc::ServerOptions server;
    server.host = "127.0.0.1";
    server.port = 0;
    server.service_name = "expert-buffer-test";
    auto runner = rpc::ServerRunner::Start(server, {service_.get()});
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
    rpc::ClientOptions client_options;
    client_options.attempt_deadline = absl::Seconds(10);
    auto client = GrpcExpertBufferClient::Create(runner_->address(), client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    ASSERT_TRUE(client_->WaitForServing(absl::Seconds(10)).ok());
  }

  void TearDown() override {
    if (runner_ != nullptr) runner_->Shutdown();
  }

  void ExpectInvalid(const absl::Status& status, absl::string_view field) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(absl::StrCat(field, ": "))) << status;
  }

  std::shared_ptr<ExpertBuffer> core_;
  std::unique_ptr<ExpertBufferGrpcService> service_;
  std::unique_ptr<rpc::ServerRunner> runner_;
  std::unique_ptr<GrpcExpertBufferClient> client_;
};

TEST_F(GrpcServiceTest, LoadSampleReadAndStats) {
  auto loaded = client_->LoadDataset(Load("math", chord::v1::DATASET_KIND_TASKS, TaskLines(5)));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->name(), "math");
  EXPECT_EQ(loaded->kind(), chord::v1::DATASET_KIND_TASKS);
  EXPECT_EQ(loaded->num_records(), 5);
  EXPECT_TRUE(loaded->replaced());
  // Idempotent: the same call again changes nothing.
  auto again = client_->LoadDataset(Load("math", chord::v1::DATASET_KIND_TASKS, TaskLines(5)));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->replaced());
  EXPECT_EQ(again->version(), loaded->version());

  auto tasks = client_->SampleTasks(Sample("math", 7, "", 3));
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->tasks_size(), 7);
  EXPECT_EQ(tasks->epoch(), 1);
  EXPECT_FALSE(tasks->next_cursor().empty());
  const chord::v1::Task& task = tasks->tasks(0);
  EXPECT_EQ(task.kind(), "arithmetic");
  EXPECT_EQ(task.prompt(), absl::StrCat("q", task.answer()));
  EXPECT_EQ(task.meta_json(), absl::StrCat("{\"i\":", task.answer(), "}"));
  // Sampling is retry-safe: the same cursor gives the same batch.
  auto first = client_->SampleTasks(Sample("math", 4, tasks->next_cursor()));
  auto repeat = client_->SampleTasks(Sample("math", 4, tasks->next_cursor()));
  ASSERT_TRUE(first.ok() && repeat.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*first, *repeat));

  ASSERT_TRUE(
      client_->LoadDataset(Load("sft", chord::v1::DATASET_KIND_EXPERT, ExpertLines(3))).ok());
  auto expert = client_->SampleExpert(Sample("sft", 2));
  ASSERT_TRUE(expert.ok()) << expert.status();
  ASSERT_EQ(expert->samples_size(), 2);
  EXPECT_EQ(expert->samples(0).messages_size(), 2);
  EXPECT_THAT(expert->samples(0).id(), HasSubstr("sft:"));

  chord::v1::ReadTasksRequest read;
  read.set_dataset("math");
  read.set_offset(1);
  read.set_limit(2);
  auto slice = client_->ReadTasks(read);
  ASSERT_TRUE(slice.ok()) << slice.status();
  EXPECT_EQ(slice->total(), 5);
  ASSERT_EQ(slice->tasks_size(), 2);
  EXPECT_EQ(slice->tasks(0).prompt(), "q1");
  EXPECT_EQ(slice->tasks(0).id(), "math:2");

  auto stats = client_->Stats(chord::v1::StatsRequest());
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->datasets_size(), 2);
  EXPECT_EQ(stats->datasets(0).name(), "math");
  EXPECT_EQ(stats->datasets(0).samples_served(), 15);
  EXPECT_EQ(stats->datasets(0).max_epoch(), 2);
  EXPECT_EQ(stats->datasets(1).name(), "sft");
  EXPECT_EQ(stats->datasets(1).kind(), chord::v1::DATASET_KIND_EXPERT);
  chord::v1::StatsRequest one;
  one.set_dataset("sft");
  stats = client_->Stats(one);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->datasets_size(), 1);
  EXPECT_EQ(stats->datasets(0).num_records(), 3);
}

// A dataset larger than one message is read in pages of about rpc::kListPageBytes.
TEST_F(GrpcServiceTest, ReadTasksAnswersInPagesOfBoundedSize) {
  std::string text;
  const std::string long_question(1 << 20, 'q');  // ten tasks of 1 MiB: about 2.5 pages
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(&text, "{\"question\":\"", long_question, i, "\",\"answer\":", i, "}\n");
  }
  ASSERT_TRUE(client_->LoadDataset(Load("big", chord::v1::DATASET_KIND_TASKS, text)).ok());
  std::vector<std::string> answers;
  int pages = 0;
  int64_t offset = 0;
  while (offset < 10) {
    chord::v1::ReadTasksRequest read;
    read.set_dataset("big");
    read.set_offset(offset);
    auto page = client_->ReadTasks(read);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_GT(page->tasks_size(), 0) << "offset " << offset;
    EXPECT_EQ(page->total(), 10);
    int64_t bytes = 0;
    for (const auto& task : page->tasks()) {
      bytes += static_cast<int64_t>(task.ByteSizeLong());
      answers.push_back(task.answer());
    }
    EXPECT_LE(bytes, rpc::kListPageBytes) << "offset " << offset;
    offset += page->tasks_size();
    ++pages;
  }
  EXPECT_EQ(pages, 4);  // 3 + 3 + 3 + 1 tasks of a little over 1 MiB each
  ASSERT_EQ(answers.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(answers[static_cast<size_t>(i)], absl::StrCat(i));
}

TEST_F(GrpcServiceTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  ASSERT_TRUE(client_->LoadDataset(Load("t", chord::v1::DATASET_KIND_TASKS, TaskLines(3))).ok());

  ExpectInvalid(client_->LoadDataset(Load("", chord::v1::DATASET_KIND_TASKS, "x")).status(),
                "name");
  ExpectInvalid(client_->LoadDataset(Load("a b", chord::v1::DATASET_KIND_TASKS, "x")).status(),
                "name");
  ExpectInvalid(
      client_->LoadDataset(Load("t", chord::v1::DATASET_KIND_UNSPECIFIED, TaskLines(1))).status(),
      "kind");
  ExpectInvalid(
      client_->LoadDataset(Load("t", static_cast<chord::v1::DatasetKind>(7), TaskLines(1)))
          .status(),
      "kind");
  LoadDatasetRequest both = Load("t", chord::v1::DATASET_KIND_TASKS, TaskLines(1));
  both.set_path("/tmp/x.jsonl");
  auto status = client_->LoadDataset(both).status();
  ExpectInvalid(status, "path");
  EXPECT_THAT(std::string(status.message()), HasSubstr("both are set"));
  status = client_->LoadDataset(Load("t", chord::v1::DATASET_KIND_TASKS, "")).status();
  ExpectInvalid(status, "path");
  EXPECT_THAT(std::string(status.message()), HasSubstr("neither is set"));
  status =
      client_->LoadDataset(Load("t", chord::v1::DATASET_KIND_TASKS, "{\"prompt\":1}\n")).status();
  EXPECT_EQ(std::string(status.message()),
            "LoadDataset: <inline:t>:1: prompt: must be a non-empty string (got number)");

  ExpectInvalid(client_->SampleTasks(Sample("t", 0)).status(), "n");
  ExpectInvalid(client_->SampleTasks(Sample("t", -5)).status(), "n");
  ExpectInvalid(client_->SampleTasks(Sample("t", 1001)).status(), "n");
  ExpectInvalid(client_->SampleExpert(Sample("", 1)).status(), "dataset");
  ExpectInvalid(client_->SampleTasks(Sample("t", 1, "forged")).status(), "cursor");

  chord::v1::ReadTasksRequest read;
  read.set_dataset("t");
  read.set_offset(-1);
  ExpectInvalid(client_->ReadTasks(read).status(), "offset");

  EXPECT_EQ(client_->SampleTasks(Sample("missing", 1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->SampleExpert(Sample("t", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  chord::v1::StatsRequest stats;
  stats.set_dataset("missing");
  EXPECT_EQ(client_->Stats(stats).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(GrpcServiceTest, InProcessClientAnswersExactlyLikeTheService) {
  auto fake = InProcessExpertBufferClient::Create();
  ASSERT_TRUE(fake.ok()) << fake.status();
  std::vector<LoadDatasetRequest> loads = {
      Load("t", chord::v1::DATASET_KIND_TASKS, TaskLines(9)),
      Load("e", chord::v1::DATASET_KIND_EXPERT, ExpertLines(4)),
      Load("", chord::v1::DATASET_KIND_TASKS, "x"),
      Load("t", chord::v1::DATASET_KIND_UNSPECIFIED, "x"),
  };
  for (const LoadDatasetRequest& request : loads) {
    auto real = client_->LoadDataset(request);
    auto faked = (*fake)->LoadDataset(request);
    ASSERT_EQ(real.ok(), faked.ok());
    if (real.ok()) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*real, *faked));
    } else {
      EXPECT_EQ(real.status().code(), faked.status().code());
      // The client prefixes the RPC name to remote errors.
      EXPECT_EQ(real.status().message(), absl::StrCat("LoadDataset: ", faked.status().message()));
    }
  }
  std::string real_cursor, fake_cursor;
  for (int n : {3, 5, 11}) {
    auto real = client_->SampleTasks(Sample("t", n, real_cursor, 42));
    auto faked = (*fake)->SampleTasks(Sample("t", n, fake_cursor, 42));
    ASSERT_TRUE(real.ok() && faked.ok());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*real, *faked));
    real_cursor = real->next_cursor();
    fake_cursor = faked->next_cursor();
  }
  auto real = client_->SampleExpert(Sample("e", 6, "", 1));
  auto faked = (*fake)->SampleExpert(Sample("e", 6, "", 1));
  ASSERT_TRUE(real.ok() && faked.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*real, *faked));
  EXPECT_EQ((*fake)->SampleExpert(Sample("e", 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GrpcClientTest, UnreachableServerIsUnavailableAfterItsDeadline) {
  rpc::ClientOptions options;
  options.max_attempts = 2;
  options.initial_backoff = absl::Milliseconds(10);
  options.attempt_deadline = absl::Seconds(2);
  options.total_deadline = absl::Seconds(5);
  // Port 1 on loopback: nothing listens there.
  auto client = GrpcExpertBufferClient::Create("127.0.0.1:1", options);
  ASSERT_TRUE(client.ok());
  auto status = (*client)->Stats(chord::v1::StatsRequest()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("Stats: "));
  EXPECT_EQ(GrpcExpertBufferClient::Create("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chord::expert_buffer
