// memmgrctl: command-line client of memmgr-server and of workers
// (`memmgr-worker serve`). Parses flags and runs one subcommand from
// client/ctl_commands (server) or client/worker_commands (worker).
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/cluster_commands.h"
#include "client/ctl_commands.h"
#include "client/worker_client.h"
#include "client/worker_commands.h"
#include "common/byte_size.h"
#include "common/flags_help.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7070",
          "memmgr-server address host:port");
ABSL_FLAG(std::string, worker, "127.0.0.1:7071",
          "worker address host:port (memmgr-worker serve --listen) for the "
          "sandbox commands");
ABSL_FLAG(std::string, o, "text", "output format: text or json (-o json)");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(10),
          "deadline of each RPC attempt");
ABSL_FLAG(int, attempts, 5,
          "attempts per RPC; UNAVAILABLE is retried with backoff");
ABSL_FLAG(uint64_t, pages, 1024, "swap-test: pages to swap out and back");
ABSL_FLAG(uint32_t, batch, 64, "swap-test: pages per SwapOut/SwapIn batch");
ABSL_FLAG(uint64_t, seed, 1, "swap-test: seed of the generated pages");
ABSL_FLAG(std::string, state_file, "",
          "swap-test: record the lease and every acknowledged entry here; "
          "swap-verify: the file to verify");
ABSL_FLAG(bool, keep, false,
          "swap-test: stop after swap-out and keep the lease (verify later "
          "with swap-verify); swap-verify: do not free afterwards");

ABSL_FLAG(std::string, elf, "",
          "create: a local RISC-V ELF file to send to the worker");
ABSL_FLAG(std::string, image, "",
          "create: an image name inside the worker's --images_dir");
ABSL_FLAG(std::vector<std::string>, env, {},
          "create: the guest's environment, NAME=VALUE,NAME2=VALUE2");
ABSL_FLAG(std::string, stdin, "", "create: a local file to use as stdin");
ABSL_FLAG(memmgr::ByteSize, memory, memmgr::ByteSize{0},
          "create: the sandbox's memory limit (e.g. 64M; 0 = the worker's "
          "--sandbox_memory)");
ABSL_FLAG(uint64_t, limit_instructions, 0,
          "create: stop the guest after this many instructions (0 = none)");
ABSL_FLAG(memmgr::ByteSize, limit_output_bytes, memmgr::ByteSize{0},
          "create: stop the guest after this much output (0 = none)");
ABSL_FLAG(absl::Duration, wall_time, absl::ZeroDuration(),
          "create: stop the guest after this much wall-clock time (0 = none)");
ABSL_FLAG(bool, start, false, "create, fork: start the new sandboxes at once");
ABSL_FLAG(bool, keep_running, false,
          "snapshot: the sandbox keeps running (default: it stops)");
ABSL_FLAG(uint32_t, n, 1, "fork: how many forks (-n 100)");
ABSL_FLAG(bool, f, false, "logs: follow the output until the sandbox stops");
ABSL_FLAG(uint64_t, offset, 0, "logs: byte offset to start from");
ABSL_FLAG(std::string, policy, "default",
          "place: the mempolicy: default (most free memory above high, "
          "nearest to --nodes' first), preferred (--nodes=N, else nearest), "
          "bind (only --nodes, never spills) or interleave (a --group "
          "round-robin over --nodes)");
ABSL_FLAG(std::vector<std::string>, nodes, {},
          "place: node ids for --policy, e.g. --nodes=0,2");
ABSL_FLAG(std::string, group, "",
          "place: the interleave group (sandboxes of one group share a "
          "round-robin cursor)");
ABSL_FLAG(bool, dry_run, false,
          "place: only decide where it would go; create nothing");
ABSL_FLAG(bool, explain, false,
          "place: print why: the policy, every node considered and the "
          "outcome");
ABSL_FLAG(absl::Duration, wait_timeout, absl::ZeroDuration(),
          "wait: give up after this long (DEADLINE_EXCEEDED); 0 = wait until "
          "the sandbox stops");

namespace {

constexpr char kUsage[] =
    "memmgrctl: command-line client of memmgr-server and memmgr workers.\n\n"
    "Usage: memmgrctl [--server=host:port] [-o json] COMMAND\n"
    "       memmgrctl [--worker=host:port] [-o json] SANDBOX-COMMAND [ARGS]\n\n"
    "Sandbox commands (against --worker):\n"
    "  create --elf=FILE|--image=NAME [--env=..] [--stdin=FILE] "
    "[--memory=64M]\n"
    "         [--limit_instructions=N] [--wall_time=10s] [--start] -- ARGV...\n"
    "                 create a sandbox; prints its id\n"
    "  start ID       start it\n"
    "  wait ID        wait until it stops; prints its status\n"
    "  logs [-f] ID   its stdout/stderr (-f: follow until it stops)\n"
    "  snapshot [--keep_running] ID   snapshot it; prints the snapshot id\n"
    "  fork -n N [--start] SNAPSHOT   N copy-on-write forks of a snapshot\n"
    "  kill ID        stop it (status KILLED)\n"
    "  delete-snapshot SNAPSHOT\n"
    "  ps             every sandbox: state, snapshot, resident/shared pages\n"
    "  worker-stats   frames used/shared, sandboxes, snapshots, forks\n\n"
    "Cluster commands (against --server, which places on its workers):\n"
    "  place [--policy=default|preferred|bind|interleave] [--nodes=0,2]\n"
    "        [--group=G] [--explain] [--dry_run] [create's flags] -- ARGV...\n"
    "                 create a sandbox on the node the policy picks; prints\n"
    "                 its cluster id, node, worker address and worker id\n"
    "                 (then use logs/wait with --worker=that address)\n"
    "  cluster-ps     every sandbox the server placed, with its node/status\n"
    "  cluster-kill ID   kill a placed sandbox (by its cluster id)\n\n"
    "Server commands (against --server):\n"
    "  stats       swap slots, pages in/out, leases, RocksDB size\n"
    "  leases      live worker leases\n"
    "  swap-test   swap out --pages generated pages in --batch batches, read\n"
    "              them back, verify every byte and crc32c, free them\n"
    "              (--state_file F --keep: only swap out, recording entries)\n"
    "  swap-verify --state_file F: read back the pages a swap-test recorded\n"
    "              (e.g. after a server restart), verify, free them\n";

constexpr int kNotAWorkerCommand = -1;

// What `create` and `place` run: their flags and ARGV.
memmgr::CreateCommand CreateCommandFromFlags(
    const std::vector<std::string>& argv) {
  memmgr::CreateCommand c;
  c.elf_path = absl::GetFlag(FLAGS_elf);
  c.image = absl::GetFlag(FLAGS_image);
  c.args = argv;
  c.env = absl::GetFlag(FLAGS_env);
  c.stdin_path = absl::GetFlag(FLAGS_stdin);
  c.memory_bytes = absl::GetFlag(FLAGS_memory).bytes;
  c.limit_instructions = absl::GetFlag(FLAGS_limit_instructions);
  c.limit_output_bytes = absl::GetFlag(FLAGS_limit_output_bytes).bytes;
  c.wall_time = absl::GetFlag(FLAGS_wall_time);
  c.start = absl::GetFlag(FLAGS_start);
  return c;
}

// Runs `command` if it is a sandbox command (against --worker); returns
// kNotAWorkerCommand otherwise.
int RunWorkerCommand(const std::string& command,
                     const std::vector<std::string>& rest,
                     memmgr::OutputFormat format) {
  static const char* const kOneId[] = {
      "start", "wait", "logs", "snapshot", "fork", "kill", "delete-snapshot"};
  bool one_id = false;
  for (const char* c : kOneId) one_id |= command == c;
  if (!one_id && command != "create" && command != "ps" &&
      command != "worker-stats") {
    return kNotAWorkerCommand;
  }
  if (one_id && rest.size() != 1) {
    std::cerr << "memmgrctl: " << command << " takes one "
              << (command == "fork" || command == "delete-snapshot"
                      ? "SNAPSHOT id"
                      : "sandbox ID")
              << " (see --help)\n";
    return 2;
  }
  if ((command == "ps" || command == "worker-stats") && !rest.empty()) {
    std::cerr << "memmgrctl: " << command << " takes no arguments\n";
    return 2;
  }
  memmgr::WorkerClientOptions options;
  options.target = absl::GetFlag(FLAGS_worker);
  options.deadline = absl::GetFlag(FLAGS_deadline);
  absl::StatusOr<std::unique_ptr<memmgr::WorkerClient>> client =
      memmgr::WorkerClient::Create(options);
  if (!client.ok()) {
    std::cerr << "memmgrctl: " << client.status().message() << "\n";
    return 2;
  }
  memmgr::WorkerCtlEnv env{client->get(), format, &std::cout, &std::cerr};
  if (command == "create") {
    return memmgr::RunCreate(env, CreateCommandFromFlags(rest));
  }
  if (command == "ps") return memmgr::RunPs(env);
  if (command == "worker-stats") return memmgr::RunWorkerStats(env);
  const std::string& id = rest[0];
  if (command == "start") return memmgr::RunStart(env, id);
  if (command == "wait") {
    return memmgr::RunWait(env, id, absl::GetFlag(FLAGS_wait_timeout));
  }
  if (command == "logs") {
    return memmgr::RunLogs(env, id, absl::GetFlag(FLAGS_f),
                           absl::GetFlag(FLAGS_offset));
  }
  if (command == "snapshot") {
    return memmgr::RunSnapshot(env, id, absl::GetFlag(FLAGS_keep_running));
  }
  if (command == "fork") {
    return memmgr::RunFork(env, id, absl::GetFlag(FLAGS_n),
                           absl::GetFlag(FLAGS_start));
  }
  if (command == "kill") return memmgr::RunKill(env, id);
  return memmgr::RunDeleteSnapshot(env, id);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  memmgr::ShowFlagsOfInHelp("client/memmgrctl.cc");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::cerr << kUsage << "\nmemmgrctl: missing COMMAND\n";
    return 2;
  }
  const std::string command = args[1];
  const std::vector<std::string> rest(args.begin() + 2, args.end());
  const std::string format = absl::GetFlag(FLAGS_o);
  if (format != "text" && format != "json") {
    std::cerr << "memmgrctl: -o must be text or json, not '" << format << "'\n";
    return 2;
  }
  const memmgr::OutputFormat output_format = format == "json"
                                                 ? memmgr::OutputFormat::kJson
                                                 : memmgr::OutputFormat::kText;
  if (int status = RunWorkerCommand(command, rest, output_format);
      status != kNotAWorkerCommand) {
    return status;
  }
  const bool cluster_command = command == "place" || command == "cluster-ps" ||
                               command == "cluster-kill";
  if (command == "cluster-kill" && rest.size() != 1) {
    std::cerr << "memmgrctl: cluster-kill takes one sandbox ID\n";
    return 2;
  }
  if (command == "place" && absl::GetFlag(FLAGS_dry_run) && !rest.empty()) {
    std::cerr << "memmgrctl: place --dry_run takes no ARGV\n";
    return 2;
  }
  if (!rest.empty() && command != "place" && command != "cluster-kill") {
    std::cerr << kUsage << "\nmemmgrctl: " << command
              << " takes no arguments\n";
    return 2;
  }
  memmgr::PlaceCommand place;
  if (command == "place") {
    absl::StatusOr<memmgr::v1::Mempolicy> policy = memmgr::ParseMempolicy(
        absl::GetFlag(FLAGS_policy), absl::GetFlag(FLAGS_nodes),
        absl::GetFlag(FLAGS_group));
    if (!policy.ok()) {
      std::cerr << "memmgrctl: place: " << policy.status().message() << "\n";
      return 2;
    }
    place.policy = *std::move(policy);
    place.dry_run = absl::GetFlag(FLAGS_dry_run);
    place.explain = absl::GetFlag(FLAGS_explain);
    place.sandbox = CreateCommandFromFlags(rest);
  }
  memmgr::ClientOptions options;
  options.target = absl::GetFlag(FLAGS_server);
  options.deadline = absl::GetFlag(FLAGS_deadline);
  options.max_attempts = absl::GetFlag(FLAGS_attempts);
  absl::StatusOr<std::unique_ptr<memmgr::Client>> client =
      memmgr::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "memmgrctl: " << client.status().message() << "\n";
    return 2;
  }
  memmgr::CtlEnv env{client->get(), output_format, &std::cout, &std::cerr};
  if (cluster_command) {
    if (command == "place") return memmgr::RunPlace(env, place);
    if (command == "cluster-ps") return memmgr::RunClusterPs(env);
    return memmgr::RunClusterKill(env, rest[0]);
  }
  if (command == "stats") return memmgr::RunStats(env);
  if (command == "leases") return memmgr::RunLeases(env);
  if (command == "swap-test") {
    memmgr::SwapTestOptions o;
    o.pages = absl::GetFlag(FLAGS_pages);
    o.batch = absl::GetFlag(FLAGS_batch);
    o.seed = absl::GetFlag(FLAGS_seed);
    o.state_file = absl::GetFlag(FLAGS_state_file);
    o.keep = absl::GetFlag(FLAGS_keep);
    return memmgr::RunSwapTest(env, o);
  }
  if (command == "swap-verify") {
    if (absl::GetFlag(FLAGS_state_file).empty()) {
      std::cerr << "memmgrctl: swap-verify needs --state_file\n";
      return 2;
    }
    return memmgr::RunSwapVerify(env, absl::GetFlag(FLAGS_state_file),
                                 absl::GetFlag(FLAGS_batch),
                                 absl::GetFlag(FLAGS_keep));
  }
  std::cerr << kUsage << "\nmemmgrctl: unknown command '" << command << "'\n";
  return 2;
}
