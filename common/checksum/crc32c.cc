#include "common/checksum/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CHORD_CRC32C_X86 1
#endif

namespace chord::checksum {
namespace {

// The Castagnoli polynomial, bit-reflected (x^0 in the top bit, x^32 implied).
constexpr uint32_t kPoly = 0x82F63B78u;

using Table = std::array<uint32_t, 256>;

// slicing[0] is the classic byte-at-a-time table; slicing[k][b] is the CRC of byte b followed by
// k zero bytes, which lets the portable path fold 8 input bytes per step.
constexpr std::array<Table, 8> MakeSlicingTables() {
  std::array<Table, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ kPoly : crc >> 1;
    t[0][b] = crc;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}
constexpr std::array<Table, 8> kSlicing = MakeSlicingTables();

// a(x) * b(x) modulo the polynomial, both reflected (zlib's multmodp).
constexpr uint32_t MultModP(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31;
  uint32_t p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
  }
  return p;
}

// x^(2^k) modulo the polynomial, k = 0..63.
constexpr std::array<uint32_t, 64> MakeX2nTable() {
  std::array<uint32_t, 64> t{};
  uint32_t p = 1u << 30;  // x^1
  t[0] = p;
  for (int k = 1; k < 64; ++k) t[k] = p = MultModP(p, p);
  return t;
}
constexpr std::array<uint32_t, 64> kX2n = MakeX2nTable();

// x^(8 * n) modulo the polynomial: appending n zero bytes multiplies a CRC state by this.
constexpr uint32_t XPow8N(uint64_t n) {
  uint32_t p = 1u << 31;  // x^0
  unsigned k = 3;         // 8 = 2^3
  while (n != 0) {
    if (n & 1) p = MultModP(kX2n[k & 63], p);
    n >>= 1;
    ++k;
  }
  return p;
}

uint32_t PortableUpdate(uint32_t state, const uint8_t* p, size_t n) {
  while (n != 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    state = (state >> 8) ^ kSlicing[0][(state ^ *p++) & 0xFF];
    --n;
  }
  while (n >= 8) {
    // Little-endian word assembled byte by byte: correct on any host, one load on x86/ARM.
    uint32_t lo = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                  static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
    uint32_t hi = static_cast<uint32_t>(p[4]) | static_cast<uint32_t>(p[5]) << 8 |
                  static_cast<uint32_t>(p[6]) << 16 | static_cast<uint32_t>(p[7]) << 24;
    lo ^= state;
    state = kSlicing[7][lo & 0xFF] ^ kSlicing[6][(lo >> 8) & 0xFF] ^
            kSlicing[5][(lo >> 16) & 0xFF] ^ kSlicing[4][lo >> 24] ^ kSlicing[3][hi & 0xFF] ^
            kSlicing[2][(hi >> 8) & 0xFF] ^ kSlicing[1][(hi >> 16) & 0xFF] ^ kSlicing[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n != 0) {
    state = (state >> 8) ^ kSlicing[0][(state ^ *p++) & 0xFF];
    --n;
  }
  return state;
}

#ifdef CHORD_CRC32C_X86

// The hardware path runs three independent crc32 streams over adjacent blocks to hide the
// instruction's 3-cycle latency, then joins them by shifting with a precomputed table.
constexpr size_t kStreamBlock = 8192;

// kShift[j][b] = (b << 8j) * x^(8 * kStreamBlock) mod P: shifting a state past kStreamBlock bytes
// is linear, so it is the XOR of four byte lookups.
constexpr std::array<Table, 4> MakeShiftTables() {
  std::array<Table, 4> t{};
  constexpr uint32_t k = XPow8N(kStreamBlock);
  for (int j = 0; j < 4; ++j) {
    for (uint32_t b = 0; b < 256; ++b) t[j][b] = MultModP(k, b << (8 * j));
  }
  return t;
}
constexpr std::array<Table, 4> kShift = MakeShiftTables();

inline uint32_t ShiftBlock(uint32_t s) {
  return kShift[0][s & 0xFF] ^ kShift[1][(s >> 8) & 0xFF] ^ kShift[2][(s >> 16) & 0xFF] ^
         kShift[3][s >> 24];
}

__attribute__((target("sse4.2"))) uint32_t HardwareUpdate(uint32_t state, const uint8_t* p,
                                                          size_t n) {
  while (n != 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    state = _mm_crc32_u8(state, *p++);
    --n;
  }
#if defined(__x86_64__)
  auto load = [](const uint8_t* q) {
    uint64_t w;
    std::memcpy(&w, q, sizeof(w));
    return w;
  };
  while (n >= 3 * kStreamBlock) {
    uint64_t a = state, b = 0, c = 0;
    const uint8_t* pb = p + kStreamBlock;
    const uint8_t* pc = p + 2 * kStreamBlock;
    for (size_t i = 0; i < kStreamBlock; i += 8) {
      a = _mm_crc32_u64(a, load(p + i));
      b = _mm_crc32_u64(b, load(pb + i));
      c = _mm_crc32_u64(c, load(pc + i));
    }
    state = ShiftBlock(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
    state = ShiftBlock(state) ^ static_cast<uint32_t>(c);
    p += 3 * kStreamBlock;
    n -= 3 * kStreamBlock;
  }
  uint64_t s64 = state;
  while (n >= 8) {
    s64 = _mm_crc32_u64(s64, load(p));
    p += 8;
    n -= 8;
  }
  state = static_cast<uint32_t>(s64);
#endif
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, sizeof(w));
    state = _mm_crc32_u32(state, w);
    p += 4;
    n -= 4;
  }
  while (n != 0) {
    state = _mm_crc32_u8(state, *p++);
    --n;
  }
  return state;
}

bool DetectHardware() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}

#endif  // CHORD_CRC32C_X86

}  // namespace

bool Crc32cHardwareAvailable() {
#ifdef CHORD_CRC32C_X86
  static const bool available = DetectHardware();
  return available;
#else
  return false;
#endif
}

uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc) {
  return ~PortableUpdate(~crc, static_cast<const uint8_t*>(data), n);
}

uint32_t Crc32cHardware(const void* data, size_t n, uint32_t crc) {
#ifdef CHORD_CRC32C_X86
  if (Crc32cHardwareAvailable()) {
    return ~HardwareUpdate(~crc, static_cast<const uint8_t*>(data), n);
  }
#endif
  return Crc32cPortable(data, n, crc);
}

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) { return Crc32cHardware(data, n, crc); }

uint32_t Crc32cCopy(void* dst, const void* src, size_t n, uint32_t crc) {
  // 64 KiB stays in L2 between the copy and the checksum.
  constexpr size_t kBlock = 64 << 10;
  auto* d = static_cast<uint8_t*>(dst);
  const auto* s = static_cast<const uint8_t*>(src);
  while (n != 0) {
    size_t len = n < kBlock ? n : kBlock;
    std::memcpy(d, s, len);
    crc = Crc32c(s, len, crc);
    d += len;
    s += len;
    n -= len;
  }
  return crc;
}

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return MultModP(XPow8N(len_b), crc_a) ^ crc_b;
}

}  // namespace chord::checksum
