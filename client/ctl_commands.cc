#include "client/ctl_commands.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crc32c.h"

namespace memmgr {
namespace {

constexpr size_t kPage = 4096;

int Fail(const CtlEnv& env, absl::string_view what, const absl::Status& s) {
  return CtlFail(*env.err, what, s);
}

std::string ToJson(const google::protobuf::Message& m) { return ProtoJson(m); }

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", bytes, units[u]);
}

}  // namespace

int CtlFail(std::ostream& err, absl::string_view what, const absl::Status& s) {
  err << "memmgrctl: " << what << ": " << absl::StatusCodeToString(s.code())
      << ": " << s.message() << "\n";
  return 1;
}

std::string ProtoJson(const google::protobuf::Message& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &json, opts);
  return json;
}

std::string MakeTestPage(uint64_t seed, uint64_t index) {
  std::string page(kPage, '\0');
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + index);
  switch (index % 4) {
    case 0:  // incompressible random bytes
      for (size_t i = 0; i < kPage; i += 8) {
        const uint64_t v = rng();
        std::memcpy(page.data() + i, &v, 8);
      }
      break;
    case 1: {  // text-like
      static constexpr absl::string_view kWords[] = {
          "page ", "frame ", "swap ", "slot ", "lru ", "kswapd ", "vma "};
      size_t i = 0;
      while (i < kPage) {
        absl::string_view w = kWords[rng() % 7];
        const size_t n = std::min(w.size(), kPage - i);
        std::memcpy(page.data() + i, w.data(), n);
        i += n;
      }
      break;
    }
    case 2:  // zero page, with the index in it so pages differ
      std::memcpy(page.data(), &index, sizeof(index));
      break;
    default:  // same-filled
      page.assign(kPage, static_cast<char>(rng()));
      break;
  }
  return page;
}

int RunStats(const CtlEnv& env) {
  absl::StatusOr<v1::GetStatsResponse> s = env.client->GetStats();
  if (!s.ok()) return Fail(env, "stats", s.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*s);
    return 0;
  }
  const double pct = s->slots_capacity() == 0
                         ? 0
                         : 100.0 * s->slots_used() / s->slots_capacity();
  *env.out << absl::StrFormat(
      "swap slots      %d / %d used (%.1f%%, %s of %s)\n"
      "swapped out     %d pages\n"
      "swapped in      %d pages\n"
      "freed           %d pages\n"
      "leases          %d live, %d expired\n"
      "rocksdb         %s in SST files, ~%s live data\n"
      "sync writes     %s\n"
      "max batch       %d pages\n",
      s->slots_used(), s->slots_capacity(), pct,
      HumanBytes(s->slots_used() * double{kPage}),
      HumanBytes(s->slots_capacity() * double{kPage}), s->swap_out_pages(),
      s->swap_in_pages(), s->freed_pages(), s->leases(), s->leases_expired(),
      HumanBytes(s->rocksdb_sst_bytes()),
      HumanBytes(s->rocksdb_live_data_bytes()),
      s->sync_writes() ? "on (fsync per batch)" : "off (WAL, survives kill -9)",
      s->max_batch_pages());
  if (s->stored_encoded_pages() > 0) {
    *env.out << absl::StrFormat(
        "encoding        %s: %d pages in %s (ratio %.2f)\n", s->compressor(),
        s->stored_encoded_pages(), HumanBytes(s->stored_payload_bytes()),
        s->stored_payload_bytes() == 0
            ? 0.0
            : s->stored_encoded_pages() * double{kPage} /
                  s->stored_payload_bytes());
  } else {
    *env.out << absl::StrFormat("encoding        %s\n", s->compressor());
  }
  if (s->zswap_enabled()) {
    *env.out << absl::StrFormat(
        "zswap pool      %d pages in %s of %s; swap-ins from it %d of %d; "
        "written back %d, rejected (poor) %d\n",
        s->zswap_stored_pages(), HumanBytes(s->zswap_pool_bytes()),
        HumanBytes(s->zswap_pool_limit_bytes()), s->swap_in_zswap_pages(),
        s->swap_in_pages(), s->zswap_written_back_pages(),
        s->zswap_reject_compress_poor());
  } else {
    *env.out << "zswap pool      off\n";
  }
  return 0;
}

int RunLeases(const CtlEnv& env) {
  absl::StatusOr<v1::ListLeasesResponse> r = env.client->ListLeases();
  if (!r.ok()) return Fail(env, "leases", r.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*r);
    return 0;
  }
  *env.out << absl::StrFormat("%-34s %-20s %5s %12s %10s %10s\n", "LEASE",
                              "NODE", "NUMA", "FRAMES", "SLOTS", "EXPIRES");
  for (const v1::LeaseInfo& l : r->leases()) {
    *env.out << absl::StrFormat("%-34s %-20s %5d %12d %10d %9.1fs\n",
                                l.lease_id(), l.node_name(), l.numa_node(),
                                l.frame_capacity_pages(), l.slots(),
                                l.expires_in_ms() / 1000.0);
  }
  if (r->leases().empty()) *env.out << "(no live leases)\n";
  return 0;
}

int RunSwapTest(const CtlEnv& env, const SwapTestOptions& o) {
  if (o.pages == 0 || o.batch == 0) {
    *env.err << "memmgrctl: swap-test: --pages and --batch must be > 0\n";
    return 2;
  }
  v1::RegisterWorkerRequest reg;
  reg.set_node_name("memmgrctl-swap-test");
  reg.set_frame_capacity_pages(1);
  absl::StatusOr<v1::RegisterWorkerResponse> lease =
      env.client->RegisterWorker(reg);
  if (!lease.ok()) return Fail(env, "register", lease.status());
  const std::string& id = lease->lease_id();
  const bool progress = env.format == OutputFormat::kText && o.pages >= 20000;

  std::ofstream state;
  if (!o.state_file.empty()) {
    state.open(o.state_file, std::ios::trunc);
    state << "memmgr-swap-test v1 lease=" << id << " seed=" << o.seed << "\n";
    state.flush();
    if (!state.good()) {
      *env.err << "memmgrctl: cannot write " << o.state_file << "\n";
      return 1;
    }
  }
  std::vector<v1::SwapEntry> entries;
  entries.reserve(o.pages);
  std::vector<uint32_t> crcs;
  crcs.reserve(o.pages);
  absl::Time start = absl::Now();
  for (uint64_t first = 0; first < o.pages; first += o.batch) {
    const uint64_t n = std::min<uint64_t>(o.batch, o.pages - first);
    std::vector<std::string> pages;
    pages.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      pages.push_back(MakeTestPage(o.seed, first + i));
      crcs.push_back(Crc32c(pages.back()));
    }
    absl::StatusOr<std::vector<v1::SwapEntry>> got =
        env.client->SwapOut(id, pages);
    if (!got.ok()) {
      if (!o.keep) (void)env.client->UnregisterWorker(id);
      return Fail(env, "swap-out", got.status());
    }
    entries.insert(entries.end(), got->begin(), got->end());
    if (state.is_open()) {
      for (uint64_t i = 0; i < n; ++i) {
        state << first + i << ' ' << (*got)[i].slot() << ' '
              << (*got)[i].generation() << '\n';
      }
      state.flush();
    }
    if (progress && (first / o.batch) % 256 == 0) {
      *env.err << absl::StrFormat("  swapped out %d / %d pages\n", first + n,
                                  o.pages);
    }
  }
  const absl::Duration out_time = absl::Now() - start;
  if (o.keep) {
    *env.out << absl::StrFormat(
        "swap-test: %d pages swapped out (%.0f pages/s); kept under lease %s\n",
        o.pages, o.pages / std::max(1e-9, absl::ToDoubleSeconds(out_time)), id);
    return 0;
  }

  uint64_t mismatches = 0;
  start = absl::Now();
  for (uint64_t first = 0; first < o.pages; first += o.batch) {
    const uint64_t n = std::min<uint64_t>(o.batch, o.pages - first);
    std::vector<v1::SwapEntry> batch(entries.begin() + first,
                                     entries.begin() + first + n);
    absl::StatusOr<std::vector<std::string>> pages =
        env.client->SwapIn(id, batch);
    if (!pages.ok()) {
      (void)env.client->UnregisterWorker(id);
      return Fail(env, "swap-in", pages.status());
    }
    for (uint64_t i = 0; i < n; ++i) {
      const std::string& p = (*pages)[i];
      if (Crc32c(p) != crcs[first + i] ||
          p != MakeTestPage(o.seed, first + i)) {
        ++mismatches;
      }
    }
  }
  const absl::Duration in_time = absl::Now() - start;

  uint64_t freed = 0;
  for (uint64_t first = 0; first < o.pages; first += o.batch) {
    const uint64_t n = std::min<uint64_t>(o.batch, o.pages - first);
    absl::StatusOr<uint64_t> f = env.client->FreeSlots(
        id, std::vector<v1::SwapEntry>(entries.begin() + first,
                                       entries.begin() + first + n));
    if (!f.ok()) {
      (void)env.client->UnregisterWorker(id);
      return Fail(env, "free", f.status());
    }
    freed += *f;
  }
  absl::StatusOr<uint64_t> released = env.client->UnregisterWorker(id);
  if (!released.ok()) return Fail(env, "unregister", released.status());

  const double out_rate =
      o.pages / std::max(1e-9, absl::ToDoubleSeconds(out_time));
  const double in_rate =
      o.pages / std::max(1e-9, absl::ToDoubleSeconds(in_time));
  if (env.format == OutputFormat::kJson) {
    *env.out << absl::StrFormat(
        "{\n  \"pages\": %d,\n  \"batch\": %d,\n  "
        "\"swap_out_pages_per_second\": "
        "%.0f,\n  \"swap_in_pages_per_second\": %.0f,\n  \"verified\": %d,\n"
        "  \"mismatches\": %d,\n  \"freed_slots\": %d\n}\n",
        o.pages, o.batch, out_rate, in_rate, o.pages - mismatches, mismatches,
        freed);
  } else {
    *env.out << absl::StrFormat(
        "swap-test: %d pages in batches of %d\n"
        "  swap-out   %.0f pages/s (%s/s)\n"
        "  swap-in    %.0f pages/s (%s/s)\n"
        "  verified   %d pages byte-identical (crc32c + compare), %d "
        "mismatches\n"
        "  freed      %d slots; lease released\n",
        o.pages, o.batch, out_rate, HumanBytes(out_rate * kPage), in_rate,
        HumanBytes(in_rate * kPage), o.pages - mismatches, mismatches, freed);
  }
  if (mismatches != 0) {
    *env.err << "memmgrctl: swap-test: " << mismatches
             << " page(s) came back different\n";
    return 1;
  }
  return 0;
}

int RunSwapVerify(const CtlEnv& env, const std::string& state_file,
                  uint32_t batch, bool keep) {
  std::ifstream in(state_file);
  std::string header;
  if (!std::getline(in, header)) {
    *env.err << "memmgrctl: swap-verify: cannot read " << state_file << "\n";
    return 2;
  }
  std::string magic, version, lease_kv, seed_kv;
  std::istringstream hs(header);
  hs >> magic >> version >> lease_kv >> seed_kv;
  uint64_t seed = 0;
  if (magic != "memmgr-swap-test" || version != "v1" ||
      lease_kv.rfind("lease=", 0) != 0 || seed_kv.rfind("seed=", 0) != 0 ||
      !absl::SimpleAtoi(seed_kv.substr(5), &seed) || batch == 0) {
    *env.err << "memmgrctl: swap-verify: " << state_file
             << " is not a swap-test state file\n";
    return 2;
  }
  const std::string id = lease_kv.substr(6);
  std::vector<uint64_t> indexes;
  std::vector<v1::SwapEntry> entries;
  uint64_t index, slot, generation;
  // A trailing partial line (writer killed mid-write) is ignored.
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (!(ls >> index >> slot >> generation)) break;
    indexes.push_back(index);
    v1::SwapEntry e;
    e.set_slot(slot);
    e.set_generation(generation);
    entries.push_back(e);
  }
  uint64_t mismatches = 0;
  for (size_t first = 0; first < entries.size(); first += batch) {
    const size_t n = std::min<size_t>(batch, entries.size() - first);
    absl::StatusOr<std::vector<std::string>> pages = env.client->SwapIn(
        id, std::vector<v1::SwapEntry>(entries.begin() + first,
                                       entries.begin() + first + n));
    if (!pages.ok()) return Fail(env, "swap-verify", pages.status());
    for (size_t i = 0; i < n; ++i) {
      if ((*pages)[i] != MakeTestPage(seed, indexes[first + i])) ++mismatches;
    }
  }
  uint64_t freed = 0;
  if (!keep) {
    absl::StatusOr<uint64_t> f = env.client->UnregisterWorker(id);
    if (!f.ok()) return Fail(env, "unregister", f.status());
    freed = *f;
  }
  if (env.format == OutputFormat::kJson) {
    *env.out << absl::StrFormat(
        "{\n  \"verified\": %d,\n  \"mismatches\": %d,\n  \"freed_slots\": "
        "%d\n}\n",
        entries.size() - mismatches, mismatches, freed);
  } else {
    *env.out << absl::StrFormat(
        "swap-verify: %d acknowledged pages read back byte-identical, %d "
        "mismatches%s\n",
        entries.size() - mismatches, mismatches,
        keep ? "" : absl::StrFormat("; lease released, %d slots freed", freed));
  }
  return mismatches == 0 ? 0 : 1;
}

}  // namespace memmgr
