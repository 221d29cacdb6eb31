"""RFC 6962 hashing and consistency proofs against the published test vectors: the leaves,
roots and proofs of certificate-transparency's reference tests (as carried by Trillian's
`logverifier` and transparency-dev/merkle), and the corrupted proofs those tests refuse."""

from __future__ import annotations

import hashlib

import pytest

from app.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    leaf_hash,
    root_of,
    verify_consistency,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
#: ROOTS[n - 1] is the root of the first n leaves.
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


def subtree(start: int, end: int) -> bytes:
    return root_of(HASHES[start:end])


def test_the_empty_tree_hashes_the_empty_string() -> None:
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex().startswith("e3b0c442")


@pytest.mark.parametrize("size", range(1, 9))
def test_the_root_of_each_prefix_is_the_rfc_vector(size: int) -> None:
    assert root_of(HASHES[:size]) == ROOTS[size - 1]


def test_a_frontier_rebuilt_from_its_nodes_appends_as_the_original() -> None:
    """What the log keeps in Redis between checkpoints (size and nodes) is all it needs."""
    kept = Frontier()
    for leaf in HASHES[:5]:
        kept.append(leaf)
    again = Frontier(kept.size, kept.nodes)
    assert kept.ranges() == [(0, 4), (4, 5)]
    for leaf in HASHES[5:]:
        again.append(leaf)
    assert again.root() == ROOTS[7]


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_are_the_rfc_vectors_and_verify(
    old: int, new: int, proof: list[str]
) -> None:
    made = consistency_proof(old, new, subtree)
    assert [p.hex() for p in made] == proof
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], made)


def corrupted(
    old: int, new: int, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """The probes Trillian's verifier tests refuse: wrong sizes, roots, extra or missing
    nodes, one flipped bit in any node."""
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        ("old - 1", old - 1, new, r1, r2, proof),
        ("old + 1", old + 1, new, r1, r2, proof),
        ("old ^ 2", old ^ 2, new, r1, r2, proof),
        ("new * 2", old, new * 2, r1, r2, proof),
        ("new / 2", old, new // 2, r1, r2, proof),
        ("wrong old root", old, new, b"WrongRoot", r2, proof),
        ("wrong new root", old, new, r1, b"WrongRoot", proof),
        ("swapped roots", old, new, r2, r1, proof),
        ("empty proof", old, new, r1, r2, []),
        ("trailing garbage", old, new, r1, r2, [*proof, b""]),
        ("trailing root", old, new, r1, r2, [*proof, r1]),
        ("preceding garbage", old, new, r1, r2, [b"", *proof]),
        ("preceding root", old, new, r1, r2, [r2, *proof]),
        ("preceding node", old, new, r1, r2, [proof[0], *proof]),
        ("truncated", old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((f"bit flipped in node {i}", old, new, r1, r2, flipped))
    return probes


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_are_refused(old: int, new: int, proof: list[str]) -> None:
    good = [bytes.fromhex(p) for p in proof]
    accepted = [
        name
        for name, m, n, r1, r2, path in corrupted(old, new, good)
        if verify_consistency(m, n, r1, r2, path)
    ]
    assert accepted == []


def test_trivial_consistency_cases_follow_the_rfc() -> None:
    assert verify_consistency(0, 0, b"a", b"a", [])
    assert verify_consistency(0, 5, b"a", b"b", [])
    assert not verify_consistency(1, 1, b"a", b"b", [])
    assert not verify_consistency(2, 1, b"a", b"b", [])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


def test_every_proof_between_sizes_up_to_40_verifies() -> None:
    """Generated proofs for every pair of sizes: what `audit verify --previous` relies on."""
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(40)]
    roots = [root_of(hashes[:n]) for n in range(41)]
    for new in range(1, 41):
        for old in range(1, new + 1):
            proof = consistency_proof(old, new, lambda a, b: root_of(hashes[a:b]))
            assert verify_consistency(old, new, roots[old], roots[new], proof), (old, new)
            if proof:
                assert not verify_consistency(old, new, roots[old - 1], roots[new], proof)
