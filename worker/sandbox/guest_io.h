// GuestIo: the sandbox's only seam to the host's standard streams. A guest
// has fds 0, 1 and 2; what they are connected to is the embedder's choice:
// the host's own stdio for `memmgr-worker run`, strings in tests.
//
// Thread-safety: called by the thread running the sandbox only.
#ifndef MEMMGR_WORKER_SANDBOX_GUEST_IO_H_
#define MEMMGR_WORKER_SANDBOX_GUEST_IO_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace memmgr::sandbox {

class GuestIo {
 public:
  virtual ~GuestIo() = default;
  // fd is 1 or 2. Returns bytes written or -errno.
  virtual int64_t Write(int fd, absl::string_view data) = 0;
  // fd is 0. Returns bytes read (0 at end of input) or -errno; waits at
  // most until `deadline` (then -ETIMEDOUT), so --timeout holds even while
  // the guest blocks on input.
  virtual int64_t Read(int fd, char* buf, uint64_t len,
                       absl::Time deadline) = 0;
};

// The host process's own fds 0/1/2 (write(2)/read(2), retried on EINTR).
class HostIo final : public GuestIo {
 public:
  int64_t Write(int fd, absl::string_view data) override;
  int64_t Read(int fd, char* buf, uint64_t len, absl::Time deadline) override;
};

// Captures output in strings and serves stdin from a string (tests).
class StringIo final : public GuestIo {
 public:
  explicit StringIo(std::string input = "") : input_(std::move(input)) {}
  int64_t Write(int fd, absl::string_view data) override;
  int64_t Read(int fd, char* buf, uint64_t len, absl::Time deadline) override;
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  std::string input_;
  size_t input_pos_ = 0;
  std::string out_;
  std::string err_;
};

}  // namespace memmgr::sandbox

#endif  // MEMMGR_WORKER_SANDBOX_GUEST_IO_H_
