"""setup.py - the recur Python module's package: pure Python over
librecur.so (ctypes), nothing to compile. `pip install ./python` builds it
with the setuptools already installed (Debian's python3-setuptools; there is
deliberately no pyproject.toml build-system table, which would make pip
fetch setuptools from the network). It puts librecur.so into the package
when it finds one: $RECUR_LIB (the file, or a directory holding it), else
the CMake build of this source tree (../build). Without one, the installed
module looks for the library at run time (recur/_lib.py)."""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_library():
    env = os.environ.get("RECUR_LIB")
    if env:
        path = os.path.join(env, "librecur.so") if os.path.isdir(env) else env
        if not os.path.exists(path):
            raise SystemExit("RECUR_LIB=%s: no such file" % env)
        return path
    path = os.path.join(HERE, "..", "build", "librecur.so")
    return path if os.path.exists(path) else None


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = find_library()
        if lib:
            # The real file (librecur.so is a link to librecur.so.4.0.0), under
            # the soname the loader knows it by.
            dest = os.path.join(self.build_lib, "recur", "librecur.so.4")
            shutil.copyfile(os.path.realpath(lib), dest)
            print("recur: bundling %s as %s" % (os.path.realpath(lib), dest))
        else:
            print("recur: no librecur.so found (set RECUR_LIB); it will be looked for at run time")


setup(
    name="recur",
    version="0.1.0",
    description="Recurrent neural networks (RNN, LSTM, GRU) for text: Python bindings of librecur",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=["recur"],
    package_data={"recur": ["librecur.so*"]},
    install_requires=[],  # none for the core
    extras_require={"torch": ["numpy", "torch"], "trace": ["numpy"]},  # to_torch/from_torch; Model.trace
    cmdclass={"build_py": BuildWithLibrary},
)
