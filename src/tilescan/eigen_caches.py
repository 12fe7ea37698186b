"""Pin the CPU cache sizes by which TensorFlow's Eigen blocks its matrix products (issue 15, second machine).

Eigen splits a product's inner dimension into slices whose length it derives from the L1 cache, and its rows and
columns from L2 and L3, all read from CPUID once per process (`Eigen::internal::manage_caching_sizes`). Each slice
is summed on its own and the slices are then added, so the cache sizes decide the order of the float sums: the
same pinned pipeline trained other autoencoder weights on an Intel Xeon (L1d 48 KiB) than on the AMD EPYC
(L1d 32 KiB) that had committed dvc.lock until session 11. Eigen has no switch for it
(`Eigen::setCpuCacheSizes` is C++ only), and the sizes live in a function-local static of each TensorFlow
library. This module finds that static in each library's ELF symbol table, marks it initialised and writes
fixed sizes into it, before TensorFlow's first op.
"""
from __future__ import annotations

import ctypes
import functools
import struct
from pathlib import Path

import numpy as np

from tilescan.errors import TilescanError

# L1d, L2, L3 in bytes: a Zen 4 or Skylake-SP core's. Any fixed sizes make the bytes machine-independent; these
# made the committed dvc.lock, and other sizes give other TensorFlow-trained outputs.
CACHE_SIZES = (32 * 1024, 1024 * 1024, 32 * 1024 * 1024)
LIBRARIES = ("libtensorflow_cc.so.2", "libtensorflow_framework.so.2")
_SIZES_SYMBOL = b"_ZZN5Eigen8internal20manage_caching_sizesENS_6ActionEPlS2_S2_E12m_cacheSizes"
_GUARD_SYMBOL = b"_ZGVZN5Eigen8internal20manage_caching_sizesENS_6ActionEPlS2_S2_E12m_cacheSizes"
_SYMBOL = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"), ("value", "<u8"),
                    ("size", "<u8")])
_SHT_SYMTAB = 2


class CachePinError(TilescanError):
    """Eigen's cache sizes cannot be pinned in this process."""


def symbol_values(library: Path, names: tuple[bytes, ...]) -> dict[bytes, int]:
    """{name: st_value} of the named symbols in the ELF64 library's full symbol table (.symtab, which holds local
    symbols too; the dynamic table does not)."""
    with open(library, "rb") as elf:
        header = elf.read(64)
        if header[:5] != b"\x7fELF\x02":
            raise CachePinError(f"{library}: not a 64-bit ELF file")
        section_offset, = struct.unpack_from("<Q", header, 0x28)
        entry_size, count = struct.unpack_from("<HH", header, 0x3A)
        elf.seek(section_offset)
        table = elf.read(entry_size * count)
        sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * entry_size) for i in range(count)]
        symtab = next((s for s in sections if s[1] == _SHT_SYMTAB), None)
        if symtab is None:
            raise CachePinError(f"{library}: no symbol table (stripped)")
        strtab = sections[symtab[6]]
        elf.seek(strtab[4])
        strings = elf.read(strtab[5])
        symbols = np.fromfile(elf, dtype=_SYMBOL, count=symtab[5] // _SYMBOL.itemsize, offset=symtab[4] - elf.tell())
    values = {}
    for name in names:
        at = strings.find(b"\0" + name + b"\0")
        hits = symbols["value"][symbols["name"] == at + 1] if at >= 0 else []
        if len(hits) != 1:
            raise CachePinError(f"{library}: {len(hits)} symbols named {name.decode()}, expected 1")
        values[name] = int(hits[0])
    return values


def loaded_libraries() -> dict[str, tuple[Path, int]]:
    """{file name: (path, load address)} of the LIBRARIES this process has mapped (from /proc/self/maps)."""
    found = {}
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[2] == "00000000" and Path(fields[5]).name in LIBRARIES:
            found.setdefault(Path(fields[5]).name, (Path(fields[5]), int(fields[0].split("-")[0], 16)))
    return found


@functools.cache
def _addresses() -> dict[str, tuple[int, int]]:
    """{library: (address of Eigen's cache sizes, address of their initialisation guard)} in this process."""
    libraries = loaded_libraries()
    missing = [name for name in LIBRARIES if name not in libraries]
    if missing:
        raise CachePinError(f"TensorFlow's {', '.join(missing)} is not loaded: import tensorflow first")
    addresses = {}
    for name, (path, base) in sorted(libraries.items()):
        values = symbol_values(path, (_SIZES_SYMBOL, _GUARD_SYMBOL))
        addresses[name] = (base + values[_SIZES_SYMBOL], base + values[_GUARD_SYMBOL])
    return addresses


def cache_sizes_in_force() -> dict[str, list[int]]:
    """{library: the L1, L2, L3 sizes its Eigen blocks by} (zeros where Eigen has not read them yet)."""
    return {name: list((ctypes.c_int64 * 3).from_address(sizes)) for name, (sizes, _) in _addresses().items()}


def pin_cache_sizes(sizes: tuple[int, int, int] = CACHE_SIZES) -> None:
    """Write `sizes` into Eigen's cache-size static in each TensorFlow library and mark it initialised, so that
    Eigen never reads CPUID; call after importing TensorFlow, before its first op."""
    for name, held in cache_sizes_in_force().items():
        if held != [0, 0, 0] and not 1024 <= held[0] <= 1024 ** 2:  # a wrong address would hold anything
            raise CachePinError(f"{name}: Eigen's cache sizes read {held}; not pinned (unknown TensorFlow build?)")
    for sizes_at, guard_at in _addresses().values():
        (ctypes.c_int64 * 3).from_address(sizes_at)[:] = sizes
        ctypes.c_uint8.from_address(guard_at).value = 1  # Itanium C++ ABI: a non-zero first byte = initialised
