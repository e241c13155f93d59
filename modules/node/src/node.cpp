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
#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/infer/image_input.hpp"
#include "pneumo/infer/prediction.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/outputs/dicom_sr.hpp"
#include "pneumo/outputs/prediction_record.hpp"


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
  DecodedInput input;
};

struct ModelIdentity {
  std::string name;    // model file name
  std::string sha256;  // of the first model file
};

// SEG and SC from render_outputs and the SR from make_prediction_record: the same objects and
// decision `pneumo predict` and `pneumo serve` produce for this image. Then commits the result in
// the queue and the worklist.
Status finish_one(Shared& s, const Loaded& item, const ImagePrediction& prediction, const ModelIdentity& model) {
  const fs::path dir = s.config.storage / "results" / item.job.sop_uid;
  if (auto st = ensure_directory(dir); !st) return st;
  auto rendered = render_outputs(item.input, prediction, {.seg = true, .sc = true});
  if (!rendered) return rendered.error();
  if (!rendered->seg || !rendered->sc) {
    return fail(ErrorCode::kInternal, item.input.source_name + ": SEG/SC not rendered for a DICOM input");
  }
  const PredictionRecord record = make_prediction_record(item.input, prediction);
  SrFinding f;
  f.probability = std::clamp(record.probability, 0.0f, 1.0f);
  f.positive = record.positive;
  f.area_cm2 = record.mask_area_cm2;
  f.side = record.side;
  SrOptions sr;
  sr.algorithm = {"pneumo", pneumo_version(), model.name, model.sha256};
  const Bytes& source = *item.input.source_bytes;
  auto sr_bytes = encode_ai_result_sr(source.data(), source.size(), item.input.source_name, f, sr);
  if (!sr_bytes) return sr_bytes.error();
  if (auto st = write_file_atomic(dir / "seg.dcm", *rendered->seg); !st) return st;
  if (auto st = write_file_atomic(dir / "sc.dcm", *rendered->sc); !st) return st;
  if (auto st = write_file_atomic(dir / "sr.dcm", *sr_bytes); !st) return st;

  nlohmann::json r = to_json(record);
  r.erase("source_file");
  r["seg"] = seg_uid_for_source(item.job.sop_uid);
  r["sc"] = sc_uid_for_source(item.job.sop_uid);
  r["sr"] = sr_uid_for_source(item.job.sop_uid);
  if (auto st = s.worklist->record_result(item.job.sop_uid,
                                          {f.probability, f.positive, f.area_cm2, side_name(f.side)});
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

void worker_loop(Shared& s, Predictor& predictor, const std::atomic<bool>& stop) {
  const ModelFileInfo& first = predictor.models().front();
  const ModelIdentity model{first.path.filename().string(), first.sha256};
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
      // Messages name the file (images/<SOP UID>.dcm), never patient data.
      auto bytes = read_file_bytes(s.config.storage / job.file);
      if (!bytes) {
        fail_job(s, job, bytes.error().message);
        continue;
      }
      auto d = decode_input(std::move(*bytes), job.file, InputFormat::kDicom, job.sop_uid);
      if (!d) {
        fail_job(s, job, d.error().message);
        continue;
      }
      if (std::string why = not_a_chest_reason(*d->meta); !why.empty()) {
        fail_job(s, job, why);
        continue;
      }
      items.push_back({std::move(job), std::move(d.value())});
    }
    if (items.empty()) continue;
    std::vector<Image8> images;
    for (const auto& it : items) images.push_back(it.input.image);
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

  PredictorOptions options;
  options.model_files = config.models;
  if (options.model_files.empty()) {
    auto d = default_model_files("node");
    if (!d) return d.error();
    options.model_files = std::move(d.value());
  }
  options.batch = config.batch;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = config.threads > 0 ? config.threads : std::max(1, cores / config.workers);
  options.threads = threads;
  // A Predictor serves one thread at a time: one per worker.
  std::vector<std::unique_ptr<Predictor>> predictors;
  for (int i = 0; i < config.workers; ++i) {
    auto p = Predictor::load(options);
    if (!p) return p.error();
    predictors.push_back(std::make_unique<Predictor>(std::move(p.value())));
  }
  const ModelFileInfo& id = predictors.front()->models().front();
  spdlog::info("node: model {} (sha256 {}), {} worker(s) x {} thread(s)", id.path.filename().string(),
               id.sha256.substr(0, 12), config.workers, threads);

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
