"""Setting a run up (`set_up`, which dcgan_mnist.py's `start` calls) before its first
iteration, in an order that leaves nothing behind when a step fails: the kvstore of a distributed run; the
settings, settled once (`open_run`: a new run's folder checked, a resumed run's checkpoint
opened and verified once); the devices; the data; only then the run's folder; then the
networks, the run's state (fresh or resumed) and the hooks of the process that writes
(dcgan/run_outputs.py)."""
import contextlib
import functools
import math
import os
import shutil
import time
import types
from dataclasses import dataclass

from dcgan.framework import mx

import symbols
from dcgan import (bfloat16, checkpoint, devices, hooks, mnist, own_images, run_length,
                   run_lock, run_state, watchdog)
from dcgan.batches import Batches
from dcgan.cli import SetupError, check_writable_folder
from dcgan.console import Console
from dcgan.event_log import summary_writer_class
from dcgan.resume_advice import exit_stalled_worker, resume_command
from dcgan.run_outputs import open_outputs
from dcgan.stopping import StopVote
from rand_iter import RandIter


class Settled(types.SimpleNamespace):
    """A run's settings, settled once by `open_run` (the flags; a resumed run's own; the
    tutorial's defaults; its folder and its data) and read-only from then on."""

    def __setattr__(self, name, value):
        raise AttributeError('a run\'s settings are settled once: %s cannot change' % name)


def default_output_dir():
    return os.path.join('runs', time.strftime('%Y%m%d-%H%M%S'))


@dataclass
class Training:
    """Everything the loop needs: the networks, the run's state, its data and noise, and
    what happens around each iteration (`hooks`: empty in a process that does not write)."""
    settings: Settled
    ctx: object                 # a context, or a list of them (the batch split across)
    state: run_state.RunState
    generator: mx.mod.Module
    discriminator: mx.mod.Module
    judge: mx.mod.Module
    images: Batches             # mnist.MnistBatches, or own_images.RecordBatches
    noise: RandIter
    hooks: hooks.Hooks
    console: Console
    guard: watchdog.StallWatchdog
    stop_vote: StopVote         # whether to stop after an iteration (every worker alike)
    length: run_length.RunLength  # the goal: total iterations, passes over the data
    resumed_from: str = None    # the checkpoint it continues from
    distributed: bool = False   # one of several workers (--kvstore dist_sync)
    rank: int = 0               # this worker's number then
    workers: int = 1


def check_output_dir(path, overwrite):
    """Refuse an output folder that already holds files unless `overwrite` is set."""
    if os.path.isdir(path) and os.listdir(path) and not overwrite:
        raise SetupError('output directory %s already has files; choose another --output-dir '
                         'or pass --overwrite' % path)


def create_output_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise SetupError('cannot create output directory %s (%s)' % (path, e.strerror)) from None
    check_writable_folder(path, '--output-dir')


@contextlib.contextmanager
def output_dir_for_this_start(path, new):
    """Creates a new run's folder `path` (when `new`) for the block, and removes it again when
    the block fails (an error found late, Ctrl-C): a failed start leaves nothing behind. A
    folder that was there before is never removed."""
    made = new and not os.path.isdir(path)
    try:
        if new:
            create_output_dir(path)
        yield
    except BaseException:
        if made and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        raise


def create_kvstore(args):
    """MXNet's distributed kvstore for --kvstore dist_sync, else None (a single process)."""
    if args.kvstore == 'local':
        return None
    if args.seed is None and args.resume is None:
        raise SetupError('--kvstore %s needs --seed: every worker must start from the same '
                         'weights' % args.kvstore)
    if 'DMLC_ROLE' not in os.environ:
        raise SetupError('--kvstore %s: start the workers with MXNet\'s launcher (python '
                         'launch.py ...: docs/gpu-and-machines.md), which sets DMLC_ROLE and '
                         'the scheduler\'s address' % args.kvstore)
    return mx.kv.create(args.kvstore)


def open_run(args, defaults, chief=True):
    """The run's settings settled (`defaults` where neither the flags nor a resumed run say),
    and the checkpoint resumed from: (Settled, its folder, its state.json) or (Settled, None,
    None). Only the chief (the one process, or the first worker) checks the folder; it is
    created once the data and the devices are ready (an error before then leaves nothing
    behind)."""
    if args.resume is None:
        output_dir = args.output_dir or default_output_dir()
        if chief:
            check_output_dir(output_dir, args.overwrite)
        return Settled(**{**vars(args), **run_state.settle_settings(args, defaults),
                          'output_dir': output_dir}), None, None
    if args.output_dir is not None:
        raise SetupError('--output-dir cannot be combined with --resume: a resumed run goes '
                         'on in its own folder')
    # Before its checkpoints: a run still training may not have saved one yet.
    run_lock.refuse_if_in_use(checkpoint.run_folder(args.resume), run_lock.FOR_A_RESUME)
    found, saved = run_state.open_checkpoint(
        args.resume, functools.partial(resume_command, args))
    settings = run_state.settle_settings(args, defaults, saved)
    trained_on, data = saved['data'], args.data
    if data is None and trained_on != run_state.MNIST_DATA:
        data = trained_on['path']  # its own images, unless --data says where they are now
    elif data is not None and trained_on == run_state.MNIST_DATA:
        raise SetupError('the run was trained on MNIST; --data %s is other data' % data)
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(found)))
    # Named as the user named it: relative when --resume was, as a new run's is.
    output_dir = run_dir if os.path.isabs(args.resume) else os.path.relpath(run_dir)
    return (Settled(**{**vars(args), **settings, 'data': data, 'output_dir': output_dir}),
            found, saved)


def pick_devices(settings):
    """The context (or list of contexts) to train on, and a notice for the user or None."""
    if isinstance(settings.context, tuple):
        contexts = devices.choose_devices(mx, *settings.context)
        if settings.batch_size % len(contexts):
            raise SetupError('--batch-size %d does not split evenly across %d devices'
                             % (settings.batch_size, len(contexts)))
        return contexts, None
    return devices.choose_context(mx, settings.context)


def check_resources(settings, ctx, resumed):
    """What the run will need, checked before any work: memory for its settings (on the CPU:
    a GPU's memory is not this machine's to measure), and a resumed run's folder to write in
    (a new one is tried when it is made)."""
    if ctx.device_type == 'cpu':
        run_state.check_training_memory(vars(settings))
    if resumed:
        check_writable_folder(settings.output_dir, '--resume')


def load_image_iter(settings, shard=(0, 1)):
    """The real-image batches, 64x64x3 in [-1, 1], shuffled once (for worker k of n in
    distributed training, its share: `shard` = (k, n)): the tutorial's, all of MNIST, or
    --data's own images. Returns (batches, what state.json records of the data, the status
    line's words)."""
    if settings.data is None:
        images, _ = mnist.load_or_download_mnist(settings.data_dir, not settings.no_download)
        count, where = len(images), settings.data_dir
        batches = mnist.MnistBatches(images, settings.batch_size, symbols.IMAGE_SIZE,
                                     shard=shard)
        identity, words = run_state.MNIST_DATA, 'MNIST: %d images from %s' % (count, where)
    else:
        own = own_images.open_images(settings.data)
        count, where = own.count, settings.data
        batches = own_images.RecordBatches(own, settings.batch_size, symbols.IMAGE_SIZE, shard)
        identity, words = own.identity, 'Images: ' + own.describe()
    if settings.batch_size > count // shard[1]:
        each = ' for each of %d workers' % shard[1] if shard[1] > 1 else ''
        raise SetupError('--batch-size %d is larger than the %d images in %s%s'
                         % (settings.batch_size, count, where, each))
    return batches, identity, words


def set_up(args, defaults, build_networks):
    """The run `args` asks for, ready to train, as a Training: raises SetupError (or the
    data's, the devices', a checkpoint's error) with what to fix, leaving nothing behind.
    `build_networks(settings, ctx, kvstore)` gives the program's (generator, discriminator,
    judge), the random seed set before."""
    if args.tensorboard:
        summary_writer_class()  # installed? (before any work)
    kvstore = create_kvstore(args)
    rank, workers = (kvstore.rank, kvstore.num_workers) if kvstore else (0, 1)
    settings, found, saved = open_run(args, defaults, chief=rank == 0)
    if settings.dtype == 'bfloat16':
        bfloat16.check_bfloat16(bfloat16.cpu_flags(),
                                gpu_build=mx.runtime.Features().is_enabled('CUDA'))
    ctx, notice = pick_devices(settings)
    first_ctx = ctx[0] if isinstance(ctx, list) else ctx
    check_resources(settings, first_ctx, resumed=bool(found))
    if notice:
        print(notice)
    started = time.perf_counter()
    images, data, words = load_image_iter(settings, (rank, workers))
    print('%s, ready in %.1f s' % (words, time.perf_counter() - started), flush=True)
    with output_dir_for_this_start(settings.output_dir, new=rank == 0 and not found):
        mx.random.seed(settings.seed)
        generator, discriminator, judge = build_networks(settings, ctx, kvstore or 'local')
        modules = {'generator': generator, 'discriminator': discriminator}
        state = run_state_of(settings, found, saved, generator, modules, images, data, workers,
                             devices=len(ctx) if isinstance(ctx, list) else 1)
        length = run_length.run_length(
            settings.epochs, settings.max_iters, state.iterations_per_epoch,
            images_per_pass=images.num_data * workers,
            images_per_iteration=settings.batch_size * workers,
            own_images=settings.data is not None)
        console = Console(length.total, settings.batch_size, state.done,
                          show_figures=not settings.no_show)
        return Training(
            settings=settings, ctx=ctx, state=state, generator=generator,
            discriminator=discriminator, judge=judge, images=images,
            noise=RandIter(settings.batch_size, settings.noise_dim, ctx=first_ctx,
                           seed=settings.seed, start=state.done, stream=rank),
            # Before the chief's outputs: every worker at one point.
            stop_vote=StopVote(kvstore),
            hooks=(open_outputs(settings, console, state, modules, first_ctx,
                                resumed=bool(found)) if rank == 0 else hooks.Hooks()),
            console=console,
            # Started by a distributed run only; a single process never waits for anyone.
            guard=watchdog.StallWatchdog(settings.stall_timeout, functools.partial(
                exit_stalled_worker, rank, workers, settings)),
            length=length, resumed_from=found, distributed=kvstore is not None, rank=rank,
            workers=workers)


def run_state_of(settings, found, saved, generator, modules, images, data, workers, devices):
    """The run's state: resumed from `found` (its state.json `saved`), or fresh."""
    shape = dict(iterations_per_epoch=math.ceil(images.num_data / settings.batch_size),
                 num_images=images.num_data, workers=workers, devices=devices)
    if found:
        return run_state.resumed(found, saved, modules, data,
                                 settings.data or settings.data_dir, **shape)
    fresh = {name: getattr(settings, name) for name in run_state.SETTINGS}
    return run_state.fresh(fresh, generator, data, **shape)
