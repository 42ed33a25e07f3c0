#include "worker/swap/remote_swap_device.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_util.h"
#include "memmgr/v1/memory_manager.grpc.pb.h"
#include "worker/mmu/mmu_types.h"

namespace memmgr::worker {
namespace {

// The largest batch the server can be configured for (--max_batch_pages).
constexpr uint32_t kMaxBatchLimit = 4096;

bool IsTransient(const absl::Status& s) {
  // CANCELLED too: the device cancels only its own heartbeat, so a data call
  // sees it only when the server cancels calls it could not drain at
  // shutdown, which is a restart like any other.
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) ||
         absl::IsCancelled(s);
}

// memory_manager.proto: UNAUTHENTICATED = the server never issued this
// lease (it runs on other data); FAILED_PRECONDITION = it expired or was
// released. Either way its slots are gone and retrying cannot help.
bool IsLeaseLost(const absl::Status& s) {
  return absl::IsUnauthenticated(s) || absl::IsFailedPrecondition(s);
}

// True when gRPC had no connection for the attempt: "failed to connect to
// all addresses" is what a connect that failed answers, and what a channel
// in reconnect backoff answers at once.
bool NotConnected(const absl::Status& s) {
  return absl::IsUnavailable(s) &&
         absl::StrContains(absl::AsciiStrToLower(s.message()),
                           "failed to connect");
}

// True when a failed attempt certainly changed nothing on the server: it
// never had a connection, or the server answered that it applied nothing
// (the store's "FreeSlots not applied: ..."). Both are message texts, not
// codes; if they ever change, FreeSlots only stops being retried (it leaks
// instead), it never frees twice.
bool CertainlyNotApplied(const absl::Status& s) {
  return NotConnected(s) || (absl::IsUnavailable(s) &&
                             absl::StrContains(s.message(), "not applied"));
}

// "SwapOut: UNAUTHENTICATED: unknown lease_id"
std::string Explain(absl::string_view what, const absl::Status& s) {
  return absl::StrCat(what, ": ", absl::StatusCodeToString(s.code()), ": ",
                      s.message());
}

v1::SwapEntry ToEntry(const mmu::SwapSlot& s) {
  v1::SwapEntry e;
  e.set_slot(s.slot);
  e.set_generation(s.generation);
  return e;
}

}  // namespace

RemoteSwapDevice::RemoteSwapDevice(Options options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<RemoteSwapDevice>> RemoteSwapDevice::Connect(
    Options options) {
  if (options.worker_id.empty() || options.worker_id.size() > 253) {
    return absl::InvalidArgumentError("worker_id must be 1..253 bytes");
  }
  if (options.frame_capacity_pages == 0) {
    return absl::InvalidArgumentError("frame_capacity_pages must be > 0");
  }
  if (options.max_batch_pages == 0 ||
      options.max_batch_pages > kMaxBatchLimit) {
    return absl::InvalidArgumentError("max_batch_pages must be 1..4096");
  }
  if (options.retry_for <= absl::ZeroDuration() ||
      options.attempt_deadline <= absl::ZeroDuration() ||
      options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff ||
      options.unregister_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "retry_for, attempt_deadline, initial_backoff and unregister_deadline "
        "must be > 0, max_backoff >= initial_backoff");
  }
  ClientOptions client_options;
  client_options.target = options.target;
  client_options.deadline = options.attempt_deadline;
  // The device retries itself: Client::Call's backoff sleeps cannot be
  // woken, and it knows neither retry_for nor which RPCs are safe to repeat.
  client_options.max_attempts = 1;
  client_options.credentials = options.credentials;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(std::move(client_options));
  if (!client.ok()) return client.status();

  std::unique_ptr<RemoteSwapDevice> d(new RemoteSwapDevice(std::move(options)));
  d->client_ = *std::move(client);
  v1::MemoryManager::Stub* stub = d->client_->stub();
  // One retry_for for all of Connect, not one per RPC.
  const absl::Time give_up = absl::Now() + d->options_.retry_for;

  // The server's batch limit first: nothing to undo if it is unreachable.
  v1::GetStatsResponse stats;
  MEMMGR_RETURN_IF_ERROR(d->Call(
      "GetStats", RetryPolicy::kTransient,
      [&](grpc::ClientContext* ctx) {
        stats.Clear();
        return stub->GetStats(ctx, v1::GetStatsRequest(), &stats);
      },
      /*ambiguous=*/nullptr, give_up));
  d->max_batch_pages_ = d->options_.max_batch_pages;
  if (stats.max_batch_pages() > 0) {
    d->max_batch_pages_ =
        std::min(d->max_batch_pages_, stats.max_batch_pages());
  }

  v1::RegisterWorkerRequest req;
  req.set_node_name(d->options_.worker_id);
  req.set_numa_node(d->options_.numa_node);
  req.set_frame_capacity_pages(d->options_.frame_capacity_pages);
  req.set_address(d->options_.worker_address);
  for (const auto& [node, distance] : d->options_.distances) {
    (*req.mutable_distances())[node] = distance;
  }
  // A retried RegisterWorker whose first attempt did register leaves a
  // lease nobody heartbeats; it expires with no slots.
  v1::RegisterWorkerResponse resp;
  MEMMGR_RETURN_IF_ERROR(d->Call(
      "RegisterWorker", RetryPolicy::kTransient,
      [&](grpc::ClientContext* ctx) {
        resp.Clear();
        return stub->RegisterWorker(ctx, req, &resp);
      },
      /*ambiguous=*/nullptr, give_up));
  d->lease_id_ = resp.lease_id();
  d->lease_ttl_ = absl::Milliseconds(resp.lease_ttl_ms());
  if (d->lease_ttl_ <= absl::ZeroDuration()) d->lease_ttl_ = absl::Seconds(30);
  MEMMGR_LOG(INFO) << "swap device: " << d->Describe() << ", lease TTL "
                   << d->lease_ttl_ << ", batches of up to "
                   << d->max_batch_pages_ << " pages";
  d->heartbeat_ = std::thread([dev = d.get()] { dev->HeartbeatLoop(); });
  return d;
}

RemoteSwapDevice::~RemoteSwapDevice() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    // A heartbeat stuck on a stalled server would otherwise hold the join
    // for up to its deadline.
    if (heartbeat_ctx_ != nullptr) heartbeat_ctx_->TryCancel();
  }
  cv_.SignalAll();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (lease_id_.empty() || !LeaseStatus().ok()) return;
  // Best effort: the server frees the lease's slots now rather than a TTL
  // later. One short attempt; a device going away must not hang.
  std::unique_ptr<grpc::ClientContext> ctx = client_->NewContext();
  ctx->set_deadline(
      absl::ToChronoTime(absl::Now() + options_.unregister_deadline));
  v1::UnregisterWorkerRequest req;
  req.set_lease_id(lease_id_);
  v1::UnregisterWorkerResponse resp;
  const absl::Status s =
      FromGrpcStatus(client_->stub()->UnregisterWorker(ctx.get(), req, &resp));
  if (s.ok()) {
    MEMMGR_LOG(INFO) << "swap device: unregistered lease " << lease_id_
                     << "; the server freed " << resp.freed_slots()
                     << " slot(s)";
  } else {
    MEMMGR_LOG(WARNING) << "swap device: cannot unregister lease " << lease_id_
                        << " (" << s << "); it expires in " << lease_ttl_;
  }
}

absl::Status RemoteSwapDevice::LeaseStatus() const {
  MutexLock l(&mu_);
  return lease_lost_;
}

absl::Status RemoteSwapDevice::LoseLease(absl::string_view what,
                                         const absl::Status& cause) {
  MutexLock l(&mu_);
  if (lease_lost_.ok()) {
    lease_lost_ = absl::FailedPreconditionError(
        absl::StrCat("lease ", lease_id_, " on ", options_.target,
                     " lost: ", Explain(what, cause)));
    MEMMGR_LOG(ERROR) << "swap device: " << lease_lost_.message();
    cv_.SignalAll();
  }
  return lease_lost_;
}

bool RemoteSwapDevice::Sleep(absl::Duration d) {
  const absl::Time until = absl::Now() + d;
  MutexLock l(&mu_);
  while (!stopping_ && lease_lost_.ok()) {
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    cv_.WaitWithTimeout(&mu_, left);
  }
  return false;
}

absl::Status RemoteSwapDevice::Call(
    absl::string_view what, RetryPolicy policy,
    absl::FunctionRef<grpc::Status(grpc::ClientContext*)> attempt,
    bool* ambiguous, absl::Time give_up_by) {
  thread_local absl::BitGen gen;
  const absl::Time start = absl::Now();
  const absl::Time give_up = std::min(give_up_by, start + options_.retry_for);
  absl::Duration backoff = options_.initial_backoff;
  absl::Status status;
  int attempts = 0;
  if (ambiguous != nullptr) *ambiguous = false;
  while (true) {
    // Before the first attempt too: a lost lease fails fast.
    if (!lease_id_.empty()) MEMMGR_RETURN_IF_ERROR(LeaseStatus());
    const absl::Time now = absl::Now();
    if (now >= give_up) break;
    // Capped by give_up, so a stalled server cannot stretch the call
    // beyond retry_for.
    std::unique_ptr<grpc::ClientContext> ctx = client_->NewContext();
    ctx->set_deadline(
        absl::ToChronoTime(std::min(now + options_.attempt_deadline, give_up)));
    status = FromGrpcStatus(attempt(ctx.get()));
    ++attempts;
    if (status.ok()) return status;
    if (!lease_id_.empty() && IsLeaseLost(status)) {
      return LoseLease(what, status);
    }
    if (!IsTransient(status)) return status;  // the server's final answer
    if (NotConnected(status)) {
      connect_failures_.fetch_add(1, std::memory_order_relaxed);
    }
    if (policy == RetryPolicy::kNothingApplied &&
        !CertainlyNotApplied(status)) {
      if (ambiguous != nullptr) *ambiguous = true;
      return status;
    }
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    // Full jitter in [backoff/2, backoff], so workers that lost the same
    // server do not come back in lockstep.
    const absl::Duration pause =
        std::min(backoff * absl::Uniform(gen, 0.5, 1.0), left);
    backoff = std::min(backoff * 2, options_.max_backoff);
    retries_.fetch_add(1, std::memory_order_relaxed);
    const absl::Time resume = absl::Now() + pause;
    // Back as soon as the server is, rather than a backoff step later.
    if (NotConnected(status) && WaitForServer(pause)) continue;
    if (!Sleep(resume - absl::Now())) {
      if (!lease_id_.empty()) MEMMGR_RETURN_IF_ERROR(LeaseStatus());
      break;  // stopping: only Connect's calls can see this
    }
  }
  return absl::UnavailableError(absl::StrCat(
      "memmgr-server at ", options_.target, " unavailable: gave up after ",
      attempts, " attempt(s) in ", absl::FormatDuration(absl::Now() - start),
      " (retry_for ", absl::FormatDuration(options_.retry_for),
      "); last error: ", Explain(what, status)));
}

bool RemoteSwapDevice::WaitForServer(absl::Duration d) {
  std::unique_ptr<grpc::ClientContext> ctx = client_->NewContext();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
  ctx->set_wait_for_ready(true);
  v1::GetStatsResponse resp;
  return client_->stub()
      ->GetStats(ctx.get(), v1::GetStatsRequest(), &resp)
      .ok();
}

absl::Status RemoteSwapDevice::CheckBatch(size_t n,
                                          absl::string_view what) const {
  if (n == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": empty batch"));
  }
  if (n > max_batch_pages_) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": batch of ", n, " exceeds max_batch_pages ", max_batch_pages_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<mmu::SwapSlot>> RemoteSwapDevice::WritePages(
    absl::Span<const absl::string_view> pages) {
  MEMMGR_RETURN_IF_ERROR(CheckBatch(pages.size(), "WritePages"));
  v1::SwapOutRequest req;
  req.set_lease_id(lease_id_);
  req.mutable_pages()->Reserve(static_cast<int>(pages.size()));
  for (size_t i = 0; i < pages.size(); ++i) {
    if (pages[i].size() != mmu::kPageSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("WritePages: page ", i, " is ", pages[i].size(),
                       " bytes; every page must be exactly 4096 bytes"));
    }
    req.add_pages(pages[i].data(), pages[i].size());
  }
  v1::SwapOutResponse resp;
  MEMMGR_RETURN_IF_ERROR(
      Call("SwapOut", RetryPolicy::kTransient, [&](grpc::ClientContext* ctx) {
        resp.Clear();
        return client_->stub()->SwapOut(ctx, req, &resp);
      }));
  if (static_cast<size_t>(resp.entries_size()) != pages.size()) {
    return absl::InternalError(
        absl::StrCat("SwapOut: the server returned ", resp.entries_size(),
                     " entries for ", pages.size(), " pages"));
  }
  std::vector<mmu::SwapSlot> slots;
  slots.reserve(pages.size());
  for (const v1::SwapEntry& e : resp.entries()) {
    slots.push_back(mmu::SwapSlot{e.slot(), e.generation()});
  }
  return slots;
}

absl::Status RemoteSwapDevice::ReadPages(absl::Span<const mmu::SwapSlot> slots,
                                         absl::Span<uint8_t* const> dst) {
  MEMMGR_RETURN_IF_ERROR(CheckBatch(slots.size(), "ReadPages"));
  if (slots.size() != dst.size()) {
    return absl::InvalidArgumentError(absl::StrCat("ReadPages: ", slots.size(),
                                                   " slots but ", dst.size(),
                                                   " destination pages"));
  }
  v1::SwapInRequest req;
  req.set_lease_id(lease_id_);
  for (size_t i = 0; i < slots.size(); ++i) {
    if (dst[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("ReadPages: destination ", i, " is null"));
    }
    *req.add_entries() = ToEntry(slots[i]);
  }
  v1::SwapInResponse resp;
  MEMMGR_RETURN_IF_ERROR(
      Call("SwapIn", RetryPolicy::kTransient, [&](grpc::ClientContext* ctx) {
        resp.Clear();
        return client_->stub()->SwapIn(ctx, req, &resp);
      }));
  // Check the whole answer before copying any of it: all or nothing.
  if (static_cast<size_t>(resp.pages_size()) != slots.size()) {
    return absl::InternalError(absl::StrCat("SwapIn: the server returned ",
                                            resp.pages_size(), " pages for ",
                                            slots.size(), " entries"));
  }
  for (const std::string& page : resp.pages()) {
    if (page.size() != mmu::kPageSize) {
      return absl::InternalError(absl::StrCat(
          "SwapIn: the server returned a page of ", page.size(), " bytes"));
    }
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    std::memcpy(dst[i], resp.pages(static_cast<int>(i)).data(), mmu::kPageSize);
  }
  return absl::OkStatus();
}

absl::Status RemoteSwapDevice::FreeSlots(
    absl::Span<const mmu::SwapSlot> slots) {
  MEMMGR_RETURN_IF_ERROR(CheckBatch(slots.size(), "FreeSlots"));
  v1::FreeSlotsRequest req;
  req.set_lease_id(lease_id_);
  for (const mmu::SwapSlot& s : slots) *req.add_entries() = ToEntry(s);
  v1::FreeSlotsResponse resp;
  bool ambiguous = false;
  const absl::Status s = Call(
      "FreeSlots", RetryPolicy::kNothingApplied,
      [&](grpc::ClientContext* ctx) {
        resp.Clear();
        return client_->stub()->FreeSlots(ctx, req, &resp);
      },
      &ambiguous);
  if (ambiguous) {
    // See the header: a leak until the lease ends, never a double free.
    frees_outcome_unknown_.fetch_add(1, std::memory_order_relaxed);
    MEMMGR_LOG(WARNING) << "swap device: FreeSlots of " << slots.size()
                        << " slot(s) may not have reached " << options_.target
                        << " (" << s << "); not retried, so they may stay "
                        << "allocated until lease " << lease_id_ << " ends";
    return absl::OkStatus();
  }
  return s;
}

absl::Status RemoteSwapDevice::DupSlots(absl::Span<const mmu::SwapSlot> slots) {
  MEMMGR_RETURN_IF_ERROR(CheckBatch(slots.size(), "DupSlots"));
  v1::DupSlotsRequest req;
  req.set_lease_id(lease_id_);
  for (const mmu::SwapSlot& s : slots) *req.add_entries() = ToEntry(s);
  v1::DupSlotsResponse resp;
  // A repeated DupSlots that had been applied adds an extra reference: the
  // slot then outlives its last sharer until the lease ends. Not retrying
  // would be worse: a missing reference frees a page a sharer still needs.
  return Call("DupSlots", RetryPolicy::kTransient,
              [&](grpc::ClientContext* ctx) {
                resp.Clear();
                return client_->stub()->DupSlots(ctx, req, &resp);
              });
}

std::string RemoteSwapDevice::Describe() const {
  return absl::StrCat("memmgr-server at ", options_.target, " (lease ",
                      lease_id_, ")");
}

RemoteSwapDeviceStats RemoteSwapDevice::stats() const {
  RemoteSwapDeviceStats s;
  s.retries = retries_.load(std::memory_order_relaxed);
  s.connect_failures = connect_failures_.load(std::memory_order_relaxed);
  s.heartbeats = heartbeats_.load(std::memory_order_relaxed);
  s.heartbeat_failures = heartbeat_failures_.load(std::memory_order_relaxed);
  s.frees_outcome_unknown =
      frees_outcome_unknown_.load(std::memory_order_relaxed);
  s.lease_lost = !LeaseStatus().ok();
  return s;
}

absl::Status RemoteSwapDevice::HeartbeatOnce(absl::Duration deadline,
                                             absl::Duration* ttl) {
  std::unique_ptr<grpc::ClientContext> ctx = client_->NewContext();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  // While the server is away, wait (and poll the reconnect, see
  // WaitForServer) instead of failing at once.
  ctx->set_wait_for_ready(true);
  {
    MutexLock l(&mu_);
    if (stopping_) return absl::CancelledError("device is stopping");
    heartbeat_ctx_ = ctx.get();
  }
  // A fresh stream per beat, like Client::HeartbeatOnce: nothing to repair
  // after the server restarts.
  auto stream = client_->stub()->Heartbeat(ctx.get());
  v1::HeartbeatRequest req;
  req.set_lease_id(lease_id_);
  v1::HeartbeatResponse resp;
  if (stream->Write(req) && stream->Read(&resp)) {
    if (resp.lease_ttl_ms() > 0) *ttl = absl::Milliseconds(resp.lease_ttl_ms());
    stream->WritesDone();
    while (stream->Read(&resp)) {
    }
  }
  const grpc::Status status = stream->Finish();
  {
    MutexLock l(&mu_);
    heartbeat_ctx_ = nullptr;
  }
  return FromGrpcStatus(status);
}

void RemoteSwapDevice::HeartbeatLoop() {
  thread_local absl::BitGen gen;
  absl::Duration ttl = lease_ttl_;
  absl::Duration wait = ttl / 3;
  absl::Duration backoff = options_.initial_backoff;
  uint64_t failing = 0;  // consecutive failures, for one log line per outage
  while (Sleep(wait)) {
    // Beyond the TTL an answer is too late to matter anyway.
    const absl::Status s =
        HeartbeatOnce(std::min(options_.attempt_deadline, ttl), &ttl);
    if (s.ok()) {
      heartbeats_.fetch_add(1, std::memory_order_relaxed);
      if (failing > 0) {
        MEMMGR_LOG(INFO) << "swap device: heartbeat to " << options_.target
                         << " works again after " << failing << " failure(s)";
      }
      failing = 0;
      backoff = options_.initial_backoff;
      wait = ttl / 3;  // the server may have restarted with another TTL
      continue;
    }
    if (IsLeaseLost(s)) {
      LoseLease("Heartbeat", s).IgnoreError();  // callers see it
      return;                                   // nothing left to keep alive
    }
    {
      MutexLock l(&mu_);
      if (stopping_) return;  // our own cancellation
    }
    // Anything else is the server or the network: keep trying, faster than
    // the interval, so the lease survives a restart within its TTL.
    heartbeat_failures_.fetch_add(1, std::memory_order_relaxed);
    if (failing++ == 0) {
      MEMMGR_LOG(WARNING) << "swap device: heartbeat to " << options_.target
                          << " failed (" << s << "); retrying";
    }
    wait = std::min(backoff * absl::Uniform(gen, 0.5, 1.0), ttl / 3);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace memmgr::worker
