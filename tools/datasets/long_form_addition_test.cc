#include "tools/datasets/long_form_addition.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_split.h"
#include "common/files/file_io.h"
#include "tests/support/child_process.h"

namespace chord::datasets {
namespace {

std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::vector<nlohmann::json> records;
  auto text = files::ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return records;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    records.push_back(nlohmann::json::parse(line));
  }
  return records;
}

TEST(LongFormAdditionTest, NamesEveryColumnAndItsCarry) {
  EXPECT_EQ(LongFormSolution({347, 285, '+'}),
            "units 7+5=12 carry 1\ntens 4+8+1=13 carry 1\nhundreds 3+2+1=6\n\\boxed{632}");
  // A carry out of the last column gets its own line; a shorter operand is padded with 0.
  EXPECT_EQ(LongFormSolution({97, 8, '+'}),
            "units 7+8=15 carry 1\ntens 9+0+1=10 carry 1\nhundreds 1\n\\boxed{105}");
  EXPECT_EQ(LongFormSolution({12, 34, '+'}), "units 2+4=6\ntens 1+3=4\n\\boxed{46}");
  EXPECT_EQ(LongFormSolution({99999, 1, '+'}),
            "units 9+1=10 carry 1\ntens 9+0+1=10 carry 1\nhundreds 9+0+1=10 carry 1\n"
            "thousands 9+0+1=10 carry 1\ncolumn 5 9+0+1=10 carry 1\ncolumn 6 1\n"
            "\\boxed{100000}");
  // Other operators keep the quickstart's worked solution.
  EXPECT_EQ(LongFormSolution({85, 47, '-'}), ArithmeticWorkedSolution({85, 47, '-'}));
}

TEST(LongFormAdditionTest, TellsTheTwoStylesApart) {
  EXPECT_TRUE(IsLongForm(LongFormSolution({347, 285, '+'})));
  EXPECT_TRUE(IsLongForm("7+5=12\n  tens 4+8"));
  EXPECT_TRUE(IsLongForm("column 5 1"));
  EXPECT_FALSE(IsLongForm(ArithmeticWorkedSolution({347, 285, '+'})));
  EXPECT_FALSE(IsLongForm("the units digit is 2\n\\boxed{632}"));
  EXPECT_FALSE(IsLongForm("unitsx\n\\boxed{632}"));
  EXPECT_FALSE(IsLongForm(""));
}

TEST(LongFormAdditionTest, FilesAreDeterministicHeldOutAndInTheLongForm) {
  testing::TempDir dir;
  LongFormAdditionOptions options;
  options.num_tasks = 400;
  options.num_expert = 150;
  options.num_eval = 80;
  auto files = WriteLongFormAdditionDatasets(dir.File("target"), options);
  ASSERT_TRUE(files.ok()) << files.status();
  auto again = WriteLongFormAdditionDatasets(dir.File("again"), options);
  ASSERT_TRUE(again.ok()) << again.status();
  for (auto [x, y] : {std::pair{files->tasks, again->tasks},
                      {files->expert, again->expert},
                      {files->eval, again->eval}}) {
    EXPECT_EQ(*files::ReadFile(x), *files::ReadFile(y)) << x;
  }
  auto tasks = ReadJsonl(files->tasks);
  auto expert = ReadJsonl(files->expert);
  auto eval = ReadJsonl(files->eval);
  ASSERT_EQ(tasks.size(), 400u);
  ASSERT_EQ(expert.size(), 150u);
  ASSERT_EQ(eval.size(), 80u);
  std::set<std::string> trained;
  int three_digit = 0;
  for (const auto& t : tasks) {
    EXPECT_EQ(t["kind"], "arithmetic");
    std::string prompt = t["prompt"];
    trained.insert(prompt);
    if (prompt.find_first_of("+") >= 3) ++three_digit;
  }
  EXPECT_GT(three_digit, 100) << "operands of 2 and 3 digits are both drawn";
  for (const auto& e : expert) {
    ASSERT_EQ(e["messages"].size(), 2u);
    std::string prompt = e["messages"][0]["content"];
    std::string response = e["messages"][1]["content"];
    trained.insert(prompt);
    EXPECT_TRUE(IsLongForm(response)) << response;
    size_t plus = prompt.find('+');
    ArithmeticProblem problem{std::stoll(prompt.substr(0, plus)),
                              std::stoll(prompt.substr(plus + 1)), '+'};
    EXPECT_EQ(response, LongFormSolution(problem));
  }
  // Held out from this task's training data and from a quickstart arithmetic dataset (a base
  // model's training data) alike: the pool is IsHeldOut's.
  ArithmeticOptions base;
  base.min_digits = 1;
  base.max_digits = 3;
  base.num_tasks = 3000;
  base.num_expert = 3000;
  auto base_files = WriteArithmeticDatasets(dir.File("base"), base);
  ASSERT_TRUE(base_files.ok()) << base_files.status();
  for (const auto& t : ReadJsonl(base_files->tasks)) trained.insert(t["prompt"]);
  for (const auto& e : ReadJsonl(base_files->expert)) trained.insert(e["messages"][0]["content"]);
  for (const auto& t : eval) {
    std::string prompt = t["prompt"];
    EXPECT_EQ(trained.count(prompt), 0u) << prompt << " is both held out and trained on";
    EXPECT_TRUE(IsHeldOut({std::stoll(prompt.substr(0, prompt.find('+'))),
                           std::stoll(prompt.substr(prompt.find('+') + 1)), '+'}));
  }
}

TEST(LongFormAdditionTest, TheArithmeticVerifierReadsTheLongFormAnswer) {
  // chordctl scores in-process with the reward service's verifier library.
  testing::TempDir dir;
  ASSERT_TRUE(
      files::WriteFileAtomically(dir.File("response.txt"), LongFormSolution({347, 285, '+'})).ok());
  testing::CommandResult result =
      testing::RunCommand(testing::BinaryPath("chordctl") +
                          " reward score --verifier arithmetic --reference 632 --response-file " +
                          dir.File("response.txt"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("score 1.0  correct"), std::string::npos) << result.output;
}

TEST(LongFormAdditionTest, BadOptionsNameTheOption) {
  testing::TempDir dir;
  LongFormAdditionOptions options;
  options.max_digits = 12;
  auto files = WriteLongFormAdditionDatasets(dir.File("x"), options);
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(files.status().message().find("digits"), absl::string_view::npos) << files.status();
  options.max_digits = 2;
  options.num_expert = 0;
  files = WriteLongFormAdditionDatasets(dir.File("x"), options);
  EXPECT_NE(files.status().message().find("num_expert"), absl::string_view::npos) << files.status();
}

}  // namespace
}  // namespace chord::datasets
