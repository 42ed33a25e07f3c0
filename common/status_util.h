// The one place where absl::Status and grpc::Status meet. Inside memmgr every
// error is an absl::Status with a precise canonical code; at the gRPC edge
// the code and message pass through unchanged (the two code spaces are the
// same canonical codes).
#ifndef MEMMGR_COMMON_STATUS_UTIL_H_
#define MEMMGR_COMMON_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace memmgr {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define MEMMGR_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status memmgr_status_ = (expr);          \
    if (!memmgr_status_.ok()) return memmgr_status_; \
  } while (0)

}  // namespace memmgr

#endif  // MEMMGR_COMMON_STATUS_UTIL_H_
