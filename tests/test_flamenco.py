"""The Flamenco job type (scripts/flamenco/neural_aesthetics.js), run in V8.

A small stand-in for what a Flamenco 3 Manager gives a job compiler script (``author``,
``path``, ``frameChunker``, ``job.addTask`` storing a *copy* of the task, as the Manager's
Go code does) runs the script; the tasks it makes are checked as a Worker would run them:
the ``blender-render`` command becomes ``exe exeArgs argsBefore blendfile args``, the words
after ``--command neural_aesthetics`` are parsed by the installed extension's own argparse
parser, and the slow test runs the bake tasks as separate processes at the same time.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import INSTALLED_MODULE, ROOT, strip_folder

mini_racer = pytest.importorskip("py_mini_racer", reason="needs mini-racer (tests/requirements/*.txt)")

JOB_TYPE_FILE = ROOT / "scripts" / "flamenco" / "neural_aesthetics.js"

PROPERTIES = settings(max_examples=200, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# What a Flamenco Manager offers a job compiler script (internal/manager/job_compilers): the
# globals print/alert/frameChunker/frameCount/formatTimestampLocal and the modules author and
# path. Like the Manager, job.addTask keeps a copy of the task: what is added to a task after
# that is lost, so a script must give a task its dependencies before adding it.
FAKE_FLAMENCO = r"""
const author = {
    Task(name, type) {
        name = String(name).trim();
        type = String(type).trim();
        if (!name) throw "author.Task(name, type): name is required";
        if (!type) throw "author.Task(name, type): type is required";
        return {
            name: name, type: type, commands: [], dependencies: [],
            addCommand(command) { this.commands.push(command); },
            addDependency(task) { this.dependencies.push(task); },
        };
    },
    Command(name, parameters, totalStepCount) {
        return { name: name, parameters: parameters, totalStepCount: totalStepCount || 0 };
    },
};

const path = {
    join(...parts) {
        return parts.filter((part) => part !== "").join("/").replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
    },
    dirname(p) {
        const slash = p.lastIndexOf("/");
        return slash < 0 ? "." : slash === 0 ? "/" : p.slice(0, slash);
    },
    basename(p) { return p.slice(p.lastIndexOf("/") + 1); },
    stem(p) {
        const base = path.basename(p);
        const dot = base.lastIndexOf(".");
        return dot <= 0 ? base : base.slice(0, dot);
    },
};

function print() {}
function alert() {}
function formatTimestampLocal(timestamp) { return "2025-01-01_120000"; }

function explodeFrames(range) {
    const frames = new Set();
    for (const part of String(range).replaceAll("..", "-").split(",")) {
        const ends = part.split("-").map((x) => parseInt(x.trim(), 10));
        if (ends.some(isNaN) || ends.length > 2) throw `invalid range "${range}"`;
        for (let f = ends[0]; f <= ends[ends.length - 1]; f++) frames.add(f);
    }
    return [...frames].sort((a, b) => a - b);
}

// Flamenco's own chunker, with its quirk: a chunk of two frames A, A+1 comes out as "A,A+1".
function frameChunker(range, chunkSize) {
    const frames = explodeFrames(range);
    const chunks = [];
    for (let i = 0; i < frames.length; i += chunkSize) {
        const part = frames.slice(i, i + chunkSize);
        const a = part[0], b = part[part.length - 1];
        chunks.push(a === b ? `${a}` : b === a + 1 ? `${a},${b}` : `${a}-${b}`);
    }
    return chunks;
}
function frameCount(range) { return explodeFrames(range).length; }

function __compile(settings) {
    const job = {
        name: "test job", created: "2025-01-01T12:00:00Z", settings: settings, tasks: [],
        addTask(task) {
            this.tasks.push(JSON.parse(JSON.stringify({
                name: task.name, type: task.type, commands: task.commands,
                dependencies: task.dependencies.map((t) => t.name),
            })));
        },
    };
    compileJob(job);
    return JSON.stringify(job.tasks);
}
"""

# A Manager's two-way variables, as a Worker gets them expanded.
VARIABLES = {"blender": "/opt/blender/blender", "blenderArgs": "-b -y"}

BASE_SETTINGS = {
    "blendfile": "/farm/jobs/song/song.flamenco.blend",
    "frames": "1-240",
    "chunk_size": 50,
    "strip": "",
    "backend": "numpy",
    "style": "",
    "style_map": "",
    "transition": "",
    "size": "",
    "seed": -1,
    "frames_output": "",
    "render_output_root": "/farm/renders/song",
    "render_frames": "1-240",
    "render_chunk_size": 50,
    "format": "PNG",
}


@pytest.fixture(scope="module")
def v8():
    context = mini_racer.MiniRacer()
    context.eval(FAKE_FLAMENCO)
    context.eval(JOB_TYPE_FILE.read_text(encoding="utf-8"))
    return context


def compile_job(v8, **changes) -> list[dict]:
    return json.loads(v8.eval(f"__compile({json.dumps({**BASE_SETTINGS, **changes})})"))


def js(v8, expression: str):
    return json.loads(v8.eval(f"JSON.stringify({expression})"))


@dataclass
class BlenderRun:
    """What Blender does with a command line (the options this job type uses), in order."""

    background: bool = False
    blend: str | None = None
    command: list[str] | None = None  # the words after --command
    renders: list[dict] = field(default_factory=list)


def worker_argv(task: dict) -> list[str]:
    """The command line a Worker runs for the task's one blender-render command."""
    (command,) = task["commands"]
    assert command["name"] == "blender-render"
    parameters = command["parameters"]
    assert isinstance(parameters["blendfile"], str), "a Worker refuses a blender-render without a blendfile"

    def expand(text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda match: VARIABLES[match.group(1)], text)

    return [expand(parameters["exe"]), *shlex.split(expand(parameters.get("exeArgs", ""))),
            *parameters.get("argsBefore", []), *([parameters["blendfile"]] if parameters["blendfile"] else []),
            *parameters.get("args", [])]


def blender_run(argv: list[str]) -> BlenderRun:
    """Blender's reading of ``argv``: options act in order, ``--command`` takes all the rest."""
    run, words = BlenderRun(), iter(argv[1:])
    output, frame_start, frame_end = None, None, None
    for word in words:
        if word in ("-b", "--background"):
            run.background = True
        elif word in ("-y", "--enable-autoexec"):
            pass
        elif word in ("-c", "--command"):
            run.command = list(words)
            assert run.command, "--command needs a command name"
        elif word in ("-o", "--render-output"):
            output = next(words)
        elif word in ("-s", "--frame-start"):
            frame_start = int(next(words))
        elif word in ("-e", "--frame-end"):
            frame_end = int(next(words))
        elif word in ("-a", "--render-anim"):
            run.renders.append({"output": output, "start": frame_start, "end": frame_end})
        elif word in ("-f", "--render-frame"):
            first, _, last = next(words).partition("..")
            run.renders.append({"output": output, "start": int(first), "end": int(last or first)})
        elif not word.startswith("-"):
            assert word.endswith(".blend") and run.blend is None, f"unexpected file argument {word}"
            run.blend = word
        else:
            raise AssertionError(f"this job type should not pass {word!r} to Blender")
    return run


@pytest.fixture
def cli(ext):
    return sys.modules[f"{INSTALLED_MODULE}.operators.cli"]


_parsers = {}


def parse_cli(cli, run: BlenderRun):
    """The installed extension's parse of a task's ``--command`` words (raises on a bad one)."""
    assert run.command[0] == cli.COMMAND
    parser = _parsers.get(cli) or _parsers.setdefault(cli, cli.build_parser())
    return parser.parse_args(run.command[1:])


def tasks_named(tasks: list[dict], prefix: str) -> list[dict]:
    return [task for task in tasks if task["name"].startswith(prefix)]


# --- the script's own parts ------------------------------------------------------------------


def test_job_type_settings_are_ones_the_flamenco_add_on_can_show(v8):
    job_type = js(v8, "JOB_TYPE")
    assert job_type["label"] == "Neural Aesthetics Bake + Render"
    settings_by_key = {setting["key"]: setting for setting in job_type["settings"]}
    assert len(settings_by_key) == len(job_type["settings"]), "setting keys must be unique"
    assert set(BASE_SETTINGS) == set(settings_by_key)
    for setting in job_type["settings"]:
        assert setting["type"] in ("string", "int32", "float", "bool"), setting
        assert setting.get("visible", "visible") in ("visible", "submission", "web", "hidden", "none")
        if "choices" in setting:
            assert setting["type"] == "string" and setting["default"] in setting["choices"]
    backend = settings_by_key["backend"]
    assert backend["default"] == "numpy"
    assert "numpy" in backend["description"] and "bit-identical" in backend["description"]
    assert settings_by_key["chunk_size"]["default"] >= 1
    assert settings_by_key["blendfile"]["required"] and settings_by_key["render_output_root"]["required"]


chunk_sizes = st.integers(1, 400)


@PROPERTIES
@given(first=st.integers(-1_000, 100_000), length=st.integers(1, 3_000), chunk_size=chunk_sizes)
@example(first=1, length=30, chunk_size=50)   # shorter than one chunk
@example(first=1, length=96, chunk_size=1)    # one frame per chunk
@example(first=1, length=200, chunk_size=50)  # an exact multiple
@example(first=7, length=1, chunk_size=1)     # one frame
@example(first=0, length=2, chunk_size=2)     # Flamenco's frameChunker says "0,1" here
def test_frame_chunks_cover_the_range_once_in_order(v8, first, length, chunk_size):
    last = first + length - 1
    chunks = js(v8, f"frameChunks({first}, {last}, {chunk_size})")
    covered = [frame for a, b in chunks for frame in range(a, b + 1)]
    assert covered == list(range(first, last + 1))
    sizes = [b - a + 1 for a, b in chunks]
    assert all(size == chunk_size for size in sizes[:-1]) and 1 <= sizes[-1] <= chunk_size
    assert len(chunks) == -(-length // chunk_size)


@pytest.mark.parametrize("text, expected", [("1-250", [1, 250]), ("1..250", [1, 250]), (" 12 - 40 ", [12, 40]),
                                            ("7", [7, 7]), ("0-0", [0, 0])])
def test_frame_ranges_are_read_in_both_notations(v8, text, expected):
    assert js(v8, f"parseFrameRange({json.dumps(text)}, 'frames')") == expected


# --- the tasks, as Workers would run them ---------------------------------------------------

job_settings = st.fixed_dictionaries({
    "first": st.integers(0, 5_000), "length": st.integers(1, 1_500), "chunk_size": chunk_sizes,
    "strip": st.sampled_from(["", "Music", "Lead Vocals", "-odd name-"]),
    "backend": st.sampled_from(["numpy", "torch", "gpu", "auto", "scene"]),
    "style": st.sampled_from(["", "nebula", "/styles/my style.safetensors"]),
    "size": st.sampled_from(["", "64x36", "1920x1080"]),
    "seed": st.sampled_from([-1, 0, 7, 123456]),
    "frames_output": st.sampled_from(["", "//neural_frames/", "/farm/frames/song"]),
})


@pytest.mark.bpy
@settings(PROPERTIES, max_examples=60)  # (each example parses up to 1,500 commands)
@given(chosen=job_settings)
@example(chosen={"first": 1, "length": 96, "chunk_size": 50, "strip": "", "backend": "numpy", "style": "",
                 "size": "", "seed": -1, "frames_output": ""})
def test_bake_tasks_are_valid_bake_commands_covering_the_frames_once(v8, cli, chosen):
    first, last = chosen["first"], chosen["first"] + chosen["length"] - 1
    tasks = compile_job(v8, frames=f"{first}-{last}", **{key: value for key, value in chosen.items()
                                                          if key not in ("first", "length")})
    bakes = tasks_named(tasks, "bake-")
    covered = []
    for task in bakes:
        assert task["type"] == "blender" and task["dependencies"] == []
        run = blender_run(worker_argv(task))
        assert run.background and run.blend == BASE_SETTINGS["blendfile"] and run.renders == []
        args = parse_cli(cli, run)
        assert args.command == "bake"
        assert task["name"] == f"bake-{args.frames[0]}-{args.frames[1]}"
        covered += range(args.frames[0], args.frames[1] + 1)
        # The options the job pins reach the command; the rest stay the scene's.
        assert args.strip == (chosen["strip"] or None)
        assert args.style == (chosen["style"] or None)
        assert args.size == (tuple(int(side) for side in chosen["size"].split("x")) if chosen["size"] else None)
        assert args.seed == (chosen["seed"] if chosen["seed"] >= 0 else None)
        assert args.output == (chosen["frames_output"] or None)
        assert args.backend == (None if chosen["backend"] == "scene" else chosen["backend"])
    assert covered == list(range(first, last + 1)), "the chunks cover the frames exactly once, in order"
    assert len(bakes) == -(-chosen["length"] // chosen["chunk_size"])


@pytest.mark.bpy
def test_add_strip_runs_after_every_bake_with_their_options_and_saves_a_copy(v8, cli):
    tasks = compile_job(v8, strip="Music", size="640x360", seed=3, frames_output="//frames/")
    bakes = tasks_named(tasks, "bake-")
    (add_strip,) = tasks_named(tasks, "add-strip")
    assert sorted(add_strip["dependencies"]) == sorted(task["name"] for task in bakes)
    run = blender_run(worker_argv(add_strip))
    assert run.blend == BASE_SETTINGS["blendfile"] and run.renders == []
    args = parse_cli(cli, run)
    assert args.command == "add-strip" and not args.save
    assert os.path.normpath(args.save_as) != os.path.normpath(BASE_SETTINGS["blendfile"])
    assert Path(args.save_as).parent == Path(BASE_SETTINGS["blendfile"]).parent, "relative paths keep working"
    # The same bake as the chunks' (so it finds their frames): every shared option is equal.
    bake_args = vars(parse_cli(cli, blender_run(worker_argv(bakes[0]))))
    shared = set(bake_args) & set(vars(args)) - {"command"}
    assert {key: vars(args)[key] for key in shared} == {key: bake_args[key] for key in shared}
    assert (args.strip, args.size, args.seed, args.output, args.backend) == (
        "Music", (640, 360), 3, "//frames/", "numpy")


@pytest.mark.bpy
def test_a_style_map_reaches_every_bake_and_add_strip_as_the_command_reads_it(v8, cli):
    tasks = compile_job(v8, style_map="verse=nebula, chorus=lava,drop=glitch", transition="morph:1.5s")
    runs = [parse_cli(cli, blender_run(worker_argv(task))) for task in tasks_named(tasks, "bake-")
            + tasks_named(tasks, "add-strip")]
    assert {(args.style_map, args.transition) for args in runs} == {
        ("verse=nebula, chorus=lava,drop=glitch", "morph:1.5s")}


@pytest.mark.bpy
def test_no_task_writes_the_submitted_blend(v8, cli):
    blend = BASE_SETTINGS["blendfile"]
    for format_ in ("PNG", "FFMPEG"):
        for task in compile_job(v8, format=format_):
            run = blender_run(worker_argv(task))
            if run.command is None:
                assert task["name"].startswith("render") and run.blend != blend
                continue
            args = parse_cli(cli, run)
            assert not getattr(args, "save", False), task["name"]
            assert os.path.normpath(getattr(args, "save_as", None) or "/nowhere") != os.path.normpath(blend)


@PROPERTIES
@given(folder=st.sampled_from(["/farm/jobs", "/farm/a.b/c", "/", "/srv/shaman/checkout/song-visualizer"]),
       name=st.text(st.sampled_from("ab-_. 1"), min_size=1, max_size=12))
@example(folder="/farm", name="song-visualizer")  # a .blend already named like a copy
@example(folder="/farm", name="song.flamenco")
def test_the_copy_is_never_the_submitted_blend(v8, folder, name):
    blend = f"{folder.rstrip('/')}/{name}.blend"
    copy = js(v8, f"visualizerBlendPath({json.dumps(blend)})")
    assert copy != blend and copy.endswith("-visualizer.blend")
    assert os.path.dirname(copy) == os.path.dirname(blend)


def test_image_output_renders_in_chunks_of_the_copy_after_add_strip(v8):
    tasks = compile_job(v8, render_frames="10-124", render_chunk_size=40, format="PNG")
    (add_strip,) = tasks_named(tasks, "add-strip")
    copy = add_strip["commands"][0]["parameters"]["args"][-1].partition("=")[2]
    renders = tasks_named(tasks, "render")
    assert [task["name"] for task in renders] == ["render-10-49", "render-50-89", "render-90-124"]
    covered = []
    for task in renders:
        assert task["dependencies"] == ["add-strip"] and task["type"] == "blender"
        run = blender_run(worker_argv(task))
        assert run.background and run.blend == copy and run.command is None
        (render,) = run.renders
        assert render["output"] == "/farm/renders/song/song-######"
        covered += range(render["start"], render["end"] + 1)
    assert covered == list(range(10, 125))


def test_video_output_is_one_render_task_of_the_whole_range(v8):
    tasks = compile_job(v8, render_frames="1-300", render_chunk_size=10, format="FFMPEG")
    (render_task,) = tasks_named(tasks, "render")
    assert render_task["dependencies"] == ["add-strip"]
    (render,) = blender_run(worker_argv(render_task)).renders
    assert (render["start"], render["end"]) == (1, 300) and render["output"].startswith("/farm/renders/song/")


def test_tasks_come_after_what_they_depend_on(v8):
    tasks = compile_job(v8, frames="1-1000", chunk_size=7)
    names = [task["name"] for task in tasks]
    assert len(set(names)) == len(names)
    for position, task in enumerate(tasks):
        assert all(names.index(dependency) < position for dependency in task["dependencies"]), task["name"]


@pytest.mark.parametrize("changes, message", [
    ({"frames": "1-10,20-30"}, "one range of frames"),
    ({"frames": "50-10"}, "ends before it starts"),
    ({"frames": "-20-10"}, "starts before frame 0"),
    ({"chunk_size": 0}, "chunk_size must be a whole number of at least 1"),
    ({"render_chunk_size": 2.5}, "render_chunk_size must be a whole number"),
    ({"size": "big"}, "size must look like 1920x1080"),
    ({"backend": "cuda"}, "backend must be one of"),
    ({"transition": "wipe:2s"}, "transition must look like"),
    ({"render_output_root": ""}, "render_output_root"),
    ({"blendfile": ""}, "no blendfile"),
])
def test_bad_settings_are_refused_when_the_job_is_submitted(v8, changes, message):
    with pytest.raises(mini_racer.JSEvalException, match=message):
        compile_job(v8, **changes)


# --- the settings Blender fills in when the job is submitted -------------------------------


def evaluate_setting(v8, key: str, strip: str = ""):
    """A setting's ``eval`` as the Flamenco add-on runs it: eval(expr, {}, locals)."""
    import bpy

    (setting,) = [s for s in js(v8, "JOB_TYPE")["settings"] if s["key"] == key]
    local_names = {"bpy": bpy, "C": bpy.context, "jobname": "song", "Path": Path,
                   "settings": SimpleNamespace(strip=strip)}
    return eval(setting["eval"], {}, local_names)  # noqa: S307 - the add-on's own way


@pytest.mark.bpy
def test_submitted_frames_are_the_sound_strips_frames(v8, sound_scene):
    scene, sound = sound_scene
    strip_range = f"{sound.frame_final_start}-{sound.frame_final_end - 1}"
    scene.frame_start, scene.frame_end = 1, sound.frame_final_end + 100  # a longer scene: not the strip
    assert evaluate_setting(v8, "frames") == strip_range
    assert evaluate_setting(v8, "frames", strip=sound.name) == strip_range
    assert evaluate_setting(v8, "frames", strip="No Such Strip") == f"1-{sound.frame_final_end + 100}"
    settings_ = scene.neural_aesthetics
    settings_.use_custom_range = True
    settings_.frame_range_start, settings_.frame_range_end = 10, 40
    assert evaluate_setting(v8, "frames") == "10-40"
    assert evaluate_setting(v8, "render_frames") == f"1-{sound.frame_final_end + 100}"
    assert evaluate_setting(v8, "format") == scene.render.image_settings.file_format


# --- a farm's run of the job, with processes for Workers ------------------------------------

# One Worker's Blender for one task: Blender with the extension enabled, the blend opened,
# then either the registered command's entry point (what `--command` calls) or the renders.
WORKER = r"""
import importlib, json, sys
import bpy
import addon_utils
module = sys.argv[1]
run = json.loads(sys.argv[2])
if addon_utils.enable(module, default_set=True) is None:
    sys.exit("the extension could not be enabled")
bpy.ops.wm.open_mainfile(filepath=run["blend"])
if run["command"] is not None:
    cli = importlib.import_module(module + ".operators.cli")
    assert run["command"][0] == cli.COMMAND, run["command"]
    sys.exit(cli.main(run["command"][1:]))
scene = bpy.context.scene
for render in run["renders"]:
    scene.render.filepath = render["output"]
    if render["start"] is not None:
        scene.frame_start = render["start"]
    if render["end"] is not None:
        scene.frame_end = render["end"]
    bpy.ops.render.render(animation=True, scene=scene.name)
"""


def start_worker(task: dict, log_dir: Path) -> tuple[subprocess.Popen, Path]:
    """Run a task the way a Worker would: its own Blender process (logs to a file, like a task log)."""
    run = blender_run(worker_argv(task))
    assert run.background
    log = log_dir / f"{task['name']}.log"
    with log.open("w") as stream:
        process = subprocess.Popen([sys.executable, "-c", WORKER, INSTALLED_MODULE, json.dumps(vars(run))],
                                   stdout=stream, stderr=subprocess.STDOUT, text=True)
    return process, log


def finish(process: subprocess.Popen, log: Path) -> str:
    code = process.wait(timeout=600)
    text = log.read_text()
    assert code == 0, f"{log.name} failed ({code}):\n{text[-3000:]}"
    return text


def frame_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


@pytest.mark.slow
@pytest.mark.bpy
def test_a_farm_run_bakes_chunks_in_parallel_identical_to_one_whole_bake(v8, cli, sound_scene, tmp_path):
    import bpy

    scene, sound = sound_scene
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.wm.save_mainfile()  # the fixture's strip and frame range, into the file the farm opens
    blend = Path(bpy.data.filepath)
    submitted = blend.read_bytes()
    first, last = sound.frame_final_start, sound.frame_final_end - 1
    tasks = compile_job(
        v8, blendfile=str(blend), frames=evaluate_setting(v8, "frames"), chunk_size=25, size="64x36",
        frames_output="//farm_frames/", render_output_root=str(tmp_path / "render"),
        render_frames=f"{first}-{first + 3}", render_chunk_size=2, format=evaluate_setting(v8, "format"),
    )
    bakes = tasks_named(tasks, "bake-")
    assert [task["name"] for task in bakes] == [f"bake-{a}-{min(a + 24, last)}" for a in range(first, last + 1, 25)]
    assert len(bakes) >= 3 and (last - first + 1) % 25 != 0, "the clip should give a shorter last chunk"
    logs = tmp_path / "logs"
    logs.mkdir()

    # Every bake task at once, each in its own process, into one folder.
    started = time.monotonic()
    workers = [start_worker(task, logs) for task in bakes]
    outputs = [finish(process, log) for process, log in workers]
    bake_s = time.monotonic() - started
    for task, output in zip(bakes, outputs):
        a, b = (int(x) for x in task["name"].split("-")[1:])
        assert f"baked frames {a}-{b} ({b - a + 1} new, 0 already there)" in output, output[-2000:]

    farm_dir = tmp_path / "farm_frames" / strip_folder(sound)
    farm = frame_files(farm_dir)
    assert cli.main(["bake", "--size", "64x36", "--backend", "numpy", "--output", str(tmp_path / "whole")]) == 0
    whole = frame_files(tmp_path / "whole" / strip_folder(sound))
    assert len(whole) == sound.frame_final_duration
    assert [path.name for path in farm] == [path.name for path in whole]
    different = [a.name for a, b in zip(farm, whole) if a.read_bytes() != b.read_bytes()]
    assert different == [], f"frames baked in chunks differ from the whole bake: {different[:5]}"

    # add-strip reuses the chunks: not one frame file is written again.
    before = {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in farm}
    (add_strip,) = tasks_named(tasks, "add-strip")
    output = finish(*start_worker(add_strip, logs))
    assert "added '" in output
    assert {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in frame_files(farm_dir)} == before
    assert blend.read_bytes() == submitted, "the submitted .blend must not be written"
    copy = Path(blender_run(worker_argv(add_strip)).command[-1].partition("=")[2])
    assert copy.is_file() and copy != blend

    # The render tasks (two chunks of two frames) render the copy, in parallel too.
    renders = tasks_named(tasks, "render-")
    assert len(renders) == 2
    for process, log in [start_worker(task, logs) for task in renders]:
        finish(process, log)
    rendered = sorted((tmp_path / "render").glob("*.png"))
    assert [path.name for path in rendered] == [f"{blend.stem}-{frame:06d}.png" for frame in range(first, first + 4)]

    # The copy holds the image strip over the sound strip, and finds the farm's frames.
    bpy.ops.wm.open_mainfile(filepath=str(copy))
    compat = sys.modules[f"{INSTALLED_MODULE}.operators.blender.compat"]
    strips = compat.all_strips(bpy.context.scene)
    (image,) = [strip for strip in strips if strip.type == "IMAGE"]
    (sound_again,) = [strip for strip in strips if strip.type == "SOUND"]
    assert (image.frame_final_start, image.frame_final_duration) == (
        sound_again.frame_final_start, sound_again.frame_final_duration)
    assert Path(bpy.path.abspath(image.directory)).resolve() == farm_dir.resolve()
    print(f"\n{len(bakes)} bake tasks in parallel: {bake_s:.1f} s")
