"""Generate the Python code for protos/lipsync/v1/*.proto: the one codegen entry point.

    python -m protos.gen           # write protos/lipsync/v1/*_pb2*.py(i)
    python -m protos.gen --check   # exit 1 if the committed code is not what the .proto files give

Generated files are committed (so a plain install needs no protoc) and marked as generated;
a test runs --check, so they cannot drift from the .proto files.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = ROOT / "lipsync" / "v1"
# protoc sees `lipsync/v1/x.proto`; the Python package is `protos.lipsync.v1`.
_IMPORT = re.compile(r"^from lipsync\.v1 import", re.MULTILINE)


def _include_dirs() -> list[str]:
    site = Path(sysconfig.get_paths()["purelib"])
    import grpc_tools

    return [str(ROOT), str(site), str(Path(grpc_tools.__file__).parent / "_proto")]


def generate(out_dir: Path) -> list[Path]:
    protos = sorted(PACKAGE_DIR.glob("*.proto"))
    args = ["protoc", *(f"-I{d}" for d in _include_dirs()),
            f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", f"--mypy_out={out_dir}",
            *(str(p.relative_to(ROOT)) for p in protos)]
    # protoc-gen-mypy lives beside the interpreter.
    env_path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env_path}"
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
    finally:
        os.chdir(cwd)
        os.environ["PATH"] = env_path
    written = sorted((out_dir / "lipsync" / "v1").glob("*_pb2*"))
    for path in written:
        path.write_text(_IMPORT.sub("from protos.lipsync.v1 import", path.read_text()))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        written = generate(Path(tmp))
        stale = [p.name for p in written if not (PACKAGE_DIR / p.name).exists()
                 or not filecmp.cmp(p, PACKAGE_DIR / p.name, shallow=False)]
        if args.check:
            if stale:
                print(f"generated code is stale: {', '.join(stale)}; run `python -m protos.gen`")
                return 1
            print("generated code is current")
            return 0
        for path in written:
            shutil.copy(path, PACKAGE_DIR / path.name)
    print(f"wrote {len(written)} files to {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
