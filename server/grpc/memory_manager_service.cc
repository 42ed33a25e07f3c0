#include "server/grpc/memory_manager_service.h"

#include <algorithm>
#include <deque>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_util.h"

namespace memmgr {
namespace {

std::vector<SwapEntry> EntriesFromProto(
    const google::protobuf::RepeatedPtrField<v1::SwapEntry>& in) {
  std::vector<SwapEntry> out;
  out.reserve(in.size());
  for (const v1::SwapEntry& e : in) out.push_back({e.slot(), e.generation()});
  return out;
}

// Runs one unary handler: times it, records the outcome, converts status.
template <typename Fn>
grpc::Status Handle(MemoryManagerService* svc, absl::string_view method,
                    Fn fn) {
  const absl::Time start = absl::Now();
  const absl::Status status = fn();
  svc->Observe(method, start, status);
  return ToGrpcStatus(status);
}

// One worker's Heartbeat stream. Every request refreshes its lease and is
// answered with the TTL; a cluster member's requests also go to
// ClusterState, which sends commands down the same stream whenever it needs
// to (ClusterState::Stream). So writes are queued: a read is always
// outstanding, at most one write is, and the queue holds the rest.
//
// Threads: gRPC's callback threads run OnReadDone/OnWriteDone/OnDone;
// ClusterState calls Send from RPC handler threads. mu_ (a leaf) guards
// the write queue and the finishing state. ClusterState never calls Send
// after OnStreamClosed returns, which OnDone calls before deleting this.
class HeartbeatReactor final
    : public grpc::ServerBidiReactor<v1::HeartbeatRequest,
                                     v1::HeartbeatResponse>,
      public ClusterState::Stream {
 public:
  HeartbeatReactor(MemoryManagerService* svc, grpc::CallbackServerContext* ctx)
      : svc_(svc), ctx_(ctx) {
    if (!svc_->TrackStream(ctx_)) {
      tracked_ = false;
      MutexLock lock(&mu_);
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "server is shutting down"));
      return;
    }
    // Under mu_ so that the callbacks, which take mu_ first, are ordered
    // after construction for ThreadSanitizer too (gRPC core's own hand-off
    // is invisible to it: Debian's libgrpc is not instrumented).
    MutexLock lock(&mu_);
    StartRead(&request_);
  }

  // ClusterState::Stream: queues `response` (commands) for the worker.
  void Send(const v1::HeartbeatResponse& response) override {
    MutexLock lock(&mu_);
    QueueLocked(response);
  }

  void OnReadDone(bool ok) override {
    {
      MutexLock lock(&mu_);  // see the constructor
      // A read that completes after we began finishing is dropped: it must
      // not refresh the lease or hand ClusterState a dying stream.
      if (finishing_) return;
      if (!ok) {  // client half-closed or the call was cancelled
        FinishLocked(grpc::Status::OK);
        return;
      }
    }
    const absl::Time start = absl::Now();
    v1::RegisterWorkerRequest spec;
    const absl::Status status =
        svc_->store()->Heartbeat(request_.lease_id(), &spec);
    svc_->Observe("Heartbeat", start, status);
    if (!status.ok()) {
      MutexLock lock(&mu_);
      FinishLocked(ToGrpcStatus(status));
      return;
    }
    if (spec.cluster_member() && svc_->cluster() != nullptr) {
      // Outside mu_: ClusterState may call Send (lock order mu_ of
      // ClusterState -> ours).
      svc_->cluster()->OnMemberHeartbeat(request_.lease_id(), spec, request_,
                                         this);
    }
    v1::HeartbeatResponse beat;
    beat.set_lease_ttl_ms(static_cast<uint32_t>(
        absl::ToInt64Milliseconds(svc_->store()->options().lease_ttl)));
    MutexLock lock(&mu_);
    QueueLocked(beat);
    if (!finishing_) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    queue_.pop_front();
    if (finishing_) {
      FinishLocked(finish_status_);
      return;
    }
    WriteNextLocked();
  }

  void OnDone() override {
    { MutexLock lock(&mu_); }  // see the constructor
    // After this, ClusterState no longer calls Send: safe to delete.
    if (svc_->cluster() != nullptr) svc_->cluster()->OnStreamClosed(this);
    if (tracked_) svc_->UntrackStream(ctx_);
    delete this;
  }

 private:
  void QueueLocked(const v1::HeartbeatResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return;  // the worker reconnects and heartbeats again
    if (queue_.size() >= kMaxQueued) {
      // A worker that writes but never reads would grow this without end.
      // Nothing more is queued; the stream finishes when the in-flight
      // write completes or fails (flow control holds it while the worker
      // reads nothing; the connection's end or the server's shutdown ends
      // it). TryCancel is not called here: we hold mu_, possibly under
      // ClusterState's lock, and cancellation may run callbacks that take
      // both.
      FinishLocked(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       "the worker is not reading its heartbeat responses"));
      return;
    }
    queue_.push_back(response);
    WriteNextLocked();
  }
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty()) return;
    writing_ = true;
    // The front stays in the deque (stable address) until its write is done.
    StartWrite(&queue_.front());
  }
  // Finishes once no write is in flight (the pending one ends first).
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finishing_ = true;
    finish_status_ = std::move(status);
    if (writing_) return;  // OnWriteDone finishes
    finished_ = true;
    Finish(finish_status_);
  }

  static constexpr size_t kMaxQueued = 1024;

  MemoryManagerService* const svc_;
  grpc::CallbackServerContext* const ctx_;
  bool tracked_ = true;
  v1::HeartbeatRequest request_;  // only the read side touches it

  Mutex mu_;
  std::deque<v1::HeartbeatResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

// Drives one bulk stream: each request is answered in order with the same
// semantics as the unary RPC; a failed batch is reported in the response and
// the stream goes on.
template <typename Req, typename Resp, typename Fn>
grpc::Status RunBulkStream(MemoryManagerService* svc, absl::string_view method,
                           grpc::ServerContext* ctx,
                           grpc::ServerReaderWriter<Resp, Req>* stream, Fn fn) {
  if (!svc->TrackStream(ctx)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "server is shutting down");
  }
  Req req;
  Resp resp;
  while (stream->Read(&req)) {
    resp.Clear();
    const absl::Time start = absl::Now();
    absl::Status status = fn(req, &resp);
    svc->Observe(method, start, status);
    resp.set_seq(req.seq());
    resp.set_status_code(static_cast<int32_t>(status.code()));
    resp.set_status_message(std::string(status.message()));
    if (!stream->Write(resp)) break;
  }
  svc->UntrackStream(ctx);
  return grpc::Status::OK;
}

}  // namespace

MemoryManagerService::MemoryManagerService(Options options)
    : options_(options) {}

void MemoryManagerService::Observe(absl::string_view method, absl::Time start,
                                   const absl::Status& status) {
  if (options_.metrics == nullptr) return;
  options_.metrics->ObserveRpc(method, absl::Now() - start,
                               absl::StatusCodeToString(status.code()));
}

bool MemoryManagerService::TrackStream(grpc::ServerContextBase* ctx) {
  MutexLock l(&streams_mu_);
  if (shutting_down_) return false;
  streams_.insert(ctx);
  return true;
}

void MemoryManagerService::UntrackStream(grpc::ServerContextBase* ctx) {
  MutexLock l(&streams_mu_);
  streams_.erase(ctx);
}

void MemoryManagerService::CancelStreams() {
  MutexLock l(&streams_mu_);
  shutting_down_ = true;
  // TryCancel is thread-safe; each stream then ends and untracks itself
  // (after we release the lock).
  for (grpc::ServerContextBase* ctx : streams_) ctx->TryCancel();
}

grpc::Status MemoryManagerService::RegisterWorker(
    grpc::ServerContext*, const v1::RegisterWorkerRequest* req,
    v1::RegisterWorkerResponse* resp) {
  return Handle(this, "RegisterWorker", [&]() -> absl::Status {
    absl::StatusOr<LeaseGrant> grant = options_.store->RegisterLease(*req);
    if (!grant.ok()) return grant.status();
    resp->set_lease_id(grant->lease_id);
    resp->set_lease_ttl_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(grant->ttl)));
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<v1::HeartbeatRequest, v1::HeartbeatResponse>*
MemoryManagerService::Heartbeat(grpc::CallbackServerContext* ctx) {
  return new HeartbeatReactor(this, ctx);
}

grpc::Status MemoryManagerService::UnregisterWorker(
    grpc::ServerContext*, const v1::UnregisterWorkerRequest* req,
    v1::UnregisterWorkerResponse* resp) {
  return Handle(this, "UnregisterWorker", [&]() -> absl::Status {
    absl::StatusOr<uint64_t> freed =
        options_.store->UnregisterLease(req->lease_id());
    if (!freed.ok()) return freed.status();
    resp->set_freed_slots(*freed);
    return absl::OkStatus();
  });
}

absl::Status MemoryManagerService::DoSwapOut(const v1::SwapOutRequest& req,
                                             v1::SwapOutResponse* resp) {
  std::vector<absl::string_view> pages(req.pages().begin(), req.pages().end());
  absl::StatusOr<std::vector<SwapEntry>> entries =
      options_.store->SwapOut(req.lease_id(), pages);
  if (!entries.ok()) return entries.status();
  resp->mutable_entries()->Reserve(entries->size());
  for (const SwapEntry& e : *entries) {
    v1::SwapEntry* out = resp->add_entries();
    out->set_slot(e.slot);
    out->set_generation(e.generation);
  }
  return absl::OkStatus();
}

absl::Status MemoryManagerService::DoSwapIn(const v1::SwapInRequest& req,
                                            v1::SwapInResponse* resp) {
  std::vector<std::string> pages;
  MEMMGR_RETURN_IF_ERROR(options_.store->SwapIn(
      req.lease_id(), EntriesFromProto(req.entries()), &pages));
  resp->mutable_pages()->Reserve(pages.size());
  for (std::string& p : pages) resp->add_pages(std::move(p));
  return absl::OkStatus();
}

grpc::Status MemoryManagerService::SwapOut(grpc::ServerContext*,
                                           const v1::SwapOutRequest* req,
                                           v1::SwapOutResponse* resp) {
  return Handle(this, "SwapOut", [&] { return DoSwapOut(*req, resp); });
}

grpc::Status MemoryManagerService::SwapIn(grpc::ServerContext*,
                                          const v1::SwapInRequest* req,
                                          v1::SwapInResponse* resp) {
  return Handle(this, "SwapIn", [&] { return DoSwapIn(*req, resp); });
}

grpc::Status MemoryManagerService::FreeSlots(grpc::ServerContext*,
                                             const v1::FreeSlotsRequest* req,
                                             v1::FreeSlotsResponse* resp) {
  return Handle(this, "FreeSlots", [&]() -> absl::Status {
    absl::StatusOr<uint64_t> freed = options_.store->FreeSlots(
        req->lease_id(), EntriesFromProto(req->entries()));
    if (!freed.ok()) return freed.status();
    resp->set_freed_slots(*freed);
    return absl::OkStatus();
  });
}

grpc::Status MemoryManagerService::DupSlots(grpc::ServerContext*,
                                            const v1::DupSlotsRequest* req,
                                            v1::DupSlotsResponse*) {
  return Handle(this, "DupSlots", [&] {
    return options_.store->DupSlots(req->lease_id(),
                                    EntriesFromProto(req->entries()));
  });
}

grpc::Status MemoryManagerService::StreamSwapOut(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::SwapOutResponse, v1::SwapOutRequest>* stream) {
  return RunBulkStream(
      this, "StreamSwapOut", ctx, stream,
      [this](const v1::SwapOutRequest& req, v1::SwapOutResponse* resp) {
        return DoSwapOut(req, resp);
      });
}

grpc::Status MemoryManagerService::StreamSwapIn(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::SwapInResponse, v1::SwapInRequest>* stream) {
  return RunBulkStream(
      this, "StreamSwapIn", ctx, stream,
      [this](const v1::SwapInRequest& req, v1::SwapInResponse* resp) {
        return DoSwapIn(req, resp);
      });
}

grpc::Status MemoryManagerService::GetStats(grpc::ServerContext*,
                                            const v1::GetStatsRequest*,
                                            v1::GetStatsResponse* resp) {
  return Handle(this, "GetStats", [&] {
    const SwapStoreStats s = options_.store->GetStats();
    resp->set_slots_used(s.slots_used);
    resp->set_slots_capacity(s.slots_capacity);
    resp->set_swap_out_pages(s.swap_out_pages);
    resp->set_swap_in_pages(s.swap_in_pages);
    resp->set_freed_pages(s.freed_pages);
    resp->set_leases(s.leases);
    resp->set_leases_expired(s.leases_expired);
    resp->set_rocksdb_sst_bytes(s.storage.sst_bytes);
    resp->set_rocksdb_live_data_bytes(s.storage.live_data_bytes);
    resp->set_sync_writes(options_.store->options().sync);
    resp->set_max_batch_pages(options_.store->options().max_batch_pages);
    resp->set_compressor(CompressorName(options_.store->options().compressor));
    resp->set_stored_payload_bytes(s.stored_payload_bytes);
    uint64_t encoded = 0;
    for (uint64_t n : s.stored_by_codec) encoded += n;
    resp->set_stored_encoded_pages(encoded);
    resp->set_zswap_enabled(s.zswap_enabled);
    resp->set_swap_in_zswap_pages(s.swap_in_zswap_pages);
    if (s.zswap_enabled) {
      resp->set_zswap_pool_bytes(s.zswap.pool_bytes);
      resp->set_zswap_pool_limit_bytes(
          options_.store->zswap()->options().max_pool_bytes);
      resp->set_zswap_stored_pages(s.zswap.stored_pages);
      resp->set_zswap_written_back_pages(s.zswap.written_back);
      resp->set_zswap_reject_compress_poor(s.zswap.reject_compress_poor);
    }
    return absl::OkStatus();
  });
}

namespace {

// A cluster RPC waits for a worker's answer at most until the client's
// deadline, and never longer than this.
constexpr absl::Duration kMaxClusterWait = absl::Seconds(60);

absl::Time ClusterDeadline(const grpc::ServerContext* ctx) {
  const absl::Time cap = absl::Now() + kMaxClusterWait;
  const absl::Time client = absl::FromChrono(ctx->deadline());
  return std::min(client, cap);
}

}  // namespace

absl::Status MemoryManagerService::NeedCluster() const {
  if (options_.cluster == nullptr) {
    return absl::UnimplementedError(
        "this server runs without cluster placement");
  }
  return absl::OkStatus();
}

grpc::Status MemoryManagerService::CreateSandbox(
    grpc::ServerContext* ctx, const v1::CreateClusterSandboxRequest* req,
    v1::CreateClusterSandboxResponse* resp) {
  return Handle(this, "CreateSandbox", [&]() -> absl::Status {
    MEMMGR_RETURN_IF_ERROR(NeedCluster());
    if (req->restart_from_snapshot()) {
      return absl::UnimplementedError(
          "restart_from_snapshot needs published snapshots, which this "
          "server does not have yet");
    }
    if (!req->dry_run() && !req->has_sandbox()) {
      return absl::InvalidArgumentError(
          "CreateSandbox needs sandbox (what to run) unless dry_run is set");
    }
    absl::StatusOr<v1::CreateClusterSandboxResponse> r =
        options_.cluster->CreateSandbox(*req, ClusterDeadline(ctx));
    if (!r.ok()) return r.status();
    *resp = *std::move(r);
    return absl::OkStatus();
  });
}

grpc::Status MemoryManagerService::ListSandboxes(
    grpc::ServerContext*, const v1::ListClusterSandboxesRequest*,
    v1::ListClusterSandboxesResponse* resp) {
  return Handle(this, "ListSandboxes", [&]() -> absl::Status {
    MEMMGR_RETURN_IF_ERROR(NeedCluster());
    *resp = options_.cluster->ListSandboxes();
    return absl::OkStatus();
  });
}

grpc::Status MemoryManagerService::KillSandbox(
    grpc::ServerContext* ctx, const v1::KillClusterSandboxRequest* req,
    v1::KillClusterSandboxResponse*) {
  return Handle(this, "KillSandbox", [&]() -> absl::Status {
    MEMMGR_RETURN_IF_ERROR(NeedCluster());
    if (req->sandbox_id().empty() || req->sandbox_id().size() > 128) {
      return absl::InvalidArgumentError("sandbox_id must be 1..128 bytes");
    }
    return options_.cluster->KillSandbox(req->sandbox_id(),
                                         ClusterDeadline(ctx));
  });
}

grpc::Status MemoryManagerService::ListLeases(grpc::ServerContext*,
                                              const v1::ListLeasesRequest*,
                                              v1::ListLeasesResponse* resp) {
  return Handle(this, "ListLeases", [&] {
    for (v1::LeaseInfo& l : options_.store->ListLeases()) {
      *resp->add_leases() = std::move(l);
    }
    return absl::OkStatus();
  });
}

}  // namespace memmgr
