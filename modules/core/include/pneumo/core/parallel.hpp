// Small thread helpers.
//
//   int n = pneumo::default_threads();            // hardware cores, at least 1
//   pneumo::parallel_for(items.size(), n, [&](size_t i) { ... });
//
// parallel_for runs fn(i) for i in [0, count) on `threads` threads with dynamic scheduling;
// fn must be thread-safe. Exceptions from fn propagate (the first one) after all threads join.
#pragma once

#include <cstddef>
#include <functional>

namespace pneumo {

int default_threads();
void parallel_for(std::size_t count, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace pneumo
