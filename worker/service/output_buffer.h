// OutputBuffer: one sandbox's combined stdout+stderr, as a sequence of
// chunks at absolute byte offsets (offset 0 = the first byte the guest ever
// wrote), for Attach/`memmgrctl logs`. Bounded: only the last
// `retain_bytes` are kept; older chunks are dropped whole (the offsets of
// what is kept never change), and a reader asking for dropped bytes starts
// at the oldest byte kept.
//
// Writers: the executor thread running the sandbox (ServiceIo::Write).
// Readers: any number of RPC threads (Attach), which may block in
// WaitFor until new output arrives or the buffer is closed (the sandbox
// stopped).
//
// Thread-safety: safe for concurrent use. mu_ is a leaf lock: nothing else
// is taken while it is held.
#ifndef MEMMGR_WORKER_SERVICE_OUTPUT_BUFFER_H_
#define MEMMGR_WORKER_SERVICE_OUTPUT_BUFFER_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace memmgr::worker {

struct OutputPiece {
  int fd = 1;           // 1 = stdout, 2 = stderr
  uint64_t offset = 0;  // of data[0] in the combined output
  std::string data;
};

class OutputBuffer {
 public:
  // Chunks larger than this are split, so one Attach message stays small.
  static constexpr size_t kMaxChunk = 64 << 10;

  explicit OutputBuffer(uint64_t retain_bytes) : retain_bytes_(retain_bytes) {}
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;

  // Appends `data` written to `fd` (1 or 2) and wakes readers. Ignored
  // after Close().
  void Append(int fd, absl::string_view data);
  // No more output will come (the sandbox stopped); wakes readers.
  void Close();

  // Copies the chunks at or after `offset` (the first one may start after
  // `offset` if bytes were dropped, or be cut to start exactly at it), at
  // most `max_bytes` in total (at least one chunk if there is one).
  std::vector<OutputPiece> Read(uint64_t offset, size_t max_bytes) const;
  // Blocks until there are bytes at or past `offset`, the buffer is
  // closed, or `timeout` passes. Returns true if there are bytes to read.
  bool WaitFor(uint64_t offset, absl::Duration timeout) const;

  uint64_t end_offset() const;    // total bytes ever written
  uint64_t start_offset() const;  // offset of the oldest byte kept
  bool closed() const;

 private:
  const uint64_t retain_bytes_;
  mutable Mutex mu_;
  mutable CondVar changed_;
  std::deque<OutputPiece> pieces_ ABSL_GUARDED_BY(mu_);
  uint64_t start_ ABSL_GUARDED_BY(mu_) = 0;  // == pieces_.front().offset
  uint64_t end_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t kept_ ABSL_GUARDED_BY(mu_) = 0;  // bytes in pieces_
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_OUTPUT_BUFFER_H_
