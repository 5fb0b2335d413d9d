"""Benchmarks, apart from the simulation helpers they use. Run them with ``tessera bench``.

:mod:`~tessera.sim.bench.router`
    One router: zero-load latency, throughput per traffic pattern, fairness, and simulator
    speed (Verilator under cocotb, Verilator with a C++ main, Amaranth's simulator).
:mod:`~tessera.sim.bench.network`
    A mesh of routers: latency against offered load, and simulator speed.
:mod:`~tessera.sim.bench.core`
    One compute core: elements per cycle of each vector instruction against the lanes bound,
    the fixed cost of a vector instruction, a task switch.
:mod:`~tessera.sim.bench.sram`
    Each preset's tile memory synthesised and placed for an ECP5.
:mod:`~tessera.sim.bench.load`
    The load path: cycles to fill every PE's memory through one edge and through all four.
:mod:`~tessera.sim.bench.generate`
    Generation: seconds and Verilog size to write fabrics of several shapes.
:mod:`~tessera.sim.bench.report`
    What every report shares: machine and tool-version information, plain-text tables.

The FPGA benchmarks (``bench_fpga``, ``bench_fpga_fabric``) live with the FPGA flow in
:mod:`tessera.sim.fpga`, which takes its report helpers from :mod:`~tessera.sim.bench.report`.
"""
