#include "worker/service/output_buffer.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace memmgr::worker {

void OutputBuffer::Append(int fd, absl::string_view data) {
  if (data.empty()) return;
  {
    MutexLock lock(&mu_);
    if (closed_) return;
    while (!data.empty()) {
      // Coalesce small writes of the same stream (printf line by line) into
      // the last chunk, up to kMaxChunk.
      if (!pieces_.empty() && pieces_.back().fd == fd &&
          pieces_.back().data.size() < kMaxChunk) {
        OutputPiece& last = pieces_.back();
        const size_t n = std::min(data.size(), kMaxChunk - last.data.size());
        last.data.append(data.data(), n);
        data.remove_prefix(n);
        end_ += n;
        kept_ += n;
        continue;
      }
      const size_t n = std::min(data.size(), kMaxChunk);
      pieces_.push_back(OutputPiece{fd, end_, std::string(data.substr(0, n))});
      data.remove_prefix(n);
      end_ += n;
      kept_ += n;
    }
    // Drop whole chunks from the front, but always keep the newest one.
    while (kept_ > retain_bytes_ && pieces_.size() > 1) {
      kept_ -= pieces_.front().data.size();
      pieces_.pop_front();
    }
    start_ = pieces_.empty() ? end_ : pieces_.front().offset;
  }
  changed_.SignalAll();
}

void OutputBuffer::Close() {
  {
    MutexLock lock(&mu_);
    closed_ = true;
  }
  changed_.SignalAll();
}

std::vector<OutputPiece> OutputBuffer::Read(uint64_t offset,
                                            size_t max_bytes) const {
  std::vector<OutputPiece> out;
  MutexLock lock(&mu_);
  size_t total = 0;
  for (const OutputPiece& p : pieces_) {
    const uint64_t p_end = p.offset + p.data.size();
    if (p_end <= offset) continue;
    if (!out.empty() && total + p.data.size() > max_bytes) break;
    OutputPiece piece = p;
    if (piece.offset < offset) {
      piece.data.erase(0, offset - piece.offset);
      piece.offset = offset;
    }
    total += piece.data.size();
    out.push_back(std::move(piece));
  }
  return out;
}

bool OutputBuffer::WaitFor(uint64_t offset, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  MutexLock lock(&mu_);
  while (end_ <= offset && !closed_) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    changed_.WaitWithTimeout(&mu_, left);
  }
  return end_ > offset;
}

uint64_t OutputBuffer::end_offset() const {
  MutexLock lock(&mu_);
  return end_;
}

uint64_t OutputBuffer::start_offset() const {
  MutexLock lock(&mu_);
  return start_;
}

bool OutputBuffer::closed() const {
  MutexLock lock(&mu_);
  return closed_;
}

}  // namespace memmgr::worker
