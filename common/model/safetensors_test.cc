#include "common/model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/files/file_io.h"
#include "common/model/model_test_util.h"

namespace chord::model {
namespace {

using test::ScratchDir;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  auto content = files::ReadFile(path);
  EXPECT_TRUE(content.ok()) << content.status();
  return content.ok() ? *content : "";
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file assembled byte by byte from the format description, independent of the
// writer under test.
std::string HandBuiltFile(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

NamedTensors EveryDtype() {
  torch::manual_seed(7);
  NamedTensors t;
  t.emplace_back("f32", torch::randn({3, 5}));
  t.emplace_back("f16", torch::randn({7}).to(torch::kFloat16));
  t.emplace_back("bf16", torch::randn({2, 3, 3}).to(torch::kBFloat16));
  t.emplace_back("f64", torch::randn({4}, torch::kFloat64));
  t.emplace_back("i64", torch::arange(-5, 6, torch::kInt64));
  t.emplace_back("i32", torch::arange(0, 9, torch::kInt32).view({3, 3}));
  t.emplace_back("i16", torch::arange(-3, 2, torch::kInt16));
  t.emplace_back("i8", torch::arange(-4, 4, torch::kInt8));
  t.emplace_back("u8", torch::arange(0, 255, 17, torch::kUInt8));
  t.emplace_back("bool", torch::tensor({true, false, true}));
  t.emplace_back("scalar", torch::tensor(3.5f));
  t.emplace_back("empty", torch::empty({0, 4}));
  return t;
}

TEST(SafetensorsTest, RoundTripsEveryDtypeExactly) {
  ScratchDir dir;
  const std::string path = dir.File("all.safetensors");
  const NamedTensors tensors = EveryDtype();
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"note", "x"}}).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->metadata().at("note"), "x");
  EXPECT_EQ((*file)->tensors().size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    auto got = (*file)->View(name);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->scalar_type(), expected.scalar_type()) << name;
    EXPECT_EQ(got->sizes(), expected.sizes()) << name;
    EXPECT_TRUE(torch::equal(*got, expected)) << name;
  }
}

TEST(SafetensorsTest, LayoutFollowsTheFormat) {
  ScratchDir dir;
  const std::string path = dir.File("t.safetensors");
  // An odd-sized F16 tensor before F32 ones in name order: the writer must still align the F32s.
  NamedTensors tensors = {{"a_half", torch::ones({3}, torch::kFloat16)},
                          {"b_float", torch::ones({2})},
                          {"c_long", torch::ones({1}, torch::kInt64)}};
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok());
  const std::string bytes = ReadAll(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header must be padded to 8 bytes";
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["a_half"]["dtype"], "F16");
  uint64_t total = 0;
  for (const auto& [name, t] : tensors) {
    const auto offsets = header[name]["data_offsets"];
    const uint64_t begin = offsets[0];
    EXPECT_EQ(begin % t.element_size(), 0u) << name << " is misaligned";
    total += t.nbytes();
  }
  EXPECT_EQ(bytes.size(), 8 + n + total) << "data must be exactly the tensors' bytes";
  EXPECT_FALSE(header.contains("__metadata__"));
}

TEST(SafetensorsTest, ReadsAHandBuiltFile) {
  // Two F32 values [1.0, -2.0] and one BF16 value 1.5 (0x3FC0), little-endian.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"BF16","shape":[1,1],"data_offsets":[8,10]}})";
  std::string data("\x00\x00\x80\x3f\x00\x00\x00\xc0\xc0\x3f", 10);
  ScratchDir dir;
  WriteBytes(dir.File("h.safetensors"), HandBuiltFile(header, data));
  auto file = SafetensorsFile::Open(dir.File("h.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  auto w = (*file)->Load("w", torch::kFloat32);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(torch::equal(*w, torch::tensor({1.0f, -2.0f})));
  auto b = (*file)->Load("b", torch::kFloat32);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->sizes(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(b->item<float>(), 1.5f);
}

TEST(SafetensorsTest, ViewIsZeroCopyPrivateAndOutlivesTheFile) {
  ScratchDir dir;
  const std::string path = dir.File("v.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", torch::arange(16, torch::kFloat32)}}).ok());
  torch::Tensor view;
  {
    auto file = SafetensorsFile::Open(path);
    ASSERT_TRUE(file.ok());
    auto v = (*file)->View("x");
    ASSERT_TRUE(v.ok());
    auto again = (*file)->View("x");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(v->data_ptr(), again->data_ptr()) << "views share the mapping";
    view = *v;
  }
  // The file object is gone; the view keeps the mapping alive and is writable copy-on-write.
  EXPECT_EQ(view[15].item<float>(), 15.0f);
  view.fill_(-1.0f);
  auto reopened = SafetensorsFile::Open(path);
  ASSERT_TRUE(reopened.ok());
  auto fresh = (*reopened)->Load("x", torch::kFloat32);
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(torch::equal(*fresh, torch::arange(16, torch::kFloat32)));
}

TEST(SafetensorsTest, LoadConvertsToTheComputeDtype) {
  ScratchDir dir;
  const std::string path = dir.File("c.safetensors");
  torch::Tensor values = torch::randn({4, 4});
  ASSERT_TRUE(WriteSafetensors(path, {{"bf16", values.to(torch::kBFloat16)},
                                      {"f16", values.to(torch::kFloat16)}})
                  .ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  for (const char* name : {"bf16", "f16"}) {
    auto t = (*file)->Load(name, torch::kFloat32);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::allclose(*t, values, 1e-2, 1e-2)) << name;
  }
}

TEST(SafetensorsTest, WriteIsAtomicAndLeavesNoTempFiles) {
  ScratchDir dir;
  const std::string path = dir.File("a.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", torch::ones({2})}}).ok());
  ASSERT_TRUE(WriteSafetensors(path, {{"x", torch::zeros({3})}}).ok());
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().filename(), "a.safetensors");
  }
  EXPECT_EQ(files, 1);
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->Find("x")->shape, (std::vector<int64_t>{3}));
}

TEST(SafetensorsTest, WriterRefusesBadInput) {
  ScratchDir dir;
  const std::string path = dir.File("bad.safetensors");
  EXPECT_EQ(WriteSafetensors(path, {{"x", torch::ones({1})}, {"x", torch::ones({1})}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteSafetensors(path, {{"__metadata__", torch::ones({1})}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteSafetensors(path, {{"c", torch::ones({1}, torch::kComplexFloat)}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
}

// ---- Malformed files: each error names the file (and the tensor when there is one). ----

class MalformedFileTest : public ::testing::Test {
 protected:
  absl::Status OpenBytes(const std::string& bytes) {
    WriteBytes(path_, bytes);
    return SafetensorsFile::Open(path_).status();
  }
  ScratchDir dir_;
  std::string path_ = dir_.File("broken.safetensors");
};

TEST_F(MalformedFileTest, TruncatedDataNamesFileAndTensor) {
  ASSERT_TRUE(
      WriteSafetensors(path_, {{"first", torch::ones({4})}, {"second", torch::ones({64})}}).ok());
  std::string bytes = ReadAll(path_);
  absl::Status s = OpenBytes(bytes.substr(0, bytes.size() - 10));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr(path_));
  EXPECT_THAT(s.message(), HasSubstr("second"));
  EXPECT_THAT(s.message(), HasSubstr("truncated"));
}

TEST_F(MalformedFileTest, TruncatedHeader) {
  ASSERT_TRUE(WriteSafetensors(path_, {{"x", torch::ones({4})}}).ok());
  absl::Status s = OpenBytes(ReadAll(path_).substr(0, 20));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr(path_));
  EXPECT_EQ(OpenBytes("abc").code(), absl::StatusCode::kDataLoss);
}

TEST_F(MalformedFileTest, BadJsonHeader) {
  absl::Status s = OpenBytes(HandBuiltFile("{\"x\": [1, 2", ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr(path_));
  EXPECT_THAT(s.message(), HasSubstr("JSON"));
}

TEST_F(MalformedFileTest, UnsupportedDtypeNamesTensor) {
  absl::Status s = OpenBytes(
      HandBuiltFile(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("tensor w"));
  EXPECT_THAT(s.message(), HasSubstr("F8_E4M3"));
}

TEST_F(MalformedFileTest, OffsetsThatDisagreeWithTheShape) {
  absl::Status s = OpenBytes(
      HandBuiltFile(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("tensor w"));
}

TEST_F(MalformedFileTest, OverlappingTensors) {
  absl::Status s =
      OpenBytes(HandBuiltFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                              "12345678"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("overlaps"));
}

TEST_F(MalformedFileTest, MissingFieldsAndHugeHeader) {
  EXPECT_EQ(OpenBytes(HandBuiltFile(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", "1234")).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      OpenBytes(HandBuiltFile(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "1234"))
          .code(),
      absl::StatusCode::kDataLoss);
  std::string huge(8, '\xff');
  EXPECT_EQ(OpenBytes(huge + "{}").code(), absl::StatusCode::kDataLoss);
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  auto file = SafetensorsFile::Open("/nonexistent/dir/model.safetensors");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr("/nonexistent/dir/model.safetensors"));
}

// ---- Model folders ----

NamedTensors FolderTensors() {
  NamedTensors t;
  for (int i = 0; i < 5; ++i) {
    t.emplace_back("layer." + std::to_string(i) + ".weight", torch::full({100}, float(i)));
  }
  return t;
}

TEST(SafetensorsFolderTest, ShardsAboveTheLimitAndWritesAnIndex) {
  ScratchDir dir;
  WriteFolderOptions options;
  options.max_shard_bytes = 900;  // 400 bytes per tensor: 2 + 2 + 1
  ASSERT_TRUE(WriteModelFolder(dir.path(), FolderTensors(), options).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.File("model.safetensors")));
  ASSERT_TRUE(std::filesystem::exists(dir.File("model-00001-of-00003.safetensors")));
  ASSERT_TRUE(std::filesystem::exists(dir.File("model-00003-of-00003.safetensors")));
  auto index = nlohmann::json::parse(ReadAll(dir.File("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 2000);
  EXPECT_EQ(index["weight_map"]["layer.0.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layer.4.weight"], "model-00003-of-00003.safetensors");

  auto folder = SafetensorsFolder::Open(dir.path());
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ((*folder)->TensorNames().size(), 5u);
  for (int i = 0; i < 5; ++i) {
    auto t = (*folder)->Load("layer." + std::to_string(i) + ".weight", torch::kFloat32);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ((*t)[0].item<float>(), float(i));
  }

  // Rewriting the folder unsharded removes the stale index and shards.
  ASSERT_TRUE(WriteModelFolder(dir.path(), FolderTensors()).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.File("model.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("model.safetensors.index.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("model-00001-of-00003.safetensors")));
  folder = SafetensorsFolder::Open(dir.path());
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ((*folder)->description_file(), dir.File("model.safetensors"));
}

TEST(SafetensorsFolderTest, IndexErrorsNameTheFiles) {
  ScratchDir dir;
  WriteFolderOptions options;
  options.max_shard_bytes = 900;
  ASSERT_TRUE(WriteModelFolder(dir.path(), FolderTensors(), options).ok());
  const std::string index_path = dir.File("model.safetensors.index.json");

  // A tensor mapped to a shard that does not hold it.
  auto index = nlohmann::json::parse(ReadAll(index_path));
  index["weight_map"]["layer.0.weight"] = "model-00002-of-00003.safetensors";
  WriteBytes(index_path, index.dump());
  auto folder = SafetensorsFolder::Open(dir.path());
  EXPECT_EQ(folder.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(folder.status().message(), HasSubstr("layer.0.weight"));
  EXPECT_THAT(folder.status().message(), HasSubstr(index_path));

  // A missing shard.
  index["weight_map"]["layer.0.weight"] = "model-00009-of-00009.safetensors";
  WriteBytes(index_path, index.dump());
  folder = SafetensorsFolder::Open(dir.path());
  EXPECT_EQ(folder.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(folder.status().message(), HasSubstr("model-00009-of-00009.safetensors"));

  // Bad JSON.
  WriteBytes(index_path, "{\"weight_map\": ");
  folder = SafetensorsFolder::Open(dir.path());
  EXPECT_EQ(folder.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(folder.status().message(), HasSubstr(index_path));
}

TEST(SafetensorsFolderTest, EmptyFolderIsNotFound) {
  ScratchDir dir;
  auto folder = SafetensorsFolder::Open(dir.path());
  EXPECT_EQ(folder.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(folder.status().message(), HasSubstr(dir.path()));
}

}  // namespace
}  // namespace chord::model
