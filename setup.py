"""Build of the optional compiled fast path (logcorr/_fastparse.c); the rest of the package is declared
in pyproject.toml. Without a C compiler the build is skipped and ingest uses the Python path alone."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("logcorr._fastparse", ["logcorr/_fastparse.c"], optional=True, extra_compile_args=["-O2"])
    ]
)
