"""Allow `python -m logcorr`."""

from logcorr.cli.main import run

if __name__ == "__main__":  # worker processes (ingest --jobs) import this module without running it
    run()
