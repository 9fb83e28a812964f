"""Draw the README's picture of the Neural tab from the panels' own draw code.

    .venvs/blender-5.0/bin/python scripts/sidebar_picture.py [--out docs/images/sidebar.png]

``bpy`` as a module has no window to capture, so this installs the built extension (run
``make build`` first) into a throw-away user folder, makes a scene with a sound strip of
generated music, calls every panel's ``draw`` with a layout that records its widgets, and
draws what was recorded in Blender's default dark theme: the panels' order, their
buttons, the lines under greyed buttons, the settings with their current values and the
selected style's own thumbnail. Closed panels show only their header, as in Blender.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH_PX = 420
LINE_PX = 26
PAD_PX = 10
COLOURS = {"region": (48, 48, 48), "header": (61, 61, 61), "widget": (84, 84, 84), "text": (230, 230, 230), "dim": (160, 160, 160), "greyed": (125, 125, 125), "on": (71, 114, 179),
           "check": (34, 34, 34)}


class Recorder:
    """Stands in for ``UILayout``: records widgets as lines, a ``row()`` as one line of several."""

    def __init__(self, lines: list, depth: int = 0, in_row: list | None = None):
        self.lines, self.depth, self.in_row = lines, depth, in_row

    def _add(self, widget: tuple) -> None:
        if self.in_row is not None:
            self.in_row.append(widget)
        else:
            self.lines.append((self.depth, [widget]))

    def row(self, *_args, **_kwargs):
        cells: list = []
        self._add(("row", cells))
        return Recorder(self.lines, self.depth, cells)

    def column(self, *_args, **_kwargs):
        return Recorder(self.lines, self.depth, self.in_row)

    split = column

    def box(self, *_args, **_kwargs):
        return Recorder(self.lines, self.depth + 1, None)

    def prop(self, data, name, text=None, expand=False, **_options):
        self._add(("prop", data, name, text, expand))

    def operator(self, idname, text=None, **_options):
        self._add(("operator", idname, text))
        return type("OperatorProperties", (), {})()

    def label(self, text="", icon="NONE", **_options):
        self._add(("label", text, icon))

    def template_icon_view(self, data, name, **_options):
        self._add(("thumbnail", data, name))

    def __getattr__(self, _name):  # separator(), template_list(), progress(): not drawn here
        return lambda *args, **kwargs: None


def _words(widget) -> str:
    """What a widget shows, as Blender would label it."""
    import bpy

    kind = widget[0]
    if kind == "label":
        return widget[1]
    if kind == "operator":
        _, idname, text = widget
        if text is not None:
            return text
        module, name = idname.split(".")
        return getattr(getattr(bpy.ops, module), name).get_rna_type().name
    _, data, name, text, _expand = widget
    prop = data.bl_rna.properties[name]
    title = prop.name if text is None else text
    value = getattr(data, name)
    if prop.type == "BOOLEAN":  # (the box beside it shows the value: ``_checked``)
        return title
    if prop.type == "ENUM":
        shown = next((item.name for item in prop.enum_items if item.identifier == value), str(value))
        return f"{title}: {shown}" if title else shown
    if prop.type == "FLOAT":
        return f"{title}: {value:.2f}"
    return f"{title}: {value}" if title else str(value)


def _fit(pen, text: str, width: float) -> str:
    """``text`` cut with an ellipsis to ``width`` pixels, as Blender cuts a label."""
    if pen.textlength(text) <= width:
        return text
    while text and pen.textlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def _checked(widget) -> bool | None:
    """Whether a checkbox widget is ticked; None for any other widget."""
    if widget[0] != "prop" or widget[1].bl_rna.properties[widget[2]].type != "BOOLEAN":
        return None
    return bool(getattr(widget[1], widget[2]))


def _segments(widget) -> list[tuple[str, bool]]:
    """An expanded enum's items as (name, selected)."""
    _, data, name, _text, _expand = widget
    prop = data.bl_rna.properties[name]
    return [(item.name, item.identifier == getattr(data, name)) for item in prop.enum_items]


def _draw_line(pen, widgets: list, left: float, y: float, greyed: bool) -> None:
    """One line of the panel: its widgets side by side."""
    while any(widget[0] == "row" for widget in widgets):  # a row inside a row: one line still
        widgets = [inner for widget in widgets for inner in (widget[1] if widget[0] == "row" else [widget])]
    if len(widgets) == 1 and widgets[0][0] == "prop" and widgets[0][4]:
        widgets = [("segment", name, selected) for name, selected in _segments(widgets[0])]
    width = (WIDTH_PX - left - PAD_PX) / max(1, len(widgets))
    for index, widget in enumerate(widgets):
        x0 = left + index * width
        room = width - 16
        if widget[0] == "label":
            pen.text((x0 + 4, y + 6), _fit(pen, widget[1], room), fill=COLOURS["dim"])
            continue
        if widget[0] == "segment":
            fill, text = COLOURS["on" if widget[2] else "widget"], widget[1]
        else:
            fill, text = COLOURS["widget"], _words(widget)
        checked = _checked(widget)
        if checked is not None:
            pen.rounded_rectangle((x0 + 4, y + 4, x0 + 18, y + 18), radius=3, fill=COLOURS["on" if checked else "check"])
            pen.text((x0 + 26, y + 6), _fit(pen, text, room - 22), fill=COLOURS["text"])
            continue
        pen.rounded_rectangle((x0 + 1, y, x0 + width - 2, y + LINE_PX - 4), radius=4, fill=fill)
        pen.text((x0 + 8, y + 6), _fit(pen, text, room), fill=COLOURS["greyed" if greyed else "text"])


def _record(draw, context) -> list:
    lines: list = []
    draw(type("Panel", (), {"layout": Recorder(lines)})(), context)
    return lines


def picture(context, style_png: Path):
    """The Neural tab as a Pillow image."""
    from PIL import Image, ImageDraw

    panels = sys.modules["bl_ext.user_default.neural_aesthetics.panels"]
    drawn = [(label, is_open, _record(draw, context) if is_open else []) for _suffix, label, draw, is_open
             in panels.PANELS]
    thumb = Image.open(style_png).convert("RGB")
    thumb = thumb.resize((WIDTH_PX - 6 * PAD_PX, round((WIDTH_PX - 6 * PAD_PX) * thumb.height / thumb.width)))
    height = LINE_PX + PAD_PX
    for _label, _is_open, lines in drawn:
        height += LINE_PX + PAD_PX + sum(thumb.height + PAD_PX if cells[0][0] == "thumbnail" else LINE_PX + 4
                                         for _depth, cells in lines)
    image = Image.new("RGB", (WIDTH_PX, height + PAD_PX), COLOURS["region"])
    pen = ImageDraw.Draw(image)
    pen.text((PAD_PX, PAD_PX), "Neural Aesthetics", fill=COLOURS["text"])
    y = LINE_PX + PAD_PX
    for label, is_open, lines in drawn:
        pen.rectangle((PAD_PX // 2, y, WIDTH_PX - PAD_PX // 2, y + LINE_PX - 4), fill=COLOURS["header"])
        pen.text((PAD_PX, y + 6), f"{'v' if is_open else '>'}  {label}", fill=COLOURS["text"])
        y += LINE_PX + PAD_PX // 2
        for number, (depth, cells) in enumerate(lines):
            left = PAD_PX * (2 + depth)
            if cells[0][0] == "thumbnail":
                image.paste(thumb, (3 * PAD_PX, y))
                y += thumb.height + PAD_PX
                continue
            widgets = cells[0][1] if cells[0][0] == "row" else cells
            # a button with a line under it saying why (an INFO label) is greyed
            following = lines[number + 1][1][0] if number + 1 < len(lines) else None
            greyed = following is not None and following[0] == "label" and following[2] == "INFO"
            _draw_line(pen, widgets, left, y, greyed)
            y += LINE_PX + 4
        y += PAD_PX // 2
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "sidebar.png")
    args = parser.parse_args(argv)
    os.environ["HOME"] = tempfile.mkdtemp(prefix="na-sidebar-home-")
    sys.path.insert(0, str(ROOT / "scripts"))
    sys.path.insert(0, str(ROOT / "tests"))
    import bpy
    import synth_music
    from helpers import EXTENSION_ID, built_package

    bpy.ops.extensions.package_install_files(filepath=str(built_package()), repo="user_default",
                                             enable_on_install=True)
    compat = sys.modules[f"bl_ext.user_default.{EXTENSION_ID}.operators.blender.compat"]
    folder = Path(tempfile.mkdtemp(prefix="na-sidebar-"))
    samples, _onsets = synth_music.render_demo_clip(seconds=8.0, seed=3)
    synth_music.write_wav(folder / "music.wav", samples, 44100)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "song.blend"))
    strip = compat.new_sound_strip(scene, "Music", "//music.wav", channel=1, frame_start=1)
    scene.sequence_editor.active_strip = strip
    scene.frame_end = strip.frame_final_end - 1
    style_png = ROOT / "styles" / f"{scene.neural_aesthetics.style}.png"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture(bpy.context, style_png).save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
