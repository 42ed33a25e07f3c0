// CodeBuffer: executable memory for generated code, W^X.
//
// One memfd mapped twice: a read-write view the JIT writes through and a
// read-execute view the host runs. No page is ever writable and executable
// through the same mapping, so a stray host write can never plant code, and
// the executable view's address is unrelated to the writable one.
// (Cross-modifying through two virtual mappings of one physical page is
// coherent on x86: instruction fetch snoops physical addresses.)
//
// Allocation is a bump pointer; there is no per-block free. When the buffer
// is full the owner resets it (Reset) at a point where no generated code is
// running, and translates again: like QEMU's tb_flush.
//
// Thread-safety: not thread-safe; owned by one Jit.
#ifndef MEMMGR_WORKER_RV64_JIT_CODE_BUFFER_H_
#define MEMMGR_WORKER_RV64_JIT_CODE_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace memmgr::rv64::jit {

class CodeBuffer {
 public:
  // `size` is rounded up to whole host pages.
  static absl::StatusOr<std::unique_ptr<CodeBuffer>> Create(size_t size);
  ~CodeBuffer();
  CodeBuffer(const CodeBuffer&) = delete;
  CodeBuffer& operator=(const CodeBuffer&) = delete;

  // The free tail: write through write_ptr(), run at exec_ptr().
  uint8_t* write_ptr() const { return rw_ + used_; }
  uintptr_t exec_ptr() const {
    return reinterpret_cast<uintptr_t>(rx_) + used_;
  }
  size_t free_bytes() const { return size_ - used_; }
  // Keeps `bytes` just written at the tail (rounded to 16 for alignment).
  void Commit(size_t bytes) {
    used_ += (bytes + 15) & ~size_t{15};
    if (used_ > size_) used_ = size_;
  }
  // Marks the first `bytes` permanent (the shared stubs): Reset keeps them.
  void Pin() { pinned_ = used_; }
  void Reset() { used_ = pinned_; }

  size_t size() const { return size_; }
  size_t used() const { return used_; }
  // Is `p` inside the executable view's used part?
  bool Contains(uintptr_t p) const {
    return p >= reinterpret_cast<uintptr_t>(rx_) &&
           p < reinterpret_cast<uintptr_t>(rx_) + used_;
  }

 private:
  CodeBuffer(uint8_t* rw, uint8_t* rx, size_t size)
      : rw_(rw), rx_(rx), size_(size) {}

  uint8_t* const rw_;
  uint8_t* const rx_;
  const size_t size_;
  size_t used_ = 0;
  size_t pinned_ = 0;
};

}  // namespace memmgr::rv64::jit

#endif  // MEMMGR_WORKER_RV64_JIT_CODE_BUFFER_H_
