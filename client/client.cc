#include "client/client.h"

#include <algorithm>
#include <thread>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace memmgr {

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("empty server address");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("max_attempts must be >= 1");
  }
  if (options.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("deadline must be positive");
  }
  if (options.credentials == nullptr) {
    options.credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  // SwapIn answers carry up to a full batch of pages.
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  auto channel =
      grpc::CreateCustomChannel(options.target, options.credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create a channel to ", options.target));
  }
  return std::unique_ptr<Client>(new Client(std::move(options), channel));
}

Client::Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::MemoryManager::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
  return ctx;
}

template <typename Rpc>
absl::Status Client::Call(Rpc rpc) {
  thread_local absl::BitGen gen;
  absl::Duration backoff = options_.initial_backoff;
  absl::Status status;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    std::unique_ptr<grpc::ClientContext> ctx = NewContext();
    status = FromGrpcStatus(rpc(ctx.get()));
    if (status.code() != absl::StatusCode::kUnavailable) return status;
    if (attempt == options_.max_attempts) break;
    // Full jitter: sleep uniformly in [backoff/2, backoff].
    const double jitter = absl::Uniform(gen, 0.5, 1.0);
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(backoff * jitter));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  return absl::Status(
      status.code(),
      absl::StrCat(status.message(), " (after ", options_.max_attempts,
                   " attempts to ", options_.target, ")"));
}

absl::StatusOr<v1::RegisterWorkerResponse> Client::RegisterWorker(
    const v1::RegisterWorkerRequest& request) {
  v1::RegisterWorkerResponse resp;
  absl::Status s = Call([&](grpc::ClientContext* ctx) {
    return stub_->RegisterWorker(ctx, request, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::Status Client::HeartbeatOnce(const std::string& lease_id) {
  return Call([&](grpc::ClientContext* ctx) {
    auto stream = stub_->Heartbeat(ctx);
    v1::HeartbeatRequest req;
    req.set_lease_id(lease_id);
    v1::HeartbeatResponse resp;
    if (stream->Write(req) && stream->Read(&resp)) {
      stream->WritesDone();
      // The server ends the stream when we half-close.
      while (stream->Read(&resp)) {
      }
      return stream->Finish();
    }
    return stream->Finish();
  });
}

absl::StatusOr<uint64_t> Client::UnregisterWorker(const std::string& lease_id) {
  v1::UnregisterWorkerRequest req;
  req.set_lease_id(lease_id);
  v1::UnregisterWorkerResponse resp;
  absl::Status s = Call([&](grpc::ClientContext* ctx) {
    return stub_->UnregisterWorker(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp.freed_slots();
}

absl::StatusOr<std::vector<v1::SwapEntry>> Client::SwapOut(
    const std::string& lease_id, const std::vector<std::string>& pages) {
  v1::SwapOutRequest req;
  req.set_lease_id(lease_id);
  req.mutable_pages()->Reserve(static_cast<int>(pages.size()));
  for (const std::string& p : pages) req.add_pages(p);
  v1::SwapOutResponse resp;
  absl::Status s = Call([&](grpc::ClientContext* ctx) {
    return stub_->SwapOut(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  if (static_cast<size_t>(resp.entries_size()) != pages.size()) {
    return absl::InternalError(
        absl::StrCat("server returned ", resp.entries_size(), " entries for ",
                     pages.size(), " pages"));
  }
  return std::vector<v1::SwapEntry>(resp.entries().begin(),
                                    resp.entries().end());
}

absl::StatusOr<std::vector<std::string>> Client::SwapIn(
    const std::string& lease_id, const std::vector<v1::SwapEntry>& entries) {
  v1::SwapInRequest req;
  req.set_lease_id(lease_id);
  for (const v1::SwapEntry& e : entries) *req.add_entries() = e;
  v1::SwapInResponse resp;
  absl::Status s = Call(
      [&](grpc::ClientContext* ctx) { return stub_->SwapIn(ctx, req, &resp); });
  if (!s.ok()) return s;
  if (static_cast<size_t>(resp.pages_size()) != entries.size()) {
    return absl::InternalError(absl::StrCat("server returned ",
                                            resp.pages_size(), " pages for ",
                                            entries.size(), " entries"));
  }
  std::vector<std::string> pages;
  pages.reserve(entries.size());
  for (std::string& p : *resp.mutable_pages()) pages.push_back(std::move(p));
  return pages;
}

absl::StatusOr<uint64_t> Client::FreeSlots(
    const std::string& lease_id, const std::vector<v1::SwapEntry>& entries) {
  v1::FreeSlotsRequest req;
  req.set_lease_id(lease_id);
  for (const v1::SwapEntry& e : entries) *req.add_entries() = e;
  v1::FreeSlotsResponse resp;
  absl::Status s = Call([&](grpc::ClientContext* ctx) {
    return stub_->FreeSlots(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp.freed_slots();
}

absl::Status Client::DupSlots(const std::string& lease_id,
                              const std::vector<v1::SwapEntry>& entries) {
  v1::DupSlotsRequest req;
  req.set_lease_id(lease_id);
  for (const v1::SwapEntry& e : entries) *req.add_entries() = e;
  v1::DupSlotsResponse resp;
  return Call([&](grpc::ClientContext* ctx) {
    return stub_->DupSlots(ctx, req, &resp);
  });
}

absl::StatusOr<v1::GetStatsResponse> Client::GetStats() {
  v1::GetStatsResponse resp;
  absl::Status s = Call([&](grpc::ClientContext* ctx) {
    return stub_->GetStats(ctx, v1::GetStatsRequest(), &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ListLeasesResponse> Client::ListLeases() {
  v1::ListLeasesResponse resp;
  absl::Status s = Call([&](grpc::ClientContext* ctx) {
    return stub_->ListLeases(ctx, v1::ListLeasesRequest(), &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::CreateClusterSandboxResponse> Client::CreateClusterSandbox(
    const v1::CreateClusterSandboxRequest& request) {
  v1::CreateClusterSandboxResponse resp;
  std::unique_ptr<grpc::ClientContext> ctx = NewContext();
  absl::Status s =
      FromGrpcStatus(stub_->CreateSandbox(ctx.get(), request, &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ListClusterSandboxesResponse>
Client::ListClusterSandboxes() {
  v1::ListClusterSandboxesResponse resp;
  absl::Status s = Call([&](grpc::ClientContext* ctx) {
    return stub_->ListSandboxes(ctx, v1::ListClusterSandboxesRequest(), &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::Status Client::KillClusterSandbox(const std::string& sandbox_id) {
  v1::KillClusterSandboxRequest req;
  req.set_sandbox_id(sandbox_id);
  v1::KillClusterSandboxResponse resp;
  std::unique_ptr<grpc::ClientContext> ctx = NewContext();
  return FromGrpcStatus(stub_->KillSandbox(ctx.get(), req, &resp));
}

}  // namespace memmgr
