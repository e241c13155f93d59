// run_node: storage folders, queue, worklist, model workers, sender, and the SCP pool.
#include "pneumo/node/node.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <thread>

#include "node_internal.hpp"
#include "predict_adapter.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"
#include "pneumo/outputs/dicom_sr.hpp"
#include "pneumo/outputs/overlay.hpp"
#include "pneumo/outputs/prediction_record.hpp"

#ifndef PNEUMO_VERSION
#define PNEUMO_VERSION "0"
#endif

namespace pneumo {
namespace node_detail {

namespace fs = std::filesystem;

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

namespace {

// Why an image is not one the model is for; empty when it is.
std::string not_a_chest_reason(const DicomMeta& m) {
  const std::string modality = to_lower(m.modality);
  const std::string body = to_lower(m.body_part);
  if (modality != "cr" && modality != "dx" && modality != "ot" && !modality.empty()) {
    return "not a chest X-ray (Modality " + m.modality + ")";
  }
  if (!body.empty() && body.find("chest") == std::string::npos && body.find("thorax") == std::string::npos) {
    return "not a chest X-ray (BodyPartExamined " + m.body_part + ")";
  }
  if (m.frames != 1) return "multi-frame images are not chest radiographs";
  return "";
}

struct Loaded {
  Job job;
  DicomImage image;
};

// Writes SEG, SC and SR for one image, commits it in the queue and the worklist.
Status finish_one(Shared& s, const Loaded& item, const NodePrediction& pred, const ModelIdentity& model) {
  const fs::path source = s.config.storage / item.job.file;
  const fs::path dir = s.config.storage / "results" / item.job.sop_uid;
  if (auto st = ensure_directory(dir); !st) return st;
  SegOptions seg;
  seg.software_version = PNEUMO_VERSION;
  if (auto st = write_dicom_seg(dir / "seg.dcm", source, pred.mask, seg); !st) return st;
  OverlayOptions o;
  o.probability = pred.probability;
  o.positive = pred.positive;
  o.caption = "pneumo " + std::string(PNEUMO_VERSION) + ", not for primary diagnosis";
  ScOptions sc;
  sc.software_version = PNEUMO_VERSION;
  if (auto st = write_secondary_capture(dir / "sc.dcm", source, render_overlay(item.image.image, pred.mask, std::nullopt, o),
                                        sc);
      !st) {
    return st;
  }
  const DicomMeta& m = item.image.meta;
  const long long area_px = count_nonzero(pred.mask);
  SrFinding f;
  f.probability = std::clamp(pred.probability, 0.0f, 1.0f);
  f.positive = pred.positive;
  f.area_cm2 = mask_area_cm2(area_px, m.pixel_spacing_row_mm, m.pixel_spacing_col_mm);
  f.side = pred.positive ? affected_side(pred.mask, m.view_position) : AffectedSide::kNone;
  SrOptions sr;
  sr.algorithm = {"pneumo", PNEUMO_VERSION, model.name, model.sha256};
  if (auto st = write_ai_result_sr(dir / "sr.dcm", source, f, sr); !st) return st;

  nlohmann::json r = {{"probability", std::round(f.probability * 1e6) / 1e6},
                      {"positive", f.positive},
                      {"area_px", area_px},
                      {"area_cm2", f.area_cm2 ? nlohmann::json(*f.area_cm2) : nlohmann::json()},
                      {"side", side_name(f.side)},
                      {"seg", seg_uid_for_source(item.job.sop_uid)},
                      {"sc", sc_uid_for_source(item.job.sop_uid)},
                      {"sr", sr_uid_for_source(item.job.sop_uid)}};
  if (auto st = s.worklist->record_result(item.job.sop_uid, {f.probability, f.positive, f.area_cm2, side_name(f.side)});
      !st) {
    return st;
  }
  if (auto st = s.queue->processed(item.job.sop_uid, r.dump()); !st) return st;
  if (!s.config.destination) (void)s.queue->sent(item.job.sop_uid);  // nowhere to send: kept on disk
  spdlog::info("node: processed {}: p={:.3f} {}", item.job.sop_uid, f.probability,
               f.positive ? "SUSPECTED PNEUMOTHORAX" : "no finding");
  return ok_status();
}

void fail_job(Shared& s, const Job& job, const std::string& reason) {
  spdlog::warn("node: {} failed: {}", job.sop_uid, reason);
  (void)s.queue->failed(job.sop_uid, reason);
  (void)s.worklist->record_failure(job.sop_uid, reason);
}

void worker_loop(Shared& s, NodePredictor& predictor, const std::atomic<bool>& stop) {
  const ModelIdentity model = predictor.identity();
  while (!stop.load()) {
    auto jobs = s.queue->claim(std::max(1, s.config.batch));
    if (!jobs) {
      spdlog::error("node: {}", jobs.error().message);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (jobs->empty()) {
      std::unique_lock<std::mutex> lock(s.mutex);
      s.work_ready.wait_for(lock, std::chrono::milliseconds(500));
      continue;
    }
    std::vector<Loaded> items;
    for (auto& job : *jobs) {
      auto d = read_dicom(s.config.storage / job.file);
      if (!d) {
        // The message names the file (images/<SOP UID>.dcm), never patient data.
        fail_job(s, job, d.error().message);
        continue;
      }
      if (std::string why = not_a_chest_reason(d->meta); !why.empty()) {
        fail_job(s, job, why);
        continue;
      }
      items.push_back({std::move(job), std::move(d.value())});
    }
    if (items.empty()) continue;
    std::vector<Image8> images;
    for (const auto& it : items) images.push_back(it.image.image);
    auto preds = predictor.predict(images);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!preds) {
        fail_job(s, items[i].job, "model: " + preds.error().message);
        continue;
      }
      if (auto st = finish_one(s, items[i], preds->at(i), model); !st) fail_job(s, items[i].job, st.error().message);
    }
    s.wake_sender();
  }
}

void sender_loop(Shared& s, const std::atomic<bool>& stop) {
  const NodeConfig& c = s.config;
  while (!stop.load()) {
    auto due = s.queue->due_for_sending(now_seconds());
    if (!due || due->empty()) {
      std::unique_lock<std::mutex> lock(s.mutex);
      s.send_ready.wait_for(lock, std::chrono::milliseconds(500));
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& j : *due) {
      for (const char* f : {"seg.dcm", "sc.dcm", "sr.dcm"}) files.push_back(c.storage / "results" / j.sop_uid / f);
    }
    auto sent = send_files(c, *c.destination, files);
    for (std::size_t k = 0; k < due->size(); ++k) {
      const Job& j = due->at(k);
      std::string why;
      if (!sent) {
        why = sent.error().message;
      } else {
        for (int f = 0; f < 3; ++f) {
          const std::string& e = sent->at(k * 3 + f);
          if (!e.empty()) why += (why.empty() ? "" : "; ") + e;
        }
      }
      if (why.empty()) {
        (void)s.queue->sent(j.sop_uid);
        spdlog::info("node: sent SEG, SC and SR of {} to {}", j.sop_uid, c.destination->ae_title);
        continue;
      }
      const int attempt = j.send_attempts + 1;
      const double delay = std::min(c.retry_max_s, c.retry_initial_s * std::pow(2.0, std::min(attempt - 1, 20)));
      const bool give_up = c.max_send_attempts > 0 && attempt >= c.max_send_attempts;
      (void)s.queue->send_failed(j.sop_uid, now_seconds() + delay, why, give_up);
      if (give_up) {
        spdlog::error("node: giving up sending {} after {} attempts: {}", j.sop_uid, attempt, why);
      } else {
        spdlog::warn("node: sending {} failed (attempt {}), retry in {:.0f} s: {}", j.sop_uid, attempt, delay, why);
      }
    }
  }
}

}  // namespace
}  // namespace node_detail

Status run_node(const NodeConfig& config, const std::atomic<bool>& stop) {
  using namespace node_detail;
  if (config.storage.empty()) return fail(ErrorCode::kInvalidArgument, "node: --storage is required");
  if (config.port < 1 || config.port > 65535) return fail(ErrorCode::kInvalidArgument, "node: port must be 1..65535");
  if (config.ae_title.empty() || config.ae_title.size() > 16) {
    return fail(ErrorCode::kInvalidArgument, "node: AE title must be 1..16 characters");
  }
  if (config.workers < 1 || config.batch < 1) return fail(ErrorCode::kInvalidArgument, "node: workers and batch must be >= 1");
  for (const char* sub : {"incoming", "images", "results"}) {
    if (auto st = ensure_directory(config.storage / sub); !st) return st;
  }
  // Partial receipts were never acknowledged: the sender will send them again.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(config.storage / "incoming", ec)) fs::remove(e.path(), ec);

  auto queue = JobQueue::open(config.storage / "queue.db");
  if (!queue) return queue.error();
  auto worklist = Worklist::open(config.worklist.empty() ? config.storage / "worklist.db" : config.worklist);
  if (!worklist) return worklist.error();
  auto recovered = queue->recover();
  if (!recovered) return recovered.error();
  if (*recovered > 0) spdlog::warn("node: {} job(s) interrupted by a previous stop are queued again", *recovered);

  std::vector<std::string> models;
  for (const auto& m : config.models) models.push_back(m.string());
  if (models.empty()) {
    auto d = default_model_file();
    if (!d) return d.error();
    models.push_back(*d);
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = config.threads > 0 ? config.threads : std::max(1, cores / config.workers);
  std::vector<std::unique_ptr<NodePredictor>> predictors;
  for (int i = 0; i < config.workers; ++i) {
    auto p = NodePredictor::load(models, config.batch, threads);
    if (!p) return p.error();
    predictors.push_back(std::move(p.value()));
  }
  const ModelIdentity id = predictors.front()->identity();
  spdlog::info("node: model {} (sha256 {}), {} worker(s) x {} thread(s)", id.name, id.sha256.substr(0, 12),
               config.workers, threads);

  Shared shared;
  shared.config = config;
  shared.queue = &queue.value();
  shared.worklist = &worklist.value();
  std::atomic<bool> stop_all{false};
  std::vector<std::thread> threads_;
  for (auto& p : predictors) threads_.emplace_back([&, pp = p.get()] { worker_loop(shared, *pp, stop_all); });
  if (config.destination) threads_.emplace_back([&] { sender_loop(shared, stop_all); });

  Status st = run_scp_pool(shared, stop);
  stop_all.store(true);
  shared.wake_workers();
  shared.wake_sender();
  for (auto& t : threads_) t.join();
  spdlog::info("node: stopped");
  return st;
}

}  // namespace pneumo
