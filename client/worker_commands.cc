#include "client/worker_commands.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace memmgr {
namespace {

constexpr uint64_t kPage = 4096;

int Fail(const WorkerCtlEnv& env, absl::string_view what,
         const absl::Status& s) {
  *env.err << "memmgrctl: " << what << ": "
           << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  return 1;
}

std::string ToJson(const google::protobuf::Message& m, bool one_line = false) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = !one_line;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &json, opts);
  if (one_line) json += "\n";
  return json;
}

bool ReadLocalFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return in.good() || in.eof();
}

}  // namespace

std::string FormatStopStatus(const v1::StopStatus& s) {
  std::string out = v1::StopStatus::Reason_Name(s.reason());
  switch (s.reason()) {
    case v1::StopStatus::REASON_UNSPECIFIED:
      return "-";
    case v1::StopStatus::EXITED:
      absl::StrAppend(&out, " ", s.exit_code());
      break;
    case v1::StopStatus::SIGNALED:
      absl::StrAppend(&out, " ", s.signal());
      break;
    default:
      break;
  }
  if (!s.detail().empty()) absl::StrAppend(&out, " (", s.detail(), ")");
  return out;
}

bool BuildCreateRequest(const CreateCommand& c, v1::CreateSandboxRequest* req,
                        std::ostream* err) {
  if (c.elf_path.empty() == c.image.empty()) {
    *err << "memmgrctl: create needs exactly one of --elf=FILE and "
            "--image=NAME\n";
    return false;
  }
  if (!c.elf_path.empty()) {
    if (!ReadLocalFile(c.elf_path, req->mutable_elf())) {
      *err << "memmgrctl: create: cannot read --elf=" << c.elf_path << "\n";
      return false;
    }
  } else {
    req->set_image(c.image);
  }
  if (!c.stdin_path.empty() &&
      !ReadLocalFile(c.stdin_path, req->mutable_stdin())) {
    *err << "memmgrctl: create: cannot read --stdin=" << c.stdin_path << "\n";
    return false;
  }
  for (const std::string& a : c.args) req->add_args(a);
  for (const std::string& e : c.env) req->add_env(e);
  v1::SandboxLimits* l = req->mutable_limits();
  l->set_memory_max_pages((c.memory_bytes + kPage - 1) / kPage);
  l->set_instructions(c.limit_instructions);
  l->set_output_bytes(c.limit_output_bytes);
  l->set_wall_time_ms(
      static_cast<uint64_t>(absl::ToInt64Milliseconds(c.wall_time)));
  return true;
}

int RunCreate(const WorkerCtlEnv& env, const CreateCommand& c) {
  v1::CreateSandboxRequest req;
  if (!BuildCreateRequest(c, &req, env.err)) return 2;
  absl::StatusOr<v1::CreateSandboxResponse> r = env.client->CreateSandbox(req);
  if (!r.ok()) return Fail(env, "create", r.status());
  if (c.start) {
    if (absl::Status s = env.client->Start(r->sandbox_id()); !s.ok()) {
      return Fail(env, absl::StrCat("start ", r->sandbox_id()), s);
    }
  }
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*r);
  } else {
    *env.out << r->sandbox_id() << "\n";
  }
  return 0;
}

int RunStart(const WorkerCtlEnv& env, const std::string& sandbox_id) {
  if (absl::Status s = env.client->Start(sandbox_id); !s.ok()) {
    return Fail(env, "start", s);
  }
  if (env.format == OutputFormat::kJson) {
    *env.out << "{\"sandbox_id\": \"" << sandbox_id
             << "\", \"started\": true}\n";
  } else {
    *env.out << sandbox_id << " started\n";
  }
  return 0;
}

int RunWait(const WorkerCtlEnv& env, const std::string& sandbox_id,
            absl::Duration timeout) {
  absl::StatusOr<v1::WaitResponse> r = env.client->Wait(sandbox_id, timeout);
  if (!r.ok()) return Fail(env, "wait", r.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*r);
  } else {
    *env.out << absl::StrFormat("%s %s, %d instructions, peak %d frames\n",
                                sandbox_id, FormatStopStatus(r->status()),
                                r->instructions(), r->peak_frames());
  }
  return 0;
}

int RunLogs(const WorkerCtlEnv& env, const std::string& sandbox_id, bool follow,
            uint64_t offset) {
  v1::AttachRequest req;
  req.set_sandbox_id(sandbox_id);
  req.set_offset(offset);
  req.set_no_wait(!follow);
  absl::Status s = env.client->Attach(req, [&](const v1::OutputChunk& c) {
    if (env.format == OutputFormat::kJson) {
      *env.out << ToJson(c, /*one_line=*/true);
    } else {
      std::ostream& to =
          c.stream() == v1::OutputChunk::STDERR ? *env.err : *env.out;
      to << c.data();
      to.flush();
    }
    return true;
  });
  if (!s.ok()) return Fail(env, "logs", s);
  return 0;
}

int RunSnapshot(const WorkerCtlEnv& env, const std::string& sandbox_id,
                bool keep_running) {
  absl::StatusOr<v1::SnapshotResponse> r =
      env.client->Snapshot(sandbox_id, keep_running);
  if (!r.ok()) return Fail(env, "snapshot", r.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*r);
  } else {
    *env.out << absl::StrFormat(
        "%s (%d resident pages, %s)\n", r->snapshot_id(), r->resident_pages(),
        keep_running ? "sandbox keeps running" : "sandbox stopped");
  }
  return 0;
}

int RunFork(const WorkerCtlEnv& env, const std::string& snapshot_id,
            uint32_t count, bool start) {
  v1::ForkRequest req;
  req.set_snapshot_id(snapshot_id);
  req.set_count(count);
  req.set_start(start);
  absl::StatusOr<v1::ForkResponse> r = env.client->Fork(req);
  if (!r.ok()) return Fail(env, "fork", r.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*r);
  } else {
    const double us = r->fork_latency_ns() / 1e3;
    *env.out << absl::StrFormat(
        "%d forks of %s in %.1f us (%.2f us each)%s\n%s\n",
        r->sandbox_ids_size(), snapshot_id, us,
        r->sandbox_ids_size() ? us / r->sandbox_ids_size() : 0.0,
        start ? ", started" : "", absl::StrJoin(r->sandbox_ids(), " "));
  }
  return 0;
}

int RunKill(const WorkerCtlEnv& env, const std::string& sandbox_id) {
  if (absl::Status s = env.client->Kill(sandbox_id); !s.ok()) {
    return Fail(env, "kill", s);
  }
  if (env.format == OutputFormat::kJson) {
    *env.out << "{\"sandbox_id\": \"" << sandbox_id
             << "\", \"killed\": true}\n";
  } else {
    *env.out << sandbox_id << " killed\n";
  }
  return 0;
}

int RunDeleteSnapshot(const WorkerCtlEnv& env, const std::string& snapshot_id) {
  if (absl::Status s = env.client->DeleteSnapshot(snapshot_id); !s.ok()) {
    return Fail(env, "delete-snapshot", s);
  }
  if (env.format == OutputFormat::kJson) {
    *env.out << "{\"snapshot_id\": \"" << snapshot_id
             << "\", \"deleted\": true}\n";
  } else {
    *env.out << snapshot_id << " deleted\n";
  }
  return 0;
}

int RunPs(const WorkerCtlEnv& env) {
  absl::StatusOr<v1::ListSandboxesResponse> r = env.client->ListSandboxes();
  if (!r.ok()) return Fail(env, "ps", r.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*r);
    return 0;
  }
  *env.out << absl::StrFormat("%-10s %-8s %-10s %5s %9s %9s %14s  %s\n", "ID",
                              "STATE", "SNAPSHOT", "FORK", "RESIDENT", "SHARED",
                              "INSTRUCTIONS", "STATUS");
  for (const v1::SandboxInfo& s : r->sandboxes()) {
    const char* state = s.running() ? "running"
                        : !s.started() && s.status().reason() ==
                                              v1::StopStatus::REASON_UNSPECIFIED
                            ? "created"
                            : "stopped";
    *env.out << absl::StrFormat(
        "%-10s %-8s %-10s %5d %9d %9d %14d  %s\n", s.sandbox_id(), state,
        s.snapshot_id().empty() ? "-" : s.snapshot_id(), s.fork_index(),
        s.resident_pages(), s.shared_pages(), s.instructions(),
        FormatStopStatus(s.status()));
  }
  return 0;
}

int RunWorkerStats(const WorkerCtlEnv& env) {
  absl::StatusOr<v1::WorkerStatsResponse> r = env.client->GetStats();
  if (!r.ok()) return Fail(env, "worker-stats", r.status());
  if (env.format == OutputFormat::kJson) {
    *env.out << ToJson(*r);
    return 0;
  }
  const uint64_t used = r->frames_used();
  const uint64_t shared = std::min(r->frames_shared(), used);
  *env.out << absl::StrFormat(
      "frames        %d / %d used (%.1f MiB), %d shared, %d private\n"
      "sandboxes     %d live, %d stopped (kept)\n"
      "snapshots     %d\n"
      "forks         %d total\n"
      "cow breaks    %d total\n"
      "executors     %d\n",
      used, r->frames_capacity(), used * kPage / 1048576.0, shared,
      used - shared, r->sandboxes(), r->sandboxes_stopped(), r->snapshots(),
      r->forks_total(), r->cow_breaks_total(), r->executors());
  return 0;
}

}  // namespace memmgr
