// LibTorch (Debian's build) runs its float32 matrix products through libblas.so.3. That must be
// OpenBLAS's OpenMP build: netlib's reference BLAS makes training 3-14x slower end to end, and
// OpenBLAS's pthread build fights LibTorch's own threads (docs/operations.md). This test runs a
// matrix product and checks which BLAS the process actually mapped. A LibTorch that brings its
// own BLAS (MKL, as PyTorch's wheels do) maps no libblas.so.3 at all; that passes too.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> MappedBlasLibraries() {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::string> found;
  std::string line;
  while (std::getline(maps, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    bool blas = path.find("libblas.so") != std::string::npos ||
                path.find("libopenblas") != std::string::npos;
    bool seen = false;
    for (const std::string& p : found) seen |= (p == path);
    if (blas && !seen) found.push_back(path);
  }
  return found;
}

TEST(BlasBackendTest, MatrixProductsRunOnOpenBlasOpenMp) {
  at::Tensor a = at::rand({64, 64});
  at::Tensor c = at::mm(a, a);
  ASSERT_EQ(c.size(0), 64);
  std::vector<std::string> libraries = MappedBlasLibraries();
  std::string all;
  for (const std::string& path : libraries) all += path + "\n";
  for (const std::string& path : libraries) {
    EXPECT_NE(path.find("openblas-openmp"), std::string::npos)
        << "LibTorch's BLAS is " << path
        << ", not OpenBLAS's OpenMP build: run tools/install-deps.sh (as root) or "
           "update-alternatives --set libblas.so.3-x86_64-linux-gnu "
           "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3\nmapped:\n"
        << all;
  }
  std::printf("BLAS libraries mapped: %s", all.empty() ? "(none)\n" : all.c_str());
}

}  // namespace
