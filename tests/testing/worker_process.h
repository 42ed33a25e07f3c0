// WorkerProcess: runs the real `memmgr-worker serve` for integration tests
// on 127.0.0.1 with ephemeral gRPC and metrics ports (--listen=127.0.0.1:0
// + --port_file), its files under a directory the test owns. Killed
// (SIGKILL) on destruction if still running.
#ifndef MEMMGR_TESTS_TESTING_WORKER_PROCESS_H_
#define MEMMGR_TESTS_TESTING_WORKER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace memmgr::testing {

class WorkerProcess {
 public:
  // Starts `binary serve` with ephemeral ports and `extra_flags`; its port
  // files and log go to `dir` (which must exist). Waits until both ports
  // are written.
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Start(
      const std::string& binary, const std::string& dir,
      const std::vector<std::string>& extra_flags = {},
      absl::Duration timeout = absl::Seconds(30));
  ~WorkerProcess();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string ReadLog() const;

  void Signal(int sig);
  // Waits for exit; returns the raw wait status, or -1 on timeout.
  int Wait(absl::Duration timeout = absl::Seconds(30));

 private:
  WorkerProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
};

}  // namespace memmgr::testing

#endif  // MEMMGR_TESTS_TESTING_WORKER_PROCESS_H_
