#include "common/dataset/dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "google/protobuf/util/message_differencer.h"

namespace chord::dataset {
namespace {

using chord::v1::ExpertSample;
using chord::v1::Task;
using ::testing::HasSubstr;

std::string ExpertError(absl::string_view line) {
  auto parsed = ParseExpertRecord(line, "d:1");
  EXPECT_FALSE(parsed.ok()) << line;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

std::string TaskError(absl::string_view line) {
  auto parsed = ParseTaskRecord(line, "d:1");
  EXPECT_FALSE(parsed.ok()) << line;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(DatasetKindTest, Names) {
  EXPECT_EQ(DatasetKindName(DatasetKind::kExpert), "expert");
  EXPECT_EQ(DatasetKindName(DatasetKind::kTasks), "tasks");
  EXPECT_EQ(*ParseDatasetKind("expert"), DatasetKind::kExpert);
  EXPECT_EQ(*ParseDatasetKind("tasks"), DatasetKind::kTasks);
  EXPECT_EQ(ParseDatasetKind("task").status().message(),
            "dataset kind must be expert or tasks (got \"task\")");
}

TEST(ExpertRecordTest, ChatMessages) {
  auto sample = ParseExpertRecord(
      R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"2+2?"},)"
      R"({"role":"assistant","content":null,"tool_calls":[]},{"role":"tool","name":"calc",)"
      R"("content":"4"},{"role":"assistant","content":"4"}],"source":"x"})",
      "math:7");
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->id(), "math:7");
  ASSERT_EQ(sample->messages_size(), 5);
  EXPECT_EQ(sample->messages(0).role(), "system");
  EXPECT_EQ(sample->messages(0).content(), "Be brief.");
  EXPECT_EQ(sample->messages(2).content(), "");
  EXPECT_EQ(sample->messages(3).role(), "tool");
  EXPECT_EQ(sample->messages(3).name(), "calc");
  EXPECT_EQ(sample->messages(4).role(), "assistant");
  EXPECT_EQ(sample->messages(4).content(), "4");
}

TEST(ExpertRecordTest, PromptResponseBecomesUserAssistant) {
  auto sample =
      ParseExpertRecord(R"({"prompt":"Say hi","response":"hi\nthere","id":"greet-1"})", "d:3");
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->id(), "greet-1");
  ASSERT_EQ(sample->messages_size(), 2);
  EXPECT_EQ(sample->messages(0).role(), "user");
  EXPECT_EQ(sample->messages(0).content(), "Say hi");
  EXPECT_EQ(sample->messages(1).role(), "assistant");
  EXPECT_EQ(sample->messages(1).content(), "hi\nthere");
}

TEST(ExpertRecordTest, IntegerIdKeptAsText) {
  auto sample = ParseExpertRecord(R"({"id":1234,"prompt":"p","response":"r"})", "d:1");
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->id(), "1234");
}

TEST(ExpertRecordTest, EveryErrorNamesTheField) {
  EXPECT_EQ(ExpertError("[1]"), "the line must be a JSON object (got array)");
  EXPECT_EQ(ExpertError(R"({"messages":[})"),
            "invalid JSON: unexpected character '}' at column 14");
  EXPECT_EQ(ExpertError(R"({"text":"x"})"),
            "messages: missing (an expert record needs messages, or prompt and response)");
  EXPECT_EQ(ExpertError(R"({"messages":"hi"})"),
            "messages: must be an array of messages (got string)");
  EXPECT_EQ(ExpertError(R"({"messages":[]})"), "messages: must not be empty");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"user","content":"a"},"x"]})"),
            "messages[1]: must be an object (got string)");
  EXPECT_EQ(ExpertError(R"({"messages":[{"content":"a"}]})"), "messages[0].role: missing");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":1,"content":"a"}]})"),
            "messages[0].role: must be a string (got number)");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":)"
                        R"("b"},{"role":"bot","content":"c"}]})"),
            "messages[2].role: must be one of system, user, assistant, tool (got \"bot\")");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"user","content":["a"]}]})"),
            "messages[0].content: must be a string (got array)");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"user","content":"a","name":3}]})"),
            "messages[0].name: must be a string (got number)");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"user","role":"user","content":"a"}]})"),
            "messages[0].role: duplicate key");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"user","content":"a"}]})"),
            "messages[0].role: the last message must be the assistant's (the supervised target), "
            "got \"user\"");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant",)"
                        R"("content":""}]})"),
            "messages[1].content: must not be empty (the last assistant message is the "
            "supervised target)");
  EXPECT_EQ(ExpertError(R"({"messages":[{"role":"assistant","content":"a"}],"prompt":"p"})"),
            "messages: give either messages, or prompt and response, not both");
  EXPECT_EQ(ExpertError(R"({"prompt":"p"})"), "response: missing");
  EXPECT_EQ(ExpertError(R"({"response":"r"})"), "prompt: missing");
  EXPECT_EQ(ExpertError(R"({"prompt":"","response":"r"})"), "prompt: must be a non-empty string");
  EXPECT_EQ(ExpertError(R"({"prompt":"p","response":7})"),
            "response: must be a non-empty string (got number)");
  EXPECT_EQ(ExpertError(R"({"prompt":"p","response":"r","id":""})"),
            "id: must be a non-empty string");
  EXPECT_EQ(ExpertError(R"({"prompt":"p","response":"r","id":[1]})"),
            "id: must be a string (got array)");
  EXPECT_EQ(ExpertError(R"({"prompt":"p","response":"r","id":1.5})"),
            "id: must be a string or an integer (got 1.5)");
  EXPECT_EQ(ExpertError(R"({"prompt":"p","prompt":"q","response":"r"})"), "prompt: duplicate key");
}

TEST(TaskRecordTest, PromptQuestionAndMessageForms) {
  auto task = ParseTaskRecord(R"({"prompt":"1+1?","answer":"2","kind":"arithmetic"})", "t:1");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->id(), "t:1");
  EXPECT_EQ(task->prompt(), "1+1?");
  EXPECT_EQ(task->answer(), "2");
  EXPECT_EQ(task->kind(), "arithmetic");
  EXPECT_EQ(task->meta_json(), "");

  task = ParseTaskRecord(R"({"question":"Q","answer":42,"id":"q1"})", "t:2");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->id(), "q1");
  EXPECT_EQ(task->prompt(), "Q");
  EXPECT_EQ(task->answer(), "42");
  EXPECT_EQ(task->kind(), "");

  task = ParseTaskRecord(
      R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}],)"
      R"("answer":3.50,"kind":"countdown","meta":{ "numbers": [1, 2, 3], "target": 6 }})",
      "t:3");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->prompt(), "");
  ASSERT_EQ(task->messages_size(), 2);
  EXPECT_EQ(task->messages(1).content(), "U");
  EXPECT_EQ(task->answer(), "3.50");
  EXPECT_EQ(task->meta_json(), R"({"numbers":[1,2,3],"target":6})");

  // Null optional fields read as absent; unknown keys are ignored.
  task =
      ParseTaskRecord(R"({"prompt":"p","answer":"","kind":null,"meta":null,"extra":[1]})", "t:4");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->answer(), "");
}

TEST(TaskRecordTest, EveryErrorNamesTheField) {
  EXPECT_EQ(TaskError(R"({"answer":"1"})"),
            "prompt: missing (a task needs one of prompt, question, messages)");
  EXPECT_EQ(TaskError(R"({"prompt":"p","question":"q","answer":"1"})"),
            "prompt: give exactly one of prompt, question, messages (got prompt and question)");
  EXPECT_EQ(TaskError(R"({"question":"q","messages":[],"answer":"1"})"),
            "question: give exactly one of prompt, question, messages (got question and "
            "messages)");
  EXPECT_EQ(TaskError(R"({"prompt":"","answer":"1"})"), "prompt: must be a non-empty string");
  EXPECT_EQ(TaskError(R"({"question":{},"answer":"1"})"),
            "question: must be a non-empty string (got object)");
  EXPECT_EQ(TaskError(R"({"messages":[{"role":"user","content":"u"},{"role":"assistant",)"
                      R"("content":"a"}],"answer":"1"})"),
            "messages[1].role: a task's chat must end before the assistant's turn (got "
            "\"assistant\")");
  EXPECT_EQ(TaskError(R"({"messages":[{"role":"human","content":"u"}],"answer":"1"})"),
            "messages[0].role: must be one of system, user, assistant, tool (got \"human\")");
  EXPECT_EQ(TaskError(R"({"prompt":"p"})"), "answer: missing");
  EXPECT_EQ(TaskError(R"({"prompt":"p","answer":null})"),
            "answer: must be a string or a number (got null)");
  EXPECT_EQ(TaskError(R"({"prompt":"p","answer":[1]})"),
            "answer: must be a string or a number (got array)");
  EXPECT_EQ(TaskError(R"({"prompt":"p","answer":"1","kind":5})"),
            "kind: must be a string (a verifier name) (got number)");
  EXPECT_EQ(TaskError(R"({"prompt":"p","answer":"1","meta":"x"})"),
            "meta: must be an object (got string)");
  EXPECT_EQ(TaskError(R"({"prompt":"p","answer":"1","answer":"2"})"), "answer: duplicate key");
}

ParseOptions Options(const std::string& source, int threads = 1) {
  ParseOptions options;
  options.dataset_name = "ds";
  options.source = source;
  options.threads = threads;
  return options;
}

TEST(JsonlTest, SkipsBlankLinesAndNumbersLinesFromOne) {
  std::string text =
      "\xEF\xBB\xBF{\"prompt\":\"a\",\"answer\":\"1\"}\r\n"
      "\n"
      "   \t\n"
      "{\"prompt\":\"b\",\"answer\":\"2\"}\n"
      "{\"prompt\":\"c\",\"answer\":\"3\",\"id\":\"custom\"}";  // no final newline
  auto tasks = ParseTasksJsonl(text, Options("tasks.jsonl"));
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 3u);
  EXPECT_EQ((*tasks)[0].id(), "ds:1");
  EXPECT_EQ((*tasks)[0].prompt(), "a");
  EXPECT_EQ((*tasks)[1].id(), "ds:4");
  EXPECT_EQ((*tasks)[2].id(), "custom");

  auto records = ParseJsonl(DatasetKind::kTasks, text, Options("tasks.jsonl"));
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 3);
  EXPECT_EQ(records->lines, (std::vector<int64_t>{1, 4, 5}));
}

TEST(JsonlTest, ErrorsNameSourceLineAndField) {
  auto status = ParseTasksJsonl("{\"prompt\":\"a\",\"answer\":\"1\"}\n\n{\"prompt\":\"b\"}\n",
                                Options("tasks.jsonl"))
                    .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "tasks.jsonl:3: answer: missing");

  status = ParseExpertJsonl(
               "{\"prompt\":\"p\",\"response\":\"r\"}\n{\"messages\":[{\"role\":\"bot\"}]}\n",
               Options("<inline:x>"))
               .status();
  EXPECT_EQ(status.message(),
            "<inline:x>:2: messages[0].role: must be one of system, user, assistant, tool (got "
            "\"bot\")");

  status = ParseExpertJsonl("{\"prompt\":\"p\",\"response\":\"r\"}\n{oops}\n", Options("x.jsonl"))
               .status();
  EXPECT_EQ(status.message(), "x.jsonl:2: invalid JSON: expected a string key at column 2");
}

TEST(JsonlTest, RejectsEmptyDatasets) {
  for (const char* text : {"", "\n\n", "  \r\n\t\n"}) {
    auto status = ParseExpertJsonl(text, Options("empty.jsonl")).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), "empty.jsonl: no records (the dataset is empty)");
  }
}

TEST(JsonlTest, RejectsDuplicateIdsNamingBothLines) {
  auto status = ParseTasksJsonl(
                    "{\"prompt\":\"a\",\"answer\":\"1\",\"id\":\"q\"}\n"
                    "{\"prompt\":\"b\",\"answer\":\"1\"}\n"
                    "{\"prompt\":\"c\",\"answer\":\"1\",\"id\":\"q\"}\n",
                    Options("t.jsonl"))
                    .status();
  EXPECT_EQ(status.message(), "t.jsonl:3: id: duplicate \"q\" (first at line 1)");
  // An explicit id may collide with a default one.
  status = ParseTasksJsonl(
               "{\"prompt\":\"a\",\"answer\":\"1\"}\n"
               "{\"prompt\":\"b\",\"answer\":\"1\",\"id\":\"ds:1\"}\n",
               Options("t.jsonl"))
               .status();
  EXPECT_EQ(status.message(), "t.jsonl:2: id: duplicate \"ds:1\" (first at line 1)");
}

TEST(JsonlTest, RejectsLinesOverTheLimit) {
  ParseOptions options = Options("big.jsonl");
  options.max_line_bytes = 64;
  std::string text = "{\"prompt\":\"short\",\"answer\":\"1\"}\n{\"prompt\":\"" +
                     std::string(100, 'x') + "\",\"answer\":\"1\"}\n";
  auto status = ParseTasksJsonl(text, options).status();
  EXPECT_EQ(status.message(), "big.jsonl:2: line is 126 bytes, longer than the limit of 64 bytes");
}

std::string ManyExpertLines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, "{\"messages\":[{\"role\":\"user\",\"content\":\"question ", i,
                    "\"},{\"role\":\"assistant\",\"content\":\"answer ", i, " \\u00e9\"}]}\n");
    if (i % 100 == 0) text += "\n";
  }
  return text;
}

TEST(JsonlTest, ParallelParseEqualsSequentialParse) {
  std::string text = ManyExpertLines(20000);
  auto sequential = ParseJsonl(DatasetKind::kExpert, text, Options("x", 1));
  auto parallel = ParseJsonl(DatasetKind::kExpert, text, Options("x", 4));
  ASSERT_TRUE(sequential.ok()) << sequential.status();
  ASSERT_TRUE(parallel.ok()) << parallel.status();
  ASSERT_EQ(sequential->size(), 20000);
  ASSERT_EQ(parallel->size(), 20000);
  EXPECT_EQ(sequential->lines, parallel->lines);
  for (size_t i = 0; i < sequential->expert.size(); ++i) {
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(sequential->expert[i],
                                                                   parallel->expert[i]))
        << i;
  }
  EXPECT_EQ(parallel->expert[123].messages(1).content(), "answer 123 é");
}

TEST(JsonlTest, ParallelParseReportsTheFirstErrorInFileOrder) {
  std::vector<std::string> lines;
  std::string text = ManyExpertLines(20000);
  // Break two records far apart: the earlier one must be reported, whichever thread sees it.
  std::vector<std::string> split;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    split.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  split[15000] = "{\"prompt\":\"late\"}";
  split[9000] = "{\"messages\":[{\"role\":\"user\",\"content\":\"early\"}]}";
  std::string broken;
  for (const std::string& line : split) absl::StrAppend(&broken, line, "\n");
  for (int threads : {1, 2, 4, 8}) {
    auto status = ParseJsonl(DatasetKind::kExpert, broken, Options("x.jsonl", threads)).status();
    EXPECT_EQ(status.message(),
              "x.jsonl:9001: messages[0].role: the last message must be the assistant's (the "
              "supervised target), got \"user\"")
        << threads;
  }
}

TEST(JsonlTest, ReadFileNamesThePath) {
  char tmpl[] = "/tmp/chord_dataset_test_XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string path = tmpl;
  ASSERT_TRUE(files::WriteFileAtomically(path, "{\"prompt\":\"p\",\"answer\":\"1\"}\n{}\n").ok());
  auto tasks = ReadTasksFile(path, ParseOptions());
  EXPECT_EQ(tasks.status().message(),
            path + ":2: prompt: missing (a task needs one of prompt, question, messages)");
  ASSERT_TRUE(files::WriteFileAtomically(path, "{\"prompt\":\"p\",\"response\":\"r\"}\n").ok());
  auto expert = ReadExpertFile(path, ParseOptions());
  ASSERT_TRUE(expert.ok()) << expert.status();
  EXPECT_EQ((*expert)[0].id(), "dataset:1");
  std::remove(path.c_str());
  EXPECT_EQ(ReadExpertFile(path, ParseOptions()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(ReadExpertFile(path, ParseOptions()).status().message()),
              HasSubstr(path));
}

}  // namespace
}  // namespace chord::dataset
