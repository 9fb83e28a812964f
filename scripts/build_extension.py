"""Build the Neural Aesthetics extension packages with Blender's own extension tool.

    python scripts/build_extension.py                       # every platform, into dist/
    python scripts/build_extension.py --platforms linux-x64 # just this machine's package
    python scripts/build_extension.py --sync-manifest       # rewrite the manifest's wheel list

Steps: download the pinned wheels (scripts/wheel_requirements.txt) for each platform into
wheels/, check them against the manifest's ``wheels`` list, stage the package with a
manifest naming only the chosen platforms, run ``blender_ext.py validate`` and
``blender_ext.py build --split-platforms``. Prints the path of each built zip.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "blender_manifest.toml"
REQUIREMENTS = ROOT / "scripts" / "wheel_requirements.txt"
WHEELS = ROOT / "wheels"

# Blender platform -> pip platform tags to download for (Blender 4.2-5.0 run Python 3.11).
PIP_PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "macos-arm64": ["macosx_12_0_arm64"],
    "macos-x64": ["macosx_12_0_x86_64"],
    "windows-x64": ["win_amd64"],
}
STAGE_SKIP = {".git", ".venvs", "build", "dist", "wheels", "demo_out", "__pycache__", ".pytest_cache"}


def wheel_platforms(filename: str) -> set[str]:
    """Blender platforms a wheel file can run on, from the platform tag in its name."""
    tag = filename[: -len(".whl")].split("-")[-1]
    if tag == "any":
        return set(PIP_PLATFORMS)
    found = set()
    for part in tag.split("."):
        if part.startswith("manylinux") and part.endswith("x86_64"):
            found.add("linux-x64")
        elif part.startswith("macosx") and part.endswith("arm64"):
            found.add("macos-arm64")
        elif part.startswith("macosx") and part.endswith("x86_64"):
            found.add("macos-x64")
        elif part == "win_amd64":
            found.add("windows-x64")
    return found


def pinned_versions() -> dict[str, str]:
    """Project name (normalised as in wheel file names) -> pinned version."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-.]+", "_", name).lower()] = version
    return pins


def download_wheels(platforms: list[str]) -> set[str]:
    """Download the pinned wheels for ``platforms`` into wheels/; return their file names."""
    WHEELS.mkdir(exist_ok=True)
    for platform in platforms:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
            "--dest", str(WHEELS), "-r", str(REQUIREMENTS),
        ]
        for tag in PIP_PLATFORMS[platform] + ["any"]:
            command += ["--platform", tag]
        subprocess.run(command, check=True)
    pins = pinned_versions()
    # wheels/ may hold older downloads too: keep the files of the pinned versions only.
    return {
        name for name in os.listdir(WHEELS)
        if name.endswith(".whl")
        and pins.get(name.split("-")[0].lower()) == name.split("-")[1]
        and wheel_platforms(name) & set(platforms)
    }


def manifest_wheels(text: str) -> list[str]:
    """File names in the manifest's ``wheels = [...]`` list."""
    block = re.search(r"^wheels = \[(.*?)^\]", text, re.S | re.M)
    if not block:
        return []
    return [os.path.basename(path) for path in re.findall(r'"([^"]+)"', block.group(1))]


def with_wheels(text: str, names: list[str], platforms: list[str]) -> str:
    """The manifest text with its ``wheels`` and ``platforms`` lists replaced."""
    lines = "".join(f'  "./wheels/{name}",\n' for name in sorted(names))
    text = re.sub(r"^wheels = \[.*?^\]", f"wheels = [\n{lines}]", text, flags=re.S | re.M)
    platform_list = ", ".join(f'"{p}"' for p in platforms)
    return re.sub(r"^platforms = \[.*?\]", f"platforms = [{platform_list}]", text, flags=re.M)


def find_blender_ext() -> Path:
    """Blender's extension tool as shipped inside the installed bpy wheel."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("build_extension: bpy is not installed in this Python; run it from a test venv (make venvs)")
    hits = sorted(glob.glob(os.path.join(spec.submodule_search_locations[0], "*", "scripts",
                                         "addons_core", "bl_pkg", "cli", "blender_ext.py")))
    if not hits:
        sys.exit("build_extension: blender_ext.py not found inside the bpy package")
    return Path(hits[-1])


def stage(platforms: list[str], wheel_names: set[str], stage_dir: Path) -> None:
    """Copy the package into ``stage_dir`` with a manifest for ``platforms`` only."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    shutil.copytree(ROOT, stage_dir, ignore=lambda _d, names: [n for n in names if n in STAGE_SKIP])
    (stage_dir / "wheels").mkdir()
    for name in wheel_names:
        os.link(WHEELS / name, stage_dir / "wheels" / name)
    text = MANIFEST.read_text()
    (stage_dir / "blender_manifest.toml").write_text(with_wheels(text, sorted(wheel_names), platforms))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platforms", default="all",
                        help="comma-separated Blender platforms, or 'all' (default): " + ", ".join(PIP_PLATFORMS))
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="output folder for the zips")
    parser.add_argument("--sync-manifest", action="store_true",
                        help="download for every platform and rewrite the manifest's wheel list")
    args = parser.parse_args(argv)

    platforms = list(PIP_PLATFORMS) if args.platforms == "all" or args.sync_manifest else args.platforms.split(",")
    unknown = [p for p in platforms if p not in PIP_PLATFORMS]
    if unknown:
        print(f"build_extension: unknown platform {unknown[0]!r}; use one of {', '.join(PIP_PLATFORMS)}", file=sys.stderr)
        return 2

    names = download_wheels(platforms)
    text = MANIFEST.read_text()
    if args.sync_manifest:
        MANIFEST.write_text(with_wheels(text, sorted(names), list(PIP_PLATFORMS)))
        print(f"blender_manifest.toml now lists {len(names)} wheels")
        return 0

    listed = {n for n in manifest_wheels(text) if wheel_platforms(n) & set(platforms)}
    if listed != names:
        print("build_extension: the manifest's wheel list does not match scripts/wheel_requirements.txt; "
              "run `python scripts/build_extension.py --sync-manifest`", file=sys.stderr)
        for name in sorted(listed ^ names):
            print(f"  differs: {name}", file=sys.stderr)
        return 1

    tool = find_blender_ext()
    stage_dir = ROOT / "build" / "stage"
    stage(platforms, names, stage_dir)
    dist = Path(args.dist)
    dist.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(tool), "validate", str(stage_dir)], check=True)
    subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(stage_dir),
                    "--output-dir", str(dist), "--split-platforms"], check=True)
    for platform in platforms:
        for zip_path in sorted(dist.glob(f"neural_aesthetics-*-{platform.replace('-', '_')}.zip")):
            print(zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
