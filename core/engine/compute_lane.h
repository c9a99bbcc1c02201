// Where one kind of a job's work runs. On a CUDA device a lane is a CUDA stream of its own, taken
// from the stream pool with a priority: denoising runs on a high-priority stream, preview and final
// decodes on low-priority ones, so their kernels run beside the transformer's without delaying it
// more than the GPU's spare capacity allows. On the CPU a lane is the thread that uses it (the
// caller runs each lane's work on a thread of its own). Lanes are named "<device>/<role>".
#pragma once

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <string>

namespace ditstream::engine {

// A point in one lane's queued work that another lane can wait for (empty on the CPU).
struct LaneMark {
  std::shared_ptr<void> event;
};

class ComputeLane {
 public:
  enum class Priority { high, low };
  ComputeLane(at::Device device, std::string role, Priority priority);
  ~ComputeLane();
  ComputeLane(const ComputeLane&) = delete;
  ComputeLane& operator=(const ComputeLane&) = delete;

  const std::string& name() const { return name_; }
  at::Device device() const { return device_; }

  // While it lives, work queued by the calling thread on this lane's device goes to this lane.
  class Use {
   public:
    explicit Use(const ComputeLane& lane);
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    std::shared_ptr<void> guard_;
  };

  // On the producer's thread, after queuing the work that makes a tensor: marks that point.
  LaneMark mark() const;
  // On the consumer's thread: work this lane queues from now on waits for `mark`, and `tensor`'s
  // memory is not reused before this lane is done with it.
  void wait(const LaneMark& mark, const at::Tensor& tensor) const;
  // Waits on the host until everything queued on this lane has run.
  void synchronize() const;

 private:
  at::Device device_;
  std::string name_;
  struct Stream;
  std::unique_ptr<Stream> stream_;
};

// Memory of a device as the engine budgets it: on CUDA what the driver reports free plus what the
// caching allocator holds unused; on the CPU the kernel's MemAvailable. (device_memory.h reports
// the allocator's use for /metrics.)
struct AvailableMemory {
  int64_t free = 0;
  int64_t total = 0;
};
AvailableMemory available_memory(at::Device device);
// After an out-of-memory failure: hands cached, unused blocks back (CUDA); nothing on the CPU.
void release_cached_memory(at::Device device);

}  // namespace ditstream::engine
