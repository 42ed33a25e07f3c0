#include "client/worker_client.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_util.h"

namespace memmgr {

absl::StatusOr<std::unique_ptr<WorkerClient>> WorkerClient::Create(
    WorkerClientOptions options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("empty worker address");
  }
  if (options.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("deadline must be positive");
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(options.max_send_bytes);
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(
      options.target, grpc::InsecureChannelCredentials(), args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create a channel to ", options.target));
  }
  return std::unique_ptr<WorkerClient>(
      new WorkerClient(std::move(options), std::move(channel)));
}

WorkerClient::WorkerClient(WorkerClientOptions options,
                           std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::Worker::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> WorkerClient::NewContext(
    absl::Duration deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (deadline > absl::ZeroDuration()) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  }
  return ctx;
}

absl::StatusOr<v1::CreateSandboxResponse> WorkerClient::CreateSandbox(
    const v1::CreateSandboxRequest& request) {
  v1::CreateSandboxResponse resp;
  auto ctx = NewContext(options_.deadline);
  absl::Status s =
      FromGrpcStatus(stub_->CreateSandbox(ctx.get(), request, &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::Status WorkerClient::Start(const std::string& sandbox_id) {
  v1::StartRequest req;
  req.set_sandbox_id(sandbox_id);
  v1::StartResponse resp;
  auto ctx = NewContext(options_.deadline);
  return FromGrpcStatus(stub_->Start(ctx.get(), req, &resp));
}

absl::StatusOr<v1::WaitResponse> WorkerClient::Wait(
    const std::string& sandbox_id, absl::Duration timeout) {
  v1::WaitRequest req;
  req.set_sandbox_id(sandbox_id);
  v1::WaitResponse resp;
  auto ctx = NewContext(timeout);
  absl::Status s = FromGrpcStatus(stub_->Wait(ctx.get(), req, &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::Status WorkerClient::Attach(
    const v1::AttachRequest& request,
    const std::function<bool(const v1::OutputChunk&)>& on_chunk,
    absl::Duration timeout) {
  auto ctx = NewContext(timeout);
  std::unique_ptr<grpc::ClientReader<v1::OutputChunk>> reader =
      stub_->Attach(ctx.get(), request);
  v1::OutputChunk chunk;
  bool stopped = false;
  while (reader->Read(&chunk)) {
    if (!on_chunk(chunk)) {
      ctx->TryCancel();
      stopped = true;
      break;
    }
  }
  const absl::Status s = FromGrpcStatus(reader->Finish());
  // Our own cancellation is not an error.
  return stopped && s.code() == absl::StatusCode::kCancelled ? absl::OkStatus()
                                                             : s;
}

absl::StatusOr<v1::SnapshotResponse> WorkerClient::Snapshot(
    const std::string& sandbox_id, bool keep_running) {
  v1::SnapshotRequest req;
  req.set_sandbox_id(sandbox_id);
  req.set_keep_running(keep_running);
  v1::SnapshotResponse resp;
  auto ctx = NewContext(options_.deadline);
  absl::Status s = FromGrpcStatus(stub_->Snapshot(ctx.get(), req, &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ForkResponse> WorkerClient::Fork(
    const v1::ForkRequest& request) {
  v1::ForkResponse resp;
  auto ctx = NewContext(options_.deadline);
  absl::Status s = FromGrpcStatus(stub_->Fork(ctx.get(), request, &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::Status WorkerClient::Kill(const std::string& sandbox_id) {
  v1::KillRequest req;
  req.set_sandbox_id(sandbox_id);
  v1::KillResponse resp;
  auto ctx = NewContext(options_.deadline);
  return FromGrpcStatus(stub_->Kill(ctx.get(), req, &resp));
}

absl::StatusOr<v1::ListSandboxesResponse> WorkerClient::ListSandboxes() {
  v1::ListSandboxesResponse resp;
  auto ctx = NewContext(options_.deadline);
  absl::Status s = FromGrpcStatus(
      stub_->ListSandboxes(ctx.get(), v1::ListSandboxesRequest(), &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::Status WorkerClient::DeleteSnapshot(const std::string& snapshot_id) {
  v1::DeleteSnapshotRequest req;
  req.set_snapshot_id(snapshot_id);
  v1::DeleteSnapshotResponse resp;
  auto ctx = NewContext(options_.deadline);
  return FromGrpcStatus(stub_->DeleteSnapshot(ctx.get(), req, &resp));
}

absl::StatusOr<v1::WorkerStatsResponse> WorkerClient::GetStats() {
  v1::WorkerStatsResponse resp;
  auto ctx = NewContext(options_.deadline);
  absl::Status s = FromGrpcStatus(
      stub_->GetStats(ctx.get(), v1::WorkerStatsRequest(), &resp));
  if (!s.ok()) return s;
  return resp;
}

}  // namespace memmgr
