#include "pneumo/train/distributed.hpp"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>

#include "pneumo/core/strings.hpp"

namespace pneumo {

struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> process_group;
};

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

Result<int> env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (!value || !*value) return fallback;
  auto parsed = parse_int(value);
  if (!parsed || *parsed < 0) return fail(ErrorCode::kInvalidArgument, fmt::format("{}='{}' is not a non-negative integer", name, value));
  return static_cast<int>(*parsed);
}

}  // namespace

Distributed Distributed::single_process() { return Distributed{}; }

Result<Distributed> Distributed::from_env(const std::string& backend, int timeout_s) {
  auto world = env_int("WORLD_SIZE", 1);
  auto rank = env_int("RANK", 0);
  auto local_rank = env_int("LOCAL_RANK", 0);
  auto port = env_int("MASTER_PORT", 29500);
  for (auto* r : {&world, &rank, &local_rank, &port}) {
    if (!*r) return r->error();
  }
  Distributed dist;
  dist.world_size_ = std::max(1, world.value());
  dist.rank_ = rank.value();
  dist.local_rank_ = local_rank.value();
  if (dist.rank_ >= dist.world_size_) {
    return fail(ErrorCode::kInvalidArgument, fmt::format("RANK={} must be below WORLD_SIZE={}", dist.rank_, dist.world_size_));
  }
  if (dist.world_size_ == 1) return dist;
  if (backend == "nccl") {
    return fail(ErrorCode::kUnsupported,
                "the NCCL backend needs a LibTorch built with NCCL; this build uses Gloo (works on CPU and CUDA tensors)");
  }
  const std::string host = env_or("MASTER_ADDR", "127.0.0.1");
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(port.value());
    options.isServer = dist.rank_ == 0;
    options.numWorkers = dist.world_size_;
    options.timeout = std::chrono::seconds(timeout_s);
    auto group = std::make_shared<Group>();
    group->store = c10::make_intrusive<c10d::TCPStore>(host, options);
    auto gloo_options = c10d::ProcessGroupGloo::Options::create();
    gloo_options->timeout = std::chrono::seconds(timeout_s);
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    group->process_group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, dist.rank_, dist.world_size_, gloo_options);
    dist.group_ = std::move(group);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kIo, fmt::format("cannot join the process group at {}:{} as rank {} of {}: {}", host,
                                            port.value(), dist.rank_, dist.world_size_, e.what()));
  }
  return dist;
}

namespace {

// Gloo collectives work on CPU tensors; CUDA tensors go through a CPU copy.
void all_reduce_sum(c10d::ProcessGroup& pg, torch::Tensor& tensor) {
  const bool on_cpu = tensor.device().is_cpu();
  std::vector<at::Tensor> buffers{on_cpu ? tensor.contiguous() : tensor.to(torch::kCPU).contiguous()};
  pg.allreduce(buffers)->wait();
  if (!on_cpu || !buffers[0].is_same(tensor)) tensor.copy_(buffers[0]);
}

void broadcast_from_zero(c10d::ProcessGroup& pg, torch::Tensor& tensor) {
  const bool on_cpu = tensor.device().is_cpu();
  std::vector<at::Tensor> buffers{on_cpu ? tensor.contiguous() : tensor.to(torch::kCPU).contiguous()};
  c10d::BroadcastOptions options;
  options.rootRank = 0;
  pg.broadcast(buffers, options)->wait();
  if (!on_cpu || !buffers[0].is_same(tensor)) tensor.copy_(buffers[0]);
}

}  // namespace

void Distributed::broadcast_parameters(torch::nn::Module& module) {
  if (!active()) return;
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) broadcast_from_zero(*group_->process_group, p);
  broadcast_buffers(module);
}

void Distributed::broadcast_buffers(torch::nn::Module& module) {
  if (!active()) return;
  torch::NoGradGuard no_grad;
  for (auto& b : module.buffers()) broadcast_from_zero(*group_->process_group, b);
}

void Distributed::average_gradients(torch::nn::Module& module) {
  if (!active()) return;
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (!p.grad().defined()) continue;
    auto grad = p.mutable_grad();
    all_reduce_sum(*group_->process_group, grad);
    grad.div_(world_size_);
  }
}

double Distributed::average(double value) {
  if (!active()) return value;
  auto t = torch::tensor({value}, torch::kFloat64);
  all_reduce_sum(*group_->process_group, t);
  return t.item<double>() / world_size_;
}

double Distributed::broadcast(double value) {
  if (!active()) return value;
  auto t = torch::tensor({value}, torch::kFloat64);
  broadcast_from_zero(*group_->process_group, t);
  return t.item<double>();
}

void Distributed::barrier() {
  if (!active()) return;
  group_->process_group->barrier()->wait();
}

}  // namespace pneumo
