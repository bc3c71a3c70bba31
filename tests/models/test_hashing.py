import math
import subprocess
import sys
import textwrap
from pathlib import Path

from embedproof.models.hashing import HashingEncoder, cosine, tokenize

ROOT = Path(__file__).resolve().parents[2]
LESSON = [
    "The first iPhone launched in 2007.",
    "Apple released the iPod in 2001.",
    "Android is an operating system from Google.",
]

# A meta-path finder that refuses every module outside the standard library and embedproof itself.
BLOCKER = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "embedproof":
                return None
            raise ImportError(f"third-party import blocked: {name}")
    sys.meta_path.insert(0, Block())
    for mod in [m for m in sys.modules if m.split(".")[0] not in sys.stdlib_module_names]:
        del sys.modules[mod]
    """
)


def test_vectors_are_unit_length_and_signed():
    vec = HashingEncoder(dim=64).embed_one("the cat sat on the mat")
    assert len(vec) == 64
    assert math.isclose(math.sqrt(sum(v * v for v in vec)), 1.0, rel_tol=1e-9)
    assert any(v < 0 for v in vec) and any(v > 0 for v in vec)


def test_empty_text_gives_zero_vector():
    assert HashingEncoder(dim=8).embed_one("") == [0.0] * 8


def test_lesson_example_shows_the_limit_of_lexical_matching():
    # "When was the iPhone released?" shares two words with the iPhone passage (the, iphone) and two with the
    # iPod passage (the, released): a bag of words cannot tell them apart, which is the point of the lesson.
    ranking = HashingEncoder().rank("When was the iPhone released?", LESSON)
    assert {ranking[0][0], ranking[1][0]} == {0, 1}
    assert ranking[0][1] == ranking[1][1] > ranking[2][1]
    assert HashingEncoder().rank("iPhone 2007", LESSON)[0][0] == 0


def test_identical_texts_have_cosine_one_and_tokenizer_lowercases():
    enc = HashingEncoder()
    assert tokenize("iPhone, IPHONE!") == ["iphone", "iphone"]
    assert math.isclose(cosine(enc.embed_one("iPhone 2007"), enc.embed_one("iphone 2007")), 1.0)


def test_encode_returns_numpy_embeddings_when_numpy_is_present():
    emb = HashingEncoder(dim=32).encode_documents(LESSON, ids=["a", "b", "c"])
    assert emb.dense.shape == (3, 32) and emb.ids == ["a", "b", "c"] and emb.mode == "dense" and emb.dim == 32


def test_runs_with_third_party_imports_blocked():
    code = BLOCKER + textwrap.dedent(
        f"""
        try:
            import numpy
        except ImportError:
            pass
        else:
            raise SystemExit("blocker failed: numpy imported")
        import embedproof
        from embedproof.models.hashing import HashingEncoder
        enc = HashingEncoder(dim=256)
        ranking = enc.rank("When was the iPhone released?", {LESSON!r})
        emb = enc.encode_documents({LESSON!r})
        assert isinstance(emb.dense, list) and len(emb.dense) == 3 and len(emb.dense[0]) == 256
        assert emb.dim == 256
        print(ranking[0][0], round(ranking[0][1], 6))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    index, score = out.stdout.split()
    assert index == "0" and float(score) > 0


def test_vectors_identical_across_processes_with_different_hash_seeds():
    code = (
        "from embedproof.models.hashing import HashingEncoder; "
        "print(HashingEncoder(dim=16).embed_one('stable hashing please'))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={"PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1
