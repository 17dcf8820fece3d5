"""Build hook: what goes next to the Python package.

wheel  libdbtoken.so inside the package, the wheel tagged for its platform (py3-none-<platform>:
       the Python code is version-independent, the library is not). Either prebuilt
       (`scripts/dist.sh python` sets DBTOKEN_WHEEL_LIB and DBTOKEN_WHEEL_PLATFORM: the
       manylinux and musllinux wheels), or built here from the Rust crate with cargo: from the
       sdist's rust/ directory (pip, where no wheel fits) or from the repository checkout.
sdist  the Rust crate as `cargo package` made it (DBTOKEN_SDIST_CRATE, set by
       `scripts/dist.sh python`) in rust/: only the sources the library builds from, its
       Cargo.lock, a manifest outside any workspace.
"""

import json
import os
import shutil
import subprocess

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CRATE_DIR = "rust"
RUSTUP_HINT = "install Rust with rustup (https://rustup.rs), open a new shell so cargo is on PATH, and retry"


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name == "sdist":
            self._sdist(build_data)
        elif self.target_name == "wheel":
            self._wheel(build_data)

    def _sdist(self, build_data):
        crate = os.environ.get("DBTOKEN_SDIST_CRATE")
        if not crate:
            raise RuntimeError(
                "dbtoken's sdist carries the Rust crate as `cargo package` makes it: build the sdist with "
                "`scripts/dist.sh python` (which sets DBTOKEN_SDIST_CRATE)"
            )
        if not os.path.isfile(os.path.join(crate, "Cargo.lock")):
            raise RuntimeError(f"DBTOKEN_SDIST_CRATE={crate} holds no Cargo.lock: not an unpacked `cargo package`")
        build_data["force_include"][crate] = CRATE_DIR

    def _wheel(self, build_data):
        lib = os.environ.get("DBTOKEN_WHEEL_LIB")
        platform = os.environ.get("DBTOKEN_WHEEL_PLATFORM")
        if lib or platform:
            if not lib or not platform:
                raise RuntimeError("DBTOKEN_WHEEL_LIB and DBTOKEN_WHEEL_PLATFORM go together (scripts/dist.sh python)")
            if not os.path.isfile(lib):
                raise RuntimeError(f"DBTOKEN_WHEEL_LIB={lib} is not a file")
        else:
            lib = self._cargo_build()
            platform = _this_platform()
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{platform}"
        build_data["force_include"][lib] = "dbtoken/libdbtoken.so"

    def _cargo_build(self):
        """Build libdbtoken.so with cargo (release profile, the locked dependency versions) and
        return its path, as cargo reports it."""
        manifest = next(
            (
                m
                for m in (
                    os.path.join(self.root, CRATE_DIR, "Cargo.toml"),  # the sdist
                    os.path.join(self.root, "..", "..", "Cargo.toml"),  # the repository
                )
                if os.path.isfile(m)
            ),
            None,
        )
        if manifest is None:
            raise RuntimeError(
                f"dbtoken: no Rust crate to build libdbtoken.so from (looked for {CRATE_DIR}/Cargo.toml "
                "and ../../Cargo.toml): install a wheel, or build from the sdist or the repository"
            )
        cargo = os.environ.get("CARGO") or shutil.which("cargo")
        if not cargo:
            raise RuntimeError(
                "dbtoken: no wheel fits this platform, so pip is building libdbtoken.so from source, which needs "
                f"Rust's cargo (Rust 1.85 or newer), and cargo was not found on PATH or in $CARGO: {RUSTUP_HINT}. "
                "(Or install on a platform with a wheel: Linux x86_64 or aarch64, glibc 2.17+ or musl 1.2+.)"
            )
        cmd = [
            cargo, "rustc", "--release", "--lib", "--locked", "--crate-type", "cdylib",
            "--manifest-path", os.path.abspath(manifest), "--message-format", "json-render-diagnostics",
        ]  # fmt: skip
        self.app.display_info(f"dbtoken: building libdbtoken.so: {' '.join(cmd)}")
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        except OSError as e:
            raise RuntimeError(f"dbtoken: cannot run cargo ({cargo}): {e}; {RUSTUP_HINT}") from e
        if run.returncode != 0:
            raise RuntimeError(f"dbtoken: `{' '.join(cmd)}` failed (exit {run.returncode}); its errors are above")
        for line in run.stdout.splitlines():
            msg = json.loads(line) if line.startswith("{") else {}
            if msg.get("reason") == "compiler-artifact" and "cdylib" in msg["target"]["kind"]:
                for f in msg["filenames"]:
                    if f.endswith(".so"):
                        return f
        raise RuntimeError(f"dbtoken: cargo reported no libdbtoken.so from `{' '.join(cmd)}`")


def _this_platform():
    """The platform tag of the running interpreter, without a manylinux/musllinux claim: the
    library just built links against this machine's libc, whatever its version (as
    setuptools' bdist_wheel tags a local build: linux_x86_64, ...)."""
    from packaging.tags import platform_tags  # hatchling's own dependency

    for tag in platform_tags():
        if "manylinux" not in tag and "musllinux" not in tag:
            return tag
    raise RuntimeError("dbtoken: no platform tag for this interpreter (packaging.tags)")
