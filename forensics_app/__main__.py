import sys

try:
    from forensics_app.cli import main
except KeyboardInterrupt:  # Ctrl-C before the command line even started: no traceback
    print("forensics-app: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
