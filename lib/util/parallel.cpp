#include "util/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace backup::util {

namespace {

void run_parallel(std::size_t count, std::size_t max_workers,
                  const std::function<void(std::size_t)>& work) {
    std::size_t workers = std::clamp<std::size_t>(max_workers, 1, std::max<std::size_t>(count, 1));
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::exception_ptr first;
    std::mutex first_mutex;
    auto loop = [&] {
        for (std::size_t i = next++; i < count && !stop; i = next++) {
            try {
                work(i);
            } catch (...) {
                std::lock_guard lock(first_mutex);
                if (!first) {
                    first = std::current_exception();
                }
                stop = true;
            }
        }
    };
    std::vector<std::jthread> threads;
    for (std::size_t w = 1; w < workers; ++w) {
        try {
            threads.emplace_back(loop);
        } catch (const std::system_error&) {
            break; // no more threads to be had: the ones running share the work
        }
    }
    loop();
    threads.clear(); // joins
    if (first) {
        std::rethrow_exception(first);
    }
}

} // namespace

void parallel_for(std::size_t count, std::size_t max_workers,
                  const std::function<void(std::size_t)>& work) {
    std::size_t cores = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    run_parallel(count, std::min(max_workers, cores), work);
}

void parallel_for_waiting(std::size_t count, std::size_t max_workers,
                          const std::function<void(std::size_t)>& work) {
    run_parallel(count, max_workers, work);
}

} // namespace backup::util
