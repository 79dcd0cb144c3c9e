"""Copy the panel's source (frontend/*.js, *.css) to tb_stuckplugin/static/, the folder the plugin serves.

    python frontend/sync.py          # copy, and delete files in static/ that frontend/ no longer has
    python frontend/sync.py --check  # exit 1 and list the differences if static/ is out of date

tests/test_panel_browser.py runs the check, so a change to frontend/ that was not copied fails.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent
STATIC = FRONTEND.parent / "tb_stuckplugin" / "static"
ASSET_SUFFIXES = (".js", ".css")


def assets(folder: Path) -> dict[str, Path]:
    """The served files of a folder by name (flat: TensorBoard's routes serve one level)."""
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix in ASSET_SUFFIXES}


def differences() -> list[str]:
    """What differs between frontend/ and static/, one line each; empty when in sync."""
    source, served = assets(FRONTEND), assets(STATIC)
    lines = [f"missing in static/: {name}" for name in source if name not in served]
    lines += [f"not in frontend/: {name}" for name in served if name not in source]
    lines += [
        f"differs: {name}"
        for name in source
        if name in served and source[name].read_bytes() != served[name].read_bytes()
    ]
    return lines


def sync() -> None:
    """Make static/ an exact copy of frontend/'s assets."""
    STATIC.mkdir(exist_ok=True)
    source = assets(FRONTEND)
    for name, path in assets(STATIC).items():
        if name not in source:
            path.unlink()
    for name, path in source.items():
        shutil.copyfile(path, STATIC / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report differences")
    if parser.parse_args().check:
        lines = differences()
        print("\n".join(lines) if lines else "static/ is up to date")
        return 1 if lines else 0
    sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
