"""Hatch build hook: generate the protobuf and gRPC Python code from protos/ at build time.

Runs for `pip install .`, `pip install -e .` and wheel builds, so generated code is never
committed, never edited by hand and never stale. Output: services/ipcoord/v1/*_pb2*.py(i).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_PROTO_ROOT = "protos"
_OUT_ROOT = "services"


def generate(root: Path) -> list[Path]:
    """Compile every .proto under protos/ into services/; returns the .proto files compiled."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted((root / _PROTO_ROOT).rglob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto files under {root / _PROTO_ROOT}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    out = root / _OUT_ROOT
    args = [
        "grpc_tools.protoc",
        f"-I{root / _PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see the messages above")
    for package_dir in {out / p.parent.relative_to(root / _PROTO_ROOT) for p in protos}:
        (package_dir / "__init__.py").touch()
    return protos


class ProtobufBuildHook(BuildHookInterface):
    PLUGIN_NAME = "ipcoord-protobuf"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name not in ("wheel", "sdist"):
            return
        if self.target_name == "sdist":
            return  # the sdist ships the .proto files; the wheel built from it generates
        protos = generate(Path(self.root))
        print(f"ipcoord: generated Python code for {len(protos)} .proto files", file=sys.stderr)
