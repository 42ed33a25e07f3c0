#include "server/cluster/cluster_state.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/swap/swap_store.h"

namespace memmgr {
namespace {

bool Running(const v1::StopStatus& s) {
  return s.reason() == v1::StopStatus::REASON_UNSPECIFIED;
}

std::string RandomTag() {
  absl::BitGen gen;
  return absl::StrFormat("%08x", absl::Uniform<uint32_t>(gen));
}

}  // namespace

ClusterState::ClusterState(ClusterStateOptions options)
    : options_(std::move(options)), run_tag_(RandomTag()) {}

std::string ClusterState::NewSandboxIdLocked() {
  return absl::StrCat("csb-", run_tag_, "-", next_sandbox_++);
}

void ClusterState::OnMemberHeartbeat(const std::string& lease_id,
                                     const v1::RegisterWorkerRequest& spec,
                                     const v1::HeartbeatRequest& request,
                                     Stream* stream) {
  MutexLock lock(&mu_);
  if (shut_down_) return;
  Member& m = members_[lease_id];
  m.lease_id = lease_id;
  m.spec = spec;
  m.stream = stream;
  m.last_seen = absl::Now();
  if (request.has_status()) {
    m.status = request.status();
    m.has_status = true;
  }
  bool answered = false;
  for (const v1::CommandResult& r : request.results()) {
    auto it = pending_.find(r.command_id());
    // Only the member the command went to may answer it.
    if (it == pending_.end() || it->second.lease_id != lease_id ||
        it->second.done) {
      continue;
    }
    it->second.done = true;
    it->second.status = absl::Status(
        static_cast<absl::StatusCode>(r.status_code()), r.status_message());
    it->second.worker_sandbox_id = r.worker_sandbox_id();
    answered = true;
  }
  if (request.sandboxes_reported()) {
    for (const v1::PlacedSandboxReport& r : request.sandboxes()) {
      auto it = sandboxes_.find(r.sandbox_id());
      if (it == sandboxes_.end()) {
        // Placed before a server restart: the report rebuilds it.
        Placed p;
        p.lease_id = lease_id;
        p.numa_node = spec.numa_node();
        p.node_name = spec.node_name();
        p.address = spec.address();
        it = sandboxes_.emplace(r.sandbox_id(), std::move(p)).first;
      } else if (it->second.lease_id != lease_id) {
        continue;  // another member's sandbox: never taken over by a report
      }
      it->second.worker_sandbox_id = r.worker_sandbox_id();
      it->second.status = r.status();
      it->second.reported = true;
    }
  }
  if (answered) cv_.SignalAll();
}

void ClusterState::OnStreamClosed(Stream* stream) {
  MutexLock lock(&mu_);
  for (auto& [lease, m] : members_) {
    if (m.stream == stream) m.stream = nullptr;
  }
  bool failed = false;
  for (auto& [id, p] : pending_) {
    if (p.stream == stream && !p.done) {
      p.done = true;
      // ABORTED, not UNAVAILABLE: the command was sent and may have taken
      // effect, so CreateSandbox must not place it on another node too.
      p.status = absl::AbortedError(
          "the worker's heartbeat stream closed before it answered (the "
          "command may have taken effect: its next report will show it)");
      failed = true;
    }
  }
  if (failed) cv_.SignalAll();
}

void ClusterState::TrimLocked() {
  if (sandboxes_.size() <= options_.max_sandboxes_known) return;
  for (auto it = sandboxes_.begin();
       it != sandboxes_.end() &&
       sandboxes_.size() > options_.max_sandboxes_known;) {
    if (Running(it->second.status)) {
      ++it;
    } else {
      it = sandboxes_.erase(it);
    }
  }
}

void ClusterState::ReapLocked() {
  for (auto it = members_.begin(); it != members_.end();) {
    const absl::Status live = options_.store->CheckLease(it->first);
    if (live.ok()) {
      ++it;
      continue;
    }
    for (auto& [id, p] : sandboxes_) {
      if (p.lease_id == it->first && Running(p.status)) {
        p.status.set_reason(v1::StopStatus::LOST);
        p.status.set_detail(absl::StrCat("its worker '",
                                         it->second.spec.node_name(),
                                         "' is gone: ", live.message()));
      }
    }
    it = members_.erase(it);
  }
  TrimLocked();
}

ClusterState::Member* ClusterState::MemberByNodeLocked(uint32_t node) {
  for (auto& [lease, m] : members_) {
    if (m.spec.numa_node() == node) return &m;
  }
  return nullptr;
}

std::vector<NodeView> ClusterState::NodeViewsLocked() {
  std::vector<NodeView> views;
  for (const auto& [lease, m] : members_) {
    NodeView v;
    v.node = m.spec.numa_node();
    v.name = m.spec.node_name();
    v.free_frames = m.status.free_frames();
    v.high_pages = m.status.watermark_high_pages();
    v.capacity_frames = m.status.capacity_frames() != 0
                            ? m.status.capacity_frames()
                            : m.spec.frame_capacity_pages();
    v.distances.insert(m.spec.distances().begin(), m.spec.distances().end());
    for (const auto& [id, p] : sandboxes_) {
      v.sandboxes += p.lease_id == lease && Running(p.status);
    }
    if (m.stream == nullptr) {
      v.unavailable = "not connected (no heartbeat stream)";
    } else if (!m.has_status) {
      v.unavailable = "no memory status reported yet";
    }
    views.push_back(std::move(v));
  }
  return views;
}

absl::Status ClusterState::RunCommandLocked(const std::string& lease_id,
                                            v1::WorkerCommand command,
                                            absl::Time deadline,
                                            std::string* worker_sandbox_id) {
  auto m = members_.find(lease_id);
  if (m == members_.end() || m->second.stream == nullptr) {
    return absl::UnavailableError("the worker is not connected");
  }
  const uint64_t id = next_command_++;
  command.set_command_id(id);
  Pending& p = pending_[id];
  p.lease_id = lease_id;
  p.stream = m->second.stream;
  v1::HeartbeatResponse response;
  *response.add_commands() = std::move(command);
  // Lock order mu_ -> the stream's own lock: Send only queues.
  m->second.stream->Send(response);
  ++commands_sent_;
  const absl::Time until =
      std::min(deadline, absl::Now() + options_.command_timeout);
  // pending_ may rehash while mu_ is released: look the entry up each time.
  while (!pending_[id].done && !shut_down_) {
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    cv_.WaitWithTimeout(&mu_, left);
  }
  Pending done = std::move(pending_[id]);
  pending_.erase(id);
  if (done.done) {
    if (worker_sandbox_id != nullptr) {
      *worker_sandbox_id = std::move(done.worker_sandbox_id);
    }
    return done.status;
  }
  if (shut_down_) return absl::UnavailableError("the server is shutting down");
  return absl::DeadlineExceededError(
      "the worker did not answer in time (the command may still take effect)");
}

absl::StatusOr<v1::CreateClusterSandboxResponse> ClusterState::CreateSandbox(
    const v1::CreateClusterSandboxRequest& request, absl::Time deadline) {
  MutexLock lock(&mu_);
  if (shut_down_) return absl::UnavailableError("the server is shutting down");
  ReapLocked();
  absl::StatusOr<Placement> placement =
      Place(request.policy(), NodeViewsLocked(), &cursors_,
            /*advance=*/!request.dry_run());
  if (!placement.ok()) {
    ++placement_failures_;
    return placement.status();
  }
  v1::CreateClusterSandboxResponse response;
  std::string explanation = std::move(placement->explanation);
  if (request.dry_run()) {
    const Member* m = MemberByNodeLocked(placement->candidates[0]);
    response.set_node_name(m->spec.node_name());
    response.set_numa_node(placement->candidates[0]);
    response.set_worker_address(m->spec.address());
    response.set_explanation(absl::StrCat(explanation, "-> node ",
                                          placement->candidates[0],
                                          " (dry run: nothing created)"));
    return response;
  }
  const std::string sandbox_id = NewSandboxIdLocked();
  absl::Status last;
  for (uint32_t node : placement->candidates) {
    Member* m = MemberByNodeLocked(node);
    if (m == nullptr) continue;  // left while an earlier candidate answered
    const std::string lease_id = m->lease_id;
    v1::WorkerCommand command;
    v1::CreatePlacedSandbox* create = command.mutable_create();
    create->set_sandbox_id(sandbox_id);
    *create->mutable_sandbox() = request.sandbox();
    create->set_start(request.start());
    std::string worker_sandbox_id;
    last = RunCommandLocked(lease_id, std::move(command), deadline,
                            &worker_sandbox_id);
    if (last.ok()) {
      // The member may have gone while mu_ was released; its lease id and
      // registration are what the sandbox keeps.
      Member* now = members_.count(lease_id) ? &members_[lease_id] : nullptr;
      // The worker's report of it may have come in the same heartbeat as
      // the answer, before this thread woke: keep the status it reported.
      Placed& p = sandboxes_[sandbox_id];
      p.lease_id = lease_id;
      p.numa_node = node;
      p.node_name = now ? now->spec.node_name() : "";
      p.address = now ? now->spec.address() : "";
      p.worker_sandbox_id = worker_sandbox_id;
      ++placements_;
      absl::StrAppend(&explanation, "-> node ", node, " (", p.node_name,
                      "): created as ", worker_sandbox_id);
      response.set_sandbox_id(sandbox_id);
      response.set_node_name(p.node_name);
      response.set_numa_node(node);
      response.set_worker_address(p.address);
      response.set_worker_sandbox_id(worker_sandbox_id);
      response.set_explanation(std::move(explanation));
      return response;
    }
    if (shut_down_)
      return absl::UnavailableError("the server is shutting down");
    absl::StrAppend(&explanation, "-> node ", node,
                    " refused: ", last.ToString(), "\n");
    // A worker out of room, or not connected (nothing was sent): try the
    // next candidate. Anything else is about the request, or may have
    // created it (ABORTED, DEADLINE_EXCEEDED): stop here, so that no
    // sandbox is created on two nodes.
    if (last.code() != absl::StatusCode::kResourceExhausted &&
        last.code() != absl::StatusCode::kUnavailable) {
      ++placement_failures_;
      return absl::Status(last.code(), explanation);
    }
  }
  ++placement_failures_;
  return absl::ResourceExhaustedError(
      absl::StrCat(explanation, "no candidate node took the sandbox"));
}

absl::Status ClusterState::KillSandbox(const std::string& sandbox_id,
                                       absl::Time deadline) {
  MutexLock lock(&mu_);
  if (shut_down_) return absl::UnavailableError("the server is shutting down");
  ReapLocked();
  auto it = sandboxes_.find(sandbox_id);
  if (it == sandboxes_.end()) {
    return absl::NotFoundError(absl::StrCat("no cluster sandbox ", sandbox_id));
  }
  if (it->second.status.reason() == v1::StopStatus::LOST) {
    return absl::FailedPreconditionError(
        absl::StrCat(sandbox_id, " is lost: ", it->second.status.detail()));
  }
  const std::string lease_id = it->second.lease_id;
  v1::WorkerCommand command;
  command.mutable_kill()->set_sandbox_id(sandbox_id);
  return RunCommandLocked(lease_id, std::move(command), deadline, nullptr);
}

v1::ListClusterSandboxesResponse ClusterState::ListSandboxes() {
  MutexLock lock(&mu_);
  ReapLocked();
  v1::ListClusterSandboxesResponse response;
  for (const auto& [id, p] : sandboxes_) {
    v1::ClusterSandbox* s = response.add_sandboxes();
    s->set_sandbox_id(id);
    s->set_node_name(p.node_name);
    s->set_numa_node(p.numa_node);
    *s->mutable_status() = p.status;
    s->set_worker_address(p.address);
    s->set_worker_sandbox_id(p.worker_sandbox_id);
  }
  return response;
}

void ClusterState::Shutdown() {
  MutexLock lock(&mu_);
  shut_down_ = true;
  for (auto& [id, p] : pending_) {
    if (!p.done) {
      p.done = true;
      p.status = absl::UnavailableError("the server is shutting down");
    }
  }
  cv_.SignalAll();
}

ClusterState::Stats ClusterState::GetStats() {
  MutexLock lock(&mu_);
  ReapLocked();
  Stats s;
  s.members = static_cast<uint32_t>(members_.size());
  for (const auto& [lease, m] : members_) s.connected += m.stream != nullptr;
  s.sandboxes = sandboxes_.size();
  for (const auto& [id, p] : sandboxes_) {
    s.lost += p.status.reason() == v1::StopStatus::LOST;
  }
  s.placements = placements_;
  s.placement_failures = placement_failures_;
  s.commands_sent = commands_sent_;
  return s;
}

}  // namespace memmgr
