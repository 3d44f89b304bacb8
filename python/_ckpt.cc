// ckpt._ckpt: the pybind11 layer under python/ckpt/__init__.py.
//
// It wraps ckpt::Checkpointer with three kinds of entries:
//  - buffers (numpy arrays, bytearray, array.array...): registered by address,
//    zero-copy; the Py_buffer is held so the object can neither be freed nor
//    resized while registered;
//  - callbacks: a Python function returning bytes at checkpoint, and one
//    receiving bytes at restore (bytes values and pickled objects);
//  - the stop signals are handled here, not by libckpt's std::exit: Python
//    must unwind (SystemExit) so that its buffered stdout is flushed and its
//    finally blocks and atexit handlers run.
#include <ckpt/ckpt.h>
#include <pybind11/eval.h>
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <ckpt/ckpt.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "lib/triggers.h"  // stop_requested(), reraise_stop_signal(): the C++ exit path's pieces

namespace py = pybind11;

namespace {

[[noreturn]] void throw_status(const ckpt::Status& s) {
  // ckpt.Error carries the one-line message and the code's name.
  static py::handle cls = py::module_::import("ckpt._ckpt").attr("Error");
  PyErr_SetObject(cls.ptr(), py::make_tuple(s.message(), ckpt::code_name(s.code())).ptr());
  throw py::error_already_set();
}

void check(const ckpt::Status& s) {
  if (!s.is_ok()) throw_status(s);
}

// A Python exception inside a save/load callback becomes a Status (no
// exception crosses libckpt); its text is kept for the message.
ckpt::Status from_python_error(const char* what, const std::string& name,
                               const py::error_already_set& e) {
  return ckpt::Status::make(ckpt::Code::kInvalid, 0, "entry '%s': %s failed: %s", name.c_str(),
                            what, e.what());
}

class PyCheckpointer {
 public:
  explicit PyCheckpointer(const ckpt::Options& o) : ck_(o) {}

  void add_buffer(const std::string& name, py::buffer obj) {
    // Writable and C-contiguous: restore writes into it in place.
    auto view = std::make_unique<Py_buffer>();
    if (PyObject_GetBuffer(obj.ptr(), view.get(), PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
      PyErr_Clear();
      throw_status(ckpt::Status::make(ckpt::Code::kInvalid, 0,
                                      "entry '%s': a buffer must be writable and C-contiguous "
                                      "(numpy.ascontiguousarray makes a copy that is)",
                                      name.c_str()));
    }
    ckpt::Status s = ck_.add_buffer(name, view->buf, size_t(view->len));
    if (!s.is_ok()) {
      PyBuffer_Release(view.get());
      throw_status(s);
    }
    views_.push_back(std::move(view));
  }

  void add_callbacks(const std::string& name, py::function save, py::function load) {
    check(ck_.add_callbacks(
        name,
        [name, save](ckpt::Writer& w) -> ckpt::Status {
          try {
            py::bytes b = save();
            std::string_view v = b;
            return w.write(v.data(), v.size());
          } catch (py::error_already_set& e) {
            return from_python_error("saving", name, e);
          }
        },
        [name, load](ckpt::Reader& r) -> ckpt::Status {
          std::string data(r.remaining(), '\0');
          if (auto s = r.read(data.data(), data.size()); !s) return s;
          try {
            load(py::bytes(data));
            return ckpt::Status::ok();
          } catch (py::error_already_set& e) {
            return from_python_error("loading", name, e);
          }
        }));
  }

  py::dict restore() {
    ckpt::RestoreInfo info;
    ckpt::Status s = ck_.restore(&info);
    if (PyErr_Occurred()) throw py::error_already_set();
    check(s);
    py::dict d;
    d["restored"] = info.restored;
    d["generation"] = info.generation;
    d["path"] = info.path;
    d["skipped_damaged"] = info.skipped_damaged;
    return d;
  }

  void start() { check(ck_.start()); }

  // Returns normally, or raises: ckpt.Error when the checkpoint failed,
  // SystemExit(stop_exit_status) after a stop signal.
  // The stop flag is sticky, so it is read after the checkpoint: a stop
  // signal that arrives while it is taken is not lost.
  void checkpoint() {
    ckpt::Status s = ck_.checkpoint();
    if (exit_on_stop_ && ckpt::lib::stop_requested()) stop_after(s);
    check(s);
  }

  bool checkpoint_if_due() {
    if (!ck_.due()) return false;
    ckpt::Status s = ck_.checkpoint();
    if (exit_on_stop_ && ckpt::lib::stop_requested()) stop_after(s);
    if (!s.is_ok()) {
      // As in C++: a failed checkpoint at a safe point is reported, not fatal.
      if (!ck_.options().quiet) std::fprintf(stderr, "ckpt: checkpoint failed: %s\n", s.message());
      return false;
    }
    return true;
  }

  bool due() const { return ck_.due(); }
  void wait() { check(ck_.wait()); }
  uint64_t generation() const { return ck_.generation(); }
  std::string dir() const { return ck_.dir(); }

  bool exit_on_stop_ = true;
  int stop_exit_status_ = ckpt::kExitStopped;

 private:
  [[noreturn]] void stop_after(ckpt::Status s) {
    if (s.is_ok()) s = ck_.wait();
    bool quiet = ck_.options().quiet;
    if (s.is_ok()) {
      if (!quiet)
        std::fprintf(stderr, "ckpt: saved generation %llu in %s; stopping (exit status %d)\n",
                     (unsigned long long)ck_.generation(), ck_.dir().c_str(), stop_exit_status_);
      PyErr_SetObject(PyExc_SystemExit, py::int_(stop_exit_status_).ptr());
      throw py::error_already_set();
    }
    if (!quiet)
      std::fprintf(stderr, "ckpt: checkpoint failed, stopping without it: %s\n", s.message());
    // As if ckpt were not there: Ctrl-C raises KeyboardInterrupt, SIGTERM kills.
    if (ckpt::lib::stop_signal() == SIGINT) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
      throw py::error_already_set();
    }
    ckpt::lib::reraise_stop_signal();
  }

  ckpt::Checkpointer ck_;
  std::vector<std::unique_ptr<Py_buffer>> views_;

 public:
  ~PyCheckpointer() {
    // An asynchronous write may still read the buffers: let it end first.
    ckpt::Status s = ck_.wait();
    (void)s;
    for (auto& v : views_) PyBuffer_Release(v.get());
  }
};

}  // namespace

PYBIND11_MODULE(_ckpt, m) {
  m.doc() = "libckpt for Python; use the ckpt package, not this module.";
  py::exec(R"(
class Error(Exception):
    """A failed ckpt operation: args are (message, code name)."""
    def __str__(self):
        return self.args[0]
    @property
    def code(self):
        return self.args[1]
Error.__module__ = "ckpt"
)",
           m.attr("__dict__"));
  m.attr("EXIT_STOPPED") = ckpt::kExitStopped;
  m.attr("version") = ckpt_version();

  py::class_<PyCheckpointer>(m, "Checkpointer")
      // Options: the environment (CKPT_DIR, CKPT_INTERVAL...) over the
      // defaults, as in C++, then the keywords the program passed.
      .def(py::init([](py::kwargs kw) {
        ckpt::Options o = ckpt::options_from_env();
        bool exit_on_stop = o.exit_on_stop;
        int stop_exit_status = o.stop_exit_status;
        for (auto [k, v] : kw) {
          std::string key = py::str(k);
          if (v.is_none()) continue;
          if (key == "dir")
            o.dir = py::str(v);
          else if (key == "interval")
            o.interval_seconds = v.cast<double>();
          else if (key == "signals")
            o.signals = v.cast<std::vector<int>>();
          else if (key == "stop_signals")
            o.stop_signals = v.cast<std::vector<int>>();
          else if (key == "exit_on_stop")
            exit_on_stop = v.cast<bool>();
          else if (key == "stop_exit_status")
            stop_exit_status = v.cast<int>();
          else if (key == "deadline")
            o.deadline_unix = v.cast<int64_t>();
          else if (key == "margin")
            o.deadline_margin_seconds = v.cast<double>();
          else if (key == "find_slurm_deadline")
            o.find_slurm_deadline = v.cast<bool>();
          else if (key == "keep")
            o.keep = v.cast<int>();
          else if (key == "full_every") {
            o.full_every = v.cast<int>();
            if (o.full_every < 1) throw py::value_error("full_every must be at least 1");
          }
          else if (key == "compress") {
            int level = v.cast<int>();
            o.compression = level > 0 ? ckpt::Compression::kZstd : ckpt::Compression::kNone;
            if (level > 0) o.compression_level = level;
          } else if (key == "async_")
            o.async = v.cast<bool>();
          else if (key == "quiet")
            o.quiet = v.cast<bool>();
          else
            throw py::type_error("Checkpointer() got an unexpected keyword argument '" + key + "'");
        }
        o.exit_on_stop = false;  // Python exits by SystemExit, not std::exit (see the top)
        auto p = std::make_unique<PyCheckpointer>(o);
        p->exit_on_stop_ = exit_on_stop;
        p->stop_exit_status_ = stop_exit_status;
        return p;
      }))
      .def("add_buffer", &PyCheckpointer::add_buffer)
      .def("add_callbacks", &PyCheckpointer::add_callbacks)
      .def("restore", &PyCheckpointer::restore)
      .def("start", &PyCheckpointer::start)
      .def("checkpoint", &PyCheckpointer::checkpoint)
      .def("checkpoint_if_due", &PyCheckpointer::checkpoint_if_due)
      .def("due", &PyCheckpointer::due)
      .def("wait", &PyCheckpointer::wait)
      .def_property_readonly("generation", &PyCheckpointer::generation)
      .def_property_readonly("dir", &PyCheckpointer::dir);
}
