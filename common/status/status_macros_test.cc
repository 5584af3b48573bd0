#include "common/status/status_macros.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace chord {
namespace {

absl::Status FailIf(bool fail) {
  if (fail) return absl::InvalidArgumentError("bad");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<int>> MakeInt(bool fail, int value) {
  if (fail) return absl::NotFoundError("missing");
  return std::make_unique<int>(value);
}

absl::Status UseReturnIfError(bool fail, int* calls) {
  RETURN_IF_ERROR(([&] {
    ++*calls;
    return FailIf(fail);
  })());
  return absl::OkStatus();
}

absl::StatusOr<int> UseAssignOrReturn(bool fail) {
  ASSIGN_OR_RETURN(std::unique_ptr<int> value, MakeInt(fail, 7));
  ASSIGN_OR_RETURN(auto second, MakeInt(false, 5));
  return *value + *second;
}

TEST(StatusMacrosTest, ReturnIfErrorPropagatesAndEvaluatesOnce) {
  int calls = 0;
  EXPECT_TRUE(UseReturnIfError(false, &calls).ok());
  absl::Status status = UseReturnIfError(true, &calls);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "bad");
  EXPECT_EQ(calls, 2);
}

TEST(StatusMacrosTest, AssignOrReturnMovesValueOrReturnsError) {
  absl::StatusOr<int> ok = UseAssignOrReturn(false);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 12);
  absl::StatusOr<int> bad = UseAssignOrReturn(true);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
}

TEST(StatusMacrosTest, AnnotateKeepsCodeAndPrefixesMessage) {
  absl::Status s = Annotate(absl::DataLossError("crc mismatch"), "model.safetensors");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "model.safetensors: crc mismatch");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace chord
