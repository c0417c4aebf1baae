"""Rebuild the NANP validity table shipped with tracehop (``src/tracehop/data/nanp_valid.npz``).

A maintainer's tool, run after upgrading the pinned ``phonenumbers`` (pyproject.toml): the table
is exact only for the phonenumbers release it was built with (``tracehop.nanp``). Builds the
table from phonenumbers' metadata, prints a summary and, with ``--write``, writes the file into
the ``tracehop`` package it imported (the source tree, with the editable install of
``make .venv/.installed-dev``).

    python tools/build_nanp.py [--write [--out PATH]]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import phonenumbers

from tracehop import nanp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/build_nanp.py", description=__doc__)
    parser.add_argument(
        "--write", action="store_true", help="write src/tracehop/" + nanp.TABLE_FILE
    )
    parser.add_argument("--out", type=Path, help="with --write: write this file instead")
    args = parser.parse_args(argv)
    path = args.out or Path(nanp.__file__).parent / nanp.TABLE_FILE
    valid, mixed = nanp.build_table()
    print(f"phonenumbers {phonenumbers.__version__}: {int(valid.sum())} uniformly valid prefixes")
    print(f"mixed prefixes: {sorted(mixed)}")
    if args.write:
        path.parent.mkdir(exist_ok=True)
        version = np.array(phonenumbers.__version__)
        mixed_array = np.array(sorted(mixed), dtype=np.int32)
        np.savez_compressed(path, valid=valid, mixed=mixed_array, phonenumbers_version=version)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
