#include "common/config/flag_config.h"

#include <gtest/gtest.h>

#include "absl/flags/flag.h"

ABSL_FLAG(int, test_port, 1, "port for the test");
ABSL_FLAG(std::string, test_name, "x", "name for the test");
ABSL_FLAG(int, metrics_test_port, 0, "nested key for the test");
ABSL_FLAG(std::vector<std::string>, test_list, {}, "list for the test");

namespace chord::config {
namespace {

TEST(FlagConfigTest, AppliesFlatNestedAndListKeys) {
  ASSERT_TRUE(ApplyYamlToFlags("test_port: 8080\ntest_name: hello\nmetrics:\n  test_port: 9090\n"
                               "test_list: [a, b]\n",
                               "svc.yaml")
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_port), 8080);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_name), "hello");
  EXPECT_EQ(absl::GetFlag(FLAGS_metrics_test_port), 9090);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_list), (std::vector<std::string>{"a", "b"}));
}

TEST(FlagConfigTest, UnknownKeyNamesFilePathAndLine) {
  absl::Status status = ApplyYamlToFlags("test_port: 1\nmetrics:\n  bogus: 3\n", "svc.yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("svc.yaml:3: unknown key 'metrics.bogus'"),
            absl::string_view::npos)
      << status.message();
}

TEST(FlagConfigTest, BadValueNamesKey) {
  absl::Status status = ApplyYamlToFlags("test_port: eighty\n", "svc.yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("svc.yaml:1: key 'test_port'"), absl::string_view::npos)
      << status.message();
}

TEST(FlagConfigTest, AbslBuiltinsAreNotConfigKeys) {
  absl::Status status = ApplyYamlToFlags("flagfile: /etc/passwd\n", "svc.yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(FlagConfigTest, InvalidYamlAndNonMapping) {
  EXPECT_EQ(ApplyYamlToFlags("a: [1, 2\n", "bad.yaml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyYamlToFlags("- 1\n- 2\n", "list.yaml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ApplyYamlToFlags("", "empty.yaml").ok());
}

}  // namespace
}  // namespace chord::config
