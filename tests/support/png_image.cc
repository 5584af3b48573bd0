#include "tests/support/png_image.h"

#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace chord::testing {

absl::StatusOr<PngSummary> ReadPngSummary(const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct Closer {
    FILE* file;
    ~Closer() { std::fclose(file); }
  } closer{file};
  if (!png_image_begin_read_from_stdio(&image, file)) {
    std::string message = image.message;
    png_image_free(&image);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a PNG: ", message));
  }
  image.format = PNG_FORMAT_RGBA;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot decode: ", message));
  }
  PngSummary summary;
  summary.width = static_cast<int>(image.width);
  summary.height = static_cast<int>(image.height);
  const size_t count = static_cast<size_t>(image.width) * image.height;
  std::unordered_set<uint32_t> colors;
  auto rgb = [&pixels](size_t i) {
    return (uint32_t{pixels[4 * i]} << 16) | (uint32_t{pixels[4 * i + 1]} << 8) | pixels[4 * i + 2];
  };
  const uint32_t background = count > 0 ? rgb(0) : 0;
  size_t different = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t c = rgb(i);
    colors.insert(c);
    if (c != background) ++different;
  }
  summary.distinct_colors = static_cast<int64_t>(colors.size());
  summary.non_background_share = count > 0 ? static_cast<double>(different) / count : 0;
  return summary;
}

}  // namespace chord::testing
