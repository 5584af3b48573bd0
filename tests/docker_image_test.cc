// deploy/docker, checked without a container engine (none on the development and CI machines):
//  - the runtime stage's package list (deploy/docker/runtime-packages.txt) is exactly the set of
//    Debian packages that ship the shared libraries of the image's binaries: `ldd` of every binary
//    of the Dockerfile's CHORD_BINARIES, each path with its symlinks resolved (libblas.so.3 and
//    liblapack.so.3 are alternatives symlinks: they count as the package of the file they point
//    to, which must be OpenBLAS's OpenMP build), then `dpkg -S`;
//  - the list holds no compiler and no -dev package;
//  - every COPY/ADD source of the Dockerfile exists in the repository and is not dropped by
//    .dockerignore, and neither is any file the build stage's CMake build reads.
// The image itself is not built here; docs/deploy.md says so.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/child_process.h"

namespace chord {
namespace {

namespace fs = std::filesystem;
using ::chord::testing::BinaryPath;
using ::chord::testing::CommandResult;
using ::chord::testing::RunCommand;
using ::chord::testing::SourcePath;

constexpr char kDockerfile[] = "deploy/docker/Dockerfile";
constexpr char kRuntimePackages[] = "deploy/docker/runtime-packages.txt";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// One Dockerfile instruction: its keyword (upper case), its arguments as written, its line.
struct Instruction {
  std::string keyword;
  std::string arguments;
  int line = 0;
};

// The instructions of a Dockerfile: comment lines dropped, continuation lines joined.
std::vector<Instruction> ParseDockerfile(const std::string& text) {
  std::vector<Instruction> instructions;
  std::string pending;
  int start_line = 0;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (pending.empty() && (line.empty() || absl::StartsWith(line, "#"))) continue;
    if (!pending.empty() && absl::StartsWith(line, "#")) continue;  // comments inside a RUN
    if (pending.empty()) start_line = line_number;
    bool continues = absl::EndsWith(line, "\\");
    if (continues) line.remove_suffix(1);
    absl::StrAppend(&pending, pending.empty() ? "" : " ", line);
    if (continues) continue;
    std::vector<std::string> parts = absl::StrSplit(pending, absl::MaxSplits(' ', 1));
    Instruction instruction;
    instruction.keyword = absl::AsciiStrToUpper(parts[0]);
    instruction.arguments = parts.size() > 1 ? parts[1] : "";
    instruction.line = start_line;
    instructions.push_back(instruction);
    pending.clear();
  }
  return instructions;
}

// The binaries the image carries: the default of `ARG CHORD_BINARIES="..."`.
std::vector<std::string> ImageBinaries() {
  for (const Instruction& instruction : ParseDockerfile(ReadText(SourcePath(kDockerfile)))) {
    if (instruction.keyword != "ARG") continue;
    absl::string_view argument = instruction.arguments;
    if (!absl::ConsumePrefix(&argument, "CHORD_BINARIES=")) continue;
    argument = absl::StripPrefix(absl::StripSuffix(argument, "\""), "\"");
    return absl::StrSplit(argument, ' ', absl::SkipEmpty());
  }
  return {};
}

// The packages of runtime-packages.txt (comments and blank lines dropped), in file order.
std::vector<std::string> ListedPackages() {
  std::vector<std::string> packages;
  for (absl::string_view line : absl::StrSplit(ReadText(SourcePath(kRuntimePackages)), '\n')) {
    line = line.substr(0, line.find('#'));
    for (absl::string_view word : absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
      packages.emplace_back(word);
    }
  }
  return packages;
}

// The path a library of `ldd` output has on the other side of the merged-/usr layout (Debian 12
// registers most libraries under /lib/..., which is a symlink to /usr/lib/...).
std::string OtherUsrPath(const std::string& path) {
  if (absl::StartsWith(path, "/usr/")) return path.substr(4);
  return "/usr" + path;
}

// `dpkg -S` for every path at once: path -> package (without the architecture).
std::map<std::string, std::string> DpkgOwners(const std::set<std::string>& paths) {
  std::map<std::string, std::string> owners;
  if (paths.empty()) return owners;
  std::string command = "dpkg -S";
  for (const std::string& path : paths) absl::StrAppend(&command, " '", path, "'");
  CommandResult result = RunCommand(command + " 2>/dev/null");
  for (absl::string_view line : absl::StrSplit(result.output, '\n', absl::SkipEmpty())) {
    // "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6"; several owners are joined with ", ".
    size_t colon_space = line.find(": /");
    if (colon_space == absl::string_view::npos) continue;
    std::string path(line.substr(colon_space + 2));
    absl::string_view package = line.substr(0, colon_space);
    package = package.substr(0, package.find(','));
    package = package.substr(0, package.find(':'));
    owners[path] = std::string(absl::StripAsciiWhitespace(package));
  }
  return owners;
}

struct LoadedLibrary {
  std::string soname;     // as ldd names it, e.g. libblas.so.3
  std::string binary;     // the first binary that loads it
  std::string real_path;  // symlinks resolved
  std::string package;    // empty when dpkg knows no owner
};

// Resolves the libraries once for the suite (ldd and dpkg take a second or two).
class RuntimePackagesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    binaries_ = ImageBinaries();
    ASSERT_FALSE(binaries_.empty()) << kDockerfile << ": no ARG CHORD_BINARIES=\"...\"";
    std::map<std::string, LoadedLibrary> by_path;
    const std::regex arrow(R"(^\s*(\S+) => (\S+) \(0x)");
    const std::regex bare(R"(^\s*(/\S+) \(0x)");
    for (const std::string& binary : binaries_) {
      const std::string path = BinaryPath(binary);
      ASSERT_TRUE(fs::exists(path))
          << path << " missing: build it (ninja -C build " << binary << ")";
      CommandResult ldd = RunCommand("ldd " + path);
      ASSERT_EQ(ldd.exit_code, 0) << ldd.output;
      for (absl::string_view line_view : absl::StrSplit(ldd.output, '\n', absl::SkipEmpty())) {
        std::string line(line_view);
        ASSERT_FALSE(absl::StrContains(line, "not found")) << binary << ": " << line;
        std::smatch match;
        std::string soname, library;
        if (std::regex_search(line, match, arrow)) {
          soname = match[1];
          library = match[2];
        } else if (std::regex_search(line, match, bare)) {
          library = match[1];
          soname = fs::path(library).filename().string();
        } else {
          continue;  // linux-vdso.so.1, provided by the kernel
        }
        std::error_code error;
        std::string real = fs::canonical(library, error).string();
        ASSERT_FALSE(error) << binary << ": " << library << ": " << error.message();
        by_path.emplace(real, LoadedLibrary{soname, binary, real, ""});
      }
    }
    std::set<std::string> paths;
    for (const auto& [path, _] : by_path) paths.insert(path);
    std::map<std::string, std::string> owners = DpkgOwners(paths);
    std::set<std::string> unowned;
    for (const auto& [path, _] : by_path) {
      if (!owners.count(path)) unowned.insert(OtherUsrPath(path));
    }
    std::map<std::string, std::string> other = DpkgOwners(unowned);
    for (auto& [path, library] : by_path) {
      if (owners.count(path)) {
        library.package = owners[path];
      } else if (other.count(OtherUsrPath(path))) {
        library.package = other[OtherUsrPath(path)];
      }
      libraries_.push_back(library);
    }
  }

  void SetUp() override {
    ASSERT_FALSE(libraries_.empty()) << "no library resolved (see the first failure)";
  }

  static inline std::vector<std::string> binaries_;
  static inline std::vector<LoadedLibrary> libraries_;
};

TEST_F(RuntimePackagesTest, ListIsExactlyThePackagesThatShipTheLibraries) {
  std::set<std::string> needed;
  std::map<std::string, std::string> example;  // package -> "libx.so.1 (chord-learner)"
  for (const LoadedLibrary& library : libraries_) {
    EXPECT_FALSE(library.package.empty())
        << library.real_path << " (" << library.soname << ", loaded by " << library.binary
        << ") belongs to no Debian package: the image would not have it";
    if (library.package.empty()) continue;
    needed.insert(library.package);
    example.emplace(library.package, absl::StrCat(library.soname, " of ", library.binary));
  }
  std::vector<std::string> listed_in_order = ListedPackages();
  std::set<std::string> listed(listed_in_order.begin(), listed_in_order.end());
  EXPECT_EQ(listed.size(), listed_in_order.size()) << kRuntimePackages << " lists a package twice";
  std::vector<std::string> missing, unneeded;
  for (const std::string& package : needed) {
    if (!listed.count(package))
      missing.push_back(absl::StrCat(package, " (", example[package], ")"));
  }
  for (const std::string& package : listed) {
    if (!needed.count(package)) unneeded.push_back(package);
  }
  EXPECT_TRUE(missing.empty()) << kRuntimePackages << " misses " << missing.size()
                               << " package(s) the binaries load: " << absl::StrJoin(missing, ", ");
  EXPECT_TRUE(unneeded.empty()) << kRuntimePackages << " lists " << unneeded.size()
                                << " package(s) no binary of " << absl::StrJoin(binaries_, " ")
                                << " loads: " << absl::StrJoin(unneeded, ", ");
  // Sanity: the big ones are there (a parse that found nothing would pass the comparison).
  EXPECT_TRUE(needed.count("libtorch1.13")) << absl::StrJoin(needed, " ");
  EXPECT_TRUE(needed.count("libgrpc++1.51")) << absl::StrJoin(needed, " ");
  EXPECT_TRUE(needed.count("libc6")) << absl::StrJoin(needed, " ");
}

// libblas.so.3 and liblapack.so.3 are the alternatives system's symlinks; the image points them at
// OpenBLAS's OpenMP build, so that is the package the list must carry (and this machine must
// agree, or the ldd above described another BLAS).
TEST_F(RuntimePackagesTest, BlasIsOpenBlasOpenMp) {
  int found = 0;
  for (const LoadedLibrary& library : libraries_) {
    if (!absl::StartsWith(library.soname, "libblas.so") &&
        !absl::StartsWith(library.soname, "liblapack.so")) {
      continue;
    }
    ++found;
    EXPECT_TRUE(absl::StrContains(library.real_path, "/openblas-openmp/"))
        << library.soname << " resolves to " << library.real_path
        << " here, not OpenBLAS's OpenMP build: run tools/install-deps.sh as root";
    EXPECT_EQ(library.package, "libopenblas0-openmp") << library.real_path;
  }
  EXPECT_EQ(found, 2) << "expected libtorch to load libblas.so.3 and liblapack.so.3";
  const std::string dockerfile = ReadText(SourcePath(kDockerfile));
  EXPECT_TRUE(absl::StrContains(dockerfile, "openblas-openmp/libblas.so.3"));
  EXPECT_TRUE(absl::StrContains(dockerfile, "openblas-openmp/liblapack.so.3"));
  EXPECT_TRUE(absl::StrContains(dockerfile, "update-alternatives --set \"libblas.so.3-"));
}

TEST(DockerImageTest, RuntimeListHasNoCompilerAndNoDevPackage) {
  std::vector<std::string> packages = ListedPackages();
  ASSERT_FALSE(packages.empty()) << kRuntimePackages;
  const std::set<std::string> toolchain = {
      "build-essential", "gcc", "g++", "cpp", "clang", "cmake", "ninja-build", "make", "ccache"};
  for (const std::string& package : packages) {
    EXPECT_FALSE(absl::EndsWith(package, "-dev")) << package;
    EXPECT_FALSE(toolchain.count(package)) << package;
    EXPECT_FALSE(absl::StartsWith(package, "gcc-") || absl::StartsWith(package, "g++-")) << package;
  }
}

// .dockerignore, with Docker's rules for the patterns it uses: a leading '/' is dropped, '*' and
// '?' stay within one path component, '**' spans components, a pattern that matches a directory
// drops everything below it, the last matching pattern wins and '!' keeps a path.
class DockerIgnore {
 public:
  explicit DockerIgnore(const std::string& text) {
    for (absl::string_view raw : absl::StrSplit(text, '\n')) {
      absl::string_view line = absl::StripAsciiWhitespace(raw);
      if (line.empty() || absl::StartsWith(line, "#")) continue;
      bool keep = absl::ConsumePrefix(&line, "!");
      line = absl::StripPrefix(line, "/");
      line = absl::StripSuffix(line, "/");
      patterns_.push_back({std::regex(ToRegex(line)), keep, std::string(line)});
    }
  }

  // The pattern that drops `path` (relative to the context), or "" when it is sent.
  std::string DroppedBy(const std::string& path) const {
    std::string dropped_by;
    for (const Pattern& pattern : patterns_) {
      bool matches = false;
      std::string prefix;
      for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
        prefix = prefix.empty() ? std::string(part) : absl::StrCat(prefix, "/", part);
        if (std::regex_match(prefix, pattern.regex)) matches = true;
      }
      if (matches) dropped_by = pattern.keep ? "" : pattern.text;
    }
    return dropped_by;
  }

 private:
  struct Pattern {
    std::regex regex;
    bool keep;
    std::string text;
  };

  static std::string ToRegex(absl::string_view pattern) {
    std::string regex;
    for (size_t i = 0; i < pattern.size(); ++i) {
      char c = pattern[i];
      if (c == '*' && i + 1 < pattern.size() && pattern[i + 1] == '*') {
        bool slash = i + 2 < pattern.size() && pattern[i + 2] == '/';
        regex += slash ? "(.*/)?" : ".*";
        i += slash ? 2 : 1;
      } else if (c == '*') {
        regex += "[^/]*";
      } else if (c == '?') {
        regex += "[^/]";
      } else if (std::string(".+()[]{}^$|\\").find(c) != std::string::npos) {
        regex += std::string("\\") + c;
      } else {
        regex += c;
      }
    }
    return regex;
  }

  std::vector<Pattern> patterns_;
};

// The sources of one COPY/ADD, or an empty list for one that reads no repository path (a
// stage or named context with --from, a heredoc).
std::vector<std::string> CopySources(const Instruction& instruction) {
  std::vector<std::string> words;
  absl::string_view arguments = absl::StripAsciiWhitespace(instruction.arguments);
  while (absl::StartsWith(arguments, "--")) {
    size_t end = arguments.find(' ');
    absl::string_view flag = arguments.substr(0, end);
    if (absl::StartsWith(flag, "--from=")) return {};
    arguments = end == absl::string_view::npos
                    ? absl::string_view()
                    : absl::StripLeadingAsciiWhitespace(arguments.substr(end));
  }
  if (absl::StrContains(arguments, "<<")) return {};
  if (absl::StartsWith(arguments, "[")) {  // JSON form: ["src", ..., "dest"]
    const std::regex quoted(R"re("([^"]*)")re");
    std::string text(arguments);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), quoted);
         it != std::sregex_iterator(); ++it) {
      words.push_back((*it)[1]);
    }
  } else {
    words = absl::StrSplit(arguments, ' ', absl::SkipEmpty());
  }
  if (words.size() < 2) return {"<" + instruction.arguments + ">"};  // reported as missing
  words.pop_back();                                                  // the destination
  return words;
}

TEST(DockerImageTest, EveryCopySourceIsInTheRepository) {
  const std::vector<Instruction> instructions = ParseDockerfile(ReadText(SourcePath(kDockerfile)));
  const DockerIgnore ignore(ReadText(SourcePath(".dockerignore")));
  int sources = 0;
  for (const Instruction& instruction : instructions) {
    if (instruction.keyword != "COPY" && instruction.keyword != "ADD") continue;
    for (const std::string& source : CopySources(instruction)) {
      ++sources;
      const std::string where =
          absl::StrCat(kDockerfile, ":", instruction.line, ": ", instruction.keyword, " ", source);
      EXPECT_FALSE(absl::StrContains(source, "$")) << where << ": a variable cannot be checked";
      EXPECT_FALSE(absl::StrContains(source, "://")) << where << ": not a repository path";
      EXPECT_FALSE(absl::StartsWith(source, "/") || absl::StrContains(source, ".."))
          << where << ": outside the build context";
      EXPECT_TRUE(fs::exists(SourcePath(source))) << where << ": no such file in the repository";
      if (source != ".") {
        EXPECT_EQ(ignore.DroppedBy(source), "")
            << where << ": .dockerignore drops it (pattern " << ignore.DroppedBy(source) << ")";
      }
    }
  }
  EXPECT_GE(sources, 3) << "COPY sources found: the Dockerfile parse found too few";
}

// `COPY . /src` then builds with CMake: no file of what the top-level CMakeLists.txt reads may
// be left out of the build context.
TEST(DockerImageTest, DockerIgnoreKeepsWhatTheBuildReads) {
  const DockerIgnore ignore(ReadText(SourcePath(".dockerignore")));
  std::vector<std::string> roots = {"CMakeLists.txt", "cmake"};
  const std::regex subdirectory(R"(add_subdirectory\((\w+)\))");
  const std::string top = ReadText(SourcePath("CMakeLists.txt"));
  for (auto it = std::sregex_iterator(top.begin(), top.end(), subdirectory);
       it != std::sregex_iterator(); ++it) {
    roots.push_back((*it)[1]);
  }
  ASSERT_GE(roots.size(), 6u) << "add_subdirectory() calls of CMakeLists.txt not found";
  const fs::path source_root = fs::path(SourcePath(""));
  int files = 0;
  std::vector<std::string> dropped;
  for (const std::string& root : roots) {
    const fs::path start = source_root / root;
    ASSERT_TRUE(fs::exists(start)) << start;
    if (fs::is_regular_file(start)) {
      ++files;
      if (!ignore.DroppedBy(root).empty()) dropped.push_back(root);
      continue;
    }
    for (const auto& entry : fs::recursive_directory_iterator(start)) {
      if (!entry.is_regular_file()) continue;
      std::string relative = fs::relative(entry.path(), source_root).string();
      if (absl::StrContains(relative, "__pycache__")) continue;
      ++files;
      std::string pattern = ignore.DroppedBy(relative);
      if (!pattern.empty()) dropped.push_back(absl::StrCat(relative, " (", pattern, ")"));
    }
  }
  EXPECT_GT(files, 100);
  EXPECT_TRUE(dropped.empty()) << ".dockerignore drops files the build reads: "
                               << absl::StrJoin(dropped, ", ");
  // And it does leave out the build tree and the downloaded tools.
  EXPECT_NE(ignore.DroppedBy("build/bin/chord-learner"), "");
  EXPECT_NE(ignore.DroppedBy(".tools/bin/helm"), "");
  EXPECT_NE(ignore.DroppedBy(".git/HEAD"), "");
}

}  // namespace
}  // namespace chord
