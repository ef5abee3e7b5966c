"""What happens around an iteration of training, each an object with one job, called by the
loop in dcgan_mnist.py after every iteration and once when the run stops:

    LogRows      metrics.csv, one row per iteration
    HealthWatch  warnings of NaN or inf, and of a discriminator that wins outright
    Console      the live progress line (console.py)
    Reporter     every --vis-every iterations: the status line, the figure, the fixed-noise
                 grid and the curves; at the end, progress.png
    Scoring      every --score-every iterations: the scores, into scores.csv
    TensorBoard  with --tensorboard: the rows, the Reporter's grids and the scores as events
    Checkpoints  at every epoch end, every --checkpoint-every iterations, and when the run stops

Only the process that writes (the one process, or the chief of a distributed run) has them,
and the lock of the run's folder (run_lock.RunLock) among them, released last:
dcgan/run_outputs.py is the one place that decides.
"""
import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

import visualize
from dcgan import curves, health, scoring
from dcgan.csv_log import SCORE_FIELDS
from dcgan.framework import mx

PROGRESS_SNAPSHOTS = 10  # rows of progress.png
PROGRESS_SAMPLES = 16    # fixed-noise samples in each row


@dataclass
class Iteration:
    """One finished iteration, as the hooks see it."""
    done: int          # iterations finished over the whole run, this one included
    epoch: int         # from 0
    number: int        # within the epoch, from 1
    result: object     # the step's StepResult (dcgan_mnist.py): what D said
    real: object       # the real batch it was judged on (an NDArray)
    seconds: float     # the step's time
    epoch_end: bool
    last: bool         # the run's last iteration

    @cached_property
    def row(self):
        """Its row of metrics.csv (csv_log.FIELDS)."""
        result = self.result
        return {'global_iteration': self.done, 'epoch': self.epoch, 'iteration': self.number,
                'd_loss': result.d_loss, 'g_loss': result.g_loss,
                'd_real': float(result.d_real.mean()), 'd_fake': float(result.d_fake.mean()),
                'd_fake_after': float(result.d_fake_after.mean()),
                'd_acc_real': float(np.mean(result.d_real > 0.5)),
                'd_acc_fake': float(np.mean(result.d_fake < 0.5)), 'seconds': self.seconds}


class Hook:
    """What every hook may do; each overrides what it needs."""

    def after_iteration(self, it):
        pass

    def at_stop(self, reason):
        """The run ends ('end') or was stopped on request ('interrupted')."""

    def close(self):
        pass


class Hooks:
    """The writing process's hooks, called in order after every iteration, the checkpoint
    last; when the run stops, the checkpoint first, so that nothing after it can lose the work.
    A process that does not write has an empty one (`Hooks()`)."""

    def __init__(self, hooks=(), checkpoints=None):
        self.hooks = list(hooks)
        self.checkpoints = checkpoints

    def after_iteration(self, it):
        for hook in self.hooks:
            hook.after_iteration(it)
        if self.checkpoints:
            self.checkpoints.after_iteration(it)

    def at_stop(self, reason):
        if self.checkpoints:
            self.checkpoints.save(reason)
        for hook in self.hooks:
            hook.at_stop(reason)

    def close(self):
        for hook in self.hooks:
            try:
                hook.close()
            except OSError:  # a full disk: what was flushed is there, and the user was told
                pass


class LogRows(Hook):
    """Every iteration's row into a csv_log.MetricsLog (metrics.csv)."""

    def __init__(self, log):
        self.log = log

    def after_iteration(self, it):
        self.log.append(it.row)

    def close(self):
        self.log.close()


class HealthWatch(Hook):
    """health.HealthCheck's warnings, said on the console."""

    def __init__(self, console):
        self.console = console
        self.check = health.HealthCheck()

    def after_iteration(self, it):
        for warning in self.check.check(it.row):
            self.console.warn(warning)


def generator_params(generator, average):
    """[(name, arg_params, aux_params)] of the generator, and of its average when kept."""
    mx.nd.waitall()  # parameters read right after a step can be stale otherwise
    arg_params, aux_params = generator.get_params()
    found = [('plain', arg_params, aux_params)]
    if average:
        found.append(('averaged', average.params, aux_params))
    return found


def status_line(it, iterations_per_epoch, progress):
    result = it.result
    return ('epoch %d  iter %d/%d  loss_D %.4f  loss_G %.4f  D(x) %.3f  D(G(z)) %.3f  '
            '%.2f s/iter  %s left' % (it.epoch, it.number, iterations_per_epoch, result.d_loss,
                                      result.g_loss, result.d_real.mean(), result.d_fake.mean(),
                                      progress.seconds_per_iteration(it.done),
                                      progress.time_left(it.done)))


class Reporter(Hook):
    """Every `every` iterations and at the last one: the status line, the tutorial's figure
    (generated beside real, and the fixed noise through G and its average), the fixed-noise
    grid alone in fixed/, and the curves. At the end of the run: progress.png and
    progress.gif. `after_report` holds callables given each report's iteration and its
    fixed-noise grids, [(generator name, uint8 grid)]."""

    def __init__(self, run_dir, console, sampler, state, generator, every,
                 real_name='From MNIST'):
        self.run_dir, self.console, self.sampler = run_dir, console, sampler
        self.state, self.generator, self.every = state, generator, every
        self.real_name = real_name  # the real batch's panel: the tutorial's, or --data's
        self.figure = visualize.ComparisonFigure(console.viewer)
        self.after_report = []

    def path(self, *parts):
        return os.path.join(self.run_dir, *parts)

    def after_iteration(self, it):
        if self.due(it) or it.last:
            self.report(it)

    def due(self, it):
        """The tutorial's count: every `every` iterations of an epoch. An epoch shorter than
        that (a small --data set) would never report: there, the run's count."""
        if self.state.iterations_per_epoch >= self.every:
            return it.number % self.every == 0
        return it.done % self.every == 0

    def report(self, it):
        self.console.say(status_line(it, self.state.iterations_per_epoch,
                                     self.console.progress))
        samples = []
        for name, arg_params, aux_params in generator_params(self.generator,
                                                             self.state.average):
            self.sampler.set_params(arg_params, aux_params)
            samples.append((name, self.sampler.generate(self.state.fixed_noise)))
        fixed = samples[0][1]
        if not np.isfinite(fixed).all():
            self.console.warn('iteration %d: the generator produced NaN or inf' % it.done)
        panels = [('From generator', self.generator.get_outputs()[0].asnumpy()),
                  (self.real_name, it.real.asnumpy()), ('Fixed noise', fixed)]
        if self.state.average:
            panels.append(('Fixed noise, averaged G', samples[1][1]))
        self.figure.update(panels, 'epoch %d, iteration %d' % (it.epoch, it.number),
                           self.path('epoch%03d_iter%04d.png' % (it.epoch, it.number)))
        grids = [(name, visualize.batch_to_grid(batch)) for name, batch in samples]
        os.makedirs(self.path('fixed'), exist_ok=True)
        visualize.save_grid(grids[0][1], self.path('fixed', 'iter%07d.png' % it.done))
        curves.plot_curves(self.path('metrics.csv'), self.path('curves.png'))
        for listener in self.after_report:
            listener(it.done, grids)

    def at_stop(self, reason):
        """The fixed-noise progress strip and animation. (The curves are already current: the
        last iteration always reports.)"""
        if reason == 'end':
            self.console.progress.clear()
            visualize.save_progress_strip(self.path('fixed'), self.path('progress.png'),
                                          PROGRESS_SNAPSHOTS, PROGRESS_SAMPLES)
            visualize.save_progress_animation(self.path('fixed'), self.path('progress.gif'))

    def close(self):
        self.figure.close()


class Scoring(Hook):
    """Every `every` iterations: the generator (and its average) scored by a
    scoring.TrainingScorer, printed, logged to `log` (scores.csv), collapse warned of.
    `after_score` holds callables given each score's iteration, generator name and scores."""

    def __init__(self, scorer, log, console, sampler, state, generator, every):
        self.scorer, self.log, self.console, self.sampler = scorer, log, console, sampler
        self.state, self.generator, self.every = state, generator, every
        self.after_score = []

    def after_iteration(self, it):
        if it.done % self.every == 0:
            self.score(it.done)

    def score(self, done):
        for name, arg_params, aux_params in generator_params(self.generator, self.state.average):
            self.sampler.set_params(arg_params, aux_params)
            try:
                scores = self.scorer.score(self.sampler)
            except FloatingPointError as e:
                self.console.warn('iteration %d: %s' % (done, e))
                continue
            self.log.append(dict(scores, global_iteration=done, generator=name))
            for listener in self.after_score:
                listener(done, name, scores)
            self.console.say('score  iter %d  %s  IS %.2f  FID %.1f  digits covered %d/10  '
                             'precision %.2f  recall %.2f'
                             % (done, name, scores['inception_score'], scores['fid'],
                                scores['classes_covered'], scores['precision'],
                                scores['recall']))
            if scoring.collapsed(scores):
                self.console.warn('iteration %d: mode collapse? Only %d of 10 digits make up 2%% '
                                  'or more of the %s generator\'s samples'
                                  % (done, scores['classes_covered'], name))

    def close(self):
        self.log.close()


class TensorBoard(Hook):
    """--tensorboard: an event_log.EventLog given every iteration's row of metrics.csv, and,
    as a listener of the Reporter and of Scoring, the fixed-noise grids and the scores."""

    SCORES = [field for field in SCORE_FIELDS
              if field not in ('global_iteration', 'generator', 'classifier_sha256')]

    def __init__(self, events):
        self.events = events

    def after_iteration(self, it):
        self.events.metrics(it.row)

    def grids(self, done, grids):
        for name, grid in grids:
            self.events.grid('fixed_noise/' + name, grid, done)
        self.events.flush()  # a report is when a person looks

    def scores(self, done, name, scores):
        self.events.scores('scores/' + name, {field: scores[field] for field in self.SCORES},
                           done)

    def close(self):
        self.events.close()


class Checkpoints(Hook):
    """A checkpoint at every epoch end and every `every` iterations (and, through Hooks, when
    the run stops), the newest `keep` kept. `after_save` holds callables given each new
    checkpoint's folder (a study keeps its own files beside them)."""

    def __init__(self, run_dir, modules, state, every, keep):
        self.run_dir, self.modules, self.state = run_dir, modules, state
        self.every, self.keep = every, keep
        self.after_save = []

    def after_iteration(self, it):
        if it.epoch_end:
            self.save('epoch end')
        elif it.done % self.every == 0:
            self.save('every %d iterations' % self.every)

    def save(self, reason):
        folder = self.state.save(self.run_dir, self.modules, reason, self.keep)
        for listener in self.after_save:
            listener(folder)
        return folder
