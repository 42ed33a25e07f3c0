// The memmgrctl cluster commands (against --server): sandboxes created,
// listed and killed through memmgr-server, which places them on a cluster
// member by mempolicy (docs/cluster.md). Same conventions as
// worker_commands.h: exit 0 success, 1 the operation failed (one line
// "memmgrctl: <command>: <GRPC_CODE>: <message>"), 2 bad usage; -o json
// prints the response messages in proto3 JSON.
//
// Thread-safety: not thread-safe (one command at a time).
#ifndef MEMMGR_CLIENT_CLUSTER_COMMANDS_H_
#define MEMMGR_CLIENT_CLUSTER_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/ctl_commands.h"
#include "client/worker_commands.h"
#include "memmgr/v1/common.pb.h"

namespace memmgr {

// --policy=default|preferred|bind|interleave, --nodes=0,2, --group=NAME as
// a Mempolicy; INVALID_ARGUMENT naming the bad flag.
absl::StatusOr<v1::Mempolicy> ParseMempolicy(
    const std::string& mode, const std::vector<std::string>& nodes,
    const std::string& group);

struct PlaceCommand {
  CreateCommand sandbox;  // what to run (as `create`); unused for dry_run
  v1::Mempolicy policy;
  bool dry_run = false;  // only decide (and explain) where it would go
  bool explain = false;  // print the placement's reasoning
};
// Creates a sandbox through the server; prints
// "<cluster id> node <N> (<name>) <worker address> <worker sandbox id>".
int RunPlace(const CtlEnv& env, const PlaceCommand& c);
// Every sandbox the server placed: id, node, status, worker, worker's id.
int RunClusterPs(const CtlEnv& env);
int RunClusterKill(const CtlEnv& env, const std::string& sandbox_id);

}  // namespace memmgr

#endif  // MEMMGR_CLIENT_CLUSTER_COMMANDS_H_
