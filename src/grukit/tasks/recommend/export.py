"""GRU4Rec as an ONNX model that serves one event at a time.

The graph is one step of the network in evaluation mode (no dropout), the state in and out,
so that a server keeps each live session's state and feeds it its next event::

    inputs   item (B,) int64        the item index of each session's newest event
             h0   (L, B, H) float   the state after the session's earlier events (zeros
                                    before its first)
    e = E[item]                                    (B, H)   Gather
    h_l = GRUCell_l(h_{l-1}, h0[l])  l = 1..L      (B, H)   one ONNX GRU step per layer
    scores = h_L W_outᵀ + b_out                    (B, n_items)   MatMul + Add
    outputs  scores (B, n_items), h_n (L, B, H)

After a session's last event, ``scores`` are the ones ``GRU4Rec.recommend`` ranks. Item
indices come from the model's item map (``ItemMap``: original id -> index), which
``grukit.tasks.export`` writes into the manifest beside the graph.
"""

from __future__ import annotations

from ...export import save_onnx
from ...export.cell import emit_step
from ...export.graph import Graph, finish, value_info

INPUTS = ("item", "h0")
OUTPUTS = ("scores", "h_n")


def step_model(net):
    """The checked ``onnx.ModelProto`` of one step of ``net`` (a ``GRU4RecNet``)."""
    layers, hidden, n_items = len(net.cells), net.hidden, net.n_items
    g = Graph()
    for name in INPUTS + OUTPUTS:  # claimed first, so no inner value takes them
        g.reserve(name)
    vocab = int(net.embedding.weight.shape[0])
    # Gather reads a negative index from the end of the table: one past its end fails instead
    item = g.op("Where", [g.op("Less", ["item", g.ints(0)]), g.ints(vocab), "item"], "item")
    x = g.op("Gather", [g.weight(net.embedding.weight, "item_emb"), item], "embed", axis=0,
             why=f"GRU4Rec step: item indices must lie in [0, {vocab}); map item ids to "
                 f"indices with the manifest's item map (an unknown item has none)")  # (B, H)
    states = []
    for layer, cell in enumerate(net.cells):
        h0 = g.squeeze(g.slice("h0", 0, layer, layer + 1), 0)  # (B, H)
        x = emit_step(g, cell, x, [h0], f"GRU4Rec layer {layer}")[0]  # (B, H)
        states.append(g.unsqueeze(x, 0))  # (1, B, H)
    h_n = states[0] if layers == 1 else g.op("Concat", states, "h_n", axis=0)  # (L, B, H)
    g.node("Identity", [h_n], ["h_n"])
    scores = g.op("MatMul", [x, g.weight(net.output_weight.T, "out_Wt")], "logits")
    g.node("Add", [scores, g.weight(net.out_bias, "out_b")], ["scores"])  # (B, n_items)
    inputs = [value_info("item", "int64", ["batch"]),
              value_info("h0", "float", [layers, "batch", hidden])]
    outputs = [value_info("scores", "float", ["batch", n_items]),
               value_info("h_n", "float", [layers, "batch", hidden])]
    return finish(g, "grukit_gru4rec_step", inputs, outputs)


def step_to_onnx(net, path) -> None:
    """Write one step of ``net`` as ONNX at ``path`` (atomically)."""
    save_onnx(step_model(net), path)
