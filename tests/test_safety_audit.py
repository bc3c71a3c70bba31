"""Source audit: nothing embedproof reads back from disk is unpickled, and every write goes through files.py
(atomic_open).

A regex scan of the package source (comments and docstrings included, so a mention has to be deliberate). Each
allowed exception is listed with the reason it is safe; a new match fails the test until it is fixed or listed.
"""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "embedproof"

# (pattern, why it is dangerous)
UNSAFE = [
    (
        r"\bimport\s+(c?pickle|dill|cloudpickle|joblib|shelve|marshal)\b|\bfrom\s+(c?pickle|dill|cloudpickle|joblib|shelve|marshal)\b",
        "a pickle-family deserialiser",
    ),
    (r"\b(pickle|dill|cloudpickle|joblib|marshal)\.loads?\(", "unpickling"),
    (r"allow_pickle\s*=\s*True", "numpy unpickling object arrays"),
    (r"\b(np|numpy)\.load\((?![^\n]*allow_pickle\s*=\s*False)", "np.load without allow_pickle=False on the same line"),
    (r"\btorch\.load\((?![^\n]*weights_only\s*=\s*True)", "torch.load without weights_only=True (full unpickler)"),
    (r"\byaml\.load\(|\byaml\.unsafe_load\(|Loader\s*=\s*yaml\.(Unsafe)?Loader", "YAML that can build Python objects"),
    (r"\bread_pickle\(|\.from_pickle\(", "pandas/other pickle readers"),
    (r"trust_remote_code\s*=\s*True", "running a model repository's code"),
]
# Writes that do not go through files.atomic_open (a reader could see half a file after a crash).
NON_ATOMIC_WRITES = (
    r"(?<!\w)open\([^)]*['\"][wax]b?\+?['\"]|\.write_(text|bytes)\(|"
    r"\bnp\.save(z|z_compressed)?\((?!\s*(handle|buffer)\b)|\btorch\.save\(|\.save_pretrained\(|\.save\(str"
)

# (file relative to the package, a fragment of the line; "" = the whole file) → why that write is safe
ALLOWED_WRITES = {
    ("files.py", ""): "the atomic writer itself",
    ("testing.py", ""): "builds tiny random models in test folders; never read by a user's run",
    ("evaluation/sweep.py", "np.save(path"): "into a TemporaryDirectory, only to measure the index's size on disk",
    ("datasets/download.py", 'open(archive, "wb")'): "inside a TemporaryDirectory that is renamed into place whole",
    ("models/fetch.py", "(staging / file).write_bytes"): "inside a TemporaryDirectory that is renamed into place whole",
    ("models/fetch.py", "(staging / file).write_text"): "inside a TemporaryDirectory that is renamed into place whole",
    ("models/fetch.py", "(staging / RECORD)"): "inside a TemporaryDirectory that is renamed into place whole",
    ("index/manifest.py", '".lock", "w"'): "an empty lock file for flock(); it holds no data",
}


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8")


def _hits(pattern: str) -> list[str]:
    found = []
    for name, text in _sources():
        for match in re.finditer(pattern, text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{name}:{line}: {text.splitlines()[line - 1].strip()}")
    return found


def test_nothing_read_back_is_unpickled():
    problems = [f"{why}: {hit}" for pattern, why in UNSAFE for hit in _hits(pattern)]
    assert problems == []


def test_the_audit_patterns_catch_what_they_are_for():
    """Guard against a pattern that silently matches nothing."""
    bad = {
        "import pickle": 0,
        "x = np.load(path)": 3,
        "np.load(f, allow_pickle=True)": 2,
        "torch.load(p, map_location='cpu')": 4,
        "yaml.load(text)": 5,
        "AutoModel.from_pretrained(p, trust_remote_code=True)": 7,
        "joblib.load(p)": 1,
    }
    for snippet, index in bad.items():
        assert re.search(UNSAFE[index][0], snippet), snippet
    for safe in (
        "np.load(f, allow_pickle=False)",
        "torch.load(p, map_location='cpu', weights_only=True)",
        "yaml.safe_load(text)",
    ):
        assert not any(re.search(p, safe) for p, _ in UNSAFE), safe


def test_the_scan_sees_the_known_loads():
    """The places known to read arrays back are found by the scan (so it is not scanning nothing), each guarded."""
    loads = {hit.split(":")[0]: hit for hit in _hits(r"\b(np|numpy|torch)\.load\(")}
    known = {"models/cache.py", "vectors/quantize.py", "index/embedded/search.py", "index/embedded/chunks.py"}
    assert known | {"models/bgem3.py"} <= set(loads), sorted(loads)
    assert all("allow_pickle=False" in hit or "weights_only=True" in hit for hit in loads.values())


def test_every_write_goes_through_atomic_open_or_is_listed():
    def allowed(hit: str) -> bool:
        return any(hit.split(":")[0] == name and fragment in hit for name, fragment in ALLOWED_WRITES)

    unlisted = [hit for hit in _hits(NON_ATOMIC_WRITES) if not allowed(hit)]
    assert unlisted == []
