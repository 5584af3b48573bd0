// Integration tests of the real chord-expert-buffer binary: started on 127.0.0.1 port 0 as a child
// process, reached through the generated gRPC client (GrpcExpertBufferClient), stopped by pid.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "services/expert_buffer/grpc_client.h"
#include "tests/support/child_process.h"

namespace chord::expert_buffer {
namespace {

using chord::testing::ServiceProcess;
using chord::testing::StartService;
using chord::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kBinary[] = "chord-expert-buffer";

std::string TaskLines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "{\"prompt\":\"What is ", i, " + 1?\",\"answer\":", i + 1,
                    ",\"kind\":\"arithmetic\"}\n");
  }
  return text;
}

std::string ExpertLines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "{\"messages\":[{\"role\":\"user\",\"content\":\"Say ", i,
                    "\"},{\"role\":\"assistant\",\"content\":\"", i, "\"}]}\n");
  }
  return text;
}

std::unique_ptr<GrpcExpertBufferClient> Connect(const ServiceProcess& service) {
  rpc::ClientOptions options;
  options.attempt_deadline = absl::Seconds(20);
  auto client = GrpcExpertBufferClient::Create(service.address(), options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

chord::v1::LoadDatasetRequest LoadPath(const std::string& name, chord::v1::DatasetKind kind,
                                       const std::string& path) {
  chord::v1::LoadDatasetRequest request;
  request.set_name(name);
  request.set_kind(kind);
  request.set_path(path);
  return request;
}

chord::v1::LoadDatasetRequest LoadInline(const std::string& name, chord::v1::DatasetKind kind,
                                         const std::string& content) {
  chord::v1::LoadDatasetRequest request;
  request.set_name(name);
  request.set_kind(kind);
  request.set_content(content);
  return request;
}

// Draws `n` tasks continuing from `*cursor` (seed only read when it is empty); returns their ids.
std::vector<std::string> DrawTasks(ExpertBufferClient& client, const std::string& dataset, int n,
                                   std::string* cursor, uint64_t seed) {
  chord::v1::SampleRequest request;
  request.set_dataset(dataset);
  request.set_n(n);
  request.set_cursor(*cursor);
  request.set_seed(seed);
  auto response = client.SampleTasks(request);
  EXPECT_TRUE(response.ok()) << response.status();
  std::vector<std::string> ids;
  if (!response.ok()) return ids;
  for (const auto& task : response->tasks()) ids.push_back(task.id());
  *cursor = response->next_cursor();
  return ids;
}

std::vector<std::string> DrawExpert(ExpertBufferClient& client, const std::string& dataset, int n,
                                    std::string* cursor, uint64_t seed) {
  chord::v1::SampleRequest request;
  request.set_dataset(dataset);
  request.set_n(n);
  request.set_cursor(*cursor);
  request.set_seed(seed);
  auto response = client.SampleExpert(request);
  EXPECT_TRUE(response.ok()) << response.status();
  std::vector<std::string> ids;
  if (!response.ok()) return ids;
  for (const auto& sample : response->samples()) ids.push_back(sample.id());
  *cursor = response->next_cursor();
  return ids;
}

void Append(std::vector<std::string>* to, const std::vector<std::string>& more) {
  to->insert(to->end(), more.begin(), more.end());
}

// Closes the client's channel (an idle channel is only polled every few seconds, which would
// hold up the server's graceful shutdown), sends SIGTERM, and checks the process exited on its own
// with status 0.
void StopCleanly(ServiceProcess& service, std::unique_ptr<GrpcExpertBufferClient>& client) {
  client.reset();
  int status = service.process->Stop(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(status)) << "killed by a signal: " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ExpertBufferIntegrationTest, RestartWithSavedCursorContinuesTheSequenceExactly) {
  TempDir dir;
  std::string tasks_path = dir.File("tasks.jsonl");
  ASSERT_TRUE(files::WriteFileAtomically(tasks_path, TaskLines(37)).ok());
  const std::string expert_content = ExpertLines(23);

  // One uninterrupted run.
  std::vector<std::string> tasks_uninterrupted, expert_uninterrupted;
  {
    TempDir run_dir;
    auto service =
        StartService(kBinary, {"--state_dir=" + run_dir.File("state"), "--data_root=" + dir.path()},
                     run_dir.path());
    ASSERT_TRUE(service.ok()) << service.status();
    auto client = Connect(*service);
    ASSERT_TRUE(
        client->LoadDataset(LoadPath("math", chord::v1::DATASET_KIND_TASKS, tasks_path)).ok());
    ASSERT_TRUE(
        client->LoadDataset(LoadInline("sft", chord::v1::DATASET_KIND_EXPERT, expert_content))
            .ok());
    std::string task_cursor, expert_cursor;
    for (int i = 0; i < 4; ++i) {
      Append(&tasks_uninterrupted, DrawTasks(*client, "math", 25, &task_cursor, 1234));
      Append(&expert_uninterrupted, DrawExpert(*client, "sft", 15, &expert_cursor, 99));
    }
    StopCleanly(*service, client);
  }
  ASSERT_EQ(tasks_uninterrupted.size(), 100u);

  // The same draws split by a restart: the cursor saved before it continues after it.
  // Each process gets its own run directory (port files, log); the state dir is shared.
  std::string state = dir.File("state");
  std::string task_cursor, expert_cursor;
  std::vector<std::string> tasks_resumed, expert_resumed;
  {
    TempDir run_dir;
    auto service = StartService(kBinary, {"--state_dir=" + state, "--data_root=" + dir.path()},
                                run_dir.path());
    ASSERT_TRUE(service.ok()) << service.status();
    auto client = Connect(*service);
    ASSERT_TRUE(
        client->LoadDataset(LoadPath("math", chord::v1::DATASET_KIND_TASKS, tasks_path)).ok());
    ASSERT_TRUE(
        client->LoadDataset(LoadInline("sft", chord::v1::DATASET_KIND_EXPERT, expert_content))
            .ok());
    Append(&tasks_resumed, DrawTasks(*client, "math", 25, &task_cursor, 1234));
    Append(&tasks_resumed, DrawTasks(*client, "math", 15, &task_cursor, 1234));
    Append(&expert_resumed, DrawExpert(*client, "sft", 29, &expert_cursor, 99));
    StopCleanly(*service, client);
  }
  {
    // No LoadDataset after the restart: the state dir brings both datasets back.
    TempDir run_dir;
    auto service = StartService(kBinary, {"--state_dir=" + state, "--data_root=" + dir.path()},
                                run_dir.path());
    ASSERT_TRUE(service.ok()) << service.status();
    auto client = Connect(*service);
    auto stats = client->Stats(chord::v1::StatsRequest());
    ASSERT_TRUE(stats.ok()) << stats.status();
    ASSERT_EQ(stats->datasets_size(), 2);
    EXPECT_EQ(stats->datasets(0).name(), "math");
    EXPECT_EQ(stats->datasets(0).source_path(), tasks_path);
    EXPECT_EQ(stats->datasets(1).name(), "sft");
    EXPECT_EQ(stats->datasets(1).source_path(), "");
    // Different piece sizes on purpose: only the cursor carries the position.
    Append(&tasks_resumed, DrawTasks(*client, "math", 60, &task_cursor, 0));
    Append(&expert_resumed, DrawExpert(*client, "sft", 31, &expert_cursor, 0));
    StopCleanly(*service, client);
  }
  EXPECT_EQ(tasks_resumed, tasks_uninterrupted);
  EXPECT_EQ(expert_resumed, expert_uninterrupted);
}

TEST(ExpertBufferIntegrationTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  TempDir dir;
  auto service =
      StartService(kBinary, {"--max_sample=50", "--data_root=" + dir.path()}, dir.path());
  ASSERT_TRUE(service.ok()) << service.status();
  auto client = Connect(*service);
  ASSERT_TRUE(
      client->LoadDataset(LoadInline("t", chord::v1::DATASET_KIND_TASKS, TaskLines(5))).ok());

  auto expect_invalid = [](const absl::Status& status, absl::string_view field) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(absl::StrCat(": ", field, ": ")))
        << status;
  };
  expect_invalid(client->LoadDataset(LoadInline("", chord::v1::DATASET_KIND_TASKS, "x")).status(),
                 "name");
  expect_invalid(
      client->LoadDataset(LoadInline("t", chord::v1::DATASET_KIND_UNSPECIFIED, TaskLines(1)))
          .status(),
      "kind");
  auto both = LoadInline("t", chord::v1::DATASET_KIND_TASKS, TaskLines(1));
  both.set_path(dir.File("x.jsonl"));
  expect_invalid(client->LoadDataset(both).status(), "path");
  expect_invalid(client->LoadDataset(LoadInline("t", chord::v1::DATASET_KIND_TASKS, "")).status(),
                 "path");

  chord::v1::SampleRequest sample;
  sample.set_dataset("t");
  sample.set_n(0);
  expect_invalid(client->SampleTasks(sample).status(), "n");
  sample.set_n(51);
  expect_invalid(client->SampleTasks(sample).status(), "n");
  sample.set_n(1);
  sample.set_cursor("ebc1:t:0000000000000000:1:0:0:0000000000000000");
  expect_invalid(client->SampleTasks(sample).status(), "cursor");
  sample.clear_cursor();
  sample.set_dataset("no/such");
  expect_invalid(client->SampleTasks(sample).status(), "dataset");
  sample.set_dataset("nosuch");
  EXPECT_EQ(client->SampleTasks(sample).status().code(), absl::StatusCode::kNotFound);
  StopCleanly(*service, client);
}

TEST(ExpertBufferIntegrationTest, BadDatasetFileFailsWithLineAndFieldAndOldVersionStaysServed) {
  TempDir dir;
  std::string path = dir.File("tasks.jsonl");
  ASSERT_TRUE(files::WriteFileAtomically(path, TaskLines(4)).ok());
  auto service = StartService(kBinary, {"--data_root=" + dir.path()}, dir.path());
  ASSERT_TRUE(service.ok()) << service.status();
  auto client = Connect(*service);
  auto loaded = client->LoadDataset(LoadPath("t", chord::v1::DATASET_KIND_TASKS, path));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::string cursor;
  DrawTasks(*client, "t", 2, &cursor, 5);

  ASSERT_TRUE(files::WriteFileAtomically(
                  path, TaskLines(2) + "{\"prompt\":\"x\",\"answer\":\"1\",\"meta\":[1]}\n")
                  .ok());
  auto failed = client->LoadDataset(LoadPath("t", chord::v1::DATASET_KIND_TASKS, path));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr(path + ":3: meta: must be an object (got array)"));

  chord::v1::StatsRequest request;
  request.set_dataset("t");
  auto stats = client->Stats(request);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->datasets(0).version(), loaded->version());
  EXPECT_EQ(stats->datasets(0).num_records(), 4);
  EXPECT_EQ(DrawTasks(*client, "t", 2, &cursor, 0).size(), 2u);
  StopCleanly(*service, client);
}

TEST(ExpertBufferIntegrationTest, PreloadFlagServesAndABadPreloadFailsTheStart) {
  TempDir dir;
  std::string good = dir.File("good.jsonl");
  std::string bad = dir.File("bad.jsonl");
  ASSERT_TRUE(files::WriteFileAtomically(good, TaskLines(3)).ok());
  ASSERT_TRUE(files::WriteFileAtomically(bad, ExpertLines(1) + "{\"prompt\":\"p\"}\n").ok());
  {
    TempDir run_dir;
    auto service = StartService(kBinary,
                                {"--data_root=" + dir.path(), "--dataset=a=tasks:" + good,
                                 "--dataset", "b=expert:" + dir.File("e.jsonl")},
                                run_dir.path());
    ASSERT_FALSE(service.ok()) << "e.jsonl does not exist";
    EXPECT_THAT(std::string(service.status().message()),
                HasSubstr("--dataset b: path: cannot open " + dir.File("e.jsonl")));
  }
  ASSERT_TRUE(files::WriteFileAtomically(dir.File("e.jsonl"), ExpertLines(2)).ok());
  {
    TempDir run_dir;
    auto service = StartService(kBinary,
                                {"--data_root=" + dir.path(), "--dataset=a=tasks:" + good,
                                 "--dataset", "b=expert:" + dir.File("e.jsonl")},
                                run_dir.path());
    ASSERT_TRUE(service.ok()) << service.status();
    auto client = Connect(*service);
    auto stats = client->Stats(chord::v1::StatsRequest());
    ASSERT_TRUE(stats.ok());
    ASSERT_EQ(stats->datasets_size(), 2);
    EXPECT_EQ(stats->datasets(0).num_records(), 3);
    EXPECT_EQ(stats->datasets(1).kind(), chord::v1::DATASET_KIND_EXPERT);
    StopCleanly(*service, client);
  }
  TempDir bad_dir;
  auto service = StartService(kBinary, {"--data_root=" + dir.path(), "--dataset=x=expert:" + bad},
                              bad_dir.path());
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()), HasSubstr(bad + ":2: response: missing"));
}

// Every way out of --data_root is refused with the path in the message, none of them blocks or
// grows the service, and a valid load right after each works.
TEST(ExpertBufferIntegrationTest, PathEscapesAreRefusedAndTheServiceKeepsServing) {
  TempDir dir;
  const std::string root = dir.File("data");
  std::filesystem::create_directories(root);
  ASSERT_TRUE(files::WriteFileAtomically(root + "/tasks.jsonl", TaskLines(5)).ok());
  ASSERT_TRUE(files::WriteFileAtomically(dir.File("outside.jsonl"), TaskLines(2)).ok());
  std::filesystem::create_symlink(dir.File("outside.jsonl"), root + "/link-out.jsonl");
  ASSERT_EQ(mkfifo((root + "/fifo.jsonl").c_str(), 0600), 0);
  // 1 MiB + a few bytes of valid records: over --max_dataset_mb=1.
  std::string big;
  while (big.size() <= (1u << 20)) big += TaskLines(100);
  ASSERT_TRUE(files::WriteFileAtomically(root + "/big.jsonl", big).ok());

  TempDir run_dir;
  auto service =
      StartService(kBinary, {"--data_root=" + root, "--max_dataset_mb=1"}, run_dir.path());
  ASSERT_TRUE(service.ok()) << service.status();
  auto client = Connect(*service);
  struct Escape {
    std::string path;
    absl::StatusCode code;
    std::string says;
  };
  const std::vector<Escape> escapes = {
      {"../outside.jsonl", absl::StatusCode::kPermissionDenied, "outside the data root"},
      {root + "/../outside.jsonl", absl::StatusCode::kPermissionDenied, "outside the data root"},
      {dir.File("outside.jsonl"), absl::StatusCode::kPermissionDenied, "outside the data root"},
      {root + "/link-out.jsonl", absl::StatusCode::kPermissionDenied, "outside the data root"},
      {"/dev/zero", absl::StatusCode::kPermissionDenied, "outside the data root"},
      {"fifo.jsonl", absl::StatusCode::kInvalidArgument, "a FIFO, not a regular file"},
      {root + "/big.jsonl", absl::StatusCode::kInvalidArgument,
       "bytes exceed the limit of 1048576 bytes per file"},
  };
  for (const Escape& escape : escapes) {
    auto refused = client->LoadDataset(LoadPath("t", chord::v1::DATASET_KIND_TASKS, escape.path));
    EXPECT_EQ(refused.status().code(), escape.code) << escape.path << ": " << refused.status();
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("path: " + escape.path + ": "));
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr(escape.says));
    // Still serving: a dataset under the root (absolute, then relative) loads right after.
    auto loaded =
        client->LoadDataset(LoadPath("t", chord::v1::DATASET_KIND_TASKS, root + "/tasks.jsonl"));
    ASSERT_TRUE(loaded.ok()) << "after " << escape.path << ": " << loaded.status();
    EXPECT_EQ(loaded->num_records(), 5);
  }
  auto relative = client->LoadDataset(LoadPath("r", chord::v1::DATASET_KIND_TASKS, "tasks.jsonl"));
  ASSERT_TRUE(relative.ok()) << relative.status();
  std::string cursor;
  EXPECT_EQ(DrawTasks(*client, "r", 3, &cursor, 1).size(), 3u);
  // Inline content is capped the same way.
  auto inline_big = client->LoadDataset(LoadInline("b", chord::v1::DATASET_KIND_TASKS, big));
  EXPECT_EQ(inline_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(inline_big.status().message()), HasSubstr("content: "));
  StopCleanly(*service, client);
}

TEST(ExpertBufferIntegrationTest, ADataRootThatDoesNotExistFailsTheStart) {
  TempDir dir;
  auto service =
      StartService(kBinary, {"--data_root=" + dir.File("missing")}, dir.path(), absl::Seconds(20));
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()),
              HasSubstr("the data root: " + dir.File("missing")));
}

TEST(ExpertBufferIntegrationTest, MetricsPassPromtoolAndNameTheServiceFamilies) {
  TempDir dir;
  auto service = StartService(kBinary, {}, dir.path());
  ASSERT_TRUE(service.ok()) << service.status();
  auto client = Connect(*service);
  ASSERT_TRUE(
      client->LoadDataset(LoadInline("sft", chord::v1::DATASET_KIND_EXPERT, ExpertLines(3))).ok());
  EXPECT_FALSE(client->LoadDataset(LoadInline("sft", chord::v1::DATASET_KIND_EXPERT, "{}")).ok());
  std::string cursor;
  DrawExpert(*client, "sft", 5, &cursor, 1);

  auto text = chord::testing::HttpGet(service->metrics_port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::Status promtool = chord::testing::PromtoolCheckMetrics(*text);
  EXPECT_TRUE(promtool.ok()) << promtool;
  for (const char* expected : {
           "chord_expert_buffer_records{dataset=\"sft\",kind=\"expert\"} 3",
           "chord_expert_buffer_samples_served_total{dataset=\"sft\"} 5",
           "chord_expert_buffer_epoch{dataset=\"sft\"} 1",
           "chord_expert_buffer_loads_total{result=\"ok\"} 1",
           "chord_expert_buffer_loads_total{result=\"error\"} 1",
           "chord_expert_buffer_load_seconds_count 2",
           "chord_expert_buffer_load_bytes_total",
           "chord_rpc_server_handled_total{code=\"OK\","
           "method=\"/chord.v1.ExpertBufferService/SampleExpert\"} 1",
           "chord_build_info{service=\"expert-buffer\"",
       }) {
    EXPECT_THAT(*text, HasSubstr(expected));
  }
  StopCleanly(*service, client);
}

}  // namespace
}  // namespace chord::expert_buffer
