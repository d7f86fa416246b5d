"""``python -m demo --scenario NAME``: the README's first command (``make demo``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from demo.run import SCENARIOS

    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="expired-one")
    args = parser.parse_args(argv)
    # The library logs structured records for CloudWatch; the demo prints its own timeline.
    logging.basicConfig(level=logging.CRITICAL)
    try:
        from demo.run import run

        return run(args.scenario)
    except KeyboardInterrupt:
        sys.stderr.write("demo: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        text = str(exc).strip().splitlines()
        sys.stderr.write(f"demo: failed: {type(exc).__name__}: {text[0] if text else ''}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
