"""Builds the extension ckpt._ckpt with the project's CMake (target _ckpt).

Configuration lives in pyproject.toml; this file only hooks CMake into
setuptools' build_ext, in a temporary build directory so that neither the
source tree nor a CMake build directory in it is touched.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out = self.get_ext_fullpath(ext.name)
        with tempfile.TemporaryDirectory(prefix="ckpt-py-") as tmp:
            subprocess.run(
                ["cmake", "-S", ROOT, "-B", tmp, "-DCMAKE_BUILD_TYPE=Release",
                 "-DCKPT_BUILD_TESTS=OFF", "-DCKPT_BUILD_BENCH=OFF",
                 f"-DPython3_EXECUTABLE={sys.executable}"],
                check=True, stdout=subprocess.DEVNULL)
            jobs = str(os.cpu_count() or 1)
            subprocess.run(["cmake", "--build", tmp, "--target", "_ckpt", "-j", jobs], check=True)
            built = os.path.join(tmp, "python", "ckpt", os.path.basename(out))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(built, out)


setup(ext_modules=[Extension("ckpt._ckpt", sources=[])], cmdclass={"build_ext": CMakeBuild})
