"""`hpcmap campaign FILE.toml`: a campaign's sbatch scripts (--dry-run), or its jobs and results (hpcmap.campaign)."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from hpcmap.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "campaign", help="run apps x node counts x mappers x sizes as Slurm jobs into one store",
        description="Read a campaign file (see specs/campaigns/example.toml) and run every point (app, size, "
                    "mapper, node count) as a Slurm job, keeping each result in one study store. With --dry-run, "
                    "write one editable sbatch script per point instead and submit nothing.")
    p.add_argument("file", help="the campaign's TOML file")
    p.add_argument("--store", help="the campaign's HDF5 store (default: NAME.h5 in this directory)")
    p.add_argument("--resume", action="store_true", help="continue the campaign in --store: wait for the jobs an "
                                                           "earlier head left running, collect what finished, "
                                                           "submit only the points still missing")
    p.add_argument("--dry-run", action="store_true", help="write the sbatch scripts to STORE.sbatch/ and print "
                                                          "their paths; submit nothing")
    p.add_argument("--json", action="store_true", help="print {\"campaign\", \"store\", \"points\": [...]} as JSON")
    p.add_argument("--legion-root", help="build against this Legion install (it needs a network module "
                                         "for more than one node)")
    p.set_defaults(func=cmd_campaign)


def cmd_campaign(args) -> int:
    from hpcmap import campaign as campaigns, scale
    from hpcmap.dispatch.commands import legion_version
    from hpcmap.scale_command import PointProgress, executor_for, exit_status
    from hpcmap.store import Store, provenance_info

    campaign = campaigns.load(args.file)
    store_path = Path(args.store or f"{campaign.name}.h5")
    if store_path.is_dir():
        raise UserError(f"--store {store_path} is a directory; name an HDF5 file, e.g. {store_path / 'campaign.h5'}")
    if args.dry_run:
        for path in campaigns.dry_run(campaign, store_path, args.legion_root):
            print(path)
        return 0
    options = campaigns.slurm_options(campaign, store_path)
    if args.resume:
        campaigns.await_earlier_jobs(Path(options["folder"]), lambda text: print(text, file=sys.stderr, flush=True))
    store = Store(store_path)
    if store.path.exists():
        campaigns.check_unchanged(campaign, store)
    points = campaigns.points(campaign, args.legion_root)
    provenance = provenance_info(sys.argv, points[-1][0].machine, "slurm", legion_version(args.legion_root))
    executor = executor_for("slurm", options)
    try:
        with scale.open_study(store_path, campaign.meta(), args.resume, provenance) as store:
            progress = None if args.json else PointProgress(len(points))
            with progress or contextlib.nullcontext():
                records, ran = scale.run_points(store, points, executor, progress)
    finally:
        executor.close()
    table = scale.rows(records, "strong")
    if args.json:
        print(json.dumps({"campaign": campaign.name, "file": str(campaign.path), "store": str(store_path), "ran": ran,
                          "points": [row.as_dict() for row in table]},
                         indent=2))
    else:
        scale.print_table(f"campaign {campaign.name}: {len(records)} point(s) ({store_path})", table, False)
    return exit_status(records)

