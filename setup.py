"""Build of the optional compiled fast paths (logcorr/_fastparse.c: the parse phase's common lines;
logcorr/_fastrules.c: the rule engine's per-event loop); the rest of the package is declared in
pyproject.toml. Without a C compiler the build is skipped and everything runs in Python alone."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("logcorr._fastparse", ["logcorr/_fastparse.c"], optional=True, extra_compile_args=["-O2"]),
        Extension("logcorr._fastrules", ["logcorr/_fastrules.c"], optional=True, extra_compile_args=["-O2"]),
    ]
)
