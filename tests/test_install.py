"""A non-editable install works: it finds its testbenches inside the package and builds under
the working directory (or ``$TESSERA_BUILD_DIR``), never next to its own files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

# Run from the installed copy: the fabric testbench on a one-tile fabric under Icarus (the
# quickest simulator to build), then report where things were found.
SCRIPT = """
import json, sys
from tessera.hdl.fabric import FABRIC_MODULE, TILE_MODULE, fabric_verilog
from tessera.hdl.params import resolve_params
from tessera.sim import runner
params = resolve_params("default", overrides={"rows": 1, "cols": 1})
files = fabric_verilog(params)
sim, build_dir = runner.build("fabric-1x1", files[f"{TILE_MODULE}.v"] + files[f"{FABRIC_MODULE}.v"],
                              toplevel=FABRIC_MODULE, simulator="icarus")
total = runner.run_testbench(sim, build_dir, toplevel=FABRIC_MODULE, test_module="test_fabric",
                             test_dir=runner.TESTBENCHES / "fabric", params=params, minimum=1,
                             what="installed fabric testbench",
                             testcase=["load_and_read_back/edges=west"])
print(json.dumps({"runner": runner.__file__, "testbenches": str(runner.TESTBENCHES),
                  "build_dir": str(build_dir), "tests": total}))
"""


def test_a_non_editable_install_runs_a_testbench_from_anywhere(tmp_path):
    site, work, source = tmp_path / "site", tmp_path / "work", tmp_path / "source"
    work.mkdir()
    # A copy of the sources, so setuptools' own build folder never lands in the checkout.
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "tessera-out", "__pycache__", "*.egg-info"))
    # A wheel, built as `pip install -e .` builds (setuptools from the index), then unpacked.
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                              "--target", str(site), str(source)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("TESSERA_BUILD_DIR", None)
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    import json
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(found["runner"]).is_relative_to(site), "the installed copy must run"
    assert Path(found["testbenches"]) == site / "tessera" / "testbenches"
    assert Path(found["build_dir"]).parent == work / "build"
    assert found["tests"] == 1
    assert not (site / "tessera" / "build").exists()
    # Every subpackage is in the wheel, the benchmarks too.
    assert (site / "tessera" / "sim" / "bench" / "report.py").exists()
