"""setup.py - only to put librecur.so into the package when it is built:
from $RECUR_LIB (the file, or a directory holding it), else from the CMake
build of this source tree (../build). Without one, the installed module
looks for the library at run time (recur/_lib.py). Everything else is in
pyproject.toml."""

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
            # The real file (librecur.so is a link to librecur.so.0.1.0), under
            # the soname the loader knows it by.
            dest = os.path.join(self.build_lib, "recur", "librecur.so.0")
            shutil.copyfile(os.path.realpath(lib), dest)
            print("recur: bundling %s as %s" % (os.path.realpath(lib), dest))
        else:
            print("recur: no librecur.so found (set RECUR_LIB); it will be looked for at run time")


setup(cmdclass={"build_py": BuildWithLibrary})
