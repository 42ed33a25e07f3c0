// Parking in the worker service's core, in-process: a SandboxManager with
// one executor and a pool far smaller than its sandboxes' data swaps to a
// real memmgr-server (ServerRunner on 127.0.0.1, RocksDB in a temp dir).
// Faults on swapped-out pages park their sandbox while an I/O thread reads
// the page; the guests must still print exactly what they print with enough
// memory, and killing, snapshotting and forking sandboxes that keep parking
// must work and leak no slot.
//
// Built twice: sandbox_manager_parking_test as above, and
// sandbox_manager_parking_tsan_test (MEMMGR_PARKING_LOCAL_DEVICE, label
// unit-tsan) where the device is the embedded store behind a wrapper that
// reads like a remote one (not synchronous_io, 100 us per read), so the
// TSan run checks the executor, I/O threads and reclaim without gRPC's
// uninstrumented internals in the picture.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/server_runner.h"
#include "tests/testing/temp_dir.h"
#include "worker/service/sandbox_manager.h"
#include "worker/swap/embedded_swap_device.h"

// The two builds must not share test names: ctest keys tests (and their
// labels) by name, and only the local-device build is for TSan.
#ifdef MEMMGR_PARKING_LOCAL_DEVICE
#define ParkingTest ParkingLocalDeviceTest
#endif

namespace memmgr::worker {
namespace {

const char kGuest[] = MEMMGR_GUEST_DIR "/overcommit";
constexpr absl::Duration kPatience = absl::Minutes(5);

// The embedded store, read as if over a network.
class RemoteLikeDevice final : public mmu::SwapDevice {
 public:
  explicit RemoteLikeDevice(std::unique_ptr<EmbeddedSwapDevice> d)
      : d_(std::move(d)) {}
  uint32_t max_batch_pages() const override { return d_->max_batch_pages(); }
  absl::StatusOr<std::vector<mmu::SwapSlot>> WritePages(
      absl::Span<const absl::string_view> pages) override {
    return d_->WritePages(pages);
  }
  absl::Status ReadPages(absl::Span<const mmu::SwapSlot> slots,
                         absl::Span<uint8_t* const> dst) override {
    absl::SleepFor(absl::Microseconds(100));
    return d_->ReadPages(slots, dst);
  }
  absl::Status FreeSlots(absl::Span<const mmu::SwapSlot> slots) override {
    return d_->FreeSlots(slots);
  }
  absl::Status DupSlots(absl::Span<const mmu::SwapSlot> slots) override {
    return d_->DupSlots(slots);
  }
  std::string Describe() const override {
    return "remote-like " + d_->Describe();
  }
  bool synchronous_io() const override { return false; }
  uint64_t slots_used() const { return d_->stats().slots_used; }

 private:
  std::unique_ptr<EmbeddedSwapDevice> d_;
};

std::string ReadGuest() {
  std::ifstream in(kGuest, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << kGuest;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ParkingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    elf_ = ReadGuest();
    ASSERT_FALSE(elf_.empty());
#ifdef MEMMGR_PARKING_LOCAL_DEVICE
    EmbeddedSwapDeviceOptions eo;
    eo.dir = dir_.Sub("swap");
    auto d = EmbeddedSwapDevice::Open(eo);
    ASSERT_TRUE(d.ok()) << d.status();
    device_ = std::make_shared<RemoteLikeDevice>(*std::move(d));
    return;
#endif
    ServerConfig sc;
    sc.listen = "127.0.0.1:0";
    sc.data_dir = dir_.Sub("server");
    sc.metrics_listen = "";
    auto s = ServerRunner::Start(sc);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  void TearDown() override {
    manager_.reset();
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  // memory: the pool; swap: "server" or "none".
  void StartManager(uint64_t memory, const std::string& swap) {
    SandboxManagerOptions o;
    o.memory_bytes = memory;
    o.executors = 1;
    o.swap.mode = swap;
    if (swap == "server" && device_ != nullptr) {
      o.swap.device = device_;
      o.swap.device_bytes =
          EmbeddedSwapDeviceOptions().capacity_pages * mmu::kPageSize;
    } else if (swap == "server") {
      o.swap.server = absl::StrCat("127.0.0.1:", server_->port());
    }
    o.swap.worker_id = "parking-test";
    auto m = SandboxManager::Create(o);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = *std::move(m);
  }

  std::string Create(const std::string& mib, bool start = true) {
    v1::CreateSandboxRequest req;
    req.set_elf(elf_);
    req.add_args("overcommit");
    req.add_args(mib);
    req.mutable_limits()->set_memory_max_pages(16 << 8);  // 16 MiB
    auto r = manager_->CreateSandbox(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    if (start) EXPECT_TRUE(manager_->Start(r->sandbox_id()).ok());
    return r->sandbox_id();
  }

  v1::StopStatus WaitFor(const std::string& id) {
    auto w = manager_->Wait(id, absl::Now() + kPatience, [] { return false; });
    EXPECT_TRUE(w.ok()) << id << ": " << w.status();
    return w.ok() ? w->status() : v1::StopStatus();
  }

  std::string Output(const std::string& id) {
    auto buf = manager_->OutputOf(id);
    EXPECT_TRUE(buf.ok()) << buf.status();
    std::string out;
    if (buf.ok()) {
      for (const OutputPiece& p : (*buf)->Read(0, 1 << 20)) {
        if (p.fd == 1) out += p.data;
      }
    }
    return out;
  }

  // Bounded wait (60 s) until the sandboxes have parked `n` times.
  bool WaitForPageWaits(uint64_t n) {
    const absl::Time until = absl::Now() + absl::Seconds(60);
    while (absl::Now() < until) {
      if (manager_->GetStats().page_waits_total >= n) return true;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  }

  uint64_t ServerSlotsUsedEventually() {
    const absl::Time until = absl::Now() + absl::Seconds(30);
    uint64_t used = 0;
    while (absl::Now() < until) {
      used = device_ != nullptr ? device_->slots_used()
                                : server_->store()->GetStats().slots_used;
      if (used == 0) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return used;
  }

  testing::TempDir dir_;
  std::unique_ptr<ServerRunner> server_;
  std::shared_ptr<RemoteLikeDevice> device_;  // instead of the server
  std::unique_ptr<SandboxManager> manager_;
  std::string elf_;
};

TEST_F(ParkingTest, ParkedSandboxesPrintWhatTheyPrintWithEnoughMemory) {
  StartManager(uint64_t{64} << 20, "none");
  const std::string ref = Create("3");
  ASSERT_EQ(WaitFor(ref).exit_code(), 0);
  const std::string expected = Output(ref);
  ASSERT_NE(expected.find("parent    unchanged"), std::string::npos)
      << expected;
  manager_.reset();

  // Two sandboxes of 3 MiB each (plus their forked children) through a
  // 2 MiB pool on one executor.
  StartManager(uint64_t{2} << 20, "server");
  const std::string a = Create("3");
  const std::string b = Create("3");
  for (const std::string& id : {a, b}) {
    const v1::StopStatus s = WaitFor(id);
    EXPECT_EQ(s.reason(), v1::StopStatus::EXITED) << s.ShortDebugString();
    EXPECT_EQ(s.exit_code(), 0) << id;
    EXPECT_EQ(Output(id), expected) << id;
  }
  const ManagerStats st = manager_->GetStats();
  EXPECT_GT(st.page_waits_total, 0u);
  EXPECT_GT(st.reclaim.async_swapins, 0u);
  EXPECT_EQ(st.parked_for_page, 0u);
  EXPECT_EQ(st.reclaim.swap_io_errors, 0u);
  EXPECT_EQ(ServerSlotsUsedEventually(), 0u) << "slots leaked";
}

TEST_F(ParkingTest, KillSnapshotAndForkWhileSandboxesKeepParking) {
  StartManager(uint64_t{2} << 20, "server");
  const std::string victim = Create("3");
  const std::string parent = Create("3");
  ASSERT_TRUE(WaitForPageWaits(20)) << "no sandbox ever parked";
  // Kill one mid-run (parked, or about to park again): it stops KILLED and
  // the other carries on.
  ASSERT_TRUE(manager_->Kill(victim).ok());
  EXPECT_EQ(WaitFor(victim).reason(), v1::StopStatus::KILLED);
  // Snapshot the other mid-run (before its guest forks children: the
  // snapshot needs a single process) and fork it twice.
  v1::SnapshotRequest sreq;
  sreq.set_sandbox_id(parent);
  sreq.set_keep_running(true);
  auto snap = manager_->Snapshot(sreq);
  ASSERT_TRUE(snap.ok()) << snap.status();
  v1::ForkRequest freq;
  freq.set_snapshot_id(snap->snapshot_id());
  freq.set_count(2);
  freq.set_start(true);
  auto forks = manager_->Fork(freq);
  ASSERT_TRUE(forks.ok()) << forks.status();
  for (const std::string& id : forks->sandbox_ids()) {
    const v1::StopStatus s = WaitFor(id);
    EXPECT_EQ(s.reason(), v1::StopStatus::EXITED) << s.ShortDebugString();
    EXPECT_EQ(s.exit_code(), 0) << id;
    EXPECT_NE(Output(id).find("parent    unchanged"), std::string::npos);
  }
  EXPECT_EQ(WaitFor(parent).exit_code(), 0);
  EXPECT_TRUE(manager_->DeleteSnapshot(snap->snapshot_id()).ok());
  EXPECT_EQ(ServerSlotsUsedEventually(), 0u) << "slots leaked";
}

}  // namespace
}  // namespace memmgr::worker
