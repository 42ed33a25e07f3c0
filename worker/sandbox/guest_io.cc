#include "worker/sandbox/guest_io.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace memmgr::sandbox {

int64_t HostIo::Write(int fd, absl::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return done > 0 ? static_cast<int64_t>(done) : -errno;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

int64_t HostIo::Read(int fd, char* buf, uint64_t len) {
  for (;;) {
    const ssize_t n = ::read(fd, buf, len);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

int64_t StringIo::Write(int fd, absl::string_view data) {
  (fd == 2 ? err_ : out_).append(data.data(), data.size());
  return static_cast<int64_t>(data.size());
}

int64_t StringIo::Read(int fd, char* buf, uint64_t len) {
  const size_t n = std::min<size_t>(len, input_.size() - input_pos_);
  std::memcpy(buf, input_.data() + input_pos_, n);
  input_pos_ += n;
  return static_cast<int64_t>(n);
}

}  // namespace memmgr::sandbox
