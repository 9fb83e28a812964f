"""Train Style: a prompt, a palette or a mood board becomes a new style in the user's style folder.

From the UI (invoke) the training runs in a worker process (``core/worker.py``, job
``train``) while a modal timer shows its steps, the CLIP score and a preview of the style
so far in the Train panel; Esc or the Cancel button stops it within one step and saves
nothing. From a script (execute) it blocks. The settings come from the scene's Train
panel and the preferences (CLIP model, weights, device); the new style is selected when
it is done.
"""

from __future__ import annotations

import bpy

from ...core.jobs import deps
from ...core.train import training as train
from ...core.errors import UserError
from . import job_progress as jobs_ui
from ..settings import preferences
from ..blender import style_previews as styles
from ..blender.paths import user_folder

PREVIEW_EVERY_STEPS = 10
"""A preview of the style in training is shown every this many steps."""

_previews = None  # bpy.utils.previews collection with the training preview image
_shown = {"icon": 0, "caption": "", "path": "", "report_icon": 0, "report": ""}  # what the Train panel shows


def register() -> None:
    global _previews
    import bpy.utils.previews

    _previews = bpy.utils.previews.new()


def unregister() -> None:
    global _previews
    import bpy.utils.previews

    bpy.utils.previews.remove(_previews)
    _previews = None
    _shown.update(icon=0, caption="", path="", report_icon=0, report="")


def preview_status() -> tuple[int, str, str]:
    """What the Train panel shows of the running (or last) training.

    Returns (icon id of the latest preview, 0 before the first one or under ``blender -b``,
    which makes no icons; a caption such as 'Step 40/600, CLIP score 0.231'; the preview
    PNG's path, "" before the first one).
    """
    return _shown["icon"], _shown["caption"], _shown["path"]


def report_status() -> tuple[int, str]:
    """The last finished training's report as the Train panel shows it: (icon id of its PNG,
    0 under ``blender -b``; the PNG's path, "" before a training finished here)."""
    return _shown["report_icon"], _shown["report"]


def report_of_style(style_path) -> str:
    """The training report PNG of a style file, or "" if it has none (bundled styles, imports)."""
    from ...core.train import report

    if not style_path:
        return ""
    png, _json = report.report_paths(style_path)
    return str(png) if png.is_file() else ""


def report_of_scene_style(context) -> str:
    """The training report PNG of the scene's style ("" if it has none): the style browser links it."""
    name = context.scene.neural_aesthetics.style
    return next((report_of_style(info.path) for info in styles.available() if info.name == name), "")


def _show_report(style_path) -> str:
    """Show a finished training's report in the Train panel; returns its path ("" if none)."""
    path = report_of_style(style_path)
    _shown["report"] = path
    if path and _previews is not None:
        _shown["report_icon"] = _previews.load(f"report:{path}", path, "IMAGE", force_reload=True).icon_id
    return path


def show_progress(state) -> None:
    """Show a running training's ``jobs.JobState`` (step, CLIP score, preview) in the Train panel."""
    if not state.total:
        return
    preview_path, score = state.details.get("preview"), state.details.get("score")
    if preview_path and _previews is not None:
        _previews.clear()  # one preview at a time; a new key (and force_reload) makes Blender read the new file
        _shown["icon"] = _previews.load(f"step{state.done}", preview_path, "IMAGE", force_reload=True).icon_id
        _shown["path"] = preview_path
    _shown["caption"] = f"Step {state.done}/{state.total}" + ("" if score is None else f", CLIP score {score:.3f}")


def training_config(context) -> tuple[train.TrainConfig, str]:
    """The checked ``TrainConfig`` of the scene's Train settings and the preferences, and a free style name.

    Raises ``UserError`` (one line) for a setting that cannot work.
    """
    settings = context.scene.neural_aesthetics_train
    prefs = preferences.get(context)
    references = train.reference_images_in(bpy.path.abspath(settings.reference_dir)) if settings.reference_dir else []
    config = train.TrainConfig(
        prompts=train.split_prompts(settings.prompt),
        negative_prompt=settings.negative_prompt.strip(),
        reference_images=references,
        palette=train.parse_palette_text(settings.palette),
        steps=settings.steps,
        seed=settings.seed,
        device=prefs.device.lower(),
        clip_model=prefs.clip_model.strip(),
        clip_pretrained=prefs.clip_pretrained.strip(),
        clip_checkpoint=bpy.path.abspath(prefs.clip_checkpoint) if prefs.clip_checkpoint else "",
        cache_dir=str(preferences.cache_dir()),
        allow_download=bool(bpy.app.online_access),
        preview_every=PREVIEW_EVERY_STEPS,
    )
    train.check_config(config)
    wanted = settings.name.strip() or (config.prompts[0] if config.prompts else "palette")
    name = train.free_style_name(wanted, [info.name for info in styles.available()])
    return config, name


def worker_request(context) -> tuple[dict, str]:
    """The worker's ``train`` request for the scene's Train settings, and the first progress message."""
    config, name = training_config(context)
    _shown.update(icon=0, caption="", path="", report_icon=0, report="")
    request = {"config": config.to_dict(), "out_dir": str(user_folder("styles")), "name": name,
               "preview_path": str(user_folder("cache") / "training_preview.png")}
    return request, "Loading CLIP" if config.uses_clip else "Starting"


def finish(context, result: dict) -> str:
    """Select a finished training's style (a worker ``result``) in the scene and show its
    training report in the Train panel; returns the report text."""
    context.scene.neural_aesthetics.style = result["name"]
    score, initial = result.get("score"), result.get("score_initial")
    quality = "" if score is None or initial is None else f": held-out CLIP score {initial:.3f} -> {score:.3f}"
    distance, start = result.get("palette_distance"), result.get("palette_distance_initial")
    if not quality and distance is not None and start is not None:
        quality = f": palette distance {start:.3f} -> {distance:.3f}"
    report = _show_report(result.get("path"))
    where = f" (report: {report})" if report else ""
    return f"Trained style '{result['name']}'{quality}; it is now the scene's style{where}"


class NEURAL_AESTHETICS_OT_train_style(jobs_ui.WorkerModal, bpy.types.Operator):
    """Train a new style from the prompt, palette or reference images of the Train panel (CLIP for a prompt or images; a palette alone trains anywhere)"""

    bl_idname = "neural_aesthetics.train_style"
    bl_label = "Train Style"
    bl_options = {"REGISTER", "UNDO"}

    cancelled_message = "Training cancelled: no style was saved"

    @classmethod
    def poll(cls, context):
        if jobs_ui.refuse_while_running(cls, context):
            return False
        settings = context.scene.neural_aesthetics_train
        if not (settings.prompt.strip() or settings.palette.strip() or settings.reference_dir):
            cls.poll_message_set("Give a prompt, a palette or a folder of reference images to train towards")
            return False
        if deps.torch_version() is None and (settings.prompt.strip() or settings.reference_dir):
            cls.poll_message_set("Training with a prompt or reference images needs the training pack (torch + "
                                 "open_clip): install it in Edit > Preferences > Add-ons > Neural Aesthetics, "
                                 "or train from a palette alone")
            return False
        return True

    def execute(self, context):
        from ...core.render import style

        try:
            config, name = training_config(context)
            path = train.train_style(config, user_folder("styles"), name)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        metadata = style.load_style(path).metadata
        self.report({"INFO"}, finish(context, {**metadata, "name": name, "path": str(path)}))
        return {"FINISHED"}

    def invoke(self, context, _event):
        try:
            request, message = worker_request(context)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return self.start_worker(context, "train", request, message=message)

    def on_progress(self, state):
        show_progress(state)

    def on_done(self, context, state):
        self.report({"INFO"}, finish(context, state.result))
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_train_style,)
