"""The parameters of a fabric: one validated, immutable object.

A :class:`FabricParams` comes from a named preset, optionally a TOML file on top of it, and
optionally single overrides on top of that (the command line's flags). Every rule is checked when
the object is made; a broken rule raises :class:`ParamError`, whose one-line message names the
parameter, the rule and the bad value.

TOML layout (every key optional; unknown keys are errors)::

    preset = "wse"            # start from this preset, then apply the keys below

    [fabric]
    rows = 4
    cols = 4
    coord_bits = 8

    [wavelet]
    data_width = 32
    color_bits = 5
    num_colors = 24

    [router]
    queue_depth = 4
    color_channels = 8

    [sram]
    size_bytes = 49152
    banks = 8

    [core]
    lanes = 4
    tasks = 64
    microthreads = 8
    program_words = 2048
    queue_depth = 4
    accumulators = 4
    acc_bits = 48
"""

import dataclasses
import json
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

__all__ = ["ParamError", "FabricParams", "PRESETS", "SECTIONS", "resolve_params",
           "resolve_preset", "params_to_toml", "params_to_json"]


class ParamError(ValueError):
    """A parameter broke a rule. The message is one line: parameter, rule, bad value."""


def _param(section, doc, unit=""):
    return field(metadata={"section": section, "doc": doc, "unit": unit})


@dataclass(frozen=True)
class FabricParams:
    """Parameters of a fabric of ``rows`` x ``cols`` tiles.

    Parameters
    ----------
    rows, cols : int
        Size of the mesh in tiles. ``y`` indexes rows and grows southward; ``x`` indexes columns
        and grows eastward.
    coord_bits : int
        Width of each of the signed ``x`` and ``y`` fields of an addressed header; a side of the
        mesh holds at most ``2**(coord_bits-1) - 1`` tiles.
    data_width : int
        Payload bits of a wavelet.
    color_bits : int
        Width of the wavelet's color field.
    num_colors : int
        Number of routable colors (route-table entries per router).
    queue_depth : int
        Wavelets each channel of a router input holds.
    color_channels : int
        Virtual channels for colored wavelets at each router input; color ``c`` travels in color
        channel ``c % color_channels``. From 1 (every color shares one channel) to
        ``num_colors`` (every color its own: a blocked color never stops another).
    sram_bytes : int
        Bytes of SRAM per tile.
    sram_banks : int
        Number of SRAM banks per tile.
    core_lanes : int
        16-bit lanes of the core's SIMD datapath: a vector instruction streams ``core_lanes``
        int16 elements per cycle (twice as many int8, half as many int32).
    core_tasks : int
        Entries of the core's task table; task ``c < num_colors`` may be color ``c``'s data task.
    core_microthreads : int
        Asynchronous vector instructions in flight at once beside the running task.
    core_program_words : int
        32-bit words of program memory (the task table, then the code).
    core_queue_depth : int
        Wavelets each color's input queue in the core holds.
    core_accumulators : int
        Wide accumulators (``a0``...) a dot product can sum into.
    core_acc_bits : int
        Bits of an accumulator and of a dot product's per-row sum (wraps beyond them).
    """
    # Mesh size, in tiles.
    rows:        int = _param("fabric", "tile rows (y, grows southward)", "tiles")
    cols:        int = _param("fabric", "tile columns (x, grows eastward)", "tiles")
    # Width of each signed coordinate in an addressed header; bounds a side at 2**(coord_bits-1)-1.
    coord_bits:  int = _param("fabric", "bits of each of x and y in an addressed header", "bits")
    # Wavelet payload width.
    data_width:  int = _param("wavelet", "payload bits of a wavelet", "bits")
    # Width of the color field; must hold every color number.
    color_bits:  int = _param("wavelet", "bits of the wavelet color field", "bits")
    # Routable colors: route-table entries per router.
    num_colors:  int = _param("wavelet", "routable colors per router", "colors")
    # Depth of each channel's queue at each of the router's five inputs.
    queue_depth: int = _param("router", "wavelets per channel at each router input", "wavelets")
    # Colored virtual channels per input (plus two addressed ones: requests and replies).
    color_channels: int = _param("router", "virtual channels for colors at each router input",
                                 "channels")
    # Tile memory.
    sram_bytes:  int = _param("sram", "SRAM per tile", "bytes")
    sram_banks:  int = _param("sram", "SRAM banks per tile", "banks")
    # The compute core (docs/isa.md).
    core_lanes: int = _param("core", "16-bit SIMD lanes of the core", "lanes")
    core_tasks: int = _param("core", "entries of the core's task table", "tasks")
    core_microthreads: int = _param("core", "asynchronous vector ops in flight at once",
                                    "ops")
    core_program_words: int = _param("core", "program memory (task table and code)", "words")
    core_queue_depth: int = _param("core", "wavelets per color queue at the core's input",
                                   "wavelets")
    core_accumulators: int = _param("core", "wide accumulators of the core", "accumulators")
    core_acc_bits: int = _param("core", "bits of an accumulator", "bits")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            # bool is an int subclass; a flag is never a size.
            if not isinstance(value, int) or isinstance(value, bool):
                raise ParamError(f"{f.name} must be an integer, not {value!r} "
                                 f"({type(value).__name__})")
            if value <= 0:
                raise ParamError(f"{f.name} must be a positive integer, not {value}")
        _check_pow2("queue_depth", self.queue_depth, minimum=2)
        _check_pow2("sram_banks", self.sram_banks)
        _check_pow2("data_width", self.data_width, minimum=8, maximum=64)
        if self.color_bits > 8:
            raise ParamError(f"color_bits must be at most 8, not {self.color_bits}")
        if self.num_colors > 2 ** self.color_bits:
            raise ParamError(f"num_colors must fit the color field (at most 2**color_bits = "
                             f"{2 ** self.color_bits}), not {self.num_colors}")
        if self.color_channels > self.num_colors:
            raise ParamError(f"color_channels must be at most num_colors = {self.num_colors} "
                             f"(a channel no color maps to holds nothing), not "
                             f"{self.color_channels}")
        # A header holds x, y and the memory agent's 2-bit request opcode.
        if 2 * self.coord_bits + 2 > self.data_width:
            raise ParamError(f"coord_bits must leave room for x, y and a 2-bit opcode in one "
                             f"wavelet (2*coord_bits + 2 <= data_width = {self.data_width}), "
                             f"not {self.coord_bits}")
        # Header coordinates are signed so that hosts beyond every edge have addresses too:
        # x = -1 (west), x = cols (east), y = -1 (north), y = rows (south).
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if value > 2 ** (self.coord_bits - 1) - 1:
                raise ParamError(f"{name} must fit the signed address fields with room for the "
                                 f"edge beyond it (at most 2**(coord_bits-1) - 1 = "
                                 f"{2 ** (self.coord_bits - 1) - 1}), not {value}")
        self._check_core()
        word_bytes = self.data_width // 8
        if self.sram_bytes % (self.sram_banks * word_bytes):
            raise ParamError(f"sram_bytes must be a multiple of sram_banks * data_width/8 = "
                             f"{self.sram_banks * word_bytes}, not {self.sram_bytes}")

    def _check_core(self):
        from .core.isa import MAX_ACCUMULATORS, MAX_TASKS
        _check_pow2("core_lanes", self.core_lanes, minimum=2, maximum=16)
        _check_range("core_tasks", self.core_tasks, 1, MAX_TASKS,
                     "a task id is 6 bits in an instruction")
        _check_range("core_microthreads", self.core_microthreads, 1, 8, "")
        _check_range("core_accumulators", self.core_accumulators, 1, MAX_ACCUMULATORS,
                     "an accumulator index is 3 bits in an instruction")
        _check_range("core_acc_bits", self.core_acc_bits, 32, 64,
                     "int8 products need 32, a 64-bit sum is stored in two words")
        # Two: an int64 element from the fabric is two wavelets, taken in one cycle.
        _check_pow2("core_queue_depth", self.core_queue_depth, minimum=2, maximum=64)
        # Entry points and jump targets are 16 bits; the agent maps program memory into 12K
        # words of its address space (docs/isa.md).
        _check_range("core_program_words", self.core_program_words, self.core_tasks + 1,
                     12 * 1024, "the task table (core_tasks words) and at least one "
                     "instruction, within the agent's 12K-word program window")

    # Derived quantities, so no caller recomputes them.
    @property
    def word_bytes(self):
        return self.data_width // 8

    @property
    def bank_words(self):
        """Words of ``data_width`` bits per SRAM bank."""
        return self.sram_bytes // (self.sram_banks * self.word_bytes)

    def replace(self, **changes):
        """A copy with some parameters changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self):
        return dataclasses.asdict(self)

    def as_sections(self):
        """Parameters grouped as in a TOML file: ``{section: {key: value}}``."""
        out = {}
        for f in dataclasses.fields(self):
            out.setdefault(f.metadata["section"], {})[_toml_key(f.name)] = getattr(self, f.name)
        return out


def _check_pow2(name, value, *, minimum=1, maximum=None):
    if value & (value - 1) or value < minimum or (maximum is not None and value > maximum):
        bounds = f" from {minimum}" + (f" to {maximum}" if maximum is not None else "")
        raise ParamError(f"{name} must be a power of two{bounds}, not {value}")


def _check_range(name, value, low, high, why):
    if not low <= value <= high:
        because = f" ({why})" if why else ""
        raise ParamError(f"{name} must be from {low} to {high}{because}, not {value}")


# TOML keys inside a section drop the section's prefix: [sram] size_bytes = sram_bytes,
# [core] lanes = core_lanes.
_TOML_RENAMES = {"sram_bytes": "size_bytes", "sram_banks": "banks"}


def _toml_key(name):
    if name.startswith("core_"):
        return name[len("core_"):]
    return _TOML_RENAMES.get(name, name)


SECTIONS = {}
for _f in dataclasses.fields(FabricParams):
    SECTIONS.setdefault(_f.metadata["section"], {})[_toml_key(_f.name)] = _f.name


PRESETS = {
    # A 4x4 fabric small enough to simulate in seconds; the built-in default.
    "default": dict(rows=4, cols=4, coord_bits=8, data_width=32, color_bits=5, num_colors=8,
                    queue_depth=2, color_channels=8, sram_bytes=4096, sram_banks=2,
                   core_lanes=4, core_tasks=32, core_microthreads=2, core_program_words=1024,
                    core_queue_depth=2, core_accumulators=4, core_acc_bits=48),
    # The reference machine's tile: 48 KiB in 8 banks, 24 colors each in its own channel,
    # 32-bit wavelets.
    "wse": dict(rows=8, cols=8, coord_bits=8, data_width=32, color_bits=5, num_colors=24,
                queue_depth=2, color_channels=24, sram_bytes=48 * 1024, sram_banks=8,
                core_lanes=4, core_tasks=64, core_microthreads=8, core_program_words=2048,
                core_queue_depth=4, core_accumulators=4, core_acc_bits=48),
    # The largest fabric with cores that fits the ULX3S-85F board's FPGA (ECP5 LFE5U-85F):
    # LUT4s are the limit, so 4 colors sharing one channel, 2-deep queues, a 2-lane core.
    # 2x2 synthesises to 84 % of the LUT4s (docs/benchmarks.md; network-only tiles, --no-core,
    # fit 5x5).
    "ulx3s": dict(rows=2, cols=2, coord_bits=8, data_width=32, color_bits=5, num_colors=4,
                  queue_depth=2, color_channels=1, sram_bytes=4096, sram_banks=2,
                 core_lanes=2, core_tasks=16, core_microthreads=1, core_program_words=512,
                  core_queue_depth=2, core_accumulators=2, core_acc_bits=48),
    # The smallest useful fabric with cores, for quick tests: 4 colors in 2 channels (so shared
    # channels are exercised too), one SRAM bank. (The network alone also runs with 16-bit
    # wavelets: data_width = 16 and --no-core; the router's and fabric's tests do.)
    "tiny": dict(rows=2, cols=2, coord_bits=4, data_width=32, color_bits=2, num_colors=4,
                 queue_depth=2, color_channels=2, sram_bytes=512, sram_banks=1,
                 core_lanes=2, core_tasks=8, core_microthreads=1, core_program_words=256,
                 core_queue_depth=2, core_accumulators=2, core_acc_bits=48),
}


def resolve_params(preset=None, config=None, overrides=None):
    """Build the parameters: a preset, then a TOML file's keys, then single overrides.

    Parameters
    ----------
    preset : str or None
        Name from :data:`PRESETS`; ``None`` means the TOML file's ``preset`` key or ``"default"``.
    config : path-like or None
        TOML file (see the module docstring for its layout).
    overrides : dict or None
        ``{field_name: value}``; ``None`` values are ignored (flags not given).

    Raises
    ------
    ParamError
        For an unknown preset, a missing or malformed file, an unknown key, or a broken rule.
    """
    from_file = {}
    file_preset = None
    if config is not None:
        from_file, file_preset = _read_toml(config)
    name = _preset_name(preset, file_preset)
    values = dict(PRESETS[name])
    values.update(from_file)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in values:
            raise ParamError(f"override must name a parameter ({', '.join(values)}), not {key!r}")
        values[key] = value
    return FabricParams(**values)


def resolve_preset(preset=None, config=None):
    """The name of the preset :func:`resolve_params` starts from with these arguments.

    Raises
    ------
    ParamError
        As :func:`resolve_params` does for an unknown preset or a bad file.
    """
    file_preset = _read_toml(config)[1] if config is not None else None
    return _preset_name(preset, file_preset)


def _preset_name(preset, file_preset):
    name = preset if preset is not None else (file_preset or "default")
    if name not in PRESETS:
        raise ParamError(f"preset must be one of {', '.join(PRESETS)}, not {name!r}")
    return name


# Byte-order marks of encodings that some editors save TOML in, though TOML must be UTF-8.
# (UTF-32's come first: its little-endian mark begins with UTF-16's.)
_FOREIGN_BOMS = {b"\xff\xfe\x00\x00": "UTF-32 (little-endian)",
                 b"\x00\x00\xfe\xff": "UTF-32 (big-endian)",
                 b"\xff\xfe": "UTF-16 (little-endian)", b"\xfe\xff": "UTF-16 (big-endian)"}
_UTF8_BOM = b"\xef\xbb\xbf"


def _read_toml(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        doc = tomllib.loads(_toml_text(path, raw))
    except FileNotFoundError:
        raise ParamError(f"config must be an existing TOML file, not {str(path)!r}") from None
    except OSError as e:
        # A directory, a file without read permission, ...
        raise ParamError(f"config must be a readable TOML file, not {str(path)!r} "
                         f"({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ParamError(f"config must be valid TOML, but {str(path)!r} is not: {e}") from None
    values = {}
    preset = doc.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ParamError(f"preset must be a string, not {preset!r}")
    for section, table in doc.items():
        home = [name for name, keys in SECTIONS.items() if section in keys]
        if home and not isinstance(table, dict):
            raise ParamError(f"config key {section!r} must be in the [{home[0]}] table, not at "
                             f"the top level")
        if section not in SECTIONS:
            hint = _did_you_mean(section, SECTIONS)
            raise ParamError(f"config section must be one of {', '.join(SECTIONS)}, "
                             f"not [{section}]{hint}")
        if not isinstance(table, dict):
            raise ParamError(f"config key {section!r} must be a [{section}] table, not {table!r}")
        for key, value in table.items():
            if key not in SECTIONS[section]:
                hint = _did_you_mean(key, SECTIONS[section])
                raise ParamError(f"config key in [{section}] must be one of "
                                 f"{', '.join(SECTIONS[section])}, not {key!r}{hint}")
            values[SECTIONS[section][key]] = value
    return values, preset


def _toml_text(path, raw):
    """``raw`` decoded as UTF-8, the only encoding TOML allows (a UTF-8 byte-order mark is
    dropped); anything else is a :class:`ParamError` that says where and what the file is."""
    for bom, encoding in _FOREIGN_BOMS.items():
        if raw.startswith(bom):
            raise ParamError(f"config must be a TOML file in UTF-8 (TOML's only encoding), but "
                             f"{str(path)!r} is {encoding}: save it as UTF-8") from None
    try:
        return raw.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ParamError(f"config must be a TOML file in UTF-8 (TOML's only encoding), but "
                         f"{str(path)!r} has the byte 0x{raw[e.start]:02x} on line {line}, "
                         f"which is not UTF-8 (Latin-1 or another encoding?): save it as "
                         f"UTF-8") from None


def _did_you_mean(word, choices):
    import difflib
    close = difflib.get_close_matches(word, list(choices), n=1)
    # A shortened name ('size' for 'size_bytes') is a likely slip too.
    close = close or [c for c in choices if c.startswith(word) or word.startswith(c)][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def params_to_toml(params):
    """The parameters as a TOML document that :func:`resolve_params` reads back unchanged."""
    lines = []
    for section, table in params.as_sections().items():
        lines.append(f"[{section}]")
        for f_name, key in SECTIONS[section].items():
            doc = next(f for f in dataclasses.fields(params) if f.name == key).metadata
            unit = f" ({doc['unit']})" if doc["unit"] else ""
            lines.append(f"{f_name} = {table[f_name]}  # {doc['doc']}{unit}")
        lines.append("")
    return "\n".join(lines)


def params_to_json(params):
    return json.dumps(params.as_sections(), indent=2)
