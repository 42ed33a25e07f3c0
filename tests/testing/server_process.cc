#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace memmgr::testing {
namespace {

bool ReadPort(const std::string& path, int* port) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s)) return false;
  return absl::SimpleAtoi(s, port) && *port > 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// In a forked child before exec: tests never hand the runner's stdin to the
// program under test. Whatever ctest's caller left there (a CI runner's pipe
// with bytes in it, a terminal) would otherwise reach a guest's read(0) and
// make its output depend on the machine (it did: `read -14` in CI, where
// the same test passed locally with an empty stdin).
void RedirectStdinFromDevNull() {
  const int fd = ::open("/dev/null", O_RDONLY);
  if (fd < 0) ::_exit(127);
  if (fd != STDIN_FILENO) {
    ::dup2(fd, STDIN_FILENO);
    ::close(fd);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::string& data_dir,
    const std::vector<std::string>& extra_flags, absl::Duration timeout) {
  return Launch("memmgr-server", {binary, "--data_dir=" + data_dir}, data_dir,
                extra_flags, timeout);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Launch(
    const std::string& what, std::vector<std::string> args,
    const std::string& file_prefix, const std::vector<std::string>& extra_flags,
    absl::Duration timeout) {
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  const std::string binary = args.at(0);
  const std::string port_file = file_prefix + ".port";
  const std::string metrics_port_file = file_prefix + ".metrics_port";
  p->log_path_ = file_prefix + ".log";
  ::unlink(port_file.c_str());
  ::unlink(metrics_port_file.c_str());
  args.insert(args.end(),
              {std::string("--listen=127.0.0.1:0"), "--port_file=" + port_file,
               std::string("--metrics_listen=127.0.0.1:0"),
               "--metrics_port_file=" + metrics_port_file});
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    RedirectStdinFromDevNull();
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
      return absl::InternalError(absl::StrCat(what, " exited early (status ",
                                              status, "): ", p->ReadLog()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(what, " did not start: ", p->ReadLog()));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

std::string ServerProcess::ReadLog() const { return ReadFile(log_path_); }

void ServerProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool ServerProcess::Stop(absl::Duration timeout) {
  if (pid_ <= 0 || ::kill(pid_, SIGSTOP) != 0) return false;
  // WUNTRACED reports the stop only once the group stop is complete: every
  // thread has stopped.
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG | WUNTRACED) == pid_) {
      if (WIFSTOPPED(status)) return true;
      pid_ = -1;  // exited or killed
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

void ServerProcess::Continue() { Signal(SIGCONT); }

int ServerProcess::Wait(absl::Duration timeout) {
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

int RunCommand(const std::vector<std::string>& argv_in, std::string* out,
               std::string* err) {
  int out_pipe[2], err_pipe[2];
  if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    RedirectStdinFromDevNull();
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    std::vector<std::string> args = argv_in;
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  // Drain both pipes (stderr on a thread so neither can fill and block).
  std::string err_buf;
  std::thread err_reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_pipe[0], buf, sizeof(buf))) > 0)
      err_buf.append(buf, n);
  });
  std::string out_buf;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out_pipe[0], buf, sizeof(buf))) > 0)
    out_buf.append(buf, n);
  err_reader.join();
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (out) *out = out_buf;
  if (err) *err = err_buf;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  const std::string req =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return absl::UnavailableError("write failed");
  }
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) resp.append(buf, n);
  ::close(fd);
  const size_t header_end = resp.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::DataLossError("no HTTP header in response");
  }
  if (resp.compare(0, 12, "HTTP/1.1 200") != 0 &&
      resp.compare(0, 12, "HTTP/1.0 200") != 0) {
    return absl::UnavailableError(resp.substr(0, resp.find("\r\n")));
  }
  return resp.substr(header_end + 4);
}

}  // namespace memmgr::testing
