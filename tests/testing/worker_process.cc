#include "tests/testing/worker_process.h"

namespace memmgr::testing {

absl::StatusOr<std::unique_ptr<WorkerProcess>> StartWorkerProcess(
    const std::string& binary, const std::string& dir,
    const std::vector<std::string>& extra_flags, absl::Duration timeout) {
  return ServerProcess::Launch("memmgr-worker serve", {binary, "serve"},
                               dir + "/worker", extra_flags, timeout);
}

}  // namespace memmgr::testing
