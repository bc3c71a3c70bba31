"""A dynamically quantised ONNX file rewritten to float MatMuls: its int8 weights kept, its activations unquantised.

Dynamic int8 (`DynamicQuantizeLinear` → `MatMulInteger` → `Cast` → `Mul` by the two scales) rounds every activation
tensor to uint8 with one scale per tensor at run time, the attention scores and softmax probabilities included.
Each such chain becomes one float `MatMul` of the tensors it quantised; an int8 weight becomes its dequantised
float value, `(q - zero_point) × scale`, so the weights are exactly the shipped ones and only their rounding is left.
With no run-time quantisation left a text's vector does not depend on its batch mates, so the file batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedproof.errors import InvalidInputError, require


def dequantize_matmuls(source: Path, target: Path) -> int:
    """Write `source` with every dynamic-int8 MatMul chain as a float MatMul to `target`; returns how many."""
    onnx = require("onnx", "fast")
    from onnx import numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_consumer(name: str, op_type: str):
        found = consumers.get(name, [])
        if len(found) != 1 or found[0].op_type != op_type:
            raise InvalidInputError(f"{source}: {name} does not feed one {op_type}; not a dynamic int8 MatMul chain")
        return found[0]

    new_inits, replaced = [], {}
    for node in [n for n in graph.node if n.op_type == "MatMulInteger"]:
        cast = only_consumer(node.output[0], "Cast")
        rescale = only_consumer(cast.output[0], "Mul")
        scales = producer.get(next(i for i in rescale.input if i != cast.output[0]))
        if scales is None or scales.op_type != "Mul":
            raise InvalidInputError(f"{source}: {node.name}'s output is not rescaled by the product of two scales")
        floats = []
        for k in (0, 1):
            quantised, zero_point, scale = node.input[k], node.input[2 + k], scales.input[k]
            quantiser = producer.get(quantised)
            if quantiser is not None and quantiser.op_type == "DynamicQuantizeLinear":
                floats.append(quantiser.input[0])  # the activation before it was rounded
            elif quantised in inits and scale in inits:
                q = numpy_helper.to_array(inits[quantised]).astype(np.float32)
                zp = numpy_helper.to_array(inits[zero_point]).astype(np.float32) if zero_point in inits else 0.0
                weight = (q - zp) * numpy_helper.to_array(inits[scale]).astype(np.float32)
                name = f"{quantised}_dequantized"
                new_inits.append(numpy_helper.from_array(weight.astype(np.float32), name))
                floats.append(name)
            else:
                raise InvalidInputError(f"{source}: {node.name}'s operand {quantised} is neither dynamic nor a weight")
        replaced[id(rescale)] = onnx.helper.make_node(
            "MatMul", floats, [rescale.output[0]], name=node.name.removesuffix("_quant") or node.name
        )
    if not replaced:
        raise InvalidInputError(f"{source}: no MatMulInteger to dequantise")
    nodes = [replaced.get(id(n), n) for n in graph.node]
    graph.initializer.extend(new_inits)
    _keep_live(graph, nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return len(replaced)


def _keep_live(graph, nodes: list) -> None:
    """Set the graph's nodes to those the outputs still need (in order), and drop initializers nothing reads."""
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(nodes):
        if any(out in needed for out in node.output):
            live.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(live))
    kept = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(kept)
