"""The input of benchmarks/dedup_vs_datatrove.py: real PyPI sdists (pinned releases, fetched with
`pip download` into a cache) and the source files of one archive. Standard library only at import
time: the peer venv runs the benchmark's steps without repoloom installed."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

SDISTS = [
    # near-duplicate families: consecutive releases
    "rich==13.6.0",
    "rich==13.7.0",
    "rich==13.7.1",
    "click==8.1.6",
    "click==8.1.7",
    "requests==2.31.0",
    "requests==2.32.2",
    "requests==2.32.3",
    "attrs==23.1.0",
    "attrs==23.2.0",
    "idna==3.6",
    "idna==3.7",
    "packaging==23.2",
    "packaging==24.0",
    "jinja2==3.1.3",
    "jinja2==3.1.4",
    "flask==3.0.2",
    "flask==3.0.3",
    "werkzeug==3.0.1",
    "werkzeug==3.0.3",
    "pluggy==1.4.0",
    "pluggy==1.5.0",
    "tqdm==4.66.2",
    "tqdm==4.66.4",
    # unrelated projects
    "six==1.16.0",
    "markupsafe==2.1.5",
    "urllib3==2.2.1",
    "certifi==2024.2.2",
    "charset-normalizer==3.3.2",
    "pygments==2.17.2",
    "toml==0.10.2",
    "tomli==2.0.1",
    "colorama==0.4.6",
    "docutils==0.20.1",
    "sqlparse==0.5.0",
    "typing_extensions==4.11.0",
]


def fetch(cache: Path) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    found = []
    for spec in SDISTS:
        name, version = spec.split("==")
        stem = f"{name}-{version}".lower().replace("_", "-")

        def match(p: Path, stem: str = stem) -> bool:
            return p.name.lower().replace("_", "-").startswith(stem + ".")

        hits = [p for p in cache.iterdir() if match(p)]
        if not hits:
            try:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
                    + ["--no-binary", ":all:", "-d", str(cache), spec],
                    check=True,
                    timeout=180,
                    capture_output=True,
                )
            except (subprocess.SubprocessError, OSError) as exc:
                print(f"  skip {spec}: {exc}", file=sys.stderr)
                continue
            hits = [p for p in cache.iterdir() if match(p)]
        found.extend(hits[:1])
    return sorted(found)


def read_archive(path: Path) -> dict[str, str]:
    from repoloom.codebase.languages import identify_language

    files = {}
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [(m.filename, archive.read(m)) for m in archive.infolist() if not m.is_dir()]
    else:
        with tarfile.open(path) as archive:
            members = [
                (m.name, archive.extractfile(m).read()) for m in archive.getmembers() if m.isfile()
            ]
    for name, data in members:
        relative = name.split("/", 1)[1] if "/" in name else name
        if b"\x00" in data[:8192] or len(data) > 1_000_000:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if identify_language(relative, data[:256]) and text.strip():
            files[relative] = text
    return files
