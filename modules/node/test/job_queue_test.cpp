#include "pneumo/node/job_queue.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace pneumo {
namespace {

class JobQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pneumo_queue_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

Job job(const std::string& sop) { return {sop, "S", "images/" + sop + ".dcm", "2024-01-01T00:00:00Z"}; }

TEST_F(JobQueueTest, MovesThroughStatesInOrderAndIgnoresDuplicates) {
  auto q = JobQueue::open(dir_ / "q.db");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_TRUE(*q->enqueue(job("a")));
  EXPECT_TRUE(*q->enqueue(job("b")));
  EXPECT_TRUE(*q->enqueue(job("c")));
  EXPECT_FALSE(*q->enqueue(job("a")));
  auto c1 = q->claim(2);
  ASSERT_TRUE(c1.ok());
  ASSERT_EQ(c1->size(), 2u);
  EXPECT_EQ(c1->at(0).sop_uid, "a");
  EXPECT_EQ(c1->at(1).sop_uid, "b");
  auto c2 = q->claim(5);
  ASSERT_EQ(c2->size(), 1u);
  EXPECT_EQ(c2->at(0).sop_uid, "c");
  EXPECT_TRUE(q->claim(5)->empty());
  ASSERT_TRUE(q->processed("a", "{\"p\":1}").ok());
  EXPECT_FALSE(q->processed("a", "{}").ok());  // not running any more: a second commit is refused
  ASSERT_TRUE(q->failed("b", "not a chest X-ray").ok());
  auto due = q->due_for_sending(0.0);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ(due->at(0).result, "{\"p\":1}");
  ASSERT_TRUE(q->send_failed("a", 100.0, "PACS down", false).ok());
  EXPECT_TRUE(q->due_for_sending(50.0)->empty());
  ASSERT_EQ(q->due_for_sending(100.0)->size(), 1u);
  ASSERT_TRUE(q->sent("a").ok());
  auto all = q->all();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(all->at(0).state, "sent");
  EXPECT_EQ(all->at(0).processed_count, 1);
  EXPECT_EQ(all->at(0).send_attempts, 2);
  EXPECT_EQ(all->at(1).state, "failed");
  EXPECT_EQ(all->at(1).error, "not a chest X-ray");
  EXPECT_EQ(all->at(2).state, "running");
}

// A process claims jobs and is killed -9 before finishing them; the next process recovers them
// and each is processed exactly once.
TEST_F(JobQueueTest, KillDashNineMidBatchThenRecoverProcessesEachOnce) {
  const fs::path db = dir_ / "q.db";
  {
    auto q = JobQueue::open(db);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(*q->enqueue(job("j" + std::to_string(i))));
  }
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto q = JobQueue::open(db);
    auto a = q->claim(5);
    for (const auto& j : *a) (void)q->processed(j.sop_uid, "{}");
    (void)q->claim(5);  // claimed, never finished
    FILE* f = std::fopen((db.string() + ".ready").c_str(), "w");
    if (f) std::fclose(f);
    for (;;) ::pause();
  }
  while (!fs::exists(db.string() + ".ready")) ::usleep(1000);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);

  auto q = JobQueue::open(db);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q->recover(), 5);
  for (;;) {
    auto c = q->claim(3);
    ASSERT_TRUE(c.ok());
    if (c->empty()) break;
    for (const auto& j : *c) ASSERT_TRUE(q->processed(j.sop_uid, "{}").ok());
  }
  auto all = q->all();
  ASSERT_EQ(all->size(), 20u);
  for (const auto& j : *all) {
    EXPECT_EQ(j.state, "sending") << j.sop_uid;
    EXPECT_EQ(j.processed_count, 1) << j.sop_uid;
  }
}

}  // namespace
}  // namespace pneumo
