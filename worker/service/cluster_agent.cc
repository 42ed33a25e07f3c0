#include "worker/service/cluster_agent.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_util.h"

namespace memmgr::worker {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(100);
// An unchanged sandbox report is still sent every this many heartbeats.
constexpr int kFullReportEvery = 10;
// How long the last heartbeat waits for the server to close the stream.
constexpr absl::Duration kCloseWait = absl::Seconds(2);

bool Running(const v1::StopStatus& s) {
  return s.reason() == v1::StopStatus::REASON_UNSPECIFIED;
}

bool LeaseLost(absl::StatusCode code) {
  return code == absl::StatusCode::kUnauthenticated ||
         code == absl::StatusCode::kFailedPrecondition;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClusterAgent>> ClusterAgent::Start(
    ClusterAgentOptions options, SandboxManager* manager) {
  if (options.server.empty()) {
    return absl::InvalidArgumentError("cluster agent: no --server given");
  }
  if (options.node_name.empty() || options.node_name.size() > 253) {
    return absl::InvalidArgumentError(
        "cluster agent: the node name must be 1..253 bytes");
  }
  if (options.node > 1023) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cluster_node=", options.node, ": must be 0..1023"));
  }
  for (const auto& [node, distance] : options.distances) {
    if (node > 1023 || distance < 10 || distance > 254) {
      return absl::InvalidArgumentError(
          absl::StrCat("--distances: ", node, ":", distance,
                       ": nodes are 0..1023 and distances 10..254"));
    }
  }
  ClientOptions co;
  co.target = options.server;
  co.deadline = options.rpc_deadline;
  co.max_attempts = 1;  // Run() retries with its own backoff
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(co);
  if (!client.ok()) return client.status();
  std::unique_ptr<ClusterAgent> agent(
      new ClusterAgent(std::move(options), manager, *std::move(client)));
  agent->thread_ = std::thread([a = agent.get()] { a->Run(); });
  return agent;
}

ClusterAgent::ClusterAgent(ClusterAgentOptions options, SandboxManager* manager,
                           std::unique_ptr<Client> client)
    : options_(std::move(options)),
      manager_(manager),
      client_(std::move(client)) {}

ClusterAgent::~ClusterAgent() { Stop(); }

void ClusterAgent::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  std::string lease;
  {
    MutexLock lock(&mu_);
    lease = lease_id_;
  }
  if (lease.empty()) return;
  // Leave the cluster now rather than when the lease expires: placement
  // stops choosing this node at once. One short attempt: a server that is
  // down lets the lease expire instead.
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  v1::UnregisterWorkerRequest req;
  req.set_lease_id(lease);
  v1::UnregisterWorkerResponse resp;
  const absl::Status s =
      FromGrpcStatus(client_->stub()->UnregisterWorker(&ctx, req, &resp));
  if (s.ok()) {
    MEMMGR_LOG(INFO) << "left the cluster (lease " << lease << " ended)";
  } else {
    MEMMGR_LOG(WARNING) << "leaving the cluster: " << s
                        << " (the lease expires by itself)";
  }
}

bool ClusterAgent::Pause(absl::Duration d) {
  MutexLock lock(&mu_);
  const absl::Time until = absl::Now() + d;
  while (!stopping_) {
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    cv_.WaitWithTimeout(&mu_, left);
  }
  return !stopping_;
}

void ClusterAgent::Run() {
  absl::Duration backoff = kInitialBackoff;
  bool first_stream = true;
  while (true) {
    bool need_lease;
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      need_lease = lease_id_.empty();
    }
    if (need_lease && !Register()) {
      if (!Pause(backoff)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    if (!first_stream) {
      MutexLock lock(&mu_);
      ++reconnects_;
    }
    first_stream = false;
    const absl::Time opened = absl::Now();
    const absl::Status s = RunStream();
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (LeaseLost(s.code())) {
      MEMMGR_LOG(WARNING) << "cluster lease lost: " << s
                          << "; killing the sandboxes placed here and "
                             "registering again";
      DropPlaced(std::string(s.message()));
      MutexLock lock(&mu_);
      lease_id_.clear();
      backoff = kInitialBackoff;
      continue;
    }
    MEMMGR_LOG(WARNING) << "cluster heartbeat stream to " << options_.server
                        << " ended: " << s << "; reconnecting";
    // A stream that lived a while was a working connection: start over.
    if (absl::Now() - opened > absl::Seconds(10)) backoff = kInitialBackoff;
    if (!Pause(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool ClusterAgent::Register() {
  v1::RegisterWorkerRequest req;
  req.set_node_name(options_.node_name);
  req.set_numa_node(options_.node);
  req.set_frame_capacity_pages(manager_->pool().total_frames());
  req.set_address(options_.address);
  for (const auto& [node, distance] : options_.distances) {
    (*req.mutable_distances())[node] = distance;
  }
  req.set_cluster_member(true);
  absl::StatusOr<v1::RegisterWorkerResponse> r = client_->RegisterWorker(req);
  if (!r.ok()) {
    MEMMGR_LOG(WARNING) << "cannot join the cluster at " << options_.server
                        << " as node " << options_.node << ": " << r.status()
                        << "; retrying";
    return false;
  }
  MutexLock lock(&mu_);
  lease_id_ = r->lease_id();
  ttl_ = absl::Milliseconds(r->lease_ttl_ms());
  ++registrations_;
  MEMMGR_LOG(INFO) << "joined the cluster at " << options_.server << " as node "
                   << options_.node << " ('" << options_.node_name
                   << "', address " << options_.address << ")";
  return true;
}

absl::Status ClusterAgent::RunStream() {
  grpc::ClientContext ctx;
  {
    MutexLock lock(&mu_);
    if (stopping_) return absl::OkStatus();
    reader_done_ = false;
    last_response_ = absl::Now();
  }
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::HeartbeatRequest, v1::HeartbeatResponse>>
      stream = client_->stub()->Heartbeat(&ctx);
  std::thread reader([this, s = stream.get()] { ReadLoop(s); });

  std::string last_report;  // serialized; "" forces one (a new stream)
  bool reported = false;
  int beats_since_report = 0;
  absl::Time next_beat = absl::Now();
  bool final_sent = false;
  bool stalled = false;
  while (true) {
    v1::HeartbeatRequest req;
    bool stopping = false;
    absl::Duration interval;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && !reader_done_ && results_.empty()) {
        const absl::Duration left = next_beat - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        cv_.WaitWithTimeout(&mu_, left);
      }
      if (reader_done_) break;
      // A half-open connection: our writes land in socket buffers and no
      // answer and no error ever comes. A lease TTL without any response
      // means the server may have expired the lease: start over, and the
      // next stream's first heartbeat tells us.
      if (absl::Now() - last_response_ > std::max(ttl_, absl::Seconds(1))) {
        stalled = true;
        break;
      }
      stopping = stopping_;
      req.set_lease_id(lease_id_);
      for (v1::CommandResult& r : results_) *req.add_results() = std::move(r);
      results_.clear();
      interval = std::clamp(ttl_ / 3, absl::Milliseconds(50), absl::Seconds(5));
    }
    *req.mutable_status() = MemoryStatus();
    v1::HeartbeatRequest report;
    for (v1::PlacedSandboxReport& r : Report()) {
      if (stopping && Running(r.status())) {
        // Stop() runs after SandboxManager::Shutdown, which kills every
        // sandbox; one still in its last slice stops at its end.
        r.mutable_status()->set_reason(v1::StopStatus::KILLED);
        r.mutable_status()->set_detail("worker shutting down");
      }
      *report.add_sandboxes() = std::move(r);
    }
    std::string serialized = report.SerializeAsString();
    // Unchanged reports are skipped, but one goes every kFullReportEvery
    // beats anyway: the server's map converges even if it missed one.
    if (!reported || stopping || serialized != last_report ||
        ++beats_since_report >= kFullReportEvery) {
      beats_since_report = 0;
      req.mutable_sandboxes()->Swap(report.mutable_sandboxes());
      req.set_sandboxes_reported(true);
      last_report = std::move(serialized);
      reported = true;
    }
    if (!stream->Write(req)) break;  // broken: the reader sees the end
    next_beat = absl::Now() + interval;
    if (stopping) {
      stream->WritesDone();
      final_sent = true;
      break;
    }
  }
  if (stalled) {
    MEMMGR_LOG(WARNING) << "cluster heartbeat stream to " << options_.server
                        << ": no response for a lease TTL; reconnecting";
    ctx.TryCancel();
  }
  {
    // The server ends the stream after our half-close (or already did);
    // don't wait on a stalled one.
    MutexLock lock(&mu_);
    const absl::Time until = absl::Now() + kCloseWait;
    while (!reader_done_) {
      const absl::Duration left = until - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      cv_.WaitWithTimeout(&mu_, left);
    }
    if (!reader_done_) ctx.TryCancel();
  }
  reader.join();
  const grpc::Status status = stream->Finish();
  {
    MutexLock lock(&mu_);
    connected_ = false;
  }
  if (final_sent) return absl::OkStatus();
  absl::Status s = FromGrpcStatus(status);
  if (s.ok()) return absl::UnavailableError("the server closed the stream");
  return s;
}

void ClusterAgent::ReadLoop(
    grpc::ClientReaderWriter<v1::HeartbeatRequest, v1::HeartbeatResponse>*
        stream) {
  v1::HeartbeatResponse resp;
  while (stream->Read(&resp)) {
    {
      MutexLock lock(&mu_);
      connected_ = true;
      last_response_ = absl::Now();
      if (resp.lease_ttl_ms() != 0) {
        ttl_ = absl::Milliseconds(resp.lease_ttl_ms());
      }
    }
    for (const v1::WorkerCommand& command : resp.commands()) {
      v1::CommandResult result = Execute(command);
      MutexLock lock(&mu_);
      results_.push_back(std::move(result));
      ++commands_;
      cv_.SignalAll();  // answer in a heartbeat now, not at the next beat
    }
  }
  MutexLock lock(&mu_);
  reader_done_ = true;
  cv_.SignalAll();
}

v1::CommandResult ClusterAgent::Execute(const v1::WorkerCommand& command) {
  v1::CommandResult result;
  result.set_command_id(command.command_id());
  absl::Status s;
  switch (command.command_case()) {
    case v1::WorkerCommand::kCreate: {
      const v1::CreatePlacedSandbox& c = command.create();
      if (c.sandbox_id().empty() || c.sandbox_id().size() > 128) {
        s = absl::InvalidArgumentError("sandbox_id must be 1..128 bytes");
        break;
      }
      {
        // The same create again (the server retried after a lost answer):
        // the sandbox it made the first time.
        MutexLock lock(&mu_);
        auto it = placed_.find(c.sandbox_id());
        if (it != placed_.end()) {
          result.set_worker_sandbox_id(it->second.worker_sandbox_id);
          break;
        }
      }
      absl::StatusOr<v1::CreateSandboxResponse> created =
          manager_->CreateSandbox(c.sandbox());
      if (!created.ok()) {
        s = created.status();
        break;
      }
      const std::string worker_id = created->sandbox_id();
      if (c.start()) {
        s = manager_->Start(worker_id);
        if (!s.ok()) {
          manager_->Kill(worker_id).IgnoreError();
          break;
        }
      }
      MutexLock lock(&mu_);
      placed_[c.sandbox_id()] = PlacedHere{worker_id, v1::StopStatus()};
      result.set_worker_sandbox_id(worker_id);
      break;
    }
    case v1::WorkerCommand::kKill: {
      std::string worker_id;
      {
        MutexLock lock(&mu_);
        auto it = placed_.find(command.kill().sandbox_id());
        if (it != placed_.end()) worker_id = it->second.worker_sandbox_id;
      }
      if (worker_id.empty()) {
        s = absl::NotFoundError(absl::StrCat("no sandbox ",
                                             command.kill().sandbox_id(),
                                             " was placed on this worker"));
        break;
      }
      s = manager_->Kill(worker_id);
      break;
    }
    default:
      s = absl::UnimplementedError(
          "a command this worker does not know (a newer server?)");
  }
  result.set_status_code(static_cast<int32_t>(s.code()));
  result.set_status_message(std::string(s.message()));
  return result;
}

v1::WorkerStatus ClusterAgent::MemoryStatus() {
  const mmu::FramePool& pool = manager_->pool();
  v1::WorkerStatus st;
  const uint64_t total = pool.total_frames();
  const uint64_t free = pool.free_frames();
  st.set_free_frames(free);
  st.set_used_frames(total > free ? total - free : 0);
  st.set_watermark_min_pages(pool.watermarks().min);
  st.set_watermark_low_pages(pool.watermarks().low);
  st.set_watermark_high_pages(pool.watermarks().high);
  st.set_capacity_frames(total);
  st.set_sandboxes(manager_->GetStats().live);
  return st;
}

std::vector<v1::PlacedSandboxReport> ClusterAgent::Report() {
  // Only entries that existed before the listing may be pruned for being
  // absent from it: one Execute adds meanwhile is simply not in it yet.
  std::set<std::string> before;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, p] : placed_) before.insert(id);
  }
  const v1::ListSandboxesResponse all = manager_->ListSandboxes();
  std::map<std::string, const v1::SandboxInfo*> by_id;
  for (const v1::SandboxInfo& info : all.sandboxes()) {
    by_id[info.sandbox_id()] = &info;
  }
  std::vector<v1::PlacedSandboxReport> out;
  MutexLock lock(&mu_);
  for (auto it = placed_.begin(); it != placed_.end();) {
    auto found = by_id.find(it->second.worker_sandbox_id);
    if (found == by_id.end()) {
      if (before.count(it->first) == 0) {  // created after the listing
        ++it;
        continue;
      }
      // The manager forgot it (--retain_stopped): the server keeps the
      // last status we reported.
      it = placed_.erase(it);
      continue;
    }
    it->second.last_status = found->second->status();
    v1::PlacedSandboxReport r;
    r.set_sandbox_id(it->first);
    r.set_worker_sandbox_id(it->second.worker_sandbox_id);
    *r.mutable_status() = it->second.last_status;
    out.push_back(std::move(r));
    ++it;
  }
  return out;
}

void ClusterAgent::DropPlaced(const std::string& why) {
  std::map<std::string, PlacedHere> placed;
  {
    MutexLock lock(&mu_);
    placed.swap(placed_);
  }
  uint32_t killed = 0;
  for (const auto& [id, p] : placed) {
    if (!Running(p.last_status)) continue;
    killed += manager_->Kill(p.worker_sandbox_id).ok();
  }
  if (!placed.empty()) {
    MEMMGR_LOG(WARNING) << "killed " << killed << " of " << placed.size()
                        << " sandboxes placed here by the server (" << why
                        << ")";
  }
}

ClusterAgent::Stats ClusterAgent::GetStats() {
  MutexLock lock(&mu_);
  Stats s;
  s.connected = connected_;
  s.lease_id = lease_id_;
  s.commands = commands_;
  s.reconnects = reconnects_;
  s.registrations = registrations_;
  s.placed = static_cast<uint32_t>(placed_.size());
  return s;
}

}  // namespace memmgr::worker
