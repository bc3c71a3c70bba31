"""A dynamic int8 graph (made by onnxruntime's own quantiser) rewritten to float MatMuls over its int8 weights."""

import collections

import numpy as np
import pytest

from embedproof.errors import InvalidInputError
from embedproof.models.onnx_dequantize import dequantize_matmuls

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")


@pytest.fixture
def quantised(tmp_path):
    """y = softmax((x·W1)·(x·W2)ᵀ)·x: weight MatMuls and activation-by-activation ones, as in attention."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, w2 = (rng.normal(size=(16, 16)).astype(np.float32) for _ in range(2))
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["q"]),
        helper.make_node("MatMul", ["x", "W2"], ["k"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[1, 0]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "x"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    source, target = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    onnx.save(model, str(source))
    # onnxruntime's quantiser makes the weight MatMuls dynamic int8; older ones (as in the shipped bge export) also
    # quantised activation-by-activation MatMuls, so those two are written here in the same pattern
    quantization.quantize_dynamic(str(source), str(target), weight_type=quantization.QuantType.QInt8)
    model = onnx.load(str(target))
    for left, right, out in (("q", "kt", "scores"), ("p", "x", "y")):
        index = next(i for i, n in enumerate(model.graph.node) if n.op_type == "MatMul" and n.output[0] == out)
        del model.graph.node[index]
        chain = [
            *(helper.make_node("DynamicQuantizeLinear", [t], [f"{t}_q", f"{t}_s", f"{t}_z"]) for t in (left, right)),
            helper.make_node("MatMulInteger", [f"{left}_q", f"{right}_q", f"{left}_z", f"{right}_z"], [f"{out}_i"]),
            helper.make_node("Cast", [f"{out}_i"], [f"{out}_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{left}_s", f"{right}_s"], [f"{out}_scale"]),
            helper.make_node("Mul", [f"{out}_f", f"{out}_scale"], [out]),
        ]
        for offset, node in enumerate(chain):
            model.graph.node.insert(index + offset, node)
    onnx.save(model, str(target))
    return target, rng.normal(size=(5, 16)).astype(np.float32)


def run(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def ops(path):
    return collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_every_dynamic_int8_matmul_becomes_a_float_matmul_over_the_int8_weights(quantised, tmp_path):
    from onnx import numpy_helper

    source, x = quantised
    assert ops(source)["MatMulInteger"] == 4 and ops(source)["DynamicQuantizeLinear"] >= 3
    target = tmp_path / "dequantized.onnx"
    assert dequantize_matmuls(source, target) == 4
    assert ops(target)["MatMul"] == 4
    assert not {"MatMulInteger", "DynamicQuantizeLinear"} & set(ops(target))

    # reference: the same attention in numpy with the int8 weights dequantised by hand, (q − zero point) × scale
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(source)).graph.initializer}

    def dequantised(name):
        q, zp, scale = (weights[f"{name}_{part}"] for part in ("quantized", "zero_point", "scale"))
        return (q.astype(np.float32) - zp.astype(np.float32)) * scale

    q, k = x @ dequantised("W1"), x @ dequantised("W2")
    scores = q @ k.T
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected = (p / p.sum(axis=1, keepdims=True)) @ x
    np.testing.assert_allclose(run(target, x), expected, rtol=1e-4, atol=1e-4)
    # the int8 graph rounds the activations too, so it is further from the float computation
    assert np.abs(run(source, x) - expected).max() > 10 * np.abs(run(target, x) - expected).max()


def test_a_graph_without_dynamic_int8_is_refused(quantised, tmp_path):
    source, _ = quantised
    float_only = tmp_path / "float.onnx"
    with pytest.raises(InvalidInputError, match="no MatMulInteger to dequantise"):
        dequantize_matmuls(float_only, tmp_path / "out.onnx")
