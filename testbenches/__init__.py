"""cocotb testbenches of Tessera designs, one folder per design (installed with the package, so
a non-editable install finds them: ``tessera.sim.runner.TESTBENCHES``)."""
