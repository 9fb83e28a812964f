"""Settings saved with the scene, and the running job's state kept on the window manager."""

from __future__ import annotations

import bpy

from ...core import audio
from ...core.render import mapping
from ..blender import compat, strips, style_previews as styles
from .. import live_preview as preview
from . import style_map


def _style_items(self, _context):
    return styles.enum_items(on_song=self.thumbnails == "SONG")


PRESET_DESCRIPTIONS = {
    "balanced": "Every effect a little: motion follows loudness, drum hits pulse, chords colour, bass zooms",
    "pulse": "Drum hits pulse the image toward new shapes; little else moves",
    "flow": "Loudness drives the speed of a smooth, flowing motion",
    "chroma": "Chords and keys colour the image",
    "bass": "Bass zooms, turns and warps the image",
    "sections": "Each part of the song (verse, chorus, ...) gets its own look",
    "harmony": "The key tints the palette; every chord change moves the picture to the chord's own look",
}
"""Tooltip of each mapping preset of ``core.mapping.PRESETS``."""

EFFECT_DESCRIPTIONS = {
    "flow": "motion speed from loudness",
    "pulse": "a decaying pull toward new shapes on drum hits (smoothing: its decay time)",
    "chroma": "colour from the chords and keys",
    "bass": "zoom, turn and warp from the bass",
    "sections": "a new look for each part of the song (smoothing: its crossfade time)",
    "harmony": "a tint per key and a move on each chord change (smoothing: how fast a chord glides in)",
}
"""What each effect of ``core.mapping.EFFECTS`` does, for tooltips."""

IMAGE_FORMAT_ITEMS = (
    ("png8", "PNG 8-bit", "sRGB PNG, 8 bits per channel: small files, what most videos need"),
    ("png16", "PNG 16-bit", "sRGB PNG, 16 bits per channel: no banding in smooth gradients"),
    ("jpeg", "JPEG", "sRGB JPEG (quality 95): the smallest files"),
    ("exr", "OpenEXR Half", "Scene-linear half-float EXR: for compositing and colour grading"),
)
BACKEND_ITEMS = (
    ("auto", "Auto", "The GPU through Blender when one draws here (not a software renderer on the CPU), else "
     "torch when the training pack is installed, else NumPy"),
    ("gpu", "GPU", "Blender's own GPU drawing (no torch needed); the same pixels as NumPy"),
    ("numpy", "NumPy", "Always the CPU with NumPy (bundled with Blender)"),
    ("torch", "Torch", "torch from the training pack (install it in the preferences)"),
)


def _preset_items():
    return [(name, name.title(), PRESET_DESCRIPTIONS.get(name, "")) for name in mapping.PRESETS]


def load_preset_strengths(settings) -> None:
    """Show the preset's strength of every effect in the per-effect strength fields."""
    for effect, value in mapping.PRESETS[settings.preset].items():
        setattr(settings, f"strength_{effect}", value)


def _preset_changed(self, _context):
    load_preset_strengths(self)


def _custom_strengths_toggled(self, _context):
    if not self.use_custom_strengths:
        load_preset_strengths(self)


def _custom_range_toggled(self, _context):
    """A new custom range starts as the whole source strip, to narrow from there."""
    strip = strips.source_sound_strip(self.id_data) if self.use_custom_range else None
    if strip is not None:
        self.frame_range_start, self.frame_range_end = strip.frame_final_start, strip.frame_final_end - 1


def _live_preview_toggled(self, _context):
    preview.set_enabled(self.id_data, self.live_preview)


def _effect_strength(effect: str):
    return bpy.props.FloatProperty(
        name=effect.title(),
        description=f"Strength of {EFFECT_DESCRIPTIONS.get(effect, effect)} (0 = off); "
        "used when Custom Strengths is on, else the preset's",
        default=mapping.PRESETS[mapping.DEFAULT_PRESET][effect], min=0.0, max=mapping.MAX_STRENGTH,
        soft_max=3.0,
    )


def _sound_strip_names(_self, context, _edit_text):
    """Search list of a Listen To field: the scene's sound strips."""
    return sorted(strip.name for strip in compat.all_strips(context.scene) if strip.type == "SOUND")


def _effect_source(effect: str):
    return bpy.props.StringProperty(
        name=effect.title(),
        description=f"The sound strip that {EFFECT_DESCRIPTIONS.get(effect, effect)} listens to, e.g. a drums "
        "or bass stem (it may be muted: it is analysed, not heard). Empty: the visualizer's own sound strip",
        default="",
        search=_sound_strip_names,
    )


def _effect_smoothing(effect: str):
    return bpy.props.FloatProperty(
        name=effect.title(),
        description=f"Smoothing of {EFFECT_DESCRIPTIONS.get(effect, effect)}, in seconds; "
        "used when Custom Smoothing is on",
        default=mapping.DEFAULT_SMOOTHING_S[effect], min=0.0, max=60.0, soft_max=4.0, unit="TIME_ABSOLUTE",
    )


class NeuralAestheticsSettings(bpy.types.PropertyGroup):
    """Per-scene settings of the visualizer (saved in the .blend)."""

    style: bpy.props.EnumProperty(
        name="Style",
        description="The look of the visualizer: a trained or procedural CPPN style",
        items=_style_items,
    )
    thumbnails: bpy.props.EnumProperty(
        name="Thumbnails",
        description="What the style thumbnails show",
        items=(("BUNDLED", "Bundled", "Each style's own picture"),
               ("SONG", "On Your Song", "Each style at one moment of your song (Preview All Styles)")),
        default="BUNDLED",
    )
    output_dir: bpy.props.StringProperty(
        name="Output Folder",
        description="Folder for baked frames; each sound strip gets a subfolder named after it. "
        "'//' means next to the .blend file",
        default="//neural_frames/",
        subtype="DIR_PATH",
        options=compat.BLEND_RELATIVE_PATH_OPTIONS,
    )
    use_scene_resolution: bpy.props.BoolProperty(
        name="Scene Resolution",
        description="Bake at the scene's output resolution (including its percentage)",
        default=True,
    )
    resolution_x: bpy.props.IntProperty(
        name="Width", description="Frame width in pixels (Scene Resolution off)", default=1280, min=16,
        max=16384, subtype="PIXEL"
    )
    resolution_y: bpy.props.IntProperty(
        name="Height", description="Frame height in pixels (Scene Resolution off)", default=720, min=16,
        max=16384, subtype="PIXEL"
    )
    draft: bpy.props.BoolProperty(
        name="Draft",
        description="Bake at half the width and height (a quarter of the time) to try a style or mapping; "
        "the strip is marked as a draft, and a bake with Draft off replaces its frames",
        default=False,
    )
    seed: bpy.props.IntProperty(
        name="Motion Seed",
        description="Picks the path the visuals travel through the style; same seed, same frames", default=0,
        min=0,
    )
    strength: bpy.props.FloatProperty(
        name="Strength", description="How strongly the music moves the image", default=1.0, min=0.0, max=4.0
    )
    preset: bpy.props.EnumProperty(
        name="Mapping",
        description="How the music moves the image: which effects are strong (choosing one loads its "
        "strengths)",
        items=_preset_items(),
        default=mapping.DEFAULT_PRESET,
        update=_preset_changed,
    )
    use_custom_strengths: bpy.props.BoolProperty(
        name="Custom Strengths",
        description="Set the strength of each effect yourself instead of using the preset's",
        default=False,
        update=_custom_strengths_toggled,
    )
    # One strength, smoothing and source per effect of core.mapping.EFFECTS (tests check the set).
    strength_flow: _effect_strength("flow")
    strength_pulse: _effect_strength("pulse")
    strength_chroma: _effect_strength("chroma")
    strength_bass: _effect_strength("bass")
    strength_sections: _effect_strength("sections")
    strength_harmony: _effect_strength("harmony")
    use_custom_smoothing: bpy.props.BoolProperty(
        name="Custom Smoothing",
        description="Set how smoothly each effect follows the music, in seconds, instead of the defaults",
        default=False,
    )
    smoothing_flow: _effect_smoothing("flow")
    smoothing_pulse: _effect_smoothing("pulse")
    smoothing_chroma: _effect_smoothing("chroma")
    smoothing_bass: _effect_smoothing("bass")
    smoothing_sections: _effect_smoothing("sections")
    smoothing_harmony: _effect_smoothing("harmony")
    source_flow: _effect_source("flow")
    source_pulse: _effect_source("pulse")
    source_chroma: _effect_source("chroma")
    source_bass: _effect_source("bass")
    source_sections: _effect_source("sections")
    source_harmony: _effect_source("harmony")
    beats_per_bar: bpy.props.EnumProperty(
        name="Beats per Bar",
        description="Beats in a bar of the song, which places the downbeats (Auto: heard in the song, 2, 3, 4 "
                    "or 6 for 6/8 counted in eighths; set 5 or 7 yourself)",
        items=[("0", "Auto", "The meter heard in the song")] + [(str(n), str(n), f"{n} beats per bar")
                                                               for n in range(2, 8)],
        default="0",
    )
    use_tempo: bpy.props.BoolProperty(
        name="Set Tempo",
        description="Give the song's tempo yourself, when Auto hears its beats at double or half its speed "
                    "(a slow song's eighth notes as beats, or every other beat of a fast one)",
        default=False,
    )
    tempo_bpm: bpy.props.FloatProperty(
        name="Tempo",
        description="About how many beats a minute the song has: beats are then found within about a third either "
                    "side of it, never at double or half",
        default=120.0, min=audio.TEMPO_HINT_RANGE_BPM[0], max=audio.TEMPO_HINT_RANGE_BPM[1], soft_min=40.0,
        soft_max=220.0, precision=1, step=100,
    )
    image_format: bpy.props.EnumProperty(
        name="Format", description="File format of the baked frames", items=IMAGE_FORMAT_ITEMS, default="png8"
    )
    backend: bpy.props.EnumProperty(
        name="Compute", description="What computes the frames", items=BACKEND_ITEMS, default="auto"
    )
    use_custom_range: bpy.props.BoolProperty(
        name="Custom Range",
        description="Bake only some frames of the sound strip (scene frames, inclusive) instead of all of it",
        default=False,
        update=_custom_range_toggled,
    )
    frame_range_start: bpy.props.IntProperty(
        name="Start", description="First scene frame to bake (inclusive)", default=1
    )
    frame_range_end: bpy.props.IntProperty(
        name="End", description="Last scene frame to bake (inclusive)", default=250
    )
    live_preview: bpy.props.BoolProperty(
        name="Live Preview",
        description="While the timeline plays or scrubs, draw a small preview of the visualizer for the current "
        "frame in the Sequencer preview (image 'Neural Preview')",
        default=False,
        update=_live_preview_toggled,
    )


class NeuralAestheticsTraining(bpy.types.PropertyGroup):
    """Per-scene settings of Train Style (saved in the .blend)."""

    name: bpy.props.StringProperty(
        name="Name",
        description="Name of the new style (letters, digits, '-' and '_'). Empty: made from the prompt. "
        "A name already in use gets a number: no style is ever replaced",
        default="",
    )
    prompt: bpy.props.StringProperty(
        name="Prompt",
        description="What the style should look like, e.g. 'cosmic nebula, glowing gas clouds'. "
        "Several prompts: separate them with '|'",
        default="",
    )
    negative_prompt: bpy.props.StringProperty(
        name="Negative", description="What the style should not look like, e.g. 'dull grey, text'", default=""
    )
    palette: bpy.props.StringProperty(
        name="Palette",
        description="Colours the frames should be made of: colour names (CSS, XKCD) and/or hex codes, e.g. "
        "'teal, coral, midnight blue' or '#ff2a6d, #05d9e8'. A palette alone trains without the training pack",
        default="",
    )
    reference_dir: bpy.props.StringProperty(
        name="Reference Images",
        description="A folder of images (a mood board) the style should look like",
        default="",
        subtype="DIR_PATH",
    )
    steps: bpy.props.IntProperty(
        name="Steps", description="Training steps: more is closer to the prompt and slower (600 is a good start)",
        default=600, min=1, max=100000, soft_max=3000,
    )
    seed: bpy.props.IntProperty(
        name="Training Seed",
        description="Seed of the starting network and every random draw of the training", default=0, min=0,
    )


class NeuralAestheticsJob(bpy.types.PropertyGroup):
    """State of the bake running in the background (not saved, not undone)."""

    status: bpy.props.EnumProperty(
        items=(
            ("IDLE", "Idle", "No job has run yet"),
            ("RUNNING", "Running", "A job is running"),
            ("DONE", "Done", "The last job finished"),
            ("FAILED", "Failed", "The last job failed: see the message"),
            ("CANCELLED", "Cancelled", "The last job was cancelled"),
        ),
        default="IDLE",
    )
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, default=0.0, subtype="FACTOR")
    message: bpy.props.StringProperty(default="")
    cancel_requested: bpy.props.BoolProperty(
        default=False, description="The Cancel button was pressed: the job stops after its current step")


NeuralAestheticsSettings.__annotations__.update(style_map.SETTINGS_ANNOTATIONS)
CLASSES = (*style_map.CLASSES, NeuralAestheticsSettings, NeuralAestheticsTraining, NeuralAestheticsJob)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.neural_aesthetics = bpy.props.PointerProperty(type=NeuralAestheticsSettings)
    bpy.types.Scene.neural_aesthetics_train = bpy.props.PointerProperty(type=NeuralAestheticsTraining)
    bpy.types.WindowManager.neural_aesthetics_job = bpy.props.PointerProperty(type=NeuralAestheticsJob)


def unregister() -> None:
    del bpy.types.WindowManager.neural_aesthetics_job
    del bpy.types.Scene.neural_aesthetics_train
    del bpy.types.Scene.neural_aesthetics
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
