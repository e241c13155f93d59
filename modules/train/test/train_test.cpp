#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/model/network.hpp"
#include "pneumo/synth/synth.hpp"
#include "pneumo/train/distributed.hpp"
#include "pneumo/train/losses.hpp"
#include "pneumo/train/lr_schedule.hpp"
#include "pneumo/train/trainer.hpp"

extern char** environ;
namespace fs = std::filesystem;
using namespace pneumo;

TEST(LossSpec, ParsesWeightedCombos) {
  auto spec = parse_loss_spec("bce:3,dice:1,focal:4").value();
  EXPECT_EQ(spec.bce, 3);
  EXPECT_EQ(spec.dice, 1);
  EXPECT_EQ(spec.focal, 4);
  EXPECT_EQ(spec.lovasz, 0);
  auto plus = parse_loss_spec("focal+dice").value();
  EXPECT_EQ(plus.focal, 1);
  EXPECT_EQ(plus.dice, 1);
  EXPECT_EQ(parse_loss_spec(spec.to_string()).value(), spec);
  EXPECT_FALSE(parse_loss_spec("bce:x"));
  EXPECT_FALSE(parse_loss_spec("hinge"));
  EXPECT_FALSE(parse_loss_spec("bce:0"));
}

TEST(Losses, BceMatchesFormula) {
  auto logits = torch::tensor({2.0f, -1.0f, 0.5f, -3.0f}).reshape({1, 1, 2, 2});
  auto target = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).reshape({1, 1, 2, 2});
  double expected = 0;
  const float x[] = {2, -1, 0.5, -3}, y[] = {1, 0, 0, 1};
  for (int i = 0; i < 4; ++i) {
    double p = 1 / (1 + std::exp(-x[i]));
    expected += -(y[i] * std::log(p) + (1 - y[i]) * std::log(1 - p));
  }
  EXPECT_NEAR(bce_loss(logits, target).item<double>(), expected / 4, 1e-6);
  // Focal with gamma 0 is BCE.
  EXPECT_NEAR(focal_loss(logits, target, 0.0).item<double>(), expected / 4, 1e-6);
  // Focal with gamma 2 weighs each pixel by (1-p_t)^2 < 1.
  EXPECT_LT(focal_loss(logits, target, 2.0).item<double>(), expected / 4);
}

TEST(Losses, DiceAndLovaszAreNearZeroForConfidentCorrectPredictions) {
  auto target = torch::zeros({2, 1, 8, 8});
  target.index_put_({0, 0, torch::indexing::Slice(2, 6), torch::indexing::Slice(2, 6)}, 1.0);
  auto logits = (target * 2 - 1) * 20;  // margin far beyond 1 everywhere
  EXPECT_LT(soft_dice_loss(logits, target).item<double>(), 1e-3);
  EXPECT_NEAR(lovasz_hinge_loss(logits, target).item<double>(), 0.0, 1e-6);
  // Wrong everywhere: Dice loss near 1 on the positive image; Lovasz large.
  auto wrong = -logits;
  EXPECT_GT(soft_dice_loss(wrong, target).item<double>(), 0.45);
  EXPECT_GT(lovasz_hinge_loss(wrong, target).item<double>(), 10.0);
}

TEST(Losses, LovaszMatchesBruteForceOnTinyCase) {
  // For one image, the Lovasz hinge equals sum_i relu(e_(i)) * (J(i) - J(i-1)) over errors
  // sorted descending, J(i) = Jaccard loss of predicting the top-i errors wrong. Computed by hand:
  auto logits = torch::tensor({1.5f, -0.5f, 0.2f, -2.0f}).reshape({1, 1, 1, 4});
  auto target = torch::tensor({1.0f, 1.0f, 0.0f, 0.0f}).reshape({1, 1, 1, 4});
  // errors e = 1 - logit*sign: [-0.5, 1.5, 1.2, -1.0]; sorted desc: 1.5(gt1), 1.2(gt0), -0.5, -1.0
  // gts=2; after 1st (gt=1): I=1, U=2 -> J=0.5; after 2nd (gt=0): I=1, U=3 -> J=2/3
  // loss = 1.5*0.5 + 1.2*(2/3-0.5) = 0.75 + 0.2 = 0.95
  EXPECT_NEAR(lovasz_hinge_loss(logits, target).item<double>(), 0.95, 1e-5);
}

TEST(LrSchedule, CosineWarmRestartsAndWarmup) {
  LrScheduleConfig c;
  c.kind = "cosine";
  c.base_lr = 1.0;
  c.min_lr = 0.0;
  c.cosine_period = 4;
  LrSchedule s(c);
  EXPECT_NEAR(s.lr_at(0), 1.0, 1e-12);
  EXPECT_NEAR(s.lr_at(2), 0.5, 1e-12);
  EXPECT_NEAR(s.lr_at(4), 1.0, 1e-12);  // restart
  c.warmup_epochs = 2;
  LrSchedule w(c);
  EXPECT_NEAR(w.lr_at(0), 0.1, 1e-12);
  EXPECT_NEAR(w.lr_at(1), 0.55 * 0.5 * (1 + std::cos(M_PI / 4)), 1e-12);
}

TEST(LrSchedule, PlateauDividesAfterPatienceAndStateRoundTrips) {
  LrScheduleConfig c;
  c.kind = "plateau";
  c.base_lr = 1.0;
  c.plateau_patience = 1;
  LrSchedule s(c);
  s.on_epoch_end(0.5);  // best
  s.on_epoch_end(0.4);  // 1 bad epoch: within patience
  EXPECT_NEAR(s.lr_at(3), 1.0, 1e-12);
  s.on_epoch_end(0.4);  // 2 bad epochs: reduce
  EXPECT_NEAR(s.lr_at(4), 0.1, 1e-12);
  LrSchedule t(c);
  t.load_state(s.state());
  EXPECT_NEAR(t.lr_at(4), 0.1, 1e-12);
}

TEST(ModelSelection, AnEpochThatFindsNoLesionNeverBeatsOneThatDoes) {
  // Fold of 200 images, 40 positive: predicting nothing scores 160/200 = 0.8 Kaggle Dice.
  EpochMetrics empty;
  empty.val_dice = 0.8;
  empty.val_dice_positive = 0.0;
  empty.val_auc = 0.55;
  EpochMetrics finding;
  finding.val_dice = 0.79;
  finding.val_dice_positive = 0.32;
  finding.val_auc = 0.85;
  EXPECT_GT(selection_score(finding, false, 40), selection_score(empty, false, 40));
  EXPECT_DOUBLE_EQ(selection_score(finding, false, 40), 0.79);
  // Among epochs that find lesions, plain Kaggle Dice decides.
  EpochMetrics better = finding;
  better.val_dice = 0.83;
  EXPECT_GT(selection_score(better, false, 40), selection_score(finding, false, 40));
  // A validation set without positives: nothing to find, Dice as is.
  EXPECT_DOUBLE_EQ(selection_score(empty, false, 0), 0.8);
  // Classifiers are chosen by AUC.
  EXPECT_DOUBLE_EQ(selection_score(empty, true, 40), 0.55);
}

TEST(TrainConfig, JsonRoundTripAndUnknownKeys) {
  TrainConfig c = default_train_config();
  c.csv = "a.csv";
  c.epochs = 3;
  c.loss = parse_loss_spec("bce:3,dice:1,focal:4").value();
  c.augment = AugmentConfig::heavy();
  c.data_dirs = {"dicom-1k", "more"};
  c.train_only_dirs = {"jpg-positive"};
  c.holdout_folds = {0};
  c.fold = 1;
  auto back = train_config_from_json(to_json(c), "test");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value(), c);
  // Run folders written before data_dirs existed hold one "dicom_dir".
  auto old = to_json(c);
  old.erase("data_dirs");
  old["dicom_dir"] = "dicom";
  auto legacy = train_config_from_json(old, "old/config.json");
  ASSERT_TRUE(legacy) << legacy.error().message;
  EXPECT_EQ(legacy->data_dirs, std::vector<std::filesystem::path>{"dicom"});
  // Integers must be JSON integers that fit (fuzzing found 1e300 -> int undefined behaviour).
  for (const char* text : {R"({"epochs": 1e300})", R"({"epochs": 3.7})", R"({"holdout_folds": [0.5]})"}) {
    auto rejected = train_config_from_json(nlohmann::json::parse(text), "cfg.json");
    ASSERT_FALSE(rejected) << text;
    EXPECT_EQ(rejected.error().code, ErrorCode::kBadInput) << text;
    EXPECT_NE(rejected.error().message.find("cfg.json"), std::string::npos) << text;
  }
  // A held-out fold must exist and must not be the validation fold.
  for (int bad_fold : {1, 5, -1}) {
    auto k = to_json(c);
    k["holdout_folds"] = {bad_fold};
    auto rejected = train_config_from_json(k, "cfg.json");
    ASSERT_FALSE(rejected) << bad_fold;
    EXPECT_NE(rejected.error().message.find("holdout fold"), std::string::npos);
  }
  auto j = to_json(c);
  j["epohcs"] = 3;
  auto bad = train_config_from_json(j, "cfg.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("epohcs"), std::string::npos);
}

// --- Data-parallel: two processes on 127.0.0.1 against one process with the same global batch.

namespace {

constexpr int kSteps = 3;
constexpr int kGlobalBatch = 4;

std::shared_ptr<NetworkImpl> tiny_network() {
  ModelConfig cfg;
  cfg.arch = "unet";
  cfg.encoder = "mobilenet_v2";
  cfg.in_channels = 1;
  cfg.input_size = 32;
  cfg.normalisation = default_normalisation(1);
  torch::manual_seed(11);
  auto net = make_network(cfg).value();
  // BatchNorm in eval mode: batch statistics of a half batch would differ from the full batch.
  net->eval();
  return net;
}

std::pair<torch::Tensor, torch::Tensor> global_batch(int step) {
  torch::manual_seed(1000 + step);
  auto images = torch::rand({kGlobalBatch, 1, 32, 32});
  auto masks = (torch::rand({kGlobalBatch, 1, 32, 32}) > 0.7).to(torch::kFloat32);
  return {images, masks};
}

// Runs kSteps SGD steps on rows [first, first+count) of each global batch; returns per-step losses.
std::vector<double> run_steps(NetworkImpl& net, Distributed& dist, int first, int count) {
  torch::optim::SGD opt(net.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  dist.broadcast_parameters(net);
  std::vector<double> losses;
  LossSpec spec{.bce = 1.0, .dice = 1.0};
  for (int step = 0; step < kSteps; ++step) {
    auto [images, masks] = global_batch(step);
    images = images.slice(0, first, first + count);
    masks = masks.slice(0, first, first + count);
    opt.zero_grad();
    auto out = net.forward(normalise_input(net.config(), images));
    // Mean over the local batch; averaging gradients over equal shards gives the global mean.
    auto loss = bce_loss(out.mask_logits, masks);
    loss.backward();
    dist.average_gradients(net);
    opt.step();
    losses.push_back(dist.average(loss.item<double>()));
  }
  return losses;
}

std::vector<float> flatten_parameters(NetworkImpl& net) {
  std::vector<float> flat;
  for (auto& p : net.parameters()) {
    auto c = p.detach().contiguous().to(torch::kFloat32).view(-1);
    flat.insert(flat.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return flat;
}

}  // namespace

// Runs only inside the processes spawned by DataParallel.TwoProcessesMatchOneProcess.
TEST(DistributedWorker, Run) {
  const char* out = std::getenv("PNEUMO_DDP_OUT");
  if (!out) GTEST_SKIP() << "helper of DataParallel.TwoProcessesMatchOneProcess";
  auto dist = Distributed::from_env();
  ASSERT_TRUE(dist) << dist.error().message;
  auto net = tiny_network();
  const int per_rank = kGlobalBatch / dist->world_size();
  auto losses = run_steps(*net, *dist, dist->rank() * per_rank, per_rank);
  auto flat = flatten_parameters(*net);
  std::ofstream file(fs::path(out) / ("rank" + std::to_string(dist->rank()) + ".bin"), std::ios::binary);
  file.write(reinterpret_cast<const char*>(losses.data()), losses.size() * sizeof(double));
  file.write(reinterpret_cast<const char*>(flat.data()), flat.size() * sizeof(float));
}

TEST(DataParallel, TwoProcessesMatchOneProcess) {
  const fs::path dir = fs::temp_directory_path() / ("pneumo_ddp_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const int port = 20000 + ::getpid() % 20000;
  std::vector<pid_t> children;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    env_strings.push_back("PNEUMO_DDP_OUT=" + dir.string());
    env_strings.push_back("RANK=" + std::to_string(rank));
    env_strings.push_back("LOCAL_RANK=" + std::to_string(rank));
    env_strings.push_back("WORLD_SIZE=2");
    env_strings.push_back("MASTER_ADDR=127.0.0.1");
    env_strings.push_back("MASTER_PORT=" + std::to_string(port));
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string filter = "--gtest_filter=DistributedWorker.Run";
    char* argv[] = {const_cast<char*>(self.c_str()), filter.data(), nullptr};
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv, envp.data()), 0);
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker failed";
  }

  auto single = Distributed::single_process();
  auto net = tiny_network();
  auto losses = run_steps(*net, single, 0, kGlobalBatch);
  auto flat = flatten_parameters(*net);

  auto read = [&](int rank) {
    auto bytes = read_file(dir / ("rank" + std::to_string(rank) + ".bin")).value();
    EXPECT_EQ(bytes.size(), kSteps * sizeof(double) + flat.size() * sizeof(float));
    std::vector<double> l(kSteps);
    std::vector<float> w(flat.size());
    std::memcpy(l.data(), bytes.data(), kSteps * sizeof(double));
    std::memcpy(w.data(), bytes.data() + kSteps * sizeof(double), w.size() * sizeof(float));
    return std::make_pair(l, w);
  };
  auto [loss0, weights0] = read(0);
  auto [loss1, weights1] = read(1);
  EXPECT_EQ(weights0, weights1) << "ranks diverged";
  double max_diff = 0;
  for (std::size_t i = 0; i < flat.size(); ++i) max_diff = std::max<double>(max_diff, std::abs(weights0[i] - flat[i]));
  EXPECT_LT(max_diff, 1e-4) << "2-process weights differ from the 1-process run";
  for (int s = 0; s < kSteps; ++s) {
    EXPECT_NEAR(loss0[s], losses[s], 1e-5) << "step " << s;
    EXPECT_EQ(loss0[s], loss1[s]);
  }
  // The steps changed the weights at all (so the comparison means something).
  auto fresh = flatten_parameters(*tiny_network());
  double moved = 0;
  for (std::size_t i = 0; i < flat.size(); ++i) moved = std::max<double>(moved, std::abs(fresh[i] - flat[i]));
  EXPECT_GT(moved, 1e-3);
  fs::remove_all(dir);
}
