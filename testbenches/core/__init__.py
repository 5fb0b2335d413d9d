"""cocotb testbench of a fabric with compute cores."""
