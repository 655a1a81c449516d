"""`python -m repoloom` is the `repoloom` command."""

import sys

from repoloom.cli import main

sys.exit(main())
