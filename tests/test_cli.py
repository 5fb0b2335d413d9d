"""The ``tessera`` command as a user runs it: a real subprocess, its output and exit status."""

import json
import os
import subprocess
import sys

import pytest

from tessera.hdl.params import resolve_params


def test_version(tessera):
    r = tessera("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("tessera 0.")


def test_help_lists_the_commands(tessera):
    r = tessera("--help")
    assert r.returncode == 0
    for command in ("params", "bench"):
        assert command in r.stdout


@pytest.mark.parametrize("args", [(), ("bench",)])
def test_no_command_prints_the_help_and_fails(tessera, args):
    r = tessera(*args)
    assert r.returncode == 2
    assert r.stdout == "" and "usage: tessera" in r.stderr


def test_option_defaults_are_shown_as_typed(tessera):
    text = tessera("bench", "verilator", "--help").stdout
    assert "(default: 4x4,8x8)" in " ".join(text.split())
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "--rows" not in text, "--shapes sets the shape"
    for command in (("generate",), ("bench", "fabric-fpga")):
        text = tessera(*command, "--help").stdout
        assert "--no-core" in text and "(default: True)" not in text, command
    text = " ".join(tessera("bench", "load", "--help").stdout.split())
    assert "--rows N tile rows (y, grows southward) [tiles] (default: 8 here" in text


def test_a_benchmark_default_shape_that_breaks_a_rule_says_where_it_came_from(tessera):
    r = tessera("bench", "load", "--coord-bits", "4")
    assert r.returncode == 2
    assert r.stderr.strip().endswith("not 8 (this command's default shape is 8x8; give --rows "
                                     "and --cols)")


def test_params_help_explains_the_toml_layout(tessera):
    r = tessera("params", "--help")
    assert r.returncode == 0
    assert "[fabric]" in r.stdout and "--queue-depth" in r.stdout


def test_params_prints_toml_that_reads_back(tessera, tmp_path):
    r = tessera("params", "--preset", "wse", "--rows", "6")
    assert r.returncode == 0, r.stderr
    path = tmp_path / "p.toml"
    path.write_text(r.stdout)
    assert resolve_params(config=path) == resolve_params("wse", overrides={"rows": 6})


def test_params_json(tessera):
    r = tessera("params", "--format", "json", "--num-colors", "12")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["wavelet"]["num_colors"] == 12
    assert doc["fabric"]["rows"] == 4


@pytest.mark.parametrize("args, message", [
    (["--rows", "0"], "rows must be a positive integer, not 0"),
    (["--queue-depth", "3"], "queue_depth must be a power of two from 2, not 3"),
    (["--preset", "huge"], "preset must be one of default, wse, ulx3s, tiny, not 'huge'"),
    (["--num-colors", "40"], "num_colors must fit the color field"),
    (["--rows", "four"], "rows must be an integer, not 'four'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tessera, args, message, tmp_path):
    r = tessera("params", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_bad_config_file_is_reported(tessera, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[fabric]\ncolls = 4\n")
    r = tessera("params", "--config", str(bad), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "tessera params: error: config key in [fabric] must be one of rows, cols, coord_bits, "
        "not 'colls' (did you mean 'cols'?)"]
    assert list(tmp_path.iterdir()) == [bad]


def test_run_benchmark_reports_failures_in_one_line(tmp_path, capsys):
    import argparse
    import json

    from tessera.scripts.argtypes import run_benchmark
    from tessera.scripts.cli import UsageError
    from tessera.sim.fpga import FpgaToolError
    from tessera.sim.runner import CocotbFailure

    args = argparse.Namespace(benchmark="demo", json=str(tmp_path / "r.json"))
    seen = []
    assert run_benchmark(args, lambda: {"x": 1}, lambda r: f"report {r['x']}",
                         after=seen.append) == 0
    assert capsys.readouterr().out.startswith("report 1\n")
    assert seen == [{"x": 1}] and json.loads((tmp_path / "r.json").read_text()) == {"x": 1}

    for failure in (FpgaToolError("nextpnr failed; see n.log"), CocotbFailure("see build.log")):
        def measure(failure=failure):
            raise failure
        args.json = str(tmp_path / "not-written.json")
        assert run_benchmark(args, measure, str) == 1
        err = capsys.readouterr().err
        assert err == f"tessera bench demo: the run failed: {failure}\n"
    assert not (tmp_path / "not-written.json").exists()

    def refused():
        raise ValueError("cycles must be at least 10, not 3")
    with pytest.raises(UsageError, match=r"^cycles must be at least 10, not 3$"):
        run_benchmark(args, refused, str)


@pytest.mark.parametrize("encoding, content, message", [
    ("utf-16", "[fabric]\nrows = 3\n", "is UTF-16 (little-endian): save it as UTF-8"),
    ("latin-1", "# café\n[fabric]\nrows = 3\n",
     "has the byte 0xe9 on line 1, which is not UTF-8"),
])
@pytest.mark.parametrize("command", ["params", "generate"])
def test_a_config_not_in_utf8_is_one_line(tessera, command, encoding, content, message, tmp_path):
    (tmp_path / "cfg.toml").write_bytes(content.encode(encoding))
    r = tessera(command, "--config", "cfg.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == (f"tessera {command}: error: config must be a TOML file in UTF-8 (TOML's "
                        f"only encoding), but 'cfg.toml' {message}"
                        + r.stderr.split(message, 1)[1])
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.toml"]


def test_a_config_with_a_utf8_byte_order_mark_is_read(tessera, tmp_path):
    (tmp_path / "cfg.toml").write_bytes("[fabric]\nrows = 3\n".encode("utf-8-sig"))
    r = tessera("params", "--config", "cfg.toml", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fabric"]["rows"] == 3


def test_abbreviated_flags_are_refused(tessera):
    r = tessera("params", "--row", "8")
    assert r.returncode == 2
    assert r.stderr == ("tessera params: error: unrecognized arguments: --row 8 (see 'tessera "
                        "params --help')\n")
    r = tessera("bench", "network", "--jso", "x.json")
    assert r.returncode == 2 and "unrecognized arguments: --jso" in r.stderr


@pytest.mark.parametrize("text, value", [("08", 8), ("010", 10), ("0x10", 16), ("12", 12)])
def test_integers_with_leading_zeros_are_decimal(tessera, text, value):
    r = tessera("params", "--rows", text, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fabric"]["rows"] == value


@pytest.mark.parametrize("args, prog", [
    (["generate", "--bogus"], "tessera generate"),
    (["params", "--bogus"], "tessera params"),
    (["bench", "load", "--bogus"], "tessera bench load"),
    (["bench", "network", "--quick", "--bogus", "1"], "tessera bench network"),
    (["--bogus"], "tessera"),
])
def test_an_unknown_flag_points_to_its_commands_help(tessera, args, prog):
    r = tessera(*args)
    assert r.returncode == 2
    assert r.stderr.startswith(f"{prog}: error: unrecognized arguments: --bogus")
    assert r.stderr.endswith(f"(see '{prog} --help')\n")


def test_bench_errors_name_the_benchmark(tessera):
    r = tessera("bench", "network", "--rows", "0")
    assert r.returncode == 2
    assert r.stderr == "tessera bench network: error: rows must be a positive integer, not 0\n"


@pytest.mark.parametrize("path, problem", [
    ("afile.txt/x.json", "'{tmp}/afile.txt' in 'afile.txt/x.json' is a file"),
    (".", "'.' is a directory"),
])
@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_an_output_that_cannot_be_written_is_refused_before_the_benchmark(tessera, flag, path,
                                                                          problem, tmp_path):
    (tmp_path / "afile.txt").write_text("x")
    r = tessera("bench", "network", flag, path, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == (f"tessera bench network: error: argument {flag}: must name a file "
                        f"that can be written, but {problem.format(tmp=tmp_path)} (see 'tessera "
                        f"bench network --help')\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt"]


def test_json_into_missing_folders_makes_them(tmp_path):
    from tessera.scripts.argtypes import output_file, write_json
    path = str(tmp_path / "no" / "such" / "dir" / "x.json")
    assert output_file(path) == path
    write_json(path, {"a": 1})
    assert json.loads((tmp_path / "no/such/dir/x.json").read_text()) == {"a": 1}


@pytest.mark.parametrize("benchmark", ["network", "verilator", "router", "fpga"])
def test_router_only_benchmarks_offer_no_sram_flags(tessera, benchmark):
    text = tessera("bench", benchmark, "--help").stdout
    assert "--sram" not in text


def test_bench_help_gives_every_benchmarks_run_time(tessera):
    from tessera.scripts.argtypes import RUN_TIMES
    text = " ".join(tessera("bench", "--help").stdout.split())
    for name, run_time in RUN_TIMES.items():
        assert f" {name} " in text and f"[{run_time}]" in text, name
    # Every benchmark has one: the choices argparse lists are exactly RUN_TIMES's keys.
    listed = tessera("bench", "nope").stderr.split("(choose from ", 1)[1].split(")", 1)[0]
    assert sorted(n.strip(" '") for n in listed.split(",")) == sorted(RUN_TIMES)


def test_a_utf32_config_is_named_as_such(tessera, tmp_path):
    (tmp_path / "cfg.toml").write_bytes("[fabric]\nrows = 3\n".encode("utf-32"))
    r = tessera("params", "--config", "cfg.toml", cwd=tmp_path)
    assert r.returncode == 2 and "is UTF-32 (little-endian): save it as UTF-8" in r.stderr


def test_output_read_by_a_pipe_that_closes_early_is_no_traceback():
    exe = os.path.join(os.path.dirname(sys.executable), "tessera")
    for _ in range(5):
        r = subprocess.run(f"'{exe}' params | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
                           shell=True, executable="/bin/bash", capture_output=True, text=True,
                           timeout=60)
        assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
        assert r.stdout.strip() in ("0", "141"), r.stdout


@pytest.mark.parametrize("args", [
    ["bench", "fabric-fpga", "--shapes", "tile,200x200"],
    ["bench", "fabric-fpga", "--shapes", "tile", "--synth-only", "200x200"],
    ["bench", "verilator", "--shapes", "2x2,200x200", "--no-amaranth"],
    ["bench", "generate", "--shapes", "2x2,200x200"],
])
def test_every_shape_is_checked_before_a_benchmark_starts(tessera, args):
    r = tessera(*args)
    assert r.returncode == 2
    assert "rows must fit the signed address fields" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_json_into_a_place_that_takes_no_files_is_refused_up_front(tessera):
    r = tessera("bench", "network", "--json", "/proc/x.json")
    assert r.returncode == 2
    assert "'/proc' takes no new files" in r.stderr
