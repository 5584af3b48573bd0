// The checkpoint format on its own (no model, no ranks): the writer's crash-safety protocol, the
// manifest, verification of every file, and finding/pruning checkpoints. learner_rank_test.cc
// covers real checkpoints written and loaded by a learner rank.

#include "services/learner/checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checksum/crc32c.h"
#include "common/files/fault_injection.h"
#include "common/files/file_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A checkpoint with small stand-in files (the format does not look inside them).
absl::Status WriteFakeCheckpoint(const std::string& dir, int64_t step,
                                 const std::string& weights = std::string(4096, 'w')) {
  auto writer = CheckpointWriter::Begin(dir);
  if (!writer.ok()) return writer.status();
  for (const auto& [path, content] : std::vector<std::pair<std::string, std::string>>{
           {"model/config.json", "{\"model_type\": \"qwen2\"}"},
           {"model/model.safetensors", weights},
           {"model/tokenizer.json", "{}"},
           {"optimizer.pt", std::string(2048, 'o')}}) {
    absl::Status status = (*writer)->WriteFile(path, content);
    if (!status.ok()) return status;
  }
  TrainerState state;
  state.step = step;
  state.values["expert_cursor"] = absl::StrCat(step * 10);
  auto text = EncodeTrainerState(state, "rng-bytes");
  if (!text.ok()) return text.status();
  absl::Status status = (*writer)->WriteFile(kTrainerStateFile, *text);
  if (!status.ok()) return status;
  return (*writer)->Commit(step);
}

void FlipByte(const std::string& path, int64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x20));
}

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(CheckpointNameTest, RoundTripsAndRejectsOtherNames) {
  EXPECT_EQ(CheckpointName(42), "step-00000042");
  EXPECT_EQ(CheckpointName(123456789), "step-123456789");
  EXPECT_EQ(ParseCheckpointName("step-00000042"), 42);
  EXPECT_EQ(ParseCheckpointName("step-123456789"), 123456789);
  EXPECT_FALSE(ParseCheckpointName("step-42").has_value());
  EXPECT_FALSE(ParseCheckpointName("step-0000004x").has_value());
  EXPECT_FALSE(ParseCheckpointName(".step-00000042.tmp-7").has_value());
  EXPECT_FALSE(ParseCheckpointName("model").has_value());
}

TEST(TrainerStateTest, RoundTripsValuesAndBinaryRngState) {
  TrainerState state;
  state.step = 17;
  state.values = {{"expert_cursor", "{\"epoch\":1,\"offset\":96}"}, {"stage", "rl"}};
  const std::string rng("\x00\x01\xff\x7f binary", 12);
  auto text = EncodeTrainerState(state, rng);
  ASSERT_TRUE(text.ok()) << text.status();
  auto decoded = DecodeTrainerState(*text, "trainer_state.json");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->state.step, 17);
  EXPECT_EQ(decoded->state.values, state.values);
  EXPECT_EQ(decoded->rng_state, rng);
  EXPECT_EQ(nlohmann::json::parse(*text)["format"], kTrainerStateFormat);
}

TEST(TrainerStateTest, RefusesInvalidUtf8AndMalformedFiles) {
  TrainerState state;
  state.values["cursor"] = std::string("\xff\xfe", 2);
  auto text = EncodeTrainerState(state, "");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("values[\"cursor\"]"));

  for (const char* bad : {"{", "[]", "{\"format\":\"other\",\"step\":1}",
                          "{\"format\":\"chord-trainer-state-v1\",\"step\":-1}",
                          "{\"format\":\"chord-trainer-state-v1\",\"step\":1,\"values\":{\"a\":1}}",
                          "{\"format\":\"chord-trainer-state-v1\",\"step\":1,\"rng\":\"%%%\"}"}) {
    auto decoded = DecodeTrainerState(bad, "ckpt/trainer_state.json");
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("ckpt/trainer_state.json"));
  }
}

TEST(CheckpointWriterTest, CommitWritesManifestLastAndRenamesIntoPlace) {
  testing::TempDir tmp;
  const std::string dir = tmp.File(CheckpointName(3));
  ASSERT_TRUE(WriteFakeCheckpoint(dir, 3).ok());
  // Only the final folder remains: no staging leftovers.
  EXPECT_EQ(Listing(tmp.path()), std::vector<std::string>{"step-00000003"});
  ASSERT_TRUE(VerifyCheckpoint(dir).ok());
  auto manifest = ReadManifest(dir);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->step, 3);
  std::vector<std::string> paths;
  for (const ManifestEntry& e : manifest->files) {
    paths.push_back(e.path);
    auto content = files::ReadFile(absl::StrCat(dir, "/", e.path));
    ASSERT_TRUE(content.ok());
    EXPECT_EQ(e.bytes, content->size()) << e.path;
    EXPECT_EQ(e.crc32c, checksum::Crc32c(content->data(), content->size())) << e.path;
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"model/config.json", "model/model.safetensors",
                                             "model/tokenizer.json", "optimizer.pt",
                                             "trainer_state.json"}));
}

TEST(CheckpointWriterTest, ReplacesAnExistingCheckpoint) {
  testing::TempDir tmp;
  const std::string dir = tmp.File(CheckpointName(5));
  ASSERT_TRUE(WriteFakeCheckpoint(dir, 5, "old weights").ok());
  ASSERT_TRUE(WriteFakeCheckpoint(dir, 5, "new weights").ok());
  EXPECT_EQ(*files::ReadFile(dir + "/model/model.safetensors"), "new weights");
  EXPECT_TRUE(VerifyCheckpoint(dir).ok());
  EXPECT_EQ(Listing(tmp.path()), std::vector<std::string>{"step-00000005"});
}

TEST(CheckpointWriterTest, AbandonedOrIncompleteWritesLeaveNothing) {
  testing::TempDir tmp;
  const std::string dir = tmp.File(CheckpointName(1));
  {
    auto writer = CheckpointWriter::Begin(dir);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->WriteFile("optimizer.pt", "x").ok());
    EXPECT_TRUE(fs::exists((*writer)->staging_dir()));
    EXPECT_THAT((*writer)->staging_dir(), HasSubstr(absl::StrCat(".step-00000001.tmp-", getpid())));
    // No trainer_state.json and no model/config.json: not a checkpoint.
    absl::Status status = (*writer)->Commit(1);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("trainer_state.json"));
    EXPECT_EQ((*writer)->WriteFile("../escape", "x").code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Listing(tmp.path()).empty());
  EXPECT_EQ(VerifyCheckpoint(dir).code(), absl::StatusCode::kNotFound);
}

class CorruptCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(WriteFakeCheckpoint(dir_, 7).ok()); }

  void ExpectDataLossNaming(const std::string& file) {
    absl::Status status = VerifyCheckpoint(dir_);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(absl::StrCat(dir_, "/", file))) << status;
  }

  testing::TempDir tmp_;
  const std::string dir_ = tmp_.File(CheckpointName(7));
};

TEST_F(CorruptCheckpointTest, FlippedByteInWeights) {
  FlipByte(dir_ + "/model/model.safetensors", 1000);
  ExpectDataLossNaming("model/model.safetensors");
  EXPECT_THAT(std::string(VerifyCheckpoint(dir_).message()), HasSubstr("CRC-32C"));
}

TEST_F(CorruptCheckpointTest, TruncatedOptimizerState) {
  fs::resize_file(dir_ + "/optimizer.pt", 100);
  ExpectDataLossNaming("optimizer.pt");
  EXPECT_THAT(std::string(VerifyCheckpoint(dir_).message()), HasSubstr("100 bytes"));
}

TEST_F(CorruptCheckpointTest, MissingManifest) {
  fs::remove(dir_ + "/MANIFEST.json");
  ExpectDataLossNaming("MANIFEST.json");
}

TEST_F(CorruptCheckpointTest, ManifestListsAMissingFile) {
  fs::remove(dir_ + "/model/tokenizer.json");
  ExpectDataLossNaming("model/tokenizer.json");
  EXPECT_THAT(std::string(VerifyCheckpoint(dir_).message()), HasSubstr("missing"));
}

TEST_F(CorruptCheckpointTest, MalformedOrUnsafeManifest) {
  const std::string manifest_path = dir_ + "/MANIFEST.json";
  nlohmann::json manifest = nlohmann::json::parse(*files::ReadFile(manifest_path));
  manifest["files"].push_back({{"path", "../../etc/passwd"}, {"bytes", 1}, {"crc32c", 0}});
  ASSERT_TRUE(files::WriteFileAtomically(manifest_path, manifest.dump()).ok());
  ExpectDataLossNaming("MANIFEST.json");
  EXPECT_THAT(std::string(VerifyCheckpoint(dir_).message()), HasSubstr("files[5].path"));

  ASSERT_TRUE(files::WriteFileAtomically(manifest_path, "{\"format\": ").ok());
  ExpectDataLossNaming("MANIFEST.json");
}

TEST(FindLatestCheckpointTest, SkipsCorruptAndPartialCheckpoints) {
  testing::TempDir tmp;
  EXPECT_EQ(FindLatestCheckpoint(tmp.File("missing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FindLatestCheckpoint(tmp.path()).status().code(), absl::StatusCode::kNotFound);
  for (int step : {1, 2, 3})
    ASSERT_TRUE(WriteFakeCheckpoint(tmp.File(CheckpointName(step)), step).ok());
  // A newer checkpoint whose write was interrupted before its manifest, and a staging folder.
  fs::create_directories(tmp.File(CheckpointName(9)) + "/model");
  fs::create_directories(tmp.File(".step-00000010.tmp-123"));
  auto latest = FindLatestCheckpoint(tmp.path());
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, tmp.File("step-00000003"));

  FlipByte(tmp.File("step-00000003") + "/optimizer.pt", 7);
  latest = FindLatestCheckpoint(tmp.path());
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, tmp.File("step-00000002"));

  // A renamed folder whose manifest disagrees with its name is not trusted.
  fs::rename(tmp.File("step-00000001"), tmp.File("step-00000005"));
  latest = FindLatestCheckpoint(tmp.path());
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, tmp.File("step-00000002"));
}

TEST(PruneCheckpointsTest, KeepsTheNewestValidOnesAndRemovesLeftovers) {
  testing::TempDir tmp;
  EXPECT_TRUE(PruneCheckpoints(tmp.File("missing"), 2).ok());
  EXPECT_EQ(PruneCheckpoints(tmp.path(), 0).code(), absl::StatusCode::kInvalidArgument);
  for (int step : {2, 4, 6, 8, 10}) {
    ASSERT_TRUE(WriteFakeCheckpoint(tmp.File(CheckpointName(step)), step).ok());
  }
  FlipByte(tmp.File("step-00000010") + "/model/model.safetensors", 10);  // newest is corrupt
  fs::create_directories(tmp.File(".step-00000012.tmp-99"));             // crashed write
  fs::create_directories(tmp.File(".step-00000004.old-98"));             // crashed replace
  ASSERT_TRUE(files::WriteFileAtomically(tmp.File("notes.txt"), "keep me").ok());
  fs::create_directories(tmp.File("step-final"));

  ASSERT_TRUE(PruneCheckpoints(tmp.path(), 2).ok());
  EXPECT_EQ(Listing(tmp.path()), (std::vector<std::string>{"notes.txt", "step-00000006",
                                                           "step-00000008", "step-final"}));
  ASSERT_TRUE(PruneCheckpoints(tmp.path(), 1).ok());
  EXPECT_EQ(Listing(tmp.path()),
            (std::vector<std::string>{"notes.txt", "step-00000008", "step-final"}));
  EXPECT_TRUE(VerifyCheckpoint(tmp.File("step-00000008")).ok());
}

// A read error while verifying is not corruption: pruning deletes nothing then, and the next
// prune (the error gone) works as usual.
TEST(PruneCheckpointsTest, AReadErrorIsNotCorruptionAndDeletesNothing) {
  testing::TempDir tmp;
  for (int step : {2, 4, 6}) {
    ASSERT_TRUE(WriteFakeCheckpoint(tmp.File(CheckpointName(step)), step).ok());
  }
  const std::vector<std::string> all = {"step-00000002", "step-00000004", "step-00000006"};
  for (files::FileOp op : {files::FileOp::kOpen, files::FileOp::kRead}) {
    files::InjectFault(op, "step-00000006/model/model.safetensors", EIO);
    absl::Status verify = VerifyCheckpoint(tmp.File("step-00000006"));
    EXPECT_EQ(verify.code(), absl::StatusCode::kInternal) << verify;
    EXPECT_THAT(std::string(verify.message()), HasSubstr("Input/output error"));
    files::InjectFault(op, "step-00000006/model/model.safetensors", EIO);
    ASSERT_TRUE(PruneCheckpoints(tmp.path(), 1).ok());
    EXPECT_EQ(Listing(tmp.path()), all);
  }
  files::InjectFault(files::FileOp::kOpen, "step-00000004/MANIFEST.json", EMFILE);
  EXPECT_EQ(ReadManifest(tmp.File("step-00000004")).status().code(), absl::StatusCode::kInternal);
  files::ClearFaults();
  ASSERT_TRUE(PruneCheckpoints(tmp.path(), 1).ok());
  EXPECT_EQ(Listing(tmp.path()), (std::vector<std::string>{"step-00000006"}));
}

// Disk faults while a checkpoint is written (a full disk, a failing fsync, a failing rename):
// the write fails naming the error, and the previous checkpoint stays the newest valid one.
TEST(CheckpointDiskFaultTest, AFailedWriteKeepsThePreviousCheckpoint) {
  testing::TempDir tmp;
  ASSERT_TRUE(WriteFakeCheckpoint(tmp.File("step-00000002"), 2).ok());
  struct Fault {
    files::FileOp op;
    const char* path_part;
    int err;
  };
  for (const Fault& fault : std::vector<Fault>{
           {files::FileOp::kWrite, "trainer_state.json", ENOSPC},
           {files::FileOp::kSync, "model/model.safetensors", EIO},
           {files::FileOp::kSync, "MANIFEST.json", EIO},
           {files::FileOp::kRename, "MANIFEST.json", ENOSPC},
       }) {
    files::InjectFault(fault.op, fault.path_part, fault.err);
    absl::Status written = WriteFakeCheckpoint(tmp.File("step-00000004"), 4);
    files::ClearFaults();
    EXPECT_FALSE(written.ok()) << fault.path_part;
    EXPECT_THAT(std::string(written.message()), HasSubstr(std::strerror(fault.err)))
        << fault.path_part;
    auto latest = FindLatestCheckpoint(tmp.path());
    ASSERT_TRUE(latest.ok()) << latest.status();
    EXPECT_EQ(*latest, tmp.File("step-00000002")) << fault.path_part;
    EXPECT_EQ(Listing(tmp.path()), (std::vector<std::string>{"step-00000002"})) << fault.path_part;
  }
  ASSERT_TRUE(WriteFakeCheckpoint(tmp.File("step-00000004"), 4).ok());  // the disk is back
  EXPECT_EQ(*FindLatestCheckpoint(tmp.path()), tmp.File("step-00000004"));
}

}  // namespace
}  // namespace chord::learner
