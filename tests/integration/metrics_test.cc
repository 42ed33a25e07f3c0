// Scrapes the real server's /metrics over HTTP, checks the series the
// foundation promises with values that follow the traffic sent, and runs
// `promtool check metrics` on the exposition.
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/test_helpers.h"
#include "tests/testing/temp_dir.h"

namespace memmgr::testing {
namespace {

// Value of the first sample line that starts with `series` (name+labels).
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double v = -1;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(series.size() + 1), &v)) << line;
      return v;
    }
  }
  ADD_FAILURE() << "no series " << series;
  return -1;
}

TEST(MetricsTest, ScrapeShowsTrafficAndPassesPromtool) {
  TempDir dir;
  auto server = ServerProcess::Start(MEMMGR_SERVER_BIN, dir.Sub("db"),
                                     {"--swap_capacity=5000"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ClientFor(**server);
  const std::string lease = RegisterLease(*client, "m");
  auto e = client->SwapOut(lease, Pages(1, 0, 100));
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(client
                  ->SwapIn(lease, std::vector<v1::SwapEntry>(e->begin(),
                                                             e->begin() + 40))
                  .ok());
  ASSERT_EQ(client
                ->FreeSlots(lease, std::vector<v1::SwapEntry>(e->begin(),
                                                              e->begin() + 10))
                .value(),
            10u);
  (void)client->SwapIn("bogus", *e);  // one UNAUTHENTICATED

  auto body = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  const std::string& m = *body;
  EXPECT_EQ(Sample(m, "memmgr_swap_slots_used"), 90);
  EXPECT_EQ(Sample(m, "memmgr_swap_slots_capacity"), 5000);
  EXPECT_EQ(Sample(m, "memmgr_swap_out_pages_total"), 100);
  // memmgr-server's defaults: lz4 and a compressed pool. Of the 40 pages
  // swapped in, the 10 random ones (every 4th test page) compress poorly,
  // are not pooled and come from RocksDB; the rest from the pool.
  EXPECT_EQ(Sample(m, "memmgr_swap_in_pages_total{tier=\"zswap\"}"), 30);
  EXPECT_EQ(Sample(m, "memmgr_swap_in_pages_total{tier=\"rocksdb\"}"), 10);
  EXPECT_EQ(Sample(m, "memmgr_zswap_reject_compress_poor_total"), 25);
  EXPECT_EQ(Sample(m, "memmgr_swap_stored_pages_total{codec=\"raw\"}"), 25);
  EXPECT_GT(Sample(m, "memmgr_zswap_pool_bytes"), 0);
  EXPECT_GT(Sample(m, "memmgr_zswap_pool_limit_bytes"), 0);
  EXPECT_EQ(Sample(m, "memmgr_swap_free_pages_total"), 10);
  EXPECT_EQ(Sample(m, "memmgr_leases"), 1);
  EXPECT_EQ(Sample(m, "memmgr_swap_meta_fenced"), 0);
  // At least the 25 incompressible pages, raw.
  EXPECT_GE(Sample(m, "memmgr_rocksdb_memtable_bytes"), 25 * 4096);
  EXPECT_GE(Sample(m, "memmgr_rocksdb_sst_bytes"), 0);
  EXPECT_EQ(Sample(m, "memmgr_rpc_latency_seconds_count{method=\"SwapOut\"}"),
            1);
  EXPECT_EQ(Sample(m, "memmgr_rpc_latency_seconds_count{method=\"SwapIn\"}"),
            2);
  EXPECT_EQ(Sample(m,
                   "memmgr_rpc_requests_total{code=\"UNAUTHENTICATED\",method="
                   "\"SwapIn\"}"),
            1);
  EXPECT_EQ(
      Sample(m, "memmgr_rpc_requests_total{code=\"OK\",method=\"SwapIn\"}"), 1);

  const std::string file = dir.Sub("metrics.txt");
  std::ofstream(file) << m;
  std::string out, err;
  const int rc = RunCommand(
      {"sh", "-c", std::string(MEMMGR_PROMTOOL) + " check metrics < " + file},
      &out, &err);
  EXPECT_EQ(rc, 0) << "promtool (" << MEMMGR_PROMTOOL << "): " << out << err;
}

}  // namespace
}  // namespace memmgr::testing
