"""RFC 6962 Merkle tree hashing (section 2.1): the tree hash, a growing tree's frontier, and
consistency proofs (RFC 6962 2.1.2 to make one, RFC 9162 2.1.4.2 to check one).

Our own few lines rather than pymerkle: the log needs only these four operations, over leaf
hashes it streams (pymerkle keeps every leaf in its own store), and a short text checked
against the RFC's test vectors (tests/unit/audit/test_merkle.py) is easier to audit than a
dependency. Hashes are 32-byte SHA-256 digests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """The tree of the leaves appended so far, kept as its maximal perfect subtrees from the
    left (one hash per set bit of `size`): enough to append and to give the root, so a log of
    any length is hashed in memory of its logarithm."""

    def __init__(self, size: int = 0, nodes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.nodes = list(nodes)
        if len(self.nodes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} has {bin(size).count('1')} nodes")

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash, merging the equal-sized subtrees it completes."""
        size, node = self.size, leaf
        while size & 1:
            node = node_hash(self.nodes.pop(), node)
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The tree hash: the subtrees folded from the right, as RFC 6962's MTH splits."""
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def ranges(self) -> list[tuple[int, int]]:
        """The leaf range [start, end) of each node, left to right."""
        spans, start = [], 0
        for bit in reversed(range(self.size.bit_length())):
            if self.size >> bit & 1:
                spans.append((start, start + (1 << bit)))
                start += 1 << bit
        return spans


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over these leaf hashes."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def consistency_proof(old: int, new: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """PROOF(old, D[new]) of RFC 6962 2.1.2; `subtree(start, end)` gives MTH(D[start:end])."""

    def sub(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [subtree(start, end)]
        k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two below n
        if m <= k:
            return [*sub(m, start, start + k, whole), subtree(start + k, end)]
        return [*sub(m - k, start + k, end, False), subtree(start, start + k)]

    if not 0 < old <= new:
        return []
    return sub(old, 0, new, True)


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree of `new` leaves extends the tree of `old` (RFC 9162
    2.1.4.2, with RFC 6962's hashes)."""
    if old > new or old < 0:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    if not proof:
        return False
    path = [old_root, *proof] if old & (old - 1) == 0 else list(proof)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
