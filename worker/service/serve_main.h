// `memmgr-worker serve`: the Worker gRPC service. worker/main.cc dispatches
// here; everything else lives in this library.
#ifndef MEMMGR_WORKER_SERVICE_SERVE_MAIN_H_
#define MEMMGR_WORKER_SERVICE_SERVE_MAIN_H_

namespace memmgr::worker {

// argv[0] is "serve"; the flags follow. Returns the process exit status:
// 0 after a clean shutdown (SIGTERM/SIGINT) or --help, 1 if the worker
// cannot start (address in use, bad --images_dir...), 2 for bad usage (an
// unknown flag or a bad value, like memmgrctl).
int ServeMain(int argc, char** argv);

}  // namespace memmgr::worker

#endif  // MEMMGR_WORKER_SERVICE_SERVE_MAIN_H_
