"""Entry point of the packaged (PyInstaller) build: the same command line as `forensics-app`."""

import multiprocessing
import sys

from forensics_app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
