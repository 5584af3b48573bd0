#include "common/files/file_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace chord::files {
namespace {

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chord_file_io_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FileIoTest, WriteThenReadRoundTripsBinaryContent) {
  std::string path = dir_ + "/a.bin";
  std::string content("x\0y\nz", 5);
  ASSERT_TRUE(WriteFileAtomically(path, content).ok());
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, content);
}

TEST_F(FileIoTest, ReplaceLeavesNoTempFiles) {
  std::string path = dir_ + "/port";
  ASSERT_TRUE(WriteFileAtomically(path, "1\n").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "2\n").ok());
  EXPECT_EQ(*ReadFile(path), "2\n");
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(FileIoTest, MissingFileIsNotFoundAndNamesPath) {
  auto read = ReadFile(dir_ + "/nope.txt");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("nope.txt"), absl::string_view::npos);
}

TEST_F(FileIoTest, WriteIntoMissingDirectoryFailsWithPath) {
  absl::Status status = WriteFileAtomically(dir_ + "/missing/x", "data");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("missing"), absl::string_view::npos);
}

}  // namespace
}  // namespace chord::files
