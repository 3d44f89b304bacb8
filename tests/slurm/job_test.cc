// The batch script's arguments, checks and text, without Slurm.
#include "slurm/job.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace ckpt::slurm {
namespace {

Status parse(std::vector<std::string> args, Request* r) { return parse_args(args, r); }

TEST(SlurmTime, Formats) {
  EXPECT_EQ(parse_time("5"), 300);
  EXPECT_EQ(parse_time("5:30"), 330);
  EXPECT_EQ(parse_time("1:00:10"), 3610);
  EXPECT_EQ(parse_time("2-0"), 2 * 86400);
  EXPECT_EQ(parse_time("1-2:3"), 86400 + 2 * 3600 + 180);
  EXPECT_EQ(parse_time("1-2:3:4"), 86400 + 2 * 3600 + 184);
  EXPECT_EQ(parse_time("infinite"), 0);
  EXPECT_EQ(parse_time(""), -1);
  EXPECT_EQ(parse_time("5m"), -1);
  EXPECT_EQ(parse_time("1:2:3:4"), -1);
  EXPECT_EQ(parse_time("-5"), -1);
}

TEST(SlurmArgs, SbatchAndCkptOptionsInAnyOrder) {
  Request r;
  ASSERT_TRUE(parse({"-t", "10", "--lead", "90", "--job-name=x", "-pdebug", "--app",
                     "--max-restarts=3", "--dir", "d", "--", "prog", "--lead", "7", "-t"},
                    &r)
                  .is_ok());
  EXPECT_EQ(r.time_limit, 600);
  EXPECT_EQ(r.lead, 90);
  EXPECT_TRUE(r.app);
  EXPECT_EQ(r.max_restarts, 3);
  EXPECT_EQ(r.dir, "d");
  EXPECT_EQ(r.job_name, "x");
  EXPECT_EQ(r.sbatch_args, (std::vector<std::string>{"-t", "10", "--job-name=x", "-pdebug"}));
  EXPECT_EQ(r.program, (std::vector<std::string>{"prog", "--lead", "7", "-t"}));
}

TEST(SlurmArgs, ProgramWithoutDashDash) {
  Request r;
  ASSERT_TRUE(parse({"--time=1:00", "./count", "-x"}, &r).is_ok());
  EXPECT_EQ(r.program, (std::vector<std::string>{"./count", "-x"}));
  EXPECT_EQ(r.time_limit, 60);
}

TEST(SlurmArgs, SubmitOnlyOptionsStayOutOfTheScript) {
  Request r;
  ASSERT_TRUE(
      parse({"-d", "afterok:12", "--hold", "--parsable", "-n", "1", "--", "p"}, &r).is_ok());
  EXPECT_EQ(r.submit_only_args, (std::vector<std::string>{"-d", "afterok:12", "--hold"}));
  EXPECT_EQ(r.sbatch_args, (std::vector<std::string>{"-n", "1"}));
}

TEST(SlurmArgs, Refusals) {
  auto refused = [](std::vector<std::string> a, const char* word) {
    Request r;
    Status s = parse(std::move(a), &r);
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(std::string(s.message()).find(word), std::string::npos) << s.message();
  };
  refused({"--bogus", "--", "p"}, "unknown option --bogus");
  refused({"-Z", "--", "p"}, "unknown option -Z");
  refused({"--signal=USR1@30", "--", "p"}, "--lead");
  refused({"--open-mode=truncate", "--", "p"}, "append");
  refused({"--wrap", "x"}, "--wrap");
  refused({"--array=1-3", "--", "p"}, "arrays");
  refused({"--no-requeue", "--", "p"}, "--chain");
  refused({"--time=soon", "--", "p"}, "not a Slurm time");
  refused({"--lead", "0", "--", "p"}, "--lead");
  refused({"--lead"}, "needs a value");
  refused({"-t"}, "needs a value");
  refused({"--chain=forever", "--", "p"}, "afterany or singleton");
  refused({"--time=5"}, "no program");
  Request r;
  EXPECT_TRUE(parse({"--chain", "--no-requeue", "--", "p"}, &r).is_ok());
  EXPECT_EQ(r.chain, Chain::kAfterAny);
}

TEST(SlurmCheck, LeadAgainstTheLimit) {
  std::string warning;
  Request r;
  r.time_limit = 60;
  r.lead = 60;
  Status s = check(&r, &warning);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(std::string(s.message()).find("not shorter than the time limit"), std::string::npos);
  r.lead = 40;
  EXPECT_TRUE(check(&r, &warning).is_ok());
  EXPECT_NE(warning.find("every 30 s"), std::string::npos);
  Request d;
  d.time_limit = 3600;
  EXPECT_TRUE(check(&d, &warning).is_ok());
  EXPECT_EQ(d.lead, 60);
  EXPECT_TRUE(warning.empty());
  Request s60;
  s60.time_limit = 60;
  EXPECT_TRUE(check(&s60, &warning).is_ok());
  EXPECT_EQ(s60.lead, 20);
}

// bash -n: the script parses.
void expect_valid_bash(const std::string& script) {
  char path[] = "/tmp/ckpt-script-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, script.data(), script.size()), ssize_t(script.size()));
  close(fd);
  std::string cmd = std::string("bash -n ") + path + " 2>&1";
  EXPECT_EQ(system(cmd.c_str()), 0) << script;
  unlink(path);
}

std::string script_for(std::vector<std::string> args) {
  Request r;
  EXPECT_TRUE(parse(std::move(args), &r).is_ok());
  std::string warning;
  EXPECT_TRUE(check(&r, &warning).is_ok());
  return batch_script(r, paths_for(r, "/j/d", "/opt/ckpt"), "test");
}

// An MPI program using libckpt's MPI mode: srun --mpi=TYPE, the rank count
// in the script (so every requeued run has the same), INT to every rank.
TEST(SlurmScript, MpiAppMode) {
  std::string s = script_for({"--time=10", "--app", "--mpi=pmix", "--ntasks=8", "--", "./heat"});
  expect_valid_bash(s);
  EXPECT_NE(s.find("#SBATCH --ntasks=8\n"), std::string::npos) << s;
  EXPECT_NE(s.find("srun --mpi=pmix ./heat 2> >(quiet_85) &\n"), std::string::npos) << s;
  EXPECT_NE(s.find("scancel -s INT \"$SLURM_JOB_ID\""), std::string::npos);
  Request r;
  ASSERT_TRUE(parse({"--mpi=pmix", "--", "./heat"}, &r).is_ok());
  std::string warning;
  Status st = check(&r, &warning);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(
      std::string(st.message()).find("--mpi needs --app: ckpt run cannot checkpoint MPI programs"),
      std::string::npos)
      << st.message();
  EXPECT_FALSE(parse({"--app", "--mpi=pm;x", "--", "./heat"}, &r).is_ok());
}

TEST(SlurmScript, RequeueAppMode) {
  std::string s = script_for({"--time=10", "--app", "-n", "1", "--", "./prog", "it's", "a b"});
  expect_valid_bash(s);
  EXPECT_NE(s.find("#SBATCH --signal=B:USR1@60\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --open-mode=append\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --output=/j/d/job.out\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --time=10\n#SBATCH -n 1\n"), std::string::npos);
  EXPECT_NE(s.find("scancel -s INT \"$SLURM_JOB_ID\""), std::string::npos);
  EXPECT_NE(s.find("scontrol requeue \"$SLURM_JOB_ID\""), std::string::npos);
  EXPECT_NE(s.find("run=$(( ${SLURM_RESTART_COUNT:-0} + 1 ))"), std::string::npos);
  EXPECT_NE(s.find("srun ./prog 'it'\\''s' 'a b' 2> >(quiet_85) &\n"), std::string::npos);
  // The requeue comes only after waiting for the step.
  EXPECT_LT(s.find("wait \"$step\""), s.find("scontrol requeue"));
}

TEST(SlurmScript, TransparentMode) {
  std::string s = script_for({"--time=10", "--interval", "3600", "--", "./prog"});
  expect_valid_bash(s);
  EXPECT_NE(
      s.find("srun \"$CKPT\" run --dir \"$CKPT_DIR\" --interval 3600 -- ./prog 2> >(quiet_85) &"),
      std::string::npos);
  EXPECT_NE(s.find("\"$CKPT\" checkpoint --dir \"$CKPT_DIR\" --stop >/dev/null"),
            std::string::npos);
  EXPECT_NE(s.find("CKPT=/opt/ckpt"), std::string::npos);
}

TEST(SlurmScript, Chains) {
  std::string a = script_for({"--chain", "--app", "--", "p"});
  expect_valid_bash(a);
  EXPECT_NE(a.find("--dependency=afterany:$SLURM_JOB_ID"), std::string::npos);
  EXPECT_EQ(a.find("scontrol requeue"), std::string::npos);
  EXPECT_NE(a.find("run=${CKPT_SLURM_RUN:-1}"), std::string::npos);
  std::string s = script_for({"--chain=singleton", "--job-name", "my job", "--app", "--", "p"});
  expect_valid_bash(s);
  EXPECT_NE(s.find("--dependency=singleton"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --job-name \"my job\""), std::string::npos);
}

TEST(SlurmState, Parse) {
  JobState st = parse_state(
      "job_id=12\nrun=2\nstate=requeued\nreason=checkpoint saved\n"
      "next_job_id=\nmax_restarts=5\nupdated=100\nlast_checkpoint=99\njunk\n");
  EXPECT_EQ(st.job_id, "12");
  EXPECT_EQ(st.run, 2);
  EXPECT_EQ(st.state, "requeued");
  EXPECT_EQ(st.reason, "checkpoint saved");
  EXPECT_EQ(st.max_restarts, 5);
  EXPECT_EQ(st.updated, 100);
  EXPECT_EQ(st.last_checkpoint, 99);
}

TEST(SlurmOutput, SbatchAndSqueue) {
  EXPECT_EQ(sbatch_job_id("1234\n"), "1234");
  EXPECT_EQ(sbatch_job_id("1234;cluster\n"), "1234");
  EXPECT_EQ(sbatch_job_id(""), "");
  EXPECT_EQ(sbatch_reason("sbatch: warning: x\nsbatch: error: Invalid partition name specified\n"),
            "Invalid partition name specified");
  EXPECT_EQ(sbatch_reason("\n \n"), "");
  std::string state, left;
  parse_queue_line("RUNNING 1:02:03\n", &state, &left);
  EXPECT_EQ(state, "RUNNING");
  EXPECT_EQ(left, "1:02:03");
  parse_queue_line("PENDING", &state, &left);
  EXPECT_EQ(state, "PENDING");
  EXPECT_EQ(left, "");
}

}  // namespace
}  // namespace ckpt::slurm
