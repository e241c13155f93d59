// The training loop. One translation unit on purpose: LibTorch headers are expensive to compile.
#include "pneumo/train/trainer.hpp"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/dataset/folds.hpp"
#include "pneumo/eval/evaluator.hpp"
#include "pneumo/eval/postprocess.hpp"
#include "pneumo/model/model_file.hpp"
#include "pneumo/model/network.hpp"
#include "pneumo/model/weights.hpp"
#include "pneumo/pipeline/cache.hpp"
#include "pneumo/pipeline/loader.hpp"
#include "pneumo/report/plot.hpp"
#include "pneumo/train/distributed.hpp"
#include "pneumo/train/losses.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pneumo {
namespace {

constexpr const char* kCheckpointFormat = "pneumo-checkpoint-v1";

struct PreparedData {
  std::optional<SampleStore> train;
  std::optional<SampleStore> val;
};

// Reads "ImageId" (first column) of a CSV with a header; used for hard-example lists.
Result<std::vector<std::string>> read_id_column(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  std::vector<std::string> ids;
  int line_no = 0;
  for (auto line : split(*text, '\n')) {
    ++line_no;
    line = trim(line);
    if (line.empty() || line_no == 1) continue;
    auto id = trim(split(line, ',')[0]);
    if (!id.empty()) ids.emplace_back(id);
  }
  return ids;
}

Result<PreparedData> prepare_data(TrainConfig& c, const fs::path& run_dir, Distributed& dist, bool quiet) {
  IndexOptions index_options;
  index_options.threads = c.threads;
  index_options.progress = !quiet && dist.is_main();
  auto index = build_dataset_index(c.csv, c.data_dirs, index_options);
  if (!index) return index.error();
  if (index->images.empty()) {
    return fail(ErrorCode::kBadInput, fmt::format("{}: no readable DICOM, PNG or JPEG files found", index->data_dirs_text()));
  }

  auto selected_folds = folds_for(index.value(), c.folds_csv, c.folds, c.fold_seed);
  if (!selected_folds) return selected_folds.error();
  const std::vector<FoldEntry>& folds = selected_folds.value();
  if (dist.is_main()) {
    if (auto st = write_folds_csv(run_dir / "folds.csv", folds); !st) return st.error();
  }
  std::unordered_map<std::string, int> fold_of;
  for (const auto& f : folds) fold_of[f.image_id] = f.fold;
  const std::set<int> holdout(c.holdout_folds.begin(), c.holdout_folds.end());

  std::vector<SampleSource> train_sources, val_sources;
  std::unordered_set<std::string> seen;
  long long held_out = 0;
  for (std::size_t i : index->matched_images()) {
    const IndexedImage& image = index->images[i];
    auto it = fold_of.find(image.image_id());
    if (it == fold_of.end()) continue;
    seen.insert(image.image_id());
    if (holdout.count(it->second)) {
      ++held_out;
      continue;
    }
    SampleSource source{image.image_id(), image.path, {}};
    if (const ImageLabel* label = index->label_of(image)) source.rle_rows = label->encodings;
    (it->second == c.fold ? val_sources : train_sources).push_back(std::move(source));
  }
  if (!c.train_only_dirs.empty()) {
    auto extra = build_dataset_index(c.csv, c.train_only_dirs, index_options);
    if (!extra) return extra.error();
    long long added = 0, skipped = 0;
    for (std::size_t i : extra->matched_images()) {
      const IndexedImage& image = extra->images[i];
      // An image that is also in the fold data keeps its fold: never train on a validation image.
      if (!seen.insert(image.image_id()).second) {
        ++skipped;
        continue;
      }
      SampleSource source{image.image_id(), image.path, {}};
      if (const ImageLabel* label = extra->label_of(image)) source.rle_rows = label->encodings;
      train_sources.push_back(std::move(source));
      ++added;
    }
    if (dist.is_main()) {
      spdlog::info("train-only images: {} added from {}{}", added, extra->data_dirs_text(),
                   skipped ? fmt::format(" ({} also in the fold data, left to their folds)", skipped) : "");
    }
  }
  if (dist.is_main() && held_out > 0) {
    spdlog::info("held out: {} images of fold(s) {} (neither trained nor validated on)", held_out,
                 fmt::join(c.holdout_folds, ","));
  }
  if (train_sources.empty() || val_sources.empty()) {
    return fail(ErrorCode::kBadInput, fmt::format("fold {} leaves {} training and {} validation images; need both",
                                                  c.fold, train_sources.size(), val_sources.size()));
  }

  CacheOptions cache_options;
  cache_options.cache_dir = c.cache_dir;
  cache_options.size = static_cast<int>(c.model.input_size);
  cache_options.threads = c.threads;
  cache_options.show_progress = !quiet && dist.is_main();
  // Rank 0 fills the cache; the others then find every entry ready.
  auto build = [&](const std::vector<SampleSource>& sources) -> Result<std::vector<CacheEntry>> {
    auto built = build_cache(sources, cache_options);
    if (!built) return built.error();
    for (const auto& e : built->errors) spdlog::warn("skipped: {}", e.message);
    return std::move(built->entries);
  };
  std::vector<CacheEntry> train_entries, val_entries;
  for (int turn = 0; turn < 2; ++turn) {
    if ((turn == 0) == dist.is_main()) {
      auto t = build(train_sources);
      if (!t) return t.error();
      auto v = build(val_sources);
      if (!v) return v.error();
      train_entries = std::move(t.value());
      val_entries = std::move(v.value());
    }
    dist.barrier();
  }
  PreparedData data;
  auto train = SampleStore::from_cache(train_entries, SampleStore::kDefaultMemoryBudget, c.threads);
  if (!train) return train.error();
  auto val = SampleStore::from_cache(val_entries, SampleStore::kDefaultMemoryBudget, c.threads);
  if (!val) return val.error();
  data.train.emplace(std::move(train.value()));
  data.val.emplace(std::move(val.value()));
  return data;
}

torch::Tensor image_labels(const TrainConfig& c, const torch::Tensor& masks) {
  auto area = masks.sum({1, 2, 3});
  return (area > static_cast<double>(c.model.joint.positive_area_threshold)).to(torch::kFloat32).unsqueeze(1);
}

torch::Tensor compute_loss(const TrainConfig& c, const NetOutput& out, const torch::Tensor& masks) {
  const std::string& arch = c.model.arch;
  if (arch == "classifier") return bce_loss(out.image_logits.to(torch::kFloat32), image_labels(c, masks));
  auto loss = segmentation_loss(out.mask_logits.to(torch::kFloat32), masks, c.loss);
  if (arch == "joint" && c.image_loss_weight > 0) {
    loss = loss + c.image_loss_weight * bce_loss(out.image_logits.to(torch::kFloat32), image_labels(c, masks));
  }
  return loss;
}

torch::Tensor to_tensor(const std::vector<float>& data, const Batch& b, const torch::Device& device) {
  return torch::from_blob(const_cast<float*>(data.data()), {b.n, b.channels, b.height, b.width}, torch::kFloat32)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

struct Validation {
  double loss = 0;
  EvaluationSummary summary;
};

Validation validate_epoch(const TrainConfig& c, NetworkImpl& net, const Batch& val, const torch::Device& device,
                          int threads) {
  torch::NoGradGuard no_grad;
  net.eval();
  SegmentationEvaluator evaluator(/*classification_threshold=*/0.5f);
  // Validation scores what `predict` would output: the model's own post-processing thresholds.
  const PostprocessParams& postprocess = c.model.thresholds;
  const int rows = val.height, cols = val.width;
  const std::size_t pixels = static_cast<std::size_t>(rows) * cols;
  double loss_sum = 0;
  for (int first = 0; first < val.n; first += c.batch) {
    const int count = std::min(c.batch, val.n - first);
    auto images = torch::from_blob(const_cast<float*>(val.images.data()) + first * pixels, {count, 1, rows, cols})
                      .to(device);
    auto masks =
        torch::from_blob(const_cast<float*>(val.masks.data()) + first * pixels, {count, 1, rows, cols}).to(device);
    NetOutput out = net.forward(normalise_input(c.model, images));
    loss_sum += compute_loss(c, out, masks).item<double>() * count;
    torch::Tensor probs_mask;
    if (out.mask_logits.defined()) probs_mask = torch::sigmoid(out.mask_logits.to(torch::kFloat32)).to(torch::kCPU).contiguous();
    auto probs_image = torch::sigmoid(out.image_logits.to(torch::kFloat32).select(1, 0)).to(torch::kCPU).contiguous();
    parallel_for(static_cast<std::size_t>(count), threads, [&](std::size_t k) {
      const std::size_t i = first + k;
      Mask truth(rows, cols);
      const float* t = val.masks.data() + i * pixels;
      for (std::size_t p = 0; p < pixels; ++p) truth.px[p] = t[p] > 0.5f ? 1 : 0;
      Mask predicted(rows, cols);
      if (probs_mask.defined()) {
        ProbMap map(rows, cols);
        std::copy_n(probs_mask.data_ptr<float>() + k * pixels, pixels, map.p.begin());
        predicted = apply_postprocess(map, std::nullopt, postprocess);
      }
      const bool truth_label = count_nonzero(truth) > c.model.joint.positive_area_threshold;
      auto st = evaluator.add(val.ids[i], truth, predicted, probs_image.data_ptr<float>()[k], truth_label);
      if (!st) throw std::logic_error(st.error().message);
    });
  }
  Validation v;
  v.loss = val.n > 0 ? loss_sum / val.n : 0.0;
  v.summary = evaluator.summary(/*gallery_size=*/0);
  return v;
}

json epoch_to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},         {"lr", m.lr},
          {"train_loss", m.train_loss}, {"val_loss", m.val_loss},
          {"val_dice", m.val_dice},   {"val_iou", m.val_iou},
          {"val_dice_positive", m.val_dice_positive}, {"val_auc", m.val_auc},
          {"val_accuracy", m.val_accuracy}, {"val_recall", m.val_recall},
          {"val_specificity", m.val_specificity}, {"seconds", m.seconds}};
}

EpochMetrics epoch_from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.lr = j.at("lr");
  m.train_loss = j.at("train_loss");
  m.val_loss = j.at("val_loss");
  m.val_dice = j.at("val_dice");
  m.val_iou = j.at("val_iou");
  m.val_dice_positive = j.at("val_dice_positive");
  m.val_auc = j.at("val_auc");
  m.val_accuracy = j.at("val_accuracy");
  m.val_recall = j.at("val_recall");
  m.val_specificity = j.at("val_specificity");
  m.seconds = j.at("seconds");
  return m;
}

// What a checkpoint holds besides the weights and the optimiser.
struct LoopState {
  int epochs_done = 0;
  std::vector<EpochMetrics> history;
  int best_epoch = 0;
  double best_metric = -1;
  int epochs_without_improvement = 0;
  json schedule_state = json::object();
  double loss_scale = 65536.0;
};

json loop_state_to_json(const LoopState& s, const json& sampler_state) {
  json history = json::array();
  for (const auto& m : s.history) history.push_back(epoch_to_json(m));
  return {{"format", kCheckpointFormat},
          {"epochs_done", s.epochs_done},
          {"history", history},
          {"best_epoch", s.best_epoch},
          {"best_metric", s.best_metric},
          {"epochs_without_improvement", s.epochs_without_improvement},
          {"schedule", s.schedule_state},
          {"sampler", sampler_state},
          {"loss_scale", s.loss_scale},
          {"rng", "torch and augmentation generators are reseeded from (seed, epoch) at each epoch"}};
}

Status save_checkpoint(const fs::path& path, NetworkImpl& net, torch::optim::Optimizer& optimizer, const json& state) {
  return write_via_temp(path, [&](const fs::path& temp) -> Status {
    try {
      torch::serialize::OutputArchive archive;
      torch::serialize::OutputArchive model_archive;
      net.save(model_archive);
      archive.write("model", model_archive);
      torch::serialize::OutputArchive optimizer_archive;
      optimizer.save(optimizer_archive);
      archive.write("optimizer", optimizer_archive);
      archive.write("state", c10::IValue(state.dump()));
      archive.save_to(temp.string());
    } catch (const std::exception& e) {
      return fail(ErrorCode::kIo, fmt::format("{}: cannot write checkpoint: {}", path.string(), e.what()));
    }
    return ok_status();
  });
}

Result<json> load_checkpoint(const fs::path& path, NetworkImpl& net, torch::optim::Optimizer& optimizer,
                             const torch::Device& device) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string(), device);
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    net.load(model_archive);
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    c10::IValue state;
    archive.read("state", state);
    json j = json::parse(state.toStringRef());
    if (j.value("format", "") != kCheckpointFormat) {
      return fail(ErrorCode::kBadInput, fmt::format("{}: not a pneumo checkpoint", path.string()));
    }
    return j;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kBadInput, fmt::format("{}: cannot read checkpoint: {}", path.string(),
                                                  split(e.what(), '\n')[0]));
  }
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& c, NetworkImpl& net) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  const double lr = c.schedule.base_lr;
  auto options_for = [&](double group_lr) -> std::unique_ptr<torch::optim::OptimizerOptions> {
    if (c.optimizer == "sgd") {
      return std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(group_lr).momentum(c.momentum).weight_decay(c.weight_decay).nesterov(true));
    }
    if (c.optimizer == "adam") {
      return std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(group_lr).weight_decay(c.weight_decay));
    }
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(group_lr).weight_decay(c.weight_decay));
  };
  // Group 0: encoder (lr * encoder_lr_scale); group 1: decoder and heads.
  groups.emplace_back(net.encoder_parameters(), options_for(lr * c.encoder_lr_scale));
  groups.emplace_back(net.decoder_parameters(), options_for(lr));
  if (c.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(lr).momentum(c.momentum).nesterov(true));
  }
  if (c.optimizer == "adam") return std::make_unique<torch::optim::Adam>(groups, torch::optim::AdamOptions(lr));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(lr));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, const TrainConfig& c, double lr) {
  auto& groups = optimizer.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(g == 0 ? lr * c.encoder_lr_scale : lr);
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cuda" || (name == "auto" && torch::cuda::is_available())) return torch::Device(torch::kCUDA);
  return torch::Device(torch::kCPU);
}

Status write_run_outputs(const fs::path& run_dir, const std::vector<EpochMetrics>& history, bool classifier) {
  if (auto st = write_file_atomic(run_dir / "metrics.csv", format_metrics_csv(history)); !st) return st;
  std::vector<double> x, train_loss, val_loss, val_metric;
  for (const auto& m : history) {
    x.push_back(m.epoch);
    train_loss.push_back(m.train_loss);
    val_loss.push_back(m.val_loss);
    val_metric.push_back(classifier ? m.val_auc : m.val_dice);
  }
  const std::string metric_name = classifier ? "val AUC" : "val Dice";
  auto st = plot_lines(run_dir / "curves.png", "Training curves (loss; " + metric_name + ")", "epoch",
                       {{"train loss", x, train_loss}, {"val loss", x, val_loss}, {metric_name, x, val_metric}});
  if (!st && st.error().code != ErrorCode::kUnsupported) return st;
  return ok_status();
}

Result<TrainSummary> train_loop(TrainConfig c, const fs::path& run_dir, bool resume, const TrainRunOptions& options) {
  auto dist_result = Distributed::from_env();
  if (!dist_result) return dist_result.error();
  Distributed dist = std::move(dist_result.value());
  const bool main = dist.is_main();
  const bool quiet = options.quiet || !main;
  const int threads = c.threads > 0 ? c.threads : default_threads();
  torch::set_num_threads(threads);
  const torch::Device device = resolve_device(c.device);
  if (device.is_cuda() && !torch::cuda::is_available()) {
    return fail(ErrorCode::kUnsupported, "--device cuda: this LibTorch has no CUDA device available");
  }
  if (main) {
    spdlog::info("train: {} / {} at {} px on {} ({} threads, {} process{}), seed {}", c.model.arch, c.model.encoder,
                 c.model.input_size, device.str(), threads, dist.world_size(), dist.world_size() > 1 ? "es" : "",
                 c.seed);
  }
  if (main) {
    if (auto st = ensure_directory(run_dir / "checkpoints"); !st) return st.error();
  }
  if (c.cache_dir.empty()) c.cache_dir = default_cache_dir(c.data_dirs.empty() ? fs::path(".") : c.data_dirs.front());
  if (main && !resume) {
    if (auto st = write_file_atomic(run_dir / "config.json", to_json(c).dump(2) + "\n"); !st) return st.error();
  }

  auto data = prepare_data(c, run_dir, dist, quiet);
  if (!data) return data.error();
  SampleStore& train_store = *data->train;
  SampleStore& val_store = *data->val;

  SamplerConfig sampler_config = c.sampler;
  sampler_config.seed = c.seed;
  sampler_config.rank = dist.rank();
  sampler_config.world_size = dist.world_size();
  if (!c.hard_examples_csv.empty()) {
    auto ids = read_id_column(c.hard_examples_csv);
    if (!ids) return ids.error();
    sampler_config.hard_example_ids = std::move(ids.value());
    if (sampler_config.hard_example_factor < 2) sampler_config.hard_example_factor = 2;
  }
  auto sampler = Sampler::create(train_store.ids(), train_store.positives(), sampler_config);
  if (!sampler) return sampler.error();

  torch::manual_seed(c.seed);
  auto made = make_network(c.model);
  if (!made) return made.error();
  std::shared_ptr<NetworkImpl> net = made.value();
  if (!c.encoder_weights.empty() && !resume) {
    auto weights = load_state_dict_file(c.encoder_weights);
    if (!weights) return weights.error();
    auto report = import_encoder_weights(*net, weights.value());
    if (!report) return report.error();
    if (main) spdlog::info("encoder weights imported from {}", c.encoder_weights.filename().string());
  }
  net->to(device);
  auto optimizer = make_optimizer(c, *net);
  LrSchedule schedule(c.schedule);
  LoopState state;

  const fs::path last_path = run_dir / "checkpoints" / "last.pt";
  if (resume) {
    auto loaded = load_checkpoint(last_path, *net, *optimizer, device);
    if (!loaded) return loaded.error();
    const json& j = loaded.value();
    state.epochs_done = j.at("epochs_done");
    for (const auto& m : j.at("history")) state.history.push_back(epoch_from_json(m));
    state.best_epoch = j.at("best_epoch");
    state.best_metric = j.at("best_metric");
    state.epochs_without_improvement = j.at("epochs_without_improvement");
    state.loss_scale = j.value("loss_scale", state.loss_scale);
    schedule.load_state(j.at("schedule"));
    if (j.contains("sampler")) {
      auto restored = Sampler::restore(j.at("sampler"), train_store.ids(), train_store.positives());
      if (!restored) return restored.error();
    }
    if (main) spdlog::info("resuming {} after epoch {}", run_dir.string(), state.epochs_done);
  }
  dist.broadcast_parameters(*net);

  auto val_batch = load_all(val_store, {}, threads);
  if (!val_batch) return val_batch.error();

  LoaderConfig loader_config;
  loader_config.batch_size = c.batch;
  loader_config.workers = c.workers;
  loader_config.seed = c.seed;
  loader_config.augment = c.augment;
  Loader loader(train_store, loader_config);

  const bool classifier = c.model.arch == "classifier";
  const std::string metric_name = classifier ? "val_auc" : "val_dice";
  const bool use_amp = c.amp && device.is_cuda();
  TrainSummary summary;
  summary.train_images = static_cast<int>(train_store.size());
  summary.val_images = static_cast<int>(val_store.size());

  for (int epoch = state.epochs_done; epoch < c.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    // Reseeding per epoch makes a resumed run replay exactly what an uninterrupted one does.
    torch::manual_seed(c.seed * 1000003ULL + static_cast<std::uint64_t>(epoch) * 7919ULL + dist.rank());
    const bool frozen = epoch < c.freeze_encoder_epochs;
    net->set_encoder_trainable(!frozen);
    net->train();
    std::vector<std::size_t> order = sampler->epoch_indices(epoch);
    loader.start_epoch(epoch, order);
    std::size_t steps = loader.batches_in_epoch();
    if (c.max_batches_per_epoch > 0) steps = std::min<std::size_t>(steps, c.max_batches_per_epoch);
    Progress bar(fmt::format("epoch {}/{}", epoch + 1, c.epochs), static_cast<long long>(steps), !quiet);
    double loss_sum = 0;
    long long loss_count = 0;
    optimizer->zero_grad();
    for (std::size_t step = 0; step < steps; ++step) {
      auto next = loader.next();
      if (!next) return next.error();
      if (!next.value()) break;
      const Batch& batch = *next.value();
      set_learning_rate(*optimizer, c, schedule.lr_at(epoch + static_cast<double>(step) / steps));
      auto images = to_tensor(batch.images, batch, device);
      auto masks = to_tensor(batch.masks, batch, device);
      torch::Tensor loss;
      {
        if (use_amp) at::autocast::set_enabled(true);
        NetOutput out = net->forward(normalise_input(c.model, images));
        loss = compute_loss(c, out, masks);
        if (use_amp) {
          at::autocast::set_enabled(false);
          at::autocast::clear_cache();
        }
      }
      if (!std::isfinite(loss.item<double>())) {
        return fail(ErrorCode::kInternal, fmt::format("epoch {} step {}: loss is not finite (lr too high?)", epoch + 1, step));
      }
      ((use_amp ? loss * state.loss_scale : loss) / c.accumulate).backward();
      loss_sum += loss.item<double>();
      ++loss_count;
      if ((step + 1) % c.accumulate == 0 || step + 1 == steps) {
        dist.average_gradients(*net);
        bool finite = true;
        if (use_amp) {
          torch::NoGradGuard no_grad;
          for (auto& p : net->parameters()) {
            if (!p.grad().defined()) continue;
            p.mutable_grad().div_(state.loss_scale);
            finite = finite && torch::isfinite(p.grad()).all().item<bool>();
          }
          state.loss_scale = finite ? std::min(state.loss_scale * 1.0005, 65536.0) : state.loss_scale / 2;
        }
        if (finite) optimizer->step();
        optimizer->zero_grad();
      }
      bar.set_suffix(fmt::format("loss {:.4f}", loss_sum / loss_count));
      bar.tick();
    }
    bar.finish();
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.lr = schedule.lr_at(epoch + 1.0 - 1e-9);
    m.train_loss = dist.average(loss_count ? loss_sum / loss_count : 0.0);
    dist.broadcast_buffers(*net);

    double metric = 0;
    if (main) {
      Validation v = validate_epoch(c, *net, val_batch.value(), device, threads);
      m.val_loss = v.loss;
      m.val_dice = v.summary.mean_dice;
      m.val_iou = v.summary.mean_iou;
      m.val_dice_positive = v.summary.mean_dice_positive;
      m.val_auc = v.summary.roc_auc.value_or(0.5);
      m.val_accuracy = v.summary.classification.accuracy;
      m.val_recall = v.summary.classification.recall;
      m.val_specificity = v.summary.classification.specificity;
      metric = selection_score(m, classifier, v.summary.positive_images);
    }
    metric = dist.broadcast(metric);
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    schedule.on_epoch_end(metric);
    state.history.push_back(m);
    state.epochs_done = epoch + 1;
    const bool improved = metric > state.best_metric + 1e-9;
    if (improved) {
      state.best_metric = metric;
      state.best_epoch = epoch + 1;
      state.epochs_without_improvement = 0;
    } else {
      ++state.epochs_without_improvement;
    }
    state.schedule_state = schedule.state();
    if (main) {
      spdlog::info("epoch {}/{}: train loss {:.4f}  val loss {:.4f}  val dice {:.4f}  dice+ {:.4f}  auc {:.4f}  lr {:.2e}  {:.0f}s{}",
                   m.epoch, c.epochs, m.train_loss, m.val_loss, m.val_dice, m.val_dice_positive, m.val_auc, m.lr,
                   m.seconds, improved ? "  (best)" : "");
      const json sampler_state = sampler->save(SamplerState{epoch + 1, 0});
      const json state_json = loop_state_to_json(state, sampler_state);
      if (improved) {
        if (auto st = save_checkpoint(run_dir / "checkpoints" / "best.pt", *net, *optimizer, state_json); !st) return st.error();
        json extra = {{"metrics", epoch_to_json(m)},
                      {"best_metric", metric_name},
                      {"train_config", to_json(c)},
                      {"train_images", summary.train_images},
                      {"val_images", summary.val_images}};
        if (auto st = save_model_file(run_dir / "model.pneumo", c.model, *net, extra); !st) return st.error();
      }
      if (auto st = save_checkpoint(last_path, *net, *optimizer, state_json); !st) return st.error();
      if (auto st = write_run_outputs(run_dir, state.history, classifier); !st) return st.error();
    }
    dist.barrier();
    if (c.early_stop_patience > 0 && state.epochs_without_improvement >= c.early_stop_patience) {
      summary.stopped_early = true;
      if (main) spdlog::info("early stop: no improvement of {} for {} epochs", metric_name, c.early_stop_patience);
      break;
    }
  }
  if (main && !state.history.empty()) {
    json extra = {{"metrics", epoch_to_json(state.history.back())},
                  {"best_metric", metric_name},
                  {"train_config", to_json(c)},
                  {"train_images", summary.train_images},
                  {"val_images", summary.val_images}};
    if (auto st = save_model_file(run_dir / "last.pneumo", c.model, *net, extra); !st) return st.error();
  }
  summary.history = state.history;
  summary.best_epoch = state.best_epoch;
  summary.best_metric = state.best_metric;
  summary.best_metric_name = metric_name;
  summary.model_file = run_dir / "model.pneumo";
  return summary;
}

}  // namespace

double selection_score(const EpochMetrics& m, bool classifier, std::size_t val_positive_images) {
  if (classifier) return m.val_auc;
  return val_positive_images > 0 && m.val_dice_positive <= 0 ? m.val_dice - 1.0 : m.val_dice;
}

std::string format_metrics_csv(const std::vector<EpochMetrics>& history) {
  std::string out =
      "epoch,lr,train_loss,val_loss,val_dice,val_iou,val_dice_positive,val_auc,val_accuracy,val_recall,"
      "val_specificity,seconds\n";
  for (const auto& m : history) {
    out += fmt::format("{},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.1f}\n", m.epoch, m.lr,
                       m.train_loss, m.val_loss, m.val_dice, m.val_iou, m.val_dice_positive, m.val_auc,
                       m.val_accuracy, m.val_recall, m.val_specificity, m.seconds);
  }
  return out;
}

Result<TrainSummary> run_training(const TrainConfig& config, const TrainRunOptions& options) {
  if (auto st = validate(config); !st) return st.error();
  if (config.out_dir.empty()) return fail(ErrorCode::kInvalidArgument, "--out RUN_DIR is required");
  if (fs::exists(config.out_dir / "checkpoints" / "last.pt")) {
    return fail(ErrorCode::kInvalidArgument,
                fmt::format("{} already holds a training run; use --resume {} to continue it, or another --out",
                            config.out_dir.string(), config.out_dir.string()));
  }
  try {
    return train_loop(config, config.out_dir, /*resume=*/false, options);
  } catch (const c10::Error& e) {
    return fail(ErrorCode::kInternal, fmt::format("LibTorch: {}", split(e.what(), '\n')[0]));
  }
}

Result<TrainSummary> resume_training(const fs::path& run_dir, const TrainRunOptions& options) {
  auto text = read_file(run_dir / "config.json");
  if (!text) return text.error();
  json j;
  try {
    j = json::parse(text.value());
  } catch (const json::exception& e) {
    return fail(ErrorCode::kBadInput, fmt::format("{}: {}", (run_dir / "config.json").string(), e.what()));
  }
  auto config = train_config_from_json(j, (run_dir / "config.json").string());
  if (!config) return config.error();
  if (options.epochs_override) {
    if (*options.epochs_override < 1) return fail(ErrorCode::kInvalidArgument, "--epochs must be >= 1");
    config->epochs = *options.epochs_override;
    if (auto st = write_file_atomic(run_dir / "config.json", to_json(config.value()).dump(2) + "\n"); !st) {
      return st.error();
    }
  }
  if (!fs::exists(run_dir / "checkpoints" / "last.pt")) {
    return fail(ErrorCode::kNotFound,
                fmt::format("{}: no checkpoint yet (the run stopped before its first epoch ended); start it again",
                            run_dir.string()));
  }
  try {
    return train_loop(config.value(), run_dir, /*resume=*/true, options);
  } catch (const c10::Error& e) {
    return fail(ErrorCode::kInternal, fmt::format("LibTorch: {}", split(e.what(), '\n')[0]));
  }
}

}  // namespace pneumo
