"""Color routes and the turn rule that keeps the mesh free of deadlock.

Addressed packets are routed in dimension order (x first, then y). A colored route may use the
same turns and no others: a wavelet that arrived from the north or south (moving along y) may
only continue along y or leave on RAMP; no route sends a wavelet back where it came from. With
every wavelet, colored or addressed, obeying the same X-then-Y turns, every dependency between
links points from a link to one further along x-then-y order, so no cycle of links can wait on
itself (Dally and Seitz). ``docs/router.md`` gives the full argument.
"""

from dataclasses import dataclass

from .wavelet import Direction

__all__ = ["LEGAL_OUTPUTS", "FEEDS", "Route", "RouteError"]


class RouteError(ValueError):
    """A route breaks the turn rule."""


# For each input, the outputs a wavelet arriving there may leave by (the XY turn table).
LEGAL_OUTPUTS = {
    Direction.RAMP:  frozenset(Direction),
    Direction.WEST:  frozenset({Direction.EAST, Direction.NORTH, Direction.SOUTH, Direction.RAMP}),
    Direction.EAST:  frozenset({Direction.WEST, Direction.NORTH, Direction.SOUTH, Direction.RAMP}),
    Direction.NORTH: frozenset({Direction.SOUTH, Direction.RAMP}),
    Direction.SOUTH: frozenset({Direction.NORTH, Direction.RAMP}),
}


# For each output, the inputs that may feed it (17 of the 25 pairs): the router builds only
# these paths through its crossbar and arbiters.
FEEDS = {o: tuple(i for i in Direction if o in LEGAL_OUTPUTS[i]) for o in Direction}


@dataclass(frozen=True)
class Route:
    """A color's route at one router: the input it is accepted from and the outputs it goes to.

    Several outputs make a multicast. ``check=False`` builds a route that breaks the turn rule
    (for tests that show what the rule prevents).
    """
    accept: Direction
    outputs: frozenset
    check: bool = True

    def __post_init__(self):
        try:
            accept = Direction(self.accept)
        except ValueError:
            raise RouteError(f"accept must be a Direction, not {self.accept!r}") from None
        try:
            outputs = frozenset(Direction(o) for o in self.outputs)
        except (TypeError, ValueError):
            raise RouteError(f"outputs must be a set of Directions, not {self.outputs!r}") \
                from None
        object.__setattr__(self, "accept", accept)
        object.__setattr__(self, "outputs", outputs)
        if self.check:
            illegal = outputs - LEGAL_OUTPUTS[accept]
            if illegal:
                names = ", ".join(sorted(d.name for d in illegal))
                raise RouteError(f"route outputs must follow the X-then-Y turn rule: from "
                                 f"{accept.name} a wavelet may leave by "
                                 f"{', '.join(sorted(d.name for d in LEGAL_OUTPUTS[accept]))}, "
                                 f"not {names}")

    @property
    def outputs_mask(self):
        return sum(1 << int(d) for d in self.outputs)

    @classmethod
    def unrouted(cls):
        """The reset entry: the color goes nowhere."""
        return cls(Direction.RAMP, frozenset())

    def __repr__(self):
        outs = "|".join(d.name for d in sorted(self.outputs)) or "none"
        return f"Route({self.accept.name} -> {outs})"

