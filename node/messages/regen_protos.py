"""Regenerate the committed gRPC modules in node/messages/gen from the .proto files in
node/messages/proto.

    .venv/bin/python -m node.messages.regen_protos [--out DIR]

protoc names generated imports after the proto path (`from mvccpb import kv_pb2`); this
command rewrites them to package imports (`from node.messages.gen.mvccpb import kv_pb2`) so the
modules import from anywhere without touching sys.path.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent / "proto"
GEN_ROOT = Path(__file__).resolve().parent / "gen"
GEN_PACKAGE = "node.messages.gen"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
INIT_DOCSTRING = (
    '"""Generated from node/messages/proto by `python -m node.messages.regen_protos`."""\n'
)


def proto_sources(proto_root: Path = PROTO_ROOT) -> list[Path]:
    """The .proto files to compile, relative to proto_root (which is also the include path)."""
    return sorted(path.relative_to(proto_root) for path in proto_root.rglob("*.proto"))


def _run_protoc(proto_root: Path, sources: list[Path], raw_out: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--python_out={raw_out}",
        f"--pyi_out={raw_out}",
        f"--grpc_python_out={raw_out}",
        *(str(source) for source in sources),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed ({result.returncode}):\n{result.stderr}")


def _package_imports(source: str, proto_packages: list[str]) -> str:
    """Turn protoc's `from mvccpb import kv_pb2` into a package import
    (`from node.messages.gen.mvccpb import kv_pb2`)."""
    pattern = re.compile(rf"^from ({'|'.join(map(re.escape, proto_packages))}) import ", re.M)
    return pattern.sub(rf"from {GEN_PACKAGE}.\1 import ", source)


def _is_generated(path: Path) -> bool:
    return path.name == "__init__.py" or path.name.endswith(GENERATED_SUFFIXES)


def regenerate(out: Path = GEN_ROOT, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Compile every .proto under proto_root into out; return the files written, sorted.

    Generated files in out that no source produces any more are removed; nothing else is.
    """
    sources = proto_sources(proto_root)
    proto_packages = sorted({source.parts[0] for source in sources})
    with tempfile.TemporaryDirectory() as tmp:
        raw_out = Path(tmp)
        _run_protoc(proto_root, sources, raw_out)
        generated = {
            path.relative_to(raw_out): _package_imports(path.read_text(), proto_packages)
            for path in raw_out.rglob("*")
            if path.is_file()
        }
    generated[Path("__init__.py")] = INIT_DOCSTRING
    for package in proto_packages:
        generated[Path(package) / "__init__.py"] = INIT_DOCSTRING

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.rglob("*"):
        if stale.is_file() and _is_generated(stale) and stale.relative_to(out) not in generated:
            stale.unlink()
    for relative, text in sorted(generated.items()):
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return sorted(out / relative for relative in generated)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: regenerate into --out (default node/messages/gen) and list the files."""
    parser = argparse.ArgumentParser(
        prog="python -m node.messages.regen_protos", description=__doc__
    )
    parser.add_argument("--out", type=Path, default=GEN_ROOT, help="output directory")
    args = parser.parse_args(argv)
    for path in regenerate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
