// run_prediction and the per-image pieces: records, rendered outputs, output names, model lookup.
#include "pneumo/infer/prediction.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <utility>

#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"
#include "pneumo/outputs/overlay.hpp"

#ifndef PNEUMO_VERSION
#define PNEUMO_VERSION "0"
#endif

namespace pneumo {
namespace {

namespace fs = std::filesystem;

constexpr const char* kShippedModelName = "pneumo-siim.pneumo";

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

Mask to_0_255(const Mask& m) {
  Mask out = m;
  for (auto& v : out.px) v = v ? 255 : 0;
  return out;
}

// One input on its way through: read, predicted, written.
struct Item {
  fs::path path;
  std::optional<DecodedInput> input;
  std::optional<Error> error;
};

// Files to predict on, in a stable order; problems with the paths themselves go to `errors`.
std::vector<fs::path> collect_inputs(const std::vector<fs::path>& inputs, std::vector<Error>& errors) {
  std::vector<fs::path> files;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    fs::path key = fs::weakly_canonical(p, ec);
    if (ec) key = p;
    if (!seen.insert(key).second) return;
    files.push_back(p);
  };
  for (const auto& p : inputs) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      auto listed = list_files(p, {".dcm", ".dicom", ".png", ".jpg", ".jpeg"}, /*recursive=*/true);
      if (!listed) {
        errors.push_back(listed.error());
        continue;
      }
      if (listed->empty()) {
        errors.push_back(fail(ErrorCode::kNotFound, p.string() + ": no .dcm, .png or .jpg files in this directory"));
      }
      for (const auto& f : listed.value()) add(f);
    } else if (fs::exists(p, ec)) {
      add(p);
    } else {
      errors.push_back(fail(ErrorCode::kNotFound, p.string() + ": no such file or directory"));
    }
  }
  return files;
}

void read_item(Item& item) {
  auto bytes = read_file_bytes(item.path);
  if (!bytes) {
    item.error = bytes.error();
    return;
  }
  auto in = decode_input(std::move(bytes.value()), item.path.string(), input_format_for_path(item.path),
                         item.path.stem().string());
  if (!in) {
    item.error = in.error();
    return;
  }
  in->source_file = item.path.filename().string();
  item.input = std::move(in.value());
}

// submission.csv holds one "ImageId,EncodedPixels" line per image.
bool csv_safe(const std::string& image_id) {
  return !image_id.empty() && image_id.find_first_of(",\r\n") == std::string::npos;
}

Status write_outputs(const fs::path& out, const std::string& stem, const RenderedOutputs& r) {
  const std::pair<const std::optional<Bytes>*, fs::path> files[] = {
      {&r.mask_png, out / "masks" / (stem + ".png")},
      {&r.overlay_png, out / "overlays" / (stem + ".png")},
      {&r.sc, out / "sc" / (stem + ".dcm")},
      {&r.seg, out / "seg" / (stem + ".dcm")},
  };
  for (const auto& [bytes, path] : files) {
    if (!*bytes) continue;
    if (auto st = write_file_atomic(path, **bytes); !st) return st;
  }
  return ok_status();
}

void remove_outputs(const fs::path& out, const std::string& stem) {
  std::error_code ec;
  for (const char* sub : {"masks", "overlays"}) fs::remove(out / sub / (stem + ".png"), ec);
  for (const char* sub : {"seg", "sc"}) fs::remove(out / sub / (stem + ".dcm"), ec);
}

}  // namespace

const char* pneumo_version() { return PNEUMO_VERSION; }

PredictionRecord make_prediction_record(const DecodedInput& input, const ImagePrediction& pred) {
  PredictionRecord r;
  r.image_id = input.image_id;
  r.source_file = input.source_file;
  r.rows = input.image.rows;
  r.cols = input.image.cols;
  r.view_position = input.meta ? input.meta->view_position : "";
  r.probability = pred.image_probability;  // the gate's when there is one: the score the decision thresholds
  if (pred.classifier_probability) {
    r.threshold = pred.gate_threshold;
    r.decided_by = "gate";
  }
  r.max_pixel_probability = pred.max_pixel_probability;
  r.positive = pred.positive;
  r.mask_area_px = count_nonzero(pred.mask);
  if (input.meta) {
    r.mask_area_cm2 = mask_area_cm2(r.mask_area_px, input.meta->pixel_spacing_row_mm, input.meta->pixel_spacing_col_mm);
  }
  r.side = affected_side(pred.mask, r.view_position);
  return r;
}

std::string prediction_rle(const ImagePrediction& prediction) { return encode_rle(prediction.mask, RleFormat::kRelative); }

Result<RenderedOutputs> render_outputs(const DecodedInput& input, const ImagePrediction& pred,
                                       const OutputSelection& selection) {
  RenderedOutputs r;
  const bool dicom = input.format == InputFormat::kDicom && input.source_bytes;
  const bool want_seg = selection.seg && dicom, want_sc = selection.sc && dicom;
  if (selection.mask_png) {
    auto png = encode_png(to_0_255(pred.mask));
    if (!png) return fail(png.error().code, input.source_name + ": mask PNG: " + png.error().message);
    r.mask_png = std::move(png.value());
  }
  if (selection.overlay_png || want_sc) {
    OverlayOptions o;
    o.probability = pred.image_probability;
    o.positive = pred.positive;
    const ImageRgb overlay = render_overlay(input.image, pred.mask, std::nullopt, o);
    if (selection.overlay_png) {
      auto png = encode_png_rgb(overlay);
      if (!png) return fail(png.error().code, input.source_name + ": overlay PNG: " + png.error().message);
      r.overlay_png = std::move(png.value());
    }
    if (want_sc) {
      ScOptions sc;
      sc.software_version = PNEUMO_VERSION;
      auto bytes = encode_secondary_capture(input.source_bytes->data(), input.source_bytes->size(), input.source_name,
                                            overlay, sc);
      if (!bytes) return bytes.error();
      r.sc = std::move(bytes.value());
    }
  }
  if (want_seg) {
    SegOptions seg;
    seg.software_version = PNEUMO_VERSION;
    auto bytes = encode_dicom_seg(input.source_bytes->data(), input.source_bytes->size(), input.source_name,
                                  pred.mask, seg);
    if (!bytes) return bytes.error();
    r.seg = std::move(bytes.value());
  }
  return r;
}

std::string output_stem(const std::string& image_id) {
  std::string s;
  for (char c : image_id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                    c == '-' || c == '_';
    s += ok ? c : '_';
  }
  if (s.empty() || s == "." || s == "..") s = "image";
  return s;
}

nlohmann::json prediction_header_json(const std::vector<ModelFileInfo>& models, const PostprocessParams& postprocess,
                                      bool tta, const std::string& device) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : models) {
    list.push_back({{"file", m.path.string()},
                    {"sha256", m.sha256},
                    {"arch", m.arch},
                    {"encoder", m.encoder},
                    {"input_size", m.input_size}});
  }
  return {{"pneumo_version", PNEUMO_VERSION},
          {"models", list},
          {"postprocess", to_json(postprocess)},
          {"tta", tta},
          {"device", device}};
}

Result<std::vector<fs::path>> default_model_files(const std::string& command) {
  std::vector<fs::path> candidates;
  const char* env = std::getenv("PNEUMO_MODEL");
  const bool env_set = env != nullptr && *env != '\0';
  if (env_set) candidates.emplace_back(env);
  const fs::path exe_dir = executable_dir();
  if (!exe_dir.empty()) {
    candidates.push_back(exe_dir / ".." / "share" / "pneumo" / kShippedModelName);
    candidates.push_back(exe_dir / ".." / ".." / ".." / "models" / kShippedModelName);
  }
  std::string looked = env_set ? "" : "$PNEUMO_MODEL (unset)";
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return std::vector<fs::path>{c.lexically_normal()};
    looked += (looked.empty() ? "" : ", ") + c.lexically_normal().string();
  }
  return fail(ErrorCode::kNotFound, command + ": no --model given and no model file found (looked at " + looked +
                                        "); train one with `pneumo train` and pass --model");
}

std::optional<fs::path> find_shipped_resource(const std::string& name, const std::string& checkout_path) {
  const fs::path exe_dir = executable_dir();
  if (exe_dir.empty()) return std::nullopt;
  for (const fs::path& c : {exe_dir / ".." / "share" / "pneumo" / name, exe_dir / ".." / ".." / ".." / checkout_path}) {
    std::error_code ec;
    if (fs::exists(c, ec)) return c.lexically_normal();
  }
  return std::nullopt;
}

Result<PredictRunReport> run_prediction(const PredictRunOptions& o) {
  PredictorOptions predictor_options = o.predictor;
  if (predictor_options.model_files.empty()) {
    auto found = default_model_files("predict");
    if (!found) return found.error();
    predictor_options.model_files = found.value();
  }
  if (predictor_options.batch < 1) return fail(ErrorCode::kInvalidArgument, "predict: --batch must be at least 1");

  PredictRunReport report;
  std::mutex report_mutex;
  nlohmann::json failed = nlohmann::json::array();
  auto skip = [&](const Error& e, const fs::path& file, bool during_progress) {
    std::lock_guard<std::mutex> lock(report_mutex);
    if (o.on_skip) o.on_skip(e, during_progress);
    report.failures.push_back(e);
    failed.push_back({{"file", file.filename().string()}, {"error", e.message}});
  };

  std::vector<Error> path_errors;
  const std::vector<fs::path> inputs = collect_inputs(o.inputs, path_errors);
  for (const auto& e : path_errors) skip(e, fs::path(), /*during_progress=*/false);
  if (inputs.empty()) {
    if (!report.failures.empty()) return report;
    return fail(ErrorCode::kNotFound, "predict: no input images");
  }

  auto loaded = Predictor::load(predictor_options);
  if (!loaded) return loaded.error();
  Predictor predictor = std::move(loaded.value());

  const fs::path& out = o.out_dir;
  std::vector<fs::path> dirs = {out};
  if (o.write_png) {
    dirs.push_back(out / "masks");
    dirs.push_back(out / "overlays");
  }
  if (o.write_seg) dirs.push_back(out / "seg");
  if (o.write_sc) dirs.push_back(out / "sc");
  for (const auto& d : dirs) {
    if (auto st = ensure_directory(d); !st) return st.error();
  }
  OutputSelection selection;
  selection.mask_png = selection.overlay_png = o.write_png;
  selection.seg = o.write_seg;
  selection.sc = o.write_sc;

  std::vector<PredictionRecord> records;
  std::vector<LabelCsvRow> rows;
  std::map<std::string, fs::path> ids;                               // ImageId -> first file
  std::map<std::string, std::pair<std::string, fs::path>> stems;    // output stem -> ImageId, file
  const int threads = std::max(1, o.threads);
  const std::size_t batch_size = static_cast<std::size_t>(predictor_options.batch);

  Progress bar("predict", static_cast<long long>(inputs.size()), o.progress);
  for (std::size_t start = 0; start < inputs.size(); start += batch_size) {
    const std::size_t end = std::min(inputs.size(), start + batch_size);
    std::vector<Item> batch(end - start);
    for (std::size_t i = start; i < end; ++i) batch[i - start].path = inputs[i];
    parallel_for(batch.size(), threads, [&](std::size_t i) { read_item(batch[i]); });

    std::vector<Item*> good;
    for (auto& item : batch) {
      if (!item.error) {
        const std::string& id = item.input->image_id;
        const std::string stem = output_stem(id);
        auto seen = ids.find(id);
        auto stem_owner = stems.find(stem);
        if (seen != ids.end()) {
          item.error = fail(ErrorCode::kBadInput, item.path.string() + ": ImageId " + id + " already predicted from " +
                                                      seen->second.string());
        } else if (!csv_safe(id)) {
          item.error = fail(ErrorCode::kBadInput, item.path.string() +
                                                      ": its ImageId (SOPInstanceUID) holds a comma or a line break, "
                                                      "which submission.csv cannot hold");
        } else if (stem_owner != stems.end()) {
          item.error = fail(ErrorCode::kBadInput, item.path.string() + ": ImageId " + id + " would be written as " +
                                                      stem + ".*, already used by ImageId " +
                                                      stem_owner->second.first + " from " +
                                                      stem_owner->second.second.string());
        } else {
          ids.emplace(id, item.path);
          stems.emplace(stem, std::make_pair(id, item.path));
        }
      }
      if (item.error) {
        skip(*item.error, item.path, /*during_progress=*/true);
        bar.tick();
      } else {
        good.push_back(&item);
      }
    }
    if (good.empty()) continue;
    std::vector<Image8> images;
    images.reserve(good.size());
    for (Item* item : good) images.push_back(item->input->image);
    auto preds = predictor.predict(images);
    if (!preds) {
      for (Item* item : good) {
        skip(fail(preds.error().code, item->path.string() + ": " + preds.error().message), item->path, true);
        bar.tick();
      }
      continue;
    }
    std::vector<std::optional<Error>> write_errors(good.size());
    parallel_for(good.size(), threads, [&](std::size_t i) {
      const DecodedInput& in = *good[i]->input;
      auto rendered = render_outputs(in, preds->at(i), selection);
      Status st = rendered ? write_outputs(out, output_stem(in.image_id), rendered.value()) : Status(rendered.error());
      if (!st) write_errors[i] = st.error();
      bar.tick();
    });
    for (std::size_t i = 0; i < good.size(); ++i) {
      const DecodedInput& in = *good[i]->input;
      if (write_errors[i]) {
        // A skipped image leaves no files behind: remove what was written before the failure.
        remove_outputs(out, output_stem(in.image_id));
        skip(*write_errors[i], good[i]->path, true);
        continue;
      }
      records.push_back(make_prediction_record(in, preds->at(i)));
      rows.push_back({in.image_id, prediction_rle(preds->at(i))});
    }
  }
  bar.finish();

  // Both files are attempted (each atomically) so that one failing never loses the other.
  Status csv = write_label_csv(out / "submission.csv", rows);
  nlohmann::json j;
  j["header"] = prediction_header_json(predictor.models(), predictor.postprocess(), predictor_options.hflip_tta,
                                       predictor_options.device);
  j["header"]["images"] = records.size();
  j["header"]["failed"] = report.failures.size();
  nlohmann::json predictions = nlohmann::json::array();
  for (const auto& r : records) predictions.push_back(to_json(r));
  j["predictions"] = predictions;
  j["failed"] = failed;
  Status json = write_file_atomic(out / "predictions.json", j.dump(2) + "\n");
  if (!csv) return csv.error();
  if (!json) return json.error();

  report.images = records.size();
  report.positives = static_cast<std::size_t>(
      std::count_if(records.begin(), records.end(), [](const auto& r) { return r.positive; }));
  report.wrote_outputs = true;
  return report;
}

}  // namespace pneumo
