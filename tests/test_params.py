"""Parameters: presets, TOML, overrides, and one clear error for every kind of bad input."""

import dataclasses
import re

import pytest

from tessera.hdl.params import (PRESETS, FabricParams, ParamError, params_to_toml,
                                resolve_params, resolve_preset)


def test_default_is_a_4x4_fabric():
    p = resolve_params()
    assert (p.rows, p.cols) == (4, 4)
    assert p == FabricParams(**PRESETS["default"])


def test_wse_preset_matches_the_reference_tile():
    p = resolve_params("wse")
    assert p.sram_bytes == 48 * 1024
    assert p.sram_banks == 8
    assert p.num_colors == 24
    assert p.data_width == 32
    assert p.bank_words == 6 * 1024 // 4
    # SIMD-4 for 16-bit elements (WSE-2), 8 microthreads (WSE-3), 64 task ids.
    assert (p.core_lanes, p.core_microthreads, p.core_tasks) == (4, 8, 64)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_round_trips_through_toml(name, tmp_path):
    p = resolve_params(name)
    path = tmp_path / "p.toml"
    path.write_text(params_to_toml(p))
    assert resolve_params(config=path) == p


def test_params_are_immutable():
    p = resolve_params()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.rows = 8


def test_precedence_preset_then_file_then_overrides(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('preset = "wse"\n[fabric]\nrows = 3\ncols = 5\n')
    p = resolve_params(config=path, overrides={"cols": 7, "rows": None})
    assert (p.rows, p.cols, p.num_colors) == (3, 7, 24)
    # An explicit preset beats the file's preset key; the file's keys still apply.
    p = resolve_params(preset="tiny", config=path)
    assert (p.rows, p.cols, p.data_width) == (3, 5, 32)


def test_replace_validates_again():
    with pytest.raises(ParamError, match=r"^queue_depth must be a power of two"):
        resolve_params().replace(queue_depth=6)


# Each bad value: the override, then the whole expected message (anchored).
BAD_VALUES = [
    ({"rows": 0}, r"rows must be a positive integer, not 0"),
    ({"cols": -3}, r"cols must be a positive integer, not -3"),
    ({"sram_bytes": 0}, r"sram_bytes must be a positive integer, not 0"),
    ({"queue_depth": 3}, r"queue_depth must be a power of two from 2, not 3"),
    ({"queue_depth": 1}, r"queue_depth must be a power of two from 2, not 1"),
    ({"sram_banks": 6}, r"sram_banks must be a power of two from 1, not 6"),
    ({"data_width": 24}, r"data_width must be a power of two from 8 to 64, not 24"),
    ({"data_width": 128}, r"data_width must be a power of two from 8 to 64, not 128"),
    ({"num_colors": 33}, r"num_colors must fit the color field \(at most 2\*\*color_bits = 32\), "
                         r"not 33"),
    ({"color_bits": 9}, r"color_bits must be at most 8, not 9"),
    ({"rows": 128}, r"rows must fit the signed address fields with room for the edge beyond it "
                    r"\(at most 2\*\*\(coord_bits-1\) - 1 = 127\), not 128"),
    ({"cols": 300}, r"cols must fit the signed address fields with room for the edge beyond it "
                    r"\(at most 2\*\*\(coord_bits-1\) - 1 = 127\), not 300"),
    ({"cols": 8, "coord_bits": 4}, r"cols must fit the signed address fields with room for the "
                                   r"edge beyond it \(at most 2\*\*\(coord_bits-1\) - 1 = 7\), "
                                   r"not 8"),
    ({"coord_bits": 16}, r"coord_bits must leave room for x, y and a 2-bit opcode in one "
                         r"wavelet \(2\*coord_bits \+ 2 <= data_width = 32\), not 16"),
    ({"sram_bytes": 1002}, r"sram_bytes must be a multiple of sram_banks \* data_width/8 = 8, "
                           r"not 1002"),
    ({"rows": 2.5}, r"rows must be an integer, not 2.5 \(float\)"),
    ({"rows": "4"}, r"rows must be an integer, not '4' \(str\)"),
    ({"cols": True}, r"cols must be an integer, not True \(bool\)"),
    ({"core_lanes": 3}, r"core_lanes must be a power of two from 2 to 16, not 3"),
    ({"core_lanes": 32}, r"core_lanes must be a power of two from 2 to 16, not 32"),
    ({"core_tasks": 65}, r"core_tasks must be from 1 to 64 \(a task id is 6 bits in an "
                         r"instruction\), not 65"),
    ({"core_microthreads": 9}, r"core_microthreads must be from 1 to 8, not 9"),
    ({"core_accumulators": 9}, r"core_accumulators must be from 1 to 8 \(an accumulator index "
                               r"is 3 bits in an instruction\), not 9"),
    ({"core_acc_bits": 31}, r"core_acc_bits must be from 32 to 64 \(int8 products need 32, a "
                            r"64-bit sum is stored in two words\), not 31"),
    ({"core_queue_depth": 3}, r"core_queue_depth must be a power of two from 2 to 64, not 3"),
    ({"core_program_words": 32}, r"core_program_words must be from 33 to 12288 \(the task "
                                 r"table \(core_tasks words\) and at least one instruction, "
                                 r"within the agent's 12K-word program window\), not 32"),
]


@pytest.mark.parametrize("overrides, message", BAD_VALUES)
def test_bad_values_name_parameter_rule_and_value(overrides, message):
    with pytest.raises(ParamError, match=rf"^{message}$"):
        resolve_params(overrides=overrides)


def test_unknown_preset():
    with pytest.raises(ParamError, match=r"^preset must be one of default, wse, ulx3s, tiny, not 'huge'$"):
        resolve_params("huge")


def test_unknown_override():
    with pytest.raises(ParamError, match=r"^override must name a parameter \(.*\), not 'rowz'$"):
        resolve_params(overrides={"rowz": 3})


BAD_FILES = [
    ("[fabric]\nrowz = 4\n",
     r"config key in \[fabric\] must be one of rows, cols, coord_bits, not 'rowz' "
     r"\(did you mean 'rows'\?\)"),
    ("[fabrik]\nrows = 4\n",
     r"config section must be one of fabric, wavelet, router, sram, core, not \[fabrik\] "
     r"\(did you mean 'fabric'\?\)"),
    ("[sram]\nsize = 4096\n",
     r"config key in \[sram\] must be one of size_bytes, banks, not 'size' "
     r"\(did you mean 'size_bytes'\?\)"),
    ("fabric = 3\n", r"config key 'fabric' must be a \[fabric\] table, not 3"),
    ("rows = 4\n", r"config key 'rows' must be in the \[fabric\] table, not at the top level"),
    ("size_bytes = 4096\n",
     r"config key 'size_bytes' must be in the \[sram\] table, not at the top level"),
    ("[fabric]\nrows = \"four\"\n", r"rows must be an integer, not 'four' \(str\)"),
    ("[fabric]\nrows = 4.0\n", r"rows must be an integer, not 4.0 \(float\)"),
    ("[router]\nqueue_depth = 5\n", r"queue_depth must be a power of two from 2, not 5"),
    ("[core]\nqueue_depth = 5\n", r"core_queue_depth must be a power of two from 2 to 64, not 5"),
    ("[core]\nlane = 4\n",
     r"config key in \[core\] must be one of lanes, tasks, microthreads, program_words, "
     r"queue_depth, accumulators, acc_bits, not 'lane' \(did you mean 'lanes'\?\)"),
    ("preset = 7\n", r"preset must be a string, not 7"),
    ('preset = "big"\n', r"preset must be one of default, wse, ulx3s, tiny, not 'big'"),
    ("[fabric\nrows = 4\n", r"config must be valid TOML, but '.*' is not: .*"),
    ("[fabric]\nrows = = 4\n", r"config must be valid TOML, but '.*' is not: .*"),
]


@pytest.mark.parametrize("text, message", BAD_FILES)
def test_bad_config_files(text, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ParamError, match=rf"^{message}$") as info:
        resolve_params(config=path)
    assert "\n" not in str(info.value)


def test_config_that_is_a_directory(tmp_path):
    with pytest.raises(ParamError, match=rf"^config must be a readable TOML file, not "
                                         rf"'{re.escape(str(tmp_path))}' \(.+\)$"):
        resolve_params(config=tmp_path)


def test_resolve_preset_names_the_starting_preset(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('preset = "tiny"\n')
    assert resolve_preset() == "default"
    assert resolve_preset(config=path) == "tiny"
    assert resolve_preset("wse", config=path) == "wse", "the flag wins over the file"
    with pytest.raises(ParamError, match=r"^preset must be one of default, wse, ulx3s, tiny, "
                                         r"not 'big'$"):
        resolve_preset("big")


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ParamError, match=rf"^config must be an existing TOML file, not "
                                         rf"'{re.escape(str(missing))}'$"):
        resolve_params(config=missing)
