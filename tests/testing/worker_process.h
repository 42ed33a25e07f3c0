// WorkerProcess: runs the real `memmgr-worker serve` for integration tests
// on 127.0.0.1 with ephemeral gRPC and metrics ports (--listen=127.0.0.1:0
// + --port_file), its files under a directory the test owns. The same
// process wrapper as ServerProcess (killed with SIGKILL on destruction if
// still running).
#ifndef MEMMGR_TESTS_TESTING_WORKER_PROCESS_H_
#define MEMMGR_TESTS_TESTING_WORKER_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/server_process.h"

namespace memmgr::testing {

using WorkerProcess = ServerProcess;

// Starts `binary serve` with ephemeral ports and `extra_flags`; its port
// files and log go to `dir` (which must exist) as worker.port,
// worker.metrics_port and worker.log. Waits until both ports are written.
absl::StatusOr<std::unique_ptr<WorkerProcess>> StartWorkerProcess(
    const std::string& binary, const std::string& dir,
    const std::vector<std::string>& extra_flags = {},
    absl::Duration timeout = absl::Seconds(30));

}  // namespace memmgr::testing

#endif  // MEMMGR_TESTS_TESTING_WORKER_PROCESS_H_
