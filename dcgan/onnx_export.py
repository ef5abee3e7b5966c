"""A checkpoint's generator exported to ONNX (sample.py RUN --export FILE), checked against
MXNet before the file is written.

MXNet's own exporter (mx.onnx.export_model) turns the generator Symbol into an ONNX graph,
but it maps each BatchNorm to ONNX's inference-mode BatchNormalization (the moving averages)
and ignores `fix_gamma`. This program draws with each batch's own statistics, as the tutorial
does (dcgan/sampling.py); against that, the exporter's graph differs by 0.36 on a
300-iteration generator, and more as training goes on (docs/onnx.md). So every BatchNormalization is replaced by the arithmetic of MXNet's
training-mode BatchNorm: the mean and the (biased) variance over the batch and the image, per
channel, with gamma held at 1 where the layer fixes it. The moving averages are left out: the
model does not use them.

Before anything is written, onnxruntime runs the model on one full batch of noise and its
images must equal MXNet's within TOLERANCE; otherwise no file, and one line with the gap.

The model also carries the labels the shipped classifier gives the first draws of a seed
(dcgan/digit_request.py), so that the page written from it (sample.py MODEL --web) can draw a
chosen digit where no classifier runs.
"""
import json

import numpy as np
import onnx
from onnx import helper, numpy_helper

import symbols
from dcgan import checkpoint, digit_request, drawing, files, lenet
from dcgan.framework import mx
from dcgan.onnx_model import METADATA, OPTIONAL_METADATA, ModelError, OnnxGenerator
from dcgan.sampling import NOISE_INPUT, sampler_from_checkpoint

# The largest difference allowed between onnxruntime's images and MXNet's, in pixel units of
# [-1, 1] (a grey level of the PNG is 2/255 = 0.0078). Measured: under 4e-6, trained or not;
# both are float32, and sum in other orders.
TOLERANCE = 1e-4
CHECK_SEED = 0          # the noise of the check, one full batch
BATCH_AXIS = 'N'        # the name of the free batch dimension, input and output


def generator_params(sampler, symbol):
    """{name: NDArray} of the generator in `sampler`, weights and BatchNorm statistics, with
    gamma set to 1 in the layers that fix it (MXNet ignores the stored gamma there; the
    exporter would not)."""
    params = {name: array for name, array in sampler.executor.arg_dict.items()
              if name != NOISE_INPUT}
    params.update(sampler.executor.aux_dict)
    for node in json.loads(symbol.tojson())['nodes']:
        if node['op'] == 'BatchNorm' and node.get('attrs', {}).get('fix_gamma') == 'True':
            gamma = node['name'] + '_gamma'
            params[gamma] = mx.nd.ones_like(params[gamma])
    return params


def mxnet_export(symbol, params, noise_dim, path):
    """The ModelProto MXNet's exporter makes of `symbol`, with a free batch axis (the exporter
    writes it to `path`, which is left there)."""
    mx.onnx.export_model(symbol, params, in_shapes=[(1, noise_dim, 1, 1)],
                         in_types=[np.float32], onnx_file_path=path, dynamic=True,
                         dynamic_input_shapes=[(None, noise_dim, 1, 1)])
    return onnx.load(path)


def _opset(model):
    return next(entry.version for entry in model.opset_import if entry.domain in ('', 'ai.onnx'))


def with_batch_statistics(model):
    """`model` with every BatchNormalization replaced by training-mode normalisation:
    y = (x - mean) / sqrt(var + eps) * scale + bias, mean and var over axes 0, 2, 3."""
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    axes = [0, 2, 3]  # the batch and the image: statistics per channel
    if _opset(model) >= 18:  # opset 18 moved ReduceMean's axes from an attribute to an input
        graph.initializer.append(numpy_helper.from_array(np.array(axes, np.int64), 'bn_axes'))

        def reduce_mean(x, out):
            return helper.make_node('ReduceMean', [x, 'bn_axes'], [out], keepdims=1)
    else:
        def reduce_mean(x, out):
            return helper.make_node('ReduceMean', [x], [out], axes=axes, keepdims=1)

    nodes, unused = [], set()
    for node in graph.node:
        if node.op_type != 'BatchNormalization':
            nodes.append(node)
            continue
        x, scale, bias, moving_mean, moving_var = node.input
        epsilon = next(a.f for a in node.attribute if a.name == 'epsilon')
        name, y = node.name, node.output[0]
        for per_channel in (scale, bias):  # (C,) to (C, 1, 1), to broadcast over (N, C, H, W)
            values = numpy_helper.to_array(initializers[per_channel])
            initializers[per_channel].CopyFrom(
                numpy_helper.from_array(values.reshape(-1, 1, 1), per_channel))
        graph.initializer.append(numpy_helper.from_array(np.array(epsilon, np.float32),
                                                         name + '_eps'))
        nodes += [
            reduce_mean(x, name + '_mean'),
            helper.make_node('Sub', [x, name + '_mean'], [name + '_centred']),
            helper.make_node('Mul', [name + '_centred'] * 2, [name + '_squares']),
            reduce_mean(name + '_squares', name + '_var'),
            helper.make_node('Add', [name + '_var', name + '_eps'], [name + '_var_eps']),
            helper.make_node('Sqrt', [name + '_var_eps'], [name + '_std']),
            helper.make_node('Div', [name + '_centred', name + '_std'], [name + '_normal']),
            helper.make_node('Mul', [name + '_normal', scale], [name + '_scaled']),
            helper.make_node('Add', [name + '_scaled', bias], [y]),
        ]
        unused.update((moving_mean, moving_var))
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [tensor for tensor in graph.initializer if tensor.name not in unused]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def name_the_batch_axis(model):
    """One input and one output, the batch dimension of both named BATCH_AXIS (the exporter
    leaves it unnamed, and lists every weight as an input too)."""
    graph = model.graph
    noise = next(value for value in graph.input if value.name == NOISE_INPUT)
    del graph.input[:]
    graph.input.append(noise)  # a copy: protobuf's containers copy what they are given
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_AXIS
    for dimension, size in zip(graph.output[0].type.tensor_type.shape.dim[1:],
                               (symbols.IMAGE_CHANNELS, symbols.IMAGE_SIZE, symbols.IMAGE_SIZE)):
        dimension.dim_value = size
    return model


def labelled_draws_text(seed, labels):
    """onnx_model's dcgan.labelled_draws: 'SEED:' and a character a draw, its digit or '.'
    where the classifier was unsure (digit_request.label_draws)."""
    return '%d:%s' % (seed, ''.join('.' if label == digit_request.UNSURE else str(label)
                                    for label in labels))


def metadata_for(state, averaged, labelled=None):
    """The model's metadata (onnx_model.METADATA) for a checkpoint's `state`, whose `files`
    lists the SHA-256 of each file (verified by run_state.open_checkpoint); with `labelled`,
    (seed, labels) of the draws labelled for the page (OPTIONAL_METADATA)."""
    params_file = checkpoint.AVERAGE if averaged else 'generator.params'
    values = {
        'dcgan.noise_dim': str(state['noise_dim']),
        'dcgan.batch_size': str(state['batch_size']),
        'dcgan.output_layout': 'N,%d,%d,%d' % (symbols.IMAGE_CHANNELS, symbols.IMAGE_SIZE,
                                               symbols.IMAGE_SIZE),
        'dcgan.output_range': '-1,1',
        'dcgan.normalisation': 'batch statistics',
        'dcgan.generator': 'averaged' if averaged else 'plain',
        'dcgan.iteration': str(state['global_iteration']),
        'dcgan.params_sha256': state['files'][params_file],
    }
    if labelled is not None:
        values['dcgan.labelled_draws'] = labelled_draws_text(*labelled)
    assert set(METADATA) <= values.keys() <= set(METADATA) | set(OPTIONAL_METADATA)
    return values


def export(found, state, averaged, path):
    """Write the generator of the checkpoint `found` (its verified `state`) to `path` as ONNX,
    after checking it against MXNet. Returns the largest difference seen."""
    sampler = sampler_from_checkpoint(found, state, mx.cpu(), averaged)
    labels = digit_request.label_draws(
        sampler.generate, lenet.load_classifier(lenet.SHIPPED, mx.cpu()), state['batch_size'],
        state['noise_dim'])
    symbol = symbols.generator_symbol()
    try:  # the model is made and checked beside `path`, then put in place whole
        with files.written_whole(path) as partial:
            model = mxnet_export(symbol, generator_params(sampler, symbol), state['noise_dim'],
                                 partial)
            model = name_the_batch_axis(with_batch_statistics(model))
            model.producer_name = 'dcgan_mnist sample.py --export'
            model.doc_string = ('The DCGAN generator of %s: noise (N, Z, 1, 1) to images '
                                '(N, 3, 64, 64) in [-1, 1], BatchNorm over each batch; draw in '
                                'batches of dcgan.batch_size.' % found)
            helper.set_model_props(model, metadata_for(state, averaged, (
                digit_request.PAGE_SEED, labels)))
            onnx.checker.check_model(model)
            onnx.save(model, partial)
            gap = largest_difference(sampler, OnnxGenerator(partial), state)
            if not gap <= TOLERANCE:
                raise ModelError('the exported generator differs from MXNet\'s by %.3g '
                                 '(allowed: %g); nothing was written' % (gap, TOLERANCE))
    except OSError as e:
        raise ModelError('cannot write %s: %s' % (path, e.strerror or e)) from None
    return gap


def largest_difference(sampler, model, state):
    """max |onnxruntime - MXNet| over one full batch of the check's noise."""
    noise = drawing.noise_for(state['batch_size'], CHECK_SEED, state['batch_size'],
                              state['noise_dim'])
    return float(np.abs(model.generate(noise) - sampler.generate(noise)).max())
