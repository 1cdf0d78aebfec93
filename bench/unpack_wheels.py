"""Unpack wheels into a folder for PYTHONPATH, keeping their files' permission bits (Ray's
raylet and gcs_server must stay executable; zipfile.extractall drops the bits). For a machine
with no package registry, such as a lent GPU machine.

    python3 bench/unpack_wheels.py WHEEL_DIR TARGET
"""

import sys
import zipfile
from pathlib import Path


def unpack(wheel: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            path = Path(archive.extract(member, target))
            mode = member.external_attr >> 16
            if mode:
                path.chmod(mode & 0o777)


if __name__ == "__main__":
    for wheel in sorted(Path(sys.argv[1]).iterdir()):
        unpack(wheel, Path(sys.argv[2]))
