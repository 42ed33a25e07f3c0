// SwapSetup: the swap device and reclaimer of one worker frame pool, made
// from the flags both `memmgr-worker run` and `memmgr-worker serve` take
// (--swap, --server, --swap_dir, --swap_retry_for, --swappiness), so the two
// commands cannot drift apart in what those flags mean.
//
//   embedded  the swap store library in-process on a RocksDB directory
//             (a temp dir unless --swap_dir), opened on the first swap-out
//             so a guest that never overcommits never pays for RocksDB
//   server    a RemoteSwapDevice: registers with memmgr-server, keeps the
//             lease with heartbeats, swaps there
//   none      no reclaim: a full pool is an OOM stop
//
// Teardown order matters: every address space of the pool must be gone
// before the SwapSetup is destroyed (the reclaimer then drops the swap cache
// and frees every slot left, and the device ends its lease).
#ifndef MEMMGR_WORKER_SWAP_SWAP_SETUP_H_
#define MEMMGR_WORKER_SWAP_SWAP_SETUP_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/mmu/frame_pool.h"
#include "worker/mmu/reclaim.h"
#include "worker/mmu/swap_device.h"

namespace memmgr::worker {

struct SwapConfig {
  std::string mode = "embedded";  // embedded | server | none | device
  std::string server;             // host:port; implies mode=server
  std::string dir;                // --swap_dir (embedded)
  absl::Duration retry_for = absl::Minutes(5);
  int swappiness = 60;  // 0..200
  // How the worker registers with the server (RegisterWorker.node_name);
  // empty = "<prefix>-<hostname>-<pid>".
  std::string worker_id;
  std::string worker_id_prefix = "worker";
  std::string worker_address;  // its Worker gRPC service, "" if none
  // A device made by the embedder (a library user's own, or a test's):
  // used as is; implies mode "device". Not reachable from flags.
  std::shared_ptr<mmu::SwapDevice> device;
  uint64_t device_bytes = 0;  // its capacity: SwapSetup::swap_bytes()
};

// Checks the flags' combination and ranges and resolves mode (a --server
// means server). INVALID_ARGUMENT naming the flag otherwise.
absl::Status NormalizeSwapConfig(SwapConfig* config);

class SwapSetup {
 public:
  // REQUIRES: NormalizeSwapConfig(config) is OK and mode != "none"; no
  // address space of `pool` exists yet. UNAVAILABLE (or what the server
  // answered) when --server cannot be reached within retry_for;
  // INVALID_ARGUMENT for a bad option.
  static absl::StatusOr<std::unique_ptr<SwapSetup>> Create(
      const SwapConfig& config, mmu::FramePool* pool);
  // The reclaimer first (frees the swap cache and every slot), then the
  // device (ends the lease).
  ~SwapSetup();
  SwapSetup(const SwapSetup&) = delete;
  SwapSetup& operator=(const SwapSetup&) = delete;

  mmu::Reclaimer* reclaimer() const { return reclaimer_.get(); }
  mmu::SwapDevice* device() const { return device_.get(); }
  // The swap area's size: what a guest may commit beyond the pool. For a
  // server it is the server's whole area (shared with other workers, so an
  // upper bound); 0 if the server did not say.
  uint64_t swap_bytes() const { return swap_bytes_; }
  const std::string& mode() const { return mode_; }
  // "embedded RocksDB swap (temp dir)", "memmgr-server 127.0.0.1:7070".
  const std::string& description() const { return description_; }

 private:
  SwapSetup() = default;
  std::shared_ptr<mmu::SwapDevice> device_;
  std::unique_ptr<mmu::Reclaimer> reclaimer_;
  uint64_t swap_bytes_ = 0;
  std::string mode_;
  std::string description_;
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SWAP_SWAP_SETUP_H_
