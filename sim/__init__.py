"""Everything that runs designs: Verilator/cocotb setup, stream drivers, monitors, scoreboards."""
