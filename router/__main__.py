"""`python -m router` runs the gold-router command line."""
import sys

from router.cli import main

sys.exit(main())
