#include "tools/datasets/synthetic_datasets.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/strings/str_split.h"
#include "common/files/file_io.h"
#include "tests/support/child_process.h"

namespace chord::datasets {
namespace {

std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::vector<nlohmann::json> records;
  auto text = files::ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    records.push_back(nlohmann::json::parse(line));
  }
  return records;
}

TEST(ArithmeticTest, WorkedSolutionsShowEveryColumn) {
  EXPECT_EQ(ArithmeticWorkedSolution({47, 85, '+'}), "7+5=12\n4+8+1=13\n\\boxed{132}");
  EXPECT_EQ(ArithmeticWorkedSolution({347, 85, '+'}), "7+5=12\n4+8+1=13\n3+0+1=4\n\\boxed{432}");
  EXPECT_EQ(ArithmeticWorkedSolution({12, 34, '+'}), "2+4=6\n1+3=4\n\\boxed{46}");
  EXPECT_EQ(ArithmeticWorkedSolution({85, 47, '-'}), "15-7=8\n8-4-1=3\n\\boxed{38}");
  EXPECT_EQ(ArithmeticWorkedSolution({100, 1, '-'}), "10-1=9\n10-0-1=9\n1-0-1=0\n\\boxed{99}");
  EXPECT_EQ(ArithmeticWorkedSolution({47, 8, '*'}), "7*8=56\n4*8+5=37\n\\boxed{376}");
  EXPECT_EQ(ArithmeticPrompt({47, 85, '+'}), "47+85=?");
  EXPECT_EQ(ArithmeticAnswer({85, 47, '-'}), 38);
}

TEST(ArithmeticTest, FilesAreDeterministicDisjointAndValid) {
  testing::TempDir dir;
  ArithmeticOptions options;
  options.num_tasks = 300;
  options.num_expert = 300;
  options.num_eval = 100;
  options.ops = "+-*";
  options.max_digits = 3;
  auto files = WriteArithmeticDatasets(dir.File("a"), options);
  ASSERT_TRUE(files.ok()) << files.status();
  auto again = WriteArithmeticDatasets(dir.File("b"), options);
  ASSERT_TRUE(again.ok());
  for (auto [x, y] : {std::pair{files->tasks, again->tasks},
                      {files->expert, again->expert},
                      {files->eval, again->eval}}) {
    EXPECT_EQ(*files::ReadFile(x), *files::ReadFile(y));
  }
  auto tasks = ReadJsonl(files->tasks);
  auto expert = ReadJsonl(files->expert);
  auto eval = ReadJsonl(files->eval);
  ASSERT_EQ(tasks.size(), 300u);
  ASSERT_EQ(expert.size(), 300u);
  ASSERT_EQ(eval.size(), 100u);
  std::set<std::string> train_prompts;
  for (const auto& t : tasks) {
    train_prompts.insert(t["prompt"].get<std::string>());
    EXPECT_EQ(t["kind"], "arithmetic");
  }
  for (const auto& e : expert) {
    ASSERT_EQ(e["messages"].size(), 2u);
    EXPECT_EQ(e["messages"][1]["role"], "assistant");
    train_prompts.insert(e["messages"][0]["content"].get<std::string>());
  }
  std::set<std::string> eval_prompts;
  for (const auto& t : eval) {
    std::string prompt = t["prompt"];
    EXPECT_EQ(train_prompts.count(prompt), 0u) << prompt << " is both held out and trained on";
    EXPECT_TRUE(eval_prompts.insert(prompt).second) << "duplicate eval problem " << prompt;
  }
}

TEST(ArithmeticTest, ImpossibleSizesNameTheOption) {
  testing::TempDir dir;
  ArithmeticOptions options;
  options.min_digits = options.max_digits = 1;
  options.num_tasks = 10;
  options.num_expert = 10;
  options.num_eval = 50;  // one-digit sums have only ~10 held-out problems
  auto files = WriteArithmeticDatasets(dir.File("x"), options);
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(files.status().message().find("num_eval"), absl::string_view::npos) << files.status();
  options.ops = "/";
  EXPECT_NE(WriteArithmeticDatasets(dir.File("x"), options).status().message().find("ops"),
            absl::string_view::npos);
}

TEST(CountdownTest, ProblemsAreSolvableByTheirDemonstration) {
  testing::TempDir dir;
  CountdownOptions options;
  options.num_tasks = 100;
  options.num_expert = 100;
  options.num_eval = 30;
  auto files = WriteCountdownDatasets(dir.File("c"), options);
  ASSERT_TRUE(files.ok()) << files.status();
  auto tasks = ReadJsonl(files->tasks);
  ASSERT_EQ(tasks.size(), 100u);
  for (const auto& t : tasks) {
    EXPECT_EQ(t["kind"], "countdown");
    EXPECT_EQ(t["meta"]["numbers"].size(), 3u);
    EXPECT_EQ(std::to_string(t["meta"]["target"].get<int64_t>()), t["answer"].get<std::string>());
  }
  auto eval = ReadJsonl(files->eval);
  std::set<std::string> train;
  for (const auto& t : tasks) train.insert(t["prompt"].get<std::string>());
  for (const auto& t : eval) EXPECT_EQ(train.count(t["prompt"].get<std::string>()), 0u);
}

}  // namespace
}  // namespace chord::datasets
