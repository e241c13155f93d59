// Predictor: model files -> probability maps -> post-processed masks. The only LibTorch
// translation unit of the infer module (LibTorch headers are expensive to compile).
#include "pneumo/infer/predictor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "pneumo/core/parallel.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/model/model_file.hpp"
#include "pneumo/model/network.hpp"
#include "pneumo/transforms/resize.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pneumo {
namespace {

// First line of a LibTorch message, without its C++ backtrace.
std::string short_what(const std::exception& e) {
  std::string what = e.what();
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) what = ce->what_without_backtrace();
  if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
  return what;
}

Result<torch::Device> resolve_device(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      return fail(ErrorCode::kUnsupported, "device cuda: this LibTorch has no CUDA device available");
    }
    return torch::Device(torch::kCUDA);
  }
  return fail(ErrorCode::kInvalidArgument, fmt::format("device '{}': expected cpu, cuda or auto", name));
}

struct LoadedNet {
  LoadedModel model;
  int input_size = 0;
  bool classifier = false;
};

// oneDNN's CPU convolutions run on NHWC data without reordering every activation to and from its
// blocked layout: `pneumo predict` with the shipped MobileNetV2 U-Net on 47 real DICOMs went from
// 6.3-6.6 s to 5.2-5.3 s (docs/benchmarks.md). Only on the CPU: CUDA fp32 convolutions gain nothing.
bool channels_last_pays_off(const torch::Device& device) { return device.is_cpu(); }

void convert_conv_weights_to_channels_last(torch::nn::Module& network) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : network.parameters()) {
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

// Sigmoid outputs of one model on one batch, averaged over the TTA passes.
struct NetProbs {
  torch::Tensor mask;   // [N, 1, S, S] on the CPU, float, or undefined (classifier)
  torch::Tensor image;  // [N] on the CPU, float
};

}  // namespace

struct Predictor::Impl {
  PredictorOptions options;
  torch::Device device = torch::kCPU;
  int threads = 1;
  std::vector<LoadedNet> nets;  // in options.model_files order
  std::vector<ModelFileInfo> infos;
  PostprocessParams postprocess;
  int input_size = 0;  // first segmenter's
  bool has_classifier = false;

  // x01: [N, 1, S, S] in [0, 1] on the device, S = net.input_size.
  NetProbs run(const LoadedNet& net, const torch::Tensor& x01) const {
    const bool channels_last = channels_last_pays_off(device);
    auto forward = [&](const torch::Tensor& input) {
      torch::Tensor normalised = normalise_input(net.model.config, input);
      if (channels_last) normalised = normalised.contiguous(at::MemoryFormat::ChannelsLast);
      NetOutput out = net.model.network->forward(normalised);
      NetProbs p;
      if (out.mask_logits.defined()) p.mask = torch::sigmoid(out.mask_logits.to(torch::kFloat32));  // [N,1,S,S]
      p.image = torch::sigmoid(out.image_logits.to(torch::kFloat32).select(1, 0));                  // [N]
      return p;
    };
    NetProbs plain = forward(x01);
    if (options.hflip_tta) {
      NetProbs mirrored = forward(x01.flip({3}));
      if (plain.mask.defined()) plain.mask = (plain.mask + mirrored.mask.flip({3})) * 0.5;
      plain.image = (plain.image + mirrored.image) * 0.5;
    }
    if (plain.mask.defined()) plain.mask = plain.mask.to(torch::kCPU).contiguous();
    plain.image = plain.image.to(torch::kCPU).contiguous();
    return plain;
  }

  Result<std::vector<ImagePrediction>> predict_chunk(const std::vector<Image8>& images, std::size_t first,
                                                     std::size_t count) const {
    const int n = static_cast<int>(count);
    // One input tensor per distinct model size.
    std::map<int, torch::Tensor> inputs;
    for (const auto& net : nets) {
      const int s = net.input_size;
      if (inputs.count(s)) continue;
      const std::size_t pixels = static_cast<std::size_t>(s) * s;
      std::vector<float> buffer(count * pixels);
      parallel_for(count, threads, [&](std::size_t k) {
        const Image8 resized = resize_image(images[first + k], s, s);
        float* dst = buffer.data() + k * pixels;
        for (std::size_t p = 0; p < pixels; ++p) dst[p] = resized.px[p] / 255.0f;
      });
      inputs[s] = torch::from_blob(buffer.data(), {n, 1, s, s}, torch::kFloat32).to(device, /*non_blocking=*/false,
                                                                                    /*copy=*/true);
    }

    torch::Tensor mask_sum, segmenter_image_sum, classifier_sum;
    int segmenters = 0, classifiers = 0, joints = 0;
    for (const auto& net : nets) {
      NetProbs p = run(net, inputs.at(net.input_size));
      if (net.classifier) {
        classifier_sum = classifiers++ ? classifier_sum + p.image : p.image;
        continue;
      }
      torch::Tensor mask = p.mask;  // [N, 1, S, S]
      if (net.input_size != input_size) {
        mask = torch::nn::functional::interpolate(
            mask, torch::nn::functional::InterpolateFuncOptions()
                      .size(std::vector<int64_t>{input_size, input_size})
                      .mode(torch::kBilinear)
                      .align_corners(false));  // [N, 1, input_size, input_size]
      }
      mask_sum = segmenters ? mask_sum + mask : mask;
      segmenter_image_sum = segmenters ? segmenter_image_sum + p.image : p.image;
      ++segmenters;
      joints += net.model.config.arch == "joint" ? 1 : 0;
    }
    torch::Tensor mask_mean = (mask_sum / segmenters).contiguous();  // [N, 1, S, S], S = input_size
    torch::Tensor image_mean = (segmenter_image_sum / segmenters).contiguous();  // [N]
    torch::Tensor classifier_mean;
    if (classifiers) classifier_mean = (classifier_sum / classifiers).contiguous();  // [N]
    // Without a classifier, segmenters that all have a trained image head (joint) gate with it:
    // the segmenter's max pixel is a poor image-level decision.
    const bool gated = classifiers > 0 || joints == segmenters;

    const std::size_t pixels = static_cast<std::size_t>(input_size) * input_size;
    std::vector<ImagePrediction> out(count);
    parallel_for(count, threads, [&](std::size_t k) {
      ImagePrediction& pred = out[k];
      pred.probability_map = ProbMap(input_size, input_size);
      const float* src = mask_mean.data_ptr<float>() + k * pixels;
      std::copy(src, src + pixels, pred.probability_map.p.begin());
      pred.max_pixel_probability = *std::max_element(pred.probability_map.p.begin(), pred.probability_map.p.end());
      if (gated) {
        pred.classifier_probability =
            classifiers ? classifier_mean.data_ptr<float>()[k] : image_mean.data_ptr<float>()[k];
        pred.gate_threshold = postprocess.classifier_threshold;
      }
      pred.image_probability = pred.classifier_probability.value_or(image_mean.data_ptr<float>()[k]);
      const Mask at_model_size = apply_postprocess(pred.probability_map, pred.classifier_probability, postprocess);
      const Image8& source = images[first + k];
      pred.mask = resize_mask(at_model_size, source.rows, source.cols);
      pred.positive = count_nonzero(pred.mask) > 0;
    });
    return out;
  }
};

Predictor::Predictor() : impl_(std::make_unique<Impl>()) {}
Predictor::~Predictor() = default;
Predictor::Predictor(Predictor&&) noexcept = default;
Predictor& Predictor::operator=(Predictor&&) noexcept = default;

Result<Predictor> Predictor::load(const PredictorOptions& options) {
  if (options.model_files.empty()) {
    return fail(ErrorCode::kInvalidArgument, "predictor: no model file given (--model FILE)");
  }
  if (options.batch < 1) {
    return fail(ErrorCode::kInvalidArgument, fmt::format("predictor: batch {}: expected >= 1", options.batch));
  }
  auto device = resolve_device(options.device);
  if (!device) return device.error();
  Predictor predictor;
  Impl& impl = *predictor.impl_;
  impl.options = options;
  impl.device = device.value();
  impl.threads = options.threads > 0 ? options.threads : default_threads();
  torch::set_num_threads(impl.threads);

  const LoadedNet* first_segmenter = nullptr;
  for (const fs::path& path : options.model_files) {
    auto hash = sha256_file(path);
    if (!hash) return hash.error();
    auto loaded = load_model_file(path, impl.device);
    if (!loaded) return loaded.error();
    LoadedNet net;
    net.model = std::move(loaded.value());
    net.model.network->eval();
    // The Predictor never trains or saves its networks, so BatchNorm can live inside the convs.
    fold_batchnorm_for_inference(*net.model.network);
    if (channels_last_pays_off(impl.device)) convert_conv_weights_to_channels_last(*net.model.network);
    net.input_size = static_cast<int>(net.model.config.input_size);
    net.classifier = net.model.config.arch == "classifier";
    if (net.classifier && net.model.config.num_classes != 1) {
      return fail(ErrorCode::kUnsupported,
                  fmt::format("{}: classifier with {} classes; a pneumothorax gate has 1", path.string(),
                              net.model.config.num_classes));
    }
    ModelFileInfo info;
    info.path = path;
    info.sha256 = hash.value();
    info.arch = net.model.config.arch;
    info.encoder = net.model.config.encoder;
    info.input_size = net.input_size;
    info.extra = net.model.extra;
    impl.infos.push_back(std::move(info));
    impl.has_classifier = impl.has_classifier || net.classifier;
    impl.nets.push_back(std::move(net));
  }
  for (const auto& net : impl.nets) {
    if (!net.classifier) {
      first_segmenter = &net;
      break;
    }
  }
  if (first_segmenter == nullptr) {
    return fail(ErrorCode::kInvalidArgument,
                "predictor: every model file given is a classifier; at least one segmenter (unet, unetpp, joint) "
                "is required");
  }
  impl.input_size = first_segmenter->input_size;
  if (options.postprocess_override) {
    impl.postprocess = *options.postprocess_override;
  } else {
    impl.postprocess = first_segmenter->model.config.thresholds;
  }
  return predictor;
}

Result<std::vector<ImagePrediction>> Predictor::predict(const std::vector<Image8>& images) {
  for (std::size_t i = 0; i < images.size(); ++i) {
    const Image8& img = images[i];
    if (img.empty() || img.rows <= 0 || img.cols <= 0 ||
        img.px.size() != static_cast<std::size_t>(img.rows) * img.cols) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("predict: image {} is empty or its pixel count does not match {}x{}", i, img.rows,
                              img.cols));
    }
  }
  std::vector<ImagePrediction> out;
  out.reserve(images.size());
  try {
    torch::InferenceMode inference_mode;
    const std::size_t batch = static_cast<std::size_t>(impl_->options.batch);
    for (std::size_t first = 0; first < images.size(); first += batch) {
      auto chunk = impl_->predict_chunk(images, first, std::min(batch, images.size() - first));
      if (!chunk) return chunk.error();
      for (auto& p : chunk.value()) out.push_back(std::move(p));
    }
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "predict: LibTorch: " + short_what(e));
  }
  return out;
}

const PostprocessParams& Predictor::postprocess() const { return impl_->postprocess; }
void Predictor::set_postprocess(const PostprocessParams& params) { impl_->postprocess = params; }
int Predictor::input_size() const { return impl_->input_size; }
const std::vector<ModelFileInfo>& Predictor::models() const { return impl_->infos; }

Status store_postprocess_in_model_file(const fs::path& model_file, const PostprocessParams& params,
                                       const json& note) {
  auto loaded = load_model_file(model_file, torch::kCPU);
  if (!loaded) return loaded.error();
  ModelConfig config = loaded->config;
  config.thresholds = params;
  if (auto st = validate_model_config(config); !st) {
    return fail(st.error().code, model_file.string() + " thresholds: " + st.error().message);
  }
  json extra = loaded->extra.is_object() ? loaded->extra : json::object();
  extra["tuning"] = note;
  try {
    return save_model_file(model_file, config, *loaded->network, extra);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kIo, fmt::format("{}: cannot rewrite model file: {}", model_file.string(), short_what(e)));
  }
}

}  // namespace pneumo
