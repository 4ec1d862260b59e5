// Running independent work on the machine's cores: the one owner of worker threads.
#pragma once

#include <cstddef>
#include <functional>

namespace backup::util {

// Calls work(i) for every i in [0, count), on up to max_workers threads at once (never more than
// the machine's cores, at least one; the calling thread is one of them), and returns when every
// call has returned. work must be safe to run concurrently for different i. If calls throw, the
// remaining indices are skipped and the first exception is rethrown here.
void parallel_for(std::size_t count, std::size_t max_workers,
                  const std::function<void(std::size_t)>& work);

// As parallel_for, for work that mostly waits (on a server, on the network): up to max_workers
// threads whatever the number of cores.
void parallel_for_waiting(std::size_t count, std::size_t max_workers,
                          const std::function<void(std::size_t)>& work);

} // namespace backup::util
