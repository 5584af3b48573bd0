#include "common/files/confined_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/files/file_io.h"

namespace chord::files {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A root with a dataset inside and a secret beside it (outside the root).
class ConfinedRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chord_confined_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    fs::create_directories(root_ + "/sub");
    ASSERT_TRUE(WriteFileAtomically(root_ + "/sub/data.jsonl", "{\"a\":1}\n").ok());
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/secret.txt", "secret\n").ok());
    auto roots = ConfinedRoots::Create({root_}, "--data_root");
    ASSERT_TRUE(roots.ok()) << roots.status();
    roots_ = std::make_unique<ConfinedRoots>(*roots);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
  std::string root_;
  std::unique_ptr<ConfinedRoots> roots_;
};

TEST_F(ConfinedRootsTest, ReadsRegularFilesUnderTheRootByAbsoluteOrRelativePath) {
  auto absolute = roots_->ReadFile(root_ + "/sub/data.jsonl", 1 << 20);
  ASSERT_TRUE(absolute.ok()) << absolute.status();
  EXPECT_EQ(*absolute, "{\"a\":1}\n");
  auto relative = roots_->ReadFile("sub/data.jsonl", 1 << 20);
  ASSERT_TRUE(relative.ok()) << relative.status();
  EXPECT_EQ(*relative, *absolute);
  // `..` that stays inside the root is fine.
  EXPECT_TRUE(roots_->ReadFile(root_ + "/sub/../sub/data.jsonl", 1 << 20).ok());
}

TEST_F(ConfinedRootsTest, DotDotAndAbsolutePathsOutsideAreDeniedNamingThePath) {
  for (const std::string& path : {std::string("../secret.txt"), root_ + "/sub/../../secret.txt",
                                  dir_ + "/secret.txt", std::string("/etc/passwd")}) {
    auto read = roots_->ReadFile(path, 1 << 20);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied) << path;
    EXPECT_THAT(read.status().message(), HasSubstr(path + ": outside --data_root (" + root_));
  }
}

TEST_F(ConfinedRootsTest, ASiblingWithTheRootAsPrefixIsOutside) {
  fs::create_directories(root_ + "2");
  ASSERT_TRUE(WriteFileAtomically(root_ + "2/x.jsonl", "{}\n").ok());
  EXPECT_EQ(roots_->ReadFile(root_ + "2/x.jsonl", 1 << 20).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(ConfinedRootsTest, SymlinksPointingOutAreDenied) {
  fs::create_symlink(dir_ + "/secret.txt", root_ + "/link.jsonl");
  fs::create_directory_symlink(dir_, root_ + "/up");
  fs::create_symlink("/dev/zero", root_ + "/zero.jsonl");
  for (const std::string& path :
       {root_ + "/link.jsonl", std::string("up/secret.txt"), std::string("zero.jsonl")}) {
    auto read = roots_->ReadFile(path, 1 << 20);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied) << path;
    EXPECT_THAT(read.status().message(), HasSubstr(path + ": outside --data_root"));
  }
  // A symlink that stays inside the root is followed.
  fs::create_symlink(root_ + "/sub/data.jsonl", root_ + "/inside.jsonl");
  EXPECT_TRUE(roots_->ReadFile("inside.jsonl", 1 << 20).ok());
}

TEST_F(ConfinedRootsTest, DevicesFifosAndDirectoriesAreNotRegularFiles) {
  ASSERT_EQ(mkfifo((root_ + "/pipe.jsonl").c_str(), 0600), 0);
  auto fifo = roots_->ReadFile("pipe.jsonl", 1 << 20);  // must not block
  EXPECT_EQ(fifo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fifo.status().message(), HasSubstr("pipe.jsonl: a FIFO, not a regular file"));

  auto directory = roots_->ReadFile("sub", 1 << 20);
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(directory.status().message(), HasSubstr("sub: a directory"));

  auto everything = ConfinedRoots::Create({"/"}, "--data_root");
  ASSERT_TRUE(everything.ok());
  auto zero = everything->ReadFile("/dev/zero", 1 << 20);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("/dev/zero: a character device"));
}

TEST_F(ConfinedRootsTest, FilesOverTheCapAreRefused) {
  ASSERT_TRUE(WriteFileAtomically(root_ + "/big.jsonl", std::string(1001, 'x')).ok());
  auto big = roots_->ReadFile("big.jsonl", 1000);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(),
              HasSubstr("big.jsonl: 1001 bytes exceed the limit of 1000 bytes per file"));
  EXPECT_TRUE(roots_->ReadFile("big.jsonl", 1001).ok());
}

TEST_F(ConfinedRootsTest, MissingFilesAreNotFound) {
  auto missing = roots_->ReadFile("nope.jsonl", 1 << 20);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot open nope.jsonl"));
}

TEST_F(ConfinedRootsTest, ResolveAcceptsMissingPathsUnderASecondRoot) {
  auto two = ConfinedRoots::Create({root_, dir_ + "/root/sub"}, "--model_root");
  ASSERT_TRUE(two.ok());
  auto resolved = two->Resolve(root_ + "/sub/not-yet");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, root_ + "/sub/not-yet");
  EXPECT_EQ(two->Resolve(dir_).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(ConfinedRootsCreateTest, RootsMustBeExistingDirectories) {
  EXPECT_EQ(ConfinedRoots::Create({}, "--data_root").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = ConfinedRoots::Create({"/nonexistent/chord"}, "--data_root");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("--data_root: /nonexistent/chord"));
  EXPECT_EQ(ConfinedRoots::Create({"/etc/passwd"}, "--data_root").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chord::files
