#include "common/config/yaml_reader.h"

#include <gtest/gtest.h>

namespace chord::config {
namespace {

TEST(YamlReaderTest, ReadsTypedValuesAndCollectsEveryProblem) {
  auto node = ParseYaml(
      "name: job\nsteps: 10\nlr: 1e-3\nflag: true\nlist: [a, b]\n"
      "nested:\n  x: 2\n  typo: 3\nbad_int: ten\nextra: 1\n",
      "spec.yaml");
  ASSERT_TRUE(node.ok());
  std::vector<std::string> problems;
  YamlReader root(*node, "spec.yaml", &problems);
  std::string name;
  int64_t steps = 0;
  double lr = 0;
  bool flag = false;
  std::vector<std::string> list;
  int64_t bad = 0;
  std::string missing;
  EXPECT_TRUE(root.Read("name", &name, true));
  EXPECT_TRUE(root.Read("steps", &steps));
  EXPECT_TRUE(root.Read("lr", &lr));
  EXPECT_TRUE(root.Read("flag", &flag));
  EXPECT_TRUE(root.Read("list", &list));
  EXPECT_FALSE(root.Read("bad_int", &bad));
  EXPECT_FALSE(root.Read("model", &missing, true));
  YamlReader nested = root.Child("nested");
  int x = 0;
  EXPECT_TRUE(nested.Read("x", &x));
  nested.Finish();
  root.Finish();
  EXPECT_EQ(name, "job");
  EXPECT_EQ(steps, 10);
  EXPECT_DOUBLE_EQ(lr, 1e-3);
  EXPECT_TRUE(flag);
  EXPECT_EQ(list, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(x, 2);
  ASSERT_EQ(problems.size(), 4u) << ::testing::PrintToString(problems);
  EXPECT_EQ(problems[0], "spec.yaml:9: bad_int: expected an integer, got \"ten\"");
  EXPECT_EQ(problems[1], "spec.yaml: model: required");
  EXPECT_EQ(problems[2], "spec.yaml:8: nested.typo: unknown key");
  EXPECT_EQ(problems[3], "spec.yaml:10: extra: unknown key");
  absl::Status status = ProblemsToStatus(problems, "invalid job spec");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("4 problems"), absl::string_view::npos);
}

TEST(YamlReaderTest, NonMappingAndSyntaxErrors) {
  EXPECT_EQ(ParseYaml("a: [1,\n", "x.yaml").status().code(), absl::StatusCode::kInvalidArgument);
  auto node = ParseYaml("- 1\n- 2\n", "x.yaml");
  ASSERT_TRUE(node.ok());
  std::vector<std::string> problems;
  YamlReader root(*node, "x.yaml", &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("expected a mapping"), std::string::npos);
  auto child = ParseYaml("sampling: 3\n", "y.yaml");
  std::vector<std::string> more;
  YamlReader top(*child, "y.yaml", &more);
  top.Child("sampling");
  ASSERT_EQ(more.size(), 1u);
  EXPECT_NE(more[0].find("sampling: expected a mapping"), std::string::npos);
}

}  // namespace
}  // namespace chord::config
