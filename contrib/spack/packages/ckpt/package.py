# A Spack recipe for ckpt. UNTESTED: it was written without network access
# (no Spack, no download of the sources), so the url, checksum and the
# dependency versions below must be checked before use. Use it from a
# repository: `spack repo add contrib/spack` (repo.yaml is next to packages/).
#
#   spack install ckpt            # then: module load ckpt, or spack load ckpt

from spack.package import *


class Ckpt(CMakePackage):
    """Checkpoint/restart for long computations: libckpt (C, C++, Fortran,
    Python), transparent checkpointing of unmodified programs, and Slurm
    jobs that checkpoint before their limit and requeue."""

    homepage = "https://example.invalid/ckpt"  # TODO: the project's address
    git = "https://example.invalid/ckpt.git"   # TODO

    version("main", branch="main")

    variant("python", default=True, description="Build the ckpt Python package")

    depends_on("cmake@3.25:", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("zstd")
    depends_on("xxhash")
    depends_on("cli11", type="build")
    depends_on("python@3.9:", when="+python", type=("build", "run"))
    depends_on("py-pybind11", when="+python", type="build")
    depends_on("py-numpy", when="+python", type="run")
    conflicts("platform=darwin", msg="ckpt is Linux-only")
    conflicts("target=aarch64:", msg="transparent checkpointing is x86_64-only")

    def cmake_args(self):
        return [
            self.define("CKPT_BUILD_TESTS", False),
            self.define("CKPT_BUILD_BENCH", False),
            self.define_from_variant("CKPT_BUILD_PYTHON", "python"),
        ]

    def setup_run_environment(self, env):
        if self.spec.satisfies("+python"):
            py = self.spec["python"].version.up_to(2)
            env.prepend_path("PYTHONPATH", join_path(self.prefix, "lib", f"python{py}", "site-packages"))
