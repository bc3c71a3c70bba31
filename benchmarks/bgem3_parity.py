"""Parity of embedproof's BGE-M3 loader with FlagEmbedding's BGEM3FlagModel on the same tiny checkpoint.

FlagEmbedding 1.4.2 needs transformers<5, so it runs in its own virtual environment:
    python3 -m venv /tmp/flagenv
    /tmp/flagenv/bin/pip install torch==2.13.0 "transformers<5" FlagEmbedding==1.4.2
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bgem3_parity.py --flag-python /tmp/flagenv/bin/python
Builds a random-weight BGE-M3 folder (XLM-RoBERTa + colbert_linear.pt + sparse_linear.pt), encodes the same
texts with both, and prints the largest absolute difference of the dense, sparse and ColBERT outputs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from embedproof.models.bgem3 import BGEM3Model
from embedproof.testing import tiny_bgem3

TEXTS = [
    "the first iphone launched in 2007 .",
    "apple released the ipod in 2001 .",
    "when was the iphone released ?",
    "android is an operating system from google . the cat sat on the mat .",
]

FLAG_SCRIPT = r"""
import json, sys
from FlagEmbedding import BGEM3FlagModel
folder, texts = sys.argv[1], json.loads(sys.argv[2])
model = BGEM3FlagModel(folder, use_fp16=False, devices="cpu")
out = model.encode(texts, batch_size=2, max_length=60, return_dense=True, return_sparse=True, return_colbert_vecs=True)
print(json.dumps({
    "dense": [list(map(float, v)) for v in out["dense_vecs"]],
    "sparse": [{str(k): float(v) for k, v in w.items()} for w in out["lexical_weights"]],
    "colbert": [[list(map(float, t)) for t in c] for c in out["colbert_vecs"]],
}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--flag-python",
        default="/tmp/flagenv/bin/python",
        help="python of an environment with FlagEmbedding and transformers<5",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_bgem3(Path(tmp) / "tiny-bge-m3")
        ours = BGEM3Model(folder, max_tokens=60, batch_size=2).encode(TEXTS)
        done = subprocess.run(
            [args.flag_python, "-c", FLAG_SCRIPT, str(folder), json.dumps(TEXTS)], capture_output=True, text=True
        )
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 2
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
    dense = float(np.abs(ours.dense - np.array(theirs["dense"])).max())
    sparse = 0.0
    for i, weights in enumerate(theirs["sparse"]):
        mine = ours.lexical_weights(i)
        if set(mine) != set(weights):
            print(
                f"text {i}: sparse token ids differ: only ours {sorted(set(mine) - set(weights))}, "
                f"only FlagEmbedding {sorted(set(weights) - set(mine))}"
            )
            sparse = float("inf")
        else:
            sparse = max(sparse, max((abs(mine[k] - weights[k]) for k in weights), default=0.0))
    colbert = 0.0
    for mine, theirs_c in zip(ours.colbert, theirs["colbert"]):
        theirs_c = np.array(theirs_c)
        if mine.shape != theirs_c.shape:
            print(f"colbert shapes differ: ours {mine.shape}, FlagEmbedding {theirs_c.shape}")
            colbert = float("inf")
        else:
            colbert = max(colbert, float(np.abs(mine - theirs_c).max()))
    print(f"max |difference| over {len(TEXTS)} texts: dense {dense:.2e}, sparse {sparse:.2e}, colbert {colbert:.2e}")
    return 0 if max(dense, sparse, colbert) < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
