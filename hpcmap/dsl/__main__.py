"""`python -m hpcmap.dsl dsl ...`: the dsl commands without the rest of the CLI."""
import sys

from hpcmap.dsl.commands import main

sys.exit(main())
