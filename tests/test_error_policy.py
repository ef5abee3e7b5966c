"""The one error policy (dcgan/errors.py): every kind of error meant for the user, raised on
each command's path, ends the command in one line, `error: ...`, with exit status 1 and no
traceback; and the case that once traced back, a damaged classifier under --score-every."""
import importlib
import pkgutil
import shutil

import pytest

import dcgan
import dcgan_mnist
import sample
import score
from dcgan import interrupts, lenet, run_setup
from dcgan.errors import UserError

WORDS = 'something to fix\nand a second line a message must not break into'


def every_user_error():
    """Every UserError class of the package, found by importing all of its modules."""
    for module in pkgutil.iter_modules(dcgan.__path__):
        importlib.import_module('dcgan.' + module.name)
    found, waiting = set(), [UserError]
    while waiting:
        kind = waiting.pop()
        found.add(kind)
        waiting.extend(kind.__subclasses__())
    return sorted(found, key=lambda kind: kind.__module__ + '.' + kind.__qualname__)


def raised(kind):
    """A function that raises an error of `kind` with WORDS, whatever its constructor takes."""
    def raise_it(*args, **kwargs):
        error = kind.__new__(kind)
        Exception.__init__(error, WORDS)
        raise error
    return raise_it


def test_the_policy_covers_the_errors_users_meet():
    names = {kind.__name__ for kind in every_user_error()}
    assert {'SetupError', 'CheckpointError', 'ClassifierError', 'MnistDataError',
            'ImageDataError', 'ContextError', 'RecordError', 'FileRefused', 'TargetError',
            'ModelError', 'RunInUse', 'DigitNotDrawn', 'ExpressionError'} <= names, names


# Each command's path, and a function on it that the error is made to come from.
PATHS = [
    ('dcgan_mnist.py', lambda: dcgan_mnist.main(['--max-iters', '1']), run_setup, 'set_up'),
    ('sample.py', lambda: interrupts.run(lambda: sample.main(['RUN'])), sample,
     'check_request'),
    ('score.py', lambda: interrupts.run(lambda: score.main(['RUN'])), score.run_state,
     'open_checkpoint'),
]


@pytest.mark.parametrize('kind', every_user_error(), ids=lambda kind: kind.__name__)
@pytest.mark.parametrize('command, run, where, name', PATHS, ids=[p[0] for p in PATHS])
def test_every_user_error_on_every_path_is_one_line(monkeypatch, command, run, where, name,
                                                   kind):
    monkeypatch.setattr(where, name, raised(kind))
    with pytest.raises(SystemExit) as ended:
        run()
    assert ended.value.code == 'error: something to fix\\nand a second line a message must ' \
                               'not break into', ended.value.code


def test_a_damaged_classifier_under_score_every_is_one_line(monkeypatch, tmp_path, data_dir):
    damaged = tmp_path / 'lenet_mnist.params'
    shutil.copyfile(lenet.SHIPPED, str(damaged))
    with open(str(damaged), 'r+b') as f:
        f.seek(100)
        f.write(b'\xff' * 8)
    monkeypatch.setattr(lenet, 'SHIPPED', str(damaged))
    with pytest.raises(SystemExit) as ended:
        dcgan_mnist.main(['--data-dir', data_dir, '--score-every', '1', '--max-iters', '2',
                          '--batch-size', '8', '--no-show', '--context', 'cpu',
                          '--output-dir', str(tmp_path / 'run')])
    assert ended.value.code.startswith('error: %s is not the shipped classifier' % damaged)
    assert '\n' not in ended.value.code
    assert not (tmp_path / 'run').exists()
