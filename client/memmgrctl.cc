// memmgrctl: command-line client of memmgr-server. Parses flags and runs
// one subcommand from client/ctl_commands.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/ctl_commands.h"
#include "common/flags_help.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7070",
          "memmgr-server address host:port");
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

namespace {

constexpr char kUsage[] =
    "memmgrctl: command-line client of memmgr-server.\n\n"
    "Usage: memmgrctl [--server=host:port] [-o json] COMMAND\n\n"
    "Commands:\n"
    "  stats       swap slots, pages in/out, leases, RocksDB size\n"
    "  leases      live worker leases\n"
    "  swap-test   swap out --pages generated pages in --batch batches, read\n"
    "              them back, verify every byte and crc32c, free them\n"
    "              (--state_file F --keep: only swap out, recording entries)\n"
    "  swap-verify --state_file F: read back the pages a swap-test recorded\n"
    "              (e.g. after a server restart), verify, free them\n";

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  memmgr::ShowFlagsOfInHelp("client/memmgrctl.cc");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::cerr << kUsage << "\n"
              << (args.size() < 2 ? "memmgrctl: missing COMMAND\n"
                                  : "memmgrctl: one COMMAND at a time\n");
    return 2;
  }
  const std::string command = args[1];
  const std::string format = absl::GetFlag(FLAGS_o);
  if (format != "text" && format != "json") {
    std::cerr << "memmgrctl: -o must be text or json, not '" << format << "'\n";
    return 2;
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
  memmgr::CtlEnv env{client->get(),
                     format == "json" ? memmgr::OutputFormat::kJson
                                      : memmgr::OutputFormat::kText,
                     &std::cout, &std::cerr};
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
