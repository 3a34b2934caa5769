"""Byte-stable ONNX graphs, shared by convert-nanodet.sh and train_encoders.py.

tf2onnx picks node and tensor names (which of several merged duplicate constants survives)
non-deterministically; the op sequence is stable. canonicalize_names renames every node, and every
tensor that is not a graph input/output, by order of appearance, and stores the initializers in that
order, so the same conversion writes a byte-identical model.onnx on every run.
"""


def canonicalize_names(g, io_names):
    inits = {i.name: i for i in g.initializer}
    tmap = {}

    def canon(name, prefix):
        if not name or name in io_names:
            return name
        if name not in tmap:
            tmap[name] = f'{prefix}{len(tmap)}'
        return tmap[name]

    order = []
    for k, n in enumerate(g.node):
        n.name = f'{n.op_type.lower()}_{k}'
        for j, x in enumerate(n.input):
            if x in inits and x not in tmap:
                order.append(inits[x])
            n.input[j] = canon(x, 'w' if x in inits else 't')
        for j, x in enumerate(n.output):
            n.output[j] = canon(x, 't')
    for i in order:
        i.name = tmap[i.name]
    del g.initializer[:]
    g.initializer.extend(order)
