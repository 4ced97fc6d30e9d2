"""`python -m hpcmap.cluster up|down|status` (what slurm/cluster.sh runs)."""
import sys

from hpcmap.cluster.commands import main

sys.exit(main())
