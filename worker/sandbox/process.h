// Sandbox::Process: one guest process (Linux's task_struct + mm, for a
// single-threaded process). Private to the sandbox.
#ifndef MEMMGR_WORKER_SANDBOX_PROCESS_H_
#define MEMMGR_WORKER_SANDBOX_PROCESS_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "worker/mmu/address_space.h"
#include "worker/rv64/cpu_state.h"
#include "worker/rv64/interpreter.h"
#include "worker/sandbox/sandbox.h"

namespace memmgr::sandbox {

// The kernel's struct sigaction for riscv (no sa_restorer): recorded and
// returned, never delivered (there are no async signals).
struct GuestSigaction {
  uint64_t handler = 0;
  uint64_t flags = 0;
  uint64_t mask = 0;
};

// A pipe between processes of one sandbox (pipe2). Bytes [head, size) are
// unread; the reader/writer counts are the open fds of each end across all
// processes (fork duplicates them, close and exit drop them).
struct Pipe {
  static constexpr size_t kCapacity = 65536;  // Linux's default pipe size
  std::string data;
  size_t head = 0;
  int readers = 0;
  int writers = 0;
  size_t unread() const { return data.size() - head; }
};

// An open fd >= 3: a read-only file the embedder passed in, or a pipe end.
struct OpenFile {
  std::string path;
  std::shared_ptr<const mmu::GuestImage> image;  // files (shared, never copied)
  uint64_t pos = 0;
  std::shared_ptr<Pipe> pipe;  // pipe ends
  bool pipe_write_end = false;
  bool nonblock = false;
  // Counts this fd on its pipe end (+1 on pipe2/fork, -1 on close/exit).
  void RefPipe(int delta) const {
    if (pipe == nullptr) return;
    (pipe_write_end ? pipe->writers : pipe->readers) += delta;
  }
};

// Everything of a process but its memory and its interpreter: plain values,
// copyable. A snapshot freezes a copy of this (snapshot.h); the address space
// is frozen by AddressSpace::Fork() and the interpreter is never copied (a
// fork gets its own, with an empty decode cache).
struct ProcessState {
  // kPageWait: a guest access parked on a page being read from the swap
  // device (Sandbox::SetPageReadyCallback); the instruction re-executes.
  enum class State {
    kRunnable,
    kWaiting,
    kBlockedPipe,
    kSleeping,
    kZombie,
    kPageWait
  };

  int64_t pid = 0;
  int64_t ppid = 0;
  rv64::CpuState cpu;
  State state = State::kRunnable;
  // kBlockedPipe: the pipe end a read (or write) waits on; the ecall is
  // re-executed once the pipe has data (or room) or the other end closed.
  std::shared_ptr<Pipe> blocked_pipe;
  bool blocked_on_write = false;
  // kSleeping (nanosleep): runnable again at this time.
  absl::Time wake_at = absl::InfinitePast();
  bool sleeping = false;  // set by nanosleep for Syscall()
  int wait_status = 0;    // Linux wait status once a zombie

  // A wait4 the process is blocked in.
  int64_t wait_pid = -1;
  uint64_t wait_status_ptr = 0;
  uint64_t wait_rusage_ptr = 0;
  int64_t wait_options = 0;

  uint64_t clear_child_tid = 0;  // set_tid_address
  uint64_t rseq_area = 0;        // registered struct rseq, 0 = none
  uint64_t rseq_len = 0;
  uint64_t rseq_sig = 0;
  std::array<GuestSigaction, 65> sigactions{};
  uint64_t sigmask = 0;
  std::map<int, OpenFile> files;  // fd >= 3
};

struct Sandbox::Process : ProcessState {
  // Declared before the interpreter: the interpreter's decode cache
  // unregisters from the address space when destroyed.
  std::unique_ptr<mmu::AddressSpace> as;
  std::unique_ptr<rv64::Interpreter> interp;
  // kPageWait: the sandbox's page-arrival count when it parked; runnable
  // again once the count moves.
  uint64_t page_wait_seen = 0;
};

}  // namespace memmgr::sandbox

#endif  // MEMMGR_WORKER_SANDBOX_PROCESS_H_
