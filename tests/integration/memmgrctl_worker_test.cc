// The real memmgrctl against the real `memmgr-worker serve`: the README flow
// (create -> start -> snapshot -> fork -n N -> wait/logs/ps) with -o json,
// parsed back into the proto messages, and clear errors with gRPC codes.
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "memmgr/v1/worker.pb.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/worker_process.h"

namespace memmgr::testing {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(120);

template <typename Message>
Message ParseJson(const std::string& json) {
  Message m;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return m;
}

class MemmgrctlWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = StartWorkerProcess(MEMMGR_WORKER_BIN, dir_.path(),
                                {"--memory=256M", "--executors=2"});
    ASSERT_TRUE(w.ok()) << w.status();
    worker_ = *std::move(w);
  }
  int Ctl(std::vector<std::string> args, std::string* out,
          std::string* err = nullptr) {
    args.insert(args.begin(),
                {MEMMGR_CTL_BIN, "--worker=" + worker_->address()});
    std::string e;
    const int rc = RunCommand(args, out, &e);
    if (err != nullptr) *err = e;
    return rc;
  }
  v1::ListSandboxesResponse Ps() {
    std::string out, err;
    EXPECT_EQ(Ctl({"-o", "json", "ps"}, &out, &err), 0) << err;
    return ParseJson<v1::ListSandboxesResponse>(out);
  }
  TempDir dir_;
  std::unique_ptr<WorkerProcess> worker_;
};

TEST_F(MemmgrctlWorkerTest, CreateStartSnapshotForkWaitLogsPsAsJson) {
  std::string out, err;
  ASSERT_EQ(Ctl({"-o", "json", "create", "--elf=" MEMMGR_WORKER_PROBE, "--",
                 "probe", "serve", "2"},
                &out, &err),
            0)
      << err;
  const std::string id = ParseJson<v1::CreateSandboxResponse>(out).sandbox_id();
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Ctl({"-o", "json", "start", id}, &out, &err), 0) << err;

  // The guest asks for its own snapshot after warming up.
  std::string guest_snap;
  const absl::Time until = absl::Now() + kPatience;
  while (guest_snap.empty() && absl::Now() < until) {
    const v1::ListSandboxesResponse ps = Ps();
    for (const v1::SandboxInfo& i : ps.sandboxes()) {
      if (i.sandbox_id() == id) guest_snap = i.last_snapshot_id();
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_FALSE(guest_snap.empty());

  // A host snapshot of the running parent, then 10 forks of it.
  ASSERT_EQ(Ctl({"-o", "json", "snapshot", "--keep_running", id}, &out, &err),
            0)
      << err;
  const v1::SnapshotResponse snap = ParseJson<v1::SnapshotResponse>(out);
  EXPECT_NE(snap.snapshot_id(), guest_snap);
  EXPECT_GT(snap.resident_pages(), 512u);
  ASSERT_EQ(Ctl({"-o", "json", "fork", "-n", "10", "--start", guest_snap}, &out,
                &err),
            0)
      << err;
  const v1::ForkResponse forks = ParseJson<v1::ForkResponse>(out);
  ASSERT_EQ(forks.sandbox_ids_size(), 10);
  EXPECT_GT(forks.fork_latency_ns(), 0u);
  for (int i = 0; i < 10; ++i) {
    const std::string& f = forks.sandbox_ids(i);
    ASSERT_EQ(Ctl({"-o", "json", "wait", f}, &out, &err), 0) << err;
    const v1::WaitResponse w = ParseJson<v1::WaitResponse>(out);
    EXPECT_EQ(w.status().reason(), v1::StopStatus::EXITED);
    EXPECT_EQ(w.status().exit_code(), 0);
    const std::string expected = absl::StrCat(
        "fork ", i + 1, " of 10 result=", i + 1, " region=ok arg=- stdin=-\n");
    ASSERT_EQ(Ctl({"logs", f}, &out, &err), 0) << err;
    EXPECT_EQ(out, expected);
    ASSERT_EQ(Ctl({"-o", "json", "logs", f}, &out, &err), 0) << err;
    std::string decoded;
    for (absl::string_view line :
         absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      const v1::OutputChunk c = ParseJson<v1::OutputChunk>(std::string(line));
      EXPECT_EQ(c.offset(), decoded.size());
      decoded += c.data();
    }
    EXPECT_EQ(decoded, expected);
  }
  const v1::ListSandboxesResponse ps = Ps();
  ASSERT_EQ(ps.sandboxes_size(), 11);
  EXPECT_EQ(ps.sandboxes(0).sandbox_id(), id);
  EXPECT_TRUE(ps.sandboxes(0).running());
  EXPECT_GT(ps.sandboxes(0).shared_pages(), 0u);
  for (int i = 1; i < 11; ++i) {
    EXPECT_EQ(ps.sandboxes(i).snapshot_id(), guest_snap);
    EXPECT_EQ(ps.sandboxes(i).status().reason(), v1::StopStatus::EXITED);
  }
  ASSERT_EQ(Ctl({"ps"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "EXITED 0")) << out;

  ASSERT_EQ(Ctl({"-o", "json", "worker-stats"}, &out, &err), 0) << err;
  const auto stats = ParseJson<v1::WorkerStatsResponse>(out);
  EXPECT_EQ(stats.forks_total(), 10u);
  EXPECT_EQ(stats.snapshots(), 2u);
  EXPECT_EQ(stats.sandboxes(), 1u);
  EXPECT_GT(stats.frames_shared(), 0u);

  // logs -f follows until the sandbox stops; kill stops it.
  ASSERT_EQ(Ctl({"kill", id}, &out, &err), 0) << err;
  ASSERT_EQ(Ctl({"logs", "-f", id}, &out, &err), 0) << err;
  EXPECT_EQ(out, "warm 2 MiB\n");
  ASSERT_EQ(Ctl({"wait", id}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "KILLED")) << out;
  ASSERT_EQ(Ctl({"delete-snapshot", guest_snap}, &out, &err), 0) << err;
}

TEST_F(MemmgrctlWorkerTest, ErrorsNameTheGrpcCodeAndUsageErrorsExitTwo) {
  std::string out, err;
  EXPECT_EQ(Ctl({"wait", "sb-77"}, &out, &err), 1);
  EXPECT_TRUE(absl::StrContains(err, "memmgrctl: wait: NOT_FOUND")) << err;
  EXPECT_EQ(Ctl({"fork", "-n", "1", "snap-1"}, &out, &err), 1);
  EXPECT_TRUE(absl::StrContains(err, "NOT_FOUND")) << err;  // no snap-1 yet
  EXPECT_EQ(Ctl({"start"}, &out, &err), 2);                 // missing the id
  EXPECT_EQ(Ctl({"create", "--", "x"}, &out, &err), 2);     // no --elf/--image
  EXPECT_EQ(Ctl({"create", "--elf=/nonexistent/prog"}, &out, &err), 2);
  EXPECT_EQ(Ctl({"create", "--image=prog"}, &out, &err), 1);
  EXPECT_TRUE(absl::StrContains(err, "FAILED_PRECONDITION")) << err;  // no dir
  ASSERT_EQ(Ctl({"create", "--elf=" MEMMGR_WORKER_PROBE, "--", "p", "spin"},
                &out, &err),
            0)
      << err;
  const std::string id(absl::StripAsciiWhitespace(out));
  EXPECT_EQ(Ctl({"wait", "--wait_timeout=100ms", id}, &out, &err), 1);
  EXPECT_TRUE(absl::StrContains(err, "DEADLINE_EXCEEDED")) << err;
  ASSERT_EQ(Ctl({"snapshot", id}, &out, &err), 0) << err;  // stops it
  EXPECT_EQ(Ctl({"snapshot", id}, &out, &err), 1);
  EXPECT_TRUE(absl::StrContains(err, "FAILED_PRECONDITION")) << err;
  EXPECT_EQ(Ctl({"fork", "-n", "0", "snap-1"}, &out, &err), 1);
  EXPECT_TRUE(absl::StrContains(err, "INVALID_ARGUMENT")) << err;
}

}  // namespace
}  // namespace memmgr::testing
