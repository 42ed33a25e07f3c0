// Reading a program image by name from the worker's --images_dir
// (CreateSandboxRequest.image). The name is a relative path inside the
// directory; nothing may lead outside it:
//   - absolute names, empty components, "." and ".." are refused
//     (INVALID_ARGUMENT), as are NUL bytes and names over 255 bytes;
//   - the name is resolved (symlinks followed) and must still be inside the
//     resolved directory: a symlink pointing out is PERMISSION_DENIED;
//   - it must be a regular file (FAILED_PRECONDITION otherwise) of at most
//     `max_bytes` (INVALID_ARGUMENT);
//   - a missing file is NOT_FOUND; no --images_dir is FAILED_PRECONDITION.
// The file is opened by its resolved path and checked with fstat, so a
// file swapped for a larger one between the checks is still capped.
//
// Thread-safety: a pure function of the filesystem.
#ifndef MEMMGR_WORKER_SERVICE_IMAGE_STORE_H_
#define MEMMGR_WORKER_SERVICE_IMAGE_STORE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memmgr::worker {

absl::StatusOr<std::string> ReadImage(const std::string& images_dir,
                                      absl::string_view name,
                                      uint64_t max_bytes);

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_IMAGE_STORE_H_
