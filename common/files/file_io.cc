#include "common/files/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/files/fault_injection.h"

namespace chord::files {
namespace {

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status ErrnoStatus(absl::string_view what, const std::string& path, int err) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  if (const int err = FaultFor(FileOp::kOpen, path)) return ErrnoStatus("cannot open", path, err);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  std::string content;
  struct stat st {};
  if (fstat(fd, &st) == 0 && st.st_size > 0) content.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (const int err = FaultFor(FileOp::kRead, path)) {
      errno = err;
      n = -1;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoStatus("cannot read", path, err);
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return content;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", tmp, errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (const int err = FaultFor(FileOp::kWrite, path)) {
      errno = err;
      n = -1;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return ErrnoStatus("cannot write", tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (int err = FaultFor(FileOp::kSync, path); err != 0 || fsync(fd) != 0) {
    if (err == 0) err = errno;
    close(fd);
    unlink(tmp.c_str());
    return ErrnoStatus("cannot fsync", tmp, err);
  }
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus("cannot close", tmp, err);
  }
  if (int err = FaultFor(FileOp::kRename, path);
      err != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    if (err == 0) err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(absl::StrCat("cannot rename ", tmp, " to"), path, err);
  }
  return SyncDirectory(DirName(path));
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", dir, errno);
  int err = FaultFor(FileOp::kSync, dir);
  int rc = err != 0 ? -1 : fsync(fd);
  if (rc != 0 && err == 0) err = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", dir, err);
  return absl::OkStatus();
}

}  // namespace chord::files
