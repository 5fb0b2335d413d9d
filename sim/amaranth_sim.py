"""Running Amaranth's own simulator the same way from every unit test."""

import os
import re

__all__ = ["run_simulation"]


def run_simulation(sim):
    """Run ``sim`` to the end; with ``TESSERA_WAVES=<dir>`` set, also write a VCD there, named
    after the running pytest test."""
    waves = os.environ.get("TESSERA_WAVES")
    if not waves:
        sim.run()
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "sim").split(" ")[0]
    with sim.write_vcd(os.path.join(waves, re.sub(r"[^\w.-]+", "_", test) + ".vcd")):
        sim.run()
