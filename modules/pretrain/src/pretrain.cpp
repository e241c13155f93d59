// `pneumo pretrain`: classifier transfer and autoencoder / beta-VAE pseudo-labels. One LibTorch
// translation unit for the whole workflow (the networks live in autoencoder.cpp, PCA in pca.cpp).
#include "pneumo/pretrain/pretrain.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "autoencoder.hpp"
#include "pretrain_data.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/model/config.hpp"
#include "pneumo/model/network.hpp"
#include "pneumo/pipeline/loader.hpp"
#include "pneumo/pipeline/sampler.hpp"
#include "pneumo/pretrain/chestxray_csv.hpp"
#include "pneumo/pretrain/clustering.hpp"
#include "pneumo/pretrain/pca.hpp"
#include "pneumo/report/plot.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pneumo {

Result<PretrainMethod> parse_pretrain_method(std::string_view text) {
  if (text == "classifier") return PretrainMethod::kClassifier;
  if (text == "autoencoder" || text == "ae") return PretrainMethod::kAutoencoder;
  if (text == "vae") return PretrainMethod::kVae;
  if (text == "pseudo-labels") return PretrainMethod::kPseudoLabels;
  return fail(ErrorCode::kInvalidArgument, "pretrain: unknown method '" + std::string(text) +
                                               "' (expected classifier, autoencoder, vae or pseudo-labels)");
}

std::string pretrain_method_name(PretrainMethod method) {
  switch (method) {
    case PretrainMethod::kClassifier: return "classifier";
    case PretrainMethod::kAutoencoder: return "autoencoder";
    case PretrainMethod::kVae: return "vae";
    case PretrainMethod::kPseudoLabels: return "pseudo-labels";
  }
  return "?";
}

Status validate(const PretrainConfig& c) {
  auto bad = [](std::string m) -> Status { return fail(ErrorCode::kInvalidArgument, "pretrain: " + std::move(m)); };
  if (c.data_dirs.empty() && c.train_only_dirs.empty()) return bad("--data DIR is required");
  if (c.out_dir.empty()) return bad("--out DIR is required");
  if (c.method == PretrainMethod::kClassifier && c.csv.empty())
    return bad("--method classifier needs --csv (a SIIM train-rle.csv or a ChestX-ray14 CSV)");
  if (c.method == PretrainMethod::kPseudoLabels && c.codes != PretrainMethod::kAutoencoder && c.codes != PretrainMethod::kVae)
    return bad("--codes must be autoencoder or vae");
  if (!c.holdout_folds.empty() && c.csv.empty()) return bad("--holdout-fold needs --csv (folds are assigned from its labels)");
  for (int f : c.holdout_folds) {
    if (f < 0 || f >= c.folds) return bad(fmt::format("--holdout-fold {} is outside 0..{}", f, c.folds - 1));
  }
  const auto& encoders = model_encoder_names();
  if (std::find(encoders.begin(), encoders.end(), c.encoder) == encoders.end()) {
    std::string names;
    for (const auto& e : encoders) names += (names.empty() ? "" : ", ") + e;
    return bad("unknown --encoder '" + c.encoder + "' (expected one of " + names + ")");
  }
  if (c.in_channels != 1 && c.in_channels != 3) return bad("--in-channels must be 1 or 3");
  if (c.size < 32 || c.size % 32 != 0) return bad(fmt::format("--size must be a positive multiple of 32, got {}", c.size));
  if (c.epochs < 1) return bad("--epochs must be >= 1");
  if (c.batch < 1) return bad("--batch must be >= 1");
  if (!(c.lr > 0)) return bad("--lr must be > 0");
  if (c.clusters < 2) return bad(fmt::format("--clusters must be >= 2, got {}", c.clusters));
  if (!(c.beta >= 0)) return bad("--beta must be >= 0");
  if (c.latent < 1) return bad("--latent must be >= 1");
  if (c.pca_components < 1) return bad("--pca-components must be >= 1");
  if (c.min_points.empty()) return bad("--min-points needs at least one value");
  for (int m : c.min_points) {
    if (m < 1) return bad("--min-points values must be >= 1");
  }
  if (!(c.norm_std > 0)) return bad("--norm-std must be > 0");
  if (c.holdout_share < 0 || c.holdout_share >= 1) return bad("holdout_share must be in [0, 1)");
  if (c.max_images < 0) return bad("--max-images must be >= 0");
  if (c.workers < 1) return bad("--workers must be >= 1");
  return ok_status();
}

json to_json(const PretrainConfig& c) {
  auto paths = [](const std::vector<fs::path>& v) {
    json a = json::array();
    for (const auto& p : v) a.push_back(p.string());
    return a;
  };
  json j = {{"method", pretrain_method_name(c.method)},
            {"data_dirs", paths(c.data_dirs)},
            {"train_only_dirs", paths(c.train_only_dirs)},
            {"csv", c.csv.string()},
            {"holdout_folds", c.holdout_folds},
            {"folds", c.folds},
            {"fold_seed", c.fold_seed},
            {"max_images", c.max_images},
            {"encoder", c.encoder},
            {"in_channels", c.in_channels},
            {"normalisation", {{"mean", c.norm_mean}, {"std", c.norm_std}}},
            {"size", c.size},
            {"epochs", c.epochs},
            {"batch", c.batch},
            {"optimizer", "adamw"},
            {"lr", c.lr},
            {"weight_decay", c.weight_decay},
            {"seed", c.seed},
            {"threads", c.threads}};
  if (c.method == PretrainMethod::kPseudoLabels) j["codes"] = pretrain_method_name(c.codes);
  const bool clustering = c.method != PretrainMethod::kClassifier;
  if (clustering) {
    j["clusters"] = c.clusters;
    j["pca_components"] = c.pca_components;
    j["min_points_candidates"] = c.min_points;
  }
  const bool vae = c.method == PretrainMethod::kVae || (c.method == PretrainMethod::kPseudoLabels && c.codes == PretrainMethod::kVae);
  if (vae) {
    j["beta"] = c.beta;
    j["latent"] = c.latent;
  }
  return j;
}

namespace {

using pretrain_detail::Autoencoder;
using pretrain_detail::collect_images;
using pretrain_detail::Collected;
using pretrain_detail::load_data;
using pretrain_detail::Data;
using pretrain_detail::Item;
using pretrain_detail::LabelKind;

torch::Tensor pixels(const Batch& b) {  // [N,1,S,S] in [0,1]
  return torch::from_blob(const_cast<float*>(b.images.data()), {b.n, 1, b.height, b.width}, torch::kFloat32).clone();
}

torch::Tensor network_input(const PretrainConfig& c, const torch::Tensor& px) {  // [N,C,S,S]
  auto x = (px - c.norm_mean) / c.norm_std;
  return c.in_channels == 3 ? x.repeat({1, 3, 1, 1}) : x;
}

LoaderConfig loader_config(const PretrainConfig& c, std::uint64_t seed) {
  LoaderConfig l;
  l.batch_size = c.batch;
  l.workers = c.workers;
  l.seed = seed;
  l.augment = AugmentConfig::none();
  return l;
}

struct EpochLog {
  int epoch = 0;
  double loss = 0;
  double recon = -1;     // vae: BCE part
  double kl = -1;        // vae: KL part (before beta)
  double seconds = 0;
};

json epochs_json(const std::vector<EpochLog>& log) {
  json a = json::array();
  for (const auto& e : log) {
    json j = {{"epoch", e.epoch}, {"loss", e.loss}, {"seconds", e.seconds}};
    if (e.recon >= 0) j["recon_bce"] = e.recon;
    if (e.kl >= 0) j["kl"] = e.kl;
    a.push_back(j);
  }
  return a;
}

// Runs `fn(batch)` over `indices` of the store in fixed chunks, unaugmented (evaluation/encoding).
template <typename Fn>
Status for_each_chunk(const PretrainConfig& c, const SampleStore& store, const std::vector<std::size_t>& indices, Fn&& fn) {
  const LoaderConfig l = loader_config(c, c.seed);
  for (std::size_t first = 0; first < indices.size(); first += c.batch) {
    const std::size_t count = std::min<std::size_t>(c.batch, indices.size() - first);
    auto b = make_batch(store, indices, first, count, /*epoch=*/0, l);
    if (!b) return b.error();
    fn(b.value());
  }
  return ok_status();
}

std::vector<std::size_t> all_indices(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// ---------------------------------------------------------------- reconstruction stage

Result<std::vector<EpochLog>> train_autoencoder(const PretrainConfig& c, Autoencoder& model, const SampleStore& store,
                                                bool quiet) {
  const bool vae = model->variational();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  SamplerConfig sc;
  sc.kind = SamplerKind::kShuffle;
  sc.seed = c.seed;
  auto sampler = Sampler::create(store.ids(), store.positives(), sc);
  if (!sampler) return sampler.error();
  Loader loader(store, loader_config(c, c.seed));
  const double pixels_per_image = static_cast<double>(c.size) * c.size;
  std::vector<EpochLog> log;
  for (int epoch = 0; epoch < c.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    torch::manual_seed(c.seed * 1000003ULL + static_cast<std::uint64_t>(epoch) * 7919ULL);
    model->train();
    loader.start_epoch(epoch, sampler->epoch_indices(epoch));
    Progress bar(fmt::format("{} epoch {}/{}", vae ? "vae" : "autoencoder", epoch + 1, c.epochs),
                 static_cast<long long>(loader.batches_in_epoch()), !quiet);
    double loss_sum = 0, recon_sum = 0, kl_sum = 0;
    long long images = 0;
    while (true) {
      auto next = loader.next();
      if (!next) return next.error();
      if (!next.value()) break;
      const Batch& b = *next.value();
      auto px = pixels(b);
      auto out = model->forward(network_input(c, px));
      // Per image: BCE summed over pixels (+ beta * KL summed over the latent), / pixels.
      auto recon = torch::binary_cross_entropy_with_logits(out.logits, px, {}, {}, at::Reduction::Sum) / b.n;
      torch::Tensor loss = recon / pixels_per_image;
      torch::Tensor kl;
      if (vae) {
        kl = (-0.5 * (1 + out.logvar - out.mu.pow(2) - out.logvar.exp()).sum(1)).mean();
        loss = (recon + c.beta * kl) / pixels_per_image;
      }
      if (!std::isfinite(loss.item<double>())) {
        return fail(ErrorCode::kInternal, fmt::format("epoch {}: loss is not finite (lr too high?)", epoch + 1));
      }
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>() * b.n;
      recon_sum += recon.item<double>() / pixels_per_image * b.n;
      if (vae) kl_sum += kl.item<double>() * b.n;
      images += b.n;
      bar.set_suffix(fmt::format("loss {:.4f}", loss_sum / images));
      bar.tick();
    }
    bar.finish();
    EpochLog e;
    e.epoch = epoch + 1;
    e.loss = loss_sum / std::max<long long>(images, 1);
    if (vae) {
      e.recon = recon_sum / std::max<long long>(images, 1);
      e.kl = kl_sum / std::max<long long>(images, 1);
    }
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("{} epoch {}/{}: loss {:.5f}{} ({:.0f} s)", vae ? "vae" : "autoencoder", e.epoch, c.epochs, e.loss,
                 vae ? fmt::format(" (recon BCE {:.5f}, KL {:.3f})", e.recon, e.kl) : "", e.seconds);
    log.push_back(e);
  }
  return log;
}

// [n, D] codes (pooled features or mu) of every image, in store order.
Result<std::vector<double>> encode_all(const PretrainConfig& c, Autoencoder& model, const SampleStore& store, int& dim) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<double> codes;
  dim = 0;
  auto st = for_each_chunk(c, store, all_indices(store.size()), [&](const Batch& b) {
    auto code = model->encode(network_input(c, pixels(b))).to(torch::kFloat64).contiguous();  // [N, D]
    dim = static_cast<int>(code.size(1));
    codes.insert(codes.end(), code.data_ptr<double>(), code.data_ptr<double>() + code.numel());
  });
  if (!st) return st.error();
  return codes;
}

// Inputs beside reconstructions, one pair per row (up to 8 images), as an 8-bit PNG.
Status write_reconstructions(const PretrainConfig& c, Autoencoder& model, const SampleStore& store, const fs::path& png) {
  torch::NoGradGuard no_grad;
  model->eval();
  const std::size_t count = std::min<std::size_t>(8, store.size());
  std::vector<std::size_t> picks;
  for (std::size_t k = 0; k < count; ++k) picks.push_back(k * store.size() / count);
  auto b = make_batch(store, picks, 0, picks.size(), 0, loader_config(c, c.seed));
  if (!b) return b.error();
  auto px = pixels(b.value());
  auto recon = torch::sigmoid(model->forward(network_input(c, px)).logits);
  const int s = c.size, gap = 4;
  Image8 grid(static_cast<int>(count) * (s + gap) - gap, 2 * s + gap, 255);
  auto put = [&](const torch::Tensor& img, int row0, int col0) {
    auto u8 = (img.clamp(0, 1) * 255).round().to(torch::kUInt8).contiguous();
    const std::uint8_t* p = u8.data_ptr<std::uint8_t>();
    for (int r = 0; r < s; ++r)
      for (int q = 0; q < s; ++q) grid.at(row0 + r, col0 + q) = p[r * s + q];
  };
  for (std::size_t k = 0; k < count; ++k) {
    put(px[k][0], static_cast<int>(k) * (s + gap), 0);
    put(recon[k][0], static_cast<int>(k) * (s + gap), s + gap);
  }
  return write_png(png, grid);
}

// ---------------------------------------------------------------- classifier stage

enum class TargetKind { kBinary, kMultiLabel, kMultiClass };

struct ClassifierRun {
  std::vector<EpochLog> log;
  double accuracy = -1;          // on the held-out images
  double majority_baseline = -1; // accuracy of always answering the most frequent class (per label)
  long long train_images = 0, held_out_images = 0;
};

// Trains `net` (arch "classifier") on store[train] with per-image targets, scores store[held].
Result<ClassifierRun> train_classifier(const PretrainConfig& c, NetworkImpl& net, const SampleStore& store,
                                       const std::vector<std::size_t>& train, const std::vector<std::size_t>& held,
                                       const std::vector<std::vector<float>>& targets, TargetKind kind,
                                       const std::string& label, bool quiet) {
  ClassifierRun run;
  run.train_images = static_cast<long long>(train.size());
  run.held_out_images = static_cast<long long>(held.size());
  // A class-balanced sampler for (multi-)label targets: positive = any finding / pneumothorax.
  std::vector<std::string> ids;
  std::vector<bool> positive;
  for (auto i : train) {
    ids.push_back(store.id(i));
    const auto& t = targets[i];
    bool pos = false;
    if (kind == TargetKind::kBinary) pos = t[0] > 0.5f;
    if (kind == TargetKind::kMultiLabel) {
      for (int k = 0; k < kChestXray14Findings; ++k) pos = pos || t[k] > 0.5f;
    }
    positive.push_back(pos);
  }
  SamplerConfig sc;
  sc.seed = c.seed;
  const bool both = std::count(positive.begin(), positive.end(), true) > 0 &&
                    std::count(positive.begin(), positive.end(), false) > 0;
  sc.kind = kind != TargetKind::kMultiClass && both ? SamplerKind::kClassWeighted : SamplerKind::kShuffle;
  auto sampler = Sampler::create(ids, positive, sc);
  if (!sampler) return sampler.error();

  torch::optim::AdamW optimizer(net.parameters(), torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  Loader loader(store, loader_config(c, c.seed + 1));
  std::unordered_map<std::string, std::size_t> index_of;
  for (std::size_t i = 0; i < store.size(); ++i) index_of[store.id(i)] = i;
  auto target_tensor = [&](const Batch& b) {
    std::vector<float> flat;
    for (const auto& id : b.ids) {
      const auto& t = targets[index_of.at(id)];
      flat.insert(flat.end(), t.begin(), t.end());
    }
    const int64_t width = static_cast<int64_t>(flat.size()) / b.n;
    return torch::from_blob(flat.data(), {b.n, width}, torch::kFloat32).clone();
  };
  auto loss_of = [&](const torch::Tensor& logits, const torch::Tensor& t) {
    if (kind == TargetKind::kMultiClass) return torch::cross_entropy_loss(logits, t.squeeze(1).to(torch::kLong));
    return torch::binary_cross_entropy_with_logits(logits, t);
  };

  for (int epoch = 0; epoch < c.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    torch::manual_seed(c.seed * 1000003ULL + static_cast<std::uint64_t>(epoch) * 7919ULL + 17);
    net.train();
    std::vector<std::size_t> order;
    for (auto k : sampler->epoch_indices(epoch)) order.push_back(train[k]);
    loader.start_epoch(epoch, order);
    Progress bar(fmt::format("{} epoch {}/{}", label, epoch + 1, c.epochs), static_cast<long long>(loader.batches_in_epoch()),
                 !quiet);
    double loss_sum = 0;
    long long images = 0;
    while (true) {
      auto next = loader.next();
      if (!next) return next.error();
      if (!next.value()) break;
      const Batch& b = *next.value();
      auto out = net.forward(network_input(c, pixels(b)));
      auto loss = loss_of(out.image_logits, target_tensor(b));
      if (!std::isfinite(loss.item<double>())) {
        return fail(ErrorCode::kInternal, fmt::format("epoch {}: loss is not finite (lr too high?)", epoch + 1));
      }
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>() * b.n;
      images += b.n;
      bar.set_suffix(fmt::format("loss {:.4f}", loss_sum / images));
      bar.tick();
    }
    bar.finish();
    EpochLog e;
    e.epoch = epoch + 1;
    e.loss = loss_sum / std::max<long long>(images, 1);
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("{} epoch {}/{}: loss {:.5f} ({:.0f} s)", label, e.epoch, c.epochs, e.loss, e.seconds);
    run.log.push_back(e);
  }

  if (!held.empty()) {
    torch::NoGradGuard no_grad;
    net.eval();
    double correct = 0, total = 0;
    std::map<int, long long> class_counts;  // multiclass / binary: label -> count; multilabel: per label positives
    std::vector<long long> label_pos;
    auto st = for_each_chunk(c, store, held, [&](const Batch& b) {
      auto logits = net.forward(network_input(c, pixels(b))).image_logits;
      auto t = target_tensor(b);
      if (kind == TargetKind::kMultiClass) {
        auto pred = logits.argmax(1);
        auto truth = t.squeeze(1).to(torch::kLong);
        correct += (pred == truth).sum().item<double>();
        total += b.n;
        for (int64_t i = 0; i < b.n; ++i) ++class_counts[static_cast<int>(truth[i].item<int64_t>())];
      } else {
        auto pred = (logits > 0).to(torch::kFloat32);
        correct += (pred == t).sum().item<double>();
        total += static_cast<double>(t.numel());
        auto pos = t.sum(0);
        if (label_pos.empty()) label_pos.assign(t.size(1), 0);
        for (int64_t k = 0; k < t.size(1); ++k) label_pos[k] += static_cast<long long>(pos[k].item<double>());
      }
    });
    if (!st) return st.error();
    run.accuracy = total > 0 ? correct / total : -1;
    if (kind == TargetKind::kMultiClass) {
      long long top = 0;
      for (const auto& [k, n] : class_counts) top = std::max(top, n);
      run.majority_baseline = static_cast<double>(top) / static_cast<double>(held.size());
    } else {
      double majority = 0;
      for (auto p : label_pos) majority += static_cast<double>(std::max<long long>(p, static_cast<long long>(held.size()) - p));
      run.majority_baseline = majority / (static_cast<double>(held.size()) * static_cast<double>(label_pos.size()));
    }
    spdlog::info("{}: held-out accuracy {:.4f} on {} images (always the majority class: {:.4f})", label, run.accuracy,
                 held.size(), run.majority_baseline);
  }
  return run;
}

// Seeded split of `indices` into (train, held): held gets round(share * n), at least 1 when n >= 10.
std::pair<std::vector<std::size_t>, std::vector<std::size_t>> split_holdout(std::vector<std::size_t> indices, double share,
                                                                              std::uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x401dU);
  std::shuffle(indices.begin(), indices.end(), rng);
  std::size_t held = static_cast<std::size_t>(std::llround(share * static_cast<double>(indices.size())));
  if (held == 0 && share > 0 && indices.size() >= 10) held = 1;
  std::vector<std::size_t> h(indices.begin(), indices.begin() + held), t(indices.begin() + held, indices.end());
  std::sort(h.begin(), h.end());
  std::sort(t.begin(), t.end());
  return {t, h};
}

ModelConfig classifier_config(const PretrainConfig& c, int64_t classes) {
  ModelConfig m;
  m.arch = "classifier";
  m.encoder = c.encoder;
  m.in_channels = c.in_channels;
  m.input_size = c.size;
  m.num_classes = classes;
  m.normalisation = InputNormalisation{std::vector<double>(c.in_channels, c.norm_mean), std::vector<double>(c.in_channels, c.norm_std)};
  return m;
}

// encoder.pt: the encoder's parameters and buffers under its own names (no "encoder." prefix).
Result<int> save_encoder(torch::nn::Module& encoder, const fs::path& path) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  int count = 0;
  for (const auto& item : encoder.named_parameters(/*recurse=*/true)) {
    dict.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());
    ++count;
  }
  for (const auto& item : encoder.named_buffers(/*recurse=*/true)) {
    dict.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());
    ++count;
  }
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(dict);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, path.string() + ": serialising the encoder failed: " + e.what());
  }
  if (auto st = write_file_atomic(path, std::string_view(bytes.data(), bytes.size())); !st) return st.error();
  return count;
}

void warn_plot(const Status& st) {
  if (!st) spdlog::warn("plot skipped: {}", st.error().message);
}

struct Clustering {
  std::vector<int> labels;  // per store index
  int clusters = 0;
  bool reached = false;
  json report;
};

Result<Clustering> cluster_codes(const PretrainConfig& c, const std::vector<double>& codes, int dim, const Data& data,
                                 const fs::path& plots) {
  const int n = static_cast<int>(data.items.size());
  const int k = std::min({c.pca_components, n, dim});
  auto p = pca(codes, dim, k);
  if (!p) return p.error();
  double total = 0;
  for (double r : p->explained_variance_ratio) total += r;
  spdlog::info("PCA: {} -> {} components, {:.1f} % of the variance", dim, k, 100 * total);
  EpsSearchOptions search;
  search.target_clusters = c.clusters;
  search.min_points = c.min_points;
  auto found = search_dbscan_eps(p->projected, k, search);
  if (!found) return found.error();
  const auto& r = found.value();
  spdlog::info("DBSCAN: {} clusters (requested {}{}) at eps {:.4g}, min_points {}; {} noise points", r.clustering.clusters,
               c.clusters, r.reached ? "" : ", nearest count found", r.eps, r.min_points, r.clustering.noise);
  Clustering out;
  out.labels = r.clustering.labels;
  out.clusters = r.clustering.clusters;
  out.reached = r.reached;
  out.report = {{"pca",
                 {{"input_dim", dim},
                  {"components", k},
                  {"explained_variance", p->explained_variance},
                  {"explained_variance_ratio", p->explained_variance_ratio},
                  {"explained_variance_ratio_total", total}}},
                {"dbscan",
                 {{"requested_clusters", c.clusters},
                  {"clusters", r.clustering.clusters},
                  {"reached", r.reached},
                  {"eps", r.eps},
                  {"min_points", r.min_points},
                  {"rule", r.rule},
                  {"trials", r.trials.size()},
                  {"cluster_sizes", r.clustering.cluster_sizes},
                  {"noise", r.clustering.noise}}}};
  // pseudo_labels.csv: ImageId, cluster (-1 = noise), first two principal components.
  std::string csv = "ImageId,cluster,pc1,pc2\n";
  for (int i = 0; i < n; ++i) {
    csv += fmt::format("{},{},{:.6g},{:.6g}\n", data.items[i].id, out.labels[i], p->projected[i * k],
                       k > 1 ? p->projected[i * k + 1] : 0.0);
  }
  if (auto st = write_file_atomic(c.out_dir / "pseudo_labels.csv", csv); !st) return st.error();
  // Scatter of the first two components, one colour per cluster, noise separately.
  std::map<int, PlotSeries> by_cluster;
  for (int i = 0; i < n; ++i) {
    auto& s = by_cluster[out.labels[i]];
    if (s.name.empty()) s.name = out.labels[i] == kNoise ? "noise" : fmt::format("cluster {}", out.labels[i]);
    s.x.push_back(p->projected[i * k]);
    s.y.push_back(k > 1 ? p->projected[i * k + 1] : 0.0);
  }
  std::vector<PlotSeries> series;
  for (auto& [label, s] : by_cluster) series.push_back(std::move(s));
  PlotStyle style;
  style.xlabel = "PC 1";
  style.ylabel = "PC 2";
  warn_plot(plot_scatter(plots / "pca_scatter.png",
                         fmt::format("Codes: PCA, DBSCAN {} clusters (eps {:.3g}, min_points {})", out.clusters, r.eps,
                                     r.min_points),
                         series, style));
  return out;
}

}  // namespace

Result<PretrainSummary> run_pretraining(const PretrainConfig& c_in, const PretrainRunOptions& options) {
  PretrainConfig c = c_in;
  if (auto st = validate(c); !st) return st.error();
  const int threads = c.threads > 0 ? c.threads : default_threads();
  c.threads = threads;
  torch::set_num_threads(threads);
  const bool quiet = options.quiet;
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("pretrain: {}{} / {} at {} px, {} epochs per stage, batch {} ({} threads), seed {}",
               pretrain_method_name(c.method),
               c.method == PretrainMethod::kPseudoLabels ? " from " + pretrain_method_name(c.codes) + " codes" : "",
               c.encoder, c.size, c.epochs, c.batch, threads, c.seed);
  const fs::path plots = c.out_dir / "plots";
  if (auto st = ensure_directory(plots); !st) return st.error();

  const bool classifier = c.method == PretrainMethod::kClassifier;
  auto collected = collect_images(c, /*need_labels=*/classifier, !quiet);
  if (!collected) return collected.error();
  const LabelKind label_kind = collected->labels;
  json report = {{"format", "pneumo-pretrain-v1"}, {"config", to_json(c)}, {"images", collected->report}};
  auto data_result = load_data(c, std::move(collected->items), !quiet);
  if (!data_result) return data_result.error();
  Data& data = data_result.value();
  const SampleStore& store = *data.store;
  spdlog::info("pretrain: {} images", store.size());

  PretrainSummary summary;
  summary.images = static_cast<int>(store.size());
  std::vector<PlotSeries> loss_series;
  auto add_loss_series = [&](const std::string& name, const std::vector<EpochLog>& log) {
    PlotSeries s{name, {}, {}};
    for (const auto& e : log) {
      s.x.push_back(e.epoch);
      s.y.push_back(e.loss);
    }
    loss_series.push_back(std::move(s));
  };
  json stages = json::array();
  torch::nn::Module* final_encoder = nullptr;
  std::shared_ptr<NetworkImpl> net;  // keeps the classifier alive until the weights are saved
  Autoencoder ae{nullptr};
  // A classifier stage (image labels or cluster ids) ends the same way: its record in
  // pretrain.json, its loss curve, the summary's figures, and its encoder as the output.
  auto record_classifier_stage = [&](json stage, const std::string& series, const auto& run) {
    stage["train_images"] = run.train_images;
    stage["held_out_images"] = run.held_out_images;
    stage["epochs"] = epochs_json(run.log);
    stage["final_accuracy"] = run.accuracy;
    stage["majority_class_accuracy"] = run.majority_baseline;
    stages.push_back(std::move(stage));
    add_loss_series(series, run.log);
    summary.final_loss = run.log.back().loss;
    summary.final_accuracy = run.accuracy;
    final_encoder = &net->encoder();
  };

  if (classifier) {
    const TargetKind kind = label_kind == LabelKind::kChestXray14 ? TargetKind::kMultiLabel : TargetKind::kBinary;
    std::vector<std::vector<float>> targets;
    for (const auto& it : data.items) targets.push_back(it.targets);
    auto [train, held] = split_holdout(all_indices(store.size()), c.holdout_share, c.seed);
    torch::manual_seed(c.seed);
    auto made = make_network(classifier_config(c, static_cast<int64_t>(targets.front().size())));
    if (!made) return made.error();
    net = made.value();
    const std::string label = kind == TargetKind::kBinary ? "classifier (pneumothorax vs rest)" : "classifier (ChestX-ray14, 15 labels)";
    auto run = train_classifier(c, *net, store, train, held, targets, kind, label, quiet);
    if (!run) return run.error();
    record_classifier_stage(
        {{"name", "classifier"},
         {"targets", kind == TargetKind::kBinary ? "pneumothorax vs rest (SIIM)" : "ChestX-ray14 15 labels (multi-label BCE)"},
         {"loss", kind == TargetKind::kBinary ? "BCE" : "BCE per label"},
         {"sampler", "class-weighted (balanced)"}},
        "classifier loss", run.value());
  } else {
    const PretrainMethod generator = c.method == PretrainMethod::kPseudoLabels ? c.codes : c.method;
    const bool vae = generator == PretrainMethod::kVae;
    torch::manual_seed(c.seed);
    auto encoder = make_encoder(c.encoder, c.in_channels);
    if (!encoder) return encoder.error();
    ae = Autoencoder(encoder.value(), c.size, vae, c.latent);
    auto log = train_autoencoder(c, ae, store, quiet);
    if (!log) return log.error();
    stages.push_back({{"name", vae ? "vae" : "autoencoder"},
                      {"loss", vae ? "(BCE reconstruction summed over pixels + beta * KL) / pixels, mean over images"
                                   : "BCE reconstruction, mean over pixels and images"},
                      {"epochs", epochs_json(log.value())}});
    add_loss_series(vae ? "beta-VAE loss (-ELBO / pixels)" : "autoencoder BCE", log.value());
    summary.final_loss = log->back().loss;
    warn_plot(write_reconstructions(c, ae, store, plots / "reconstructions.png"));
    int dim = 0;
    auto codes = encode_all(c, ae, store, dim);
    if (!codes) return codes.error();
    auto clusters = cluster_codes(c, codes.value(), dim, data, plots);
    if (!clusters) return clusters.error();
    report["clustering"] = clusters->report;
    report["clustering"]["codes"] = vae ? "mu of the beta-VAE" : "global-average-pooled deepest encoder features";
    summary.clusters_found = clusters->clusters;
    summary.clusters_reached = clusters->reached;
    final_encoder = &ae->encoder();

    if (c.method == PretrainMethod::kPseudoLabels) {
      if (clusters->clusters < 2) {
        return fail(ErrorCode::kBadInput, fmt::format("pretrain: DBSCAN found {} cluster(s) in the codes; at least 2 are needed "
                                                      "to pre-train on pseudo-labels (try more images or --min-points)",
                                                      clusters->clusters));
      }
      std::vector<std::size_t> labelled;
      std::vector<std::vector<float>> targets(store.size());
      for (std::size_t i = 0; i < store.size(); ++i) {
        if (clusters->labels[i] == kNoise) continue;
        labelled.push_back(i);
        targets[i] = {static_cast<float>(clusters->labels[i])};
      }
      auto [train, held] = split_holdout(labelled, c.holdout_share, c.seed);
      torch::manual_seed(c.seed + 1);  // a fresh encoder, not the autoencoder's
      auto made = make_network(classifier_config(c, clusters->clusters));
      if (!made) return made.error();
      net = made.value();
      auto run = train_classifier(c, *net, store, train, held, targets, TargetKind::kMultiClass, "cluster classifier", quiet);
      if (!run) return run.error();
      record_classifier_stage({{"name", "cluster-classifier"},
                               {"targets", fmt::format("{} DBSCAN cluster ids (noise points left out)", clusters->clusters)},
                               {"loss", "cross-entropy"},
                               {"sampler", "shuffle"}},
                              "cluster classifier loss", run.value());
    }
  }

  summary.weights_file = c.out_dir / "encoder.pt";
  auto saved = save_encoder(*final_encoder, summary.weights_file);
  if (!saved) return saved.error();
  summary.encoder_tensors = saved.value();
  warn_plot(plot_lines(plots / "loss.png", "Pre-training loss (" + pretrain_method_name(c.method) + ")", "epoch", loss_series));

  report["stages"] = stages;
  report["final_loss"] = summary.final_loss;
  if (summary.final_accuracy >= 0) report["final_accuracy"] = summary.final_accuracy;
  report["weights"] = {{"file", "encoder.pt"},
                       {"tensors", summary.encoder_tensors},
                       {"names", "the encoder's own (no 'encoder.' prefix): pneumo train --encoder-weights imports it"}};
  report["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  summary.report_file = c.out_dir / "pretrain.json";
  if (auto st = write_file_atomic(summary.report_file, report.dump(2) + "\n"); !st) return st.error();
  return summary;
}

}  // namespace pneumo
