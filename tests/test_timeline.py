"""core.render.timeline and transitions: style maps, moments -> frames, weights, morphs (pure Python)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import ROOT

from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.render import cppn, imageio, style as style_io, timeline, transitions

FPS = 24.0
SONG = timeline.SongMoments(duration_s=60.0, sections_s=(20.0, 40.0), markers={"drop": 50.0},
                            beats_s=tuple(0.5 * k for k in range(121)))


@pytest.mark.parametrize("text, expected", [
    ("cut", timeline.Transition()),
    ("crossfade:2b", timeline.Transition("crossfade", 2.0, "b")),
    ("morph:1.5s", timeline.Transition("morph", 1.5, "s")),
    ("Morph: 3", timeline.Transition("morph", 3.0, "s")),
])
def test_transitions_parse_and_print_back(text, expected):
    parsed = timeline.parse_transition(text)
    assert parsed == expected
    assert timeline.parse_transition(str(parsed)) == parsed


@pytest.mark.parametrize("text", ["fade:2s", "crossfade", "crossfade:0s", "morph:-1s", "cut:2s", "morph:2x",
                                  "crossfade:100000s"])
def test_bad_transitions_are_one_line_user_errors(text):
    with pytest.raises(UserError, match="transition") as error:
        timeline.parse_transition(text)
    assert "\n" not in str(error.value)


def test_inline_and_json_style_maps_give_the_same_map(tmp_path):
    inline = timeline.parse_style_map("verse=nebula, chorus=lava=morph:1s ,drop=glitch", "crossfade:2b")
    assert [(e.moment, e.style) for e in inline.entries] == [("verse", "nebula"), ("chorus", "lava"), ("drop", "glitch")]
    assert inline.transition_of(inline.entries[0]) == timeline.Transition("crossfade", 2.0, "b")
    assert inline.transition_of(inline.entries[1]) == timeline.Transition("morph", 1.0, "s")
    path = tmp_path / "map.json"
    path.write_text(json.dumps(inline.to_json()))
    assert timeline.parse_style_map(str(path)) == inline
    assert timeline.style_map_from_json(inline.to_json()) == inline
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"verse": "nebula", "chorus": "lava"}))
    assert [e.style for e in timeline.parse_style_map(str(plain), "cut").entries] == ["nebula", "lava"]


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"), ("verse", "MOMENT=STYLE"), ("verse=", "no style"), ("=lava", "no moment"),
    ("verse=a,Verse=b", "twice"), ("a=b=c=d", "MOMENT=STYLE"), ("verse=lava=fade", "transition"),
])
def test_bad_style_maps_are_one_line_user_errors(text, fragment):
    with pytest.raises(UserError, match=fragment):
        timeline.parse_style_map(text)


def test_a_broken_json_map_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{nope")
    with pytest.raises(UserError, match="broken.json"):
        timeline.parse_style_map(str(path))
    with pytest.raises(UserError, match="missing.json"):
        timeline.parse_style_map(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("moment, seconds", [
    ("section 1", 0.0), ("Section 2", 20.0), ("section3", 40.0), ("drop", 50.0), ("DROP", 50.0),
    ("12.5s", 12.5), ("0:45", 45.0), ("1:00", 60.0),
])
def test_moments_are_sections_markers_or_times(moment, seconds):
    assert SONG.time_of(moment) == seconds


def test_section_labels_name_sections_and_markers_come_first():
    song = timeline.SongMoments(60.0, (20.0, 40.0), ("intro", "verse", "section 3"), {"verse": 33.0})
    assert song.time_of("intro") == 0.0
    assert song.time_of("verse") == 33.0  # the user's marker
    assert song.time_of("section 3") == 40.0


@pytest.mark.parametrize("moment, fragment", [("section 4", "3 section"), ("chorus", "no marker"),
                                              ("2:00", "after the end")])
def test_moments_that_name_nothing_say_what_exists(moment, fragment):
    with pytest.raises(UserError, match=fragment):
        SONG.time_of(moment)


def test_beats_count_back_on_the_beat_grid():
    assert SONG.beats_before(20.0, 2) == pytest.approx(19.0)
    assert SONG.beats_before(20.25, 1) == pytest.approx(19.75)
    irregular = timeline.SongMoments(10.0, beats_s=(0.0, 1.0, 1.5, 2.5, 3.0))
    assert irregular.beats_before(3.0, 2) == pytest.approx(1.5)
    assert irregular.beats_before(3.0, 2.5) == pytest.approx(1.25)
    with pytest.raises(UserError, match="no beats"):
        timeline.SongMoments(10.0).beats_before(5.0, 2)


def looks_of(text, transition="cut", song=SONG, morphable=frozenset({(0, 1), (0, 2), (1, 2)}), frames=range(1440)):
    style_map = timeline.parse_style_map(text, transition)
    resolved = timeline.resolve(style_map, song, [e.style for e in style_map.entries], set(morphable))
    return resolved, timeline.frame_looks(resolved, FPS, list(frames))


def test_a_cut_changes_style_on_the_moments_frame():
    _resolved, looks = looks_of("section 1=a,section 2=b,drop=c")
    assert {look.first for look in looks[:480]} == {0} and looks[480].first == 1
    assert looks[1199].first == 1 and looks[1200].first == 2
    assert all(look.second is None for look in looks)


def test_a_crossfade_ends_on_the_moment_with_weights_rising_linearly():
    resolved, looks = looks_of("section 1=a,section 2=b", "crossfade:2b")
    assert resolved[1].start_s == pytest.approx(19.0)
    window = looks[456:480]  # 19 s .. 20 s at 24 fps
    assert looks[455] == timeline.FrameLook(0) and looks[456] == timeline.FrameLook(0)  # weight 0 = style a alone
    assert all(look.kind == "crossfade" and (look.first, look.second) == (0, 1) for look in window[1:])
    assert [look.weight for look in window[1:]] == pytest.approx([k / 24 for k in range(1, 24)], abs=1e-6)
    assert looks[480] == timeline.FrameLook(1)


def test_the_first_entry_paints_the_start_and_a_long_transition_stops_at_the_previous_moment():
    resolved, looks = looks_of("0:10=a,0:12=b", "morph:5s")
    assert looks[0] == timeline.FrameLook(0)
    assert resolved[1].start_s == 10.0  # not 7 s: a's own moment
    assert looks[240] == timeline.FrameLook(0) and looks[241].kind == "morph"


def test_morph_between_other_architectures_is_a_crossfade():
    _resolved, looks = looks_of("section 1=a,section 2=b", "morph:1s", morphable=frozenset())
    assert {look.kind for look in looks if look.second is not None} == {"crossfade"}


def test_entries_are_placed_by_time_and_same_times_are_refused():
    resolved, _looks = looks_of("drop=c,section 1=a", frames=range(2))
    assert [entry.moment_s for entry in resolved] == [0.0, 50.0]
    with pytest.raises(UserError, match="both at"):
        looks_of("section 2=a,0:20=b", frames=range(2))


def test_changing_one_entry_changes_only_the_looks_of_its_frames_and_transitions():
    digests = ["A", "B", "C", "D"]
    _, before = looks_of("section 1=a,section 2=b,section 3=c", "crossfade:1s")
    _, after = looks_of("section 1=a,section 2=d,section 3=c", "crossfade:1s")
    # (d takes style index 1 like b did: give it another file digest)
    ids_before = [look.identity(digests) for look in before]
    ids_after = [look.identity(["A", "D", "C"]) for look in after]
    changed = [index for index, (x, y) in enumerate(zip(ids_before, ids_after)) if x != y]
    assert changed == list(range(457, 960))  # b's transition in (19 s..20 s), its part, its transition out
    assert timeline.stale_frames({"1.png": "x", "2.png": "y"}, {"1.png": "x", "2.png": "z"}) == ["2.png"]


# --- transitions: drawing ------------------------------------------------------------------


def bundled(name):
    return style_io.load_style(ROOT / "styles" / f"{name}.safetensors")


def test_crossfade_mixes_in_linear_light():
    black, white = np.zeros((1, 1, 3), np.float32), np.ones((1, 1, 3), np.float32)
    middle = transitions.crossfade(black, white, 0.5)
    assert to8(middle)[0, 0, 0] == 188  # sRGB of linear 0.5 (a mix of sRGB values would give 128)
    levels = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16, 1).repeat(3, axis=2)
    # (weight 0: decoded to linear light and encoded back, every 8-bit level comes back)
    np.testing.assert_array_equal(to8(transitions.crossfade(levels, np.ones_like(levels), 0.0)), to8(levels))


def to8(values):
    return imageio.to_rgb8(values).astype(int)


def test_the_bundled_styles_morph_within_their_architecture():
    names = ["ember", "glitch", "lagoon", "lava", "moss", "nebula", "neon", "pastel", "prism"]
    partners = transitions.morph_partners([bundled(name) for name in names])
    assert "lava" in partners["nebula"] and "glitch" in partners["nebula"]
    assert "lagoon" not in partners["nebula"] and partners["lagoon"] == ["moss", "pastel"]
    assert not transitions.morphable(bundled("nebula").architecture, {"inputs": ["x"]})


def test_a_morph_is_each_style_at_its_ends_and_the_networks_in_between():
    a, b = bundled("nebula"), bundled("lava")
    latent = np.linspace(-1, 1, 8).astype(np.float32)

    def draw(weights):
        return to8(cppn.CPPN(a.architecture, weights).render(latent, 40, 24))

    ends = [draw(transitions.morph_weights(a.weights, b.weights, w)) for w in (0.0, 1.0)]
    np.testing.assert_array_equal(ends[0], draw(a.weights))
    np.testing.assert_array_equal(ends[1], draw(b.weights))
    middle = draw(transitions.morph_weights(a.weights, b.weights, 0.5))
    fade = to8(transitions.crossfade(ends[0] / 255.0, ends[1] / 255.0, 0.5))
    assert np.abs(middle - fade).mean() > 8  # not a dissolve: the shapes themselves change
