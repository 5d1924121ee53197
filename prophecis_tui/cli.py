"""The `prophecis-tui` command."""

from __future__ import annotations

import sys

from . import __version__

USAGE = """usage: prophecis-tui <command> [options]

commands:
  sim        serve a simulated Prophecis platform (Kubernetes API) on loopback
  version    print the version

Run 'prophecis-tui <command> --help' for a command's options."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd, rest = args[0], args[1:]
    if cmd == "sim":
        from .simulator.__main__ import main as sim_main
        return sim_main(rest)
    if cmd in ("version", "--version"):
        print(f"prophecis-tui {__version__}")
        return 0
    print(f"prophecis-tui: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
