#include "worker/service/worker_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_util.h"

namespace memmgr::worker {
namespace {

absl::Time DeadlineOf(const grpc::ServerContext& ctx) {
  const auto d = ctx.deadline();
  if (d == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(d);
}

// Bytes per Attach message (several chunks may be sent back to back).
constexpr size_t kAttachBatch = 256 << 10;

}  // namespace

grpc::Status WorkerService::Done(absl::string_view method,
                                 const absl::Status& status) {
  if (options_.metrics != nullptr) {
    options_.metrics->ObserveRpc(method,
                                 absl::StatusCodeToString(status.code()));
  }
  return ToGrpcStatus(status);
}

grpc::Status WorkerService::CreateSandbox(
    grpc::ServerContext*, const v1::CreateSandboxRequest* request,
    v1::CreateSandboxResponse* response) {
  absl::StatusOr<v1::CreateSandboxResponse> r =
      options_.manager->CreateSandbox(*request);
  if (r.ok()) *response = *std::move(r);
  return Done("CreateSandbox", r.status());
}

grpc::Status WorkerService::Start(grpc::ServerContext*,
                                  const v1::StartRequest* request,
                                  v1::StartResponse*) {
  return Done("Start", options_.manager->Start(request->sandbox_id()));
}

grpc::Status WorkerService::Wait(grpc::ServerContext* ctx,
                                 const v1::WaitRequest* request,
                                 v1::WaitResponse* response) {
  absl::StatusOr<v1::WaitResponse> r =
      options_.manager->Wait(request->sandbox_id(), DeadlineOf(*ctx),
                             [ctx] { return ctx->IsCancelled(); });
  if (r.ok()) *response = *std::move(r);
  return Done("Wait", r.status());
}

grpc::Status WorkerService::Attach(
    grpc::ServerContext* ctx, const v1::AttachRequest* request,
    grpc::ServerWriter<v1::OutputChunk>* writer) {
  absl::StatusOr<std::shared_ptr<OutputBuffer>> out =
      options_.manager->OutputOf(request->sandbox_id());
  if (!out.ok()) return Done("Attach", out.status());
  OutputBuffer& buffer = **out;
  // With no_wait: only what was written before the call.
  const uint64_t stop_at =
      request->no_wait() ? buffer.end_offset() : ~uint64_t{0};
  uint64_t offset = request->offset();
  while (offset < stop_at) {
    if (ctx->IsCancelled()) {
      return Done("Attach", absl::CancelledError("the caller went away"));
    }
    // Closed is read before the data: everything written before Close()
    // is then in the Read below.
    const bool closed = buffer.closed();
    std::vector<OutputPiece> pieces = buffer.Read(offset, kAttachBatch);
    for (OutputPiece& p : pieces) {
      if (p.offset >= stop_at) break;
      if (p.offset + p.data.size() > stop_at) p.data.resize(stop_at - p.offset);
      v1::OutputChunk chunk;
      chunk.set_stream(p.fd == 2 ? v1::OutputChunk::STDERR
                                 : v1::OutputChunk::STDOUT);
      chunk.set_offset(p.offset);
      offset = p.offset + p.data.size();
      chunk.set_data(std::move(p.data));
      if (!writer->Write(chunk)) {
        return Done("Attach", absl::CancelledError("the stream broke"));
      }
    }
    if (!pieces.empty()) continue;
    if (closed || request->no_wait()) break;
    buffer.WaitFor(offset, absl::Milliseconds(100));
  }
  return Done("Attach", absl::OkStatus());
}

grpc::Status WorkerService::Snapshot(grpc::ServerContext*,
                                     const v1::SnapshotRequest* request,
                                     v1::SnapshotResponse* response) {
  absl::StatusOr<v1::SnapshotResponse> r = options_.manager->Snapshot(*request);
  if (r.ok()) *response = *std::move(r);
  return Done("Snapshot", r.status());
}

grpc::Status WorkerService::Fork(grpc::ServerContext*,
                                 const v1::ForkRequest* request,
                                 v1::ForkResponse* response) {
  absl::StatusOr<v1::ForkResponse> r = options_.manager->Fork(*request);
  if (r.ok()) *response = *std::move(r);
  return Done("Fork", r.status());
}

grpc::Status WorkerService::Kill(grpc::ServerContext*,
                                 const v1::KillRequest* request,
                                 v1::KillResponse*) {
  return Done("Kill", options_.manager->Kill(request->sandbox_id()));
}

grpc::Status WorkerService::ListSandboxes(grpc::ServerContext*,
                                          const v1::ListSandboxesRequest*,
                                          v1::ListSandboxesResponse* response) {
  *response = options_.manager->ListSandboxes();
  return Done("ListSandboxes", absl::OkStatus());
}

grpc::Status WorkerService::DeleteSnapshot(
    grpc::ServerContext*, const v1::DeleteSnapshotRequest* request,
    v1::DeleteSnapshotResponse*) {
  return Done("DeleteSnapshot",
              options_.manager->DeleteSnapshot(request->snapshot_id()));
}

grpc::Status WorkerService::GetStats(grpc::ServerContext*,
                                     const v1::WorkerStatsRequest*,
                                     v1::WorkerStatsResponse* response) {
  const ManagerStats s = options_.manager->GetStats();
  response->set_frames_capacity(s.frames_capacity);
  response->set_frames_used(s.frames_used);
  response->set_frames_shared(s.frames_shared);
  response->set_sandboxes(s.live);
  response->set_sandboxes_stopped(s.stopped);
  response->set_snapshots(s.snapshots);
  response->set_forks_total(s.forks_total);
  response->set_cow_breaks_total(s.cow_breaks_total);
  response->set_executors(s.executors);
  return Done("GetStats", absl::OkStatus());
}

}  // namespace memmgr::worker
