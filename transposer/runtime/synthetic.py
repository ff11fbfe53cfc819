"""Tiny ONNX graphs that honour the model contract, for testing front ends without the network.

They have the real model's inputs (image, wrap, noise_mix, noise), outputs (output, coords)
and metadata, and do something simple and exactly predictable; `coords` always says truthfully
where each output pixel came from:

- "edge": output = the input in the centre of its 2x canvas, the frame filled by edge
  replication on an ordinary axis and by periodic repetition on a wrapping axis (`wrap` input).
  Local: a pixel depends only on the nearest input edge, so tiled and untiled runs agree exactly.
- "tile": output = the input repeated periodically on both axes whatever `wrap` says: copies
  (translations) with seams, like the real network's output; companion maps sampled at its
  coordinates must repeat exactly like the image.

Building them needs the `onnx` package (the `train` extra); the runtime itself never imports it.
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("edge", "tile")


def build_synthetic_model(kind: str = "edge", input_multiple: int = 8, opset: int = 19):
    """An onnx.ModelProto of the given kind."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    nodes, inits = [], []

    def const(name, values, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    node("Shape", ["image"], "shape")
    batch = node("Slice", ["shape", const("i0", [0]), const("i1", [1])], "batch")
    height = node("Slice", ["shape", const("i2", [2]), const("i3", [3])], "height")
    width = node("Slice", ["shape", const("i3b", [3]), const("i4", [4])], "width")
    two = const("two", [2])
    if kind == "edge":
        current = "image"
        for axis, size, wrap_index in ((2, height, 0), (3, width, 1)):
            tag = "y" if axis == 2 else "x"
            before = node("Div", [size, two], f"before_{tag}")
            after = node("Sub", [size, before], f"after_{tag}")
            pads = node("Concat", [before, after], f"pads_{tag}", axis=0)
            axes = const(f"axes_{tag}", [axis])
            edge = node("Pad", [current, pads, "", axes], f"edge_{tag}", mode="edge")
            wrapped = node("Pad", [current, pads, "", axes], f"wrapped_{tag}", mode="wrap")
            flag = node("Slice", ["wrap", const(f"w{tag}0", [wrap_index]), const(f"w{tag}1", [wrap_index + 1])],
                        f"flag_{tag}")
            diff = node("Sub", [wrapped, edge], f"diff_{tag}")
            mixed = node("Mul", [diff, flag], f"mixed_{tag}")
            current = node("Add", [edge, mixed], f"padded_{tag}")
        node("Identity", [current], "raw_output")
    else:
        tiled = node("Tile", ["image", const("reps", [1, 1, 3, 3])], "tiled")
        start_y = node("Sub", [height, node("Div", [height, two], "half_h")], "start_y")
        start_x = node("Sub", [width, node("Div", [width, two], "half_w")], "start_x")
        starts = node("Concat", [start_y, start_x], "starts", axis=0)
        ends = node("Add", [starts, node("Concat", [node("Mul", [height, two], "h2"), node("Mul", [width, two], "w2")],
                                         "sizes", axis=0)], "ends")
        node("Slice", [tiled, starts, ends, const("axes", [2, 3])], "raw_output")
    # coords: source row of output row y is y - H//2, clamped (edge) or modulo H (wrap / tile)
    lines = []
    for size, tag, wrap_index in ((height, "y", 0), (width, "x", 1)):
        n = node("Cast", [size], f"n{tag}", to=TensorProto.FLOAT)
        half = node("Cast", [node("Div", [size, two], f"hi{tag}")], f"half{tag}", to=TensorProto.FLOAT)
        length = node("Squeeze", [node("Mul", [size, two], f"len{tag}"), const(f"sq{tag}", [0])], f"lens{tag}")
        index = node("Cast", [node("Range", [const(f"zero{tag}", 0), length, const(f"step{tag}", 1)], f"idx{tag}")],
                     f"fidx{tag}", to=TensorProto.FLOAT)
        shifted = node("Sub", [index, half], f"shift{tag}")
        wrapped = node("Sub", [shifted, node("Mul", [n, node("Floor", [node("Div", [shifted, n], f"q{tag}")],
                                                             f"fq{tag}")], f"m{tag}")], f"wrapped{tag}")
        if kind == "edge":
            top = node("Sub", [n, const(f"one_f{tag}", [1.0], np.float32)], f"top{tag}")
            clamped = node("Min", [node("Max", [shifted, const(f"zf{tag}", [0.0], np.float32)], f"lo{tag}"), top],
                           f"clamped{tag}")
            flag = node("Slice", ["wrap", const(f"w{tag}0c", [wrap_index]), const(f"w{tag}1c", [wrap_index + 1])],
                        f"cflag_{tag}")
            line = node("Add", [clamped, node("Mul", [node("Sub", [wrapped, clamped], f"cd{tag}"), flag],
                                              f"cm{tag}")], f"line{tag}")
        else:
            line = wrapped
        lines.append(line)
    column = node("Unsqueeze", [lines[0], const("u1", [1])], "column")  # (2H, 1)
    row = node("Unsqueeze", [lines[1], const("u0", [0])], "row")  # (1, 2W)
    zeros = node("Mul", [column, node("Mul", [row, const("zf", [0.0], np.float32)], "zrow")], "zeros")  # (2H, 2W)
    cy = node("Add", [zeros, column], "cy")
    cx = node("Add", [zeros, row], "cx")
    grid = node("Unsqueeze", [node("Concat", [node("Unsqueeze", [cy, const("ua", [0])], "cy3"),
                                              node("Unsqueeze", [cx, const("ub", [0])], "cx3")], "cyx", axis=0),
                              const("uc", [0])], "grid")  # (1, 2, 2H, 2W)
    reps = node("Concat", [batch, const("one3", [1, 1, 1])], "coord_reps", axis=0)
    node("Tile", [grid, reps], "coords")
    # the noise inputs take part (times zero) so that no optimiser drops them from the interface
    noise_sum = node("ReduceSum", ["noise"], "noise_sum", keepdims=0)
    unused = node("Mul", [node("Mul", [noise_sum, "noise_mix"], "nm"), const("zero", [0.0], np.float32)], "unused")
    node("Add", ["raw_output", unused], "output")

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["B", 3, "H", "W"])
    wrap = helper.make_tensor_value_info("wrap", TensorProto.FLOAT, [2])
    noise_mix = helper.make_tensor_value_info("noise_mix", TensorProto.FLOAT, [1])
    noise = helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["B", 1, "h", "w"])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["B", 3, "H2", "W2"])
    coords = helper.make_tensor_value_info("coords", TensorProto.FLOAT, ["B", 2, "H2", "W2"])
    graph = helper.make_graph(nodes, f"transposer_synthetic_{kind}", [image, wrap, noise_mix, noise],
                              [output, coords], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="transposer.runtime.synthetic")
    model.ir_version = 9  # readable by onnxruntime >= 1.16
    for key, value in {"transposer.name": f"synthetic-{kind}", "transposer.version": "0",
                       "transposer.scale": "2", "transposer.input_multiple": str(input_multiple)}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def write_synthetic_model(path, kind: str = "edge", input_multiple: int = 8) -> Path:
    """Write a synthetic model to `path` and return the path."""
    import onnx

    model = build_synthetic_model(kind, input_multiple)
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path
