// Runs a function once per simulated rank, each in its own thread with its own communicator, and
// rethrows the first failure on the calling thread.
#pragma once

#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/parallel/communicator.h"

namespace ditstream::testing {

inline void run_thread_ranks(int world, const std::function<void(parallel::Communicator&)>& body) {
  auto comms = parallel::make_thread_communicators(world);
  std::exception_ptr failure;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(*comms[r]);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace ditstream::testing
