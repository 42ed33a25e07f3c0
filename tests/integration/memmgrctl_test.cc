// The real memmgrctl binary against the real server.
#include <signal.h>

#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/integration/test_helpers.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::testing {
namespace {

class MemmgrctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ServerProcess::Start(MEMMGR_SERVER_BIN, dir_.Sub("db"));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  int Ctl(std::vector<std::string> args, std::string* out, std::string* err) {
    args.insert(args.begin(),
                {MEMMGR_CTL_BIN, "--server=" + server_->address()});
    return RunCommand(args, out, err);
  }
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(MemmgrctlTest, SwapTestVerifiesEveryPageAndLeavesNothingBehind) {
  std::string out, err;
  ASSERT_EQ(Ctl({"swap-test", "--pages=3000", "--batch=100"}, &out, &err), 0)
      << out << err;
  EXPECT_TRUE(absl::StrContains(out, "3000 pages byte-identical")) << out;
  EXPECT_TRUE(absl::StrContains(out, "0 mismatches")) << out;
  ASSERT_EQ(Ctl({"-o", "json", "stats"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "\"swap_out_pages\": \"3000\"")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\"slots_used\": \"0\"")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\"leases\": 0")) << out;
  // The compressed tier (memmgr-server's defaults): 3000 test pages, a
  // quarter of them random (raw, not pooled), all read back, 3/4 from the
  // pool.
  EXPECT_TRUE(absl::StrContains(out, "\"compressor\": \"lz4\"")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\"stored_encoded_pages\": \"3000\""))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "\"swap_in_zswap_pages\": \"2250\""))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "\"zswap_reject_compress_poor\": \"750\""))
      << out;
  ASSERT_EQ(Ctl({"stats"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "encoding        lz4: 3000 pages in "))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "swap-ins from it 2250 of 3000")) << out;
}

TEST_F(MemmgrctlTest, JsonSwapTestAndLeases) {
  std::string out, err;
  ASSERT_EQ(Ctl({"-o", "json", "swap-test", "--pages=64"}, &out, &err), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "\"mismatches\": 0")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\"verified\": 64")) << out;
  auto client = ClientFor(*server_);
  const std::string lease = RegisterLease(*client, "visible-node");
  ASSERT_EQ(Ctl({"leases"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "visible-node")) << out;
  EXPECT_TRUE(absl::StrContains(out, lease)) << out;
  ASSERT_EQ(Ctl({"-o", "json", "leases"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "\"node_name\": \"visible-node\"")) << out;
}

TEST_F(MemmgrctlTest, StateFileSurvivesKill9AndSwapVerifyChecksEveryPage) {
  const std::string state = dir_.Sub("acked");
  std::string out, err;
  ASSERT_EQ(Ctl({"swap-test", "--pages=500", "--batch=50", "--seed=9",
                 "--state_file=" + state, "--keep"},
                &out, &err),
            0)
      << err;
  server_->Signal(SIGKILL);
  server_->Wait();
  auto s = ServerProcess::Start(MEMMGR_SERVER_BIN, dir_.Sub("db"));
  ASSERT_TRUE(s.ok()) << s.status();
  server_ = *std::move(s);
  ASSERT_EQ(
      Ctl({"-o", "json", "swap-verify", "--state_file=" + state}, &out, &err),
      0)
      << out << err;
  EXPECT_TRUE(absl::StrContains(out, "\"verified\": 500")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\"freed_slots\": 500")) << out;
  // A state file that is not one is a usage error, not a crash.
  std::ofstream(dir_.Sub("junk")) << "hello\n";
  EXPECT_EQ(
      Ctl({"swap-verify", "--state_file=" + dir_.Sub("junk")}, &out, &err), 2);
  EXPECT_EQ(Ctl({"swap-verify"}, &out, &err), 2);
}

TEST_F(MemmgrctlTest, UsageErrorsExit2AndUnreachableServerExits1) {
  std::string out, err;
  EXPECT_EQ(Ctl({}, &out, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "missing COMMAND")) << err;
  EXPECT_EQ(Ctl({"frobnicate"}, &out, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "unknown command")) << err;
  EXPECT_EQ(Ctl({"-o", "yaml", "stats"}, &out, &err), 2);
  EXPECT_EQ(Ctl({"swap-test", "--pages=0"}, &out, &err), 2);
  EXPECT_EQ(RunCommand({MEMMGR_CTL_BIN, "--server=127.0.0.1:1", "--attempts=2",
                        "stats"},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "UNAVAILABLE")) << err;
}

}  // namespace
}  // namespace memmgr::testing
