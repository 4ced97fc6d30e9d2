"""`hpcmap legion info|setup|build|build-runtime`: the Legion runtime in use, the builds against
it, and a network-enabled runtime built from source for multi-node runs."""
from __future__ import annotations

import json

from hpcmap import machine
from hpcmap.legion import build, network, runtime


def register(subparsers) -> None:
    p = subparsers.add_parser("legion", help="the Legion runtime: info, setup, build, build-runtime (with a network, for several nodes)",
                              description="Inspect, fetch and build against the Legion runtime.")
    sub = p.add_subparsers(dest="legion_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="Legion version, path, CUDA, driver, and the detected machine")
    info.add_argument("--legion-root", help="a Legion install to use instead of the wheel's")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)
    setup = sub.add_parser("setup", help="fetch the runtime and build the libcuda stub if needed")
    setup.add_argument("--legion-root", help="a Legion install to use instead of the wheel's")
    setup.set_defaults(func=cmd_setup)
    b = sub.add_parser("build", help="build mapper/ and benchmarks/ (CMake; HPCMAP_CUDA=on|off|auto)")
    b.add_argument("targets", nargs="*", help="CMake targets (default: all)")
    b.add_argument("--legion-root", help="a Legion install to use instead of the wheel's")
    b.set_defaults(func=cmd_build)
    br = sub.add_parser("build-runtime", help="build Legion with a network module (for nodes > 1), once per machine",
                        description="Build Legion from the vendored source with a network module and install it "
                                    "in a cache outside the checkout; machines of several nodes then use it.")
    br.add_argument("--network", choices=network.NETWORKS, default="mpi", help="Realm network module (default mpi)")
    br.add_argument("--cuda", action="store_true", help="with CUDA (needs nvcc)")
    br.add_argument("--jobs", type=int, help="parallel compile jobs (default: all cores)")
    br.add_argument("--print-prefix", action="store_true",
                    help="print the install prefix (empty if not built yet) and build nothing")
    br.set_defaults(func=cmd_build_runtime)


def cmd_info(args) -> int:
    rt = runtime.locate(args.legion_root)
    local = machine.load("local")
    info = {
        "legion_version": rt.version, "source": rt.source, "include_dir": str(rt.include_dir),
        "lib_dir": str(rt.lib_dir), "cuda_compiled_in": rt.cuda, "max_dim": rt.max_dim,
        "network": rt.network or "none (one process only)",
        "network_build": str(network.find_installed() or "not built (hpcmap legion build-runtime --network mpi)"),
        "driver": "stub (no NVIDIA driver; CPU only)" if rt.stub_dir else "real NVIDIA driver",
        "machine": local.as_dict(), "legion_flags": local.legion_flags(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key == "machine":
            value = f"{local.description} -> {local.cpus} CPU, {local.utility} util, {local.gpus} GPU processors"
        elif key == "legion_flags":
            value = " ".join(value)
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_setup(args) -> int:
    rt = runtime.ensure(args.legion_root)
    print(f"Legion {rt.version} ready at {rt.lib_dir}" + (" (libcuda stub)" if rt.stub_dir else ""))
    return 0


def cmd_build(args) -> int:
    rt = runtime.ensure(args.legion_root)
    tree = build.build(rt, args.targets, quiet=False)
    print(f"built in {tree}")
    return 0


def cmd_build_runtime(args) -> int:
    options = network.BuildOptions(network=args.network, cuda=args.cuda)
    if args.print_prefix:
        print(network.find_installed(options) or "")
        return 0
    prefix = network.build_runtime(options, jobs=args.jobs)
    print(f"Legion with the {options.network} network ready at {prefix}")
    return 0
