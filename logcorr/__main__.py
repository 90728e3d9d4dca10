"""Allow `python -m logcorr`."""

from logcorr.cli.main import run

run()
