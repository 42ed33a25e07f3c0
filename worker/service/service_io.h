// ServiceIo: the GuestIo of a sandbox run by the worker service. stdin is
// the bytes given to CreateSandbox (or a fork's delta), read to EOF and
// never blocking; stdout and stderr go to the sandbox's OutputBuffer, where
// Attach readers pick them up.
//
// Thread-safety: Read/Write and remaining_stdin() are called by the thread
// that currently runs (or holds) the sandbox only, like any GuestIo. The
// OutputBuffer it writes to is thread-safe.
#ifndef MEMMGR_WORKER_SERVICE_SERVICE_IO_H_
#define MEMMGR_WORKER_SERVICE_SERVICE_IO_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "worker/sandbox/guest_io.h"
#include "worker/service/output_buffer.h"

namespace memmgr::worker {

class ServiceIo final : public sandbox::GuestIo {
 public:
  ServiceIo(std::string stdin_bytes, std::shared_ptr<OutputBuffer> output)
      : stdin_(std::move(stdin_bytes)), output_(std::move(output)) {}

  int64_t Write(int fd, absl::string_view data) override;
  int64_t Read(int fd, char* buf, uint64_t len, absl::Time deadline) override;

  // The stdin the guest has not read yet (a snapshot's forks inherit it).
  absl::string_view remaining_stdin() const {
    return absl::string_view(stdin_).substr(stdin_pos_);
  }

 private:
  const std::string stdin_;
  size_t stdin_pos_ = 0;
  const std::shared_ptr<OutputBuffer> output_;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_SERVICE_IO_H_
