"""Builds the optional C twins: the per-document loops (mongoarchive/_hot_c.c), the
Extended JSON converter of ``cat`` (mongoarchive/_extjson_c.c) and the Arrow scans and
builder of ``export`` (mongoarchive/_arrow_c.c, mongoarchive/_arrow_build_c.c).

Everything else is declared in pyproject.toml.  Without a working compiler (or
Python headers) the build prints one line and the package installs without the
extensions: mongoarchive then runs its pure-Python loops (mongoarchive/_hot.py) and
converts Extended JSON with python-bsonjs or bson.json_util (mongoarchive/_extjson.py).
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into a one-line notice."""

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a missing compiler or header...
            print(
                f"mongoarchive: the C extension {ext.name} was not built ({type(exc).__name__}: "
                "no working C compiler or Python headers); the pure-Python loops will be used",
                file=sys.stderr,
            )


setup(
    ext_modules=[
        Extension("mongoarchive._hot_c", ["mongoarchive/_hot_c.c"], optional=True),
        Extension("mongoarchive._extjson_c", ["mongoarchive/_extjson_c.c"], optional=True),
        # The scans before pymongoarrow (mongoarchive/_arrow_scan.py is their pure twin).
        Extension(
            "mongoarchive._arrow_c",
            ["mongoarchive/_arrow_c.c"],
            depends=["mongoarchive/_arrow_common.h"],
            optional=True,
        ),
        # The Arrow buffers of an export's batches (pymongoarrow builds them without it).
        Extension(
            "mongoarchive._arrow_build_c",
            ["mongoarchive/_arrow_build_c.c"],
            depends=["mongoarchive/_arrow_common.h"],
            optional=True,
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
