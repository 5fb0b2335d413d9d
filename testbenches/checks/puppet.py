"""A puppet fabric: the port list of a 1 x 1 fabric, with nothing inside.

Each ``*_out`` link is driven straight from a ``puppet_*`` input that the testbench sets, so a
test can make the "fabric" misbehave on purpose (change a wavelet before it is taken, offer one
on a channel that is not ready, send a reply no request waits for) and check that the test
tools catch it. Every ``*_in`` is always ready on every channel.
"""

from tessera.hdl.link import num_channels
from tessera.hdl.mesh import MESH_DIRECTIONS, edge_port
from tessera.hdl.wavelet import wavelet_layout

TOP = "tessera_puppet"


def puppet_verilog(params):
    width = wavelet_layout(params).size
    channels = num_channels(params)
    ports, body = ["clk", "rst", "status", "puppet_valid", "puppet_payload"], []
    body += ["  input clk;", "  input rst;", "  output [3:0] status;",
             "  input [3:0] puppet_valid;", f"  input [{4 * width - 1}:0] puppet_payload;",
             "  assign status = 4'd0;"]
    for k, side in enumerate(MESH_DIRECTIONS):
        inp, out = edge_port(side, "in", 0), edge_port(side, "out", 0)
        ports += [f"{inp}__valid", f"{inp}__payload", f"{inp}__ready",
                  f"{out}__valid", f"{out}__payload", f"{out}__ready"]
        body += [f"  input {inp}__valid;", f"  input [{width - 1}:0] {inp}__payload;",
                 f"  output [{channels - 1}:0] {inp}__ready;",
                 f"  assign {inp}__ready = {{{channels}{{1'b1}}}};",
                 f"  output {out}__valid;", f"  output [{width - 1}:0] {out}__payload;",
                 f"  input [{channels - 1}:0] {out}__ready;",
                 f"  assign {out}__valid = puppet_valid[{k}];",
                 f"  assign {out}__payload = puppet_payload[{(k + 1) * width - 1}:{k * width}];"]
    return "\n".join([f"module {TOP}({', '.join(ports)});", *body, "endmodule", ""])
