"""Whether the scene's colour management changes how baked frames look in the render."""

from __future__ import annotations

NEUTRAL_VIEW = "Standard"


def view_changes_frames(scene, image_format: str) -> bool:
    """True when rendering would change the colours of sRGB frames (PNG, JPEG).

    Blender's view transform applies to the Sequencer's output too: under AgX or Filmic
    (the factory default is AgX) the baked colours come out washed out. EXR frames are
    scene-linear, meant to be graded: their view transform is the user's choice.
    """
    if image_format == "exr":
        return False
    view = scene.view_settings
    return (view.view_transform != NEUTRAL_VIEW or view.look != "None"
            or view.exposure != 0.0 or view.gamma != 1.0)


def view_warning(scene, image_format: str) -> str | None:
    """One line saying the render changes the frames' colours and what fixes it, or None."""
    if not view_changes_frames(scene, image_format):
        return None
    view = scene.view_settings
    what = view.view_transform if view.view_transform != NEUTRAL_VIEW else "the view's look, exposure or gamma"
    return (f"The render shows the frames through {what}: their colours wash out. "
            f"Use the Standard view transform (Render › Color Management)")
