#include "services/reward/verifier_registry.h"

#include <gtest/gtest.h>

#include <memory>

namespace chord::reward {
namespace {

class ConstantVerifier final : public Verifier {
 public:
  explicit ConstantVerifier(std::string name) : name_(std::move(name)) {}
  VerifierResult Score(const ScoreInput&) const override {
    return VerifierResult{1.0, true, "always right", ""};
  }
  absl::string_view name() const override { return name_; }
  absl::string_view description() const override { return "test verifier"; }

 private:
  std::string name_;
};

TEST(VerifierRegistryTest, DefaultHasTheFourBuiltIns) {
  auto registry = VerifierRegistry::CreateDefault();
  EXPECT_EQ(registry->KnownNames(), "arithmetic, countdown, math_boxed, tool_call");
  ASSERT_NE(registry->Find("math_boxed"), nullptr);
  EXPECT_EQ(registry->Find("math_boxed")->name(), "math_boxed");
  EXPECT_EQ(registry->Find("nope"), nullptr);
  for (const Verifier* verifier : registry->List()) {
    EXPECT_FALSE(verifier->description().empty()) << verifier->name();
  }
}

TEST(VerifierRegistryTest, IsExtensible) {
  auto registry = VerifierRegistry::CreateDefault();
  ASSERT_TRUE(registry->Register(std::make_unique<ConstantVerifier>("always")).ok());
  ASSERT_NE(registry->Find("always"), nullptr);
  EXPECT_TRUE(registry->Find("always")->Score(ScoreInput{}).correct);
  EXPECT_EQ(registry->List().size(), 5u);

  EXPECT_EQ(registry->Register(std::make_unique<ConstantVerifier>("always")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry->Register(std::make_unique<ConstantVerifier>("Bad Name")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry->Register(std::make_unique<ConstantVerifier>("")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry->Register(nullptr).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chord::reward
