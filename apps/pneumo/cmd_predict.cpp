// pneumo predict: DICOM/PNG/JPEG files -> Predictor -> submission.csv, predictions.json, mask and
// overlay PNGs, DICOM SEG and Secondary Capture. Bad inputs are reported one line each and skipped.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <system_error>

#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"
#include "pneumo/outputs/overlay.hpp"
#include "pneumo/outputs/prediction_record.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

namespace fs = std::filesystem;

constexpr const char* kShippedModelName = "pneumo-siim.pneumo";

struct PredictFlags {
  std::vector<std::string> models, inputs;
  std::string out, device = "cpu";
  int batch = 4;
  bool tta = false, no_seg = false, no_sc = false, no_png = false;
};

struct InputFile {
  fs::path path;
  bool is_dicom = true;
};

// One image on its way through: read, predicted, written.
struct Item {
  InputFile input;
  std::optional<DicomMeta> meta;  // DICOM only
  Image8 image;
  std::string image_id;
  std::optional<Error> error;
};

bool is_plain_image(const fs::path& p) {
  const std::string ext = to_lower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Output files are named after the ImageId; keep them plain file names whatever the id holds.
std::string file_stem_for(const std::string& image_id) {
  std::string s;
  for (char c : image_id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                    c == '-' || c == '_';
    s += ok ? c : '_';
  }
  if (s.empty() || s == "." || s == "..") s = "image";
  return s;
}

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// --model not given: $PNEUMO_MODEL, <exe dir>/../share/pneumo/, then the source tree's models/
// (<exe dir>/../../../models/ for a build directory inside the checkout).
Result<std::vector<fs::path>> default_model_files() {
  std::vector<fs::path> candidates;
  const char* env = std::getenv("PNEUMO_MODEL");
  const bool env_set = env != nullptr && *env != '\0';
  if (env_set) candidates.emplace_back(env);
  const fs::path exe_dir = executable_dir();
  if (!exe_dir.empty()) {
    candidates.push_back(exe_dir / ".." / "share" / "pneumo" / kShippedModelName);
    candidates.push_back(exe_dir / ".." / ".." / ".." / "models" / kShippedModelName);
  }
#ifdef PNEUMO_SOURCE_DIR
  candidates.push_back(fs::path(PNEUMO_SOURCE_DIR) / "models" / kShippedModelName);
#endif
  std::string looked = env_set ? "" : "$PNEUMO_MODEL (unset)";
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return std::vector<fs::path>{c.lexically_normal()};
    looked += (looked.empty() ? "" : ", ") + c.lexically_normal().string();
  }
  return fail(ErrorCode::kNotFound,
              "predict: no --model given and no model file found (looked at " + looked +
                  "); train one with `pneumo train` and pass --model");
}

// Files to predict on, in a stable order; problems with the paths themselves go to `errors`.
std::vector<InputFile> collect_inputs(const std::vector<std::string>& inputs, std::vector<Error>& errors) {
  std::vector<InputFile> files;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    fs::path key = fs::weakly_canonical(p, ec);
    if (ec) key = p;
    if (!seen.insert(key).second) return;
    files.push_back({p, !is_plain_image(p)});
  };
  for (const auto& in : inputs) {
    const fs::path p(in);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      auto listed = list_files(p, {".dcm", ".dicom", ".png", ".jpg", ".jpeg"}, /*recursive=*/true);
      if (!listed) {
        errors.push_back(listed.error());
        continue;
      }
      if (listed->empty()) {
        errors.push_back(fail(ErrorCode::kNotFound, in + ": no .dcm, .png or .jpg files in this directory"));
      }
      for (const auto& f : listed.value()) add(f);
    } else if (fs::exists(p, ec)) {
      add(p);
    } else {
      errors.push_back(fail(ErrorCode::kNotFound, in + ": no such file or directory"));
    }
  }
  return files;
}

void read_item(Item& item) {
  if (item.input.is_dicom) {
    auto d = read_dicom(item.input.path);
    if (!d) {
      item.error = d.error();
      return;
    }
    item.meta = std::move(d->meta);
    item.image = std::move(d->image);
    item.image_id = item.meta->sop_instance_uid.empty() ? item.input.path.stem().string() : item.meta->sop_instance_uid;
  } else {
    auto img = read_png_gray(item.input.path);
    if (!img) {
      item.error = img.error();
      return;
    }
    item.image = std::move(img.value());
    item.image_id = item.input.path.stem().string();
  }
  if (item.image.empty()) item.error = fail(ErrorCode::kBadInput, item.input.path.string() + ": empty image");
}

Mask to_0_255(const Mask& m) {
  Mask out = m;
  for (auto& v : out.px) v = v ? 255 : 0;
  return out;
}

// Writes one image's files; returns the first failure.
Status write_item_outputs(const Item& item, const ImagePrediction& pred, const fs::path& out, const PredictFlags& f) {
  const std::string stem = file_stem_for(item.image_id);
  if (!f.no_png) {
    if (auto st = write_png(out / "masks" / (stem + ".png"), to_0_255(pred.mask)); !st) return st;
    OverlayOptions o;
    o.probability = pred.image_probability;
    o.positive = pred.positive;
    const ImageRgb overlay = render_overlay(item.image, pred.mask, std::nullopt, o);
    if (auto st = write_png_rgb(out / "overlays" / (stem + ".png"), overlay); !st) return st;
    if (item.input.is_dicom && !f.no_sc) {
      ScOptions sc;
      sc.software_version = PNEUMO_VERSION;
      if (auto st = write_secondary_capture(out / "sc" / (stem + ".dcm"), item.input.path, overlay, sc); !st) {
        return st;
      }
    }
  } else if (item.input.is_dicom && !f.no_sc) {
    OverlayOptions o;
    o.probability = pred.image_probability;
    o.positive = pred.positive;
    ScOptions sc;
    sc.software_version = PNEUMO_VERSION;
    const ImageRgb overlay = render_overlay(item.image, pred.mask, std::nullopt, o);
    if (auto st = write_secondary_capture(out / "sc" / (stem + ".dcm"), item.input.path, overlay, sc); !st) return st;
  }
  if (item.input.is_dicom && !f.no_seg) {
    SegOptions seg;
    seg.software_version = PNEUMO_VERSION;
    if (auto st = write_dicom_seg(out / "seg" / (stem + ".dcm"), item.input.path, pred.mask, seg); !st) return st;
  }
  return ok_status();
}

PredictionRecord make_record(const Item& item, const ImagePrediction& pred) {
  PredictionRecord r;
  r.image_id = item.image_id;
  r.source_file = item.input.path.filename().string();
  r.rows = item.image.rows;
  r.cols = item.image.cols;
  r.view_position = item.meta ? item.meta->view_position : "";
  r.probability = pred.image_probability;  // the gate's when there is one: the score the decision thresholds
  if (pred.classifier_probability) {
    r.threshold = pred.gate_threshold;
    r.decided_by = "gate";
  }
  r.max_pixel_probability = pred.max_pixel_probability;
  r.positive = pred.positive;
  r.mask_area_px = count_nonzero(pred.mask);
  if (item.meta) {
    r.mask_area_cm2 = mask_area_cm2(r.mask_area_px, item.meta->pixel_spacing_row_mm, item.meta->pixel_spacing_col_mm);
  }
  r.side = affected_side(pred.mask, r.view_position);
  return r;
}

nlohmann::json header_json(const Predictor& predictor, const PredictFlags& f) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : predictor.models()) {
    models.push_back({{"file", m.path.string()},
                      {"sha256", m.sha256},
                      {"arch", m.arch},
                      {"encoder", m.encoder},
                      {"input_size", m.input_size}});
  }
  return {{"pneumo_version", PNEUMO_VERSION},
          {"models", models},
          {"postprocess", to_json(predictor.postprocess())},
          {"tta", f.tta},
          {"device", f.device}};
}

int run_predict(const PredictFlags& f) {
  const bool quiet = global_options().quiet;
  std::vector<fs::path> model_files(f.models.begin(), f.models.end());
  if (model_files.empty()) {
    auto found = default_model_files();
    if (!found) return report_error(found.error());
    model_files = found.value();
  }
  if (f.batch < 1) return report_error(fail(ErrorCode::kInvalidArgument, "predict: --batch must be at least 1"));

  std::vector<Error> failures;
  std::vector<InputFile> inputs = collect_inputs(f.inputs, failures);
  for (const auto& e : failures) std::fprintf(stderr, "pneumo: skipped: %s\n", e.message.c_str());
  if (inputs.empty()) {
    if (!failures.empty()) return exit_code_for(failures.front().code);
    return report_error(fail(ErrorCode::kNotFound, "predict: no input images"));
  }

  PredictorOptions options;
  options.model_files = model_files;
  options.device = f.device;
  options.threads = resolved_threads();
  options.batch = f.batch;
  options.hflip_tta = f.tta;
  auto loaded = Predictor::load(options);
  if (!loaded) return report_error(loaded.error());
  Predictor predictor = std::move(loaded.value());

  const fs::path out(f.out);
  std::vector<fs::path> dirs = {out};
  if (!f.no_png) {
    dirs.push_back(out / "masks");
    dirs.push_back(out / "overlays");
  }
  if (!f.no_seg) dirs.push_back(out / "seg");
  if (!f.no_sc) dirs.push_back(out / "sc");
  for (const auto& d : dirs) {
    if (auto st = ensure_directory(d); !st) return report_error(st.error());
  }

  std::vector<PredictionRecord> records;
  std::vector<LabelCsvRow> rows;
  nlohmann::json failed = nlohmann::json::array();
  std::map<std::string, fs::path> ids;  // ImageId -> first file, to catch duplicates
  std::mutex report_mutex;
  auto report_skip = [&](const Error& e, const fs::path& file) {
    std::lock_guard<std::mutex> lock(report_mutex);
    std::fprintf(stderr, "%spneumo: skipped: %s\n", quiet ? "" : "\n", e.message.c_str());
    failures.push_back(e);
    failed.push_back({{"file", file.filename().string()}, {"error", e.message}});
  };
  for (const auto& e : failures) failed.push_back({{"file", ""}, {"error", e.message}});

  Progress bar("predict", static_cast<long long>(inputs.size()), !quiet);
  const int threads = resolved_threads();
  for (std::size_t start = 0; start < inputs.size(); start += static_cast<std::size_t>(f.batch)) {
    const std::size_t end = std::min(inputs.size(), start + static_cast<std::size_t>(f.batch));
    std::vector<Item> batch(end - start);
    for (std::size_t i = start; i < end; ++i) batch[i - start].input = inputs[i];
    parallel_for(batch.size(), threads, [&](std::size_t i) { read_item(batch[i]); });

    std::vector<Item*> good;
    for (auto& item : batch) {
      if (!item.error) {
        auto [it, inserted] = ids.emplace(item.image_id, item.input.path);
        if (!inserted) {
          item.error = fail(ErrorCode::kBadInput, item.input.path.string() + ": ImageId " + item.image_id +
                                                      " already predicted from " + it->second.string());
        }
      }
      if (item.error) {
        report_skip(*item.error, item.input.path);
        bar.tick();
      } else {
        good.push_back(&item);
      }
    }
    if (good.empty()) continue;
    std::vector<Image8> images;
    images.reserve(good.size());
    for (Item* item : good) images.push_back(item->image);
    auto preds = predictor.predict(images);
    if (!preds) {
      for (Item* item : good) {
        report_skip(fail(preds.error().code, item->input.path.string() + ": " + preds.error().message), item->input.path);
        bar.tick();
      }
      continue;
    }
    std::vector<std::optional<Error>> write_errors(good.size());
    parallel_for(good.size(), threads, [&](std::size_t i) {
      auto st = write_item_outputs(*good[i], preds->at(i), out, f);
      if (!st) write_errors[i] = st.error();
      bar.tick();
    });
    for (std::size_t i = 0; i < good.size(); ++i) {
      if (write_errors[i]) {
        // A skipped image leaves no files behind: remove what was written before the failure.
        const std::string stem = file_stem_for(good[i]->image_id);
        std::error_code ec;
        for (const char* sub : {"masks", "overlays"}) fs::remove(out / sub / (stem + ".png"), ec);
        for (const char* sub : {"seg", "sc"}) fs::remove(out / sub / (stem + ".dcm"), ec);
        report_skip(*write_errors[i], good[i]->input.path);
        continue;
      }
      records.push_back(make_record(*good[i], preds->at(i)));
      rows.push_back({good[i]->image_id, encode_rle(preds->at(i).mask, RleFormat::kRelative)});
    }
  }
  bar.finish();

  if (auto st = write_label_csv(out / "submission.csv", rows); !st) return report_error(st.error());
  nlohmann::json j;
  j["header"] = header_json(predictor, f);
  j["header"]["images"] = records.size();
  j["header"]["failed"] = failures.size();
  nlohmann::json predictions = nlohmann::json::array();
  for (const auto& r : records) predictions.push_back(to_json(r));
  j["predictions"] = predictions;
  j["failed"] = failed;
  if (auto st = write_file_atomic(out / "predictions.json", j.dump(2) + "\n"); !st) return report_error(st.error());

  const auto positives = std::count_if(records.begin(), records.end(), [](const auto& r) { return r.positive; });
  std::printf("predict: %zu images (%ld positive), %zu failed; wrote %s/submission.csv and predictions.json\n",
              records.size(), static_cast<long>(positives), failures.size(), out.string().c_str());
  if (records.empty()) return failures.empty() ? kExitInternal : exit_code_for(failures.front().code);
  return failures.empty() ? kExitOk : kExitPartial;
}

}  // namespace

void add_predict_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<PredictFlags>();
  CLI::App* cmd = app.add_subcommand(
      "predict",
      "Predict pneumothorax masks for DICOM (or PNG/JPEG) images: submission.csv (SIIM format), predictions.json, "
      "masks/ and overlays/ PNGs, DICOM SEG (seg/) and Secondary Capture overlays (sc/) in the source study. "
      "Unreadable inputs are reported and skipped (exit code 7).");
  cmd->add_option("--model", f->models,
                  "Model file(s): several segmenters are averaged, a classifier gates (default: $PNEUMO_MODEL, "
                  "then the shipped models/pneumo-siim.pneumo)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", f->inputs, "DICOM/PNG/JPEG files or directories (searched recursively)")->required();
  cmd->add_option("--out", f->out, "Output directory")->required();
  cmd->add_flag("--tta", f->tta, "Average with the horizontally flipped image");
  cmd->add_option("--batch", f->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", f->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_flag("--no-seg", f->no_seg, "Do not write DICOM SEG files");
  cmd->add_flag("--no-sc", f->no_sc, "Do not write DICOM Secondary Capture overlays");
  cmd->add_flag("--no-png", f->no_png, "Do not write mask and overlay PNGs");
  cmd->callback([f, &action] { action = [f] { return run_predict(*f); }; });
}

#else

void add_predict_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("predict", "Predict masks for DICOM images (needs a build with LibTorch)");
  // Keep the usual flags here (not handed up to the main app, which would reject them as a usage
  // error) so that the user sees why predict is unavailable.
  cmd->allow_extras();
  cmd->fallthrough(false);
  cmd->callback([&action] {
    action = [] {
      return report_error(fail(ErrorCode::kUnsupported,
                               "predict: this pneumo was built without LibTorch; install libtorch-dev and rebuild"));
    };
  });
}

#endif

}  // namespace pneumo::cli
