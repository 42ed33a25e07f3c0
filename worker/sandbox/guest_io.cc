#include "worker/sandbox/guest_io.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/time/clock.h"

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

int64_t HostIo::Read(int fd, char* buf, uint64_t len, absl::Time deadline) {
  for (;;) {
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return -ETIMEDOUT;
      pollfd pfd = {fd, POLLIN, 0};
      const int ms = static_cast<int>(
          std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
      const int r = ::poll(&pfd, 1, ms);
      if (r < 0 && errno != EINTR) return -errno;
      if (r <= 0) continue;  // timed out a step (or EINTR): check again
    }
    const ssize_t n = ::read(fd, buf, len);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

int64_t StringIo::Write(int fd, absl::string_view data) {
  (fd == 2 ? err_ : out_).append(data.data(), data.size());
  return static_cast<int64_t>(data.size());
}

int64_t StringIo::Read(int fd, char* buf, uint64_t len, absl::Time deadline) {
  const size_t n = std::min<size_t>(len, input_.size() - input_pos_);
  std::memcpy(buf, input_.data() + input_pos_, n);
  input_pos_ += n;
  return static_cast<int64_t>(n);
}

}  // namespace memmgr::sandbox
