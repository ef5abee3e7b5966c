"""The warnings a person watching training would want: NaN or inf, and a discriminator that wins
outright (the generator then learns next to nothing)."""
import collections
import math

import numpy as np

# The discriminator "wins outright" when, over this many iterations, its accuracy is above
# WIN_ACCURACY or its loss below WIN_LOSS.
WIN_STRETCH = 100
WIN_ACCURACY = 0.99
WIN_LOSS = 0.01


class HealthCheck:
    """Watches the per-iteration rows for NaN or inf and for a discriminator that wins outright;
    `check(row)` returns the warnings to print (each said once, until the condition ends)."""

    def __init__(self):
        self.recent = collections.deque(maxlen=WIN_STRETCH)
        self.diverged = False
        self.winning = False

    def check(self, row):
        warnings = []
        values = [row[field] for field in ('d_loss', 'g_loss', 'd_real', 'd_fake',
                                           'd_fake_after')]
        if not all(math.isfinite(value) for value in values) and not self.diverged:
            warnings.append('iteration %d: NaN or inf in the losses or in D\'s outputs; '
                            'training has diverged' % row['global_iteration'])
            self.diverged = True
        self.recent.append(row)
        if len(self.recent) == WIN_STRETCH:
            accuracy = np.mean([(r['d_acc_real'] + r['d_acc_fake']) / 2 for r in self.recent])
            loss = np.mean([r['d_loss'] for r in self.recent])
            wins = accuracy > WIN_ACCURACY or loss < WIN_LOSS
            if wins and not self.winning:
                warnings.append('iterations %d-%d: the discriminator wins outright (accuracy '
                                '%.3f, loss_D %.4f): the generator gets almost no signal'
                                % (self.recent[0]['global_iteration'],
                                   row['global_iteration'], accuracy, loss))
            self.winning = wins
        return warnings
