#include "worker/service/image_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace memmgr::worker {
namespace {

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": no such image"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": ", std::strerror(err)));
  }
  return std::string(buf);
}

}  // namespace

absl::StatusOr<std::string> ReadImage(const std::string& images_dir,
                                      absl::string_view name,
                                      uint64_t max_bytes) {
  if (images_dir.empty()) {
    return absl::FailedPreconditionError(
        "this worker has no --images_dir: send the ELF bytes instead");
  }
  if (name.empty() || name.size() > 255) {
    return absl::InvalidArgumentError("image name must be 1..255 bytes");
  }
  if (name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("image name contains a NUL byte");
  }
  if (name.front() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("image name '", name,
                     "' is absolute; give a name inside --images_dir"));
  }
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "image name '", name,
          "' has an empty, '.' or '..' component; give a plain path inside "
          "--images_dir"));
    }
  }
  absl::StatusOr<std::string> dir = RealPath(images_dir);
  if (!dir.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--images_dir ", images_dir,
                     " is not usable: ", dir.status().message()));
  }
  absl::StatusOr<std::string> path =
      RealPath(absl::StrCat(images_dir, "/", name));
  if (!path.ok()) {
    if (path.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("no image '", name, "'"));
    }
    return path.status();
  }
  if (path->compare(0, dir->size() + 1, *dir + "/") != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "image '", name, "' resolves outside --images_dir (a symlink?)"));
  }
  const int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("image '", name, "': ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("image '", name, "' is not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("image '", name, "' is ", st.st_size,
                     " bytes; the limit is ", max_bytes));
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got != data.size()) {
    return absl::UnavailableError(
        absl::StrCat("image '", name, "': short read"));
  }
  return data;
}

}  // namespace memmgr::worker
