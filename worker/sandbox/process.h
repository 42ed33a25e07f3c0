// Sandbox::Process: one guest process (Linux's task_struct + mm, for a
// single-threaded process). Private to the sandbox.
#ifndef MEMMGR_WORKER_SANDBOX_PROCESS_H_
#define MEMMGR_WORKER_SANDBOX_PROCESS_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

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

// An open, read-only file the embedder passed in.
struct OpenFile {
  std::string path;
  std::shared_ptr<const std::string> data;
  uint64_t pos = 0;
};

struct Sandbox::Process {
  enum class State { kRunnable, kWaiting, kZombie };

  int64_t pid = 0;
  int64_t ppid = 0;
  // Declared before the interpreter: the interpreter's decode cache
  // unregisters from the address space when destroyed.
  std::unique_ptr<mmu::AddressSpace> as;
  rv64::CpuState cpu;
  std::unique_ptr<rv64::Interpreter> interp;
  State state = State::kRunnable;
  int wait_status = 0;  // Linux wait status once a zombie

  // A wait4 the process is blocked in.
  int64_t wait_pid = -1;
  uint64_t wait_status_ptr = 0;
  int64_t wait_options = 0;

  uint64_t clear_child_tid = 0;  // set_tid_address
  std::array<GuestSigaction, 65> sigactions{};
  uint64_t sigmask = 0;
  std::map<int, OpenFile> files;  // fd >= 3
};

}  // namespace memmgr::sandbox

#endif  // MEMMGR_WORKER_SANDBOX_PROCESS_H_
