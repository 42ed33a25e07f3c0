// The memmgrctl subcommands against a worker (`memmgr-worker serve`), as
// functions over a WorkerClient so that memmgrctl's main only parses flags.
// Each returns the process exit status: 0 success, 1 the operation failed
// (one line on `err`: "memmgrctl: <command>: <GRPC_CODE>: <message>"),
// 2 bad usage. With OutputFormat::kJson, results are the response messages
// in proto3 JSON (field names as in worker.proto); `logs -o json` prints
// one OutputChunk per line (data base64, as proto3 JSON encodes bytes).
//
// Thread-safety: not thread-safe (one command at a time).
#ifndef MEMMGR_CLIENT_WORKER_COMMANDS_H_
#define MEMMGR_CLIENT_WORKER_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/ctl_commands.h"
#include "client/worker_client.h"

namespace memmgr {

struct WorkerCtlEnv {
  WorkerClient* client;
  OutputFormat format;
  std::ostream* out;
  std::ostream* err;
};

struct CreateCommand {
  std::string elf_path;           // a local file sent as bytes, or
  std::string image;              // a name in the worker's --images_dir
  std::vector<std::string> args;  // argv, argv[0] included
  std::vector<std::string> env;   // NAME=VALUE
  std::string stdin_path;         // "" = empty stdin
  uint64_t memory_bytes = 0;      // 0 = the worker's default
  uint64_t limit_instructions = 0;
  uint64_t limit_output_bytes = 0;
  absl::Duration wall_time = absl::ZeroDuration();
  bool start = false;  // Start it right after creating it
};
// The CreateSandboxRequest of `c` (reads its local files); false after
// printing one line to `err` (usage: exit 2).
bool BuildCreateRequest(const CreateCommand& c, v1::CreateSandboxRequest* req,
                        std::ostream* err);
int RunCreate(const WorkerCtlEnv& env, const CreateCommand& c);
int RunStart(const WorkerCtlEnv& env, const std::string& sandbox_id);
// timeout <= 0: wait until it stops.
int RunWait(const WorkerCtlEnv& env, const std::string& sandbox_id,
            absl::Duration timeout);
// Prints the sandbox's output from `offset` (stdout chunks to `out`, stderr
// chunks to `err`); with `follow`, until the sandbox stops.
int RunLogs(const WorkerCtlEnv& env, const std::string& sandbox_id, bool follow,
            uint64_t offset);
int RunSnapshot(const WorkerCtlEnv& env, const std::string& sandbox_id,
                bool keep_running);
int RunFork(const WorkerCtlEnv& env, const std::string& snapshot_id,
            uint32_t count, bool start);
int RunKill(const WorkerCtlEnv& env, const std::string& sandbox_id);
int RunDeleteSnapshot(const WorkerCtlEnv& env, const std::string& snapshot_id);
int RunPs(const WorkerCtlEnv& env);
int RunWorkerStats(const WorkerCtlEnv& env);

// "EXITED 0", "SIGNALED 11 (detail)", ... for text output.
std::string FormatStopStatus(const v1::StopStatus& s);

}  // namespace memmgr

#endif  // MEMMGR_CLIENT_WORKER_COMMANDS_H_
