// bench_torch: LibTorch side of the torch benchmarks (the only LibTorch translation unit of bench/).
//
//   bench_torch forward    --model-out M --reference-out R [--size 512] [--batch 1] [--in-channels 1]
//                          [--reps 20] [--warmup 3] [--threads 0=all] [--seed 7]
//   bench_torch train-step --model-out M --reference-out R [--size 256] [--batch 4] [--in-channels 1]
//                          [--reps 10] [--warmup 2] [--threads 0=all] [--seed 7] [--lr 1e-3]
//                          [--weight-decay 1e-4]
//   bench_torch save-model --model-out M [--size 512] [--in-channels 1] [--seed 7] [--pixel-threshold 0.5]
//
// The network is pneumo's default segmenter: arch "unet", encoder "mobilenet_v2", default
// decoder_channels, random weights from torch::manual_seed(seed), BatchNorm running statistics
// randomised too (so a peer that failed to load the buffers would not match). It is written with
// save_model_file to M before anything is timed; the Python peer (bench/python/torch_peer.py)
// rebuilds the same network from that file and the seeded inputs stored in R.
//
// forward: eval mode with BatchNorm folded into the convolutions as pneumo's Predictor runs it
// (fold_batchnorm_for_inference, after the model file is written), torch::InferenceMode,
// `warmup` untimed forwards, then `reps` timed ones on the same normalised input; R holds
// {"input01", "mask_logits"} for the peer's equivalence check.
// train-step: train mode; one step = forward, BCE + Dice (pneumo::segmentation_loss), backward,
// AdamW step (optimizer.zero_grad() first); `warmup` + `reps` steps, the timed ones are the last
// `reps`; R holds {"input01", "masks", "losses"} (the loss of every step) so the peer can replay
// the same steps and compare.
// Prints one JSON object on stdout (bench_common.hpp); errors: one line on stderr, named exit code.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/model/config.hpp"
#include "pneumo/model/model_file.hpp"
#include "pneumo/model/network.hpp"
#include "pneumo/train/losses.hpp"

namespace {

using nlohmann::json;

struct Options {
  std::string model_out;
  std::string reference_out;
  int size = 512;
  int batch = 1;
  int in_channels = 1;
  int reps = 20;
  int warmup = 3;
  int threads = 0;
  std::uint64_t seed = 7;
  double lr = 1e-3;
  double weight_decay = 1e-4;
  double pixel_threshold = 0.5;  // stored in the model file's thresholds (used by pneumo predict)
};

pneumo::ModelConfig bench_model_config(const Options& o) {
  pneumo::ModelConfig cfg;
  cfg.arch = "unet";
  cfg.encoder = "mobilenet_v2";
  cfg.in_channels = o.in_channels;
  cfg.input_size = o.size;
  cfg.normalisation = pneumo::default_normalisation(o.in_channels);
  cfg.thresholds.pixel_threshold = o.pixel_threshold;
  return cfg;  // decoder_channels: the default
}

// Seeded network with randomised BatchNorm statistics, saved to o.model_out.
pneumo::Result<std::shared_ptr<pneumo::NetworkImpl>> make_and_save(const Options& o) {
  torch::manual_seed(o.seed);
  const pneumo::ModelConfig cfg = bench_model_config(o);
  auto net = pneumo::make_network(cfg);
  if (!net) return net.error();
  {
    torch::NoGradGuard no_grad;
    for (auto& item : net.value()->named_buffers()) {
      const std::string& name = item.key();
      if (name.ends_with("running_mean")) item.value().uniform_(-0.1, 0.1);
      if (name.ends_with("running_var")) item.value().uniform_(0.5, 1.5);
    }
  }
  if (auto st = pneumo::save_model_file(o.model_out, cfg, *net.value()); !st) return st.error();
  return net;
}

// Writes {name: tensor} as a torch.save-compatible dict (what torch.load in the peer reads).
pneumo::Status save_tensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& items) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : items) dict.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  return pneumo::write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
}

// Seeded pixels in [0, 1] shaped like a chest film: a vertical gradient plus noise. [N,1,S,S]
torch::Tensor bench_input(int batch, int size) {
  torch::Tensor ramp = torch::linspace(0.2, 0.8, size).view({1, 1, size, 1});
  return (ramp + 0.2 * torch::rand({batch, 1, size, size})).clamp(0.0, 1.0);
}

// One disk per odd image (a lesion), empty masks for even ones. [N,1,S,S] of 0/1 floats.
torch::Tensor bench_masks(int batch, int size) {
  torch::Tensor masks = torch::zeros({batch, 1, size, size});
  torch::Tensor rows = torch::arange(size, torch::kFloat32).view({size, 1});
  torch::Tensor cols = torch::arange(size, torch::kFloat32).view({1, size});
  for (int b = 1; b < batch; b += 2) {
    const double r0 = size * (0.3 + 0.4 * torch::rand({1}).item<double>());
    const double c0 = size * (0.3 + 0.4 * torch::rand({1}).item<double>());
    const double radius = size * 0.1;
    masks[b][0] = ((rows - r0).pow(2) + (cols - c0).pow(2) <= radius * radius).to(torch::kFloat32);
  }
  return masks;
}

json torch_info() {
  return {{"torch_threads", torch::get_num_threads()},
          {"mkldnn_available", at::hasMKLDNN()},
          {"mkldnn_enabled", at::globalContext().userEnabledMkldnn()},
          {"torch_version", TORCH_VERSION}};
}

int run_forward(const Options& o) {
  auto net = make_and_save(o);
  if (!net) return pneumo::bench::report("bench_torch forward", net.error());
  pneumo::NetworkImpl& network = *net.value();
  network.eval();
  pneumo::fold_batchnorm_for_inference(network);
  const torch::Tensor input01 = bench_input(o.batch, o.size);
  torch::Tensor logits;
  pneumo::bench::Timing t;
  {
    torch::InferenceMode inference;
    const torch::Tensor x = pneumo::normalise_input(network.config(), input01);  // [N, C, S, S]
    for (int i = 0; i < o.warmup; ++i) logits = network.forward(x).mask_logits;
    t = pneumo::bench::time_reps(o.reps, [&] { logits = network.forward(x).mask_logits; });  // [N,1,S,S]
  }
  if (auto st = save_tensors(o.reference_out, {{"input01", input01}, {"mask_logits", logits}}); !st) {
    return pneumo::bench::report("bench_torch forward", st.error());
  }
  json out = pneumo::bench::result_json(t, o.batch, "images");
  out["check"] = {{"batch", o.batch},
                  {"size", o.size},
                  {"parameters", network.parameter_count()},
                  {"mean_abs_logit", logits.abs().mean().item<double>()}};
  out["torch"] = torch_info();
  return pneumo::bench::emit(out);
}

int run_train_step(const Options& o) {
  auto net = make_and_save(o);
  if (!net) return pneumo::bench::report("bench_torch train-step", net.error());
  pneumo::NetworkImpl& network = *net.value();
  network.train();
  const torch::Tensor input01 = bench_input(o.batch, o.size);
  const torch::Tensor masks = bench_masks(o.batch, o.size);
  const torch::Tensor x = pneumo::normalise_input(network.config(), input01);  // [N, C, S, S]
  const pneumo::LossSpec loss_spec{.bce = 1.0, .dice = 1.0};
  torch::optim::AdamW optimizer(network.parameters(),
                                torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  std::vector<double> losses;
  auto step = [&] {
    optimizer.zero_grad();
    torch::Tensor loss = pneumo::segmentation_loss(network.forward(x).mask_logits, masks, loss_spec);
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item<double>());
  };
  for (int i = 0; i < o.warmup; ++i) step();
  const pneumo::bench::Timing t = pneumo::bench::time_reps(o.reps, step);
  const torch::Tensor loss_tensor = torch::tensor(losses, torch::kFloat64);
  if (auto st = save_tensors(o.reference_out, {{"input01", input01}, {"masks", masks}, {"losses", loss_tensor}});
      !st) {
    return pneumo::bench::report("bench_torch train-step", st.error());
  }
  json out = pneumo::bench::result_json(t, o.batch, "images");
  out["check"] = {{"batch", o.batch},
                  {"size", o.size},
                  {"steps", static_cast<int>(losses.size())},
                  {"first_loss", losses.front()},
                  {"last_loss", losses.back()}};
  out["losses"] = losses;
  out["torch"] = torch_info();
  return pneumo::bench::emit(out);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"LibTorch side of the torch benchmarks (forward, train-step)"};
  app.require_subcommand(1);
  Options o;
  auto add_common = [&](CLI::App* sub, bool reference) {
    sub->add_option("--model-out", o.model_out, "pneumo model file to write (the peer loads it)")->required();
    if (reference) sub->add_option("--reference-out", o.reference_out, "inputs/outputs for the peer")->required();
    sub->add_option("--size", o.size, "square input side (multiple of 32)");
    sub->add_option("--in-channels", o.in_channels, "1, or 3 (grey replicated)");
    sub->add_option("--seed", o.seed, "seed of the weights and inputs");
  };
  auto add_timing = [&](CLI::App* sub) {
    sub->add_option("--batch", o.batch, "images per forward / step");
    sub->add_option("--reps", o.reps, "timed repetitions (median reported)");
    sub->add_option("--warmup", o.warmup, "untimed repetitions first");
    sub->add_option("--threads", o.threads, "torch intra-op threads (0 = all cores)");
  };
  CLI::App* forward = app.add_subcommand("forward", "eval-mode forward passes");
  add_common(forward, true);
  add_timing(forward);
  CLI::App* train = app.add_subcommand("train-step", "forward + BCE/Dice + backward + AdamW steps");
  add_common(train, true);
  add_timing(train);
  train->add_option("--lr", o.lr, "AdamW learning rate");
  train->add_option("--weight-decay", o.weight_decay, "AdamW weight decay");
  CLI::App* save = app.add_subcommand("save-model", "only write the seeded model file");
  add_common(save, false);
  save->add_option("--pixel-threshold", o.pixel_threshold,
                   "thresholds.pixel_threshold in the file (a random network's probabilities sit near 0.5)");
  CLI11_PARSE(app, argc, argv);
  if (*train) {  // train-step's own defaults where not given
    if (train->count("--size") == 0) o.size = 256;
    if (train->count("--batch") == 0) o.batch = 4;
    if (train->count("--reps") == 0) o.reps = 10;
    if (train->count("--warmup") == 0) o.warmup = 2;
  }

  if (o.size <= 0 || o.size % 32 != 0 || o.batch < 1 || (o.in_channels != 1 && o.in_channels != 3)) {
    return pneumo::bench::report("bench_torch", pneumo::fail(pneumo::ErrorCode::kInvalidArgument,
                                                             "--size must be a positive multiple of 32, --batch >= 1, "
                                                             "--in-channels 1 or 3"));
  }
  torch::set_num_threads(o.threads > 0 ? o.threads : pneumo::default_threads());
  try {
    if (*forward) return run_forward(o);
    if (*train) return run_train_step(o);
    auto net = make_and_save(o);
    if (!net) return pneumo::bench::report("bench_torch save-model", net.error());
    return pneumo::bench::emit(json{{"model", o.model_out}, {"parameters", net.value()->parameter_count()}});
  } catch (const std::exception& e) {
    return pneumo::bench::report("bench_torch",
                                 pneumo::fail(pneumo::ErrorCode::kInternal, std::string("LibTorch: ") + e.what()));
  }
}
