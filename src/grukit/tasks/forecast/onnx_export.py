"""ONNX export of a fitted forecaster's networks, on ``grukit.export``.

``network_to_onnx`` writes one network (its stacked recurrent layers, any cell, then the
dense head) through ``grukit.export.to_onnx``. The GRU is the standard ONNX ``GRU``
operator with ``linear_before_reset=1`` for ``reset_after=True`` and 0 for the textbook form;
any runtime that implements ONNX GRU (onnxruntime, TensorRT, ...) can serve it.

``forecaster_to_onnx`` writes what a forecaster's forecast runs (``served``: every strategy,
every ensemble) as one graph. Input ``x`` (B, T, F): the window of the longest lookback L,
as ``served.window_inputs`` builds it — (B, L, 2 + C) for the direct and recursive
strategies (shape, level and covariate channels), (B, L + k, 1) for the sequence strategy
(the standardised values or changes of the last L, and of the k forecasts fed back so
far). Member j of the ensemble (lookback l_j) reads ``x[:, L − l_j:]``, as ``predict``
gives it its last l_j values; a sequence network's output at the last step is its
forecast. Output ``y`` (B, K): the median over the members (the mean of the middle two for
an even count, as ``numpy.median``) of their outputs (K: horizon × (1 + quantiles) for the
direct strategy, 1 for the others). A direct forecaster of one network is its network's
graph alone, as before.
"""

from __future__ import annotations

import torch

from ...export import to_onnx

NAMES = {"input": "x", "output": "y"}


def network_to_onnx(net, path: str, lookback: int, features: int) -> None:
    """Write ``net`` (a built ``Sequential``: recurrent layers, then ``Dense``) as ONNX."""
    to_onnx(net, path, example=torch.zeros(1, lookback, features), names=NAMES)


def forecaster_to_onnx(est, path: str) -> None:
    """Write the graph of ``est``'s served forecast (see the module doc) at ``path``."""
    from ...export import build_onnx, save_onnx
    from .served import layout

    nets, starts, every, features = layout(est)
    longest = max(starts) if starts else 0
    if len(nets) == 1 and not every:
        network_to_onnx(nets[0], path, longest + 1, features)  # direct: the network alone
        return
    example = torch.zeros(1, 2, features)  # (1, T, F): only its rank and width matter
    members = [build_onnx(net, example=example, names=NAMES) for net in nets]
    save_onnx(_combined(members, starts, every, features), path)


def _combined(members, starts: list[int], every: bool, features: int):
    """One ``ModelProto``: the member graphs (each prefixed ``m<j>_``), each on its slice of
    ``x``, then their median."""
    from onnx.compose import add_prefix

    from ...export.graph import Graph, finish, value_info

    g = Graph(prefix="f_")
    for name in ("x", "y"):
        g.reserve(name)
    outs = []
    for j, (proto, start) in enumerate(zip(members, starts, strict=True)):
        weights = {t.name for t in proto.graph.initializer}
        proto = add_prefix(proto, f"m{j}_")
        _prefix_outer_weights(proto.graph, weights, f"m{j}_")
        body = proto.graph
        g.node("Slice", ["x", g.ints(start), g.ints(2 ** 62), g.ints(1)],
               [body.input[0].name])  # (B, T − start, F)
        g.nodes.extend(body.node)
        g.inits.extend(body.initializer)
        y = body.output[0].name  # (B, K), or (B, T, K) with an output at every step
        if every:
            y = g.squeeze(g.slice(y, 1, -1, 2 ** 62), 1)  # (B, K): the last step
        outs.append(g.unsqueeze(y, 0))  # (1, B, K)
    if len(outs) == 1:
        g.node("Squeeze", [outs[0], g.ints(0)], ["y"])
    else:
        m = len(outs)
        stacked = g.op("Concat", outs, "members", axis=0)  # (M, B, K)
        ranked = g.op("TopK", [stacked, g.ints(m)], "ranked", outputs=2, axis=0)[0]
        middle = [m // 2] if m % 2 else [m // 2 - 1, m // 2]
        picked = g.op("Gather", [ranked, g.ints(*middle)], "middle", axis=0)  # (1|2, B, K)
        g.node("ReduceMean", [picked], ["y"], axes=[0], keepdims=0)  # (B, K)
    width = members[0].graph.output[0].type.tensor_type.shape.dim[-1]
    k = width.dim_value if width.dim_value else "out1"
    return finish(g, "grukit_forecaster",  # (checked there)
                  [value_info("x", "float", ["batch", "time", features])],
                  [value_info("y", "float", ["batch", k])])


def _prefix_outer_weights(graph, weights: set[str], prefix: str) -> None:
    """Rename, inside the subgraphs of ``graph`` (a Scan's body), the references to the
    outer graph's initializers ``weights`` as ``add_prefix`` renamed those: it renames a
    subgraph before it records the outer initializers' new names, so a body that reads a
    weight of the outer scope (the LayerNorm-GRU's recurrent weights) kept the old name,
    which no graph of the ensemble defines. Every name of a subgraph's own is prefixed by
    then, so an unprefixed name in ``weights`` is an outer reference."""
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                for inner in sub.node:
                    for i, name in enumerate(inner.input):
                        if name in weights:
                            inner.input[i] = prefix + name
                _prefix_outer_weights(sub, weights, prefix)
