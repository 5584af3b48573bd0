#pragma once

// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected; the checksum of iSCSI, ext4, gRPC's
// compression-free framing and LevelDB). Used to verify weight streams and checkpoints.
//
// Values are the standard ones: Crc32c("123456789", 9) == 0xE3069283. The `crc` argument extends
// an earlier result, so checksums can be computed piecewise:
//   Crc32c(b, nb, Crc32c(a, na)) == Crc32c(a || b)
// and two independently computed checksums can be joined without touching the data again:
//   Crc32cCombine(Crc32c(a, na), Crc32c(b, nb), nb) == Crc32c(a || b)
//
// Crc32c() uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run time; the
// rest of the build needs no -msse4.2) and a portable slicing-by-8 table implementation otherwise.
// All functions are pure and thread-safe.

#include <cstddef>
#include <cstdint>

namespace chord::checksum {

// CRC-32C of `n` bytes at `data` (any alignment), extending `crc` (0 for a fresh checksum).
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

// CRC-32C of the concatenation A||B given crc_a = Crc32c(A), crc_b = Crc32c(B) and B's length.
// O(log len_b) work, independent of the data.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// Copies `n` bytes from `src` to `dst` (non-overlapping) and returns their CRC-32C extending
// `crc`, reading the source once from memory: blocks are checksummed while still in cache.
uint32_t Crc32cCopy(void* dst, const void* src, size_t n, uint32_t crc = 0);

// The two implementations behind Crc32c(), exposed for tests and benchmarks.
// True when this CPU runs the hardware path.
bool Crc32cHardwareAvailable();
// Portable slicing-by-8; same contract as Crc32c().
uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc = 0);
// SSE4.2 path; same contract as Crc32c(). Falls back to Crc32cPortable() when the CPU lacks it.
uint32_t Crc32cHardware(const void* data, size_t n, uint32_t crc = 0);

}  // namespace chord::checksum
