"""dcgan_mnist.py as a user runs it: short real runs, and one clear line for every bad input."""
import os

import pytest

import dcgan_mnist as app
from dcgan import run_length, run_setup, run_state
from dcgan.errors import SetupError
from helpers import REPO, in_one_suite, one_error_line, run_program, where_no_gpu


# ============================== runs that work ==============================

@in_one_suite()  # a run's files and numbers: the same on every Python
def test_short_run_trains_and_writes_figures(small_mnist, tmp_path):
    out = tmp_path / 'run'
    result = run_program('--data-dir', str(small_mnist), '--batch-size', '8', '--max-iters', '3',
                         '--vis-every', '2', '--output-dir', str(out), '--seed', '5')
    assert result.returncode == 0, result.stderr
    # 52 images in batches of 8: 7 iterations an epoch, the last one padded.
    status = [line for line in result.stdout.splitlines() if line.startswith('epoch ')]
    assert [line.split('  ')[1] for line in status] == ['iter 2/7', 'iter 3/7']
    for line in status:
        for field in ('loss_D', 'loss_G', 'D(x)', 'D(G(z))', 's/iter'):
            assert field in line
    assert 'with seed 5: 3 iterations' in result.stdout
    assert 'Done: 3 iterations in all.' in result.stdout
    figures = sorted(name for name in os.listdir(out) if name.startswith('epoch'))
    assert figures == ['epoch000_iter0002.png', 'epoch000_iter0003.png']
    for name in figures:
        with open(out / name, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


@in_one_suite()  # a run's files and numbers: the same on every Python
def test_epochs_restart_the_data_and_name_the_figures(small_mnist, tmp_path):
    out = tmp_path / 'run'
    result = run_program('--data-dir', str(small_mnist), '--batch-size', '26', '--epochs', '2',
                         '--vis-every', '2', '--output-dir', str(out), '--context', 'cpu')
    assert result.returncode == 0, result.stderr
    assert 'No GPU visible' not in result.stdout  # the CPU was asked for: no notice
    figures = sorted(name for name in os.listdir(out) if name.startswith('epoch'))
    assert figures == ['epoch000_iter0002.png', 'epoch001_iter0002.png']
    assert 'Done: 4 iterations in all.' in result.stdout


@in_one_suite()  # a run's files and numbers: the same on every Python
@where_no_gpu
def test_auto_context_on_a_cpu_machine_says_so(small_mnist, tmp_path):
    result = run_program('--data-dir', str(small_mnist), '--batch-size', '26', '--max-iters', '1',
                         '--output-dir', str(tmp_path / 'run'), context=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ('No GPU visible to MXNet: training on the CPU, '
                                             'which is much slower.')
    assert 'epoch000_iter0001.png' in os.listdir(tmp_path / 'run')  # the last iteration


# ============================== bad flags ==============================

@pytest.mark.parametrize('flags, words', [
    (['--batch-size', '0'], "argument --batch-size: '0' must be at least 1"),
    (['--epochs', 'two'], "argument --epochs: 'two' is not a whole number"),
    (['--max-iters', '-3'], "argument --max-iters: '-3' must be at least 1"),
    (['--lr', '-0.1'], "argument --lr: '-0.1' must be a finite number above 0"),
    (['--lr', 'nan'], "argument --lr: 'nan' must be a finite number above 0"),
    (['--beta1', '1.5'], "argument --beta1: '1.5' must be at least 0 and below 1"),
    (['--init-sigma', 'x'], "argument --init-sigma: 'x' is not a number"),
    (['--vis-every', '0'], "argument --vis-every: '0' must be at least 1"),
    (['--context', 'tpu'], "argument --context: 'tpu' is not auto, cpu, gpu, or a list"),
    (['--bogus'], 'unrecognized arguments: --bogus'),
    (['--gpus', '0,x'], "argument --gpus: '0,x' is not a list of distinct GPU numbers"),
    (['--context', 'cpu:0,0'], "argument --context: 'cpu:0,0' is not auto, cpu, gpu, or a list"),
    (['--gpus', '0', '--context', 'cpu'], 'give --gpus or --context, not both'),
])
def test_bad_flags_fail_with_one_line(capsys, flags, words):
    with pytest.raises(SystemExit) as exit_:
        app.parse_args(flags)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and words in err and err.endswith('(see --help)\n')


def test_a_run_s_settings_are_settled_once_and_read_only_after(tmp_path):
    args = app.parse_args(['--output-dir', str(tmp_path / 'run'), '--lr', '0.001'])
    settings, found, _ = run_setup.open_run(args, app.TUTORIAL_SETTINGS)
    assert found is None
    assert (settings.lr, settings.batch_size, settings.output_dir) == (0.001, 64,
                                                                        str(tmp_path / 'run'))
    assert args.batch_size is None  # the flags as given: the settling made a new object
    with pytest.raises(AttributeError, match='settled once: seed cannot change'):
        settings.seed = 1


def test_beta1_of_zero_is_allowed():
    assert app.parse_args(['--beta1', '0']).beta1 == 0.0


def test_defaults_are_the_tutorials(monkeypatch):
    monkeypatch.delenv('MNIST_DIR', raising=False)
    args = run_setup.Settled(**{**vars(app.parse_args([])),
                                **run_state.settle_settings(app.parse_args([]),
                                                            app.TUTORIAL_SETTINGS)})
    assert (args.batch_size, args.lr, args.beta1, args.init_sigma, args.noise_dim,
            args.vis_every) == (64, 0.0002, 0.5, 0.02, 100, 50)
    # No length flag: on MNIST the tutorial's one epoch (dcgan/run_length.py).
    assert args.epochs is None and args.max_iters is None
    assert run_length.run_length(args.epochs, args.max_iters, 1094, 70000, 64,
                                 False).total == 1094
    assert args.context == 'auto' and args.resume is None
    assert args.data_dir == os.path.join(REPO, 'data', 'mnist')
    assert run_setup.default_output_dir().startswith('runs' + os.sep)
    assert 0 <= args.seed < 2 ** 31
    assert (args.checkpoint_every, args.keep_checkpoints) == (500, 3)


def test_a_bad_flag_from_the_command_line_exits_2_with_one_line():
    result = run_program('--batch-size', 'many')
    assert result.returncode == 2
    assert one_error_line(result) == ("dcgan_mnist.py: error: argument --batch-size: 'many' is "
                                      "not a whole number (see --help)")


# ============================== bad data and surroundings ==============================

def test_missing_data_without_download(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run_program('--data-dir', str(empty), '--no-download',
                         '--output-dir', str(tmp_path / 'out'))
    assert result.returncode == 1
    assert one_error_line(result) == (
        'error: %s lacks train-images-idx3-ubyte, train-labels-idx1-ubyte, '
        't10k-images-idx3-ubyte, t10k-labels-idx1-ubyte' % empty)
    assert not (tmp_path / 'out').exists()  # a run that never started leaves no folder


def test_missing_data_that_cannot_be_downloaded(tmp_path):
    target = tmp_path / 'fresh'
    result = run_program('--data-dir', str(target), '--output-dir', str(tmp_path / 'out'),
                         env={'MXNET_GLUON_REPO': 'http://127.0.0.1:9/'})  # refused at once
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith('error: MNIST is not in %s and could not be downloaded' % target)
    assert 'Put the four files' in line


def test_data_dir_from_the_environment(tmp_path):
    result = run_program('--no-download', '--output-dir', str(tmp_path / 'out'),
                         env={'MNIST_DIR': str(tmp_path / 'elsewhere')})
    assert result.returncode == 1
    assert str(tmp_path / 'elsewhere') + ' lacks' in one_error_line(result)


def test_truncated_file_is_named(small_mnist, tmp_path):
    path = small_mnist / 'train-images-idx3-ubyte.gz'
    path.write_bytes(path.read_bytes()[:-30])
    result = run_program('--data-dir', str(small_mnist), '--output-dir', str(tmp_path / 'out'))
    assert result.returncode == 1
    assert one_error_line(result).startswith(
        'error: %s is unreadable or not valid gzip' % path)


def test_corrupt_header_is_named(small_mnist, tmp_path):
    path = small_mnist / 't10k-labels-idx1-ubyte'
    path.write_bytes(b'\x00\x00\x08\x01\x00\x00\x00\x0c' + bytes(11))
    os.remove(small_mnist / 't10k-labels-idx1-ubyte.gz')
    result = run_program('--data-dir', str(small_mnist), '--output-dir', str(tmp_path / 'out'))
    assert result.returncode == 1
    assert one_error_line(result) == (
        'error: %s is truncated: its header promises 12 bytes of data, it holds 11' % path)


def test_batch_larger_than_the_data(small_mnist, tmp_path):
    result = run_program('--data-dir', str(small_mnist), '--batch-size', '64',
                         '--output-dir', str(tmp_path / 'out'))
    assert result.returncode == 1
    assert one_error_line(result) == ('error: --batch-size 64 is larger than the 52 images in %s'
                                      % small_mnist)


def test_an_output_directory_with_files_is_never_reused_silently(small_mnist, tmp_path):
    out = tmp_path / 'earlier'
    out.mkdir()
    (out / 'epoch000_iter0050.png').write_bytes(b'an earlier run')
    result = run_program('--data-dir', str(small_mnist), '--output-dir', str(out))
    assert result.returncode == 1
    assert one_error_line(result) == ('error: output directory %s already has files; choose '
                                      'another --output-dir or pass --overwrite' % out)
    assert (out / 'epoch000_iter0050.png').read_bytes() == b'an earlier run'


def test_overwrite_allows_a_used_output_directory(tmp_path):
    (tmp_path / 'old.png').write_bytes(b'x')
    with pytest.raises(SetupError):
        run_setup.check_output_dir(str(tmp_path), overwrite=False)
    run_setup.check_output_dir(str(tmp_path), overwrite=True)
    run_setup.check_output_dir(str(tmp_path / 'new' / 'nested'), overwrite=False)
    run_setup.create_output_dir(str(tmp_path / 'new' / 'nested'))
    assert (tmp_path / 'new' / 'nested').is_dir()


def test_output_directory_that_cannot_be_created(tmp_path):
    (tmp_path / 'file').write_bytes(b'')
    with pytest.raises(SetupError, match='cannot create output directory'):
        run_setup.create_output_dir(str(tmp_path / 'file' / 'run'))


@where_no_gpu
def test_gpu_requested_on_a_machine_without_one(small_mnist, tmp_path):
    result = run_program('--data-dir', str(small_mnist), '--context', 'gpu',
                         '--output-dir', str(tmp_path / 'out'))
    assert result.returncode == 1
    assert one_error_line(result).startswith('error: --context gpu: MXNet sees no GPU')


def test_gpu_build_without_a_driver_points_to_the_cpu_requirements(tmp_path):
    """What importing mxnet-cu112 does on a machine with no NVIDIA driver, simulated."""
    fake = tmp_path / 'fake' / 'mxnet'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text(
        "raise OSError('libcuda.so.1: cannot open shared object file: No such file or "
        "directory')\n")
    result = run_program('--help', env={'PYTHONPATH': str(tmp_path / 'fake')})
    assert result.returncode == 1
    assert one_error_line(result) == (
        "error: MXNet's GPU build is installed but no NVIDIA driver was found (libcuda.so.1: "
        "cannot open shared object file: No such file or directory). On a machine without a "
        "GPU: pip uninstall -y mxnet-cu112 && pip install -r requirements-cpu.txt")


# ============================== several devices ==============================

@in_one_suite()  # a run's files and numbers: the same on every Python
def test_a_run_over_two_cpu_contexts(small_mnist, tmp_path):
    result = run_program('--data-dir', str(small_mnist), '--batch-size', '8', '--max-iters', '2',
                         '--context', 'cpu:0,1', '--output-dir', str(tmp_path / 'run'))
    assert result.returncode == 0, result.stderr
    assert 'Training on [cpu(0), cpu(1)]' in result.stdout
    result = run_program('--resume', str(tmp_path / 'run'), '--max-iters', '3',
                         '--data-dir', str(small_mnist))
    assert result.returncode == 1
    assert one_error_line(result).startswith('error: the run was trained on 2 device(s) in 1 '
                                             'worker(s); resume it on as many')


def test_a_batch_that_does_not_split_evenly(small_mnist, tmp_path):
    result = run_program('--data-dir', str(small_mnist), '--batch-size', '7', '--context',
                         'cpu:0,1', '--output-dir', str(tmp_path / 'run'))
    assert result.returncode == 1
    assert one_error_line(result) == ('error: --batch-size 7 does not split evenly across 2 '
                                      'devices')


@where_no_gpu
def test_gpus_that_are_not_there(small_mnist, tmp_path):
    result = run_program('--data-dir', str(small_mnist), '--gpus', '0,1',
                         '--output-dir', str(tmp_path / 'run'))
    assert result.returncode == 1
    assert one_error_line(result) == 'error: GPU 0 is not there: MXNet sees 0 GPUs'
