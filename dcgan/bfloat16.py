"""--dtype bfloat16: the same networks with their convolutions computed in bfloat16, on CPUs
that have bfloat16 instructions.

MXNet 1.9.1's own mixed precision cannot do this for a training Module: for bfloat16,
`amp.convert_symbol` inserts no casts into these graphs (the discriminator then fails type
inference), and Deconvolution is not on its bfloat16 list. So the casts are placed here, in
the graph, around each convolution and deconvolution: its input and its weight cast to
bfloat16 (`amp_cast`), its output cast back to float32. Everything else stays float32: the
weights themselves (declared float32, so the master copy, its gradient and Adam's moments are
float32; the cast's backward turns the bfloat16 gradient into float32), BatchNorm, the
activations between layers and the losses. Layer and parameter names are unchanged, so
checkpoints hold the same arrays.

g5, the generator's last deconvolution (128 -> 3 channels), stays float32: its bfloat16
backward crashes MXNet 1.9.1's Module (a segmentation fault, measured; g1..g4 do not), and it
is the smallest of the layers.
"""
import json

from dcgan.errors import SetupError

DTYPES = ('float32', 'bfloat16')
FLOAT32 = '0'  # MXNet's code for float32, as a variable's __dtype__ attribute holds it
CONVOLUTIONS = ('Convolution', 'Deconvolution')
KEPT_FLOAT32 = ('g5',)
# The CPU flags (Linux /proc/cpuinfo) that mean native bfloat16 arithmetic for oneDNN:
# AVX-512 BF16 (Cooper Lake, Zen 4 and later) or AMX (Sapphire Rapids and later).
BFLOAT16_FLAGS = ('avx512_bf16', 'amx_bf16')


def _cast(name, source, dtype):
    return {'op': 'amp_cast', 'name': name, 'attrs': {'dtype': dtype}, 'inputs': [source]}


def with_bfloat16_convolutions(symbol, mx):
    """`symbol` with every convolution but KEPT_FLOAT32 computed in bfloat16 (above)."""
    graph = json.loads(symbol.tojson())
    nodes, moved = [], {}  # the new nodes; an old node's index -> its new index

    def add(node):
        nodes.append(node)
        return len(nodes) - 1

    for index, node in enumerate(graph['nodes']):
        node = dict(node, inputs=[[moved[source], output, version]
                                  for source, output, version in node['inputs']])
        if node['op'] not in CONVOLUTIONS or node['name'] in KEPT_FLOAT32:
            moved[index] = add(node)
            continue
        cast_inputs = []
        for source in node['inputs']:
            if nodes[source[0]]['op'] == 'null':  # a weight: float32, whatever it feeds
                variable = nodes[source[0]]
                variable['attrs'] = dict(variable.get('attrs', {}), __dtype__=FLOAT32)
            name = '%s_%s_bfloat16' % (node['name'], nodes[source[0]]['name'])
            cast_inputs.append([add(_cast(name, source, 'bfloat16')), 0, 0])
        convolution = add(dict(node, inputs=cast_inputs))
        moved[index] = add(_cast(node['name'] + '_float32', [convolution, 0, 0], 'float32'))
    graph['nodes'] = nodes
    graph['arg_nodes'] = [index for index, node in enumerate(nodes) if node['op'] == 'null']
    graph['heads'] = [[moved[source], output, version]
                      for source, output, version in graph['heads']]
    graph.pop('node_row_ptr', None)  # recomputed by MXNet when it loads the graph
    return mx.sym.load_json(json.dumps(graph))


def cpu_flags(path='/proc/cpuinfo'):
    """The flags of this machine's CPU, from the first processor's entry; empty if unknown."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def check_bfloat16(flags, gpu_build):
    """Refuse (SetupError, one line) --dtype bfloat16 where it would not be faster: on MXNet's
    GPU build, or on a CPU without native bfloat16, where oneDNN would emulate it."""
    if gpu_build:
        raise SetupError('--dtype bfloat16 is for CPUs with bfloat16 instructions; this is '
                         'MXNet\'s GPU build, whose bfloat16 is not this program\'s: train in '
                         'float32')
    if not flags & set(BFLOAT16_FLAGS):
        raise SetupError('--dtype bfloat16 needs a CPU with bfloat16 instructions (%s); this '
                         'one has neither, and emulated bfloat16 is slower than float32: train '
                         'in float32' % ' or '.join(BFLOAT16_FLAGS))
