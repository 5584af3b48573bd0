#include "services/expert_buffer/expert_buffer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "prometheus/text_serializer.h"
#include "services/expert_buffer/sampler.h"

namespace chord::expert_buffer {
namespace {

using ::testing::HasSubstr;

std::string TaskLines(int count, absl::string_view tag = "q") {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "{\"prompt\":\"", tag, " ", i, "\",\"answer\":\"", i, "\"}\n");
  }
  return text;
}

std::string ExpertLines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "{\"prompt\":\"p", i, "\",\"response\":\"r", i, "\"}\n");
  }
  return text;
}

class ExpertBufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chord_expert_buffer_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ExpertBuffer> Make(ExpertBufferOptions options = ExpertBufferOptions(),
                                     prometheus::Registry* registry = nullptr) {
    options.load_threads = 2;
    auto buffer = ExpertBuffer::Create(options, registry);
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    return buffer.ok() ? std::move(*buffer) : nullptr;
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(files::WriteFileAtomically(path, content).ok());
    return path;
  }

  // Prompts of `n` tasks drawn from `dataset` continuing from `*cursor`.
  static std::vector<std::string> Draw(ExpertBuffer& buffer, const std::string& dataset, int n,
                                       std::string* cursor, uint64_t seed = 1) {
    auto result = buffer.Sample(dataset, dataset::DatasetKind::kTasks, n, *cursor, seed);
    EXPECT_TRUE(result.ok()) << result.status();
    std::vector<std::string> prompts;
    if (!result.ok()) return prompts;
    for (int64_t i : result->indices) prompts.push_back(result->dataset->task(i).prompt());
    *cursor = result->next_cursor;
    return prompts;
  }

  std::string dir_;
};

TEST_F(ExpertBufferTest, LoadSampleAndStats) {
  auto buffer = Make();
  auto loaded = buffer->LoadContent("math", dataset::DatasetKind::kTasks, TaskLines(10));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->name, "math");
  EXPECT_EQ(loaded->num_records, 10);
  EXPECT_EQ(loaded->version.size(), 16u);
  EXPECT_TRUE(loaded->replaced);

  std::string cursor;
  std::vector<std::string> first = Draw(*buffer, "math", 10, &cursor, 9);
  std::vector<std::string> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "repeat within an epoch";
  auto next = buffer->Sample("math", dataset::DatasetKind::kTasks, 3, cursor, 0);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->epoch, 1);

  auto stats = buffer->Stats("");
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->size(), 1u);
  const DatasetStats& s = (*stats)[0];
  EXPECT_EQ(s.name, "math");
  EXPECT_EQ(s.kind, dataset::DatasetKind::kTasks);
  EXPECT_EQ(s.num_records, 10);
  EXPECT_EQ(s.version, loaded->version);
  EXPECT_EQ(s.source_path, "");
  EXPECT_EQ(s.source_bytes, static_cast<int64_t>(TaskLines(10).size()));
  EXPECT_EQ(s.samples_served, 13);
  EXPECT_EQ(s.max_epoch, 1);
  EXPECT_GT(s.loaded_at_unix, 1700000000);
}

TEST_F(ExpertBufferTest, SameSeedSameSequenceAcrossBuffers) {
  auto a = Make();
  auto b = Make();
  ASSERT_TRUE(a->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(50)).ok());
  ASSERT_TRUE(b->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(50)).ok());
  std::string ca, cb;
  EXPECT_EQ(Draw(*a, "t", 120, &ca, 5), Draw(*b, "t", 120, &cb, 5));
  std::string cc;
  EXPECT_NE(Draw(*a, "t", 50, &cc, 6), Draw(*b, "t", 50, &cb, 5));
}

TEST_F(ExpertBufferTest, FailedReloadKeepsTheOldVersionServed) {
  auto buffer = Make();
  auto loaded = buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(5));
  ASSERT_TRUE(loaded.ok());
  std::string cursor;
  Draw(*buffer, "t", 2, &cursor);

  std::string bad = TaskLines(3) + "{\"prompt\":\"x\"}\n";
  auto failed = buffer->LoadContent("t", dataset::DatasetKind::kTasks, bad);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(failed.status().message(), "<inline:t>:4: answer: missing");
  std::string path = WriteFile("bad.jsonl", bad);
  failed = buffer->LoadFile("t", dataset::DatasetKind::kTasks, path);
  EXPECT_EQ(failed.status().message(), path + ":4: answer: missing");

  EXPECT_EQ(buffer->Find("t")->version(), loaded->version);
  EXPECT_EQ(buffer->Find("t")->size(), 5);
  // The old cursor still works.
  EXPECT_EQ(Draw(*buffer, "t", 3, &cursor).size(), 3u);
}

TEST_F(ExpertBufferTest, ReloadIsIdempotentAndReplacementInvalidatesCursors) {
  auto buffer = Make();
  auto first = buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(5));
  ASSERT_TRUE(first.ok());
  std::string cursor;
  Draw(*buffer, "t", 2, &cursor);

  auto again = buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(5));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->replaced);
  EXPECT_EQ(again->version, first->version);
  // Loading the same bytes from a file is the same version too.
  auto from_file =
      buffer->LoadFile("t", dataset::DatasetKind::kTasks, WriteFile("t.jsonl", TaskLines(5)));
  ASSERT_TRUE(from_file.ok());
  EXPECT_FALSE(from_file->replaced);
  EXPECT_EQ(Draw(*buffer, "t", 1, &cursor).size(), 1u);

  auto changed = buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(6));
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->replaced);
  EXPECT_NE(changed->version, first->version);
  auto stale = buffer->Sample("t", dataset::DatasetKind::kTasks, 1, cursor, 0);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stale.status().message()),
              HasSubstr("cursor: dataset \"t\" changed since the cursor was issued"));
}

TEST_F(ExpertBufferTest, SameContentAsAnotherKindIsANewVersion) {
  auto buffer = Make();
  std::string both = "{\"prompt\":\"p\",\"response\":\"r\",\"answer\":\"1\"}\n";
  auto expert = buffer->LoadContent("d", dataset::DatasetKind::kExpert, both);
  ASSERT_TRUE(expert.ok());
  auto tasks = buffer->LoadContent("d", dataset::DatasetKind::kTasks, both);
  ASSERT_TRUE(tasks.ok());
  EXPECT_TRUE(tasks->replaced);
  EXPECT_NE(tasks->version, expert->version);
  EXPECT_EQ(buffer->Find("d")->kind(), dataset::DatasetKind::kTasks);
}

TEST_F(ExpertBufferTest, RequestErrorsNameTheField) {
  ExpertBufferOptions options;
  options.max_sample = 100;
  auto buffer = Make(options);
  ASSERT_TRUE(buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(3)).ok());
  ASSERT_TRUE(buffer->LoadContent("e", dataset::DatasetKind::kExpert, ExpertLines(3)).ok());

  auto code = [](const auto& result) { return result.status().code(); };
  auto message = [](const auto& result) { return std::string(result.status().message()); };

  auto r = buffer->LoadContent("", dataset::DatasetKind::kTasks, TaskLines(1));
  EXPECT_EQ(message(r), "name: must not be empty");
  r = buffer->LoadContent("a/b", dataset::DatasetKind::kTasks, TaskLines(1));
  EXPECT_EQ(message(r), "name: must match [A-Za-z0-9_.-]{1,128} (got \"a/b\")");
  r = buffer->LoadContent(std::string(129, 'a'), dataset::DatasetKind::kTasks, TaskLines(1));
  EXPECT_EQ(code(r), absl::StatusCode::kInvalidArgument);
  r = buffer->LoadFile("x", dataset::DatasetKind::kTasks, dir_ + "/missing.jsonl");
  EXPECT_EQ(code(r), absl::StatusCode::kNotFound);
  EXPECT_THAT(message(r), HasSubstr("path: cannot open " + dir_ + "/missing.jsonl"));
  r = buffer->LoadContent("x", dataset::DatasetKind::kTasks, "\n");
  EXPECT_EQ(message(r), "<inline:x>: no records (the dataset is empty)");

  auto s = buffer->Sample("t", dataset::DatasetKind::kTasks, 0, "", 0);
  EXPECT_EQ(message(s), "n: must be in [1, 100] (got 0)");
  s = buffer->Sample("t", dataset::DatasetKind::kTasks, 101, "", 0);
  EXPECT_EQ(message(s), "n: must be in [1, 100] (got 101)");
  s = buffer->Sample("", dataset::DatasetKind::kTasks, 1, "", 0);
  EXPECT_EQ(message(s), "dataset: must not be empty");
  s = buffer->Sample("nope", dataset::DatasetKind::kTasks, 1, "", 0);
  EXPECT_EQ(code(s), absl::StatusCode::kNotFound);
  EXPECT_EQ(message(s), "dataset: no dataset named \"nope\" is loaded");
  s = buffer->Sample("e", dataset::DatasetKind::kTasks, 1, "", 0);
  EXPECT_EQ(code(s), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(message(s), "dataset: \"e\" holds expert demonstrations, not tasks");
  s = buffer->Sample("t", dataset::DatasetKind::kTasks, 1, "not a cursor", 0);
  EXPECT_EQ(code(s), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(message(s), HasSubstr("cursor: "));
  auto other = buffer->Sample("e", dataset::DatasetKind::kExpert, 1, "", 0);
  ASSERT_TRUE(other.ok());
  s = buffer->Sample("t", dataset::DatasetKind::kTasks, 1, other->next_cursor, 0);
  EXPECT_EQ(message(s), "cursor: issued for dataset \"e\", not \"t\"");

  auto t = buffer->ReadTasks("t", -1, 0);
  EXPECT_EQ(message(t), "offset: must be >= 0 (got -1)");
  t = buffer->ReadTasks("t", 0, -2);
  EXPECT_EQ(message(t), "limit: must be >= 0 (0 means all; got -2)");
  t = buffer->ReadTasks("t", 4, 0);
  EXPECT_EQ(code(t), absl::StatusCode::kOutOfRange);
  t = buffer->ReadTasks("e", 0, 0);
  EXPECT_EQ(code(t), absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(buffer->Stats("nope").status().code(), absl::StatusCode::kNotFound);
  // A name no dataset can have is refused as such (fuzz_expert_buffer_request).
  EXPECT_EQ(message(buffer->Stats("/etc/passwd")),
            "dataset: must match [A-Za-z0-9_.-]{1,128} (got \"/etc/passwd\")");
}

TEST_F(ExpertBufferTest, ReadTasksInFileOrder) {
  auto buffer = Make();
  ASSERT_TRUE(buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(10)).ok());
  auto slice = buffer->ReadTasks("t", 8, 5);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->begin, 8);
  EXPECT_EQ(slice->end, 10);
  EXPECT_EQ(slice->dataset->task(8).prompt(), "q 8");
  slice = buffer->ReadTasks("t", 0, 0);
  EXPECT_EQ(slice->end, 10);
  slice = buffer->ReadTasks("t", 10, 0);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->begin, slice->end);
}

TEST_F(ExpertBufferTest, MetricsFollowLoadsAndSamples) {
  prometheus::Registry registry;
  auto buffer = Make(ExpertBufferOptions(), &registry);
  ASSERT_TRUE(buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(4)).ok());
  EXPECT_FALSE(buffer->LoadContent("t", dataset::DatasetKind::kTasks, "{}").ok());
  std::string cursor;
  Draw(*buffer, "t", 6, &cursor);
  std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_records{dataset=\"t\",kind=\"tasks\"} 4"));
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_samples_served_total{dataset=\"t\"} 6"));
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_epoch{dataset=\"t\"} 1"));
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_loads_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_loads_total{result=\"error\"} 1"));
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_load_seconds_count 2"));
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_load_bytes_total"));

  // Re-loading the name as the other kind moves the records series.
  ASSERT_TRUE(buffer->LoadContent("t", dataset::DatasetKind::kExpert, ExpertLines(2)).ok());
  text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_THAT(text, HasSubstr("chord_expert_buffer_records{dataset=\"t\",kind=\"expert\"} 2"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("kind=\"tasks\"")));
}

TEST_F(ExpertBufferTest, StateDirRestoresDatasetsAndCursorsContinue) {
  ExpertBufferOptions options;
  options.state_dir = dir_ + "/state";
  std::string path = WriteFile("tasks.jsonl", TaskLines(23));
  std::vector<std::string> uninterrupted;
  {
    auto reference = Make();
    ASSERT_TRUE(reference->LoadFile("t", dataset::DatasetKind::kTasks, path).ok());
    std::string cursor;
    uninterrupted = Draw(*reference, "t", 60, &cursor, 11);
  }

  std::string saved_task_cursor, saved_expert_cursor;
  std::vector<std::string> resumed;
  std::string expert_version;
  {
    auto buffer = Make(options);
    ASSERT_TRUE(buffer->LoadFile("t", dataset::DatasetKind::kTasks, path).ok());
    auto expert = buffer->LoadContent("e", dataset::DatasetKind::kExpert, ExpertLines(4));
    ASSERT_TRUE(expert.ok());
    expert_version = expert->version;
    std::string cursor;
    resumed = Draw(*buffer, "t", 25, &cursor, 11);
    saved_task_cursor = cursor;
    auto sample = buffer->Sample("e", dataset::DatasetKind::kExpert, 3, "", 4);
    ASSERT_TRUE(sample.ok());
    saved_expert_cursor = sample->next_cursor;
  }
  EXPECT_TRUE(std::filesystem::exists(options.state_dir + "/manifest.json"));
  {
    // A new process (here: a new buffer) on the same state dir serves the same datasets.
    auto buffer = Make(options);
    ASSERT_NE(buffer->Find("t"), nullptr);
    ASSERT_NE(buffer->Find("e"), nullptr);
    EXPECT_EQ(buffer->Find("e")->version(), expert_version);
    EXPECT_EQ(buffer->Find("t")->source_path(), path);
    std::string cursor = saved_task_cursor;
    std::vector<std::string> rest = Draw(*buffer, "t", 35, &cursor, 0);
    resumed.insert(resumed.end(), rest.begin(), rest.end());
    EXPECT_EQ(resumed, uninterrupted);
    EXPECT_TRUE(buffer->Sample("e", dataset::DatasetKind::kExpert, 1, saved_expert_cursor, 0).ok());

    // Replacing inline content replaces its saved copy.
    ASSERT_TRUE(buffer->LoadContent("e", dataset::DatasetKind::kExpert, ExpertLines(5)).ok());
    int copies = 0;
    for (const auto& entry : std::filesystem::directory_iterator(options.state_dir + "/inline")) {
      (void)entry;
      ++copies;
    }
    EXPECT_EQ(copies, 1);
  }
  // A copy nothing refers to (left by a crash between saving it and the manifest) is removed.
  std::string stray = options.state_dir + "/inline/stray.jsonl";
  ASSERT_TRUE(files::WriteFileAtomically(stray, ExpertLines(1)).ok());
  {
    auto buffer = Make(options);
    ASSERT_NE(buffer->Find("e"), nullptr);
    EXPECT_EQ(buffer->Find("e")->size(), 5);
  }
  EXPECT_FALSE(std::filesystem::exists(stray));
}

TEST_F(ExpertBufferTest, StateDirErrorsAreClear) {
  ExpertBufferOptions options;
  options.state_dir = dir_ + "/state";
  std::string path = WriteFile("tasks.jsonl", TaskLines(3));
  {
    auto buffer = Make(options);
    ASSERT_TRUE(buffer->LoadFile("t", dataset::DatasetKind::kTasks, path).ok());
  }
  std::filesystem::remove(path);
  auto restarted = ExpertBuffer::Create(options, nullptr);
  EXPECT_EQ(restarted.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(restarted.status().message()),
              HasSubstr(options.state_dir + "/manifest.json: dataset \"t\": cannot open " + path));

  ASSERT_TRUE(files::WriteFileAtomically(options.state_dir + "/manifest.json", "{oops").ok());
  restarted = ExpertBuffer::Create(options, nullptr);
  EXPECT_EQ(restarted.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(restarted.status().message()), HasSubstr("unreadable manifest"));
}

TEST_F(ExpertBufferTest, RejectsBadOptions) {
  ExpertBufferOptions options;
  options.max_sample = 0;
  EXPECT_EQ(ExpertBuffer::Create(options, nullptr).status().message(),
            "max_sample: must be >= 1 (got 0)");
  options = ExpertBufferOptions();
  options.load_threads = -1;
  EXPECT_EQ(ExpertBuffer::Create(options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ExpertBufferTest, SamplingRacesWithReloadsSafely) {
  auto buffer = Make();
  ASSERT_TRUE(buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(100)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> samplers;
  for (int t = 0; t < 2; ++t) {
    samplers.emplace_back([&] {
      while (!stop.load()) {
        auto result = buffer->Sample("t", dataset::DatasetKind::kTasks, 16, "", 1);
        if (!result.ok() || result->indices.size() != 16) {
          ++failures;
          continue;
        }
        for (int64_t i : result->indices) {
          if (result->dataset->task(i).prompt().empty()) ++failures;
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        buffer->LoadContent("t", dataset::DatasetKind::kTasks, TaskLines(100 + i % 3, "v")).ok());
  }
  stop = true;
  for (std::thread& t : samplers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace chord::expert_buffer
