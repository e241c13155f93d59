#include "predict_adapter.hpp"

#include <cstdlib>
#include <filesystem>

#include "pneumo/infer/predictor.hpp"

namespace pneumo::node_detail {
namespace {

namespace fs = std::filesystem;

class PredictorAdapter : public NodePredictor {
 public:
  explicit PredictorAdapter(Predictor p) : predictor_(std::move(p)) {}
  Result<std::vector<NodePrediction>> predict(const std::vector<Image8>& images) override {
    auto preds = predictor_.predict(images);
    if (!preds) return preds.error();
    std::vector<NodePrediction> out;
    out.reserve(preds->size());
    for (auto& p : *preds) out.push_back({p.image_probability, p.positive, std::move(p.mask)});
    return out;
  }
  ModelIdentity identity() const override {
    const auto& m = predictor_.models().front();
    return {m.path.filename().string(), m.sha256};
  }

 private:
  Predictor predictor_;
};

}  // namespace

Result<std::unique_ptr<NodePredictor>> NodePredictor::load(const std::vector<std::string>& model_files, int batch,
                                                           int threads) {
  PredictorOptions opt;
  for (const auto& m : model_files) opt.model_files.emplace_back(m);
  opt.batch = batch;
  opt.threads = threads;
  auto p = Predictor::load(opt);
  if (!p) return p.error();
  return std::unique_ptr<NodePredictor>(new PredictorAdapter(std::move(p.value())));
}

Result<std::string> default_model_file() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("PNEUMO_MODEL"); env && *env) candidates.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / ".." / "share" / "pneumo" / "pneumo-siim.pneumo");
    candidates.push_back(exe.parent_path() / ".." / ".." / ".." / "models" / "pneumo-siim.pneumo");
  }
  std::string looked;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) return c.lexically_normal().string();
    looked += (looked.empty() ? "" : ", ") + c.lexically_normal().string();
  }
  return fail(ErrorCode::kNotFound, "node: no model given and none found (looked at " + looked + "); pass --model");
}

}  // namespace pneumo::node_detail
