// ServerProcess: runs the real memmgr-server binary for integration tests on
// 127.0.0.1 with ephemeral ports (--listen=127.0.0.1:0 + --port_file), its
// data in a directory the test owns. Killed (SIGKILL) on destruction if
// still running.
#ifndef MEMMGR_TESTS_TESTING_SERVER_PROCESS_H_
#define MEMMGR_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace memmgr::testing {

class ServerProcess {
 public:
  // Starts `binary` with --data_dir=data_dir, ephemeral gRPC and metrics
  // ports, and `extra_flags`; waits until both port files exist.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, const std::string& data_dir,
      const std::vector<std::string>& extra_flags = {},
      absl::Duration timeout = absl::Seconds(30));
  // The generic part, also used for `memmgr-worker serve`
  // (worker_process.h): runs `args` (args[0] is the binary) plus ephemeral
  // --listen/--port_file/--metrics_listen/--metrics_port_file and
  // `extra_flags`; the port files and the log are file_prefix + ".port",
  // ".metrics_port" and ".log". `what` names the process in errors.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Launch(
      const std::string& what, std::vector<std::string> args,
      const std::string& file_prefix,
      const std::vector<std::string>& extra_flags, absl::Duration timeout);
  ~ServerProcess();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

  void Signal(int sig);
  // SIGSTOP, then waits (up to `timeout`) until every thread of the process
  // has stopped; false if it did not, or exited. Signal(SIGSTOP) alone
  // returns before the stop takes effect: until the kernel gets to run the
  // process, its threads keep answering RPCs (on a loaded machine, for
  // milliseconds). While stopped, its kernel still accepts connections and
  // buffers requests: callers see a server that answers nothing.
  bool Stop(absl::Duration timeout = absl::Seconds(10));
  // SIGCONT: the process runs again (asynchronously).
  void Continue();
  // Waits for exit; returns the raw wait status, or -1 on timeout.
  int Wait(absl::Duration timeout = absl::Seconds(30));
  bool running() const { return pid_ > 0; }

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
};

// Runs a command to completion with stdin from /dev/null, capturing stdout
// (and stderr into *err if given). Returns the exit code (or 128+signal).
int RunCommand(const std::vector<std::string>& argv, std::string* out,
               std::string* err = nullptr);

// HTTP/1.0 GET of http://127.0.0.1:port/path; returns the body on 200.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

}  // namespace memmgr::testing

#endif  // MEMMGR_TESTS_TESTING_SERVER_PROCESS_H_
