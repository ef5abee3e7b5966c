"""Command-line pieces shared by the programs: one-line errors and checked number types."""
import argparse
import math


class SetupError(Exception):
    """Something the user can fix (flags, output directory, data size); the message says what,
    in one line."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line instead of usage text plus a line."""

    def error(self, message):
        self.exit(2, '%s: error: %s (see --help)\n' % (self.prog, message))


def _convert(text, kind, description):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not %s' % (text, description)) from None


def positive_int(text):
    value = _convert(text, int, 'a whole number')
    if value < 1:
        raise argparse.ArgumentTypeError('%r must be at least 1' % text)
    return value


def positive_float(text):
    value = _convert(text, float, 'a number')
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError('%r must be a finite number above 0' % text)
    return value


def unit_interval(text):
    value = _convert(text, float, 'a number')
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError('%r must be at least 0 and below 1' % text)
    return value


def context_spec(text):
    """'auto', 'cpu', 'gpu', or a device list such as 'gpu:0,1' (or 'cpu:0,1') as
    (kind, [numbers])."""
    if text in ('auto', 'cpu', 'gpu'):
        return text
    kind, _, numbers = text.partition(':')
    try:
        devices = [int(number) for number in numbers.split(',')]
    except ValueError:
        devices = []
    if kind not in ('cpu', 'gpu') or not devices or min(devices) < 0 \
            or len(set(devices)) != len(devices):
        raise argparse.ArgumentTypeError(
            '%r is not auto, cpu, gpu, or a list of distinct devices such as gpu:0,1' % text)
    return kind, devices


def gpu_list(text):
    """--gpus 0,1 is --context gpu:0,1."""
    try:
        return context_spec('gpu:' + text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError('%r is not a list of distinct GPU numbers such as 0,1'
                                         % text) from None
