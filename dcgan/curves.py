"""curves.png: metrics.csv's columns against the iteration, raw and smoothed."""
import numpy as np

import visualize
from dcgan.csv_log import read_metrics

SMOOTHING = 25  # iterations in the moving average drawn over the raw curves


def moving_average(values, window=SMOOTHING):
    """The mean of each value and up to `window - 1` before it (same length as `values`)."""
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.arange(len(values)) + 1 - counts]) / counts


def plot_curves(csv_path, png_path):
    """Losses, D's outputs and D's accuracy against the iteration, raw and smoothed."""
    import matplotlib.pyplot as plt
    metrics = read_metrics(csv_path)
    x = metrics['global_iteration']
    panels = [
        ('Losses', [('d_loss', 'loss_D'), ('g_loss', 'loss_G')], None),
        ('Discriminator output', [('d_real', 'D(x)'), ('d_fake', 'D(G(z)) before D step'),
                                  ('d_fake_after', 'D(G(z)) after D step')], (0, 1)),
        ('Discriminator accuracy', [('d_acc_real', 'on real'), ('d_acc_fake', 'on fakes')],
         (0, 1.02)),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 9), sharex=True)
    for ax, (title, series, limits) in zip(axes, panels):
        for field, label in series:
            line, = ax.plot(x, metrics[field], alpha=0.25, linewidth=0.8)
            ax.plot(x, moving_average(metrics[field]), color=line.get_color(), label=label)
        ax.set_title(title)
        ax.legend(loc='upper right', fontsize='small')
        ax.grid(alpha=0.3)
        if limits:
            ax.set_ylim(*limits)
    axes[-1].set_xlabel('iteration (faint: each one; solid: mean of the last %d)' % SMOOTHING)
    fig.tight_layout()
    visualize.save_figure(fig, png_path)
    plt.close(fig)
