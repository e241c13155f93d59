// End to end through the real binary, as the README runs it: synth -> train (tiny) -> eval --fold 0
// -> tune --fold 0 (dry run, then for real) -> eval again (the tuned thresholds load back) ->
// train --hard-examples with eval's list. A few seconds (one thread per command).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dataset/folds.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace pneumo;

namespace {

const fs::path kBinary = PNEUMO_CLI_BINARY;  // a build dependency of this test: missing is a failure

class CliEvalTuneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << "pneumo binary not built at " << kBinary;
    dir_ = fs::temp_directory_path() / ("pneumo_infer_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure() && !dir_.empty()) fs::remove_all(dir_);
  }

  // Runs `pneumo <args>`; returns the exit code. The output goes to a log shown on failure.
  int run(const std::string& args) {
    const fs::path log = dir_ / "log.txt";
    const std::string cmd = kBinary.string() + " --threads 1 -q " + args + " > " + log.string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    auto output = read_file(log);
    last_output_ = output ? output.value() : "";
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  json read_json(const fs::path& path) {
    auto text = read_file(path);
    EXPECT_TRUE(text) << path;
    return text ? json::parse(text.value()) : json();
  }

  fs::path dir_;
  std::string last_output_;
};

std::string data_args(const fs::path& d) {
  return " --data " + (d / "data" / "dicom").string() + " --csv " + (d / "data" / "train-rle.csv").string() +
         " --cache-dir " + (d / "cache").string();  // hermetic: nothing under ~/.cache
}

TEST_F(CliEvalTuneTest, SynthTrainEvalTune) {
  ASSERT_EQ(run("synth --out " + (dir_ / "data").string() + " --count 24 --seed 3 --size 128"), 0) << last_output_;
  ASSERT_EQ(run("train" + data_args(dir_) + " --size 64 --epochs 1 --max-batches 2 --batch 4 --workers 1 --out " +
                (dir_ / "run").string()),
            0)
      << last_output_;
  const fs::path model = dir_ / "run" / "model.pneumo";
  ASSERT_TRUE(fs::exists(model)) << last_output_;

  // eval --fold 0: what training validated on.
  const fs::path eval_dir = dir_ / "eval";
  ASSERT_EQ(run("eval --model " + model.string() + data_args(dir_) + " --fold 0 --out " + eval_dir.string()), 0)
      << last_output_;
  EXPECT_NE(last_output_.find("mean Dice"), std::string::npos) << last_output_;
  EXPECT_NE(last_output_.find("AUC"), std::string::npos) << last_output_;
  const json e = read_json(eval_dir / "eval.json");
  auto folds = read_folds_csv(dir_ / "run" / "folds.csv");
  ASSERT_TRUE(folds) << folds.error().message;
  long long fold0 = 0, fold0_positive = 0;
  for (const auto& f : folds.value()) {
    if (f.fold != 0) continue;
    ++fold0;
    fold0_positive += f.positive ? 1 : 0;
  }
  ASSERT_GT(fold0, 0);
  EXPECT_EQ(e["n_images"].get<long long>(), fold0);
  EXPECT_EQ(e["n_positive"].get<long long>(), fold0_positive);
  EXPECT_EQ(e["scoring_size"], 64);
  const json& c = e["confusion"];
  EXPECT_EQ(c["tp"].get<long long>() + c["fp"].get<long long>() + c["tn"].get<long long>() + c["fn"].get<long long>(),
            fold0);
  for (const char* key : {"mean_dice", "iou", "accuracy", "precision", "recall", "specificity", "f1",
                          "mean_dice_positive", "empty_baseline_dice", "average_precision"}) {
    ASSERT_TRUE(e.contains(key)) << key;
    const double v = e[key].get<double>();
    EXPECT_GE(v, 0.0) << key;
    EXPECT_LE(v, 1.0) << key;
  }
  ASSERT_TRUE(e.contains("auc"));
  if (!e["auc"].is_null()) {
    EXPECT_GE(e["auc"].get<double>(), 0.0);
    EXPECT_LE(e["auc"].get<double>(), 1.0);
  }
  EXPECT_DOUBLE_EQ(e["empty_baseline_dice"].get<double>(), static_cast<double>(fold0 - fold0_positive) / fold0);
  // mean_dice recomputed from the per-image areas with the Kaggle rule.
  ASSERT_EQ(e["images"].size(), static_cast<std::size_t>(fold0));
  double sum = 0;
  for (const auto& im : e["images"]) {
    const double a = im["truth_area"].get<double>(), b = im["predicted_area"].get<double>();
    const double both = im["intersection"].get<double>();
    sum += (a == 0 && b == 0) ? 1.0 : 2.0 * both / (a + b);
    EXPECT_EQ(im["truth_positive"].get<bool>(), a > 0);
  }
  EXPECT_NEAR(e["mean_dice"].get<double>(), sum / fold0, 1e-9);
  ASSERT_EQ(e["models"].size(), 1u);
  EXPECT_EQ(e["models"][0]["sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(fs::exists(eval_dir / "report.md"));
  EXPECT_TRUE(fs::exists(eval_dir / "threshold_sweep.png") || !e["warnings"].empty());
  EXPECT_TRUE(fs::exists(eval_dir / "dice_histogram.png") || !e["warnings"].empty());
  EXPECT_TRUE(fs::exists(eval_dir / "confusion.png") || !e["warnings"].empty());
  EXPECT_TRUE(fs::is_directory(eval_dir / "gallery" / "fp"));
  EXPECT_TRUE(fs::is_directory(eval_dir / "gallery" / "fn"));
  EXPECT_TRUE(fs::is_directory(eval_dir / "gallery" / "lowest"));
  auto hard = read_file(eval_dir / "hard_examples.csv");
  ASSERT_TRUE(hard);
  EXPECT_EQ(split(hard.value(), '\n')[0], "ImageId,reason,dice");

  // A fold that does not exist is a usage error.
  EXPECT_EQ(run("eval --model " + model.string() + data_args(dir_) + " --fold 9 --out " + (dir_ / "bad").string()), 2)
      << last_output_;

  // tune --dry-run leaves the model file alone.
  const std::string before = read_file(model).value();
  ASSERT_EQ(run("tune --model " + model.string() + data_args(dir_) + " --fold 0 --dry-run"), 0) << last_output_;
  EXPECT_EQ(read_file(model).value(), before);

  // tune for real; the parameters it reports are what the model file now holds.
  const fs::path tune_dir = dir_ / "tune";
  ASSERT_EQ(run("tune --model " + model.string() + data_args(dir_) + " --fold 0 --out " + tune_dir.string()), 0)
      << last_output_;
  EXPECT_NE(last_output_.find("best:"), std::string::npos) << last_output_;
  const json t = read_json(tune_dir / "tune.json");
  EXPECT_GE(t["dice_after"].get<double>(), t["dice_before"].get<double>());
  EXPECT_EQ(t["images"].get<long long>(), fold0);
  if (t["improved"].get<bool>()) {
    EXPECT_EQ(t["written_to"].get<std::string>(), model.string());
    EXPECT_NE(read_file(model).value(), before);
  }
  const fs::path eval2 = dir_ / "eval2";
  ASSERT_EQ(run("eval --model " + model.string() + data_args(dir_) + " --fold 0 --out " + eval2.string()), 0)
      << last_output_;
  const json e2 = read_json(eval2 / "eval.json");
  EXPECT_EQ(e2["postprocess"], t["best"]);
  EXPECT_NEAR(e2["mean_dice"].get<double>(), t["dice_after"].get<double>(), 1e-9);

  // train accepts eval's hard-example list.
  ASSERT_EQ(run("train" + data_args(dir_) + " --size 64 --epochs 1 --max-batches 1 --batch 4 --workers 1 " +
                "--hard-examples " + (eval_dir / "hard_examples.csv").string() + " --out " + (dir_ / "run2").string()),
            0)
      << last_output_;
}

}  // namespace
