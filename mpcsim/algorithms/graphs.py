"""Graph inputs for connectivity: named edge-list generators and the union-find reference.

An edge list is an (E, 2) int64 array of vertex ids; the vertices are 0..V-1 with
V = 1 + the largest id (`num_vertices`), so an isolated vertex below the largest id is its own
component. Every generator relabels vertices by a random permutation, so ids carry no hint
of the structure (a path is not 0-1-2-...), except `ordered_path`, the adversarial case for
min-label hooking.

`load_edges` reads a user's edge list (`mpcsim run connectivity --edges FILE`).

GENERATORS maps the CLI's `--graph` names to functions (num_edges, rng) -> edges; `cycles` is
the paper's instance (its Conjecture 2.4, the 1-vs-2-cycle conjecture; docs/paper.md): one
cycle through all vertices or two cycles of half the vertices each, chosen by a fair coin, so
the answer is not known in advance. The connectivity algorithm itself is in
mpcsim.algorithms.connectivity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError

__all__ = [
    "GENERATORS", "num_vertices", "components", "load_edges", "read_edges", "path",
    "ordered_path", "cycles", "one_or_two_cycles", "random_graph", "star", "tiny_components",
]


def num_vertices(edges: np.ndarray) -> int:
    """V = 1 + the largest vertex id (0 for no edges)."""
    return int(edges.max()) + 1 if edges.size else 0


def components(edges: np.ndarray, vertices: int | None = None) -> np.ndarray:
    """Union-find with path halving: label[v] = the smallest vertex id in v's component.

    The sequential reference: O((V + E) alpha(V)) steps in Python, ~1 s for a million edges.
    """
    v_count = num_vertices(edges) if vertices is None else vertices
    parent = list(range(v_count))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:  # the smaller id becomes the root, so roots are component minima
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return np.array([find(x) for x in range(v_count)], dtype=np.int64)


def load_edges(path: str) -> np.ndarray:
    """An (E, 2) int64 edge list from a file (`read_edges` without the names)."""
    return read_edges(path)[0]


def read_edges(path: str) -> tuple[np.ndarray, list[str] | None]:
    """(edges, names) from a file: a .npy array of shape (E, 2) of ints >= 0, or text with one
    edge per line as networkx's write_edgelist and SNAP write it: the first two
    whitespace-separated tokens are the endpoints, the rest (networkx's data dict, weights) is
    ignored, and blank lines and lines starting with '#' or '%' are comments. Integer ids are
    the vertices themselves (names None); if any endpoint is not an integer, vertices are
    numbered 0, 1, ... in order of first appearance and names[i] is vertex i's name. Raises
    ConfigError naming the file and line when it cannot be read."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(problems=[("edges", path, "no such file")])
    if file.suffix == ".npy":
        try:
            edges = np.load(file, allow_pickle=False)
        except ValueError as exc:
            raise ConfigError(problems=[("edges", path, f"not a numeric .npy array ({exc})")])
        if edges.ndim != 2 or edges.shape[1] != 2 or edges.dtype.kind not in "iu" or (
                edges.size and edges.min() < 0):
            raise ConfigError(problems=[("edges", path, f"holds an array of shape "
                                         f"{edges.shape}, dtype {edges.dtype}; connectivity "
                                         "needs an (E, 2) array of ints >= 0")])
        return edges.astype(np.int64).reshape(-1, 2), None
    pairs: list[tuple[str, str]] = []
    with open(file, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            tokens = line.split()
            if not tokens or tokens[0].startswith(("#", "%")):
                continue
            if len(tokens) < 2:
                raise ConfigError(problems=[("edges", f"{path}:{number}", "an edge line needs "
                                             f"two endpoints, got {line.strip()!r}")])
            pairs.append((tokens[0], tokens[1]))
    flat = [token for pair in pairs for token in pair]
    if all(token.isdigit() for token in flat):
        return np.array(flat, dtype=np.int64).reshape(-1, 2), None
    ids: dict[str, int] = {}
    for token in flat:
        ids.setdefault(token, len(ids))
    return np.array([ids[token] for token in flat], dtype=np.int64).reshape(-1, 2), list(ids)


def _relabel(edges: np.ndarray, vertices: int, rng: np.random.Generator) -> np.ndarray:
    perm = rng.permutation(vertices).astype(np.int64)
    return perm[edges] if edges.size else edges.reshape(0, 2).astype(np.int64)


def ordered_path(num_edges: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The path 0-1-2-...-E: every vertex's smaller neighbour is its predecessor."""
    ids = np.arange(num_edges, dtype=np.int64)
    return np.column_stack([ids, ids + 1])


def path(num_edges: int, rng: np.random.Generator) -> np.ndarray:
    """One path through E + 1 randomly labelled vertices (diameter E)."""
    return _relabel(ordered_path(num_edges), num_edges + 1, rng)


def cycles(num_edges: int, rng: np.random.Generator, count: int = 1) -> np.ndarray:
    """`count` disjoint cycles through E randomly labelled vertices (lengths differ by <= 1).

    A cycle needs 3 vertices; with fewer than 3*count edges the result has fewer cycles.
    """
    count = max(1, min(count, num_edges // 3)) if num_edges >= 3 else 1
    parts = []
    for lo, hi in zip(np.linspace(0, num_edges, count + 1).astype(int)[:-1],
                      np.linspace(0, num_edges, count + 1).astype(int)[1:]):
        ids = np.arange(lo, hi, dtype=np.int64)
        parts.append(np.column_stack([ids, np.roll(ids, -1)]) if hi - lo >= 3
                     else np.column_stack([ids, ids]))
    edges = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
    return _relabel(edges, num_edges, rng)


def one_or_two_cycles(num_edges: int, rng: np.random.Generator) -> np.ndarray:
    """The paper's instance: one E-cycle or two E/2-cycles, decided by a fair coin."""
    return cycles(num_edges, rng, count=1 + int(rng.integers(2)))


def random_graph(num_edges: int, rng: np.random.Generator) -> np.ndarray:
    """E uniformly random edges over V = E vertices (average degree 2: a giant component,
    many small trees and isolated vertices); self-loops and repeats are kept."""
    vertices = max(1, num_edges)
    return rng.integers(0, vertices, size=(num_edges, 2), dtype=np.int64)


def star(num_edges: int, rng: np.random.Generator) -> np.ndarray:
    """One vertex joined to E others: the hub is in every edge."""
    leaves = np.arange(1, num_edges + 1, dtype=np.int64)
    return _relabel(np.column_stack([np.zeros_like(leaves), leaves]), num_edges + 1, rng)


def tiny_components(num_edges: int, rng: np.random.Generator) -> np.ndarray:
    """Many components of 2 or 3 vertices (single edges and triangles)."""
    blocks, parts, at = [], 0, 0
    while parts < num_edges:
        if num_edges - parts >= 3 and rng.random() < 0.5:
            blocks.append([[at, at + 1], [at + 1, at + 2], [at + 2, at]])
            at, parts = at + 3, parts + 3
        else:
            blocks.append([[at, at + 1]])
            at, parts = at + 2, parts + 1
    edges = np.array([e for b in blocks for e in b], dtype=np.int64).reshape(-1, 2)
    return _relabel(edges, at, rng)


GENERATORS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "path": path,
    "cycles": one_or_two_cycles,
    "random": random_graph,
    "star": star,
    "tiny": tiny_components,
    "ordered-path": ordered_path,
}
