// RemoteSwapDevice: the worker's swap area on memmgr-server, over gRPC with
// memmgr::Client. Connect registers the worker (RegisterWorker) and a
// heartbeat thread keeps its lease alive; every page, slot and reference
// belongs to that lease, and the server frees them all when the device
// unregisters on destruction (or the lease expires).
//
// Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED: the server
// is down, restarting, stalled or shutting down) are retried with
// exponential backoff and jitter (initial_backoff, doubling up to
// max_backoff) for at most retry_for per call, each attempt bounded by
// attempt_deadline and by what is left of retry_for; then the call answers
// UNAVAILABLE. memmgr-server restores leases from RocksDB with a fresh TTL
// on restart, so a kill -9 and a restart on the same data directory and
// address is invisible to callers except as latency: calls issued meanwhile
// block in retry and then succeed. While no connection can be made, the
// pause between attempts waits on the channel (WaitForServer), so a call
// resumes as soon as gRPC has reconnected. gRPC schedules reconnects itself
// (1 s, then x1.6 per failure up to 120 s: memmgr::Client sets no reconnect
// channel args), so after a long outage the first call may lag the server's
// return by up to ~0.6x the outage, capped at 120 s.
//
// Retrying an attempt whose outcome is unknown (it may have reached the
// server, which may have applied it before the connection died) is safe for
// SwapIn, and for SwapOut and DupSlots at the cost of a leak: orphaned slots
// or an extra reference, freed when the lease ends. It is not safe for
// FreeSlots: a second drop of a shared slot's reference would free a page
// another sharer still needs. So FreeSlots is retried only after failures
// that certainly applied nothing (the connection was never made, or the
// server said so); after an ambiguous one it answers OK and counts the batch
// in stats().frees_outcome_unknown: at worst its slots stay allocated until
// the lease ends. The proto has no request ids that would let the server
// deduplicate a retried FreeSlots.
//
// Lease lost for good: UNAUTHENTICATED (the server never issued the lease:
// it restarted on other data) or FAILED_PRECONDITION (the lease expired or
// was released) from any call or heartbeat. From then on every call fails at
// once with FAILED_PRECONDITION "lease <id> on <target> lost: ...": its
// slots are gone, and the worker must start over with a new device. A
// heartbeat that fails transiently keeps trying (backoff up to max_backoff)
// until the server answers.
//
// Thread-safety: safe for concurrent use. Threads: callers' threads run the
// RPCs (and sleep between retries); one heartbeat thread, owned by the
// device, started by Connect and joined by the destructor.
//
// Lock order: mu_ is a leaf. It is never held across an RPC or a wait other
// than cv_'s (callers back off on cv_ so a lost lease wakes them); the only
// call made under it is gRPC's non-blocking ClientContext::TryCancel.
#ifndef MEMMGR_WORKER_SWAP_REMOTE_SWAP_DEVICE_H_
#define MEMMGR_WORKER_SWAP_REMOTE_SWAP_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/mutex.h"
#include "worker/mmu/swap_device.h"

namespace memmgr::worker {

struct RemoteSwapDeviceOptions {
  std::string target;  // host:port of memmgr-server
  // What RegisterWorker records for this worker (memory_manager.proto):
  std::string worker_id;                   // node_name, 1..253 bytes
  uint32_t numa_node = 0;                  //
  uint64_t frame_capacity_pages = 0;       // frames in the worker's pool, > 0
  std::string worker_address;              // its Worker service, "" if none
  std::map<uint32_t, uint32_t> distances;  // node -> distance in [10, 254]

  // Largest batch per call (1..4096); Connect lowers it to the server's
  // --max_batch_pages.
  uint32_t max_batch_pages = 256;
  // How long one call (and Connect) keeps retrying transient failures,
  // > 0. Attempt deadlines are capped by it too, so a call answers within
  // retry_for (plus scheduling slack) even if the server stalls.
  absl::Duration retry_for = absl::Minutes(5);
  // Deadline of one attempt (also capped by what is left of retry_for).
  absl::Duration attempt_deadline = absl::Seconds(10);
  absl::Duration initial_backoff = absl::Milliseconds(10);
  absl::Duration max_backoff = absl::Seconds(1);
  // The destructor's one UnregisterWorker attempt.
  absl::Duration unregister_deadline = absl::Seconds(1);
  // Default: insecure (plaintext) credentials.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

struct RemoteSwapDeviceStats {
  uint64_t retries = 0;  // attempts repeated after a transient failure
  // Attempts that failed for want of a connection (refused, or the channel
  // in reconnect backoff): the server is down, and they applied nothing.
  // Once one has, the channel no longer uses a connection that died before
  // it: later attempts reconnect first.
  uint64_t connect_failures = 0;
  uint64_t heartbeats = 0;
  uint64_t heartbeat_failures = 0;  // transient; the thread kept trying
  // FreeSlots batches answered OK after an ambiguous failure (see above).
  uint64_t frees_outcome_unknown = 0;
  bool lease_lost = false;
};

class RemoteSwapDevice final : public mmu::SwapDevice {
 public:
  using Options = RemoteSwapDeviceOptions;

  // Registers the worker, retrying for up to options.retry_for while the
  // server is unavailable, and starts the heartbeat thread.
  static absl::StatusOr<std::unique_ptr<RemoteSwapDevice>> Connect(
      Options options);
  // Stops the heartbeat thread (at once, even mid-RPC) and unregisters the
  // lease (one attempt, unregister_deadline) so the server frees its slots;
  // if that fails the lease expires on its own. REQUIRES: no call in
  // progress.
  ~RemoteSwapDevice() override;

  RemoteSwapDevice(const RemoteSwapDevice&) = delete;
  RemoteSwapDevice& operator=(const RemoteSwapDevice&) = delete;

  uint32_t max_batch_pages() const override { return max_batch_pages_; }
  absl::StatusOr<std::vector<mmu::SwapSlot>> WritePages(
      absl::Span<const absl::string_view> pages) override;
  absl::Status ReadPages(absl::Span<const mmu::SwapSlot> slots,
                         absl::Span<uint8_t* const> dst) override;
  absl::Status FreeSlots(absl::Span<const mmu::SwapSlot> slots) override;
  absl::Status DupSlots(absl::Span<const mmu::SwapSlot> slots) override;
  std::string Describe() const override;

  const std::string& lease_id() const { return lease_id_; }
  RemoteSwapDeviceStats stats() const;

 private:
  // Which failed attempts a call may repeat.
  enum class RetryPolicy {
    kTransient,       // every UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED
    kNothingApplied,  // only those that certainly applied nothing
  };

  explicit RemoteSwapDevice(Options options);

  // Runs attempt(context) until it succeeds, fails for good, or retry_for
  // (or give_up_by, if sooner) is spent. A lease-lost answer marks the lease
  // lost. *ambiguous (may be null) is set when the call stopped at a failure
  // whose outcome on the server is unknown (kNothingApplied only).
  absl::Status Call(
      absl::string_view what, RetryPolicy policy,
      absl::FunctionRef<grpc::Status(grpc::ClientContext*)> attempt,
      bool* ambiguous = nullptr,
      absl::Time give_up_by = absl::InfiniteFuture());
  absl::Status CheckBatch(size_t n, absl::string_view what) const;
  // FAILED_PRECONDITION once the lease is lost, else OK.
  absl::Status LeaseStatus() const;
  // Records that the lease is gone (first cause wins) and wakes every
  // waiter; returns the FAILED_PRECONDITION every call answers from now on.
  absl::Status LoseLease(absl::string_view what, const absl::Status& cause);
  // Sleeps on cv_ for `d`; false if woken because the device is stopping or
  // the lease was lost.
  bool Sleep(absl::Duration d);
  // Waits up to `d` for the server to answer a wait_for_ready GetStats;
  // true if it did. Why: a fail-fast RPC on a channel in reconnect backoff
  // fails at once and polls nothing, so without a call waiting on the
  // channel gRPC notices a finished reconnect only at its backup poll
  // (every 5 s: a server back after 0.6 s was used 5 s later). GetStats is
  // read-only, so whatever this probe reaches changes nothing.
  bool WaitForServer(absl::Duration d);
  void HeartbeatLoop();
  // One heartbeat on a fresh stream; *ttl is the lease TTL it reported.
  absl::Status HeartbeatOnce(absl::Duration deadline, absl::Duration* ttl);

  const Options options_;
  std::unique_ptr<Client> client_;  // its stub is safe for concurrent use
  // Set by Connect before the heartbeat thread starts; constant after.
  std::string lease_id_;
  absl::Duration lease_ttl_;
  uint32_t max_batch_pages_ = 0;

  mutable Mutex mu_;
  CondVar cv_;  // stopping_ or lease_lost_ changed
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status lease_lost_ ABSL_GUARDED_BY(mu_);  // OK while the lease lives
  // The heartbeat RPC in flight, so the destructor can cancel it.
  grpc::ClientContext* heartbeat_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread heartbeat_;

  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> connect_failures_{0};
  std::atomic<uint64_t> heartbeats_{0};
  std::atomic<uint64_t> heartbeat_failures_{0};
  std::atomic<uint64_t> frees_outcome_unknown_{0};
};

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SWAP_REMOTE_SWAP_DEVICE_H_
