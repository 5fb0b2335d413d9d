"""Running Amaranth's own simulator the same way from every unit test."""

import os
import re

__all__ = ["run_simulation", "simulate", "refused"]


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


def simulate(dut, testbench):
    """Run one testbench (an ``async def testbench(ctx)``) on ``dut`` with a 1 MHz clock on
    its ``sync`` domain, if it has one, through :func:`run_simulation`."""
    from amaranth.sim import Simulator

    sim = Simulator(dut)
    sim.add_clock(1e-6, if_exists=True)
    sim.add_testbench(testbench)
    run_simulation(sim)


def refused(exception, message_regex, factory):
    """Check that ``factory()`` raises ``exception`` whose whole message matches
    ``message_regex`` (for tests).

    The half-made component would warn "created but never used" when collected, at some later
    test; it is collected here with that warning off.
    """
    import gc
    import warnings

    import pytest
    from amaranth.hdl import UnusedElaboratable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(exception, match=message_regex):
            factory()
        gc.collect()
