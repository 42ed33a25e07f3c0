#include "worker/service/service_io.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace memmgr::worker {

int64_t ServiceIo::Write(int fd, absl::string_view data) {
  if (fd != 1 && fd != 2) return -EBADF;
  output_->Append(fd, data);
  return static_cast<int64_t>(data.size());
}

int64_t ServiceIo::Read(int fd, char* buf, uint64_t len,
                        absl::Time /*deadline*/) {
  if (fd != 0) return -EBADF;
  // All of stdin is here already: never blocks, 0 at the end.
  const size_t n = std::min<uint64_t>(len, stdin_.size() - stdin_pos_);
  std::memcpy(buf, stdin_.data() + stdin_pos_, n);
  stdin_pos_ += n;
  return static_cast<int64_t>(n);
}

}  // namespace memmgr::worker
