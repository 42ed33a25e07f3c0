// The memmgrctl subcommands, as functions over a Client so that the binary's
// main only parses flags. Each returns the process exit status: 0 success,
// 1 the operation failed (message on `err`), 2 bad usage.
//
// Thread-safety: not thread-safe (one command at a time).
#ifndef MEMMGR_CLIENT_CTL_COMMANDS_H_
#define MEMMGR_CLIENT_CTL_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/client.h"
#include "google/protobuf/message.h"

namespace memmgr {

enum class OutputFormat { kText, kJson };

struct CtlEnv {
  Client* client;
  OutputFormat format;
  std::ostream* out;
  std::ostream* err;
};

// Prints "memmgrctl: <what>: <GRPC_CODE>: <message>" to `err`; returns 1
// (the exit status of a failed operation).
int CtlFail(std::ostream& err, absl::string_view what, const absl::Status& s);
// `m` in proto3 JSON with proto field names, indented, defaults included.
std::string ProtoJson(const google::protobuf::Message& m);

int RunStats(const CtlEnv& env);
int RunLeases(const CtlEnv& env);

struct SwapTestOptions {
  uint64_t pages = 1024;
  uint32_t batch = 64;
  uint64_t seed = 1;
  // If set, the lease, seed and every acknowledged entry are appended to this
  // file as soon as each SwapOut answers OK (see RunSwapVerify).
  std::string state_file;
  // Stop after swap-out: no read-back, no free, the lease stays.
  bool keep = false;
};
// Registers a temporary lease, swaps out `pages` generated pages (random,
// text-like and zero-filled), reads every one back, compares contents and
// crc32c, frees the slots and releases the lease. Exit 1 on any mismatch.
int RunSwapTest(const CtlEnv& env, const SwapTestOptions& options);

// Reads a swap-test state file, swaps every recorded entry in, checks it is
// byte-identical to the page that was swapped out, then frees the slots and
// releases the lease (unless `keep`). Exit 1 on any mismatch or error.
int RunSwapVerify(const CtlEnv& env, const std::string& state_file,
                  uint32_t batch, bool keep);

// Deterministic test page `index` for `seed` (4096 bytes).
std::string MakeTestPage(uint64_t seed, uint64_t index);

}  // namespace memmgr

#endif  // MEMMGR_CLIENT_CTL_COMMANDS_H_
