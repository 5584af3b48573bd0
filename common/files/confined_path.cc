#include "common/files/confined_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace chord::files {
namespace {

namespace fs = std::filesystem;

// What kind of file `mode` is, for messages.
const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symlink";
  return "not a regular file";
}

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<ConfinedRoots> ConfinedRoots::Create(const std::vector<std::string>& roots,
                                                    absl::string_view what) {
  if (roots.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no directory given"));
  std::vector<std::string> resolved;
  for (const std::string& root : roots) {
    if (root.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty directory"));
    std::error_code error;
    fs::path canonical = fs::canonical(root, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", root, ": cannot resolve: ", error.message()));
    }
    if (!fs::is_directory(canonical, error)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", root, ": not a directory"));
    }
    resolved.push_back(canonical.string());
  }
  return ConfinedRoots(std::move(resolved), std::string(what));
}

std::string ConfinedRoots::Describe() const { return absl::StrJoin(roots_, ", "); }

bool ConfinedRoots::Contains(const std::string& resolved) const {
  for (const std::string& root : roots_) {
    if (root == "/" || resolved == root) return true;
    if (resolved.size() > root.size() && resolved.compare(0, root.size(), root) == 0 &&
        resolved[root.size()] == '/') {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::string> ConfinedRoots::Resolve(const std::string& path) const {
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  fs::path named(path);
  if (named.is_relative()) named = fs::path(roots_.front()) / named;
  std::error_code error;
  fs::path resolved = fs::weakly_canonical(named, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot resolve: ", error.message()));
  }
  std::string text = resolved.lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  if (!Contains(text)) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": outside ", what_, " (", Describe(), "); it resolves to ", text));
  }
  return text;
}

absl::StatusOr<std::string> ConfinedRoots::ReadFile(const std::string& path,
                                                    int64_t max_bytes) const {
  absl::StatusOr<std::string> resolved = Resolve(path);
  if (!resolved.ok()) return resolved.status();
  // Refuse anything but a regular file before opening it: opening some devices has effects.
  struct stat before {};
  if (lstat(resolved->c_str(), &before) != 0) {
    int err = errno;
    std::string message = absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::InternalError(message);
  }
  if (!S_ISREG(before.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", KindOf(before.st_mode), ", not a regular file"));
  }
  // O_NOFOLLOW: a symlink swapped in since Resolve is not followed. O_NONBLOCK: a FIFO swapped in
  // does not block the open.
  int fd = open(resolved->c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM || err == ELOOP) {
      return absl::PermissionDeniedError(message);
    }
    return absl::InternalError(message);
  }
  FdCloser closer(fd);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", KindOf(st.st_mode), ", not a regular file"));
  }
  // The file actually opened (a directory above it may have been swapped since Resolve).
  char opened[4096];
  std::string fd_link = absl::StrCat("/proc/self/fd/", fd);
  ssize_t length = readlink(fd_link.c_str(), opened, sizeof(opened) - 1);
  if (length > 0) {
    std::string opened_path(opened, static_cast<size_t>(length));
    if (!Contains(opened_path)) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": outside ", what_, " (", Describe(),
                                                      "); the opened file is ", opened_path));
    }
  }
  if (st.st_size > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", st.st_size, " bytes exceed the limit of ", max_bytes, " bytes per file"));
  }
  std::string content;
  content.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    if (static_cast<int64_t>(content.size()) + n > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": grew past the limit of ", max_bytes,
                                                     " bytes per file while being read"));
    }
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

}  // namespace chord::files
