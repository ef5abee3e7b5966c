"""The two networks: every layer's output shape, every parameter, and every layer setting."""
import json

import pytest

import symbols
from dcgan.framework import mx

BATCH_SIZES = (1, 2, 5, 64)

# (layer output, shape without the batch axis), in the order the data flows.
GENERATOR_OUTPUTS = [
    ('g1', (1024, 4, 4)), ('gbn1', (1024, 4, 4)), ('gact1', (1024, 4, 4)),
    ('g2', (512, 8, 8)), ('gbn2', (512, 8, 8)), ('gact2', (512, 8, 8)),
    ('g3', (256, 16, 16)), ('gbn3', (256, 16, 16)), ('gact3', (256, 16, 16)),
    ('g4', (128, 32, 32)), ('gbn4', (128, 32, 32)), ('gact4', (128, 32, 32)),
    ('g5', (3, 64, 64)), ('gact5', (3, 64, 64)),
]
DISCRIMINATOR_OUTPUTS = [
    ('d1', (128, 32, 32)), ('dact1', (128, 32, 32)),
    ('d2', (256, 16, 16)), ('dbn2', (256, 16, 16)), ('dact2', (256, 16, 16)),
    ('d3', (512, 8, 8)), ('dbn3', (512, 8, 8)), ('dact3', (512, 8, 8)),
    ('d4', (1024, 4, 4)), ('dbn4', (1024, 4, 4)), ('dact4', (1024, 4, 4)),
    ('d5', (1, 1, 1)), ('dloss', (1,)),
]
GENERATOR_PARAMS = {
    'g1_weight': (100, 1024, 4, 4), 'g2_weight': (1024, 512, 4, 4),
    'g3_weight': (512, 256, 4, 4), 'g4_weight': (256, 128, 4, 4), 'g5_weight': (128, 3, 4, 4),
    'gbn1_gamma': (1024,), 'gbn1_beta': (1024,), 'gbn2_gamma': (512,), 'gbn2_beta': (512,),
    'gbn3_gamma': (256,), 'gbn3_beta': (256,), 'gbn4_gamma': (128,), 'gbn4_beta': (128,),
}
GENERATOR_AUX = {
    'gbn1_moving_mean': (1024,), 'gbn1_moving_var': (1024,),
    'gbn2_moving_mean': (512,), 'gbn2_moving_var': (512,),
    'gbn3_moving_mean': (256,), 'gbn3_moving_var': (256,),
    'gbn4_moving_mean': (128,), 'gbn4_moving_var': (128,),
}
DISCRIMINATOR_PARAMS = {
    'd1_weight': (128, 3, 4, 4), 'd2_weight': (256, 128, 4, 4), 'd3_weight': (512, 256, 4, 4),
    'd4_weight': (1024, 512, 4, 4), 'd5_weight': (1, 1024, 4, 4),
    'dbn2_gamma': (256,), 'dbn2_beta': (256,), 'dbn3_gamma': (512,), 'dbn3_beta': (512,),
    'dbn4_gamma': (1024,), 'dbn4_beta': (1024,),
}
DISCRIMINATOR_AUX = {
    'dbn2_moving_mean': (256,), 'dbn2_moving_var': (256,),
    'dbn3_moving_mean': (512,), 'dbn3_moving_var': (512,),
    'dbn4_moving_mean': (1024,), 'dbn4_moving_var': (1024,),
}


def layer_output_shapes(symbol, **input_shapes):
    internals = symbol.get_internals()
    _, shapes, _ = internals.infer_shape(**input_shapes)
    return {name[:-len('_output')]: shape
            for name, shape in zip(internals.list_outputs(), shapes) if name.endswith('_output')}


@pytest.mark.parametrize('batch', BATCH_SIZES)
def test_generator_layer_shapes(batch):
    shapes = layer_output_shapes(symbols.generator_symbol(), rand=(batch, 100, 1, 1))
    for layer, shape in GENERATOR_OUTPUTS:
        assert shapes[layer] == (batch,) + shape, layer
    assert len(shapes) == len(GENERATOR_OUTPUTS)


@pytest.mark.parametrize('batch', BATCH_SIZES)
def test_discriminator_layer_shapes(batch):
    shapes = layer_output_shapes(symbols.discriminator_symbol(),
                                 data=(batch, 3, 64, 64), label=(batch,))
    for layer, shape in DISCRIMINATOR_OUTPUTS:
        assert shapes[layer] == (batch,) + shape, layer
    flatten = [name for name in shapes if name.startswith('flatten')]
    assert len(flatten) == 1 and shapes[flatten[0]] == (batch, 1)


def test_parameter_names_and_shapes():
    generator = symbols.generator_symbol()
    arg_shapes, _, aux_shapes = generator.infer_shape(rand=(8, 100, 1, 1))
    assert dict(zip(generator.list_arguments(), arg_shapes)) == dict(
        GENERATOR_PARAMS, rand=(8, 100, 1, 1))
    assert dict(zip(generator.list_auxiliary_states(), aux_shapes)) == GENERATOR_AUX

    discriminator = symbols.discriminator_symbol()
    arg_shapes, _, aux_shapes = discriminator.infer_shape(data=(8, 3, 64, 64), label=(8,))
    assert dict(zip(discriminator.list_arguments(), arg_shapes)) == dict(
        DISCRIMINATOR_PARAMS, data=(8, 3, 64, 64), label=(8,))
    assert dict(zip(discriminator.list_auxiliary_states(), aux_shapes)) == DISCRIMINATOR_AUX


def test_noise_size_and_channels_follow_the_bound_shapes():
    shapes = layer_output_shapes(symbols.generator_symbol(channels=1), rand=(2, 32, 1, 1))
    assert shapes['gact5'] == (2, 1, 64, 64)
    arg_shapes, _, _ = symbols.generator_symbol().infer_shape(rand=(2, 32, 1, 1))
    assert arg_shapes[1] == (32, 1024, 4, 4)
    shapes = layer_output_shapes(symbols.discriminator_symbol(),
                                 data=(2, 1, 64, 64), label=(2,))
    assert shapes['dloss'] == (2, 1)


def tutorial_generator():
    """The tutorial's generator, written out layer by layer as the reference."""
    eps = 1e-5 + 1e-12
    x = mx.sym.Variable('rand')
    x = mx.sym.Deconvolution(x, name='g1', kernel=(4, 4), num_filter=1024, no_bias=True)
    x = mx.sym.BatchNorm(x, name='gbn1', fix_gamma=True, eps=eps)
    x = mx.sym.Activation(x, name='gact1', act_type='relu')
    for n, filters in ((2, 512), (3, 256), (4, 128)):
        x = mx.sym.Deconvolution(x, name='g%d' % n, kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                                 num_filter=filters, no_bias=True)
        x = mx.sym.BatchNorm(x, name='gbn%d' % n, fix_gamma=True, eps=eps)
        x = mx.sym.Activation(x, name='gact%d' % n, act_type='relu')
    x = mx.sym.Deconvolution(x, name='g5', kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                             num_filter=3, no_bias=True)
    return mx.sym.Activation(x, name='gact5', act_type='tanh')


def tutorial_discriminator():
    """The tutorial's discriminator, written out layer by layer as the reference."""
    eps = 1e-5 + 1e-12
    x = mx.sym.Variable('data')
    x = mx.sym.Convolution(x, name='d1', kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                           num_filter=128, no_bias=True)
    x = mx.sym.LeakyReLU(x, name='dact1', act_type='leaky', slope=0.2)
    for n, filters in ((2, 256), (3, 512), (4, 1024)):
        x = mx.sym.Convolution(x, name='d%d' % n, kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                               num_filter=filters, no_bias=True)
        x = mx.sym.BatchNorm(x, name='dbn%d' % n, fix_gamma=True, eps=eps)
        x = mx.sym.LeakyReLU(x, name='dact%d' % n, act_type='leaky', slope=0.2)
    x = mx.sym.Convolution(x, name='d5', kernel=(4, 4), num_filter=1, no_bias=True)
    x = mx.sym.Flatten(x)
    return mx.sym.LogisticRegressionOutput(data=x, label=mx.sym.Variable('label'), name='dloss')


def graph(symbol):
    """Every node's operator, name, settings and inputs; Flatten's automatic name left out."""
    nodes = json.loads(symbol.tojson())['nodes']
    return [(node['op'], '' if node['op'] == 'Flatten' else node['name'],
             node.get('attrs', {}), node['inputs']) for node in nodes]


@pytest.mark.parametrize('build, reference', [
    (symbols.generator_symbol, tutorial_generator),
    (symbols.discriminator_symbol, tutorial_discriminator),
])
def test_graph_is_the_tutorials(build, reference):
    """Same operators, names, kernels, strides, pads, filters, no_bias, fix_gamma, eps, slope."""
    assert graph(build()) == graph(reference())


def test_settings_are_the_tutorials():
    assert symbols.BN_EPS == 1e-5 + 1e-12 and symbols.BN_EPS >= 1e-5
    attrs = symbols.discriminator_symbol().attr_dict()
    assert attrs['dbn3']['fix_gamma'] == 'True'
    assert attrs['dact2'] == {'act_type': 'leaky', 'slope': '0.2'}
    assert attrs['d4']['no_bias'] == 'True'
    assert symbols.generator_symbol().attr_dict()['gact5'] == {'act_type': 'tanh'}
