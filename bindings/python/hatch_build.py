"""Wheel build hook: put the prebuilt libdbtoken.so into the package and tag the wheel for its
platform (py3-none-<platform>: the Python code is version-independent, the library is not)."""

import os

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        lib = os.environ.get("DBTOKEN_WHEEL_LIB")
        platform = os.environ.get("DBTOKEN_WHEEL_PLATFORM")
        if not lib or not platform:
            raise RuntimeError(
                "dbtoken's wheel carries a prebuilt libdbtoken.so: build it with `scripts/dist.sh python` "
                "(which sets DBTOKEN_WHEEL_LIB and DBTOKEN_WHEEL_PLATFORM)"
            )
        if not os.path.isfile(lib):
            raise RuntimeError(f"DBTOKEN_WHEEL_LIB={lib} is not a file")
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{platform}"
        build_data["force_include"][lib] = "dbtoken/libdbtoken.so"
