// SPDX-License-Identifier: GPL-3.0-or-later
//
// Neural Aesthetics on a Flamenco 3 render farm: bake a sound strip's visualizer frames in
// chunks on many Workers, add the image strip once, then render the result.
//
// Install: copy this file into the Flamenco Manager's `scripts/` folder and restart the
// Manager; the job type "Neural Aesthetics Bake + Render" then shows in the Blender add-on.
// Every Worker's Blender needs the Neural Aesthetics extension installed and enabled.
//
// The tasks of one job (all of Flamenco's "blender" type):
//   bake-A-B    one per chunk of frames, in parallel:
//               blender -b song.blend --command neural_aesthetics bake --frames A-B [options]
//   add-strip   after every bake task: bakes nothing the chunks made, adds the image strip
//               and saves a copy (song-visualizer.blend); the submitted .blend is not written
//   render-A-B  after add-strip, renders that copy: one task per chunk for image output,
//               one task for a video (a video file cannot be rendered in pieces)
//
// The bake options are the same in every bake task and in add-strip, so add-strip finds the
// chunks' frames (same bake, same folder) instead of baking them again.

const CLI_COMMAND = "neural_aesthetics";

// scene.render.image_settings.file_format values that write one video file.
const VIDEO_FORMATS = ["FFMPEG", "AVI_RAW", "AVI_JPEG"];

// "scene" passes no --backend: the scene's Compute setting decides.
const BACKEND_CHOICES = ["numpy", "torch", "gpu", "auto", "scene"];

// Python evaluated by the Flamenco add-on in Blender (locals: C, settings, bpy, ...): the
// frames `bake` and `add-strip` cover. The scene's custom bake range when set, else the sound
// strip's frames (the strip named in the job, else the active strip if it is a sound strip,
// else the first sound strip), else the scene's frame range. Lambdas take C's values as
// arguments: names of eval()'s locals are not visible inside them.
const FRAMES_EVAL =
    "(lambda na, strip, scene: " +
    "f'{na.frame_range_start}-{na.frame_range_end}' if na.use_custom_range " +
    "else f'{strip.frame_final_start}-{strip.frame_final_end - 1}' if strip is not None " +
    "else f'{scene.frame_start}-{scene.frame_end}')(" +
    "C.scene.neural_aesthetics, " +
    "(lambda ed, name: next((s for s in ([ed.active_strip] + list(getattr(ed, 'strips_all', None) " +
    "or getattr(ed, 'sequences_all', ()))) if s is not None and s.type == 'SOUND' " +
    "and (s.name == name or not name)), None) if ed else None)" +
    "(C.scene.sequence_editor, settings.strip.strip()), " +
    "C.scene)";

const JOB_TYPE = {
    label: "Neural Aesthetics Bake + Render",
    settings: [
        // Settings for the artist:
        { key: "strip", type: "string", default: "",
          description: "Name of the sound strip to visualize. Empty: the active strip, or the scene's only sound strip" },
        { key: "frames", type: "string", required: true, eval: FRAMES_EVAL,
          evalInfo: { showLinkButton: true, description: "The sound strip's frames (or the custom bake range)" },
          description: "Scene frames to bake, 'A-B' (inclusive): the sound strip's frames. add-strip bakes any "
            + "frame of the strip left out" },
        { key: "chunk_size", type: "int32", default: 50, propargs: { min: 1 }, visible: "submission",
          description: "Frames baked by one task; chunks run in parallel on different Workers" },
        { key: "backend", type: "string", choices: BACKEND_CHOICES, default: "numpy", visible: "submission",
          description: "What computes the frames: keep numpy pinned (--backend numpy) so the chunks baked on "
            + "different machines are bit-identical. 'gpu' draws through Blender's GPU (same pixels to "
            + "one 8-bit level; bit-identical only between workers with the same GPU and driver); 'auto' "
            + "draws on the GPU where one can draw, else torch where the training pack is installed, else "
            + "numpy; 'scene' uses the scene's Compute setting" },
        { key: "style", type: "string", default: "", visible: "submission",
          description: "Style name or .safetensors path. Empty: the scene's Style setting" },
        { key: "style_map", type: "string", default: "", visible: "submission",
          description: "Change style along the song: MOMENT=STYLE pairs such as verse=nebula,chorus=lava "
            + "(a moment is a marker name, 'section 2' or a time like 45s), or a .json file every Worker "
            + "can read. Empty: the scene's Style Timeline when it is on" },
        { key: "transition", type: "string", default: "", visible: "submission",
          description: "How each style of the style map comes in: cut, crossfade:2b (2 beats) or morph:1.5s. "
            + "Empty: each entry's own" },
        { key: "size", type: "string", default: "", visible: "submission",
          description: "Frame size WIDTHxHEIGHT, e.g. 1920x1080. Empty: the scene's output size" },
        { key: "seed", type: "int32", default: -1, propargs: { min: -1 }, visible: "submission",
          description: "Seed of the visuals. -1: the scene's Seed setting" },
        { key: "frames_output", type: "string", subtype: "dir_path", default: "", visible: "submission",
          description: "Folder for the baked frames, reachable by every Worker ('//' is next to the .blend). "
            + "Empty: the scene's Output Folder setting" },
        { key: "render_output_root", type: "string", subtype: "dir_path", required: true, visible: "submission",
          description: "Folder for the rendered video or images" },
        { key: "render_frames", type: "string", required: true,
          eval: "f'{C.scene.frame_start}-{C.scene.frame_end}'",
          evalInfo: { showLinkButton: true, description: "Scene frame range" },
          description: "Scene frames to render, 'A-B' (inclusive)" },
        { key: "render_chunk_size", type: "int32", default: 50, propargs: { min: 1 }, visible: "submission",
          description: "Frames rendered by one task when the output is images (a video is always one task)" },

        // Filled in automatically:
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "Path of the .blend to bake from (it is never overwritten)" },
        { key: "format", type: "string", required: true, eval: "C.scene.render.image_settings.file_format",
          visible: "hidden", description: "The scene's render output format" },
    ],
};

function compileJob(job) {
    const settings = job.settings;
    const blendfile = settings.blendfile;
    if (!blendfile) {
        throw "Neural Aesthetics: the job has no blendfile";
    }
    if (!settings.render_output_root) {
        throw "Neural Aesthetics: render_output_root (the folder for the render) is not set";
    }
    const [first, last] = parseFrameRange(settings.frames, "frames");
    const [renderFirst, renderLast] = parseFrameRange(settings.render_frames, "render_frames");
    const chunkSize = positiveInteger(settings.chunk_size, "chunk_size");
    const renderChunkSize = positiveInteger(settings.render_chunk_size, "render_chunk_size");
    const visualizerBlend = visualizerBlendPath(blendfile);
    const options = bakeOptions(settings);

    const bakeTasks = [];
    for (const [chunkFirst, chunkLast] of frameChunks(first, last, chunkSize)) {
        const task = blenderTask(`bake-${chunkFirst}-${chunkLast}`, blendfile,
            cliArgs("bake", [`--frames=${chunkFirst}-${chunkLast}`].concat(options)));
        job.addTask(task);
        bakeTasks.push(task);
    }

    // Flamenco copies a task when it is added to the job: dependencies come first.
    const addStrip = blenderTask("add-strip", blendfile,
        cliArgs("add-strip", options.concat([`--save-as=${visualizerBlend}`])));
    for (const task of bakeTasks) {
        addStrip.addDependency(task);
    }
    job.addTask(addStrip);

    for (const task of renderTasks(settings, visualizerBlend, renderFirst, renderLast, renderChunkSize)) {
        task.addDependency(addStrip);
        job.addTask(task);
    }
}

// The chunks [first, last] (inclusive) of the frames `first`..`last`, in order: each
// `chunkSize` frames long but the last, which holds what is left. Flamenco's frameChunker is
// not used: it writes a two-frame chunk as "A,B", which `--frames` does not take.
function frameChunks(first, last, chunkSize) {
    const chunks = [];
    for (let start = first; start <= last; start += chunkSize) {
        chunks.push([start, Math.min(start + chunkSize - 1, last)]);
    }
    return chunks;
}

// "A-B", "A..B" (Blender's notation) or "A" -> [A, B]. Frames are whole numbers >= 0 (the
// bake command's --frames takes no negative frame).
function parseFrameRange(text, key) {
    const written = String(text === undefined || text === null ? "" : text);
    const match = /^\s*(\d+)\s*(?:(?:-|\.\.)\s*(\d+)\s*)?$/.exec(written);
    if (!match) {
        if (/^\s*-\s*\d/.test(written)) {
            throw `Neural Aesthetics: ${key} "${text}" starts before frame 0: use frames from 0 on`
                + (key === "frames" ? " (add-strip bakes the frames of the strip before 0 itself)" : "");
        }
        throw `Neural Aesthetics: ${key} must be one range of frames like 1-250, got "${text}"`;
    }
    const first = parseInt(match[1], 10);
    const last = match[2] === undefined ? first : parseInt(match[2], 10);
    if (last < first) {
        throw `Neural Aesthetics: ${key} "${text}" ends before it starts`;
    }
    return [first, last];
}

function positiveInteger(value, key) {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1) {
        throw `Neural Aesthetics: ${key} must be a whole number of at least 1, got "${value}"`;
    }
    return number;
}

// The options every bake task and add-strip share (the same bake, so the same frames), as
// --option=value: a strip or style name starting with "-" stays a value.
function bakeOptions(settings) {
    const options = [];
    const text = (value) => (value === undefined || value === null ? "" : String(value).trim());
    if (text(settings.strip)) {
        options.push(`--strip=${text(settings.strip)}`);
    }
    if (text(settings.style)) {
        options.push(`--style=${text(settings.style)}`);
    }
    if (text(settings.style_map)) {
        options.push(`--style-map=${text(settings.style_map)}`);
    }
    if (text(settings.transition)) {
        if (!/^(cut|(crossfade|morph):(\d+(\.\d*)?|\.\d+)[sb]?)$/.test(text(settings.transition))) {
            throw `Neural Aesthetics: transition must look like cut, crossfade:2b or morph:1.5s, got "${settings.transition}"`;
        }
        options.push(`--transition=${text(settings.transition)}`);
    }
    if (text(settings.size)) {
        if (!/^\d+x\d+$/.test(text(settings.size))) {
            throw `Neural Aesthetics: size must look like 1920x1080, got "${settings.size}"`;
        }
        options.push(`--size=${text(settings.size)}`);
    }
    const seed = Number(text(settings.seed) || -1);
    if (!Number.isInteger(seed) || seed < -1) {
        throw `Neural Aesthetics: seed must be a whole number >= 0, or -1 for the scene's, got "${settings.seed}"`;
    }
    if (seed >= 0) {
        options.push(`--seed=${seed}`);
    }
    if (text(settings.frames_output)) {
        options.push(`--output=${text(settings.frames_output)}`);
    }
    const backend = text(settings.backend) || "numpy";
    if (BACKEND_CHOICES.indexOf(backend) < 0) {
        throw `Neural Aesthetics: backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${backend}"`;
    }
    if (backend !== "scene") {
        options.push(`--backend=${backend}`);
    }
    return options;
}

// The copy add-strip saves, next to the submitted .blend (relative paths keep working).
function visualizerBlendPath(blendfile) {
    return path.join(path.dirname(blendfile), `${path.stem(blendfile)}-visualizer.blend`);
}

function cliArgs(command, options) {
    return ["--command", CLI_COMMAND, command].concat(options);
}

function blenderTask(name, blendfile, args) {
    const task = author.Task(name, "blender");
    task.addCommand(author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: [],
        blendfile: blendfile,
        args: args,
    }));
    return task;
}

function renderTasks(settings, blendfile, first, last, chunkSize) {
    const stem = path.stem(settings.blendfile).replace(".flamenco", "");
    const output = path.join(settings.render_output_root, `${stem}-######`);
    if (VIDEO_FORMATS.indexOf(settings.format) >= 0) {
        return [blenderTask("render", blendfile, [
            "--render-output", output,
            "--frame-start", String(first), "--frame-end", String(last),
            "--render-anim",
        ])];
    }
    return frameChunks(first, last, chunkSize).map(([chunkFirst, chunkLast]) =>
        blenderTask(`render-${chunkFirst}-${chunkLast}`, blendfile, [
            "--render-output", output,
            "--render-frame", `${chunkFirst}..${chunkLast}`,
        ]));
}
