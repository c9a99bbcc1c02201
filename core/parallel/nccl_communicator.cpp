#include "core/parallel/nccl_communicator.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "nccl";
using Clock = std::chrono::steady_clock;

std::string ms(std::chrono::milliseconds t) { return std::to_string(t.count()) + " ms"; }

ncclDataType_t nccl_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    case at::kChar: return ncclInt8;
    case at::kByte:
    case at::kBool: return ncclUint8;
    case at::kFloat8_e4m3fn: return ncclFloat8e4m3;
    case at::kFloat8_e5m2: return ncclFloat8e5m2;
    default:
      throw_invalid(std::string(kContext), "dtype",
                    std::string(c10::toString(type)) + " has no NCCL type (float32/64, float16, bfloat16, int8/32/64, "
                                                       "uint8, bool, float8)");
  }
}

// Polls a non-blocking communicator until its pending call finished; aborts it past `deadline`.
void wait_ready(ncclComm_t comm, Clock::time_point deadline, const std::string& what) {
  ncclResult_t state = ncclInProgress;
  while (true) {
    const ncclResult_t r = ncclCommGetAsyncError(comm, &state);
    if (r != ncclSuccess) state = r;
    if (state != ncclInProgress) break;
    if (Clock::now() > deadline) {
      ncclCommAbort(comm);
      throw Error(ErrorKind::unavailable, std::string(kContext), what, "did not complete in time (a rank is missing, stuck or dead); communicator aborted");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  if (state != ncclSuccess) {
    throw Error(ErrorKind::unavailable, std::string(kContext), what,
                std::string(ncclGetErrorString(state)) + ": " + ncclGetLastError(comm));
  }
}

ncclConfig_t nonblocking_config() {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  return config;
}

// Watches the operations of one communicator: each records a CUDA event after it; an event not
// reached within the timeout, or an asynchronous NCCL error, aborts the communicator (which also
// releases kernels stuck waiting for a dead peer) and marks it failed.
class Watchdog {
 public:
  // `on_failure` runs on the watchdog's thread, without its lock, once it failed on its own.
  Watchdog(ncclComm_t comm, int device, std::chrono::milliseconds timeout, std::string name,
           std::function<void(const std::string&)> on_failure)
      : comm_(comm),
        device_(device),
        timeout_(timeout),
        name_(std::move(name)),
        on_failure_(std::move(on_failure)),
        thread_([this] { run(); }) {}

  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    for (auto& p : pending_) cudaEventDestroy(p.event);
  }

  // Records an event on `stream` after the operation `what` and watches it.
  void track(cudaStream_t stream, const char* what) {
    cudaEvent_t event = nullptr;
    if (cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventRecord(event, stream) != cudaSuccess) {
      throw Error(ErrorKind::internal, std::string(kContext), what, "cannot record a CUDA event");
    }
    std::lock_guard lock(mutex_);
    pending_.push_back({event, Clock::now() + timeout_, what});
  }

  // Blocks the host until everything tracked so far completed, or the communicator failed.
  void drain() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return pending_.empty() || !failure_.empty(); });
  }

  // Fails the communicator from another thread (a rank died); nothing when it failed already.
  void abort(const std::string& reason) {
    {
      std::lock_guard lock(mutex_);
      if (!failure_.empty()) return;
      fail("aborted: " + reason);
    }
    cv_.notify_all();
  }

  // The communicator's asynchronous state (ncclInProgress while a call is being enqueued), read
  // under the lock that abort() takes; nullopt once it failed (the communicator may be freed).
  std::optional<ncclResult_t> async_state() {
    std::lock_guard lock(mutex_);
    if (!failure_.empty()) return std::nullopt;
    ncclResult_t state = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
    return r != ncclSuccess ? r : state;
  }

  // Empty while healthy.
  std::string failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }
  bool aborted() const { return aborted_.load(); }

 private:
  struct Pending {
    cudaEvent_t event;
    Clock::time_point deadline;
    const char* what;
  };

  void run() {
    cudaSetDevice(device_);  // the events live on this rank's GPU
    std::unique_lock lock(mutex_);
    while (!stop_ && failure_.empty()) {
      cv_.wait_for(lock, std::chrono::milliseconds(20));
      while (!pending_.empty()) {
        const cudaError_t state = cudaEventQuery(pending_.front().event);
        if (state == cudaErrorNotReady) break;
        cudaEventDestroy(pending_.front().event);
        const char* what = pending_.front().what;
        pending_.pop_front();
        if (state != cudaSuccess) {
          fail(std::string(what) + ": CUDA error " + cudaGetErrorString(state));
          break;
        }
      }
      if (!failure_.empty()) break;
      if (!pending_.empty() && Clock::now() > pending_.front().deadline) {
        fail(std::string(pending_.front().what) + " did not complete within " + ms(timeout_) +
             " (a rank is missing, stuck or dead)");
        break;
      }
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        fail(std::string("asynchronous NCCL error: ") + ncclGetErrorString(async) + ": " + ncclGetLastError(comm_));
      }
      if (pending_.empty()) cv_.notify_all();
    }
    const std::string failure = failure_;
    lock.unlock();
    cv_.notify_all();
    if (!failure.empty() && on_failure_) on_failure_(failure);
  }

  void fail(std::string why) {
    failure_ = name_ + ": " + why;
    log::error("{}; aborting the communicator", failure_);
    ncclCommAbort(comm_);
    aborted_ = true;
  }

  ncclComm_t comm_;
  int device_;
  std::chrono::milliseconds timeout_;
  std::string name_;
  std::function<void(const std::string&)> on_failure_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  std::string failure_;
  std::atomic<bool> aborted_{false};
  bool stop_ = false;
  std::thread thread_;
};

// A world communicator and the groups split from it fail together: a failure of one (its own
// timeout or NCCL error, or abort()) aborts every other, so a collective on any of them returns.
class Family {
 public:
  void join(Watchdog* member) {
    std::lock_guard lock(mutex_);
    members_.push_back(member);
  }
  void leave(Watchdog* member) {
    std::lock_guard lock(mutex_);
    members_.erase(std::remove(members_.begin(), members_.end(), member), members_.end());
  }
  // Every member at once, each from a thread of its own: a kernel of one communicator stuck on a
  // dead peer can hold up the stream that another's abort waits for, until its own abort flag
  // is set too.
  void abort(const std::string& reason) {
    std::lock_guard lock(mutex_);
    std::vector<std::thread> aborts;
    for (Watchdog* m : members_) aborts.emplace_back([m, &reason] { m->abort(reason); });
    for (auto& t : aborts) t.join();
  }

 private:
  std::mutex mutex_;
  std::vector<Watchdog*> members_;
};

// [N, a0, .., a_dim, ..] → [a0, .., N * a_dim, ..]: the per-rank blocks concatenated along dim.
at::Tensor merge_rank_dim(const at::Tensor& per_rank, int64_t dim) {
  if (dim == 0) return per_rank.flatten(0, 1);
  return per_rank.movedim(0, dim).flatten(dim, dim + 1);
}

class NcclCommunicator;

// A ring step or all-to-all queued on the communicator's side stream.
class NcclPendingExchange final : public PendingExchange {
 public:
  // `merge_dim`: the received [N, ...] blocks are concatenated along it (all-to-all), or returned
  // as they are (ring step).
  NcclPendingExchange(NcclCommunicator& owner, const char* what, at::Tensor received,
                      std::shared_ptr<at::cuda::CUDAEvent> done, std::optional<int64_t> merge_dim)
      : owner_(owner), what_(what), received_(std::move(received)), done_(std::move(done)), merge_dim_(merge_dim) {}
  at::Tensor wait() override;

 private:
  NcclCommunicator& owner_;
  const char* what_;
  at::Tensor received_;
  std::shared_ptr<at::cuda::CUDAEvent> done_;
  std::optional<int64_t> merge_dim_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, int device, std::chrono::milliseconds timeout, std::string name,
                   std::shared_ptr<Family> family)
      : comm_(comm),
        device_(device),
        timeout_(timeout),
        // High priority: the overlapped collectives' few thread blocks get multiprocessors as
        // soon as blocks of the attention kernel beside them retire, not after its last wave.
        side_stream_(c10::cuda::getStreamFromPool(true, static_cast<c10::DeviceIndex>(device))),
        family_(std::move(family)) {
    ncclCommUserRank(comm_, &rank_);
    ncclCommCount(comm_, &world_);
    watchdog_ = std::make_unique<Watchdog>(comm_, device_, timeout_, name + " rank " + std::to_string(rank_),
                                           [family = family_](const std::string& why) { family->abort(why); });
    family_->join(watchdog_.get());
  }

  ~NcclCommunicator() override {
    family_->leave(watchdog_.get());
    const bool aborted = watchdog_->aborted();
    watchdog_.reset();
    if (aborted) return;  // ncclCommAbort already freed it
    try {
      const ncclResult_t r = ncclCommFinalize(comm_);
      if (r == ncclSuccess || r == ncclInProgress) wait_ready(comm_, Clock::now() + timeout_, "finalize");
      ncclCommDestroy(comm_);
    } catch (const Error& e) {
      log::warn("{}", e.what());  // wait_ready aborted it
    }
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }

  void all_reduce_sum(at::Tensor& tensor) override {
    const Op op(*this, "all_reduce_sum", tensor);
    at::Tensor buffer = tensor.contiguous();
    call(ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                       nccl_type(buffer.scalar_type()), ncclSum, comm_, stream()),
         "all_reduce_sum");
    watchdog_->track(stream(), "all_reduce_sum");
    if (!buffer.is_same(tensor)) tensor.copy_(buffer);
  }

  at::Tensor all_gather(const at::Tensor& input, int64_t dim) override {
    const Op op(*this, "all_gather", input);
    dim = c10::maybe_wrap_dim(dim, input.dim());
    const at::Tensor send = input.contiguous();
    auto shape = send.sizes().vec();
    shape.insert(shape.begin(), world_);
    at::Tensor buffer = at::empty(shape, send.options());  // [N, ...input]
    call(ncclAllGather(send.data_ptr(), buffer.data_ptr(), static_cast<size_t>(send.numel()),
                       nccl_type(send.scalar_type()), comm_, stream()),
         "all_gather");
    watchdog_->track(stream(), "all_gather");
    return merge_rank_dim(buffer, dim);
  }

  at::Tensor all_to_all(const at::Tensor& input, int64_t scatter_dim, int64_t gather_dim) override {
    const Op op(*this, "all_to_all", input);
    const at::Tensor send = rank_major(input, scatter_dim);
    at::Tensor received = at::empty_like(send);  // [N, chunk]: what rank r sent to us
    send_chunks(send, received, stream(), "all_to_all");
    watchdog_->track(stream(), "all_to_all");
    return merge_rank_dim(received, c10::maybe_wrap_dim(gather_dim, input.dim()));
  }

  std::unique_ptr<PendingExchange> all_to_all_async(const at::Tensor& input, int64_t scatter_dim,
                                                    int64_t gather_dim) override {
    const Op op(*this, "all_to_all", input);
    gather_dim = c10::maybe_wrap_dim(gather_dim, input.dim());
    const at::Tensor send = rank_major(input, scatter_dim);  // on the caller's stream
    at::Tensor received = at::empty_like(send);
    side_stream_follows_caller();
    send_chunks(send, received, side_stream_.stream(), "all_to_all");
    return pending_on_side_stream("all_to_all", send, std::move(received), gather_dim);
  }

  void broadcast(at::Tensor& tensor, int root) override {
    const Op op(*this, "broadcast", tensor);
    require(root >= 0 && root < world_, kContext, "root",
            std::to_string(root) + " is outside [0, " + std::to_string(world_) + ")");
    at::Tensor buffer = tensor.contiguous();
    call(ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                       nccl_type(buffer.scalar_type()), root, comm_, stream()),
         "broadcast");
    watchdog_->track(stream(), "broadcast");
    if (!buffer.is_same(tensor)) tensor.copy_(buffer);
  }

  at::Tensor ring_exchange(const at::Tensor& send) override { return ring_exchange_async(send)->wait(); }

  std::unique_ptr<PendingExchange> ring_exchange_async(const at::Tensor& send) override {
    const Op op(*this, "ring_exchange", send);
    const at::Tensor out = send.contiguous();
    at::Tensor received = at::empty_like(out);
    side_stream_follows_caller();
    const size_t count = static_cast<size_t>(out.numel());
    const ncclDataType_t type = nccl_type(out.scalar_type());
    call(ncclGroupStart(), "ring_exchange");
    ncclSend(out.data_ptr(), count, type, (rank_ + 1) % world_, comm_, side_stream_.stream());
    ncclRecv(received.data_ptr(), count, type, (rank_ + world_ - 1) % world_, comm_, side_stream_.stream());
    call(ncclGroupEnd(), "ring_exchange");
    return pending_on_side_stream("ring_exchange", out, std::move(received), std::nullopt);
  }

  void barrier() override {
    at::Tensor one = at::ones({1}, at::TensorOptions().device(at::kCUDA, device_).dtype(at::kFloat));
    all_reduce_sum(one);
    watchdog_->drain();
    ensure_healthy("barrier");
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    ensure_healthy("split");
    require(color >= 0, kContext, "color", std::to_string(color) + " must be non-negative");
    ncclConfig_t config = nonblocking_config();
    ncclComm_t child = nullptr;
    const ncclResult_t r = ncclCommSplit(comm_, color, key, &child, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      throw Error(ErrorKind::unavailable, std::string(kContext), "split", ncclGetErrorString(r));
    }
    const auto deadline = Clock::now() + timeout_;
    wait_ready(comm_, deadline, "split");
    wait_ready(child, deadline, "split");
    return std::make_unique<NcclCommunicator>(child, device_, timeout_, "nccl group " + std::to_string(color), family_);
  }

  std::string failure() const override { return watchdog_->failure(); }
  void abort(const std::string& reason) override { family_->abort(reason); }

  void ensure_healthy(const char* what) const {
    const std::string failure = watchdog_->failure();
    if (!failure.empty()) {
      throw Error(ErrorKind::unavailable, std::string(kContext), what, "communicator failed earlier: " + failure);
    }
  }

 private:
  // Checks the communicator and the tensor before an operation, and sets the device.
  struct Op {
    Op(NcclCommunicator& c, const char* what, const at::Tensor& t) : guard(static_cast<c10::DeviceIndex>(c.device_)) {
      c.ensure_healthy(what);
      require(t.is_cuda() && t.get_device() == c.device_, kContext, what,
              "tensor on " + t.device().str() + ", this rank's GPU is cuda:" + std::to_string(c.device_));
    }
    c10::cuda::CUDAGuard guard;
  };

  cudaStream_t stream() const { return at::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream(); }

  // `input` as [N, ...] with chunk r (of `scatter_dim`) contiguous for rank r: a copy on the
  // caller's stream unless scatter_dim is 0 and `input` is contiguous.
  at::Tensor rank_major(const at::Tensor& input, int64_t scatter_dim) const {
    scatter_dim = c10::maybe_wrap_dim(scatter_dim, input.dim());
    const int64_t n = world_;
    require(input.size(scatter_dim) % n == 0, kContext, "all_to_all",
            "dimension " + std::to_string(scatter_dim) + " of size " + std::to_string(input.size(scatter_dim)) +
                " does not split into " + std::to_string(n) + " ranks");
    // [..., S, ...] → [N, ..., S/N, ...]
    return input.unflatten(scatter_dim, {n, input.size(scatter_dim) / n}).movedim(scatter_dim, 0).contiguous();
  }

  // Block r of `send` [N, chunk] goes to rank r; rank r's block lands in block r of `received`.
  void send_chunks(const at::Tensor& send, at::Tensor& received, cudaStream_t on, const char* what) {
    const size_t count = static_cast<size_t>(send.numel() / world_);
    const ncclDataType_t type = nccl_type(send.scalar_type());
    const size_t bytes = count * send.element_size();
    call(ncclGroupStart(), what);
    for (int r = 0; r < world_; ++r) {
      ncclSend(static_cast<char*>(send.data_ptr()) + r * bytes, count, type, r, comm_, on);
      ncclRecv(static_cast<char*>(received.data_ptr()) + r * bytes, count, type, r, comm_, on);
    }
    call(ncclGroupEnd(), what);
  }

  // The side stream starts after what the caller queued so far (which produced the inputs).
  void side_stream_follows_caller() {
    at::cuda::CUDAEvent ready;
    ready.record(at::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)));
    ready.block(side_stream_);
  }

  // After the side stream's work on `sent` and `received` was queued: the handle that hands
  // `received` back to the caller's stream.
  std::unique_ptr<PendingExchange> pending_on_side_stream(const char* what, const at::Tensor& sent, at::Tensor received,
                                                          std::optional<int64_t> merge_dim) {
    // Both buffers belong to the caller's stream; keep the allocator from reusing them while the
    // side stream still works on them.
    c10::cuda::CUDACachingAllocator::recordStream(sent.storage().data_ptr(), side_stream_);
    c10::cuda::CUDACachingAllocator::recordStream(received.storage().data_ptr(), side_stream_);
    auto done = std::make_shared<at::cuda::CUDAEvent>();
    done->record(side_stream_);
    watchdog_->track(side_stream_.stream(), what);
    return std::make_unique<NcclPendingExchange>(*this, what, std::move(received), std::move(done), merge_dim);
  }

  void call(ncclResult_t r, const char* what) {
    if (r == ncclInProgress) {
      // Polled through the watchdog: another thread may abort the communicator meanwhile.
      const auto deadline = Clock::now() + timeout_;
      while (true) {
        const auto state = watchdog_->async_state();
        if (!state) break;
        if (*state == ncclSuccess) return;
        if (*state != ncclInProgress) {
          throw Error(ErrorKind::unavailable, std::string(kContext), what, ncclGetErrorString(*state));
        }
        if (Clock::now() > deadline) {
          watchdog_->abort(std::string(what) + " was not enqueued within " + ms(timeout_) + " (a rank is missing, stuck or dead)");
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      ensure_healthy(what);
      throw Error(ErrorKind::unavailable, std::string(kContext), what, "the communicator failed");
    } else if (r != ncclSuccess) {
      throw Error(ErrorKind::unavailable, std::string(kContext), what,
                  std::string(ncclGetErrorString(r)) + ": " + ncclGetLastError(comm_));
    }
  }

  ncclComm_t comm_;
  int device_;
  std::chrono::milliseconds timeout_;
  c10::cuda::CUDAStream side_stream_;
  int rank_ = 0;
  int world_ = 1;
  std::shared_ptr<Family> family_;
  std::unique_ptr<Watchdog> watchdog_;

  friend class NcclPendingExchange;
};

at::Tensor NcclPendingExchange::wait() {
  owner_.ensure_healthy(what_);
  done_->block(at::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(owner_.device_)));
  at::Tensor received = std::move(received_);
  return merge_dim_ ? merge_rank_dim(received, *merge_dim_) : received;
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(c10d::Store& store, const RankEnvironment& env,
                                                     const NcclOptions& options) {
  apply_nccl_environment_defaults();
  const int devices = static_cast<int>(at::cuda::getNumGPUs());
  if (env.local_rank >= devices) {
    throw Error(ErrorKind::unavailable, std::string(kContext), "LOCAL_RANK",
                "rank " + std::to_string(env.rank) + " wants GPU " + std::to_string(env.local_rank) + " but this host has " +
                    std::to_string(devices));
  }
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));

  ncclUniqueId id;
  const std::string key = "ditstream/nccl_unique_id/" + options.name;
  if (env.rank == 0) {
    const ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) throw Error(ErrorKind::unavailable, std::string(kContext), "unique_id", ncclGetErrorString(r));
    const auto* bytes = reinterpret_cast<const uint8_t*>(&id);
    store.set(key, std::vector<uint8_t>(bytes, bytes + sizeof(id)));
  } else {
    try {
      store.wait({key}, options.timeout);
    } catch (const c10::Error&) {
      throw Error(ErrorKind::unavailable, std::string(kContext), "unique_id",
                  "rank " + std::to_string(env.rank) + " got no NCCL id from rank 0 within " + ms(options.timeout));
    }
    const auto bytes = store.get(key);
    require(bytes.size() == sizeof(id), kContext, "unique_id", "malformed NCCL id from rank 0");
    std::memcpy(&id, bytes.data(), sizeof(id));
  }

  ncclConfig_t config = nonblocking_config();
  ncclComm_t comm = nullptr;
  const ncclResult_t r = ncclCommInitRankConfig(&comm, env.world_size, id, env.rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    throw Error(ErrorKind::unavailable, std::string(kContext), "init", ncclGetErrorString(r));
  }
  try {
    wait_ready(comm, Clock::now() + options.timeout, "init");
  } catch (const Error& e) {
    throw Error(ErrorKind::unavailable, std::string(kContext), "init",
                "rank " + std::to_string(env.rank) + ": the " + std::to_string(env.world_size) +
                    " ranks did not form a communicator within " + ms(options.timeout) + ": " + e.detail());
  }
  log::info("rank {}/{}: NCCL {}.{}.{} on cuda:{} (NCCL_NVLS_ENABLE=0)", env.rank, env.world_size, NCCL_MAJOR,
            NCCL_MINOR, NCCL_PATCH, env.local_rank);
  return std::make_unique<NcclCommunicator>(comm, env.local_rank, options.timeout, "nccl " + options.name,
                                            std::make_shared<Family>());
}

}  // namespace ditstream::parallel
