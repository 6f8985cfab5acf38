import sys

from forensics_app.cli import main

sys.exit(main())
