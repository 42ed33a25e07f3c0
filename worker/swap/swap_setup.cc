#include "worker/swap/swap_setup.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "worker/swap/embedded_swap_device.h"
#include "worker/swap/lazy_swap_device.h"
#include "worker/swap/remote_swap_device.h"

namespace memmgr::worker {

absl::Status NormalizeSwapConfig(SwapConfig* c) {
  if (c->device != nullptr) {
    if (!c->server.empty() || !c->dir.empty()) {
      return absl::InvalidArgumentError(
          "a swap device of the embedder excludes --server and --swap_dir");
    }
    c->mode = "device";
  } else if (c->mode == "device") {
    return absl::InvalidArgumentError("--swap=device needs a device");
  }
  if (!c->server.empty()) {
    if (c->mode != "embedded" && c->mode != "server") {
      return absl::InvalidArgumentError(
          absl::StrCat("--server=", c->server,
                       " needs --swap=server, not --swap=", c->mode));
    }
    c->mode = "server";
  }
  if (c->mode != "embedded" && c->mode != "server" && c->mode != "none" &&
      c->mode != "device") {
    return absl::InvalidArgumentError(
        absl::StrCat("--swap=", c->mode, ": want embedded, none or server"));
  }
  if (c->mode == "server" && c->server.empty()) {
    return absl::InvalidArgumentError("--swap=server needs --server=HOST:PORT");
  }
  if (c->mode != "embedded" && !c->dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--swap_dir=", c->dir,
                     " is for --swap=embedded, not --swap=", c->mode));
  }
  if (c->swappiness < 0 || c->swappiness > 200) {
    return absl::InvalidArgumentError(
        absl::StrCat("--swappiness=", c->swappiness, ": want 0..200"));
  }
  if (c->retry_for <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--swap_retry_for must be > 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SwapSetup>> SwapSetup::Create(
    const SwapConfig& config, mmu::FramePool* pool) {
  std::unique_ptr<SwapSetup> s(new SwapSetup());
  s->mode_ = config.mode;
  if (config.mode == "device" && config.device != nullptr) {
    s->device_ = config.device;
    s->description_ = config.device->Describe();
    s->swap_bytes_ = config.device_bytes;
  } else if (config.mode == "embedded") {
    EmbeddedSwapDeviceOptions eopts;
    eopts.dir = config.dir;
    s->swap_bytes_ = eopts.capacity_pages * mmu::kPageSize;
    s->description_ = absl::StrCat(
        "embedded RocksDB swap (",
        config.dir.empty() ? std::string("temp dir") : config.dir, ")");
    s->device_ = std::make_unique<LazySwapDevice>(
        "embedded RocksDB swap", eopts.max_batch_pages,
        /*synchronous_io=*/true,
        [eopts]() -> absl::StatusOr<std::unique_ptr<mmu::SwapDevice>> {
          auto d = EmbeddedSwapDevice::Open(eopts);
          if (!d.ok()) return d.status();
          return std::unique_ptr<mmu::SwapDevice>(std::move(*d));
        });
  } else if (config.mode == "server") {
    RemoteSwapDeviceOptions ropts;
    ropts.target = config.server;
    ropts.worker_id = config.worker_id;
    if (ropts.worker_id.empty()) {
      char host[256] = "worker";
      gethostname(host, sizeof(host) - 1);
      ropts.worker_id =
          absl::StrCat(config.worker_id_prefix, "-", host, "-", getpid());
    }
    ropts.worker_address = config.worker_address;
    ropts.frame_capacity_pages = pool->total_frames();
    // The node the pool is bound to (--numa_node, or auto: the node of
    // the CPUs the worker runs on); an unbound pool reports node 0.
    ropts.numa_node = static_cast<uint32_t>(std::max(pool->numa_node(), 0));
    ropts.retry_for = config.retry_for;
    auto d = RemoteSwapDevice::Connect(ropts);
    if (!d.ok()) {
      return absl::Status(
          d.status().code(),
          absl::StrCat("--server=", config.server, ": ", d.status().message()));
    }
    s->device_ = std::move(*d);
    s->description_ =
        absl::StrCat("memmgr-server ", config.server, " as ", ropts.worker_id);
    // The server's swap area bounds what may be committed beyond the pool.
    ClientOptions copts;
    copts.target = config.server;
    copts.max_attempts = 1;
    copts.deadline = absl::Seconds(5);
    if (auto client = Client::Create(copts); client.ok()) {
      if (auto st = (*client)->GetStats(); st.ok()) {
        s->swap_bytes_ = st->slots_capacity() * mmu::kPageSize;
      }
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("SwapSetup: mode '", config.mode, "' has no device"));
  }
  mmu::Reclaimer::Options ropts;
  ropts.swappiness = config.swappiness;
  auto r = mmu::Reclaimer::Create(pool, s->device_.get(), ropts);
  if (!r.ok()) return r.status();
  s->reclaimer_ = std::move(*r);
  return s;
}

SwapSetup::~SwapSetup() {
  reclaimer_.reset();
  device_.reset();
}

}  // namespace memmgr::worker
