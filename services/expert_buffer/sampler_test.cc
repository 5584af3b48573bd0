#include "services/expert_buffer/sampler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "services/expert_buffer/fingerprint.h"

namespace chord::expert_buffer {
namespace {

using ::testing::HasSubstr;

std::vector<int64_t> Epoch(uint64_t seed, uint64_t epoch, uint64_t size) {
  EpochPermutation order(seed, epoch, size);
  std::vector<int64_t> out;
  for (uint64_t i = 0; i < size; ++i) out.push_back(static_cast<int64_t>(order(i)));
  return out;
}

bool IsPermutation(std::vector<int64_t> values, size_t size) {
  if (values.size() != size) return false;
  std::sort(values.begin(), values.end());
  for (size_t i = 0; i < size; ++i) {
    if (values[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

TEST(FingerprintTest, MatchesPublishedXxh64Values) {
  EXPECT_EQ(Fingerprint64(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(Fingerprint64("a"), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(Fingerprint64("abc"), 0x44BC2CF5AD770999ULL);
  EXPECT_NE(Fingerprint64("abc", 1), Fingerprint64("abc", 0));
  uint64_t value = 0;
  EXPECT_TRUE(ParseHex16(ToHex16(0x0123456789abcdefULL), &value));
  EXPECT_EQ(value, 0x0123456789abcdefULL);
  EXPECT_EQ(ToHex16(255), "00000000000000ff");
  EXPECT_FALSE(ParseHex16("123", &value));
  EXPECT_FALSE(ParseHex16("000000000000000g", &value));
}

TEST(EpochPermutationTest, EveryRecordExactlyOncePerEpochForManySizes) {
  for (uint64_t size : {1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100, 1000, 4097, 65537}) {
    for (uint64_t epoch : {0, 1, 7}) {
      EXPECT_TRUE(IsPermutation(Epoch(42, epoch, size), size)) << size << " " << epoch;
    }
  }
}

TEST(EpochPermutationTest, DeterministicForASeed) {
  EXPECT_EQ(Epoch(5, 3, 1000), Epoch(5, 3, 1000));
  // Pinned values: the order must never change across builds, or saved cursors would resume
  // somewhere else.
  EXPECT_EQ(Epoch(1, 0, 10), (std::vector<int64_t>{6, 1, 7, 4, 3, 0, 2, 9, 8, 5}));
}

TEST(EpochPermutationTest, DiffersAcrossEpochsAndSeeds) {
  std::vector<int64_t> base = Epoch(1, 0, 1000);
  EXPECT_NE(base, Epoch(1, 1, 1000));
  EXPECT_NE(base, Epoch(2, 0, 1000));
  EXPECT_NE(Epoch(1, 1, 1000), Epoch(1, 2, 1000));
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(base, identity);
  // Reasonably shuffled: few records stay in place (a uniform shuffle keeps ~1).
  int fixed = 0;
  for (size_t i = 0; i < base.size(); ++i) fixed += base[i] == static_cast<int64_t>(i);
  EXPECT_LT(fixed, 20);
}

TEST(EpochPermutationTest, RoughlyUniformOverSeeds) {
  // Where record r lands, over many seeds, is close to uniform (a biased shuffle would make some
  // records systematically early in every epoch). Bounds are ~6 sigma: no flakiness.
  for (uint64_t size : {10, 1000}) {
    const int kSeeds = 20000;
    std::vector<int> first(size, 0);
    for (int seed = 0; seed < kSeeds; ++seed) {
      EpochPermutation order(static_cast<uint64_t>(seed), 0, size);
      ++first[order(0) % 10];  // buckets by last digit for size 1000
    }
    const double expected = kSeeds / 10.0;
    for (int b = 0; b < 10; ++b) {
      EXPECT_NEAR(first[b], expected, 6 * std::sqrt(expected)) << size << " bucket " << b;
    }
  }
}

TEST(CursorTest, RoundTrip) {
  Cursor cursor{"math-v2.train_1", 0xfeedfacecafebeefULL, 18446744073709551615ULL, 12, 345};
  std::string text = EncodeCursor(cursor);
  auto decoded = DecodeCursor(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, cursor);
}

TEST(CursorTest, CorruptedOrForgedCursorsAreRejected) {
  std::string text = EncodeCursor(Cursor{"ds", 1, 2, 3, 4});
  // Flip each character in turn: every variant must fail (checksum or syntax).
  for (size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = bad[i] == '1' ? '2' : '1';
    auto decoded = DecodeCursor(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("cursor: "));
  }
  for (const char* bad :
       {"", "garbage", "ebc1:ds", ":::::::", "ebc1:ds:x:2:3:4:0000000000000000"}) {
    EXPECT_EQ(DecodeCursor(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(std::string(DecodeCursor(text.substr(0, text.size() - 1) + "0").status().message()),
              HasSubstr("checksum"));
}

TEST(DrawTest, ContinuesAcrossEpochsWithoutLossOrRepeat) {
  const uint64_t size = 10;
  Cursor cursor{"ds", 9, 77, 0, 0};
  std::vector<int64_t> drawn;
  DrawIndices(size, 25, &cursor, &drawn);
  ASSERT_EQ(drawn.size(), 25u);
  EXPECT_EQ(cursor.epoch, 2);
  EXPECT_EQ(cursor.position, 5);
  std::vector<int64_t> expected = Epoch(77, 0, size);
  std::vector<int64_t> epoch1 = Epoch(77, 1, size);
  std::vector<int64_t> epoch2 = Epoch(77, 2, size);
  expected.insert(expected.end(), epoch1.begin(), epoch1.end());
  expected.insert(expected.end(), epoch2.begin(), epoch2.begin() + 5);
  EXPECT_EQ(drawn, expected);
  // Exactly at an epoch's end the cursor moves to the next epoch's start.
  Cursor exact{"ds", 9, 77, 0, 0};
  std::vector<int64_t> ignored;
  DrawIndices(size, 10, &exact, &ignored);
  EXPECT_EQ(exact.epoch, 1);
  EXPECT_EQ(exact.position, 0);
}

TEST(DrawTest, ResumingFromAnEncodedCursorEqualsOneUninterruptedRun) {
  const uint64_t size = 37;
  Cursor whole{"ds", 5, 2024, 0, 0};
  std::vector<int64_t> uninterrupted;
  DrawIndices(size, 200, &whole, &uninterrupted);

  std::vector<int64_t> pieces;
  std::string saved = EncodeCursor(Cursor{"ds", 5, 2024, 0, 0});
  for (int n : {1, 7, 36, 2, 50, 64, 40}) {
    auto cursor = DecodeCursor(saved);
    ASSERT_TRUE(cursor.ok()) << cursor.status();
    DrawIndices(size, n, &*cursor, &pieces);
    saved = EncodeCursor(*cursor);
  }
  EXPECT_EQ(pieces, uninterrupted);
  EXPECT_EQ(*DecodeCursor(saved), whole);
}

TEST(DrawTest, SizeOneDatasetRepeatsItsRecordOncePerEpoch) {
  Cursor cursor{"ds", 1, 3, 0, 0};
  std::vector<int64_t> drawn;
  DrawIndices(1, 4, &cursor, &drawn);
  EXPECT_EQ(drawn, (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(cursor.epoch, 4);
  EXPECT_EQ(cursor.position, 0);
}

}  // namespace
}  // namespace chord::expert_buffer
