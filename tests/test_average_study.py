"""The averages study: one training run keeps every average, and each is scored."""
import json
import os
import subprocess
import sys

import numpy as np

import average_study
from dcgan import checkpoint
from helpers import REPO, headless_env, in_one_suite, where_no_gpu


@in_one_suite()  # MXNet's arithmetic, the same on every Python and build
def test_a_study_run_keeps_every_average_and_scores_it(data_dir, tmp_path):
    run = str(tmp_path / 'run')
    study = [sys.executable, os.path.join(REPO, 'tools', 'average_study.py')]
    result = subprocess.run(study + ['train', '--data-dir', data_dir, '--batch-size', '8',
                                     '--max-iters', '1', '--seed', '2', '--output-dir', run],
                            capture_output=True, text=True, timeout=600, env=headless_env())
    assert result.returncode == 0, result.stderr
    folder = os.path.join(run, average_study.AVERAGES_DIR, 'iter-0000001')
    assert sorted(os.listdir(folder)) == sorted(average_study.file_name(name)
                                                for name, _, _ in average_study.AVERAGES)
    # After one update, the constant-decay average is the weights; a warm-up one is not yet.
    weights, _ = checkpoint.load_params(os.path.join(run, 'checkpoints', 'iter-0000001',
                                                     'generator.params'))
    constant, _ = checkpoint.load_params(os.path.join(folder, '0.99-constant.params'))
    warm, _ = checkpoint.load_params(os.path.join(folder, '0.99-warm-up.params'))
    for name in weights:
        np.testing.assert_array_equal(constant[name].asnumpy(), weights[name].asnumpy())
    assert not np.array_equal(warm['g1_weight'].asnumpy(), weights['g1_weight'].asnumpy())

    result = subprocess.run(study + ['score', run, '--num', '10', '--data-dir', data_dir,
                                     '--cache-dir', str(tmp_path / 'cache')],
                            capture_output=True, text=True, timeout=600, env=headless_env())
    assert result.returncode == 0, result.stderr
    with open(os.path.join(run, average_study.AVERAGES_DIR, average_study.SCORES)) as f:
        scores = json.load(f)
    generators = ['plain'] + [name for name, _, _ in average_study.AVERAGES]
    assert list(scores['scores']) == ['1'] and list(scores['scores']['1']) == generators
    assert scores['scores']['1']['0.99 constant'] == scores['scores']['1']['plain']
    assert '| 0.99 constant | ' in result.stdout and '(+0%)' in result.stdout
    assert 'iteration 1  plain' in result.stdout

    # Scored again, the checkpoint already scored is not: the same numbers, from the file.
    again = subprocess.run(study + ['score', run, '--num', '10', '--data-dir', data_dir,
                                    '--cache-dir', str(tmp_path / 'cache')],
                           capture_output=True, text=True, timeout=600, env=headless_env())
    assert again.returncode == 0, again.stderr
    assert 'iteration 1  plain' not in again.stdout
    with open(os.path.join(run, average_study.AVERAGES_DIR, average_study.SCORES)) as f:
        assert json.load(f) == scores


@in_one_suite()
@where_no_gpu  # the study trains where --context auto puts it; bits are compared on the CPU
def test_the_program_s_average_is_the_study_s_choice_bit_for_bit(data_dir, tmp_path):
    """`--average-generator` with no value keeps the average the README scored as the
    default (0.99 with warm-up), whatever else the study kept beside it."""
    flags = ['--data-dir', data_dir, '--batch-size', '8', '--max-iters', '2', '--seed', '3']
    study, program = str(tmp_path / 'study'), str(tmp_path / 'program')
    study_command = os.path.join(REPO, 'tools', 'average_study.py')
    for command in ([study_command, 'train', '--output-dir', study],
                    [os.path.join(REPO, 'dcgan_mnist.py'), '--no-show', '--output-dir',
                     program, '--average-generator']):
        result = subprocess.run([sys.executable] + command + flags, capture_output=True,
                                text=True, timeout=600, env=headless_env())
        assert result.returncode == 0, result.stderr
    for network in ('generator.params', 'discriminator.params'):  # the same training
        trained = [checkpoint.load_params(os.path.join(run, 'checkpoints', 'iter-0000002',
                                                       network))[0] for run in (study, program)]
        for name in trained[0]:
            np.testing.assert_array_equal(trained[0][name].asnumpy(), trained[1][name].asnumpy())
    kept, _ = checkpoint.load_params(os.path.join(
        program, 'checkpoints', 'iter-0000002', checkpoint.AVERAGE))
    chosen, _ = checkpoint.load_params(os.path.join(
        study, average_study.AVERAGES_DIR, 'iter-0000002', '0.99-warm-up.params'))
    assert sorted(kept) == sorted(chosen)
    for name in kept:
        np.testing.assert_array_equal(kept[name].asnumpy(), chosen[name].asnumpy())
    with open(os.path.join(program, 'checkpoints', 'iter-0000002', checkpoint.STATE)) as f:
        assert json.load(f)['average_decay'] == 0.99


def test_the_gains_count_only_checkpoints_from_600_on_in_every_run():
    def results(plain, averaged):
        return {iteration: dict({'plain': {'fid': fid}},
                                **{name: {'fid': averaged[iteration]}
                                   for name, _, _ in average_study.AVERAGES})
                for iteration, fid in plain.items()}
    run_a = results({400: 10.0, 600: 10.0, 800: 10.0}, {400: 99.0, 600: 7.0, 800: 9.0})
    run_b = results({600: 20.0}, {600: 10.0})
    table = average_study.gains_table([run_a, run_b])
    # cuts from 600 on: 30%, 10%, 50%: the smallest 10%, the mean 30%
    assert '| 0.99 warm-up | 10% | 30% |' in table.splitlines()
