"""What several test files share."""

import os
import subprocess
import sys

import pytest


def run_tessera(*args, cwd=None, timeout=300):
    """Run the installed ``tessera`` console command as a user would (the module if the command
    is not beside this Python); returns the ``CompletedProcess`` with text output."""
    exe = os.path.join(os.path.dirname(sys.executable), "tessera")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "tessera.scripts.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


@pytest.fixture
def tessera():
    """:func:`run_tessera`: ``tessera("generate", "-o", "out", cwd=tmp_path)``."""
    return run_tessera
