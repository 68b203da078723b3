// SPDX-License-Identifier: MIT
// A communicator of threads of one process, standing in for MPI's processes in the dist tests of every build.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "elm/dist/communicator.hpp"

namespace dist_test {

using elm::dist::Communicator;

// A communicator of `size` threads of one process, standing in for MPI's processes: each collective puts this
// rank's data in a shared slot, waits for every rank, reads what it needs, and waits again before the slots are
// reused. Sums run in rank order.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), slots_(std::size_t(size)), exchanges_(std::size_t(size)) {}
  int size() const { return size_; }
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      woken_.notify_all();
    } else {
      woken_.wait(lock, [&] { return generation != generation_; });
    }
  }
  std::vector<std::string>& slots() { return slots_; }
  std::vector<std::vector<std::string>>& exchanges() { return exchanges_; }

 private:
  int size_;
  std::mutex mutex_;
  std::condition_variable woken_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  std::vector<std::string> slots_;
  std::vector<std::vector<std::string>> exchanges_;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return group_.size(); }
  void barrier() override { group_.barrier(); }

 protected:
  void do_allreduce_sum(void* data, std::size_t count, Element type) override {
    const std::size_t bytes = count * width(type);
    group_.slots()[std::size_t(rank_)].assign(static_cast<const char*>(data), bytes);
    group_.barrier();
    for (std::size_t i = 0; i < count; ++i) {
      if (type == Element::f32) sum_at<float>(data, i);
      if (type == Element::f64) sum_at<double>(data, i);
      if (type == Element::i64) sum_at<std::int64_t>(data, i);
    }
    group_.barrier();
  }
  void do_broadcast(void* data, std::size_t count, Element type, int root) override {
    const std::size_t bytes = count * width(type);
    if (rank_ == root) group_.slots()[std::size_t(root)].assign(static_cast<const char*>(data), bytes);
    group_.barrier();
    if (rank_ != root && bytes > 0) std::memcpy(data, group_.slots()[std::size_t(root)].data(), bytes);
    group_.barrier();
  }
  std::vector<std::string> exchange(const std::vector<std::string>& send) override {
    group_.exchanges()[std::size_t(rank_)] = send;
    group_.barrier();
    std::vector<std::string> received(send.size());
    for (std::size_t p = 0; p < send.size(); ++p) received[p] = group_.exchanges()[p][std::size_t(rank_)];
    group_.barrier();
    return received;
  }

 private:
  static std::size_t width(Element type) { return type == Element::byte ? 1 : type == Element::f32 ? 4 : 8; }
  template <typename T>
  void sum_at(void* data, std::size_t i) {
    T total = 0;
    for (const std::string& slot : group_.slots()) {
      T v;
      std::memcpy(&v, slot.data() + i * sizeof(T), sizeof(T));
      total += v;
    }
    std::memcpy(static_cast<char*>(data) + i * sizeof(T), &total, sizeof(T));
  }
  ThreadGroup& group_;
  int rank_;
};

// Runs work(comm) on `size` threads, one rank each, and returns each rank's exception (null when it returned).
inline std::vector<std::exception_ptr> on_threads(int size, const std::function<void(Communicator&)>& work) {
  ThreadGroup group(size);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(group, r);
      try {
        work(comm);
      } catch (...) {
        errors[std::size_t(r)] = std::current_exception();
      }
    });
  for (std::thread& t : threads) t.join();
  return errors;
}

}  // namespace dist_test
