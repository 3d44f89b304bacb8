// DIR/job.state: its text survives a round trip, odd words included; a newer
// version and a foreign file are refused; unknown keys are skipped.
#include "control/job_state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/process.h"

namespace ckpt::control {
namespace {

TEST(JobStateFile, RoundTripAndRefusals) {
  JobState st;
  st.phase = Phase::kKilled;
  st.command = {"./prog", "two words", "line\nbreak", "back\\slash", ""};
  st.pid_ns = true;
  st.interval_s = 0.25;
  st.keep = 3;
  st.compress = 5;
  st.signal = 15;
  st.runs = 4;
  st.first_generation = 12;
  st.last_failure = "checkpoint failed: disk full";
  st.last_failure_time = 1700000000;
  test::TempDir t;
  ASSERT_TRUE(write_job_state(t.path(), st).is_ok());
  struct stat sb;
  ASSERT_EQ(::stat(job_state_path(t.path()).c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  JobState back;
  ASSERT_TRUE(read_job_state(t.path(), &back).is_ok());
  EXPECT_EQ(back.phase, Phase::kKilled);
  EXPECT_EQ(back.command, st.command);
  EXPECT_TRUE(back.pid_ns);
  EXPECT_EQ(back.interval_s, 0.25);
  EXPECT_EQ(back.keep, 3);
  EXPECT_EQ(back.compress, 5);
  EXPECT_EQ(back.signal, 15);
  EXPECT_EQ(back.runs, 4);
  EXPECT_EQ(back.first_generation, 12u);
  EXPECT_EQ(back.last_failure, st.last_failure);
  EXPECT_EQ(back.last_failure_time, 1700000000);

  JobState x;
  EXPECT_EQ(parse_job_state("ckpt-job-state 2\nphase=finished\n", &x).code(), Code::kUnsupported);
  EXPECT_EQ(parse_job_state("something else\n", &x).code(), Code::kCorrupt);
  EXPECT_EQ(parse_job_state("", &x).code(), Code::kCorrupt);
  ASSERT_TRUE(parse_job_state("ckpt-job-state 1\nfuture_key=1\nphase=stopped\n", &x).is_ok());
  EXPECT_EQ(x.phase, Phase::kStopped);
  test::TempDir empty;
  EXPECT_EQ(read_job_state(empty.path(), &x).code(), Code::kNotFound);
}

}  // namespace
}  // namespace ckpt::control
