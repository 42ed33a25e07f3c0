#include "client/cluster_commands.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace memmgr {
namespace {

int Fail(const CtlEnv& env, absl::string_view what, const absl::Status& s) {
  return CtlFail(*env.err, what, s);
}

}  // namespace

absl::StatusOr<v1::Mempolicy> ParseMempolicy(
    const std::string& mode, const std::vector<std::string>& nodes,
    const std::string& group) {
  v1::Mempolicy p;
  if (mode == "default") {
    p.set_mode(v1::Mempolicy::MODE_DEFAULT);
  } else if (mode == "preferred") {
    p.set_mode(v1::Mempolicy::MODE_PREFERRED);
  } else if (mode == "bind") {
    p.set_mode(v1::Mempolicy::MODE_BIND);
  } else if (mode == "interleave") {
    p.set_mode(v1::Mempolicy::MODE_INTERLEAVE);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--policy=", mode, ": want default, preferred, bind or interleave"));
  }
  for (const std::string& n : nodes) {
    uint32_t node;
    if (!absl::SimpleAtoi(n, &node) || node > 1023) {
      return absl::InvalidArgumentError(
          absl::StrCat("--nodes: '", n, "' is not a node id 0..1023"));
    }
    p.add_nodes(node);
  }
  if (p.mode() == v1::Mempolicy::MODE_PREFERRED && p.nodes_size() != 1) {
    return absl::InvalidArgumentError(
        "--policy=preferred takes one node (--nodes=N)");
  }
  if ((p.mode() == v1::Mempolicy::MODE_BIND ||
       p.mode() == v1::Mempolicy::MODE_INTERLEAVE) &&
      p.nodes_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--policy=", mode, " needs --nodes=N,M,..."));
  }
  if (!group.empty() && p.mode() != v1::Mempolicy::MODE_INTERLEAVE) {
    return absl::InvalidArgumentError(
        "--group is for --policy=interleave only");
  }
  p.set_interleave_group(group);
  return p;
}

int RunPlace(const CtlEnv& env, const PlaceCommand& c) {
  v1::CreateClusterSandboxRequest req;
  *req.mutable_policy() = c.policy;
  req.set_dry_run(c.dry_run);
  if (!c.dry_run) {
    if (!BuildCreateRequest(c.sandbox, req.mutable_sandbox(), env.err)) {
      return 2;
    }
    req.set_start(c.sandbox.start);
  }
  absl::StatusOr<v1::CreateClusterSandboxResponse> r =
      env.client->CreateClusterSandbox(req);
  if (!r.ok()) {
    // The refusal's message is the explanation (every node and why).
    return Fail(env, "place", r.status());
  }
  if (env.format == OutputFormat::kJson) {
    *env.out << ProtoJson(*r);
    return 0;
  }
  if (c.dry_run) {
    *env.out << absl::StrFormat("would place on node %d (%s) %s\n",
                                r->numa_node(), r->node_name(),
                                r->worker_address());
  } else {
    *env.out << absl::StrFormat("%s node %d (%s) %s %s\n", r->sandbox_id(),
                                r->numa_node(), r->node_name(),
                                r->worker_address(), r->worker_sandbox_id());
  }
  if (c.explain) *env.out << r->explanation() << "\n";
  return 0;
}

int RunClusterPs(const CtlEnv& env) {
  absl::StatusOr<v1::ListClusterSandboxesResponse> r =
      env.client->ListClusterSandboxes();
  if (!r.ok()) return Fail(env, "cluster-ps", r.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ProtoJson(*r);
    return 0;
  }
  *env.out << absl::StrFormat("%-24s %4s %-16s %-22s %-8s %s\n", "SANDBOX",
                              "NODE", "NAME", "WORKER", "ID", "STATUS");
  for (const v1::ClusterSandbox& s : r->sandboxes()) {
    *env.out << absl::StrFormat("%-24s %4d %-16s %-22s %-8s %s\n",
                                s.sandbox_id(), s.numa_node(), s.node_name(),
                                s.worker_address(), s.worker_sandbox_id(),
                                FormatStopStatus(s.status()));
  }
  return 0;
}

int RunClusterKill(const CtlEnv& env, const std::string& sandbox_id) {
  if (absl::Status s = env.client->KillClusterSandbox(sandbox_id); !s.ok()) {
    return Fail(env, "cluster-kill", s);
  }
  if (env.format == OutputFormat::kJson) {
    *env.out << "{\"sandbox_id\": \"" << sandbox_id
             << "\", \"killed\": true}\n";
  } else {
    *env.out << sandbox_id << " killed\n";
  }
  return 0;
}

}  // namespace memmgr
