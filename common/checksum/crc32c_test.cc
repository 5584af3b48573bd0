#include "common/checksum/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace chord::checksum {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> bytes(n);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

TEST(Crc32cTest, StandardCheckValue) {
  const char* kCheck = "123456789";
  EXPECT_EQ(Crc32c(kCheck, 9), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable(kCheck, 9), 0xE3069283u);
  EXPECT_EQ(Crc32cHardware(kCheck, 9), 0xE3069283u);
}

TEST(Crc32cTest, KnownVectors) {
  // RFC 3720 (iSCSI) appendix B.4 test vectors.
  std::vector<uint8_t> zeros(32, 0x00);
  std::vector<uint8_t> ones(32, 0xFF);
  std::vector<uint8_t> ascending(32);
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
  EXPECT_EQ(Crc32c(nullptr, 0, 0x12345678u), 0x12345678u);
}

TEST(Crc32cTest, HardwarePathIsAvailableOnX86) {
#if defined(__x86_64__)
  // Every x86-64 CPU since 2008 has SSE4.2; if this fails the fast path silently went away.
  EXPECT_TRUE(Crc32cHardwareAvailable());
#else
  EXPECT_FALSE(Crc32cHardwareAvailable());
#endif
}

TEST(Crc32cTest, ExtendingEqualsWholeBuffer) {
  std::vector<uint8_t> data = RandomBytes(200000, 1);
  uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t split : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}, size_t{65537}, size_t{199999},
                       data.size()}) {
    uint32_t first = Crc32c(data.data(), split);
    EXPECT_EQ(Crc32c(data.data() + split, data.size() - split, first), whole) << split;
    EXPECT_EQ(Crc32cPortable(data.data() + split, data.size() - split,
                             Crc32cPortable(data.data(), split)),
              whole)
        << split;
  }
}

TEST(Crc32cTest, CombineEqualsConcatenation) {
  std::vector<uint8_t> data = RandomBytes(100000, 2);
  uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t split : {size_t{0}, size_t{3}, size_t{8192}, size_t{50001}, data.size()}) {
    uint32_t a = Crc32c(data.data(), split);
    uint32_t b = Crc32c(data.data() + split, data.size() - split);
    EXPECT_EQ(Crc32cCombine(a, b, data.size() - split), whole) << split;
  }
}

TEST(Crc32cTest, BothPathsAgreeOnRandomDataOfEveryLengthAndAlignment) {
  std::vector<uint8_t> data = RandomBytes(3 * 8192 * 3 + 123, 3);
  std::mt19937_64 rng(4);
  // Lengths around the hardware path's block boundaries and all small lengths.
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 64; ++n) lengths.push_back(n);
  for (size_t n : {size_t{3 * 8192 - 1}, size_t{3 * 8192}, size_t{3 * 8192 + 1},
                   size_t{6 * 8192 + 9}, size_t{9 * 8192}}) {
    lengths.push_back(n);
  }
  for (size_t n : lengths) {
    for (size_t offset = 0; offset < 8; ++offset) {
      ASSERT_LE(offset + n, data.size());
      uint32_t seed = static_cast<uint32_t>(rng());
      const uint8_t* p = data.data() + offset;
      EXPECT_EQ(Crc32cHardware(p, n, seed), Crc32cPortable(p, n, seed))
          << "n=" << n << " offset=" << offset;
    }
  }
}

TEST(Crc32cTest, UnalignedBuffersGiveTheSameValue) {
  std::vector<uint8_t> data = RandomBytes(100003, 5);
  uint32_t expected = Crc32c(data.data(), data.size());
  std::vector<uint8_t> shifted(data.size() + 16);
  for (size_t offset = 1; offset < 16; ++offset) {
    std::memcpy(shifted.data() + offset, data.data(), data.size());
    EXPECT_EQ(Crc32c(shifted.data() + offset, data.size()), expected) << offset;
    EXPECT_EQ(Crc32cPortable(shifted.data() + offset, data.size()), expected) << offset;
  }
}

TEST(Crc32cTest, CopyCopiesAndChecksums) {
  std::vector<uint8_t> data = RandomBytes(300001, 7);
  std::vector<uint8_t> out(data.size() + 1, 0xAB);
  uint32_t seed = 0x1234567u;
  EXPECT_EQ(Crc32cCopy(out.data() + 1, data.data(), data.size(), seed),
            Crc32c(data.data(), data.size(), seed));
  EXPECT_EQ(out[0], 0xAB);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), out.begin() + 1));
}

TEST(Crc32cTest, DetectsASingleFlippedBit) {
  std::vector<uint8_t> data = RandomBytes(65536, 6);
  uint32_t before = Crc32c(data.data(), data.size());
  data[31337] ^= 0x10;
  EXPECT_NE(Crc32c(data.data(), data.size()), before);
}

}  // namespace
}  // namespace chord::checksum
