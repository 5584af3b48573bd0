#pragma once

// Test support: decode a PNG file with libpng and describe its pixels, to check that a picture
// was drawn (size, not blank) without comparing it to a reference image.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace chord::testing {

struct PngSummary {
  int width = 0;
  int height = 0;
  // Distinct RGB colours (alpha ignored).
  int64_t distinct_colors = 0;
  // Share of pixels that differ from the top-left pixel (the background).
  double non_background_share = 0;
};

// Decodes `path` (any PNG colour type and bit depth; read as 8-bit RGBA). INVALID_ARGUMENT naming
// the file when it is not a PNG libpng can decode; NOT_FOUND when it cannot be opened.
absl::StatusOr<PngSummary> ReadPngSummary(const std::string& path);

}  // namespace chord::testing
