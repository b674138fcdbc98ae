"""Builds the offline installation bundle (`make bundle`): one tar to copy to a server with no network.

    python scripts/build_bundle.py [--out dist] [--wheelhouse build/wheelhouse]

The tar holds a wheel for every dependency (CPU torch), the project's own wheel (web assets
included as package data), the converted model with the OpenVINO variant the default backend runs,
the default corpus, `install.sh`, the deploy examples and a SHA256SUMS manifest of all of them;
`dist/<name>.tar.sha256` checks the copy.

Run it with the project's virtualenv (`make bundle` does), where PyPI is reachable, on the platform
the bundle is for: wheels are built per Python version and architecture. The dependencies are
pinned to the versions installed in that virtualenv (the ones the tests ran with). The wheelhouse
is cached in build/wheelhouse under a key of those versions, so a second build downloads nothing.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

log = logging.getLogger("build_bundle")

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "multilingual-e5-small"
OPENVINO_FP32 = "openvino/openvino_model.xml"  # the default embedding variant (qa.model_export.OPENVINO_FP32)
# An unpinned torch resolves to the multi-GB CUDA build; the Makefile installs this one first.
TORCH = "torch==2.13.0"
# Tools of the build, not of the service: never pinned into the bundle.
NOT_PINNED = {"qa", "pip", "setuptools", "wheel"}
DEPLOY_FILES = ("qa.service", "qa.env.example", "nginx.conf")


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def platform_tag() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")  # linux_x86_64, linux_aarch64


def project_wheel(dest: Path) -> Path:
    """The project's own wheel, built from a copy of the sources (no build/ or egg-info left in the checkout)."""
    with tempfile.TemporaryDirectory(prefix="qa-src-") as tmp:
        src = Path(tmp)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(ROOT / name, src / name)
        for package in ("qa", "api"):
            shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(dest), str(src))
    (wheel,) = dest.glob("qa-*.whl")
    return wheel


def installed_versions() -> str:
    """`name==version` for every distribution in this interpreter: the bundle gets the tested versions."""
    pins = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()) if n not in NOT_PINNED)


def wheelhouse(cache: Path, wheel: Path) -> Path:
    """Wheels of every dependency, reused while the dependency list and installed versions are unchanged."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    constraints = installed_versions()
    key = hashlib.sha256(json.dumps([python_tag(), platform_tag(), TORCH, project["dependencies"],
                                     constraints]).encode()).hexdigest()
    if (cache / ".key").is_file() and (cache / ".key").read_text() == key:
        log.info("wheelhouse %s is current (%d wheels)", cache, len(list(cache.glob("*.whl"))))
        return cache
    log.info("building the wheelhouse in %s (downloads from the package index)", cache)
    # Built beside the cache and swapped in, so an interrupted build never leaves a partial cache.
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    try:
        (tmp / "constraints.txt").write_text(constraints)
        pip("wheel", "--quiet", "--wheel-dir", str(tmp), "--constraint", str(tmp / "constraints.txt"),
            TORCH, str(wheel))
        (tmp / "constraints.txt").unlink()
        for own in tmp.glob("qa-*.whl"):
            own.unlink()
        (tmp / ".key").write_text(key)
        if cache.exists():
            shutil.rmtree(cache)
        os.replace(tmp, cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache


def requirements(wheels: list[Path]) -> str:
    """Exact pins of the wheelhouse, so install.sh installs these versions, upgrading or downgrading."""
    pins = sorted("{}=={}".format(*parse_wheel_filename(w.name)[:2]) for w in wheels)
    return "".join(p + "\n" for p in pins)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "unknown"


class BundleWriter:
    """Adds files under one top folder of a tar and records their SHA-256 for SHA256SUMS."""

    def __init__(self, tar: tarfile.TarFile, top: str):
        self.tar, self.top, self.sums = tar, top, {}

    def _info(self, arcname: str, size: int, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{self.top}/{arcname}")
        info.size, info.mode, info.mtime = size, mode, int(time.time())
        info.uname = info.gname = "root"
        return info

    def add_file(self, path: Path, arcname: str, mode: int = 0o644) -> None:
        self.sums[arcname] = sha256_of(path)
        with open(path, "rb") as f:
            self.tar.addfile(self._info(arcname, path.stat().st_size, mode), f)

    def add_tree(self, folder: Path, arcname: str, leave_out: tuple[str, ...] = ()) -> None:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            relative = path.relative_to(folder)
            if relative.parts[0] not in leave_out:
                self.add_file(path, f"{arcname}/{relative.as_posix()}")

    def add_text(self, text: str, arcname: str, record: bool = True) -> None:
        data = text.encode("utf-8")
        if record:
            self.sums[arcname] = hashlib.sha256(data).hexdigest()
        self.tar.addfile(self._info(arcname, len(data), 0o644), io.BytesIO(data))


def build(out: Path, cache: Path, model: Path) -> Path:
    if platform.system() != "Linux":
        sys.exit("the bundle is for Linux servers (the index's writer lock uses fcntl): build it on Linux")
    if not (model / "qa_build.json").is_file():
        sys.exit(f"no converted model in {model}: run `make setup` (python -m qa.model_build) first")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    name = f"qa-bundle-{version}-{python_tag()}-{platform_tag()}"
    t0 = time.perf_counter()
    cache.parent.mkdir(parents=True, exist_ok=True)
    # One build at a time uses the wheel cache (`make bundle` and tests/test_bundle.py may overlap).
    lock_path = cache.parent / f".{cache.name}.lock"
    with tempfile.TemporaryDirectory(prefix="qa-wheel-") as tmp, open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheel = project_wheel(Path(tmp))
        wheels = sorted(wheelhouse(cache, wheel).glob("*.whl")) + [wheel]
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{name}.tar"
        partial = out / f".{name}.tar.partial"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            w = BundleWriter(tar, name)
            w.add_file(ROOT / "deploy" / "install.sh", "install.sh", mode=0o755)
            w.add_file(ROOT / "LICENSE", "LICENSE")
            w.add_text(f"QA_VERSION={version}\n"
                       f"PYTHON_VERSION={sys.version_info.major}.{sys.version_info.minor}\n"
                       f"PLATFORM={platform_tag()}\nMODEL_NAME={model.name}\nBUILD_COMMIT={git_commit()}\n",
                       "bundle.env")
            for f in DEPLOY_FILES:
                w.add_file(ROOT / "deploy" / f, f"deploy/{f}")
            for whl in wheels:
                w.add_file(whl, f"wheels/{whl.name}")
            w.add_text(requirements(wheels[:-1]), "wheels/requirements.txt")
            # The weights, and the OpenVINO fp32 variant the default backend runs (openvino/, 449 MB):
            # install.sh builds the index right after installing, with the default settings. The ONNX
            # variants (onnx/, 837 MB) are made on the server, if wanted, by `python -m qa.model_export`;
            # its stamp, which vouches for all three, stays out.
            if not (model / OPENVINO_FP32).is_file():
                sys.exit(f"no {OPENVINO_FP32} in {model}: run `make setup` (python -m qa.model_export) first")
            w.add_tree(model, f"model/{model.name}", leave_out=("onnx", "qa_export.json"))
            w.add_tree(ROOT / "corpus", "corpus")
            w.add_text("".join(f"{h}  {p}\n" for p, h in sorted(w.sums.items())), "SHA256SUMS", record=False)
    os.replace(partial, target)
    (out / f"{name}.tar.sha256").write_text(f"{sha256_of(target)}  {target.name}\n")
    log.info("wrote %s (%.0f MB, %d wheels) in %.1f s", target, target.stat().st_size / 1e6, len(wheels),
             time.perf_counter() - t0)
    return target


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the tar goes (default dist/)")
    parser.add_argument("--wheelhouse", type=Path, default=ROOT / "build" / "wheelhouse",
                        help="cache of dependency wheels (default build/wheelhouse)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / MODEL_NAME,
                        help=f"the converted model folder (default models/{MODEL_NAME})")
    args = parser.parse_args()
    print(build(args.out, args.wheelhouse, args.model))


if __name__ == "__main__":
    main()
