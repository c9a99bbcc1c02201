// The GPU communicator: one process per GPU, NCCL collectives on the caller's current CUDA stream.
//
// NCCL is used directly (the torch wheel's own libnccl, the one libtorch_cuda loads, so a process
// holds one NCCL) rather than through c10d's ProcessGroupNCCL: its header pulls in the
// ProcessGroup/Work machinery and expects USE_C10D_NCCL from torch's build, and its watchdog
// kills the process on a timeout. Direct NCCL gives non-blocking communicators whose start-up and
// every operation this file bounds with its own timeout (ncclCommAbort, then a
// ditstream::Error), ncclCommSplit for the mesh groups, and grouped send/recv on a side stream
// for the ring step that overlaps with attention. c10d's TCPStore (rendezvous.h) carries the
// unique id. Compiled only with DITSTREAM_WITH_CUDA.
#pragma once

#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <memory>
#include <string>

#include "core/parallel/communicator.h"
#include "core/parallel/rank_environment.h"

namespace c10d {
class Store;
}

namespace ditstream::parallel {

struct NcclOptions {
  // Longest wait for the ranks to form the communicator and for any one operation to complete;
  // past it the communicator is aborted and every later call throws ditstream::Error.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // Names the communicator in the store (its NCCL id's key) and in errors; one store can carry
  // several communicators with different names.
  std::string name = "world";
};

// A communicator over all ranks of `env` on GPU env.local_rank (made current). Every rank must
// call it with a store from connect_rendezvous. Sets NCCL_NVLS_ENABLE=0 (NVLink multicast off).
std::unique_ptr<Communicator> make_nccl_communicator(c10d::Store& store, const RankEnvironment& env,
                                                     const NcclOptions& options = {});

}  // namespace ditstream::parallel
