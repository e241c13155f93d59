#include "pneumo/worklist/worklist.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace pneumo {
namespace {

class WorklistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pneumo_worklist_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::vector<std::string> order(const std::vector<WorklistStudy>& s) {
  std::vector<std::string> out;
  for (const auto& w : s) out.push_back(w.study_uid);
  return out;
}

TEST_F(WorklistTest, SuspectedFirstLargerAreaFirstThenOldest) {
  auto wl = Worklist::open(dir_ / "wl.db");
  ASSERT_TRUE(wl.ok()) << wl.error().message;
  // received in this order (times), results below
  ASSERT_TRUE(wl->record_received({"S-neg-old", "i1", "2024-01-01T00:00:01Z"}).ok());
  ASSERT_TRUE(wl->record_received({"S-pos-small", "i2", "2024-01-01T00:00:02Z"}).ok());
  ASSERT_TRUE(wl->record_received({"S-pending", "i3", "2024-01-01T00:00:03Z"}).ok());
  ASSERT_TRUE(wl->record_received({"S-pos-large", "i4", "2024-01-01T00:00:04Z"}).ok());
  ASSERT_TRUE(wl->record_received({"S-failed", "i5", "2024-01-01T00:00:00Z"}).ok());
  ASSERT_TRUE(wl->record_received({"S-neg-new", "i6", "2024-01-01T00:00:06Z"}).ok());
  ASSERT_TRUE(wl->record_received({"S-pos-large", "i7", "2024-01-01T00:00:05Z"}).ok());  // 2nd image
  ASSERT_TRUE(wl->record_result("i1", {0.10, false, 0.0, "none"}).ok());
  ASSERT_TRUE(wl->record_result("i2", {0.70, true, 5.0, "left"}).ok());
  ASSERT_TRUE(wl->record_result("i4", {0.60, true, 80.0, "right"}).ok());
  ASSERT_TRUE(wl->record_result("i7", {0.20, false, 0.0, "none"}).ok());
  ASSERT_TRUE(wl->record_failure("i5", "not a chest X-ray (Modality CT)").ok());
  ASSERT_TRUE(wl->record_result("i6", {0.05, false, 0.0, "none"}).ok());

  auto s = wl->studies();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(order(*s), (std::vector<std::string>{"S-pos-large", "S-pos-small", "S-pending", "S-neg-old", "S-neg-new",
                                                 "S-failed"}));
  const WorklistStudy& top = s->at(0);
  EXPECT_EQ(top.rank, 1);
  EXPECT_EQ(top.images, 2);
  EXPECT_EQ(top.status, "done");
  EXPECT_DOUBLE_EQ(*top.probability, 0.60);
  EXPECT_TRUE(*top.suspected);
  EXPECT_DOUBLE_EQ(*top.area_cm2, 80.0);
  EXPECT_EQ(top.side, "right");
  EXPECT_EQ(top.received_at, "2024-01-01T00:00:04Z");
  EXPECT_EQ(top.sop_uids, (std::vector<std::string>{"i4", "i7"}));
  EXPECT_EQ(s->at(2).status, "pending");
  EXPECT_FALSE(s->at(2).suspected.has_value());
  EXPECT_EQ(s->back().status, "failed");
  EXPECT_EQ(s->back().error, "not a chest X-ray (Modality CT)");

  const auto j = worklist_to_json(*s);
  EXPECT_EQ(j["studies"][0]["study_uid"], "S-pos-large");
  EXPECT_TRUE(j["studies"][2]["probability"].is_null());
  const std::string table = worklist_to_table(*s);
  EXPECT_NE(table.find("S-pos-large"), std::string::npos);
  EXPECT_LT(table.find("S-pos-large"), table.find("S-neg-old"));
}

TEST_F(WorklistTest, SurvivesKillDashNineOfAWriter) {
  const fs::path db = dir_ / "wl.db";
  ASSERT_TRUE(Worklist::open(db).ok());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto wl = Worklist::open(db);
    for (int i = 0;; ++i) {
      (void)wl->record_received({"S" + std::to_string(i), "I" + std::to_string(i), "2024-01-01T00:00:00Z"});
      if (i == 50) {
        FILE* f = std::fopen((db.string() + ".ready").c_str(), "w");
        if (f) std::fclose(f);
      }
    }
  }
  while (!fs::exists(db.string() + ".ready")) ::usleep(1000);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto wl = Worklist::open(db);
  ASSERT_TRUE(wl.ok()) << wl.error().message;
  auto s = wl->studies();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_GE(s->size(), 51u);  // everything committed before the ready marker is there
}

TEST_F(WorklistTest, RepeatedReceiptKeepsTheFirstAndUnknownFileErrorsNameIt) {
  auto wl = Worklist::open(dir_ / "wl.db");
  ASSERT_TRUE(wl->record_received({"S", "I", "2024-01-01T00:00:01Z"}).ok());
  ASSERT_TRUE(wl->record_received({"S", "I", "2024-01-09T00:00:01Z"}).ok());
  auto s = wl->studies();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ(s->at(0).received_at, "2024-01-01T00:00:01Z");
  EXPECT_EQ(s->at(0).images, 1);

  auto bad = Worklist::open(dir_ / "no" / "such" / "dir" / "wl.db");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("wl.db"), std::string::npos);
}

}  // namespace
}  // namespace pneumo
