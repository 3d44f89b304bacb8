// The manual pages of the ckpt command, made by the build (`ckpt
// --man-pages DIR`, not listed) from the same declarations that --help
// prints: the command table, each command's options, their environment
// variables and footers. Nothing is written twice, so the two cannot drift.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "ckpt_version.h"
#include "cli/command.h"

namespace ckpt::cli {
namespace {

// Text for roff: backslashes doubled, a line may not start with . or '.
std::string roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    line_start = c == '\n';
  }
  return out;
}

// A footer without the pointer to the manual (this is the manual).
std::string body_of(const std::string& footer) {
  std::string out;
  size_t pos = 0;
  while (pos < footer.size()) {
    size_t nl = footer.find('\n', pos);
    if (nl == std::string::npos) nl = footer.size();
    std::string line = footer.substr(pos, nl - pos);
    if (line.rfind("Manual: ", 0) != 0 && line.rfind("Run 'ckpt help", 0) != 0) out += line + "\n";
    pos = nl + 1;
  }
  return out;
}

// Every setting, its flag and the modes that read it: the table of
// docs/transparent.md ("Settings"), kept in step by a test.
struct Setting {
  const char* env;
  const char* flag;
  const char* modes;
  const char* meaning;
};
const Setting kSettings[] = {
    {"CKPT_DIR", "--dir", "all", "the checkpoint directory (default ckpt.d)"},
    {"CKPT_INTERVAL", "--interval", "run, restart, sbatch, libckpt",
     "seconds between periodic checkpoints (0: none, the default)"},
    {"CKPT_KEEP", "--keep", "run, restart, libckpt", "complete images kept (default 2)"},
    {"CKPT_FULL_EVERY", "--full-every", "run, restart, libckpt",
     "a full image every N checkpoints, increments between (1: all full; default 8, "
     "libckpt's 1)"},
    {"CKPT_COMPRESS", "--compress", "run, restart, libckpt",
     "zstd level of images, 1 to 19 (0: off, the default)"},
    {"CKPT_SIGNAL", "--signal", "run, restart",
     "the signal to ckpt run that checkpoints and continues (default USR1)"},
    {"CKPT_STOP_SIGNAL", "--stop-signal", "run, restart",
     "the signal to ckpt run that checkpoints and stops with status 85 (default none)"},
    {"CKPT_QUIET", "--quiet", "run, restart, libckpt", "no progress display or notes"},
    {"CKPT_DEADLINE", "-", "libckpt", "unix time of the job's end (ckpt sbatch sets it)"},
    {"CKPT_MARGIN", "-", "libckpt", "seconds before the deadline to checkpoint"},
    {"CKPT_ASYNC", "-", "libckpt", "1: write images on a background thread"},
    {"CKPT_DIRECT", "-", "all", "0: never write images with O_DIRECT"},
};

std::string environment_roff() {
  std::string s;
  for (const Setting& x : kSettings)
    s += ".TP\n.B " + roff(x.env) + (x.flag[1] ? ", " + roff(x.flag) : std::string()) + "\n" +
         roff(x.meaning) + " (" + roff(x.modes) + ").\n";
  return s;
}

std::string header(const std::string& page, int section) {
  std::string up;
  for (char c : page) up += char(c >= 'a' && c <= 'z' ? c - 32 : c);
  return ".TH " + up + " " + std::to_string(section) +
         " \"\" \"ckpt " CKPT_VERSION_STRING "\" \"ckpt manual\"\n";
}

std::string option_entries(const CLI::App* sub, std::string* env) {
  std::string s;
  for (const CLI::Option* o : sub->get_options()) {
    if (!o->nonpositional() || o->get_name() == "--help") continue;
    std::string names = o->get_name(false, true);
    std::string value = o->get_type_size() == 0 ? "" : " " + o->get_type_name();
    s += ".TP\n.B " + roff(names) + roff(value) + "\n" + roff(o->get_description()) + "\n";
    if (!o->get_envname().empty()) {
      s += "(Also $" + o->get_envname() + ".)\n";
      *env += ".TP\n.B " + o->get_envname() + "\nAs " + roff(o->get_name()) + ".\n";
    }
  }
  return s;
}

std::string page_for(const Command& c, const CLI::App* sub) {
  std::string name = std::string("ckpt-") + c.name;
  std::string s = header(name, 1);
  s += ".SH NAME\n" + roff(name) + " \\- " + roff(c.summary) + "\n";
  s += ".SH SYNOPSIS\n.B ckpt " + roff(c.name) + "\n";
  if (c.raw_help) {
    // Options passed through to another program: the help text as it is.
    s += "[OPTIONS] [\\-\\-] PROGRAM [ARGS...]\n.SH DESCRIPTION\n.nf\n" + roff(c.raw_help()) +
         ".fi\n";
  } else {
    s += "[OPTIONS]";
    for (const CLI::Option* o : sub->get_options())
      if (!o->nonpositional())
        s += o->get_name(true) == "PROGRAM" ? " \\-\\- PROGRAM [ARGS...]"
             : o->get_required()            ? " " + roff(o->get_name(true))
                                            : " [" + roff(o->get_name(true)) + "...]";
    s += "\n.SH DESCRIPTION\n" + roff(c.summary) + ".\n";
    std::string body = body_of(sub->get_footer());
    if (!body.empty()) s += ".PP\n.nf\n" + roff(body) + ".fi\n";
    std::string env;
    s += ".SH OPTIONS\n" + option_entries(sub, &env);
    for (const CLI::Option* o : sub->get_options())
      if (!o->nonpositional())
        s += ".TP\n.B " + roff(o->get_name(true)) + "\n" + roff(o->get_description()) + "\n";
    s += ".TP\n.B \\-\\-help\nPrint the same summary of these options.\n";
    if (!env.empty()) s += ".SH ENVIRONMENT\n" + env;
  }
  s += ".SH EXIT STATUS\n0 on success, 1 when the operation failed, 2 for bad arguments; "
       "one line on standard error, starting \\(lqckpt:\\(rq, says why.\n";
  s += ".SH SEE ALSO\n.BR ckpt (1)\n";
  return s;
}

std::string main_page(const CLI::App& app) {
  std::string s = header("ckpt", 1);
  s += ".SH NAME\nckpt \\- save a computation, resume it later\n";
  s += ".SH SYNOPSIS\n.B ckpt\nCOMMAND [OPTIONS]\n.br\n.B ckpt run\n"
       "[OPTIONS] \\-\\- PROGRAM [ARGS...]\n";
  (void)app;
  s += ".SH DESCRIPTION\nckpt saves the state of a computation and resumes it later: a program "
       "that uses libckpt, an unmodified program run under \\fBckpt run\\fR, or a Slurm job "
       "that checkpoints before its time limit and requeues itself until it finishes.\n";
  s += ".SH COMMANDS\n";
  for (const Command& c : commands())
    s += ".TP\n.B " + roff(c.name) + "\n" + roff(c.summary) + ". See\n.BR ckpt-" + roff(c.name) +
         " (1).\n";
  s += ".SH ENVIRONMENT\nEvery option has an environment variable of the same name, the same "
       "in every mode; a flag wins over its variable.\n" +
       environment_roff();
  s += ".SH EXIT STATUS\n0 on success, 1 when the operation failed, 2 for bad arguments; "
       "one line on standard error, starting \\(lqckpt:\\(rq, says why. "
       "ckpt run and ckpt restart exit with the program's status, 128+N if a signal N "
       "killed it, and 85 when a checkpoint stopped it.\n";
  s += ".SH SEE ALSO\n";
  for (const Command& c : commands()) s += ".BR ckpt-" + roff(c.name) + " (1),\n";
  s += ".BR libckpt (3),\n.BR libckpt++ (3)\n";
  return s;
}

bool write(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  return bool(f);
}

}  // namespace

int write_man_pages(const CLI::App& app, const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);
  if (!write(dir + "/ckpt.1", main_page(app))) return fail("cannot write %s/ckpt.1", dir.c_str());
  for (const Command& c : commands()) {
    const CLI::App* sub = app.get_subcommand(c.name);
    std::string path = dir + "/ckpt-" + c.name + ".1";
    if (!write(path, page_for(c, sub))) return fail("cannot write %s", path.c_str());
  }
  return 0;
}

}  // namespace ckpt::cli
