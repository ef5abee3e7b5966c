"""Command-line pieces shared by the programs: one-line errors and checked number types."""
import argparse
import math


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
