"""Puts the repository's folder on sys.path, so that a tool run as `python tools/NAME.py`
imports dcgan/ and the modules beside dcgan_mnist.py as the commands at the top do. Every tool
imports it first."""
import os
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPOSITORY not in sys.path:
    sys.path.insert(0, REPOSITORY)
