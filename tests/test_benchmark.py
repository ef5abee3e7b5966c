"""The benchmark's arithmetic, its contenders' processes and its summary (its timings are
measurements, never tests)."""
import json
import os
import subprocess
import sys

import pytest

import benchmark
import benchmark_contenders as contenders
import benchmark_harness as harness
import benchmark_profile as profile
import symbols
from helpers import REPO, in_one_suite, with_bfloat16_instructions

pytestmark = in_one_suite('gpu-box')  # measurements of MXNet's arithmetic


def test_multiply_adds_of_each_network_by_hand():
    # Generator, per image: g1 100*1024*16 from a 1x1 input; g2..g4 4x4/8x8/16x16 inputs;
    # g5 32x32 input to 3 channels.
    generator = (100 * 1024 * 16 + 16 * 1024 * 512 * 16 + 64 * 512 * 256 * 16
                 + 256 * 256 * 128 * 16 + 1024 * 128 * 3 * 16)
    # Discriminator, per image: outputs 32x32x128, 16x16x256, 8x8x512, 4x4x1024 and 1.
    discriminator = (1024 * 128 * 3 * 16 + 256 * 256 * 128 * 16 + 64 * 512 * 256 * 16
                     + 16 * 1024 * 512 * 16 + 1024 * 16)
    assert contenders.forward_macs(symbols.generator_symbol(), rand=(1, 100, 1, 1)) == generator
    assert contenders.forward_macs(symbols.discriminator_symbol(), data=(2, 3, 64, 64),
                                  label=(2,)) == 2 * discriminator


def test_an_iteration_is_about_630_gflop_at_batch_64():
    assert contenders.iteration_gflop(64) == pytest.approx(628.8, abs=0.1)


def test_flop_of_onednn_primitives_from_their_shapes():
    # D's first convolution and G's first deconvolution, as oneDNN's verbose log writes them
    conv = 'mb64_ic3oc128_ih64oh32kh4sh2dh0ph1_iw64ow32kw4sw2dw0pw1'
    deconv = 'mb64_ic100oc1024_ih1oh4kh4sh1dh0ph0_iw1ow4kw4sw1dw0pw0'
    assert profile.primitive_flop('convolution', conv) == 2 * 64 * 128 * 32 * 32 * 3 * 16
    assert profile.primitive_flop('deconvolution', deconv) == 2 * 64 * 100 * 1024 * 16
    assert profile.primitive_flop('eltwise', '64x1024x4x4') == 0
    assert profile.primitive_layer('convolution', conv) == '3->128 channels, 64x64->32x32'
    assert profile.primitive_layer('eltwise', '64x1024x4x4') == ''


def run_contender(name, data_dir, env):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools', 'benchmark.py'), '--contender', name,
         '--iters', '2', '--warmup', '0', '--batch-size', '4', '--data-dir', data_dir],
        capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_tutorial_as_shipped_runs_with_mxnet_s_own_threads(data_dir):
    found = run_contender('tutorial-as-shipped', data_dir,
                          harness.contender_env('mxnet'))
    assert found['omp_num_threads'] is None
    assert harness.thread_note(found) == 'MXNet\'s own choice (OMP_NUM_THREADS unset)'
    assert len(found['times']) == 2 and all(t > 0 for t in found['times'])
    assert found['prep_seconds'] > 0 and found['peak_rss_mb'] > 100


def test_the_program_runs_with_the_program_s_threads(data_dir):
    env = dict(harness.contender_env(contenders.PROGRAM_THREADS), OMP_NUM_THREADS='1')
    found = run_contender('program', data_dir, env)
    assert found['omp_num_threads'] == '1'
    assert harness.thread_note(found) == 'OMP_NUM_THREADS=1'
    assert found['iteration_gflop'] == pytest.approx(contenders.iteration_gflop(4))


@with_bfloat16_instructions
def test_the_program_in_bfloat16_is_a_contender(data_dir):
    env = dict(harness.contender_env(contenders.PROGRAM_THREADS), OMP_NUM_THREADS='1')
    found = run_contender('program-bfloat16', data_dir, env)
    assert len(found['times']) == 2 and all(t > 0 for t in found['times'])


def test_the_profile_names_each_pass_of_an_iteration_and_its_work(data_dir):
    env = dict(harness.contender_env(contenders.PROGRAM_THREADS), OMP_NUM_THREADS='1')
    found = run_contender('passes', data_dir, env)
    passes = {row['pass']: row for row in found['passes']}
    assert {'G forward', 'G backward', 'D forward', 'D backward', 'Adam updates'} <= set(passes)
    g = 2 * contenders.forward_macs(symbols.generator_symbol(), rand=(4, 100, 1, 1)) / 1e9
    assert passes['G forward']['gflop'] == pytest.approx(g)
    assert passes['Adam updates']['gflop'] is None
    assert all(row['ms'] > 0 for row in found['passes'])
    # the passes account for most of the iteration's wall time (and, run one after another
    # by MXNet's engine, not much more)
    assert 0.5 < sum(row['ms'] for row in found['passes']) / found['wall_ms'] < 1.1


def test_operators_are_sorted_into_passes_by_network_and_direction():
    assert contenders.pass_of('[Deconvolution,BatchNorm,Activation]') == 'G forward'
    assert contenders.pass_of('[_backward_Activation,_backward_Deconvolution]') == 'G backward'
    assert contenders.pass_of('[Convolution,LeakyReLU]') == 'D forward'
    assert contenders.pass_of('[_backward_logistic_reg_out,_backward_Convolution]') == \
        'D backward'
    assert contenders.pass_of('adam_update') == 'Adam updates'
    assert contenders.pass_of('_full') == 'other operators'


def test_the_memory_is_followed_stage_by_stage_through_a_start_up(data_dir):
    env = dict(harness.contender_env(contenders.PROGRAM_THREADS), OMP_NUM_THREADS='1')
    found = run_contender('memory', data_dir, env)
    stages = dict(found['stages'])
    assert list(stages)[-2:] == ['iteration 1', 'iteration 2']
    # binding the networks holds at least their weights and gradients: 2 x 4 bytes each
    params = found['parameters']
    assert params == {'generator': 12658432, 'discriminator': 11036160}
    bound = stages['G, D and the judge bound and initialised'] - stages['MNIST loaded (uint8)']
    assert bound > 2 * 4 * sum(params.values()) / 2 ** 20
    # and the first iteration adds Adam's two moments of every weight
    adam = stages['iteration 1'] - stages['G, D and the judge bound and initialised']
    assert adam > 2 * 4 * sum(params.values()) / 2 ** 20


def fake_runs(seconds, gflops=100.0):
    """Results as the contenders report them: each run one iteration of `seconds[name]`."""
    runs = {name: [{'times': [value], 'version': 'v', 'device': 'cpu', 'threads': 't',
                    'iteration_gflop': 50.0}] for name, value in seconds.items()}
    runs['startup'] = [{'prep_seconds': 0.2, 'peak_rss_mb': rss} for rss in (900, 950, 1100)]
    runs['matmul-numpy'] = [{'gflops': gflops, 'version': 'numpy'}]
    runs['matmul-mxnet-onednn'] = [{'gflops': gflops / 2, 'version': 'onednn'}]
    return runs


def test_the_summary_compares_with_pytorch_and_the_best_peak():
    report = benchmark.summarise(fake_runs({'program': 1.0, 'tutorial-step': 2.0,
                                            'pytorch': 2.0}), 64)
    program = report['steps'][0]
    assert program['contender'] == 'program'
    assert program['vs_torch'] == pytest.approx(0.5)
    assert program['share_of_peak'] == pytest.approx(0.5)  # 50 GFLOP in 1 s against 100
    assert report['peak_source'] == 'numpy'
    assert report['startup_peak_rss_mb'] == (950, 900, 1100)
    assert report['goals'] == {'step_vs_torch': [0.5, 0.67], 'share_of_peak': [0.5, 0.85],
                               'startup_peak_rss_mb': [950, 1000]}


def test_a_step_faster_than_the_peak_withdraws_every_share_as_a_measurement_error(capsys):
    """The AMD EPYC measured the program's step at 105% of its matrix products' best: such a
    peak is no ceiling, and no share of it is given; a bfloat16 step is never held to the
    float32 peak."""
    within = benchmark.summarise(fake_runs({'program': 1.0, 'program-bfloat16': 0.1}), 64)
    assert within['peak_refused'] is None
    assert [row['share_of_peak'] for row in within['steps']] == [pytest.approx(0.5), None]
    over = benchmark.summarise(fake_runs({'program': 0.4, 'tutorial-step': 1.0}), 64)
    assert [row['share_of_peak'] for row in over['steps']] == [None, None]
    assert over['peak_refused'].startswith('program ran at 125 GFLOP/s, above the peak '
                                           'measured (100 GFLOP/s)')
    assert over['goals']['share_of_peak'] == [None, benchmark.GOAL_SHARE_OF_PEAK]
    benchmark.print_report(over)
    printed = capsys.readouterr().out
    assert 'measurement error: program ran at 125 GFLOP/s' in printed
    assert 'goal share_of_peak        - (target 0.85): NOT met' in printed


def test_without_pytorch_its_row_and_ratio_are_left_out():
    report = benchmark.summarise(fake_runs({'program': 1.0}), 64)
    assert [row['contender'] for row in report['steps']] == ['program']
    assert report['steps'][0]['vs_torch'] is None


def test_the_bfloat16_rows_are_measured_against_autocast_and_float32():
    report = benchmark.summarise(fake_runs({'program': 2.0, 'pytorch': 3.0,
                                            'program-bfloat16': 1.5, 'pytorch-bfloat16': 1.2}),
                                 64)
    assert [row['contender'] for row in report['steps']] == [
        'program', 'pytorch', 'program-bfloat16', 'pytorch-bfloat16']
    assert report['goals']['bfloat16_vs_autocast'] == [pytest.approx(1.25), 0.67]
    assert report['goals']['bfloat16_vs_float32'] == [pytest.approx(0.75), 0.5]
    without_torch = benchmark.summarise(fake_runs({'program': 2.0, 'program-bfloat16': 1.0}),
                                        64)
    assert without_torch['goals']['bfloat16_vs_autocast'] == [None, 0.67]
