"""Amaranth components of the Tessera fabric: wavelet, router (and later SRAM, core, tile, fabric)."""
