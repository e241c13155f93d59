// Data-parallel training across processes through LibTorch's c10d (Gloo on CPU, NCCL on CUDA
// when LibTorch was built with it), configured torchrun-style from the environment:
//   MASTER_ADDR (default 127.0.0.1), MASTER_PORT (default 29500), RANK, WORLD_SIZE, LOCAL_RANK.
//
//   auto dist = pneumo::Distributed::from_env().value();   // world_size 1 when RANK is unset
//   dist.broadcast_parameters(*net);                      // same start on every rank
//   loss.backward(); dist.average_gradients(*net); optimizer.step();
//
// Semantics of DistributedDataParallel without its bucketing: gradients are summed over ranks
// and divided by world_size after each backward, so equal per-rank batches give exactly the
// gradient of the global batch. Not thread-safe: one per process.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "pneumo/core/result.hpp"

namespace pneumo {

class Distributed {
 public:
  // Reads the environment; a missing RANK/WORLD_SIZE means a single process (no-op collectives).
  static Result<Distributed> from_env(const std::string& backend = "auto", int timeout_s = 300);
  static Distributed single_process();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }
  bool active() const { return world_size_ > 1; }

  void broadcast_parameters(torch::nn::Module& module);  // params and buffers from rank 0
  void broadcast_buffers(torch::nn::Module& module);     // e.g. BatchNorm running stats
  void average_gradients(torch::nn::Module& module);
  double average(double value);      // mean of a scalar over ranks
  double broadcast(double value);    // rank 0's value everywhere
  void barrier();

 private:
  struct Group;
  std::shared_ptr<Group> group_;
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
};

}  // namespace pneumo
