"""The files a run writes, and the one place that decides who writes them: the one process,
or the first worker of a distributed run (the others get no hooks). Its folder is locked first
(dcgan/run_lock.py): nothing is written there unless the lock is this process's."""
import functools
import os

from dcgan import hooks, run_lock
from dcgan.cli import SetupError
from dcgan.csv_log import SCORE_FIELDS, MetricsLog
from dcgan.event_log import EventLog
from dcgan.run_lock import RunLock
from dcgan.sampling import Sampler
from dcgan.scoring import TrainingScorer


def open_outputs(settings, console, state, modules, ctx, resumed):
    """The hooks of the process that writes, its run folder locked first; released again
    when a hook cannot be made."""
    lock = RunLock(settings.output_dir).acquire(
        warn=console.warn, advice=run_lock.FOR_A_RESUME if resumed else run_lock.FOR_A_NEW_RUN)
    try:
        around = writing_hooks(settings, console, state, modules, ctx, resumed)
    except BaseException:
        lock.release()
        raise
    return hooks.Hooks(around + [lock], hooks.Checkpoints(
        settings.output_dir, modules, state, settings.checkpoint_every,
        settings.keep_checkpoints))


def writing_hooks(settings, console, state, modules, ctx, resumed):
    """The hooks that write the run's logs and pictures (all but its checkpoints)."""
    resume_after = state.done if resumed else None
    path = functools.partial(os.path.join, settings.output_dir)
    generator = modules['generator']
    sampler = Sampler(ctx, settings.batch_size, settings.noise_dim)
    if settings.score_every and settings.data is not None:
        console.warn('--score-every scores MNIST runs only (the scorer is a digit classifier): '
                     'this run on %s is not scored' % settings.data)
    elif settings.score_every:  # its checks first: a refusal leaves the logs as they were
        scorer = TrainingScorer(settings.data_dir, ctx, settings.score_samples, settings.seed)
        if settings.score_samples > scorer.real.num_test:
            raise SetupError('--score-samples %d is more than the %d test digits the scores '
                             'compare with' % (settings.score_samples, scorer.real.num_test))
    real_name = ('From MNIST' if settings.data is None
                 else 'From ' + os.path.basename(os.path.normpath(settings.data)))
    reporter = hooks.Reporter(settings.output_dir, console, sampler, state, generator,
                              settings.vis_every, real_name=real_name)
    around = [hooks.LogRows(MetricsLog(path('metrics.csv'), resume_after=resume_after)),
              hooks.HealthWatch(console), console, reporter]
    if settings.tensorboard:
        board = hooks.TensorBoard(EventLog(settings.output_dir, resume_after))
        reporter.after_report.append(board.grids)
        around.append(board)
    if settings.score_every and settings.data is None:
        scoring = hooks.Scoring(scorer, MetricsLog(path('scores.csv'), resume_after,
                                                   fields=SCORE_FIELDS),
                                console, sampler, state, generator, settings.score_every)
        if settings.tensorboard:
            scoring.after_score.append(board.scores)
        around.append(scoring)
    return around
