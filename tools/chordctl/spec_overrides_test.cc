// `submit --set`: nested keys, YAML values, untouched documents without overrides, errors.

#include "tools/chordctl/spec_overrides.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "yaml-cpp/yaml.h"

namespace chord::chordctl {
namespace {

constexpr char kSpec[] = R"(# a comment
name: demo
model: /m
steps: 500
datasets:
  tasks: {path: /d/tasks.jsonl}
algorithm:
  variant: chord-phi
  lr: 3e-3
)";

TEST(SpecOverridesTest, NoOverridesKeepsTheTextByteForByte) {
  EXPECT_EQ(*ApplySpecOverrides(kSpec, "job.yaml", {}), kSpec);
}

TEST(SpecOverridesTest, SetsNestedKeysAndParsesValuesAsYaml) {
  absl::StatusOr<std::string> text = ApplySpecOverrides(
      kSpec, "job.yaml",
      {"steps=3", "model=/abs/model", "datasets.tasks.path=/x/t.jsonl",
       "datasets.eval.path=/x/e.jsonl", "services.rollout_workers=[127.0.0.1:1,127.0.0.1:2]",
       "algorithm.lr=1e-3", "name=a: b"});
  ASSERT_TRUE(text.ok()) << text.status();
  YAML::Node root = YAML::Load(*text);
  EXPECT_EQ(root["steps"].as<int>(), 3);
  EXPECT_EQ(root["model"].as<std::string>(), "/abs/model");
  EXPECT_EQ(root["datasets"]["tasks"]["path"].as<std::string>(), "/x/t.jsonl");
  EXPECT_EQ(root["datasets"]["eval"]["path"].as<std::string>(), "/x/e.jsonl");
  ASSERT_TRUE(root["services"]["rollout_workers"].IsSequence());
  EXPECT_EQ(root["services"]["rollout_workers"][1].as<std::string>(), "127.0.0.1:2");
  EXPECT_EQ(root["algorithm"]["variant"].as<std::string>(), "chord-phi");
  EXPECT_DOUBLE_EQ(root["algorithm"]["lr"].as<double>(), 1e-3);
  // "a: b" is a YAML map, not a scalar: the value is kept as given (a map).
  EXPECT_TRUE(root["name"].IsMap());
  // Key order is kept: name first, then model.
  EXPECT_TRUE(absl::StartsWith(*text, "name:")) << *text;
  EXPECT_LT(text->find("model:"), text->find("steps:")) << *text;
}

TEST(SpecOverridesTest, InvalidYamlValueIsKeptAsAString) {
  absl::StatusOr<std::string> text = ApplySpecOverrides(kSpec, "job.yaml", {"name=[unclosed"});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(YAML::Load(*text)["name"].as<std::string>(), "[unclosed");
}

TEST(SpecOverridesTest, Errors) {
  auto error = [](const std::string& spec, const std::string& override_text) {
    absl::StatusOr<std::string> text = ApplySpecOverrides(spec, "job.yaml", {override_text});
    EXPECT_FALSE(text.ok());
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(text.status().message());
  };
  EXPECT_EQ(error(kSpec, "steps"), "--set steps: expected KEY.PATH=VALUE");
  EXPECT_EQ(error(kSpec, "=3"), "--set =3: expected KEY.PATH=VALUE");
  EXPECT_EQ(error(kSpec, "a..b=3"), "--set a..b=3: empty key in the path");
  EXPECT_EQ(error(kSpec, "steps.x=3"), "--set steps.x=3: steps is not a map in job.yaml");
  EXPECT_EQ(error("- a\n- b\n", "x=1"), "job.yaml: the job spec must be a YAML map to apply --set");
  EXPECT_TRUE(absl::StartsWith(error("a: [\n", "x=1"), "job.yaml: not valid YAML: "));
}

}  // namespace
}  // namespace chord::chordctl
