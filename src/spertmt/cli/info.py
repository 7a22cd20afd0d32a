"""`spertmt info`: what this installation has."""

from __future__ import annotations

import argparse
import json


def _info(args: argparse.Namespace) -> int:
    from ..info import collect, format_info

    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def info_arguments(commands) -> None:
    info = commands.add_parser("info", help="versions and native-kernel status")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_info)
