"""The Dockerfile, checked without a Docker engine: its install step is the project's own
(deploy/install.sh, which `make install` and so CI run), and its final stage is what an
operator expects of a service image."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions per stage (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_the_image_installs_with_the_projects_own_install_step():
    build, _final = _stages()
    runs = [line for line in build if line.upper().startswith("RUN ")]
    assert runs == ["RUN PYTHON=python bash deploy/install.sh /opt/ipcoord"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(
        r"^\tPYTHON=\$\(PYTHON\) bash deploy/install.sh \$\(VENV\) --dev$", makefile, re.M
    )
    # Everything the install reads is copied in (the protobuf code is generated from protos/).
    copied = " ".join(line for line in build if line.upper().startswith("COPY "))
    for needed in ("pyproject.toml", "hatch_build.py", "README.md", "protos", "services"):
        assert needed in copied


def test_the_final_stage_is_slim_non_root_and_runs_ipcoord():
    build, final = _stages()
    assert build[0].startswith("FROM python:3.11-slim AS build")
    assert final[0] == "FROM python:3.11-slim"
    assert not any(
        line.upper().startswith("RUN ") and "install" in line and "apt" in line for line in final
    )  # no build tools in the final stage
    assert "COPY --from=build /opt/ipcoord /opt/ipcoord" in final
    (user,) = [line for line in final if line.upper().startswith("USER ")]
    assert user.split()[1] not in ("0", "root")
    assert 'ENTRYPOINT ["ipcoord"]' in final
