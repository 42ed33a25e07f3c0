#include "tests/testing/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace memmgr::testing {
namespace {

bool ReadPort(const std::string& path, int* port) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s)) return false;
  return absl::SimpleAtoi(s, port) && *port > 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Start(
    const std::string& binary, const std::string& dir,
    const std::vector<std::string>& extra_flags, absl::Duration timeout) {
  std::unique_ptr<WorkerProcess> p(new WorkerProcess());
  const std::string port_file = dir + "/worker.port";
  const std::string metrics_port_file = dir + "/worker.metrics_port";
  p->log_path_ = dir + "/worker.log";
  ::unlink(port_file.c_str());
  ::unlink(metrics_port_file.c_str());
  std::vector<std::string> args = {binary,
                                   "serve",
                                   "--listen=127.0.0.1:0",
                                   "--port_file=" + port_file,
                                   "--metrics_listen=127.0.0.1:0",
                                   "--metrics_port_file=" + metrics_port_file};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd =
        ::open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDERR_FILENO);
      ::dup2(fd, STDOUT_FILENO);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  p->pid_ = pid;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (ReadPort(port_file, &p->port_) &&
        ReadPort(metrics_port_file, &p->metrics_port_)) {
      return p;
    }
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return absl::InternalError(
          absl::StrCat("memmgr-worker serve exited early (status ", status,
                       "): ", p->ReadLog()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("memmgr-worker serve did not start: ", p->ReadLog()));
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

std::string WorkerProcess::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WorkerProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int WorkerProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (pid_ > 0 && absl::Now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

}  // namespace memmgr::testing
