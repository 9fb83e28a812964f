"""Extension preferences: the optional training pack, CLIP weights, device, output folder."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import bpy

from ...core.jobs import deps
from ..blender import compat
from ..verbs import job_progress as jobs_ui
from ..blender.paths import ADDON_PACKAGE, user_folder

LOG_LINES = 12

# The installer's last lines of output, for the preferences (runtime only, not saved).
install_log: deque[str] = deque(maxlen=LOG_LINES)


def training_pack_dir(create: bool = True) -> Path:
    """Where the training pack is installed: inside the extension's user folder."""
    return user_folder("training_pack", create=create)


def cache_dir() -> Path:
    """Where CLIP weights and analyses are cached: inside the extension's user folder."""
    return user_folder("cache")


def analysis_cache_dir() -> Path:
    """The sound-analysis cache (``core.audio.cache``) that every bake, chunk and preview shares."""
    return cache_dir() / "audio"


def get(context=None):
    """This extension's preferences."""
    return (context or bpy.context).preferences.addons[ADDON_PACKAGE].preferences


class NEURAL_AESTHETICS_OT_install_training_pack(jobs_ui.WorkerModal, bpy.types.Operator):
    """Download and install torch and open_clip for training styles (pinned versions, into the extension's folder)"""

    bl_idname = "neural_aesthetics.install_training_pack"
    bl_label = "Install Training Pack"

    cancelled_message = "Installation cancelled"

    @classmethod
    def poll(cls, context):
        if not bpy.app.online_access:
            cls.poll_message_set(
                "Online access is off: allow it in Preferences > System > Network to download the training pack"
            )
            return False
        if jobs_ui.refuse_while_running(cls, context):
            return False
        return True

    def _request(self, context) -> dict:
        return {"target": str(training_pack_dir()), "flavour": get(context).flavour}

    def execute(self, context):
        from ...core.jobs.background import BackgroundJob

        state = BackgroundJob("install", self._request(context), log_dir=user_folder("logs")).wait()
        return self._finished(state)

    def invoke(self, context, _event):
        install_log.clear()
        return self.start_worker(context, "install", self._request(context), message="Installing")

    def on_progress(self, state):
        if state.message and (not install_log or install_log[-1] != state.message):
            install_log.append(state.message)

    def on_done(self, context, state):
        return self._finished(state)

    def _finished(self, state):
        if state.status != "done":
            self.report({"ERROR"}, state.message)
            return {"CANCELLED"}
        deps.add_to_path(Path(state.result["target"]))
        self.report({"INFO"}, f"Training pack installed: torch {deps.torch_version()}")
        return {"FINISHED"}


class NeuralAestheticsPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    flavour: bpy.props.EnumProperty(
        name="Build",
        description="Which torch build to install: pick your GPU's, or CPU",
        items=[(key, flavour.label, flavour.description) for key, flavour in deps.FLAVOURS.items()],
        default=deps.default_flavour(),
    )
    device: bpy.props.EnumProperty(
        name="Device",
        description="Where training and baking compute when torch is installed",
        items=(("AUTO", "Automatic", "CUDA, then Apple Metal, then the CPU"),
               ("CPU", "CPU", "Always the CPU"),
               ("CUDA", "CUDA", "An NVIDIA (or ROCm) GPU"),
               ("MPS", "Metal", "An Apple Silicon GPU")),
        default="AUTO",
    )
    clip_model: bpy.props.StringProperty(
        name="CLIP Model", description="open_clip model name used for training", default="ViT-B-32"
    )
    clip_pretrained: bpy.props.StringProperty(
        name="Weights", description="open_clip pretrained tag, downloaded on first use (online access needed)",
        default="laion2b_s34b_b79k",
    )
    clip_checkpoint: bpy.props.StringProperty(
        name="Local Checkpoint", description="A CLIP checkpoint file to use instead of downloading weights",
        subtype="FILE_PATH",
    )
    default_output_dir: bpy.props.StringProperty(
        name="Default Output Folder",
        description="Where scenes whose Output Folder was never changed bake their frames (one subfolder per "
        "sound strip). Empty: '//neural_frames/', next to the .blend file",
        subtype="DIR_PATH",
        options=compat.BLEND_RELATIVE_PATH_OPTIONS,
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        box = layout.box()
        box.label(text="Training Pack (torch + open_clip)", icon="MOD_NOISE")
        version = deps.torch_version()
        if version:
            box.label(text=f"Installed: torch {version}", icon="CHECKMARK")
        else:
            box.label(text="Not installed: baking works without it; training a style needs it", icon="INFO")
        box.prop(self, "flavour")
        box.operator(NEURAL_AESTHETICS_OT_install_training_pack.bl_idname, icon="IMPORT")
        if not bpy.app.online_access:
            box.label(text="Allow online access (Preferences > System > Network) to install", icon="ERROR")
        for line in install_log:
            box.label(text=line)
        column = layout.column(heading="Training")
        column.prop(self, "device")
        column.prop(self, "clip_model")
        column.prop(self, "clip_pretrained")
        column.prop(self, "clip_checkpoint")
        column.label(text=f"Weights cache: {cache_dir()}")
        layout.column(heading="Baking").prop(self, "default_output_dir")


CLASSES = (NEURAL_AESTHETICS_OT_install_training_pack, NeuralAestheticsPreferences)


def register_paths() -> None:
    """Make an installed training pack importable (called at registration)."""
    deps.add_to_path(training_pack_dir(create=False))
