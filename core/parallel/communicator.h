// Collective communication between the ranks of one job. The model code (context-parallel
// attention, the parallel VAE, the cache decision) talks to this interface only; NCCL is one
// implementation, a single rank another, and threads in one process a third (for CPU tests).
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace ditstream::parallel {

// A ring step or an all-to-all in flight (see Communicator::ring_exchange_async and
// all_to_all_async).
class PendingExchange {
 public:
  virtual ~PendingExchange() = default;
  // What the collective returns (for a ring step, what the previous rank sent). On a GPU the
  // returned tensor is ready for work queued on the caller's current stream after this call; call
  // once.
  virtual at::Tensor wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // In place: every rank ends with the sum.
  virtual void all_reduce_sum(at::Tensor& tensor) = 0;
  // `input` has the same shape on every rank; returns the inputs concatenated along `dim` in rank order.
  virtual at::Tensor all_gather(const at::Tensor& input, int64_t dim) = 0;
  // `input` is split into world_size equal chunks along `scatter_dim`; chunk r goes to rank r; the
  // chunks received are concatenated along `gather_dim` in rank order (Ulysses' layout switch).
  virtual at::Tensor all_to_all(const at::Tensor& input, int64_t scatter_dim, int64_t gather_dim) = 0;
  // In place: every rank ends with `root`'s tensor (same shape and dtype everywhere).
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  // Sends `send` to rank (rank+1) % world and returns what rank (rank-1) % world sent (ring step).
  virtual at::Tensor ring_exchange(const at::Tensor& send) = 0;
  virtual void barrier() = 0;

  // Starts a ring step and returns at once, so the caller can compute while the tensor travels.
  // `send` must not be modified until wait() returns. Every rank must call it. The default runs
  // the step eagerly (for in-process implementations, where there is nothing to overlap).
  virtual std::unique_ptr<PendingExchange> ring_exchange_async(const at::Tensor& send);

  // all_to_all, started and returned at once (the GPU implementation runs it on a side stream
  // beside the caller's compute); wait() gives all_to_all's result. `input` must not be modified
  // until wait() returns. Every rank must call it, in the same order as its other collectives. The
  // default runs it eagerly.
  virtual std::unique_ptr<PendingExchange> all_to_all_async(const at::Tensor& input, int64_t scatter_dim,
                                                            int64_t gather_dim);

  // A sub-communicator over the ranks that pass the same `color`, ordered by `key` (then by rank),
  // like MPI_Comm_split. Every rank of this communicator must call it. Meshes use it for their
  // Ulysses and ring groups.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Why this communicator (or one split from it, or the one it was split from) can no longer be
  // used: "" while healthy. Once failed, every collective throws ditstream::Error.
  virtual std::string failure() const { return ""; }
  // Fails the communicator and its family from any thread, releasing a collective that waits for
  // a peer that died; `reason` becomes the failure. In-process implementations do nothing.
  virtual void abort(const std::string& reason) {}
};

// World of one: every collective is the identity.
std::unique_ptr<Communicator> make_single_rank_communicator();

// `world_size` communicators sharing memory, one per thread, for testing the parallel arithmetic
// on the CPU. Each must be used from its own thread; collectives block until all ranks arrive.
std::vector<std::unique_ptr<Communicator>> make_thread_communicators(int world_size);

}  // namespace ditstream::parallel
