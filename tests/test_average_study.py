"""The averages study: one training run keeps every average, and each is scored."""
import json
import os
import subprocess
import sys

import numpy as np

import average_study
import checkpoint
from helpers import REPO, headless_env


def test_a_study_run_keeps_every_average_and_scores_it(data_dir, tmp_path):
    run = str(tmp_path / 'run')
    study = [sys.executable, os.path.join(REPO, 'average_study.py')]
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

    result = subprocess.run(study + ['score', run, '--num', '8', '--data-dir', data_dir,
                                     '--cache-dir', str(tmp_path / 'cache')],
                            capture_output=True, text=True, timeout=600, env=headless_env())
    assert result.returncode == 0, result.stderr
    with open(os.path.join(run, average_study.AVERAGES_DIR, average_study.SCORES)) as f:
        scores = json.load(f)
    generators = ['plain'] + [name for name, _, _ in average_study.AVERAGES]
    assert list(scores['scores']) == ['1'] and list(scores['scores']['1']) == generators
    assert scores['scores']['1']['0.99 constant'] == scores['scores']['1']['plain']
    assert '| 0.99 constant | ' in result.stdout and '(+0%)' in result.stdout
