"""--dtype bfloat16: the graphs (float32's untouched; bfloat16's casts around the convolutions
but g5, the weights float32), one step against the float32 step, an exact resume that keeps the
setting, and the refusal where bfloat16 would not be faster."""
import json

import numpy as np
import pytest

import dcgan_mnist as app
import symbols
from dcgan import bfloat16, checkpoint
from dcgan.cli import SetupError
from dcgan.framework import mx
from helpers import (BATCH, ON_CPU, assert_same_checkpoint_params, cpu_has_bfloat16,
                     metric_rows, run_program, weight_steps, with_bfloat16_instructions,
                     with_the_cpu_build)

NETWORKS = {'generator': symbols.generator_symbol, 'discriminator': symbols.discriminator_symbol}
# One step's weight changes in bfloat16 against float32's, as the norm of the difference over
# the norm of float32's change: measured up to 0.30 (generator) and 0.13 (discriminator) at
# batch 4 to 64. bfloat16 keeps 8 bits of mantissa, and BatchNorm's backward subtracts nearly
# equal terms, which magnifies the rounding; a step that went wrong is off by 1 or more.
STEP_TOLERANCE = 0.5


def nodes(symbol):
    return json.loads(symbol.tojson(remove_amp_cast=False))['nodes']


def test_the_float32_graph_is_the_tutorials_node_for_node():
    networks = dict(ctx=mx.cpu(), batch_size=BATCH, lr=app.LEARNING_RATE, beta1=app.BETA1,
                    sigma=app.INIT_SIGMA)
    for module, network in ((app.build_generator(**networks), 'generator'),
                            (app.build_discriminator(**networks), 'discriminator')):
        tutorial = NETWORKS[network]()
        assert app.network_symbol(tutorial, 'float32') is tutorial
        assert [(node['op'], node['name'], node.get('attrs')) for node in nodes(module.symbol)
                if node['op'] != 'Flatten'] == [
            (node['op'], node['name'], node.get('attrs')) for node in nodes(tutorial)
            if node['op'] != 'Flatten']  # (Flatten's automatic name counts up)


@pytest.mark.parametrize('network', sorted(NETWORKS))
def test_the_bfloat16_graph_casts_around_each_convolution_but_g5(network):
    tutorial = NETWORKS[network]()
    graph = nodes(app.network_symbol(tutorial, 'bfloat16'))
    converted = app.network_symbol(tutorial, 'bfloat16')
    assert converted.list_arguments() == tutorial.list_arguments()  # same parameter names
    assert converted.list_auxiliary_states() == tutorial.list_auxiliary_states()
    by_index = dict(enumerate(graph))
    convolutions = [node for node in graph if node['op'] in bfloat16.CONVOLUTIONS]
    assert [node['name'] for node in convolutions] == [
        node['name'] for node in nodes(tutorial) if node['op'] in bfloat16.CONVOLUTIONS]
    for node in convolutions:
        sources = [by_index[source] for source, _, _ in node['inputs']]
        if node['name'] in bfloat16.KEPT_FLOAT32:
            assert not any(source['op'] == 'amp_cast' for source in sources)
            continue
        assert [(source['op'], source['attrs']['dtype']) for source in sources] == [
            ('amp_cast', 'bfloat16')] * 2  # its input and its weight
        weight = by_index[sources[1]['inputs'][0][0]]
        assert weight['name'] == node['name'] + '_weight'
        assert weight['attrs']['__dtype__'] == bfloat16.FLOAT32
        users = [user for user in graph
                 if any(by_index[s] is node for s, _, _ in user['inputs'])]
        assert [(user['op'], user['attrs']['dtype']) for user in users] == [
            ('amp_cast', 'float32')]
    assert ('g5' in [node['name'] for node in convolutions]) == (network == 'generator')


def test_the_bfloat16_modules_keep_float32_weights_and_outputs():
    shapes = {'generator': {'rand': (BATCH, 100, 1, 1)},
              'discriminator': {'data': (BATCH, 3, 64, 64), 'label': (BATCH,)}}
    for network, symbol in NETWORKS.items():
        converted = app.network_symbol(symbol(), 'bfloat16')
        arg_types, out_types, aux_types = converted.infer_type(
            **{name: np.float32 for name in shapes[network]})
        assert set(arg_types) == set(out_types) == set(aux_types) == {np.float32}, network


@with_bfloat16_instructions
def test_a_bfloat16_step_is_the_float32_step_to_bfloat16s_precision():
    for name, (in_float32, in_bfloat16) in weight_steps({'dtype': 'bfloat16'}):
        if name.endswith('_gamma'):  # fixed at 1, in both
            assert not in_float32.any() and not in_bfloat16.any(), name
            continue
        gap = np.linalg.norm(in_bfloat16 - in_float32) / np.linalg.norm(in_float32)
        assert gap < STEP_TOLERANCE, (name, gap)


# ------------------------- the program -------------------------

FLAGS = ON_CPU + ['--batch-size', '8', '--seed', '4', '--no-show', '--dtype', 'bfloat16',
                  '--vis-every', '100']


@with_the_cpu_build  # the program refuses --dtype bfloat16 on MXNet's GPU build, by design
@with_bfloat16_instructions
def test_a_bfloat16_run_resumes_exactly_and_keeps_its_dtype(data_dir, tmp_path):
    straight, stopped = str(tmp_path / 'straight'), str(tmp_path / 'stopped')
    for out, iterations in ((straight, '4'), (stopped, '2')):
        result = run_program('--data-dir', data_dir, *FLAGS, '--max-iters', iterations,
                             '--output-dir', out)
        assert result.returncode == 0, result.stderr
        assert 'Training on cpu(0) in bfloat16 with seed 4' in result.stdout
    with open(checkpoint.checkpoint_dir(stopped, 2) + '/state.json') as f:
        assert json.load(f)['dtype'] == 'bfloat16'
    refused = run_program('--resume', stopped, '--max-iters', '4', '--data-dir', data_dir,
                          '--dtype', 'float32', '--no-show')
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("error: --dtype float32 differs from the resumed run's "
                                      "bfloat16; a resumed run keeps its settings")
    resumed = run_program('--resume', stopped, '--max-iters', '4', '--data-dir', data_dir,
                          '--no-show', '--vis-every', '100')
    assert resumed.returncode == 0, resumed.stderr
    assert 'in bfloat16' in resumed.stdout
    assert_same_checkpoint_params(checkpoint.checkpoint_dir(straight, 4),
                                  checkpoint.checkpoint_dir(stopped, 4))
    assert metric_rows(stopped) == metric_rows(straight)


@with_the_cpu_build
@pytest.mark.skipif(cpu_has_bfloat16(), reason='checks a CPU without bfloat16 instructions, '
                    'and this one has them')
def test_on_a_cpu_without_bfloat16_the_flag_says_so_in_one_line(data_dir, tmp_path):
    result = run_program('--data-dir', data_dir, *FLAGS, '--max-iters', '1', '--output-dir',
                         str(tmp_path / 'run'))
    assert result.returncode == 1
    assert result.stderr.startswith('error: --dtype bfloat16 needs a CPU with bfloat16 '
                                    'instructions (avx512_bf16 or amx_bf16); this one has '
                                    'neither'), result.stderr
    assert result.stderr.count('\n') == 1 and not (tmp_path / 'run').exists()


@pytest.mark.parametrize('flags, gpu_build, refusal', [
    ({'avx512f', 'avx512_bf16'}, False, None),
    ({'amx_bf16', 'amx_tile'}, False, None),
    ({'avx512f', 'avx2'}, False,
     '--dtype bfloat16 needs a CPU with bfloat16 instructions (avx512_bf16 or amx_bf16); this '
     'one has neither'),
    (set(), False, '--dtype bfloat16 needs a CPU with bfloat16 instructions'),
    ({'avx512_bf16'}, True, '--dtype bfloat16 is for CPUs with bfloat16 instructions; this is '
                            'MXNet\'s GPU build'),
])
def test_bfloat16_is_refused_where_it_would_not_be_faster(flags, gpu_build, refusal):
    if refusal is None:
        assert bfloat16.check_bfloat16(flags, gpu_build) is None
        return
    with pytest.raises(SetupError) as refused:
        bfloat16.check_bfloat16(flags, gpu_build)
    assert str(refused.value).startswith(refusal) and '\n' not in str(refused.value)


def test_this_machines_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu sse avx512_bf16 avx2\n\nprocessor\t: 1\n'
                    'flags\t\t: fpu\n')
    assert bfloat16.cpu_flags(str(info)) == {'fpu', 'sse', 'avx512_bf16', 'avx2'}
    assert bfloat16.cpu_flags(str(tmp_path / 'none')) == set()


def test_an_unknown_dtype_is_refused_in_one_line(tmp_path):
    result = run_program('--dtype', 'float16', '--output-dir', str(tmp_path / 'run'))
    assert result.returncode == 2
    assert result.stderr == ("dcgan_mnist.py: error: argument --dtype: 'float16' is not float32 "
                             "or bfloat16 (see --help)\n")
