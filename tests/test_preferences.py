"""The optional training pack: installed only on request, only with online access, into our folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


@pytest.fixture
def online_access():
    system = bpy.context.preferences.system
    before = system.use_online_access
    yield system
    system.use_online_access = before


def test_install_is_greyed_out_without_online_access_and_says_where_to_allow_it(ext, online_access):
    online_access.use_online_access = False
    assert not bpy.ops.neural_aesthetics.install_training_pack.poll()
    with pytest.raises(RuntimeError, match=r"Online access is off: allow it in Preferences > System > Network"):
        bpy.ops.neural_aesthetics.install_training_pack()


def test_the_installer_puts_pinned_packages_in_its_own_folder_and_makes_them_importable(ext, tmp_path):
    """The same worker job the Install button runs, with a small pinned package instead of torch."""
    jobs, deps = installed("core.jobs.background"), installed("core.jobs.deps")
    target = tmp_path / "training_pack"
    state = jobs.BackgroundJob(
        "install", {"target": str(target), "flavour": "MPS", "requirements": ["six==1.16.0"]}
    ).wait(timeout_s=300)
    assert state.status == "done", state.message
    assert (target / "six.py").is_file()
    assert deps.add_to_path(target)
    import six

    assert Path(six.__file__).parent == target and six.__version__ == "1.16.0"


def test_a_failed_install_is_one_line_naming_pip(ext, tmp_path):
    jobs = installed("core.jobs.background")
    state = jobs.BackgroundJob(
        "install", {"target": str(tmp_path / "pack"), "flavour": "MPS",
                    "requirements": ["no-such-package-neural-aesthetics==0.0.1"]}
    ).wait(timeout_s=300)
    assert state.status == "failed"
    assert state.message.startswith("Installing the training pack failed (pip exit code 1)")
    assert "\n" not in state.message


def test_pip_command_pins_names_targets_our_folder_and_picks_the_gpu_index(ext, tmp_path):
    deps = installed("core.jobs.deps")
    command = deps.pip_command("python", tmp_path, "CUDA")
    assert command[command.index("--target") + 1] == str(tmp_path)
    assert all("==" in name for name in command[-len(deps.TRAINING_PACK):])
    assert any(part.endswith("/cu128") for part in command)
    assert not any("index" in part for part in deps.pip_command("python", tmp_path, "MPS"))
