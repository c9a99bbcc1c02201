// The single-rank and in-process (threads) communicators.
#include <ATen/ATen.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>

#include "core/parallel/communicator.h"
#include "core/util/error.h"

namespace ditstream::parallel {
namespace {

class SingleRankCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(at::Tensor&) override {}
  at::Tensor all_gather(const at::Tensor& input, int64_t) override { return input; }
  at::Tensor all_to_all(const at::Tensor& input, int64_t, int64_t) override { return input; }
  void broadcast(at::Tensor&, int) override {}
  at::Tensor ring_exchange(const at::Tensor& send) override { return send; }
  void barrier() override {}
  std::unique_ptr<Communicator> split(int, int) override { return std::make_unique<SingleRankCommunicator>(); }
};

// A ring step or all-to-all that already happened.
class CompletedExchange final : public PendingExchange {
 public:
  explicit CompletedExchange(at::Tensor received) : received_(std::move(received)) {}
  at::Tensor wait() override { return std::move(received_); }

 private:
  at::Tensor received_;
};

// Shared by the thread ranks: each collective deposits every rank's tensor, waits for all, then
// each rank reads what it needs. Two barriers per collective keep consecutive collectives apart.
struct ThreadGroup {
  explicit ThreadGroup(int n) : world(n), slots(n) {}

  void arrive() {
    std::unique_lock lock(mutex);
    const uint64_t gen = generation;
    if (++waiting == world) {
      waiting = 0;
      ++generation;
      cv.notify_all();
    } else {
      cv.wait(lock, [&] { return generation != gen; });
    }
  }

  int world;
  std::vector<at::Tensor> slots;
  std::map<int, std::shared_ptr<ThreadGroup>> children;  // handed from a split's leader to its members
  std::mutex mutex;
  std::condition_variable cv;
  int waiting = 0;
  uint64_t generation = 0;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}

  int rank() const override { return rank_; }
  int world_size() const override { return group_->world; }

  void all_reduce_sum(at::Tensor& tensor) override {
    auto all = exchange(tensor);
    at::Tensor sum = at::zeros_like(tensor);
    for (const auto& t : all) sum.add_(t);
    tensor.copy_(sum);
  }

  at::Tensor all_gather(const at::Tensor& input, int64_t dim) override { return at::cat(exchange(input), dim); }

  at::Tensor all_to_all(const at::Tensor& input, int64_t scatter_dim, int64_t gather_dim) override {
    const int64_t n = group_->world;
    require(input.size(scatter_dim) % n == 0, "communicator", "all_to_all",
            "dimension " + std::to_string(scatter_dim) + " of size " + std::to_string(input.size(scatter_dim)) +
                " does not split into " + std::to_string(n) + " ranks");
    auto all = exchange(input);
    std::vector<at::Tensor> received;
    for (const auto& t : all) received.push_back(t.chunk(n, scatter_dim)[rank_]);
    return at::cat(received, gather_dim);
  }

  void broadcast(at::Tensor& tensor, int root) override {
    auto all = exchange(tensor);
    if (rank_ != root) tensor.copy_(all[root]);
  }

  at::Tensor ring_exchange(const at::Tensor& send) override {
    auto all = exchange(send);
    return all[(rank_ + group_->world - 1) % group_->world];
  }

  void barrier() override { group_->arrive(); }

  std::unique_ptr<Communicator> split(int color, int key) override {
    const auto all = exchange(at::tensor(std::vector<int64_t>{color, key}, at::kLong));
    std::vector<std::pair<int64_t, int>> members;  // (key, rank) of the ranks with my color
    for (int r = 0; r < group_->world; ++r) {
      if (all[r][0].item<int64_t>() == color) members.emplace_back(all[r][1].item<int64_t>(), r);
    }
    std::sort(members.begin(), members.end());
    const int leader = members.front().second;
    int new_rank = 0;
    while (members[new_rank].second != rank_) ++new_rank;
    if (rank_ == leader) {
      std::lock_guard lock(group_->mutex);
      group_->children[color] = std::make_shared<ThreadGroup>(static_cast<int>(members.size()));
    }
    group_->arrive();
    std::shared_ptr<ThreadGroup> child;
    {
      std::lock_guard lock(group_->mutex);
      child = group_->children.at(color);
    }
    group_->arrive();
    if (rank_ == leader) {
      std::lock_guard lock(group_->mutex);
      group_->children.erase(color);
    }
    return std::make_unique<ThreadCommunicator>(std::move(child), new_rank);
  }

 private:
  // Deposits `mine`, waits for every rank, and returns clones of all deposits in rank order.
  std::vector<at::Tensor> exchange(const at::Tensor& mine) {
    group_->slots[rank_] = mine.contiguous();
    group_->arrive();
    std::vector<at::Tensor> all;
    for (const auto& t : group_->slots) all.push_back(t.clone());
    group_->arrive();
    return all;
  }

  std::shared_ptr<ThreadGroup> group_;
  int rank_;
};

}  // namespace

std::unique_ptr<PendingExchange> Communicator::ring_exchange_async(const at::Tensor& send) {
  return std::make_unique<CompletedExchange>(ring_exchange(send));
}

std::unique_ptr<PendingExchange> Communicator::all_to_all_async(const at::Tensor& input, int64_t scatter_dim,
                                                               int64_t gather_dim) {
  return std::make_unique<CompletedExchange>(all_to_all(input, scatter_dim, gather_dim));
}

std::unique_ptr<Communicator> make_single_rank_communicator() { return std::make_unique<SingleRankCommunicator>(); }

std::vector<std::unique_ptr<Communicator>> make_thread_communicators(int world_size) {
  require(world_size >= 1, "communicator", "world_size", "must be at least 1, got " + std::to_string(world_size));
  auto group = std::make_shared<ThreadGroup>(world_size);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < world_size; ++r) out.push_back(std::make_unique<ThreadCommunicator>(group, r));
  return out;
}

}  // namespace ditstream::parallel
